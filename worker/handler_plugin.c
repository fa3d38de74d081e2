// handler_plugin: plugin:LIB.so[ ARG], a shared library with the table of
// include/tasq/handler.h, loaded with dlopen(RTLD_NOW | RTLD_LOCAL).
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "handler.h"

struct plugin {
	void                     *lib;
	const tasq_handler_table *t;
	void                     *state;
	bool                      inited;
};

static int
never_cancelled(const tasq_handler_batch *b)
{
	(void) b;
	return (0);
}

static int
plugin_run(void *impl, const tasq_handler_batch *in, tasq_hres *out)
{
	struct plugin     *pl = impl;
	tasq_handler_batch b;

	// Version 2 promises a cancelled function, even for a batch that
	// has no cancel (a caller that attached none).
	if (pl->t->abi_version >= 2 && in->cancelled == NULL) {
		b           = *in;
		b.cancelled = never_cancelled;
		in          = &b;
	}
	return (pl->t->process_batch(pl->state, in, &out->pub) == 0
	        ? 0
	        : TASQ_EINTERNAL);
}

static void
plugin_free(void *impl)
{
	struct plugin *pl = impl;

	if (pl == NULL) {
		return;
	}
	if (pl->inited && pl->t->fini != NULL) {
		pl->t->fini(pl->state);
	}
	if (pl->lib != NULL) {
		dlclose(pl->lib);
	}
	free(pl);
}

static const tasq_handler_ops plugin_ops = {
	.run        = plugin_run,
	.free       = plugin_free,
	.in_process = true,
};

int
tasq_handler_plugin_open(const char *spec, const tasq_handler_ops **ops,
    void **impl, char *err, size_t errlen)
{
	struct plugin *pl   = calloc(1, sizeof(*pl));
	const char    *sp   = strchr(spec, ' ');
	const char    *arg  = sp != NULL ? sp + 1 : "";
	size_t         plen = sp != NULL ? (size_t) (sp - spec) : strlen(spec);
	char          *path = NULL;
	char           ierr[256];

	if (pl == NULL || (path = strndup(spec, plen)) == NULL) {
		snprintf(err, errlen, "out of memory");
		free(pl);
		return (NNG_ENOMEM);
	}
	if ((pl->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		const char *e = dlerror();
		snprintf(err, errlen, "plugin %s: cannot load: %s", path,
		    e != NULL ? e : "?");
		goto fail;
	}
	dlerror();
	pl->t = dlsym(pl->lib, TASQ_HANDLER_SYMBOL);
	if (pl->t == NULL) {
		snprintf(err, errlen,
		    "plugin %s: no symbol %s (a plugin exports "
		    "const tasq_handler_table " TASQ_HANDLER_SYMBOL
		    ", see tasq/handler.h)",
		    path, TASQ_HANDLER_SYMBOL);
		goto fail;
	}
	// Versions only append fields to the batch (tasq/handler.h): every
	// one up to ours is served.
	if (pl->t->abi_version < TASQ_HANDLER_ABI_MIN ||
	    pl->t->abi_version > TASQ_HANDLER_ABI_VERSION) {
		snprintf(err, errlen,
		    "plugin %s: handler ABI version %u, this worker speaks "
		    "versions %u to %u",
		    path, (unsigned) pl->t->abi_version,
		    (unsigned) TASQ_HANDLER_ABI_MIN,
		    (unsigned) TASQ_HANDLER_ABI_VERSION);
		goto fail;
	}
	if (pl->t->process_batch == NULL) {
		snprintf(
		    err, errlen, "plugin %s: process_batch is NULL", path);
		goto fail;
	}
	if (pl->t->init != NULL) {
		ierr[0] = '\0';
		if (pl->t->init(arg, &pl->state, ierr, sizeof(ierr)) != 0) {
			ierr[sizeof(ierr) - 1] = '\0';
			snprintf(err, errlen, "plugin %s: init failed: %s",
			    path, ierr[0] != '\0' ? ierr : "(no message)");
			goto fail;
		}
	}
	pl->inited = true;
	free(path);
	*ops  = &plugin_ops;
	*impl = pl;
	return (0);
fail:
	free(path);
	plugin_free(pl);
	return (TASQ_EINVALID_ARGUMENT);
}
