/*
 * index_read.c - opens, checks and reads a CLIP v2 index in place.
 *
 * Opening costs one SHA-256 over the file and one pass over the records
 * that checks every offset, count and index against the file, so that
 * the accessors can then index the arrays directly.  No record is copied
 * and nothing is allocated per entry.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "common/format/index.h"

struct clip_index {
	const uint8_t *base;
	size_t size;
	int mapped;               /* base came from mmap() */
	const struct clip_disk_header *hdr;
	const struct clip_disk_section *sections;
	uint32_t nsections;

	const uint8_t *strings;
	uint64_t strings_len;
	const struct clip_disk_inode *inodes;
	uint32_t ninodes;
	const struct clip_disk_dirent *dirents;
	uint32_t ndirents;
	const struct clip_disk_xattr_set *xsets;
	uint32_t nxsets;
	const struct clip_disk_xattr *xattrs;
	uint32_t nxattrs;
	const struct clip_disk_layer *layers;
	uint32_t nlayers;
	const struct clip_disk_checkpoint *cps;
	uint32_t ncps;
	const uint8_t *windows;
	uint64_t windows_len;
	const struct clip_disk_image *image;
	const struct clip_disk_prefetch *prefetch;
	uint32_t nprefetch;
	const uint8_t *chunks;    /* the CHUNKS section, or NULL */
	uint64_t chunks_len;
	uint32_t chunk_shift;     /* 0: no CHUNKS section */
	const uint64_t *chunk_first;
	const uint8_t *chunk_sha256;
};

static const size_t record_size[CLIP_SECTION_MAX_KNOWN + 1] = {
	[CLIP_SECTION_STRINGS] = 1,
	[CLIP_SECTION_INODES] = sizeof(struct clip_disk_inode),
	[CLIP_SECTION_DIRENTS] = sizeof(struct clip_disk_dirent),
	[CLIP_SECTION_XATTR_SETS] = sizeof(struct clip_disk_xattr_set),
	[CLIP_SECTION_XATTRS] = sizeof(struct clip_disk_xattr),
	[CLIP_SECTION_LAYERS] = sizeof(struct clip_disk_layer),
	[CLIP_SECTION_CHECKPOINTS] = sizeof(struct clip_disk_checkpoint),
	[CLIP_SECTION_WINDOWS] = 1,
	[CLIP_SECTION_IMAGE] = sizeof(struct clip_disk_image),
	[CLIP_SECTION_PREFETCH] = sizeof(struct clip_disk_prefetch),
	[CLIP_SECTION_CHUNKS] = 8,   /* a header, then u64s and 32-byte hashes */
};

const char *
clip_section_name(uint32_t type)
{
	switch (type) {
	case CLIP_SECTION_STRINGS:     return "strings";
	case CLIP_SECTION_INODES:      return "inodes";
	case CLIP_SECTION_DIRENTS:     return "dirents";
	case CLIP_SECTION_XATTR_SETS:  return "xattr-sets";
	case CLIP_SECTION_XATTRS:      return "xattrs";
	case CLIP_SECTION_LAYERS:      return "layers";
	case CLIP_SECTION_CHECKPOINTS: return "checkpoints";
	case CLIP_SECTION_WINDOWS:     return "windows";
	case CLIP_SECTION_IMAGE:       return "image";
	case CLIP_SECTION_PREFETCH:    return "prefetch";
	case CLIP_SECTION_CHUNKS:      return "chunks";
	}
	return "unknown";
}

/* A string reference is good if it lies inside STRINGS and the byte
 * after it is the NUL clip(5) promises. */
static int
str_ok(const clip_index *idx, uint32_t off, uint32_t len)
{
	uint64_t end = (uint64_t)off + len;

	return end < idx->strings_len && idx->strings[end] == '\0';
}

static struct clip_str
str_at(const clip_index *idx, uint32_t off, uint32_t len)
{
	struct clip_str s = { (const char *)idx->strings + off, len };

	return s;
}

#define BAD(...) clip_error_set(err, CLIP_ERR_FORMAT, __VA_ARGS__)

/* SHA-256 of the whole file with the header's digest field as zeros. */
static int
file_digest(const uint8_t *base, size_t size, uint8_t *md)
{
	static const uint8_t zeros[32];
	const size_t at = offsetof(struct clip_disk_header, sha256);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int mdlen;
	int ok;

	ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	    EVP_DigestUpdate(ctx, base, at) &&
	    EVP_DigestUpdate(ctx, zeros, sizeof(zeros)) &&
	    EVP_DigestUpdate(ctx, base + at + 32, size - at - 32) &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	return ok;
}

