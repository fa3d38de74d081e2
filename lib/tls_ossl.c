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
	// The refusal that ended this connection (conn_fail): every call
	// after it returns it.
	int  failed;
	bool hs_done;    // the handshake finished on this side
	bool cert_asked; // client: the server asked for our certificate
	bool got_data;   // application data was read
	bool noted;      // its quiet refusal is recorded (note_refusal)
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
set_last_error(nng_tls_engine_conn *ec, const char *why)
{
	if (ec->cfg->mode != NNG_TLS_MODE_CLIENT) {
		return;
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

// OpenSSL calls it on a client when the server sends a
// CertificateRequest (before it picks the certificate to send).
static int
cert_asked_cb(SSL *ssl, void *arg)
{
	nng_tls_engine_conn *ec = arg;

	(void) ssl;
	ec->cert_asked = true;
	return (1);
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
		SSL_set_cert_cb(ec->ssl, cert_asked_cb, ec);
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

static void
conn_fini(nng_tls_engine_conn *ec)
{
	SSL_free(ec->ssl); // frees the BIO too
}

// A server that asked for our certificate and closed before sending any
// data (its SP header is the first) did so at the certificate: with TLS
// 1.3 its refusal is an alert after our handshake finished, and the
// reset of its close (our SP header unread there) can overtake it; nng
// 1.5.2 then fails the connection on the reset by itself, without a
// call into the engine. Its close notes the refusal, once, for the dial
// that failed (lib/chan.c reads it by tasq_tls_last_error_gen).
static void
note_refusal(nng_tls_engine_conn *ec)
{
	if (!ec->noted && ec->failed == 0 &&
	    ec->cfg->mode == NNG_TLS_MODE_CLIENT && ec->cert_asked &&
	    !ec->got_data && SSL_is_init_finished(ec->ssl)) {
		ec->noted = true;
		set_last_error(ec,
		    "the server closed the connection after asking for our "
		    "client certificate, before any data: it refused the "
		    "certificate");
	}
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
		// The peer closed the session. Not NNG_ECLOSED: nng's
		// listener takes that for its own closing and stops accepting.
		return (NNG_ECONNSHUT);
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		return (NNG_ECONNSHUT);
	default:
		ERR_clear_error();
		return (NNG_ECRYPTO);
	}
}

// The connection is refused for good (a handshake that failed, or the
// server turning down our certificate): records why (tasq_tls_last_error)
// and returns rv, which every later call of the connection returns too.
//
// Why later calls must not ask OpenSSL again: nng 1.5.2
// (src/supplemental/tls/tls_common.c, tls_do_handshake and
// tls_tcp_error) hands the handshake's error only to the stream
// operations queued at that moment, then closes the TCP stream. SP's
// header exchange queues its receive only once its send is done, so
// when the server's certificate arrives (and is refused) in between,
// that receive comes later, calls conn_recv, and SSL_read_ex on the dead
// session said SSL_ERROR_SYSCALL: NNG_ECONNSHUT, "Connection shutdown",
// which callers take for a server that is not there (seen in about one
// dial in three on loopback: a wrong CA then opened a server set with
// TASQ_EUNAVAILABLE instead of TASQ_EUNAUTHENTICATED). nng's built-in
// mbedTLS engine is out of our reach (there a server refusing a client
// without a certificate is seen as "Connection shutdown").
static int
conn_fail(nng_tls_engine_conn *ec, int rv, const char *why)
{
	set_last_error(ec, why);
	ec->failed = rv;
	return (rv);
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

// A handshake that failed (ret from an SSL call that ran it): our check
// of the peer's certificate (NNG_EPEERAUTH), else anything else that
// ended it, an alert from the peer or a connection closed in the middle
// (NNG_ECRYPTO, as before: a peer that does not speak TLS). NNG_EAGAIN
// when it only waits for the transport.
static int
handshake_failed(nng_tls_engine_conn *ec, int ret)
{
	char          why[200] = "handshake failed";
	int           e        = SSL_get_error(ec->ssl, ret);
	unsigned long err      = ERR_peek_last_error();
	long          vr       = SSL_get_verify_result(ec->ssl);

	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		return (NNG_EAGAIN);
	}
	if (vr != X509_V_OK) {
		snprintf(why, sizeof(why), "certificate verify failed: %s",
		    X509_verify_cert_error_string(vr));
	} else if (err != 0) {
		ERR_error_string_n(err, why, sizeof(why));
	}
	ERR_clear_error();
	return (
	    conn_fail(ec, vr != X509_V_OK ? NNG_EPEERAUTH : NNG_ECRYPTO, why));
}

static int
conn_handshake(nng_tls_engine_conn *ec)
{
	int ret, rv;

	if (ec->failed != 0) {
		return (ec->failed);
	}
	if ((ret = SSL_do_handshake(ec->ssl)) == 1) {
		ec->hs_done = true;
		rv          = flush_early(ec);
		return (rv == NNG_EAGAIN ? 0 : rv);
	}
	return (handshake_failed(ec, ret));
}

// A read failed after our side of the handshake finished but before any
// data came: when the server had asked for our certificate, that is the
// server refusing it (or its absence). With TLS 1.3 a client finishes
// its handshake before the server has checked its certificate; the
// server's refusal is an alert after it, which a reset of the
// connection may overtake (the server closes with our first data
// unread). Either way a refusal, not a server that is not there.
static int
refused_after_handshake(nng_tls_engine_conn *ec, int ret)
{
	char          why[256], alert[120] = "the connection was closed";
	int           e   = SSL_get_error(ec->ssl, ret);
	unsigned long err = ERR_peek_last_error();

	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		return (NNG_EAGAIN);
	}
	if (!ec->cert_asked || ec->got_data) {
		return (map_error(ec, ret));
	}
	if (err != 0) {
		ERR_error_string_n(err, alert, sizeof(alert));
	}
	ERR_clear_error();
	// (lib/chan.c adds what to check.)
	snprintf(why, sizeof(why),
	    "the server refused %s client certificate (%s)",
	    SSL_get_certificate(ec->ssl) != NULL ? "this" : "the lack of a",
	    alert);
	return (conn_fail(ec, NNG_EPEERAUTH, why));
}

static int
conn_recv(nng_tls_engine_conn *ec, uint8_t *buf, size_t *szp)
{
	size_t got = 0;
	int    ret;

	if (ec->failed != 0) {
		return (ec->failed);
	}
	if (ec->early_len != 0 && SSL_is_init_finished(ec->ssl)) {
		if ((ret = flush_early(ec)) != 0 && ret != NNG_EAGAIN) {
			return (ret);
		}
	}
	if ((ret = SSL_read_ex(ec->ssl, buf, *szp, &got)) == 1) {
		ec->hs_done  = true;
		ec->got_data = true;
		*szp         = got;
		return (0);
	}
	if (!ec->hs_done) {
		// SSL_read_ex ran the handshake (nng calls conn_handshake
		// only when the transport has news).
		if (!SSL_is_init_finished(ec->ssl)) {
			return (handshake_failed(ec, ret));
		}
		ec->hs_done = true;
	}
	return (refused_after_handshake(ec, ret));
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

	if (ec->failed != 0) {
		return (ec->failed);
	}
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
