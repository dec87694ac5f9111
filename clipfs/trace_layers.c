/*
 * trace_layers.c - --trace in the EROFS mode.  The daemon sees reads of
 * layer files, not of paths: each read is put down to the file whose data
 * holds its first byte (the kernel reads a file's pages from its own
 * place in the layer, so a read starts inside the file it is for), and
 * the path comes from one walk of the index's tree at mount.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clipfs/fs.h"

struct trace_extent {
	uint32_t layer, ino;
	uint64_t start, end;     /* the file's data in the layer's tar stream */
};

static int
extent_cmp(const void *a, const void *b)
{
	const struct trace_extent *x = a, *y = b;

	if (x->layer != y->layer)
		return x->layer < y->layer ? -1 : 1;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* Records ino (a regular file reached as path) the first time. */
static int
note_file(struct fs_trace *t, const clip_index *idx, uint32_t ino, const char *path)
{
	struct clip_stat cs;

	if (t->paths[ino - 1] != NULL)
		return 0;   /* a hardlink seen before */
	if ((t->paths[ino - 1] = strdup(path)) == NULL)
		return -1;
	if (clip_index_stat(idx, ino, &cs) != CLIP_OK || cs.size == 0)
		return 0;
	t->ext[t->next++] = (struct trace_extent){ cs.layer, ino, cs.data_offset,
	    cs.data_offset + cs.size };
	return 0;
}

/* Walks the directory dir (reached as path) and everything below it. */
static int
walk_dir(struct fs_trace *t, const clip_index *idx, uint32_t dir, const char *path)
{
	struct clip_dirent d;
	uint32_t i, n = clip_index_dir_size(idx, dir);
	char *child;
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		if (clip_index_readdir(idx, dir, i, &d) != CLIP_OK)
			continue;
		if (!S_ISDIR(d.mode_type) && !S_ISREG(d.mode_type))
			continue;
		if (asprintf(&child, "%s/%.*s", path, (int)d.name.len, d.name.ptr) < 0)
			return -1;
		rc = S_ISDIR(d.mode_type) ? walk_dir(t, idx, d.ino, child) :
		    note_file(t, idx, d.ino, child);
		free(child);
	}
	return rc;
}

int
fs_trace_map_layers(struct fs_trace *t, const clip_index *idx)
{
	t->ext = calloc((size_t)clip_index_inode_count(idx) + 1, sizeof(*t->ext));
	t->next = 0;
	if (t->ext == NULL || walk_dir(t, idx, CLIP_ROOT_INO, "") != 0)
		return -1;
	qsort(t->ext, t->next, sizeof(*t->ext), extent_cmp);
	return 0;
}

void
fs_trace_layer_read(struct clipfs_fs *fs, uint32_t layer, uint64_t off)
{
	struct fs_trace *t = fs->trace;
	size_t lo = 0, hi, mid;
	const struct trace_extent *e;

	if (t == NULL || t->ext == NULL)
		return;
	/* The last extent that starts at or before (layer, off). */
	hi = t->next;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		e = &t->ext[mid];
		if (e->layer < layer || (e->layer == layer && e->start <= off))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return;
	e = &t->ext[lo - 1];
	if (e->layer == layer && off < e->end)
		fs_trace_access(fs, e->ino, (off_t)(off - e->start));
}
