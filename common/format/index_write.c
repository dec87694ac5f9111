/*
 * index_write.c - lays out and writes a CLIP v2 index (see clip(5)).
 *
 * Everything is collected in memory first; clip_writer_finish() sorts
 * directories, derives nlink and parents, interns strings in a fixed
 * order and emits the sections.  Nothing depends on addresses, time or
 * hash order, so the same calls give the same bytes.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <uthash.h>
#include <zlib.h>

#include "common/util/atomic_file.h"
#include "common/format/index_write.h"
#include "common/util/strtab.h"

struct pending_xattr {
	char *name;
	uint8_t *value;
	size_t len;
};

struct pending_inode {
	struct clip_disk_inode d;
	char *target;             /* S_IFLNK */
	size_t target_len;
	struct pending_xattr *xattrs;
	size_t nxattrs;
	uint32_t names;           /* dirents naming this inode */
	uint32_t subdirs;
};

struct pending_dirent {
	uint32_t parent;
	uint32_t child;
	char *name;
	uint16_t len;
};

struct pending_layer {
	struct clip_layer_info info;  /* strings and chunk hashes owned */
	uint32_t first_checkpoint;
	uint32_t checkpoint_count;
};

struct pending_window {
	uint8_t *z;
	uint32_t zlen;
};

/* Deduplicates identical xattr sets (many files share e.g. one label). */
struct xattr_set_key {
	UT_hash_handle hh;
	uint32_t index;           /* into the XATTR_SETS section */
	size_t keylen;
	uint8_t key[];
};

struct clip_writer {
	struct pending_inode *inodes;
	size_t ninodes, cap_inodes;
	struct pending_dirent *dirents;
	size_t ndirents, cap_dirents;
	struct pending_layer *layers;
	size_t nlayers, cap_layers;
	uint32_t chunk_shift;     /* that of the first layer with chunk hashes */
	struct clip_disk_checkpoint *checkpoints;
	struct pending_window *windows;
	size_t ncheckpoints, cap_checkpoints;
	struct clip_image_info image;  /* strings owned */
};

/* Grows *arr (of elem-sized items) to hold at least need items. */
static clip_err
grow(void **arr, size_t *cap, size_t need, size_t elem, struct clip_error *err)
{
	size_t ncap;
	void *p;

	if (need <= *cap)
		return CLIP_OK;
	ncap = *cap ? *cap * 2 : 64;
	while (ncap < need)
		ncap *= 2;
	p = realloc(*arr, ncap * elem);
	if (p == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "index writer: out of memory");
	memset((char *)p + *cap * elem, 0, (ncap - *cap) * elem);
	*arr = p;
	*cap = ncap;
	return CLIP_OK;
}

static char *
dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

clip_err
clip_writer_new(clip_writer **out, struct clip_error *err)
{
	*out = calloc(1, sizeof(**out));
	if (*out == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "index writer: out of memory");
	return CLIP_OK;
}

static void
free_image(struct clip_image_info *ii)
{
	free((char *)ii->source_ref);
	free((char *)ii->storage_registry);
	free((char *)ii->storage_repository);
	free((char *)ii->manifest_digest);
	free((char *)ii->manifest_media_type);
	free((char *)ii->config_digest);
	free((char *)ii->os);
	free((char *)ii->architecture);
	free((char *)ii->variant);
	free((char *)ii->config_json);
	memset(ii, 0, sizeof(*ii));
}

void
clip_writer_free(clip_writer *w)
{
	size_t i, j;

	if (w == NULL)
		return;
	for (i = 0; i < w->ninodes; i++) {
		free(w->inodes[i].target);
		for (j = 0; j < w->inodes[i].nxattrs; j++) {
			free(w->inodes[i].xattrs[j].name);
			free(w->inodes[i].xattrs[j].value);
		}
		free(w->inodes[i].xattrs);
	}
	free(w->inodes);
	for (i = 0; i < w->ndirents; i++)
		free(w->dirents[i].name);
	free(w->dirents);
	for (i = 0; i < w->nlayers; i++) {
		free((char *)w->layers[i].info.digest);
		free((char *)w->layers[i].info.media_type);
		free((uint8_t *)w->layers[i].info.chunk_sha256);
	}
	free(w->layers);
	for (i = 0; i < w->ncheckpoints; i++)
		free(w->windows[i].z);
	free(w->windows);
	free(w->checkpoints);
	free_image(&w->image);
	free(w);
}

static int
valid_type(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFCHR:
	case S_IFBLK: case S_IFIFO: case S_IFSOCK:
		return 1;
	}
	return 0;
}

