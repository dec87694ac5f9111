/*
 * registry_opts.h - the registry options that clipfs index and clipfs
 * mount share (--creds, --authfile, --cacert, --plain-http,
 * --tls-verify): one struct, one table (opt_table.h), defaults only in
 * registry_cli_opts_init.
 */
#ifndef CLIPFS_REGISTRY_OPTS_H
#define CLIPFS_REGISTRY_OPTS_H

#include "clipfs/opt_table.h"
#include "common/oci/reference.h"
#include "common/registry/mirrors.h"
#include "common/registry/registry.h"

struct registry_cli_opts {
	const char *creds;         /* USER:PASS for the image's registry, or NULL */
	const char *authfile;      /* containers auth.json, or NULL: the usual ones */
	const char *cacert;        /* a CA to trust, or NULL */
	int plain_http;            /* HTTP, not HTTPS */
	int tls_verify;            /* verify certificates */
	struct opt_list mirrors;   /* --mirror HOST[/PATH], in order */
	const char *registries_conf;   /* --registries-conf FILE, or NULL: the defaults */
};

/* The defaults. */
void registry_cli_opts_init(struct registry_cli_opts *o);

/*
 * Opens ref's repository with these options: credentials looked up for
 * ref->registry (--creds, --authfile, the usual auth files), plain HTTP
 * if o or plain_http says so, push for a handle that will write;
 * timeouts: connect, stall and request timeouts and retries (NULL: the
 * defaults).  The caller did clip_registry_global_init.  Errors of the lookup and open.
 */
clip_err registry_cli_open(const struct registry_cli_opts *o, const struct clip_reference *ref,
    int plain_http, int push, const struct clip_registry_opts *timeouts, clip_registry **out,
    struct clip_error *err);

/*
 * The mirrors to try for the image registry/repository, in order: the
 * --mirror ones, then those of its [[registry]] in registries.conf
 * (--registries-conf FILE, else CLIP_REGCONF_DEFAULT and its drop-in
 * directory), less those that do not serve a reference of this kind
 * (by_digest: pull-from-mirror); at most CLIP_MIRRORS_MAX (*n of them).
 * Warns on stderr when the [[registry]] moves the registry itself to
 * another location (clipfs does not follow that).  CLIP_ERR_INVALID for
 * a bad --mirror, a registries.conf that does not parse (its file and
 * line in err) or a registry it blocks.
 */
clip_err registry_cli_mirrors(const struct registry_cli_opts *o, const char *registry,
    const char *repository, int by_digest, struct clip_mirror_host *out, size_t *n,
    struct clip_error *err);

/*
 * Opens mirror m (clip_mirror_open), with credentials for its host from
 * the auth files only: --creds belongs to the image's registry and is
 * never sent to a mirror.  m->insecure: certificate not checked, HTTPS
 * or plain HTTP as the host answers (logged at info); else plain HTTP
 * with --plain-http.  A 200 for a range fails (whole_blob_fails).
 * timeouts: connect, stall and request timeouts and retries to use
 * (NULL: the defaults).
 */
clip_err registry_cli_open_mirror(const struct registry_cli_opts *o,
    const struct clip_mirror_host *m, const struct clip_registry_opts *timeouts,
    clip_registry **out, struct clip_error *err);

/* Logs at info the scheme (plain_http or HTTPS) clip_mirror_open chose
 * for m, when it chose one: m->insecure. */
void registry_cli_log_scheme(const struct clip_mirror_host *m, int plain_http);

#define REGISTRY_OPT_COUNT 7
extern const struct opt_def registry_opt_defs[REGISTRY_OPT_COUNT];

/* The table, for a struct registry_cli_opts at offset at of a command's
 * options struct. */
#define REGISTRY_OPT_TABLE(at) { registry_opt_defs, REGISTRY_OPT_COUNT, (at) }

/* The same without the mirror options (the last two), for a command that
 * talks to the image's registry only (clipfs push). */
#define REGISTRY_OPT_TABLE_NO_MIRRORS(at) { registry_opt_defs, REGISTRY_OPT_COUNT - 2, (at) }

#endif
