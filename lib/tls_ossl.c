#include "tls_ossl.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/engine.h>
#include <nng/supplemental/tls/tls.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "err.h"

struct nng_tls_engine_config {
	SSL_CTX          *ctx;
	nng_tls_mode      mode;
	nng_tls_auth_mode auth;
	char             *server_name;
};

// Plaintext written before the handshake finishes: SP's 8-byte header.
#define EARLY_MAX 64

struct nng_tls_engine_conn {
	void                  *tls; // nng's handle for engine send/recv
	SSL                   *ssl;
	nng_tls_engine_config *cfg;
	size_t                 early_len;
	uint8_t                early[EARLY_MAX];
	bool cert_asked; // (client) the server asked for ours
	bool got_data;   // some plaintext was read
	bool noted;      // its quiet refusal is recorded
};

static BIO_METHOD     *bio_method;
static pthread_once_t  bio_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t last_mtx = PTHREAD_MUTEX_INITIALIZER;
static char            last_error[256];
static unsigned        last_gen; // failures recorded (last_mtx)

void
tasq_tls_last_error(char *buf, size_t len)
{
	pthread_mutex_lock(&last_mtx);
	snprintf(buf, len, "%s", last_error);
	pthread_mutex_unlock(&last_mtx);
}

unsigned
tasq_tls_last_error_gen(void)
{
	unsigned g;

	pthread_mutex_lock(&last_mtx);
	g = last_gen;
	pthread_mutex_unlock(&last_mtx);
	return (g);
}

// Records why a dialer's handshake failed, for tasq_tls_last_error. A
// listener's failures are about other peers: recorded, they would be
// given as the reason for a dial of this process (tasq-server dials
// its --peers) that failed for another.
static void
set_last_error(nng_tls_engine_conn *ec, const char *given)
{
	char          why[200] = "";
	unsigned long e        = ERR_peek_last_error();
	long          vr       = SSL_get_verify_result(ec->ssl);
	const char   *r;

	if (ec->cfg->mode != NNG_TLS_MODE_CLIENT) {
		return;
	}
	if (given != NULL) {
		snprintf(why, sizeof(why), "%s", given);
	} else if (vr != X509_V_OK) {
		snprintf(why, sizeof(why), "certificate verify failed: %s",
		    X509_verify_cert_error_string(vr));
	} else if (e != 0 && (r = ERR_reason_error_string(e)) != NULL) {
		// The server's alert, such as "tlsv13 alert certificate
		// required" (it wants a client certificate).
		snprintf(why, sizeof(why), "%s", r);
	} else if (e != 0) {
		ERR_error_string_n(e, why, sizeof(why));
	} else {
		snprintf(why, sizeof(why), "handshake failed");
	}
	pthread_mutex_lock(&last_mtx);
	snprintf(last_error, sizeof(last_error), "%s", why);
	last_gen++;
	pthread_mutex_unlock(&last_mtx);
}

// ---- the bottom of OpenSSL: a BIO over nng's transport ----------------

static int
bio_write(BIO *b, const char *buf, size_t len, size_t *done)
{
	size_t n = len;
	int    rv =
	    nng_tls_engine_send(BIO_get_data(b), (const uint8_t *) buf, &n);

	BIO_clear_retry_flags(b);
	if (rv == 0) {
		*done = n;
		return (1);
	}
	if (rv == NNG_EAGAIN) {
		BIO_set_retry_write(b);
	}
	return (0);
}

static int
bio_read(BIO *b, char *buf, size_t len, size_t *done)
{
	size_t n  = len;
	int    rv = nng_tls_engine_recv(BIO_get_data(b), (uint8_t *) buf, &n);

	BIO_clear_retry_flags(b);
	if (rv == 0) {
		*done = n;
		return (1);
	}
	if (rv == NNG_EAGAIN) {
		BIO_set_retry_read(b);
	}
	return (0);
}

static long
bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void) b;
	(void) num;
	(void) ptr;
	return (cmd == BIO_CTRL_FLUSH ? 1 : 0);
}

