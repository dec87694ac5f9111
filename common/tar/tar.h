/*
 * tar.h - a push parser for tar streams, as found in OCI layers.
 *
 * Feed it the uncompressed stream in chunks of any size; it calls back
 * once per entry, with the entry's metadata and the offset of its data in
 * the stream, and skips the data itself.  It understands ustar, GNU long
 * names and long links ('L', 'K'), PAX extended headers ('x': path,
 * linkpath, size, uid, gid, mtime with fractions, SCHILY.xattr.*,
 * LIBARCHIVE.xattr.* base64), and base-256 numbers.  PAX global headers
 * ('g') are parsed (a malformed one is an error) and their records
 * ignored, as Go's archive/tar, containerd and Docker do.
 * GNU and PAX sparse files are refused with CLIP_ERR_UNSUPPORTED.
 *
 * A stream that ends right after an entry's data, without padding or the
 * two zero blocks, is accepted (umoci writes such layers).  A stream
 * that ends inside a header or inside data, a bad header checksum, a
 * negative or overflowing number, a ".." path component, or non-zero
 * bytes after the end-of-archive blocks give CLIP_ERR_TAR.  Every buffer
 * that grows from the input has a cap (CLIP_ERR_TOOBIG).
 */
#ifndef CLIP_TAR_H
#define CLIP_TAR_H

#include <stddef.h>
#include <stdint.h>

#include "common/util/error.h"

enum clip_tar_type {
	CLIP_TAR_REG,
	CLIP_TAR_HARDLINK,
	CLIP_TAR_SYMLINK,
	CLIP_TAR_CHR,
	CLIP_TAR_BLK,
	CLIP_TAR_DIR,
	CLIP_TAR_FIFO,
};

struct clip_tar_xattr {
	const char *name;         /* "user.foo", NUL-terminated */
	const uint8_t *value;     /* binary */
	size_t len;
};

struct clip_tar_entry {
	/* Normalised: no leading "/" or "./", no "." components, no empty
	 * components, no trailing "/"; "" is the root directory itself. */
	const char *path;
	size_t path_len;
	/* SYMLINK: the target as stored.  HARDLINK: the target path,
	 * normalised like path.  NULL otherwise. */
	const char *linkpath;
	size_t linkpath_len;
	enum clip_tar_type type;
	uint32_t mode;            /* permission bits, & 07777 */
	uint32_t uid;
	uint32_t gid;
	uint64_t size;            /* data bytes (0 but for CLIP_TAR_REG) */
	int64_t  mtime_sec;
	uint32_t mtime_nsec;
	uint32_t devmajor;
	uint32_t devminor;
	uint64_t data_offset;     /* of the data's first byte in the stream */
	const struct clip_tar_xattr *xattrs;
	size_t nxattrs;
};

/* All pointers in e are valid only during the call.  A non-OK return
 * stops the parse and is passed back from clip_tar_feed(). */
typedef clip_err (*clip_tar_entry_fn)(void *ctx, const struct clip_tar_entry *e,
    struct clip_error *err);

typedef struct clip_tar clip_tar;

clip_err clip_tar_new(clip_tar_entry_fn fn, void *ctx, clip_tar **out,
    struct clip_error *err);
void clip_tar_free(clip_tar *t);   /* accepts NULL */

/* Parses len more bytes of the stream. */
clip_err clip_tar_feed(clip_tar *t, const uint8_t *buf, size_t len,
    struct clip_error *err);

/* The stream has ended: checks that it ended at an entry boundary. */
clip_err clip_tar_finish(clip_tar *t, struct clip_error *err);

/* Bytes of the stream consumed so far. */
uint64_t clip_tar_offset(const clip_tar *t);

/* Normalises a tar path in place as described above; CLIP_ERR_TAR for a
 * ".." component or a NUL byte.  Exposed for hardlink targets and tests. */
clip_err clip_tar_normalize(char *path, size_t *len, struct clip_error *err);

#endif
