/*
 * index_edit.c - changes to an existing index that keep every other
 * section byte for byte: today, replacing its prefetch list.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "common/util/atomic_file.h"
#include "common/format/index.h"

#define INDEX_EDIT_MAX ((size_t)1 << 31)

static size_t
align8(size_t n)
{
	return (n + CLIP_ALIGN - 1) & ~(size_t)(CLIP_ALIGN - 1);
}

clip_err
clip_index_set_prefetch(const char *path, const struct clip_prefetch_entry *v, size_t n,
    struct clip_error *err)
{
	const struct clip_disk_header *oh;
	const struct clip_disk_section *os;
	struct clip_disk_header *nh;
	struct clip_disk_section *ns;
	struct clip_disk_prefetch *pf;
	struct clip_stat st;
	clip_index *idx = NULL;
	void *old = NULL;
	uint8_t *out = NULL;
	size_t len, total, off, i, k, nsec;
	unsigned int mdlen;
	clip_err rc;

	if ((rc = clip_read_file(path, INDEX_EDIT_MAX, &old, &len, err)) != CLIP_OK)
		return rc;
	if ((rc = clip_index_open_buffer(old, len, &idx, err)) != CLIP_OK) {
		clip_error_prefix(err, "%s", path);
		goto out;
	}
	for (i = 0; i < n; i++)
		if (clip_index_stat(idx, v[i].ino, &st) != CLIP_OK || !S_ISREG(st.mode)) {
			rc = clip_error_set(err, CLIP_ERR_INVALID,
			    "prefetch entry %zu: inode %u is not a regular file", i, v[i].ino);
			goto out;
		}
	oh = old;
	os = (const void *)((const uint8_t *)old + oh->header_size);
	/* The new table: the old one without PREFETCH, then PREFETCH. */
	nsec = 1;
	total = 0;
	for (i = 0; i < oh->section_count; i++)
		if (os[i].type != CLIP_SECTION_PREFETCH) {
			nsec++;
			total += align8((size_t)os[i].length);
		}
	off = align8(sizeof(*nh) + nsec * sizeof(*ns));
	total += off + align8(n * sizeof(*pf));
	out = calloc(1, total);
	if (out == NULL) {
		rc = clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
		goto out;
	}
	nh = (void *)out;
	ns = (void *)(out + sizeof(*nh));
	memcpy(nh, oh, sizeof(*nh));
	nh->header_size = sizeof(*nh);
	nh->version_minor = CLIP_VERSION_MINOR > oh->version_minor ? CLIP_VERSION_MINOR :
	    oh->version_minor;
	nh->section_count = (uint32_t)nsec;
	nh->file_size = total;
	memset(nh->sha256, 0, sizeof(nh->sha256));
	for (i = 0, k = 0; i < oh->section_count; i++) {
		if (os[i].type == CLIP_SECTION_PREFETCH)
			continue;
		ns[k] = os[i];
		ns[k].offset = off;
		memcpy(out + off, (const uint8_t *)old + os[i].offset, (size_t)os[i].length);
		off += align8((size_t)os[i].length);
		k++;
	}
	ns[k].type = CLIP_SECTION_PREFETCH;
	ns[k].flags = 0;   /* optional: older readers mount without prefetching */
	ns[k].offset = off;
	ns[k].length = n * sizeof(*pf);
	pf = (void *)(out + off);
	for (i = 0; i < n; i++) {
		pf[i].ino = v[i].ino;
		pf[i].offset = v[i].offset;
		pf[i].length = v[i].length;
	}
	if (!EVP_Digest(out, total, nh->sha256, &mdlen, EVP_sha256(), NULL)) {
		rc = clip_error_set(err, CLIP_ERR_NOMEM, "SHA-256 failed");
		goto out;
	}
	rc = clip_write_file_atomic(path, out, total, 0644, err);
out:
	clip_index_close(idx);
	free(out);
	free(old);
	return rc;
}