static struct pending_inode *
get_inode(clip_writer *w, uint32_t ino)
{
	if (ino == 0 || ino > w->ninodes)
		return NULL;
	return &w->inodes[ino - 1];
}

clip_err
clip_writer_add_inode(clip_writer *w, const struct clip_inode_attr *a,
    uint32_t *ino, struct clip_error *err)
{
	struct pending_inode *pi;
	clip_err rc;

	*ino = 0;
	if (a->mode > 0xffff || !valid_type(a->mode))
		return clip_error_set(err, CLIP_ERR_INVALID, "bad file mode 0%o", a->mode);
	if (w->ninodes == 0 && (a->mode & S_IFMT) != S_IFDIR)
		return clip_error_set(err, CLIP_ERR_INVALID, "the first inode must be the root directory");
	if (w->ninodes >= UINT32_MAX - 1)
		return clip_error_set(err, CLIP_ERR_TOOBIG, "too many inodes");
	if (a->mtime_nsec >= 1000000000u)
		return clip_error_set(err, CLIP_ERR_INVALID, "mtime nanoseconds out of range");
	rc = grow((void **)&w->inodes, &w->cap_inodes, w->ninodes + 1, sizeof(*w->inodes), err);
	if (rc != CLIP_OK)
		return rc;
	pi = &w->inodes[w->ninodes++];
	memset(pi, 0, sizeof(*pi));
	pi->d.mode = (uint16_t)a->mode;
	pi->d.uid = a->uid;
	pi->d.gid = a->gid;
	pi->d.size = a->size;
	pi->d.mtime_sec = a->mtime_sec;
	pi->d.mtime_nsec = a->mtime_nsec;
	switch (a->mode & S_IFMT) {
	case S_IFREG:
		pi->d.a = a->layer;
		pi->d.c = a->data_offset;
		break;
	case S_IFCHR:
	case S_IFBLK:
		pi->d.a = a->rdev_major;
		pi->d.b = a->rdev_minor;
		break;
	case S_IFLNK:
		pi->d.size = 0;
		break;
	}
	*ino = (uint32_t)w->ninodes;
	return CLIP_OK;
}

