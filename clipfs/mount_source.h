/*
 * mount_source.h - where a mount's layer bytes come from.
 *
 * Prepared in two steps around the daemon's fork: everything that can fail
 * on the user's input (the index's storage reference, credentials) before
 * anything is mounted, and the layout files or the registry handle after
 * the fork (network handles do not survive it).
 */
#ifndef CLIPFS_MOUNT_SOURCE_H
#define CLIPFS_MOUNT_SOURCE_H

#include "clipfs/mount_opts.h"
#include "common/format/index.h"
#include "common/oci/blob_source.h"
#include "common/oci/reference.h"
#include "common/registry/auth_config.h"
#include "common/registry/mirrors.h"
#include "common/registry/registry.h"

struct mount_source {
	clip_layout_source *layout;
	clip_registry *registry;
	clip_mirror_set *mirrors;         /* --mirror: owns the handles, registry last */
	struct clip_mirror_host mirror_hosts[CLIP_MIRRORS_MAX];   /* registry_cli_mirrors */
	size_t nmirror_hosts;
	struct clip_blob_source src;      /* what the reader fetches through */
	struct clip_reference ref;
	struct clip_registry_opts ro;
	struct clip_creds creds;
};

/* Checks and resolves (the mirrors too), without threads or
 * connections: 0, or an exit status after printing why.  ds must be
 * zeroed. */
int mount_source_prepare(const struct mount_opts *m, const clip_index *idx,
    struct mount_source *ds);

/* After the fork: opens the layout or the registry handle and fills
 * ds->src. */
clip_err mount_source_open(const struct mount_opts *m, struct mount_source *ds,
    struct clip_error *err);

/* Frees what prepare and open made.  Nothing may fetch any more. */
void mount_source_close(struct mount_source *ds);

#endif
