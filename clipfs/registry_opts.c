/* registry_opts.c - the registry options of index and mount (registry_opts.h). */
#include "config.h"

#include <string.h>

#include "clipfs/registry_opts.h"
#include "common/registry/auth_config.h"

#define AT(field) offsetof(struct registry_cli_opts, field)

const struct opt_def registry_opt_defs[REGISTRY_OPT_COUNT] = {
	{ "creds", K_SECRET, AT(creds), 0, "USER:PASS", "registry credentials", 0 },
	{ "authfile", K_PATH, AT(authfile), 0, "FILE",
	    "credentials file (containers auth.json format)", 0 },
	{ "cacert", K_PATH, AT(cacert), 0, "FILE", "trust this CA for the registry", 0 },
	{ "plain-http", K_FLAG, AT(plain_http), 0, NULL,
	    "talk HTTP, not HTTPS, to the registry (clipfs mount also takes this from the "
	    "index)", 0 },
	{ "tls-verify", K_BOOL, AT(tls_verify), 0, "BOOL", "verify the registry's certificate", 0 },
};

void
registry_cli_opts_init(struct registry_cli_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->tls_verify = 1;
}

clip_err
registry_cli_open(const struct registry_cli_opts *o, const struct clip_reference *ref,
    int plain_http, int push, clip_registry **out, struct clip_error *err)
{
	struct clip_registry_opts ro;
	struct clip_creds creds = { 0 };
	clip_err rc;

	*out = NULL;
	rc = clip_auth_lookup(ref->registry, o->creds, o->authfile, &creds, err);
	if (rc != CLIP_OK)
		return rc;
	clip_registry_opts_init(&ro);
	ro.plain_http = o->plain_http || plain_http;
	ro.tls_verify = o->tls_verify;
	ro.cacert = o->cacert;
	ro.username = creds.username;
	ro.password = creds.password;
	ro.push = push;
	rc = clip_registry_open(ref->api_host, ref->repository, &ro, out, err);
	clip_creds_free(&creds);
	return rc;
}