static int
bad_name(const char *name, size_t len)
{
	if (len == 0 || len > CLIP_NAME_MAX)
		return 1;
	if (memchr(name, '/', len) != NULL || memchr(name, '\0', len) != NULL)
		return 1;
	return (len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.');
}

clip_err
clip_writer_add_dirent(clip_writer *w, uint32_t dir, const char *name, size_t len,
    uint32_t child, struct clip_error *err)
{
	struct pending_inode *pd = get_inode(w, dir), *pc = get_inode(w, child);
	struct pending_dirent *de;
	clip_err rc;

	if (pd == NULL || (pd->d.mode & S_IFMT) != S_IFDIR)
		return clip_error_set(err, CLIP_ERR_INVALID, "dirent parent %u is not a directory", dir);
	if (pc == NULL || child == CLIP_ROOT_INO)
		return clip_error_set(err, CLIP_ERR_INVALID, "dirent child %u is not a valid inode", child);
	if (bad_name(name, len))
		return clip_error_set(err, CLIP_ERR_INVALID, "invalid file name '%.*s'",
		    (int)(len > 255 ? 255 : len), name);
	if ((pc->d.mode & S_IFMT) == S_IFDIR && pc->names > 0)
		return clip_error_set(err, CLIP_ERR_INVALID, "directory inode %u named twice", child);
	rc = grow((void **)&w->dirents, &w->cap_dirents, w->ndirents + 1, sizeof(*w->dirents), err);
	if (rc != CLIP_OK)
		return rc;
	de = &w->dirents[w->ndirents];
	de->name = malloc(len + 1);
	if (de->name == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "index writer: out of memory");
	memcpy(de->name, name, len);
	de->name[len] = '\0';
	de->len = (uint16_t)len;
	de->parent = dir;
	de->child = child;
	w->ndirents++;
	pc->names++;
	if ((pc->d.mode & S_IFMT) == S_IFDIR) {
		pd->subdirs++;
		pc->d.c = dir;
	}
	return CLIP_OK;
}

clip_err
clip_writer_set_symlink(clip_writer *w, uint32_t ino, const char *target, size_t len,
    struct clip_error *err)
{
	struct pending_inode *pi = get_inode(w, ino);

	if (pi == NULL || (pi->d.mode & S_IFMT) != S_IFLNK)
		return clip_error_set(err, CLIP_ERR_INVALID, "inode %u is not a symlink", ino);
	if (len > UINT32_MAX / 2)
		return clip_error_set(err, CLIP_ERR_TOOBIG, "symlink target too long");
	free(pi->target);
	pi->target = malloc(len + 1);
	if (pi->target == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "index writer: out of memory");
	memcpy(pi->target, target, len);
	pi->target[len] = '\0';
	pi->target_len = len;
	pi->d.size = len;
	return CLIP_OK;
}

clip_err
clip_writer_add_xattr(clip_writer *w, uint32_t ino, const char *name, const void *value,
    size_t len, struct clip_error *err)
{
	struct pending_inode *pi = get_inode(w, ino);
	struct pending_xattr *x;
	size_t i;

	if (pi == NULL)
		return clip_error_set(err, CLIP_ERR_INVALID, "xattr on bad inode %u", ino);
	if (name[0] == '\0' || strlen(name) > CLIP_XATTR_NAME_MAX || len > CLIP_XATTR_VALUE_MAX)
		return clip_error_set(err, CLIP_ERR_INVALID, "bad xattr '%.64s'", name);
	for (i = 0; i < pi->nxattrs; i++)
		if (strcmp(pi->xattrs[i].name, name) == 0)
			return clip_error_set(err, CLIP_ERR_INVALID, "duplicate xattr '%s'", name);
	x = realloc(pi->xattrs, (pi->nxattrs + 1) * sizeof(*x));
	if (x == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "index writer: out of memory");
	pi->xattrs = x;
	x = &x[pi->nxattrs];
	x->name = strdup(name);
	x->value = malloc(len ? len : 1);
	if (x->name == NULL || x->value == NULL) {
		free(x->name);
		free(x->value);
		return clip_error_set(err, CLIP_ERR_NOMEM, "index writer: out of memory");
	}
	memcpy(x->value, value, len);
	x->len = len;
	pi->nxattrs++;
	return CLIP_OK;
}

clip_err
clip_writer_add_layer(clip_writer *w, const struct clip_layer_info *li, uint32_t *layer,
    struct clip_error *err)
{
	struct pending_layer *pl;
	clip_err rc;

	*layer = 0;
	if (li->compression != CLIP_COMPRESSION_NONE && li->compression != CLIP_COMPRESSION_GZIP)
		return clip_error_set(err, CLIP_ERR_INVALID, "unknown layer compression %u", li->compression);
	rc = grow((void **)&w->layers, &w->cap_layers, w->nlayers + 1, sizeof(*w->layers), err);
	if (rc != CLIP_OK)
		return rc;
	if (li->chunk_shift != 0) {
		uint64_t size = li->compressed_size, want;
		if (li->chunk_shift < CLIP_CHUNK_SHIFT_MIN || li->chunk_shift > CLIP_CHUNK_SHIFT_MAX)
			return clip_error_set(err, CLIP_ERR_INVALID, "chunk shift %u out of range",
			    li->chunk_shift);
		if (w->chunk_shift != 0 && li->chunk_shift != w->chunk_shift)
			return clip_error_set(err, CLIP_ERR_INVALID,
			    "layer %zu: chunk shift %u, an earlier layer has %u", w->nlayers,
			    li->chunk_shift, w->chunk_shift);
		want = (size >> li->chunk_shift) +
		    ((size & ((UINT64_C(1) << li->chunk_shift) - 1)) != 0);
		if (li->chunk_count != want || (want > 0 && li->chunk_sha256 == NULL) ||
		    want > SIZE_MAX / 32)
			return clip_error_set(err, CLIP_ERR_INVALID,
			    "layer %zu: %llu chunk hashes for %llu bytes, want %llu", w->nlayers,
			    (unsigned long long)li->chunk_count, (unsigned long long)size,
			    (unsigned long long)want);
	}
	pl = &w->layers[w->nlayers];
	memset(pl, 0, sizeof(*pl));
	pl->info = *li;
	pl->info.digest = dup_or_empty(li->digest);
	pl->info.media_type = dup_or_empty(li->media_type);
	pl->info.chunk_sha256 = NULL;
	if (li->chunk_shift != 0) {
		uint8_t *h = malloc(li->chunk_count ? (size_t)li->chunk_count * 32 : 1);
		if (h != NULL && li->chunk_count > 0)
			memcpy(h, li->chunk_sha256, (size_t)li->chunk_count * 32);
		pl->info.chunk_sha256 = h;
	}
	if (pl->info.digest == NULL || pl->info.media_type == NULL ||
	    (li->chunk_shift != 0 && pl->info.chunk_sha256 == NULL)) {
		free((char *)pl->info.digest);
		free((char *)pl->info.media_type);
		free((uint8_t *)pl->info.chunk_sha256);
		return clip_error_set(err, CLIP_ERR_NOMEM, "index writer: out of memory");
	}
	if (li->chunk_shift != 0)
		w->chunk_shift = li->chunk_shift;
	pl->first_checkpoint = (uint32_t)w->ncheckpoints;
	pl->checkpoint_count = 0;
	*layer = (uint32_t)w->nlayers++;
	return CLIP_OK;
}

clip_err
clip_writer_add_checkpoint(clip_writer *w, uint32_t layer,
    const struct clip_checkpoint_info *ci, struct clip_error *err)
{
	struct clip_disk_checkpoint *cp;
	struct pending_window *pw;
	uLongf zlen;
	clip_err rc;

	if (layer != w->nlayers - 1 || w->nlayers == 0)
		return clip_error_set(err, CLIP_ERR_INVALID,
		    "checkpoints must be added to the last layer added");
	if (ci->window_len > CLIP_WINDOW_SIZE || ci->bits > 7 ||
	    ci->kind > CLIP_CHECKPOINT_STORED)
		return clip_error_set(err, CLIP_ERR_INVALID, "bad checkpoint");
	rc = grow((void **)&w->checkpoints, &w->cap_checkpoints, w->ncheckpoints + 1,
	    sizeof(*w->checkpoints), err);
	if (rc == CLIP_OK) {
		size_t cap = w->cap_checkpoints;
		size_t old = w->ncheckpoints;  /* windows grows in step */
		void *p = realloc(w->windows, cap * sizeof(*w->windows));
		if (p == NULL)
			return clip_error_set(err, CLIP_ERR_NOMEM, "index writer: out of memory");
		w->windows = p;
		memset(&w->windows[old], 0, (cap - old) * sizeof(*w->windows));
	} else {
		return rc;
	}
	cp = &w->checkpoints[w->ncheckpoints];
	pw = &w->windows[w->ncheckpoints];
	memset(cp, 0, sizeof(*cp));
	cp->in_offset = ci->in_offset;
	cp->out_offset = ci->out_offset;
	cp->bits = ci->bits;
	cp->kind = ci->kind;
	cp->window_len = ci->window_len;
	memcpy(cp->span_sha256, ci->span_sha256, 32);
	if (ci->window_len > 0 && ci->window_z != NULL) {
		pw->z = malloc(ci->window_zlen ? ci->window_zlen : 1);
		if (pw->z == NULL)
			return clip_error_set(err, CLIP_ERR_NOMEM, "index writer: out of memory");
		memcpy(pw->z, ci->window_z, ci->window_zlen);
		pw->zlen = ci->window_zlen;
	} else if (ci->window_len > 0) {
		zlen = compressBound(ci->window_len);
		pw->z = malloc(zlen);
		if (pw->z == NULL)
			return clip_error_set(err, CLIP_ERR_NOMEM, "index writer: out of memory");
		if (compress2(pw->z, &zlen, ci->window, ci->window_len, Z_BEST_COMPRESSION) != Z_OK) {
			free(pw->z);
			pw->z = NULL;
			return clip_error_set(err, CLIP_ERR_NOMEM, "compressing a window failed");
		}
		pw->zlen = (uint32_t)zlen;
	}
	w->ncheckpoints++;
	w->layers[layer].checkpoint_count++;
	return CLIP_OK;
}

clip_err
clip_writer_set_image(clip_writer *w, const struct clip_image_info *ii, struct clip_error *err)
{
	struct clip_image_info c;

	c.source_ref = dup_or_empty(ii->source_ref);
	c.storage_registry = dup_or_empty(ii->storage_registry);
	c.storage_repository = dup_or_empty(ii->storage_repository);
	c.manifest_digest = dup_or_empty(ii->manifest_digest);
	c.manifest_media_type = dup_or_empty(ii->manifest_media_type);
	c.config_digest = dup_or_empty(ii->config_digest);
	c.os = dup_or_empty(ii->os);
	c.architecture = dup_or_empty(ii->architecture);
	c.variant = dup_or_empty(ii->variant);
	c.config_json = dup_or_empty(ii->config_json);
	c.storage_flags = ii->storage_flags;
	if (!c.source_ref || !c.storage_registry || !c.storage_repository ||
	    !c.manifest_digest || !c.manifest_media_type || !c.config_digest || !c.os ||
	    !c.architecture || !c.variant || !c.config_json) {
		free_image(&c);
		return clip_error_set(err, CLIP_ERR_NOMEM, "index writer: out of memory");
	}
	free_image(&w->image);
	w->image = c;
	return CLIP_OK;
}

static int
dirent_cmp(const void *pa, const void *pb)
{
	const struct pending_dirent *a = pa, *b = pb;

	if (a->parent != b->parent)
		return a->parent < b->parent ? -1 : 1;
	return clip_name_cmp(a->name, a->len, b->name, b->len);
}

static int
xattr_cmp(const void *pa, const void *pb)
{
	const struct pending_xattr *a = pa, *b = pb;

	return strcmp(a->name, b->name);
}

/* A growing byte buffer for one section. */
struct sect {
	uint8_t *p;
	size_t len, cap;
};

static clip_err
sect_put(struct sect *s, const void *data, size_t len, struct clip_error *err)
{
	clip_err rc = grow((void **)&s->p, &s->cap, s->len + len, 1, err);

	if (rc != CLIP_OK)
		return rc;
	if (len > 0)
		memcpy(s->p + s->len, data, len);
	s->len += len;
	return CLIP_OK;
}

static clip_err
check_tree(clip_writer *w, struct clip_error *err)
{
	size_t i;

	if (w->ninodes == 0)
		return clip_error_set(err, CLIP_ERR_INVALID, "index has no root directory");
	for (i = 1; i < w->ninodes; i++) {
		if (w->inodes[i].names == 0)
			return clip_error_set(err, CLIP_ERR_INVALID,
			    "inode %zu is not named by any directory", i + 1);
		if ((w->inodes[i].d.mode & S_IFMT) == S_IFLNK && w->inodes[i].target == NULL)
			return clip_error_set(err, CLIP_ERR_INVALID,
			    "symlink inode %zu has no target", i + 1);
		if ((w->inodes[i].d.mode & S_IFMT) == S_IFREG && w->inodes[i].d.a >= w->nlayers &&
		    w->inodes[i].d.size > 0)
			return clip_error_set(err, CLIP_ERR_INVALID,
			    "file inode %zu names layer %u of %zu", i + 1, w->inodes[i].d.a, w->nlayers);
	}
	return CLIP_OK;
}

static clip_err
emit_xattr_sets(clip_writer *w, struct clip_strtab *st, struct sect *sets,
    struct sect *xattrs, struct clip_error *err)
{
	struct xattr_set_key *table = NULL, *k, *tmp;
	clip_err rc = CLIP_OK;
	size_t i, j;

	for (i = 0; i < w->ninodes && rc == CLIP_OK; i++) {
		struct pending_inode *pi = &w->inodes[i];
		size_t keylen = 0, off = 0;

		if (pi->nxattrs == 0)
			continue;
		qsort(pi->xattrs, pi->nxattrs, sizeof(*pi->xattrs), xattr_cmp);
		for (j = 0; j < pi->nxattrs; j++)
			keylen += strlen(pi->xattrs[j].name) + 1 + sizeof(size_t) + pi->xattrs[j].len;
		k = malloc(sizeof(*k) + keylen);
		if (k == NULL) {
			rc = clip_error_set(err, CLIP_ERR_NOMEM, "index writer: out of memory");
			break;
		}
		for (j = 0; j < pi->nxattrs; j++) {
			size_t nl = strlen(pi->xattrs[j].name) + 1;
			memcpy(k->key + off, pi->xattrs[j].name, nl);
			off += nl;
			memcpy(k->key + off, &pi->xattrs[j].len, sizeof(size_t));
			off += sizeof(size_t);
			memcpy(k->key + off, pi->xattrs[j].value, pi->xattrs[j].len);
			off += pi->xattrs[j].len;
		}
		k->keylen = keylen;
		HASH_FIND(hh, table, k->key, keylen, tmp);
		if (tmp != NULL) {
			free(k);
			pi->d.xattr_set = tmp->index + 1;
			continue;
		}
		k->index = (uint32_t)(sets->len / sizeof(struct clip_disk_xattr_set));
		HASH_ADD(hh, table, key, keylen, k);
		{
			struct clip_disk_xattr_set ds = {
				.first = (uint32_t)(xattrs->len / sizeof(struct clip_disk_xattr)),
				.count = (uint32_t)pi->nxattrs,
			};
			rc = sect_put(sets, &ds, sizeof(ds), err);
		}
		for (j = 0; j < pi->nxattrs && rc == CLIP_OK; j++) {
			struct clip_disk_xattr dx;
			rc = clip_strtab_add(st, pi->xattrs[j].name, strlen(pi->xattrs[j].name),
			    &dx.name.off, err);
			dx.name.len = (uint32_t)strlen(pi->xattrs[j].name);
			if (rc == CLIP_OK)
				rc = clip_strtab_add(st, (const char *)pi->xattrs[j].value,
				    pi->xattrs[j].len, &dx.value.off, err);
			dx.value.len = (uint32_t)pi->xattrs[j].len;
			if (rc == CLIP_OK)
				rc = sect_put(xattrs, &dx, sizeof(dx), err);
		}
		pi->d.xattr_set = k->index + 1;
	}
	HASH_ITER(hh, table, k, tmp) {
		HASH_DEL(table, k);
		free(k);
	}
	return rc;
}

static clip_err
add_str(struct clip_strtab *st, const char *s, struct clip_disk_str *out, struct clip_error *err)
{
	out->len = (uint32_t)strlen(s);
	return clip_strtab_add(st, s, out->len, &out->off, err);
}

static clip_err
emit_image(clip_writer *w, struct clip_strtab *st, struct clip_disk_image *di,
    struct clip_error *err)
{
	const struct clip_image_info *ii = &w->image;
	struct clip_image_info empty = { 0 };
	clip_err rc;

	memset(di, 0, sizeof(*di));
	if (ii->source_ref == NULL) {
		/* No image set: store empty strings. */
		empty.source_ref = empty.storage_registry = empty.storage_repository = "";
		empty.manifest_digest = empty.manifest_media_type = empty.config_digest = "";
		empty.os = empty.architecture = empty.variant = empty.config_json = "";
		ii = &empty;
	}
	if ((rc = add_str(st, ii->source_ref, &di->source_ref, err)) != CLIP_OK ||
	    (rc = add_str(st, ii->storage_registry, &di->storage_registry, err)) != CLIP_OK ||
	    (rc = add_str(st, ii->storage_repository, &di->storage_repository, err)) != CLIP_OK ||
	    (rc = add_str(st, ii->manifest_digest, &di->manifest_digest, err)) != CLIP_OK ||
	    (rc = add_str(st, ii->manifest_media_type, &di->manifest_media_type, err)) != CLIP_OK ||
	    (rc = add_str(st, ii->config_digest, &di->config_digest, err)) != CLIP_OK ||
	    (rc = add_str(st, ii->os, &di->os, err)) != CLIP_OK ||
	    (rc = add_str(st, ii->architecture, &di->architecture, err)) != CLIP_OK ||
	    (rc = add_str(st, ii->variant, &di->variant, err)) != CLIP_OK ||
	    (rc = add_str(st, ii->config_json, &di->config_json, err)) != CLIP_OK)
		return rc;
	di->storage_flags = ii->storage_flags;
	return CLIP_OK;
}

/*
 * CHUNKS, when every layer has chunk hashes (all of one chunk_shift, as
 * clip_writer_add_layer() made sure): the header, each layer's first hash
 * index, then the hashes.  *written is 0 when the section is left out.
 */
static clip_err
emit_chunks(clip_writer *w, struct sect *out, int *written, struct clip_error *err)
{
	struct clip_disk_chunks_header h;
	uint64_t first = 0;
	size_t i;
	clip_err rc;

	*written = 0;
	if (w->nlayers == 0 || w->nlayers > UINT32_MAX)
		return CLIP_OK;
	for (i = 0; i < w->nlayers; i++)
		if (w->layers[i].info.chunk_shift == 0)
			return CLIP_OK;
	memset(&h, 0, sizeof(h));
	h.chunk_shift = w->chunk_shift;
	h.layer_count = (uint32_t)w->nlayers;
	if ((rc = sect_put(out, &h, sizeof(h), err)) != CLIP_OK)
		return rc;
	for (i = 0; i < w->nlayers; i++) {
		if ((rc = sect_put(out, &first, sizeof(first), err)) != CLIP_OK)
			return rc;
		first += w->layers[i].info.chunk_count;
	}
	for (i = 0; i < w->nlayers; i++) {
		const struct clip_layer_info *li = &w->layers[i].info;
		if (li->chunk_count > 0 && (rc = sect_put(out, li->chunk_sha256,
		    (size_t)li->chunk_count * 32, err)) != CLIP_OK)
			return rc;
	}
	*written = 1;
	return CLIP_OK;
}

/* Sections 1 to 9, always, REQUIRED; then CHUNKS (11), optional. */
#define NSECT_REQUIRED 9
#define NSECT_MAX (NSECT_REQUIRED + 1)
#define SECT_TYPE_MAX CLIP_SECTION_CHUNKS

/* Sorts the directory entries and points each directory at its run;
 * sets every inode's link count. */
static clip_err
link_tree(clip_writer *w, struct clip_error *err)
{
	size_t i;

	if (w->ndirents > 0)   /* qsort's base may not be NULL, even for 0 */
		qsort(w->dirents, w->ndirents, sizeof(*w->dirents), dirent_cmp);
	for (i = 0; i < w->ndirents; i++) {
		struct pending_dirent *de = &w->dirents[i];
		struct pending_inode *pd = &w->inodes[de->parent - 1];
		if (i > 0 && dirent_cmp(de, de - 1) == 0)
			return clip_error_set(err, CLIP_ERR_INVALID,
			    "directory inode %u has two entries named '%s'", de->parent, de->name);
		if (pd->d.b == 0)
			pd->d.a = (uint32_t)i;
		pd->d.b++;
	}
	w->inodes[0].d.c = CLIP_ROOT_INO;
	for (i = 0; i < w->ninodes; i++) {
		struct pending_inode *pi = &w->inodes[i];
		pi->d.nlink = (pi->d.mode & S_IFMT) == S_IFDIR ? 2 + pi->subdirs : pi->names;
		pi->d.xattr_set = 0;
	}
	return CLIP_OK;
}

static clip_err
emit_layers(clip_writer *w, struct clip_strtab *st, struct sect *out, struct clip_error *err)
{
	struct clip_disk_layer dl;
	clip_err rc;
	size_t i;

	for (i = 0; i < w->nlayers; i++) {
		struct pending_layer *pl = &w->layers[i];
		memset(&dl, 0, sizeof(dl));
		if ((rc = add_str(st, pl->info.digest, &dl.digest, err)) != CLIP_OK ||
		    (rc = add_str(st, pl->info.media_type, &dl.media_type, err)) != CLIP_OK)
			return rc;
		dl.compressed_size = pl->info.compressed_size;
		dl.uncompressed_size = pl->info.uncompressed_size;
		dl.first_checkpoint = pl->first_checkpoint;
		dl.checkpoint_count = pl->checkpoint_count;
		dl.compression = pl->info.compression;
		if ((rc = sect_put(out, &dl, sizeof(dl), err)) != CLIP_OK)
			return rc;
	}
	return CLIP_OK;
}

/* Directory entries, then symlink targets (both into the string table). */
static clip_err
emit_names(clip_writer *w, struct clip_strtab *st, struct sect *out, struct clip_error *err)
{
	struct clip_disk_dirent dd;
	clip_err rc;
	size_t i;

	for (i = 0; i < w->ndirents; i++) {
		struct pending_dirent *de = &w->dirents[i];
		memset(&dd, 0, sizeof(dd));
		if ((rc = clip_strtab_add(st, de->name, de->len, &dd.name_off, err)) != CLIP_OK)
			return rc;
		dd.name_len = de->len;
		dd.ino = de->child;
		dd.type = (uint8_t)(w->inodes[de->child - 1].d.mode >> 12);
		if ((rc = sect_put(out, &dd, sizeof(dd), err)) != CLIP_OK)
			return rc;
	}
	for (i = 0; i < w->ninodes; i++) {
		struct pending_inode *pi = &w->inodes[i];
		if ((pi->d.mode & S_IFMT) != S_IFLNK)
			continue;
		if ((rc = clip_strtab_add(st, pi->target, pi->target_len, &pi->d.a, err)) != CLIP_OK)
			return rc;
		pi->d.b = (uint32_t)pi->target_len;
	}
	return CLIP_OK;
}

static clip_err
emit_checkpoints(clip_writer *w, struct sect *checkpoints, struct sect *windows,
    struct clip_error *err)
{
	clip_err rc;
	size_t i;

	for (i = 0; i < w->ncheckpoints; i++) {
		struct clip_disk_checkpoint cp = w->checkpoints[i];
		cp.window_off = windows->len;
		cp.window_zlen = w->windows[i].zlen;
		if (cp.window_zlen > 0 &&
		    (rc = sect_put(windows, w->windows[i].z, cp.window_zlen, err)) != CLIP_OK)
			return rc;
		if ((rc = sect_put(checkpoints, &cp, sizeof(cp), err)) != CLIP_OK)
			return rc;
	}
	return CLIP_OK;
}

/* Every section's bytes, strings in a fixed order: image, layers, names,
 * targets, xattrs. */
static clip_err
emit_sections(clip_writer *w, struct sect *s, int *have_chunks, struct clip_error *err)
{
	struct clip_strtab *st = NULL;
	struct clip_disk_image di;
	clip_err rc;
	size_t i;

	if ((rc = clip_strtab_new(&st, err)) != CLIP_OK)
		return rc;
	if ((rc = emit_image(w, st, &di, err)) != CLIP_OK ||
	    (rc = sect_put(&s[CLIP_SECTION_IMAGE], &di, sizeof(di), err)) != CLIP_OK ||
	    (rc = emit_layers(w, st, &s[CLIP_SECTION_LAYERS], err)) != CLIP_OK ||
	    (rc = emit_names(w, st, &s[CLIP_SECTION_DIRENTS], err)) != CLIP_OK ||
	    (rc = emit_xattr_sets(w, st, &s[CLIP_SECTION_XATTR_SETS], &s[CLIP_SECTION_XATTRS],
	    err)) != CLIP_OK)
		goto out;
	for (i = 0; i < w->ninodes; i++)
		if ((rc = sect_put(&s[CLIP_SECTION_INODES], &w->inodes[i].d,
		    sizeof(w->inodes[i].d), err)) != CLIP_OK)
			goto out;
	if ((rc = emit_checkpoints(w, &s[CLIP_SECTION_CHECKPOINTS], &s[CLIP_SECTION_WINDOWS],
	    err)) != CLIP_OK ||
	    (rc = clip_strtab_take(st, &s[CLIP_SECTION_STRINGS].p, &s[CLIP_SECTION_STRINGS].len,
	    err)) != CLIP_OK)
		goto out;
	rc = emit_chunks(w, &s[CLIP_SECTION_CHUNKS], have_chunks, err);
out:
	clip_strtab_free(st);
	return rc;
}

/* The file: header, table, then the sections in type order, 8-aligned,
 * and the SHA-256 over all of it (its own field read as zeros). */
static clip_err
lay_out(const struct sect *s, int have_chunks, uint8_t **bufp, size_t *lenp,
    struct clip_error *err)
{
	struct clip_disk_section table[NSECT_MAX];
	struct clip_disk_header hdr;
	size_t i, off, nsect = NSECT_REQUIRED + (have_chunks ? 1 : 0);
	unsigned int mdlen;
	uint8_t *buf;

	memset(table, 0, sizeof(table));
	for (i = 0; i < NSECT_REQUIRED; i++) {
		table[i].type = (uint32_t)(i + 1);
		table[i].flags = CLIP_SECTION_REQUIRED;
	}
	if (have_chunks)
		table[NSECT_REQUIRED].type = CLIP_SECTION_CHUNKS;   /* flags 0: optional */
	off = sizeof(hdr) + nsect * sizeof(table[0]);
	for (i = 0; i < nsect; i++) {
		table[i].offset = off;
		table[i].length = s[table[i].type].len;
		off += (s[table[i].type].len + CLIP_ALIGN - 1) & ~(size_t)(CLIP_ALIGN - 1);
	}
	if ((buf = calloc(1, off)) == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "index writer: out of memory");
	for (i = 0; i < nsect; i++)
		if (s[table[i].type].len > 0)
			memcpy(buf + table[i].offset, s[table[i].type].p, s[table[i].type].len);
	memcpy(buf + sizeof(hdr), table, nsect * sizeof(table[0]));
	memset(&hdr, 0, sizeof(hdr));
	memcpy(hdr.magic, CLIP_MAGIC, CLIP_MAGIC_LEN);
	hdr.version_major = CLIP_VERSION_MAJOR;
	hdr.version_minor = CLIP_VERSION_MINOR;
	hdr.header_size = sizeof(hdr);
	hdr.file_size = off;
	hdr.section_count = (uint32_t)nsect;
	memcpy(buf, &hdr, sizeof(hdr));   /* sha256 still zero */
	if (!EVP_Digest(buf, off, hdr.sha256, &mdlen, EVP_sha256(), NULL)) {
		free(buf);
		return clip_error_set(err, CLIP_ERR_NOMEM, "SHA-256 failed");
	}
	memcpy(buf, &hdr, sizeof(hdr));
	*bufp = buf;
	*lenp = off;
	return CLIP_OK;
}

clip_err
clip_writer_finish(clip_writer *w, uint8_t **bufp, size_t *lenp, struct clip_error *err)
{
	struct sect s[SECT_TYPE_MAX + 1];   /* indexed by section type */
	int have_chunks = 0;
	clip_err rc;
	size_t i;

	*bufp = NULL;
	*lenp = 0;
	memset(s, 0, sizeof(s));
	if ((rc = check_tree(w, err)) == CLIP_OK && (rc = link_tree(w, err)) == CLIP_OK &&
	    (rc = emit_sections(w, s, &have_chunks, err)) == CLIP_OK)
		rc = lay_out(s, have_chunks, bufp, lenp, err);
	for (i = 0; i <= SECT_TYPE_MAX; i++)
		free(s[i].p);
	return rc;
}

clip_err
clip_writer_write_file(clip_writer *w, const char *path, struct clip_error *err)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	clip_err rc;

	if ((rc = clip_writer_finish(w, &buf, &len, err)) != CLIP_OK)
		return rc;
	rc = clip_write_file_atomic(path, buf, len, 0644, err);
	free(buf);
	return rc;
}
