/*
 * registry_opts.h - the registry options that clipfs index and clipfs
 * mount share (--creds, --authfile, --cacert, --plain-http,
 * --tls-verify): one struct, one table (opt_table.h), defaults only in
 * registry_cli_opts_init.
 */
#ifndef CLIPFS_REGISTRY_OPTS_H
#define CLIPFS_REGISTRY_OPTS_H

#include "clipfs/opt_table.h"

struct registry_cli_opts {
	const char *creds;         /* USER:PASS for the image's registry, or NULL */
	const char *authfile;      /* containers auth.json, or NULL: the usual ones */
	const char *cacert;        /* a CA to trust, or NULL */
	int plain_http;            /* HTTP, not HTTPS */
	int tls_verify;            /* verify certificates */
};

/* The defaults. */
void registry_cli_opts_init(struct registry_cli_opts *o);

#define REGISTRY_OPT_COUNT 5
extern const struct opt_def registry_opt_defs[REGISTRY_OPT_COUNT];

/* The table, for a struct registry_cli_opts at offset at of a command's
 * options struct. */
#define REGISTRY_OPT_TABLE(at) { registry_opt_defs, REGISTRY_OPT_COUNT, (at) }

#endif
