/* registry_opts.c - the registry options of index and mount (registry_opts.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "clipfs/registry_opts.h"
#include "common/registry/auth_config.h"
#include "common/registry/mirrors.h"

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
	{ "mirror", K_LIST, AT(mirrors), OPT_LIST_MAX, "HOST[/PATH]",
	    "try this registry mirror first for the image's blobs and manifests "
	    "(repeatable; in order, the image's registry last)", 0 },
};

void
registry_cli_opts_init(struct registry_cli_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->tls_verify = 1;
}

/* The connection options of o, with timeouts' timeouts and retries
 * (NULL: the defaults); no credentials. */
static void
base_opts(const struct registry_cli_opts *o, int plain_http,
    const struct clip_registry_opts *timeouts, struct clip_registry_opts *ro)
{
	clip_registry_opts_init(ro);
	if (timeouts != NULL) {
		ro->connect_timeout_s = timeouts->connect_timeout_s;
		ro->low_speed_time_s = timeouts->low_speed_time_s;
		ro->request_timeout_s = timeouts->request_timeout_s;
		ro->max_retries = timeouts->max_retries;
	}
	ro->plain_http = o->plain_http || plain_http;
	ro->tls_verify = o->tls_verify;
	ro->cacert = o->cacert;
}

clip_err
registry_cli_open(const struct registry_cli_opts *o, const struct clip_reference *ref,
    int plain_http, int push, const struct clip_registry_opts *timeouts, clip_registry **out,
    struct clip_error *err)
{
	struct clip_registry_opts ro;
	struct clip_creds found = { 0 };
	clip_err rc;

	*out = NULL;
	rc = clip_auth_lookup(ref->registry, o->creds, o->authfile, &found, err);
	if (rc != CLIP_OK)
		return rc;
	base_opts(o, plain_http, timeouts, &ro);
	ro.username = found.username;
	ro.password = found.password;
	ro.push = push;
	rc = clip_registry_open(ref->api_host, ref->repository, &ro, out, err);
	clip_creds_free(&found);
	return rc;
}

clip_err
registry_cli_open_mirror(const struct registry_cli_opts *o, const char *mirror,
    const char *repository, const struct clip_registry_opts *timeouts, clip_registry **out,
    struct clip_error *err)
{
	struct clip_registry_opts ro;

	base_opts(o, 0, timeouts, &ro);
	return clip_mirror_open(mirror, repository, &ro, o->authfile, out, err);
}