static void
bio_init(void)
{
	bio_method = BIO_meth_new(
	    BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "nng-stream");
	if (bio_method != NULL) {
		BIO_meth_set_write_ex(bio_method, bio_write);
		BIO_meth_set_read_ex(bio_method, bio_read);
		BIO_meth_set_ctrl(bio_method, bio_ctrl);
	}
}

// ---- configuration ------------------------------------------------------

static int
cfg_init(nng_tls_engine_config *cfg, nng_tls_mode mode)
{
	cfg->mode = mode;
	cfg->ctx =
	    SSL_CTX_new(mode == NNG_TLS_MODE_SERVER ? TLS_server_method()
	                                            : TLS_client_method());
	if (cfg->ctx == NULL) {
		return (NNG_ENOMEM);
	}
	// TLS 1.2 and 1.3 only; for 1.2, forward-secret AEAD suites only.
	SSL_CTX_set_min_proto_version(cfg->ctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(cfg->ctx, TLS1_3_VERSION);
	SSL_CTX_set_cipher_list(
	    cfg->ctx, "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL:!SHA1:!MD5");
	SSL_CTX_set_options(cfg->ctx,
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
	        SSL_OP_CIPHER_SERVER_PREFERENCE);
	// nng may hand a smaller or moved buffer after NNG_EAGAIN.
	SSL_CTX_set_mode(cfg->ctx,
	    SSL_MODE_ENABLE_PARTIAL_WRITE |
	        SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	cfg->auth = mode == NNG_TLS_MODE_SERVER ? NNG_TLS_AUTH_MODE_NONE
	                                        : NNG_TLS_AUTH_MODE_REQUIRED;
	SSL_CTX_set_verify(cfg->ctx,
	    mode == NNG_TLS_MODE_SERVER ? SSL_VERIFY_NONE : SSL_VERIFY_PEER,
	    NULL);
	return (0);
}

static void
cfg_fini(nng_tls_engine_config *cfg)
{
	SSL_CTX_free(cfg->ctx);
	free(cfg->server_name);
}

static int
cfg_server(nng_tls_engine_config *cfg, const char *name)
{
	char *s = strdup(name);

	if (s == NULL) {
		return (NNG_ENOMEM);
	}
	free(cfg->server_name);
	cfg->server_name = s;
	return (0);
}

static int
cfg_auth(nng_tls_engine_config *cfg, nng_tls_auth_mode mode)
{
	int v;

	switch (mode) {
	case NNG_TLS_AUTH_MODE_NONE:
		v = SSL_VERIFY_NONE;
		break;
	case NNG_TLS_AUTH_MODE_OPTIONAL:
		v = SSL_VERIFY_PEER;
		break;
	case NNG_TLS_AUTH_MODE_REQUIRED:
		v = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
		break;
	default:
		return (NNG_EINVAL);
	}
	cfg->auth = mode;
	SSL_CTX_set_verify(cfg->ctx, v, NULL);
	return (0);
}

static int
cfg_ca_chain(nng_tls_engine_config *cfg, const char *certs, const char *crl)
{
	X509_STORE *st = SSL_CTX_get_cert_store(cfg->ctx);
	BIO        *b  = BIO_new_mem_buf(certs, -1);
	X509       *x;
	int         n = 0;

	if (b == NULL) {
		return (NNG_ENOMEM);
	}
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (X509_STORE_add_cert(st, x) == 1) {
			n++;
		}
		X509_free(x);
	}
	BIO_free(b);
	ERR_clear_error(); // the loop ends on "no start line"
	if (n == 0) {
		return (NNG_EINVAL);
	}
	if (crl != NULL) {
		X509_CRL *c;
		if ((b = BIO_new_mem_buf(crl, -1)) == NULL) {
			return (NNG_ENOMEM);
		}
		while (
		    (c = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL)) != NULL) {
			X509_STORE_add_crl(st, c);
			X509_CRL_free(c);
			X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK);
		}
		BIO_free(b);
		ERR_clear_error();
	}
	return (0);
}

