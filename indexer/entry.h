/*
 * entry.h - one tar entry of a layer, copied out of the parser so that
 * layers can be scanned in parallel and merged afterwards, in order.
 */
#ifndef CLIP_INDEXER_ENTRY_H
#define CLIP_INDEXER_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "common/util/error.h"
#include "common/tar/tar.h"

struct layer_xattr {
	char *name;
	uint8_t *value;
	size_t len;
};

struct layer_entry {
	char *path;               /* normalised, see tar.h; "" is the root */
	size_t path_len;
	char *linkpath;           /* symlink target or hardlink target path */
	size_t linkpath_len;
	enum clip_tar_type type;
	uint32_t mode;            /* permission bits */
	uint32_t uid, gid;
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint32_t devmajor, devminor;
	uint64_t data_offset;
	struct layer_xattr *xattrs;
	size_t nxattrs;
};

/* A growing list of entries. */
struct layer_entries {
	struct layer_entry *v;
	size_t n, cap;
};

/* Appends a deep copy of e. */
clip_err layer_entries_add(struct layer_entries *list, const struct clip_tar_entry *e,
    struct clip_error *err);
void layer_entries_free(struct layer_entries *list);

#endif
