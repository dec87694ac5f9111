/*
 * erofs_xattr.c - an inode's xattrs as an EROFS inline xattr area.
 *
 * The area is a 12-byte header (no shared xattrs, no name filter) and
 * one entry per xattr: name index, the name after its namespace prefix,
 * the value, padded to 4 bytes.  EROFS names a namespace by an index, so
 * only the namespaces the kernel knows can be held; anything else is an
 * error for the caller, never a silent drop.
 */
#include "config.h"

#include <string.h>

#include "common/erofs/erofs_int.h"

struct xattr_ns {
	const char *prefix;
	size_t len;
	uint8_t index;
	int whole;   /* the name is the prefix itself (ACLs) */
};

static const struct xattr_ns namespaces[] = {
	{ "user.", 5, EROFS_DISK_XATTR_USER, 0 },
	{ "trusted.", 8, EROFS_DISK_XATTR_TRUSTED, 0 },
	{ "security.", 9, EROFS_DISK_XATTR_SECURITY, 0 },
	{ "system.posix_acl_access", 23, EROFS_DISK_XATTR_ACL_ACCESS, 1 },
	{ "system.posix_acl_default", 24, EROFS_DISK_XATTR_ACL_DEFAULT, 1 },
};

/* The namespace of name, or NULL if EROFS has none for it. */
static const struct xattr_ns *
find_ns(const struct clip_str *name)
{
	size_t i;

	for (i = 0; i < sizeof(namespaces) / sizeof(namespaces[0]); i++) {
		const struct xattr_ns *ns = &namespaces[i];
		if (name->len < ns->len || memcmp(name->ptr, ns->prefix, ns->len) != 0)
			continue;
		if (ns->whole && name->len != ns->len)
			continue;
		return ns;
	}
	return NULL;
}

static uint32_t
entry_size(size_t suffix_len, size_t value_len)
{
	return (uint32_t)erofs_round_up(sizeof(struct erofs_disk_xattr_entry) +
	    suffix_len + value_len, 4);
}

/* Checks xattr i of ino and gives its namespace and entry size. */
static clip_err
check_one(const clip_index *idx, uint32_t ino, uint32_t i,
    const struct xattr_ns **ns_out, uint32_t *size, struct clip_error *err)
{
	struct clip_str name, value;
	const struct xattr_ns *ns;
	clip_err rc = clip_index_xattr(idx, ino, i, &name, &value);

	if (rc != CLIP_OK)
		return clip_error_set(err, rc, "inode %u: xattr %u unreadable", ino, i);
	ns = find_ns(&name);
	if (!ns)
		return clip_error_set(err, CLIP_ERR_UNSUPPORTED,
		    "inode %u: xattr \"%.*s\": EROFS holds only user., trusted., "
		    "security. and system.posix_acl_{access,default} xattrs",
		    ino, (int)name.len, name.ptr);
	if (name.len - ns->len > EROFS_DISK_NAME_MAX)
		return clip_error_set(err, CLIP_ERR_TOOBIG,
		    "inode %u: xattr name \"%.*s\" too long for EROFS", ino,
		    (int)name.len, name.ptr);
	if (value.len > UINT16_MAX)
		return clip_error_set(err, CLIP_ERR_TOOBIG,
		    "inode %u: xattr \"%.*s\": a %u-byte value, EROFS holds at most %u",
		    ino, (int)name.len, name.ptr, value.len, (unsigned)UINT16_MAX);
	*ns_out = ns;
	*size = entry_size(name.len - ns->len, value.len);
	return CLIP_OK;
}

clip_err
erofs_xattr_size(const clip_index *idx, uint32_t ino, uint32_t count,
    uint32_t *bytes, struct clip_error *err)
{
	uint64_t total = sizeof(struct erofs_disk_xattr_ibody);
	uint32_t i;

	*bytes = 0;
	if (count == 0)
		return CLIP_OK;
	for (i = 0; i < count; i++) {
		const struct xattr_ns *ns;
		uint32_t size = 0;
		clip_err rc = check_one(idx, ino, i, &ns, &size, err);
		if (rc != CLIP_OK)
			return rc;
		total += size;
	}
	/* i_xattr_icount is 16 bits: 1 + (total - 12) / 4 must fit. */
	if (1 + (total - sizeof(struct erofs_disk_xattr_ibody)) / 4 > UINT16_MAX)
		return clip_error_set(err, CLIP_ERR_TOOBIG,
		    "inode %u: %u xattrs take %llu bytes, more than an EROFS inode holds",
		    ino, count, (unsigned long long)total);
	*bytes = (uint32_t)total;
	return CLIP_OK;
}

void
erofs_xattr_fill(const clip_index *idx, uint32_t ino, uint32_t count, uint8_t *dst)
{
	size_t pos = sizeof(struct erofs_disk_xattr_ibody);
	uint32_t i;

	/* The header is all zeros: no shared xattrs, no filter. */
	for (i = 0; i < count; i++) {
		struct clip_str name, value;
		struct erofs_disk_xattr_entry e;
		const struct xattr_ns *ns;
		size_t suffix;

		if (clip_index_xattr(idx, ino, i, &name, &value) != CLIP_OK)
			return;   /* erofs_xattr_size() read the same entries */
		ns = find_ns(&name);
		if (!ns)
			return;
		suffix = name.len - ns->len;
		e.e_name_len = (uint8_t)suffix;
		e.e_name_index = ns->index;
		e.e_value_size = (uint16_t)value.len;
		memcpy(dst + pos, &e, sizeof(e));
		memcpy(dst + pos + sizeof(e), name.ptr + ns->len, suffix);
		memcpy(dst + pos + sizeof(e) + suffix, value.ptr, value.len);
		pos += entry_size(suffix, value.len);
	}
}
