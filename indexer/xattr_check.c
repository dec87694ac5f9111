/* xattr_check.c - xattrs Linux would refuse (see xattr_check.h). */
#include "config.h"

#include <stdint.h>
#include <string.h>
#include <linux/limits.h>

#include "indexer/xattr_check.h"

/* The kernel's xattr form of an ACL (linux/posix_acl_xattr.h): a 4-byte
 * version, then 8-byte entries (tag u16, perm u16, id u32), little endian. */
#define ACL_VERSION 2
enum { A_USER_OBJ = 1, A_USER = 2, A_GROUP_OBJ = 4, A_GROUP = 8, A_MASK = 16, A_OTHER = 32 };

static uint32_t
le(const uint8_t *p, int n)
{
	return n == 2 ? (uint32_t)p[0] | (uint32_t)p[1] << 8 :
	    (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* What posix_acl_from_xattr and posix_acl_valid accept: entries in the
 * order user_obj, users, group_obj, groups, [mask], other, the mask
 * present when there are named users or groups.  NULL, or why not. */
static const char *
acl_problem(const uint8_t *v, size_t len)
{
	enum { S_USER_OBJ, S_USER, S_GROUP, S_OTHER, S_DONE } state = S_USER_OBJ;
	int named = 0;
	size_t i;

	if (len < 4 || le(v, 4) != ACL_VERSION)
		return "not a version 2 ACL";
	if ((len - 4) % 8 != 0)
		return "a partial entry";
	if (len == 4)
		return NULL;    /* no entries: no ACL */
	for (i = 4; i < len; i += 8) {
		uint32_t tag = le(v + i, 2), perm = le(v + i + 2, 2), id = le(v + i + 4, 4);
		if (perm & ~7u)
			return "a bad permission";
		if ((tag == A_USER || tag == A_GROUP) && id == UINT32_MAX)
			return "an undefined id";
		if (tag == A_USER_OBJ && state == S_USER_OBJ)
			state = S_USER;
		else if ((tag == A_USER && state == S_USER) || (tag == A_GROUP && state == S_GROUP))
			named = 1;
		else if (tag == A_GROUP_OBJ && state == S_USER)
			state = S_GROUP;
		else if (tag == A_MASK && state == S_GROUP)
			state = S_OTHER;
		else if (tag == A_OTHER && (state == S_OTHER || (state == S_GROUP && !named)))
			state = S_DONE;
		else
			return "entries missing or out of order";
	}
	return state == S_DONE ? NULL : "entries missing or out of order";
}

clip_err
xattr_check_entry(const struct clip_tar_entry *e, struct clip_error *err)
{
	const struct clip_tar_xattr *x;
	const char *why;
	size_t i, nlen;
	int dflt;

	for (i = 0; i < e->nxattrs; i++) {
		x = &e->xattrs[i];
		nlen = strlen(x->name);
		if (nlen > XATTR_NAME_MAX)
			return clip_error_set(err, CLIP_ERR_IMAGE, "'%.200s': xattr name of %zu "
			    "bytes ('%.40s...'): Linux allows %d", e->path, nlen, x->name,
			    XATTR_NAME_MAX);
		if (x->len > XATTR_SIZE_MAX)
			return clip_error_set(err, CLIP_ERR_IMAGE, "'%.200s': xattr '%s' holds "
			    "%zu bytes: Linux allows %d", e->path, x->name, x->len, XATTR_SIZE_MAX);
		dflt = strcmp(x->name, "system.posix_acl_default") == 0;
		if (!dflt && strcmp(x->name, "system.posix_acl_access") != 0)
			continue;
		why = acl_problem(x->value, x->len);
		if (why == NULL && dflt && e->type != CLIP_TAR_DIR && x->len > 4)
			why = "a default ACL on what is not a directory";
		if (why != NULL)
			return clip_error_set(err, CLIP_ERR_IMAGE, "'%.200s': xattr '%s' is not an "
			    "ACL Linux takes: %s", e->path, x->name, why);
	}
	return CLIP_OK;
}
