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
};

void
registry_cli_opts_init(struct registry_cli_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->tls_verify = 1;
}

/* Opens api_host/repository with the options, credentials looked up
 * for registry (creds: --creds, or NULL for the auth files only); a
 * mirror refuses to send whole blobs for ranges (the origin will do). */
static clip_err
open_at(const struct registry_cli_opts *o, const char *registry, const char *api_host,
    const char *repository, const char *creds, int plain_http, int push, int mirror,
    const struct clip_registry_opts *timeouts, clip_registry **out, struct clip_error *err)
{
	struct clip_registry_opts ro;
	struct clip_creds found = { 0 };
	clip_err rc;

	*out = NULL;
	rc = clip_auth_lookup(registry, creds, o->authfile, &found, err);
	if (rc != CLIP_OK)
		return rc;
	clip_registry_opts_init(&ro);
	if (timeouts != NULL) {
		ro.connect_timeout_s = timeouts->connect_timeout_s;
		ro.low_speed_time_s = timeouts->low_speed_time_s;
		ro.request_timeout_s = timeouts->request_timeout_s;
		ro.max_retries = timeouts->max_retries;
	}
	ro.plain_http = o->plain_http || plain_http;
	ro.tls_verify = o->tls_verify;
	ro.cacert = o->cacert;
	ro.username = found.username;
	ro.password = found.password;
	ro.push = push;
	ro.whole_blob_fails = mirror;
	rc = clip_registry_open(api_host, repository, &ro, out, err);
	clip_creds_free(&found);
	return rc;
}

clip_err
registry_cli_open(const struct registry_cli_opts *o, const struct clip_reference *ref,
    int plain_http, int push, const struct clip_registry_opts *timeouts, clip_registry **out,
    struct clip_error *err)
{
	return open_at(o, ref->registry, ref->api_host, ref->repository, o->creds, plain_http,
	    push, 0, timeouts, out, err);
}

clip_err
registry_cli_open_mirror(const struct registry_cli_opts *o, const char *mirror,
    const char *repository, const struct clip_registry_opts *timeouts, clip_registry **out,
    struct clip_error *err)
{
	char *host = NULL, *repo = NULL;
	clip_err rc;

	*out = NULL;
	rc = clip_mirror_parse(mirror, repository, &host, &repo, err);
	if (rc == CLIP_OK)
		rc = open_at(o, host, host, repo, NULL, 0, 0, 1, timeouts, out, err);
	free(host);
	free(repo);
	return rc;
}
