/*
 * mount_ref.h - clipfs mount REF: from an image reference to a local index
 * file, through the index artifact published next to the image (clipfs
 * push; clip(5), PUBLISHING).
 */
#ifndef CLIPFS_MOUNT_REF_H
#define CLIPFS_MOUNT_REF_H

#include "clipfs/mount_opts.h"

/*
 * Whether the IMAGE argument names an image rather than an index file:
 * not an existing path, not starting with '/' or '.', not ending in
 * ".clip" (those are index files, missing or not).
 */
int mount_arg_is_reference(const char *arg);

/*
 * Resolves m->index_path as a reference (platform: m->platform or this
 * machine, as clipfs index chooses), finds the index published for that
 * manifest, downloads it into CACHE_DIR/indexes/ (checked, atomic; kept
 * and reused while its manifest digest is the one resolved), points
 * m->index_path at it and leaves it open in m->fetched (checked once, not
 * again by the mount).  An exit status, with the reason on stderr:
 * EXIT_NO_INDEX when none is published.
 */
int mount_ref_fetch(struct mount_opts *m);

#endif