static int
cfg_own_cert(nng_tls_engine_config *cfg, const char *cert, const char *key,
    const char *pass)
{
	BIO      *b;
	X509     *x;
	EVP_PKEY *pk;
	int       rv = NNG_EINVAL;

	if ((b = BIO_new_mem_buf(cert, -1)) == NULL) {
		return (NNG_ENOMEM);
	}
	// The first certificate is ours; the rest are its chain.
	if ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL ||
	    SSL_CTX_use_certificate(cfg->ctx, x) != 1) {
		X509_free(x);
		BIO_free(b);
		return (NNG_EINVAL);
	}
	X509_free(x);
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		SSL_CTX_add0_chain_cert(cfg->ctx, x);
	}
	BIO_free(b);
	ERR_clear_error();
	if ((b = BIO_new_mem_buf(key, -1)) == NULL) {
		return (NNG_ENOMEM);
	}
	pk = PEM_read_bio_PrivateKey(b, NULL, NULL, (void *) pass);
	BIO_free(b);
	if (pk != NULL && SSL_CTX_use_PrivateKey(cfg->ctx, pk) == 1 &&
	    SSL_CTX_check_private_key(cfg->ctx) == 1) {
		rv = 0;
	}
	EVP_PKEY_free(pk);
	return (rv);
}

static int
ossl_version(nng_tls_version v)
{
	switch (v) {
	case NNG_TLS_1_0:
		return (TLS1_VERSION);
	case NNG_TLS_1_1:
		return (TLS1_1_VERSION);
	case NNG_TLS_1_2:
		return (TLS1_2_VERSION);
	case NNG_TLS_1_3:
		return (TLS1_3_VERSION);
	default:
		return (-1);
	}
}

static int
cfg_version(nng_tls_engine_config *cfg, nng_tls_version lo, nng_tls_version hi)
{
	int min = ossl_version(lo), max = ossl_version(hi);

	// Versions before 1.2 are refused: they have no safe cipher suites.
	if (min < 0 || max < 0 || min > max || max < TLS1_2_VERSION) {
		return (NNG_ENOTSUP);
	}
	if (min < TLS1_2_VERSION) {
		min = TLS1_2_VERSION;
	}
	if (SSL_CTX_set_min_proto_version(cfg->ctx, min) != 1 ||
	    SSL_CTX_set_max_proto_version(cfg->ctx, max) != 1) {
		return (NNG_ENOTSUP);
	}
	return (0);
}

// ---- connections --------------------------------------------------------

// Notes a server's CertificateRequest (refused_quietly).
static void
conn_msg_cb(int write_p, int version, int type, const void *buf, size_t len,
    SSL *ssl, void *arg)
{
	nng_tls_engine_conn *ec = arg;

	(void) version;
	(void) ssl;
	if (!write_p && type == SSL3_RT_HANDSHAKE && len > 0 &&
	    ((const uint8_t *) buf)[0] == SSL3_MT_CERTIFICATE_REQUEST) {
		ec->cert_asked = true;
	}
}

