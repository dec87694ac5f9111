/* registry_opts.c - the registry options of index and mount (registry_opts.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipfs/log.h"
#include "clipfs/registry_opts.h"
#include "common/registry/auth_config.h"
#include "common/registry/mirrors.h"
#include "common/registry/registries_conf.h"

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
	{ "registries-conf", K_PATH, AT(registries_conf), 0, "FILE",
	    "mirrors from this containers-registries.conf(5) file (default: "
	    CLIP_REGCONF_DEFAULT " and its .d directory)", 0 },
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

void
registry_cli_log_scheme(const struct clip_mirror_host *m, int plain_http)
{
	if (m->insecure)
		log_info("%s (insecure): %s", m->label, plain_http ?
		    "plain HTTP (HTTPS got no answer)" : "HTTPS, certificate not checked");
}

clip_err
registry_cli_open_mirror(const struct registry_cli_opts *o, const struct clip_mirror_host *m,
    const struct clip_registry_opts *timeouts, clip_registry **out, struct clip_error *err)
{
	struct clip_registry_opts ro;
	clip_err rc;

	base_opts(o, 0, timeouts, &ro);
	rc = clip_mirror_open(m, &ro, o->authfile, out, err);
	if (rc == CLIP_OK)
		registry_cli_log_scheme(m, clip_registry_plain_http(*out));
	return rc;
}

/* The --mirror values as hosts of registry/repository. */
static clip_err
flag_mirrors(const struct registry_cli_opts *o, const char *repository,
    struct clip_mirror_host *out, size_t *n, struct clip_error *err)
{
	char *host = NULL, *repo = NULL;
	clip_err rc = CLIP_OK;
	unsigned i;

	for (i = 0; i < o->mirrors.n && *n < CLIP_MIRRORS_MAX && rc == CLIP_OK; i++) {
		rc = clip_mirror_parse(o->mirrors.v[i], repository, &host, &repo, err);
		if (rc == CLIP_OK && (strlen(host) >= sizeof(out->host) ||
		    strlen(repo) >= sizeof(out->repository)))
			rc = clip_error_set(err, CLIP_ERR_INVALID, "--mirror %.100s: too long",
			    o->mirrors.v[i]);
		if (rc == CLIP_OK) {
			memset(&out[*n], 0, sizeof(out[*n]));
			memcpy(out[*n].host, host, strlen(host) + 1);
			memcpy(out[*n].repository, repo, strlen(repo) + 1);
			snprintf(out[*n].label, sizeof(out->label), "%.299s", o->mirrors.v[i]);
			(*n)++;
		}
		free(host);
		free(repo);
		host = repo = NULL;
	}
	return rc;
}

/* The mirrors registries.conf gives, after the *n there are. */
static clip_err
conf_mirrors(const clip_regconf *conf, const char *registry, const char *repository,
    int by_digest, struct clip_mirror_host *out, size_t *n, struct clip_error *err)
{
	const struct clip_regconf_registry *reg = clip_regconf_find(conf, registry, repository);
	size_t got = 0;
	clip_err rc;

	if (reg == NULL)
		return CLIP_OK;
	if (reg->blocked)
		return clip_error_set(err, CLIP_ERR_INVALID, "registries.conf blocks %s/%s "
		    "([[registry]] prefix %.100s, line %u)", registry, repository, reg->prefix,
		    reg->line);
	rc = clip_regconf_mirrors(reg, registry, repository, by_digest, out + *n,
	    CLIP_MIRRORS_MAX - *n, &got, err);
	*n += got;
	return rc;
}

clip_err
registry_cli_mirrors(const struct registry_cli_opts *o, const char *registry,
    const char *repository, int by_digest, struct clip_mirror_host *out, size_t *n,
    struct clip_error *err)
{
	clip_regconf conf = { NULL, 0 };
	clip_err rc;

	*n = 0;
	rc = flag_mirrors(o, repository, out, n, err);
	if (rc == CLIP_OK)
		rc = o->registries_conf != NULL ?
		    clip_regconf_load_file(&conf, o->registries_conf, err) :
		    clip_regconf_load_default(&conf, CLIP_REGCONF_DEFAULT, CLIP_REGCONF_DEFAULT_DIR,
		    err);
	if (rc == CLIP_OK)
		rc = conf_mirrors(&conf, registry, repository, by_digest, out, n, err);
	clip_regconf_free(&conf);
	if (rc == CLIP_OK || rc == CLIP_ERR_NOMEM)
		return rc;
	if (err != NULL)
		err->code = CLIP_ERR_INVALID;   /* the user's configuration: exit status 2 */
	return CLIP_ERR_INVALID;
}
