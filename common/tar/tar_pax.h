/*
 * tar_pax.h - PAX extended header records, for the tar parser only.
 *
 * A struct tar_pax holds the keywords clipfs cares about from one 'x'
 * header (applies to the next entry) or from the 'g' headers seen so
 * far (defaults for all later entries).  Not a public interface.
 */
#ifndef CLIP_TAR_PAX_H
#define CLIP_TAR_PAX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util/error.h"

/* Caps on what the input can make us hold. */
#define TAR_PAX_XATTR_MAX 1024         /* xattrs in one set */

struct tar_pax_xattr {
	char *name;                    /* NUL-terminated, no NUL inside */
	uint8_t *value;                /* binary, len bytes (+1 NUL, unused) */
	size_t len;
};

struct tar_pax {
	char *path;                    /* NULL: not set; NUL-terminated */
	size_t path_len;
	char *linkpath;
	size_t linkpath_len;
	bool has_size, has_uid, has_gid, has_mtime;
	bool has_devmajor, has_devminor;
	uint64_t size;                 /* <= INT64_MAX */
	uint32_t uid, gid;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint32_t devmajor, devminor;
	/* A GNU.sparse.* keyword was seen: the entry is a sparse file. */
	bool sparse;
	char *sparse_name;             /* GNU.sparse.name, for messages */
	size_t sparse_name_len;
	struct tar_pax_xattr *xattrs;
	size_t nxattrs;
};

/* Frees what p holds and zeroes it (p itself is not freed). */
void tar_pax_clear(struct tar_pax *p);

/*
 * Parses the records of one extended header payload (buf, len) into p,
 * on top of what p already holds: a keyword seen again replaces the
 * earlier value.  A record with an empty value unsets that keyword in
 * p (POSIX: it deletes an earlier value), except for xattrs, where an
 * empty value is a valid attribute value.  Unknown keywords, atime,
 * ctime, uname, gname, charset and comment are ignored.
 * Returns CLIP_ERR_TAR for a malformed record or value, CLIP_ERR_TOOBIG
 * past TAR_PAX_XATTR_MAX attributes, CLIP_ERR_NOMEM.
 * On failure p may hold part of the records; clear it.
 */
clip_err tar_pax_parse(struct tar_pax *p, const uint8_t *buf, size_t len,
    struct clip_error *err);

/* Helpers shared with tar.c. */

/*
 * Writes a printable, bounded rendering of the bytes (p, n) into out
 * (size outsz >= 8): non-printable bytes become \xNN and long strings
 * are cut with "...".  Returns out, for use in error messages.
 */
const char *tar_quote(const char *p, size_t n, char *out, size_t outsz);

#endif