static int
conn_init(nng_tls_engine_conn *ec, void *tls, nng_tls_engine_config *cfg)
{
	BIO *b;

	pthread_once(&bio_once, bio_init);
	if (bio_method == NULL) {
		return (NNG_ENOMEM);
	}
	ec->tls = tls;
	ec->cfg = cfg;
	if ((ec->ssl = SSL_new(cfg->ctx)) == NULL) {
		return (NNG_ENOMEM);
	}
	if ((b = BIO_new(bio_method)) == NULL) {
		SSL_free(ec->ssl);
		ec->ssl = NULL;
		return (NNG_ENOMEM);
	}
	BIO_set_data(b, tls);
	BIO_set_init(b, 1);
	SSL_set_bio(ec->ssl, b, b);
	if (cfg->mode == NNG_TLS_MODE_CLIENT) {
		SSL_set_connect_state(ec->ssl);
		SSL_set_msg_callback(ec->ssl, conn_msg_cb);
		SSL_set_msg_callback_arg(ec->ssl, ec);
		if (cfg->server_name != NULL) {
			X509_VERIFY_PARAM *p = SSL_get0_param(ec->ssl);
			unsigned char      addr[16];
			bool               ip =
			    inet_pton(AF_INET, cfg->server_name, addr) == 1 ||
			    inet_pton(AF_INET6, cfg->server_name, addr) == 1;
			X509_VERIFY_PARAM_set_hostflags(
			    p, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
			// An IP address is matched against the
			// certificate's IP SANs, a name against its DNS ones.
			if (ip) {
				X509_VERIFY_PARAM_set1_ip_asc(
				    p, cfg->server_name);
			} else {
				X509_VERIFY_PARAM_set1_host(
				    p, cfg->server_name, 0);
				SSL_set_tlsext_host_name(
				    ec->ssl, cfg->server_name);
			}
		}
	} else {
		SSL_set_accept_state(ec->ssl);
	}
	return (0);
}

// Whether a client's session that ends now was the server refusing our
// certificate without its alert reaching us. With TLS 1.3 the client
// finishes its handshake before the server has checked the client's
// certificate, and sends its SP header at once; a server that refuses
// the certificate sends an alert and closes, and with our header still
// unread there the close is a reset, which can overtake the alert:
// nng 1.5.2 fails the connection on the reset without reading what came
// before it. A server that asked for a certificate and closed before
// sending any data (its SP header is the first) did so at the
// certificate.
static bool
refused_quietly(const nng_tls_engine_conn *ec)
{
	return (ec->cfg->mode == NNG_TLS_MODE_CLIENT && ec->cert_asked &&
	    !ec->got_data && SSL_is_init_finished(ec->ssl));
}

// Records a quiet refusal, once. nng fails the connection on the reset
// by itself, without a call into the engine: its close (conn_close)
// notes it then, for the dial that failed (lib/chan.c).
static void
note_refusal(nng_tls_engine_conn *ec)
{
	if (!ec->noted && refused_quietly(ec)) {
		ec->noted = true;
		set_last_error(ec,
		    "the server closed the connection after asking for our "
		    "client certificate, before any data: it refused the "
		    "certificate");
	}
}

static void
conn_fini(nng_tls_engine_conn *ec)
{
	SSL_free(ec->ssl); // frees the BIO too
}

static void
conn_close(nng_tls_engine_conn *ec)
{
	note_refusal(ec);
	// Best effort close-notify; the transport may be gone already.
	if (SSL_is_init_finished(ec->ssl)) {
		(void) SSL_shutdown(ec->ssl);
	}
	ERR_clear_error();
}

static int
map_error(nng_tls_engine_conn *ec, int ret)
{
	switch (SSL_get_error(ec->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return (NNG_EAGAIN);
	case SSL_ERROR_ZERO_RETURN:
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		if (refused_quietly(ec)) {
			note_refusal(ec);
			return (NNG_ECRYPTO);
		}
		// The peer closed the session. Not NNG_ECLOSED: nng's
		// listener takes that for its own closing and stops accepting.
		return (NNG_ECONNSHUT);
	default:
		// Also after the handshake: with TLS 1.3 a client learns
		// that the server refused its certificate (an alert) at its
		// first read.
		set_last_error(ec, NULL);
		ERR_clear_error();
		return (NNG_ECRYPTO);
	}
}

// Writes the plaintext held back during the handshake. 0 when there
// is none left, NNG_EAGAIN when the transport is full, else an error.
static int
flush_early(nng_tls_engine_conn *ec)
{
	size_t put = 0;
	int    ret;

	if (ec->early_len == 0) {
		return (0);
	}
	// No partial writes: all of it goes, or a retry with the same buffer.
	if ((ret = SSL_write_ex(ec->ssl, ec->early, ec->early_len, &put)) !=
	    1) {
		return (map_error(ec, ret));
	}
	ec->early_len = 0;
	return (0);
}

static int
conn_handshake(nng_tls_engine_conn *ec)
{
	int ret = SSL_do_handshake(ec->ssl);
	int rv;

	if (ret == 1) {
		rv = flush_early(ec);
		return (rv == NNG_EAGAIN ? 0 : rv);
	}
	if ((rv = map_error(ec, ret)) == NNG_EAGAIN) {
		return (rv);
	}
	if (rv != NNG_ECRYPTO) {
		set_last_error(
		    ec, NULL); // (map_error recorded an NNG_ECRYPTO)
	}
	ERR_clear_error();
	if (SSL_get_verify_result(ec->ssl) != X509_V_OK) {
		return (NNG_EPEERAUTH);
	}
	return (NNG_ECRYPTO);
}

static int
conn_recv(nng_tls_engine_conn *ec, uint8_t *buf, size_t *szp)
{
	size_t got = 0;
	int    ret;

	if (ec->early_len != 0 && SSL_is_init_finished(ec->ssl)) {
		if ((ret = flush_early(ec)) != 0 && ret != NNG_EAGAIN) {
			return (ret);
		}
	}
	if ((ret = SSL_read_ex(ec->ssl, buf, *szp, &got)) == 1) {
		*szp         = got;
		ec->got_data = true;
		return (0);
	}
	return (map_error(ec, ret));
}

// A short write before the handshake has finished is taken at once and
// sent when it does. nng 1.5.2 times out a stream operation by aborting
// the transport operation of its direction; a send held back here would
// wait on a transport send that was never started, so the 10 s deadline
// of SP's header exchange could not close a peer that stalls in the
// handshake. Taken at once, the exchange moves on to its receive, whose
// transport receive is pending and is aborted at the deadline.
static int
conn_send(nng_tls_engine_conn *ec, const uint8_t *buf, size_t *szp)
{
	size_t put = 0;
	int    ret;

	if (!SSL_is_init_finished(ec->ssl)) {
		if ((ret = conn_handshake(ec)) == NNG_EAGAIN) {
			if (*szp > EARLY_MAX - ec->early_len) {
				return (NNG_EAGAIN);
			}
			memcpy(ec->early + ec->early_len, buf, *szp);
			ec->early_len += *szp;
			return (0);
		}
		if (ret != 0) {
			return (ret);
		}
	}
	if ((ret = flush_early(ec)) != 0) {
		return (ret);
	}
	if ((ret = SSL_write_ex(ec->ssl, buf, *szp, &put)) == 1) {
		*szp = put;
		return (0);
	}
	return (map_error(ec, ret));
}

static bool
conn_verified(nng_tls_engine_conn *ec)
{
	X509 *peer = SSL_get1_peer_certificate(ec->ssl);
	bool  ok = peer != NULL && SSL_get_verify_result(ec->ssl) == X509_V_OK;

	X509_free(peer);
	return (ok);
}

static nng_tls_engine_config_ops config_ops = {
	.size     = sizeof(nng_tls_engine_config),
	.init     = cfg_init,
	.fini     = cfg_fini,
	.server   = cfg_server,
	.auth     = cfg_auth,
	.ca_chain = cfg_ca_chain,
	.own_cert = cfg_own_cert,
	.version  = cfg_version,
};

static nng_tls_engine_conn_ops conn_ops = {
	.size      = sizeof(nng_tls_engine_conn),
	.init      = conn_init,
	.fini      = conn_fini,
	.close     = conn_close,
	.handshake = conn_handshake,
	.recv      = conn_recv,
	.send      = conn_send,
	.verified  = conn_verified,
};

static nng_tls_engine engine = {
	.version     = NNG_TLS_ENGINE_VERSION,
	.config_ops  = &config_ops,
	.conn_ops    = &conn_ops,
	.name        = "openssl",
	.description = "OpenSSL 3 (tasq engine)",
	.fips_mode   = false,
};

int
tasq_tls_engine_select(const char *name)
{
	if (strcmp(name, "builtin") == 0) {
		return (0);
	}
	if (strcmp(name, "openssl") != 0) {
		return (TASQ_EINVALID_ARGUMENT);
	}
	// nng registers its built-in engine when it initialises; make sure
	// that has happened, so that ours replaces it and not the reverse.
	(void) nng_tls_engine_name();
	engine.description = OpenSSL_version(OPENSSL_VERSION);
	return (nng_tls_engine_register(&engine));
}

const char *
tasq_tls_engine_current(void)
{
	return (nng_tls_engine_name());
}
