// legacy_chan: the channel tasq submit still dials itself until it is on
// the library too (issue 14; h-sub's branch rewrites submit.c). Compiled
// with TASQ_CLIENT_LEGACY_CHAN; delete this file, that definition and
// the block of client.h it guards once submit.c no longer calls
// tasq_client_connect.
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "commonopt.h"
#include "err.h"
#include "tls.h"

int
tasq_client_connect(tasq_client *c)
{
	tasq_chan_opts co;
	char           err[512];

	if (tasq_commonopt_setup(c->common, TASQ_COMMONOPT_DIALER,
	        tasq_url_is_tls(c->server) ? TASQ_COMMONOPT_TLS : 0, &c->keys,
	        NULL, err, sizeof(err)) != 0) {
		fprintf(stderr, "tasq: %s\n", err);
		return (TASQ_EXIT_USAGE);
	}
	memset(&co, 0, sizeof(co));
	co.url                = c->server;
	co.keys               = c->keys;
	co.tls_ca             = c->common->tls_ca;
	co.tls_server_name    = c->common->tls_server_name;
	co.tls_cert           = c->common->tls_cert;
	co.tls_key            = c->common->tls_key;
	co.connect_timeout_ms = (uint32_t) c->connect_timeout_ms;
	co.max_msg_bytes      = c->max_msg;
	int rv = tasq_chan_open(&c->chan, &co, err, sizeof(err));
	if (rv != 0) {
		fprintf(stderr, "tasq: %s\n", err);
		return (rv == TASQ_EINVALID_ARGUMENT || rv == NNG_EADDRINVAL
		        ? TASQ_EXIT_USAGE
		        : TASQ_EXIT_FAIL);
	}
	return (0);
}

void
tasq_client_legacy_fini(tasq_client *c)
{
	tasq_chan_close(c->chan);
	c->chan = NULL;
	tasq_keyring_free(c->keys);
	c->keys = NULL;
}