static clip_err
check_header(clip_index *idx, struct clip_error *err)
{
	const struct clip_disk_header *h = (const void *)idx->base;
	uint8_t md[EVP_MAX_MD_SIZE];

	if (idx->size < CLIP_MAGIC_LEN || memcmp(h->magic, CLIP_MAGIC, CLIP_MAGIC_LEN) != 0)
		return BAD("not a CLIP index (bad magic)");
	if (idx->size < sizeof(*h))
		return BAD("truncated: %zu bytes, shorter than the header", idx->size);
	if (h->version_major > CLIP_VERSION_MAJOR)
		return clip_error_set(err, CLIP_ERR_VERSION,
		    "index format version %u.%u is newer than this clipfs reads (%d.x); "
		    "upgrade clipfs", h->version_major, h->version_minor, CLIP_VERSION_MAJOR);
	if (h->version_major < CLIP_VERSION_MAJOR)
		return clip_error_set(err, CLIP_ERR_VERSION,
		    "index format version %u is not supported (this clipfs reads %d.x); "
		    "re-index the image", h->version_major, CLIP_VERSION_MAJOR);
	if (h->file_size != idx->size)
		return BAD("truncated or extended: the file has %zu bytes, the header says %llu",
		    idx->size, (unsigned long long)h->file_size);
	if (h->header_size < sizeof(*h) || h->header_size > idx->size ||
	    h->header_size % CLIP_ALIGN != 0)
		return BAD("bad header size %u", h->header_size);
	if (h->flags != 0 || h->reserved0 != 0 || h->reserved1 != 0 || h->reserved2 != 0)
		return BAD("unknown header flags or reserved fields set");
	if (!file_digest(idx->base, idx->size, md))
		return clip_error_set(err, CLIP_ERR_NOMEM, "SHA-256 failed");
	if (memcmp(md, h->sha256, 32) != 0)
		return clip_error_set(err, CLIP_ERR_CHECKSUM,
		    "the index is damaged: its SHA-256 does not match its header");
	idx->hdr = h;
	return CLIP_OK;
}

/* The type of a known section that overlaps another known one, or 0. */
static uint32_t
overlapping(const void *const *where, const uint64_t *lens)
{
	uint32_t a, b;

	for (a = 1; a <= CLIP_SECTION_MAX_KNOWN; a++)
		for (b = a + 1; b <= CLIP_SECTION_MAX_KNOWN; b++) {
			const uint8_t *pa = where[a], *pb = where[b];
			if (pa == NULL || pb == NULL || lens[a] == 0 || lens[b] == 0)
				continue;
			if (pa < pb + lens[b] && pb < pa + lens[a])
				return a;
		}
	return 0;
}

static clip_err
check_sections(clip_index *idx, struct clip_error *err)
{
	const struct clip_disk_header *h = idx->hdr;
	uint64_t table_end;
	const void *where[CLIP_SECTION_MAX_KNOWN + 1] = { 0 };
	uint64_t lens[CLIP_SECTION_MAX_KNOWN + 1] = { 0 };
	uint32_t i;

	if (h->section_count > (idx->size - h->header_size) / sizeof(struct clip_disk_section))
		return BAD("section table (%u entries) runs past the end of the file",
		    h->section_count);
	table_end = h->header_size + (uint64_t)h->section_count * sizeof(struct clip_disk_section);
	idx->sections = (const void *)(idx->base + h->header_size);
	idx->nsections = h->section_count;
	for (i = 0; i < idx->nsections; i++) {
		const struct clip_disk_section *s = &idx->sections[i];
		if (s->offset < table_end || s->offset > idx->size ||
		    s->length > idx->size - s->offset || s->offset % CLIP_ALIGN != 0)
			return BAD("section %u (%s) at %llu+%llu lies outside the file", i,
			    clip_section_name(s->type), (unsigned long long)s->offset,
			    (unsigned long long)s->length);
		if (s->type == 0 || s->type > CLIP_SECTION_MAX_KNOWN) {
			if (s->flags & CLIP_SECTION_REQUIRED)
				return clip_error_set(err, CLIP_ERR_VERSION,
				    "the index needs section type %u, which this clipfs does not "
				    "know; upgrade clipfs", s->type);
			continue;   /* room to grow: skip what we do not know */
		}
		if (where[s->type] != NULL)
			return BAD("section %s appears twice", clip_section_name(s->type));
		if (s->length % record_size[s->type] != 0)
			return BAD("section %s: length %llu is not a whole number of records",
			    clip_section_name(s->type), (unsigned long long)s->length);
		if (s->length / record_size[s->type] > UINT32_MAX)
			return BAD("section %s has too many records", clip_section_name(s->type));
		where[s->type] = idx->base + s->offset;
		lens[s->type] = s->length;
	}
	if ((i = overlapping(where, lens)) != 0)
		return BAD("section %s overlaps another section", clip_section_name(i));
	if (where[CLIP_SECTION_STRINGS] == NULL || lens[CLIP_SECTION_STRINGS] == 0)
		return BAD("no strings section");
	if (where[CLIP_SECTION_INODES] == NULL || lens[CLIP_SECTION_INODES] == 0)
		return BAD("no inodes section (an index has at least the root)");
	if (where[CLIP_SECTION_IMAGE] == NULL ||
	    lens[CLIP_SECTION_IMAGE] != sizeof(struct clip_disk_image))
		return BAD("no image section");
	if (where[CLIP_SECTION_DIRENTS] == NULL || where[CLIP_SECTION_LAYERS] == NULL ||
	    where[CLIP_SECTION_CHECKPOINTS] == NULL)
		return BAD("a required section (dirents, layers or checkpoints) is missing");
	idx->strings = where[CLIP_SECTION_STRINGS];
	idx->strings_len = lens[CLIP_SECTION_STRINGS];
	idx->inodes = where[CLIP_SECTION_INODES];
	idx->ninodes = (uint32_t)(lens[CLIP_SECTION_INODES] / sizeof(*idx->inodes));
	idx->dirents = where[CLIP_SECTION_DIRENTS];
	idx->ndirents = (uint32_t)(lens[CLIP_SECTION_DIRENTS] / sizeof(*idx->dirents));
	idx->xsets = where[CLIP_SECTION_XATTR_SETS];
	idx->nxsets = (uint32_t)(lens[CLIP_SECTION_XATTR_SETS] / sizeof(*idx->xsets));
	idx->xattrs = where[CLIP_SECTION_XATTRS];
	idx->nxattrs = (uint32_t)(lens[CLIP_SECTION_XATTRS] / sizeof(*idx->xattrs));
	idx->layers = where[CLIP_SECTION_LAYERS];
	idx->nlayers = (uint32_t)(lens[CLIP_SECTION_LAYERS] / sizeof(*idx->layers));
	idx->cps = where[CLIP_SECTION_CHECKPOINTS];
	idx->ncps = (uint32_t)(lens[CLIP_SECTION_CHECKPOINTS] / sizeof(*idx->cps));
	idx->windows = where[CLIP_SECTION_WINDOWS];
	idx->windows_len = lens[CLIP_SECTION_WINDOWS];
	idx->image = where[CLIP_SECTION_IMAGE];
	idx->prefetch = where[CLIP_SECTION_PREFETCH];
	idx->nprefetch = (uint32_t)(lens[CLIP_SECTION_PREFETCH] / sizeof(*idx->prefetch));
	idx->chunks = where[CLIP_SECTION_CHUNKS];
	idx->chunks_len = lens[CLIP_SECTION_CHUNKS];
	if (idx->strings[idx->strings_len - 1] != '\0')
		return BAD("the strings section does not end in NUL");
	return CLIP_OK;
}

