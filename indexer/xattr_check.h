/*
 * xattr_check.h - the xattrs of a tar entry that no unpacker could set on
 * Linux, refused at indexing time as a bad image (private to indexer/).
 */
#ifndef CLIP_INDEXER_XATTR_CHECK_H
#define CLIP_INDEXER_XATTR_CHECK_H

#include "common/tar/tar.h"
#include "common/util/error.h"

/* CLIP_ERR_IMAGE, naming the entry and the xattr, when one of e's xattrs
 * has a name over XATTR_NAME_MAX bytes or a value over XATTR_SIZE_MAX,
 * or is a POSIX ACL (system.posix_acl_access, _default) the kernel would
 * refuse to set (EINVAL, EOPNOTSUPP, EACCES): not the version 2 format,
 * a bad tag, permission bit or id, entries out of the order the kernel
 * requires, a default ACL on a non-directory.  CLIP_OK otherwise. */
clip_err xattr_check_entry(const struct clip_tar_entry *e, struct clip_error *err);

#endif
