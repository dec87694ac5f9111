/*
 * erofs_dir.c - EROFS directory blocks.
 *
 * A directory's data is a run of 512-byte blocks.  Each block starts with
 * an array of 12-byte dirents (nid, name offset, file type), followed by
 * the names, unterminated; the first dirent's name offset gives the
 * array's length, a name ends where the next one starts and the block's
 * last name at the first NUL or the end of the block (or of the
 * directory).  No entry crosses a block.  Entries, "." and ".."
 * included, are sorted by name bytes across all blocks: the kernel's
 * lookup binary-searches the blocks by their first names, then inside a
 * block.  Everything here is linear in the directory's entries.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/format/format.h"

#include "common/erofs/erofs_int.h"

static uint8_t
file_type(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return EROFS_DISK_FT_REG;
	case S_IFDIR: return EROFS_DISK_FT_DIR;
	case S_IFCHR: return EROFS_DISK_FT_CHR;
	case S_IFBLK: return EROFS_DISK_FT_BLK;
	case S_IFIFO: return EROFS_DISK_FT_FIFO;
	case S_IFSOCK: return EROFS_DISK_FT_SOCK;
	case S_IFLNK: return EROFS_DISK_FT_LNK;
	default: return EROFS_DISK_FT_UNKNOWN;
	}
}

/* The kernel's order, and the index's (clip_name_cmp): bytes as
 * unsigned, a prefix before the longer name. */
static int
dent_cmp(const struct erofs_dent *x, const struct erofs_dent *y)
{
	return clip_name_cmp(x->name, x->len, y->name, y->len);
}

/* The index keeps a directory's entries sorted, without "." and "..":
 * merge the two in (a name like ".-x" sorts between them), in linear
 * time.  An index out of order is refused, not written. */
static clip_err
merge_dots(struct erofs_plan *p, uint32_t ino, size_t nchild, struct clip_error *err)
{
	const struct erofs_dent *dots = p->dents + nchild;
	size_t i = 0, j = 0, k = 0;

	while (i < nchild || j < 2) {
		if (j < 2 && (i == nchild || dent_cmp(&dots[j], &p->dents[i]) < 0))
			p->sorted[k++] = &dots[j++];
		else
			p->sorted[k++] = &p->dents[i++];
		if (k > 1 && dent_cmp(p->sorted[k - 2], p->sorted[k - 1]) >= 0)
			return clip_error_set(err, CLIP_ERR_FORMAT,
			    "directory inode %u: entries not sorted", ino);
	}
	return CLIP_OK;
}

static clip_err
reserve(struct erofs_plan *p, size_t n, struct clip_error *err)
{
	struct erofs_dent *d;
	const struct erofs_dent **s;

	if (n <= p->dents_cap)
		return CLIP_OK;
	d = realloc(p->dents, n * sizeof(*d));
	if (!d)
		return clip_error_set(err, CLIP_ERR_NOMEM, "directory of %zu entries", n);
	p->dents = d;
	s = realloc(p->sorted, n * sizeof(*s));
	if (!s)
		return clip_error_set(err, CLIP_ERR_NOMEM, "directory of %zu entries", n);
	p->sorted = s;
	p->dents_cap = n;
	return CLIP_OK;
}

clip_err
erofs_dir_entries(struct erofs_plan *p, uint32_t ino,
    const struct erofs_dent *const **out, size_t *n, struct clip_error *err)
{
	struct clip_stat st;
	uint32_t size = clip_index_dir_size(p->idx, ino), i;
	clip_err rc = clip_index_stat(p->idx, ino, &st);

	if (rc != CLIP_OK || !S_ISDIR(st.mode))
		return clip_error_set(err, CLIP_ERR_FORMAT, "inode %u: not a directory", ino);
	rc = reserve(p, (size_t)size + 2, err);
	if (rc != CLIP_OK)
		return rc;
	for (i = 0; i < size; i++) {
		struct clip_dirent de;
		rc = clip_index_readdir(p->idx, ino, i, &de);
		if (rc != CLIP_OK)
			return clip_error_set(err, rc, "inode %u: entry %u unreadable", ino, i);
		if (de.name.len == 0 || de.name.len > EROFS_DISK_NAME_MAX ||
		    de.ino == 0 || de.ino > p->count)
			return clip_error_set(err, CLIP_ERR_FORMAT,
			    "inode %u: entry %u has a bad name or inode", ino, i);
		p->dents[i] = (struct erofs_dent){ de.name.ptr, de.name.len, de.ino,
		    file_type(de.mode_type) };
	}
	p->dents[size] = (struct erofs_dent){ ".", 1, ino, EROFS_DISK_FT_DIR };
	p->dents[size + 1] = (struct erofs_dent){ "..", 2, st.parent, EROFS_DISK_FT_DIR };
	rc = merge_dots(p, ino, size, err);
	if (rc != CLIP_OK)
		return rc;
	*out = p->sorted;
	*n = (size_t)size + 2;
	return CLIP_OK;
}

/* How many entries from d[0] fit in one block, and the bytes they use. */
static size_t
block_fill(const struct erofs_dent *const *d, size_t n, uint32_t *used)
{
	uint32_t u = 0;
	size_t k = 0;

	while (k < n && u + sizeof(struct erofs_disk_dirent) + d[k]->len <= EROFS_DISK_BLKSZ) {
		u += sizeof(struct erofs_disk_dirent) + d[k]->len;
		k++;
	}
	*used = u;
	return k;
}

uint32_t
erofs_dir_layout(const struct erofs_dent *const *d, size_t n, uint16_t *tail)
{
	uint32_t blocks = 0, used = 0;
	size_t i = 0;

	while (i < n) {
		i += block_fill(d + i, n - i, &used);
		blocks++;
	}
	*tail = (uint16_t)used;
	return blocks;
}

void
erofs_dir_fill(const struct erofs_plan *p, const struct erofs_dent *const *d,
    size_t n, uint8_t *dst)
{
	size_t i = 0;

	while (i < n) {
		uint32_t used, nameoff;
		size_t k = block_fill(d + i, n - i, &used), j;

		nameoff = (uint32_t)(k * sizeof(struct erofs_disk_dirent));
		for (j = 0; j < k; j++) {
			const struct erofs_dent *e = d[i + j];
			struct erofs_disk_dirent de = {
				.nid = p->nodes[e->ino].nid,
				.nameoff = (uint16_t)nameoff,
				.file_type = e->file_type,
			};
			memcpy(dst + j * sizeof(de), &de, sizeof(de));
			memcpy(dst + nameoff, e->name, e->len);
			nameoff += e->len;
		}
		i += k;
		dst += EROFS_DISK_BLKSZ;
	}
}