static clip_err
check_layers(clip_index *idx, struct clip_error *err)
{
	uint32_t l, i;

	for (l = 0; l < idx->nlayers; l++) {
		const struct clip_disk_layer *dl = &idx->layers[l];
		if (!str_ok(idx, dl->digest.off, dl->digest.len) ||
		    !str_ok(idx, dl->media_type.off, dl->media_type.len))
			return BAD("layer %u: bad string reference", l);
		if (dl->compression > CLIP_COMPRESSION_GZIP || dl->flags != 0 ||
		    dl->reserved[0] != 0 || dl->reserved[1] != 0)
			return BAD("layer %u: unknown compression %u or flags", l, dl->compression);
		if ((uint64_t)dl->first_checkpoint + dl->checkpoint_count > idx->ncps)
			return BAD("layer %u: checkpoints %u+%u out of range", l,
			    dl->first_checkpoint, dl->checkpoint_count);
		if (dl->checkpoint_count == 0 && dl->uncompressed_size != 0)
			return BAD("layer %u: data but no checkpoint", l);
		for (i = 0; i < dl->checkpoint_count; i++) {
			const struct clip_disk_checkpoint *cp = &idx->cps[dl->first_checkpoint + i];
			const struct clip_disk_checkpoint *prev = i ? cp - 1 : NULL;
			if (cp->bits > 7 || cp->kind > CLIP_CHECKPOINT_STORED ||
			    cp->window_len > CLIP_WINDOW_SIZE ||
			    (cp->bits > 0 && cp->in_offset == 0) ||
			    cp->in_offset > dl->compressed_size ||
			    cp->reserved0 != 0 || cp->reserved1 != 0 ||
			    (cp->kind != CLIP_CHECKPOINT_DEFLATE && (cp->bits != 0 || cp->window_len != 0)) ||
			    (cp->out_offset >= dl->uncompressed_size && !(i == 0 && cp->out_offset == 0)))
				return BAD("layer %u: checkpoint %u is malformed", l, i);
			if (cp->window_off > idx->windows_len ||
			    cp->window_zlen > idx->windows_len - cp->window_off ||
			    (cp->window_len > 0) != (cp->window_zlen > 0))
				return BAD("layer %u: checkpoint %u: window outside the file", l, i);
			if ((cp->kind == CLIP_CHECKPOINT_STORED) !=
			    (dl->compression == CLIP_COMPRESSION_NONE) ||
			    (cp->kind == CLIP_CHECKPOINT_STORED && cp->in_offset != cp->out_offset))
				return BAD("layer %u: checkpoint %u does not fit the compression", l, i);
			if (prev == NULL ? cp->out_offset != 0 :
			    cp->out_offset <= prev->out_offset || cp->in_offset <= prev->in_offset)
				return BAD("layer %u: checkpoint %u is out of order", l, i);
		}
	}
	return CLIP_OK;
}

