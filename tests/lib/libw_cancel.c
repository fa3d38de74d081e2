// libw_cancel: sends Cancel (docs/PROTOCOL.md 9.15) for one job, for
// tests/lib/libw_cancel.sh until the tasq client has a cancel command of
// its own. Prints "dropped=D running=R state=S".
//
//	libw_cancel URL KEY_FILE JOB_ID
//
// JOB_ID in hex, as tasq submit --detach prints it.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "chan.h"
#include "wire.h"

int
main(int argc, char **argv)
{
	tasq_keyring  *keys = NULL;
	tasq_chan     *chan = NULL;
	tasq_chan_opts o;
	tasq_req       req;
	tasq_rep       rep;
	char           err[512];
	int            rv;

	if (argc != 4) {
		fprintf(stderr, "usage: libw_cancel URL KEY_FILE JOB_ID\n");
		return (2);
	}
	if (tasq_keyring_setup(argv[2], &keys, err, sizeof(err)) != 0) {
		fprintf(stderr, "libw_cancel: %s\n", err);
		return (1);
	}
	memset(&o, 0, sizeof(o));
	o.url                = argv[1];
	o.keys               = keys;
	o.connect_timeout_ms = 5000;
	o.max_msg_bytes      = 1 << 20;
	if (tasq_chan_open(&chan, &o, err, sizeof(err)) != 0) {
		fprintf(stderr, "libw_cancel: %s\n", err);
		tasq_keyring_free(keys);
		return (1);
	}
	memset(&req, 0, sizeof(req));
	req.method          = TASQ_M_CANCEL;
	req.u.cancel.job_id = strtoull(argv[3], NULL, 16);
	if ((rv = tasq_chan_call(chan, &req, 10000, &rep, err, sizeof(err))) ==
	    0) {
		printf("dropped=%llu running=%u state=%d\n",
		    (unsigned long long) rep.u.cancel.dropped,
		    (unsigned) rep.u.cancel.running,
		    rep.u.cancel.has_job ? rep.u.cancel.job.state : -1);
		tasq_wire_rep_fini(&rep);
	} else {
		fprintf(stderr, "libw_cancel: %s\n", err);
	}
	tasq_chan_close(chan);
	tasq_keyring_free(keys);
	return (rv != 0);
}
