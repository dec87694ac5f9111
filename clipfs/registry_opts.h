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
#include "common/registry/registry.h"

struct registry_cli_opts {
	const char *creds;         /* USER:PASS for the image's registry, or NULL */
	const char *authfile;      /* containers auth.json, or NULL: the usual ones */
	const char *cacert;        /* a CA to trust, or NULL */
	int plain_http;            /* HTTP, not HTTPS */
	int tls_verify;            /* verify certificates */
	struct opt_list mirrors;   /* --mirror HOST[/PATH], in order */
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
 * Opens the mirror "HOST[/PATH]" of repository (clip_mirror_open), with
 * credentials for HOST from the auth files only: --creds belongs to the
 * image's registry and is never sent to a mirror.  Plain HTTP only with
 * --plain-http.  A 200 for a range fails (whole_blob_fails).  timeouts: connect, stall and request timeouts and
 * retries to use (NULL: the defaults).
 */
clip_err registry_cli_open_mirror(const struct registry_cli_opts *o, const char *mirror,
    const char *repository, const struct clip_registry_opts *timeouts, clip_registry **out,
    struct clip_error *err);

#define REGISTRY_OPT_COUNT 6
extern const struct opt_def registry_opt_defs[REGISTRY_OPT_COUNT];

/* The table, for a struct registry_cli_opts at offset at of a command's
 * options struct. */
#define REGISTRY_OPT_TABLE(at) { registry_opt_defs, REGISTRY_OPT_COUNT, (at) }

#endif