static clip_err
check_inode(clip_index *idx, uint32_t ino, struct clip_error *err)
{
	const struct clip_disk_inode *di = &idx->inodes[ino - 1];
	const struct clip_disk_layer *dl;

	if (di->flags != 0 || di->mtime_nsec >= 1000000000u || di->nlink == 0 ||
	    di->xattr_set > idx->nxsets)
		return BAD("inode %u is malformed", ino);
	if (di->xattr_set > 0) {
		const struct clip_disk_xattr_set *xs = &idx->xsets[di->xattr_set - 1];
		uint32_t i;
		if ((uint64_t)xs->first + xs->count > idx->nxattrs)
			return BAD("inode %u: xattrs out of range", ino);
		for (i = 0; i < xs->count; i++) {
			const struct clip_disk_xattr *x = &idx->xattrs[xs->first + i];
			if (!str_ok(idx, x->name.off, x->name.len) || x->name.len == 0 ||
			    x->name.len > CLIP_XATTR_NAME_MAX || x->value.len > CLIP_XATTR_VALUE_MAX ||
			    memchr(idx->strings + x->name.off, '\0', x->name.len) != NULL ||
			    !str_ok(idx, x->value.off, x->value.len))
				return BAD("inode %u: xattr %u is malformed", ino, i);
			/* Sorted and unique, as clip(5) says and getxattr relies on. */
			if (i > 0 && clip_name_cmp((const char *)idx->strings + x[-1].name.off,
			    x[-1].name.len, (const char *)idx->strings + x->name.off,
			    x->name.len) >= 0)
				return BAD("inode %u: xattrs not sorted or repeated", ino);
		}
	}
	switch (di->mode & S_IFMT) {
	case S_IFREG:
		if (di->b != 0)
			return BAD("inode %u is malformed", ino);
		if (di->size == 0)
			break;
		if (di->a >= idx->nlayers)
			return BAD("inode %u: layer %u does not exist", ino, di->a);
		dl = &idx->layers[di->a];
		if (di->c > dl->uncompressed_size || di->size > dl->uncompressed_size - di->c)
			return BAD("inode %u: data lies past the end of layer %u", ino, di->a);
		break;
	case S_IFDIR:
		if ((uint64_t)di->a + di->b > idx->ndirents || di->c == 0 || di->c > idx->ninodes)
			return BAD("directory inode %u: entries out of range", ino);
		break;
	case S_IFLNK:
		if (!str_ok(idx, di->a, di->b) || di->size != di->b)
			return BAD("symlink inode %u: bad target", ino);
		break;
	case S_IFCHR: case S_IFBLK:
		if (di->c != 0)
			return BAD("inode %u is malformed", ino);
		break;
	case S_IFIFO: case S_IFSOCK:
		if (di->a != 0 || di->b != 0 || di->c != 0)
			return BAD("inode %u is malformed", ino);
		break;
	default:
		return BAD("inode %u: unknown file type 0%o", ino, di->mode & S_IFMT);
	}
	return CLIP_OK;
}

static clip_err check_dir_entries(clip_index *idx, uint8_t *named, struct clip_error *err);

/*
 * Directory structure.  Every entry that names a directory must name it
 * from that directory's recorded parent, and no entry names the root.
 * And no directory is named twice.  Then a directory reachable from the
 * root has exactly one path to it,
 * so the tree has no loops (a loop would need a directory whose parent
 * chain never reaches the root, and such a directory is unreachable).
 */
static clip_err
check_dirs(clip_index *idx, struct clip_error *err)
{
	uint8_t *named;
	clip_err rc;

	if ((idx->inodes[0].mode & S_IFMT) != S_IFDIR || idx->inodes[0].c != CLIP_ROOT_INO)
		return BAD("the root inode is not a directory");
	/* One bit per inode: a directory named twice would have two paths. */
	named = calloc((size_t)idx->ninodes / 8 + 1, 1);
	if (named == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	rc = check_dir_entries(idx, named, err);
	free(named);
	return rc;
}

static clip_err
check_dir_entries(clip_index *idx, uint8_t *named, struct clip_error *err)
{
	uint32_t ino, i;

	for (ino = 1; ino <= idx->ninodes; ino++) {
		const struct clip_disk_inode *di = &idx->inodes[ino - 1];
		if ((di->mode & S_IFMT) != S_IFDIR)
			continue;
		for (i = 0; i < di->b; i++) {
			const struct clip_disk_dirent *de = &idx->dirents[di->a + i];
			const struct clip_disk_inode *child;
			if (de->ino < 2 || de->ino > idx->ninodes)
				return BAD("directory inode %u: entry %u names inode %u", ino, i, de->ino);
			if (de->name_len == 0 || de->name_len > CLIP_NAME_MAX ||
			    !str_ok(idx, de->name_off, de->name_len))
				return BAD("directory inode %u: entry %u has a bad name", ino, i);
			if (memchr(idx->strings + de->name_off, '/', de->name_len) != NULL ||
			    memchr(idx->strings + de->name_off, '\0', de->name_len) != NULL ||
			    (de->name_len <= 2 && memcmp(idx->strings + de->name_off, "..",
			    de->name_len) == 0))
				return BAD("directory inode %u: entry %u has an invalid name", ino, i);
			if (i > 0 && clip_name_cmp((const char *)idx->strings + de[-1].name_off,
			    de[-1].name_len, (const char *)idx->strings + de->name_off,
			    de->name_len) >= 0)
				return BAD("directory inode %u: entries are not sorted or repeat", ino);
			child = &idx->inodes[de->ino - 1];
			if (de->type != (child->mode >> 12))
				return BAD("directory inode %u: entry %u has the wrong type", ino, i);
			if (de->reserved != 0)
				return BAD("directory inode %u: entry %u is malformed", ino, i);
			if ((child->mode & S_IFMT) != S_IFDIR)
				continue;
			if (child->c != ino)
				return BAD("directory inode %u is named from inode %u but its parent is "
				    "%llu (a loop or a second name)", de->ino, ino,
				    (unsigned long long)child->c);
			if (named[(de->ino - 1) / 8] & (1u << ((de->ino - 1) % 8)))
				return BAD("directory inode %u is named twice", de->ino);
			named[(de->ino - 1) / 8] |= (uint8_t)(1u << ((de->ino - 1) % 8));
		}
	}
	return CLIP_OK;
}

static clip_err
check_image(clip_index *idx, struct clip_error *err)
{
	const struct clip_disk_str *s = (const void *)idx->image;
	size_t i, n = offsetof(struct clip_disk_image, storage_flags) / sizeof(*s);

	for (i = 0; i < n; i++)
		if (!str_ok(idx, s[i].off, s[i].len))
			return BAD("image section: bad string reference");
	if ((idx->image->storage_flags & ~CLIP_STORAGE_PLAIN_HTTP) != 0 || idx->image->reserved != 0)
		return BAD("image section: unknown flags");
	return CLIP_OK;
}

/* The number of chunk_shift-sized pieces of size bytes, rounded up. */
static uint64_t
chunks_of(uint64_t size, uint32_t shift)
{
	return (size >> shift) + ((size & ((UINT64_C(1) << shift) - 1)) != 0);
}

/*
 * CHUNKS: the header, then one u64 per layer (the index of its first
 * hash), then the hashes; each layer has exactly as many as its blob has
 * pieces, and the section holds exactly that much.
 */
static clip_err
check_chunks(clip_index *idx, struct clip_error *err)
{
	const struct clip_disk_chunks_header *h = (const void *)idx->chunks;
	uint64_t room, total = 0, n;
	uint32_t l;

	if (idx->chunks == NULL)
		return CLIP_OK;
	if (idx->chunks_len < sizeof(*h))
		return BAD("chunks section: %llu bytes, shorter than its header",
		    (unsigned long long)idx->chunks_len);
	if (h->chunk_shift < CLIP_CHUNK_SHIFT_MIN || h->chunk_shift > CLIP_CHUNK_SHIFT_MAX)
		return BAD("chunks section: chunk shift %u is outside %d..%d", h->chunk_shift,
		    CLIP_CHUNK_SHIFT_MIN, CLIP_CHUNK_SHIFT_MAX);
	if (h->layer_count != idx->nlayers)
		return BAD("chunks section: %u layers, the index has %u", h->layer_count,
		    idx->nlayers);
	room = idx->chunks_len - sizeof(*h);
	if ((uint64_t)h->layer_count * 8 > room)
		return BAD("chunks section: too short for %u layers", h->layer_count);
	room -= (uint64_t)h->layer_count * 8;
	if (room % 32 != 0)
		return BAD("chunks section: %llu bytes of hashes is not a whole number of hashes",
		    (unsigned long long)room);
	idx->chunk_first = (const void *)(idx->chunks + sizeof(*h));
	for (l = 0; l < h->layer_count; l++) {
		if (idx->chunk_first[l] != total)
			return BAD("chunks section: layer %u starts at hash %llu, not %llu", l,
			    (unsigned long long)idx->chunk_first[l], (unsigned long long)total);
		n = chunks_of(idx->layers[l].compressed_size, h->chunk_shift);
		if (n > room / 32 - total)
			return BAD("chunks section: too short for the hashes of layer %u", l);
		total += n;
	}
	if (total != room / 32)
		return BAD("chunks section: %llu hashes where the layers have %llu",
		    (unsigned long long)(room / 32), (unsigned long long)total);
	idx->chunk_sha256 = (const uint8_t *)(idx->chunk_first + h->layer_count);
	idx->chunk_shift = h->chunk_shift;
	return CLIP_OK;
}

static clip_err
check_prefetch(clip_index *idx, struct clip_error *err)
{
	uint32_t i;

	for (i = 0; i < idx->nprefetch; i++) {
		const struct clip_disk_prefetch *p = &idx->prefetch[i];
		if (p->ino == 0 || p->ino > idx->ninodes || p->reserved != 0 ||
		    (idx->inodes[p->ino - 1].mode & S_IFMT) != S_IFREG)
			return BAD("prefetch entry %u does not name a regular file", i);
	}
	return CLIP_OK;
}

static clip_err
check_all(clip_index *idx, struct clip_error *err)
{
	clip_err rc;
	uint32_t ino;

	if ((rc = check_header(idx, err)) != CLIP_OK ||
	    (rc = check_sections(idx, err)) != CLIP_OK ||
	    (rc = check_layers(idx, err)) != CLIP_OK ||
	    (rc = check_chunks(idx, err)) != CLIP_OK ||
	    (rc = check_image(idx, err)) != CLIP_OK ||
	    (rc = check_prefetch(idx, err)) != CLIP_OK)
		return rc;
	for (ino = 1; ino <= idx->ninodes; ino++)
		if ((rc = check_inode(idx, ino, err)) != CLIP_OK)
			return rc;
	return check_dirs(idx, err);
}

clip_err
clip_index_open_buffer(const void *buf, size_t len, clip_index **out, struct clip_error *err)
{
	clip_index *idx;
	clip_err rc;

	*out = NULL;
	if (((uintptr_t)buf & (CLIP_ALIGN - 1)) != 0)
		return clip_error_set(err, CLIP_ERR_INVALID, "index buffer is not 8-byte aligned");
	idx = calloc(1, sizeof(*idx));
	if (idx == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	idx->base = buf;
	idx->size = len;
	if ((rc = check_all(idx, err)) != CLIP_OK) {
		free(idx);
		return rc;
	}
	*out = idx;
	return CLIP_OK;
}

clip_err
clip_index_open(const char *path, clip_index **out, struct clip_error *err)
{
	struct stat st;
	void *map;
	int fd;
	clip_err rc;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return clip_error_set(err, CLIP_ERR_IO, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		rc = clip_error_set(err, CLIP_ERR_IO, "%s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode) || st.st_size == 0) {
		close(fd);
		return clip_error_set(err, CLIP_ERR_FORMAT, "%s: %s", path,
		    S_ISREG(st.st_mode) ? "empty file, not a CLIP index" : "not a regular file");
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return clip_error_set(err, CLIP_ERR_IO, "%s: mmap: %s", path, strerror(errno));
	rc = clip_index_open_buffer(map, (size_t)st.st_size, out, err);
	if (rc != CLIP_OK) {
		munmap(map, (size_t)st.st_size);
		return clip_error_prefix(err, "%s", path);
	}
	(*out)->mapped = 1;
	return CLIP_OK;
}

void
clip_index_close(clip_index *idx)
{
	if (idx == NULL)
		return;
	if (idx->mapped)
		munmap((void *)idx->base, idx->size);
	free(idx);
}

uint32_t clip_index_inode_count(const clip_index *idx) { return idx->ninodes; }
uint32_t clip_index_dirent_count(const clip_index *idx) { return idx->ndirents; }
uint32_t clip_index_layer_count(const clip_index *idx) { return idx->nlayers; }
uint32_t clip_index_checkpoint_count(const clip_index *idx) { return idx->ncps; }
uint64_t clip_index_file_size(const clip_index *idx) { return idx->size; }
uint16_t clip_index_version_minor(const clip_index *idx) { return idx->hdr->version_minor; }
uint32_t clip_index_section_count(const clip_index *idx) { return idx->nsections; }

clip_err
clip_index_section(const clip_index *idx, uint32_t i, struct clip_section_info *out)
{
	if (i >= idx->nsections)
		return CLIP_ERR_INVALID;
	out->type = idx->sections[i].type;
	out->flags = idx->sections[i].flags;
	out->offset = idx->sections[i].offset;
	out->length = idx->sections[i].length;
	return CLIP_OK;
}

static const struct clip_disk_inode *
inode_at(const clip_index *idx, uint32_t ino)
{
	if (ino == 0 || ino > idx->ninodes)
		return NULL;
	return &idx->inodes[ino - 1];
}

clip_err
clip_index_stat(const clip_index *idx, uint32_t ino, struct clip_stat *st)
{
	const struct clip_disk_inode *di = inode_at(idx, ino);

	memset(st, 0, sizeof(*st));
	if (di == NULL)
		return CLIP_ERR_INVALID;
	st->ino = ino;
	st->mode = di->mode;
	st->nlink = di->nlink;
	st->uid = di->uid;
	st->gid = di->gid;
	st->size = di->size;
	st->mtime_sec = di->mtime_sec;
	st->mtime_nsec = di->mtime_nsec;
	st->xattr_count = di->xattr_set ? idx->xsets[di->xattr_set - 1].count : 0;
	switch (di->mode & S_IFMT) {
	case S_IFREG:
		st->layer = di->a;
		st->data_offset = di->c;
		break;
	case S_IFDIR:
		st->parent = (uint32_t)di->c;
		break;
	case S_IFCHR:
	case S_IFBLK:
		st->rdev_major = di->a;
		st->rdev_minor = di->b;
		break;
	}
	return CLIP_OK;
}

uint32_t
clip_index_dir_size(const clip_index *idx, uint32_t dir)
{
	const struct clip_disk_inode *di = inode_at(idx, dir);

	return di != NULL && (di->mode & S_IFMT) == S_IFDIR ? di->b : 0;
}

clip_err
clip_index_readdir(const clip_index *idx, uint32_t dir, uint32_t i, struct clip_dirent *out)
{
	const struct clip_disk_inode *di = inode_at(idx, dir);
	const struct clip_disk_dirent *de;

	memset(out, 0, sizeof(*out));
	if (di == NULL || (di->mode & S_IFMT) != S_IFDIR || i >= di->b)
		return CLIP_ERR_INVALID;
	de = &idx->dirents[di->a + i];
	out->name = str_at(idx, de->name_off, de->name_len);
	out->ino = de->ino;
	out->mode_type = (uint32_t)de->type << 12;
	return CLIP_OK;
}

clip_err
clip_index_lookup(const clip_index *idx, uint32_t dir, const char *name, size_t len,
    uint32_t *child)
{
	const struct clip_disk_inode *di = inode_at(idx, dir);
	uint32_t lo, hi;

	*child = 0;
	if (di == NULL || (di->mode & S_IFMT) != S_IFDIR)
		return CLIP_ERR_INVALID;
	lo = 0;
	hi = di->b;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct clip_disk_dirent *de = &idx->dirents[di->a + mid];
		int c = clip_name_cmp((const char *)idx->strings + de->name_off, de->name_len,
		    name, len);
		if (c == 0) {
			*child = de->ino;
			return CLIP_OK;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return CLIP_ERR_NOTFOUND;
}

clip_err
clip_index_resolve(const clip_index *idx, const char *path, uint32_t *ino)
{
	uint32_t cur = CLIP_ROOT_INO;
	const char *p = path;

	*ino = 0;
	while (*p != '\0') {
		const char *end;
		clip_err rc;
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		end = strchrnul(p, '/');
		/* Like a path walk: only a directory has entries, "." and ".." too. */
		if ((idx->inodes[cur - 1].mode & S_IFMT) != S_IFDIR)
			return CLIP_ERR_NOTFOUND;
		if (end - p == 1 && p[0] == '.') {
			p = end;
			continue;
		}
		if (end - p == 2 && p[0] == '.' && p[1] == '.') {
			cur = (uint32_t)idx->inodes[cur - 1].c;
			p = end;
			continue;
		}
		rc = clip_index_lookup(idx, cur, p, (size_t)(end - p), &cur);
		if (rc != CLIP_OK)
			return rc == CLIP_ERR_INVALID ? CLIP_ERR_NOTFOUND : rc;
		p = end;
	}
	*ino = cur;
	return CLIP_OK;
}

clip_err
clip_index_readlink(const clip_index *idx, uint32_t ino, struct clip_str *target)
{
	const struct clip_disk_inode *di = inode_at(idx, ino);

	target->ptr = NULL;
	target->len = 0;
	if (di == NULL || (di->mode & S_IFMT) != S_IFLNK)
		return CLIP_ERR_INVALID;
	*target = str_at(idx, di->a, di->b);
	return CLIP_OK;
}

clip_err
clip_index_xattr(const clip_index *idx, uint32_t ino, uint32_t i, struct clip_str *name,
    struct clip_str *value)
{
	const struct clip_disk_inode *di = inode_at(idx, ino);
	const struct clip_disk_xattr *x;

	if (di == NULL || di->xattr_set == 0 || i >= idx->xsets[di->xattr_set - 1].count)
		return CLIP_ERR_INVALID;
	x = &idx->xattrs[idx->xsets[di->xattr_set - 1].first + i];
	*name = str_at(idx, x->name.off, x->name.len);
	*value = str_at(idx, x->value.off, x->value.len);
	return CLIP_OK;
}

clip_err
clip_index_layer(const clip_index *idx, uint32_t layer, struct clip_layer *out)
{
	const struct clip_disk_layer *dl;

	memset(out, 0, sizeof(*out));
	if (layer >= idx->nlayers)
		return CLIP_ERR_INVALID;
	dl = &idx->layers[layer];
	out->index = layer;
	out->digest = str_at(idx, dl->digest.off, dl->digest.len);
	out->media_type = str_at(idx, dl->media_type.off, dl->media_type.len);
	out->compressed_size = dl->compressed_size;
	out->uncompressed_size = dl->uncompressed_size;
	out->first_checkpoint = dl->first_checkpoint;
	out->checkpoint_count = dl->checkpoint_count;
	out->compression = dl->compression;
	return CLIP_OK;
}

clip_err
clip_index_checkpoint(const clip_index *idx, uint32_t layer, uint32_t i,
    struct clip_checkpoint *out)
{
	const struct clip_disk_layer *dl;
	const struct clip_disk_checkpoint *cp;

	memset(out, 0, sizeof(*out));
	if (layer >= idx->nlayers || i >= idx->layers[layer].checkpoint_count)
		return CLIP_ERR_INVALID;
	dl = &idx->layers[layer];
	cp = &idx->cps[dl->first_checkpoint + i];
	out->in_offset = cp->in_offset;
	out->out_offset = cp->out_offset;
	out->bits = cp->bits;
	out->kind = cp->kind;
	out->window_len = cp->window_len;
	out->window_zlen = cp->window_zlen;
	out->window_z = cp->window_zlen ? idx->windows + cp->window_off : NULL;
	out->span_sha256 = cp->span_sha256;
	out->span_start = cp->in_offset - (cp->bits ? 1 : 0);
	if (i + 1 < dl->checkpoint_count) {
		out->span_end = cp[1].in_offset;
		out->out_end = cp[1].out_offset;
	} else {
		out->span_end = dl->compressed_size;
		out->out_end = dl->uncompressed_size;
	}
	return CLIP_OK;
}

clip_err
clip_index_find_checkpoint(const clip_index *idx, uint32_t layer, uint64_t off, uint32_t *i)
{
	const struct clip_disk_layer *dl;
	const struct clip_disk_checkpoint *cps;
	uint32_t lo, hi;

	*i = 0;
	if (layer >= idx->nlayers)
		return CLIP_ERR_INVALID;
	dl = &idx->layers[layer];
	if (off >= dl->uncompressed_size || dl->checkpoint_count == 0)
		return CLIP_ERR_INVALID;
	cps = &idx->cps[dl->first_checkpoint];
	/* The last checkpoint with out_offset <= off; the first is at 0. */
	lo = 0;
	hi = dl->checkpoint_count;
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (cps[mid].out_offset <= off)
			lo = mid;
		else
			hi = mid;
	}
	*i = lo;
	return CLIP_OK;
}

clip_err
clip_index_window(const struct clip_checkpoint *cp, uint8_t *buf, struct clip_error *err)
{
	uLongf len = CLIP_WINDOW_SIZE;

	if (cp->window_len == 0)
		return CLIP_OK;
	if (uncompress(buf, &len, cp->window_z, cp->window_zlen) != Z_OK || len != cp->window_len)
		return clip_error_set(err, CLIP_ERR_FORMAT,
		    "checkpoint window at offset %llu does not inflate to %u bytes",
		    (unsigned long long)cp->in_offset, cp->window_len);
	return CLIP_OK;
}

uint32_t
clip_index_prefetch_count(const clip_index *idx)
{
	return idx->nprefetch;
}

clip_err
clip_index_prefetch(const clip_index *idx, uint32_t i, uint32_t *ino, uint64_t *offset,
    uint64_t *length)
{
	const struct clip_disk_prefetch *p;
	uint64_t size;

	*ino = 0;
	*offset = *length = 0;
	if (i >= idx->nprefetch)
		return CLIP_ERR_INVALID;
	p = &idx->prefetch[i];
	size = idx->inodes[p->ino - 1].size;
	*ino = p->ino;
	/* Clamped to the file, so a caller can use the range as is. */
	*offset = p->offset < size ? p->offset : size;
	*length = p->length == 0 || p->length > size - *offset ? size - *offset : p->length;
	return CLIP_OK;
}

uint32_t
clip_index_chunk_size(const clip_index *idx)
{
	return idx->chunk_shift ? UINT32_C(1) << idx->chunk_shift : 0;
}

const uint8_t *
clip_index_chunk_sha256(const clip_index *idx, uint32_t layer, uint64_t k)
{
	if (idx->chunk_shift == 0 || layer >= idx->nlayers ||
	    k >= chunks_of(idx->layers[layer].compressed_size, idx->chunk_shift))
		return NULL;
	return idx->chunk_sha256 + (idx->chunk_first[layer] + k) * 32;
}

void
clip_index_image(const clip_index *idx, struct clip_index_image *out)
{
	const struct clip_disk_image *di = idx->image;

	out->source_ref = str_at(idx, di->source_ref.off, di->source_ref.len);
	out->storage_registry = str_at(idx, di->storage_registry.off, di->storage_registry.len);
	out->storage_repository = str_at(idx, di->storage_repository.off, di->storage_repository.len);
	out->manifest_digest = str_at(idx, di->manifest_digest.off, di->manifest_digest.len);
	out->manifest_media_type = str_at(idx, di->manifest_media_type.off,
	    di->manifest_media_type.len);
	out->config_digest = str_at(idx, di->config_digest.off, di->config_digest.len);
	out->os = str_at(idx, di->os.off, di->os.len);
	out->architecture = str_at(idx, di->architecture.off, di->architecture.len);
	out->variant = str_at(idx, di->variant.off, di->variant.len);
	out->config_json = str_at(idx, di->config_json.off, di->config_json.len);
	out->storage_flags = di->storage_flags;
}
