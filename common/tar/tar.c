/*
 * tar.c - a push parser for tar streams (see tar.h).
 *
 * The stream is a sequence of 512-byte headers, each followed by its
 * data padded to 512 bytes.  We copy only headers and the payloads of
 * extended headers ('L', 'K', 'x', 'g'); file data is counted past, so a
 * multi-gigabyte layer costs no memory.
 *
 * Choices where tar implementations differ:
 *  - Several 'x' (or 'L', 'K') headers before one entry: the last one
 *    wins, as in GNU tar, bsdtar and Go (Go's pax-multi-hdrs fixture).
 *  - 'g' headers are merged into defaults for every later entry (POSIX);
 *    an empty value removes that default.  Precedence, lowest first:
 *    the ustar header, 'g' records, GNU 'L'/'K', 'x' records.
 *  - Header-only types (links, devices, directories, fifos) have no
 *    data whatever their size field says, as in Go's reader, which is
 *    what Docker and containerd use to unpack layers.
 *  - Unknown typeflags are regular files (POSIX says so), except the
 *    GNU ones we cannot represent: 'S' sparse, 'M' multi-volume and 'N'
 *    old long names are CLIP_ERR_UNSUPPORTED; 'V' (volume label) is
 *    skipped; 'D' (incremental dump directory) is a directory whose
 *    data is skipped; Solaris 'X' is read as 'x'.
 */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/tar/tar.h"
#include "common/tar/tar_pax.h"

#define BLOCK 512
#define TAR_PAX_MAX       (1u << 20)   /* one 'x' or 'g' payload */
#define TAR_LONGNAME_MAX  (64u << 10)  /* one 'L' or 'K' payload */

/* Offsets of the ustar header fields; GNU and v7 share the first ones. */
enum {
	H_NAME = 0, H_MODE = 100, H_UID = 108, H_GID = 116, H_SIZE = 124,
	H_MTIME = 136, H_CHKSUM = 148, H_TYPE = 156, H_LINKNAME = 157,
	H_MAGIC = 257, H_DEVMAJOR = 329, H_DEVMINOR = 337, H_PREFIX = 345,
	H_STAR_TRAILER = 508,
};

enum tar_state {
	ST_HEADER,   /* collecting a header block into hdr */
	ST_SKIP,     /* counting past data_left, then pad_left */
	ST_EXT,      /* collecting an extended header payload into ext */
	ST_ZERO,     /* after one zero block: the second must be zero too */
	ST_END,      /* after two zero blocks: only zeros may follow */
};

struct clip_tar {
	clip_tar_entry_fn fn;
	void *ctx;
	enum tar_state st;
	clip_err failed;          /* sticky: once set, every call returns it */
	uint64_t offset;          /* bytes consumed */
	uint64_t hdr_offset;      /* where the current header started */

	uint8_t hdr[BLOCK];
	size_t hdr_fill;

	uint64_t data_left, pad_left, data_size;
	size_t zero_left;

	char ext_type;
	uint8_t *ext;
	size_t ext_len, ext_fill, ext_cap;

	/* Extended headers waiting for their entry. */
	bool pending;
	struct tar_pax local;     /* the last 'x' ('g' records are checked, then dropped) */
	char *longname, *longlink;
	size_t longname_len, longlink_len;

	/* The entry being reported, and after it, for messages. */
	char *path, *link;
	size_t path_cap, link_cap, path_len;
	struct clip_tar_xattr *xv;
	size_t xv_cap;
};

/* Quoting for messages: up to ~200 visible bytes of a name. */
#define QMAX 256

clip_err
clip_tar_new(clip_tar_entry_fn fn, void *ctx, clip_tar **out,
    struct clip_error *err)
{
	clip_tar *t;

	if (out != NULL)
		*out = NULL;
	if (fn == NULL || out == NULL)
		return clip_error_set(err, CLIP_ERR_INVALID,
		    "clip_tar_new: NULL argument");
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	t->fn = fn;
	t->ctx = ctx;
	t->st = ST_HEADER;
	*out = t;
	return CLIP_OK;
}

void
clip_tar_free(clip_tar *t)
{
	if (t == NULL)
		return;
	tar_pax_clear(&t->local);
	free(t->longname);
	free(t->longlink);
	free(t->ext);
	free(t->path);
	free(t->link);
	free(t->xv);
	free(t);
}

uint64_t
clip_tar_offset(const clip_tar *t)
{
	return t != NULL ? t->offset : 0;
}

/* ---------------------------------------------------------------------
 * Paths */

static bool
is_dotdot(const char *c, size_t n)
{
	return n == 2 && c[0] == '.' && c[1] == '.';
}

clip_err
clip_tar_normalize(char *path, size_t *len, struct clip_error *err)
{
	size_t n = *len, i, out = 0;
	char q[QMAX];

	if (memchr(path, '\0', n) != NULL)
		return clip_error_set(err, CLIP_ERR_TAR,
		    "path \"%s\" contains a NUL byte", tar_quote(path, n, q, sizeof(q)));
	/* Check first, so that the message shows the path as stored. */
	for (i = 0; i < n; ) {
		size_t start;

		while (i < n && path[i] == '/')
			i++;
		start = i;
		while (i < n && path[i] != '/')
			i++;
		if (is_dotdot(path + start, i - start))
			return clip_error_set(err, CLIP_ERR_TAR,
			    "path \"%s\" has a \"..\" component",
			    tar_quote(path, n, q, sizeof(q)));
	}
	for (i = 0; i < n; ) {
		size_t start, clen;

		while (i < n && path[i] == '/')
			i++;
		start = i;
		while (i < n && path[i] != '/')
			i++;
		clen = i - start;
		if (clen == 0 || (clen == 1 && path[start] == '.'))
			continue;
		if (out > 0)
			path[out++] = '/';
		memmove(path + out, path + start, clen);
		out += clen;
	}
	if (out < n)
		path[out] = '\0';
	*len = out;
	return CLIP_OK;
}

/* ---------------------------------------------------------------------
 * Header fields */

/*
 * A numeric field: octal digits, optionally surrounded by spaces and
 * NULs, or GNU base-256 (high bit of the first byte set; two's
 * complement, so it may be negative).  False if it does not parse or
 * does not fit an int64.
 */
static bool
parse_number(const uint8_t *f, size_t n, int64_t *out)
{
	uint64_t x = 0;
	size_t i = 0;

	if (f[0] & 0x80) {
		uint8_t inv = (f[0] & 0x40) ? 0xff : 0;

		for (i = 0; i < n; i++) {
			uint8_t c = f[i] ^ inv;

			if (i == 0)
				c &= 0x7f;
			if (x >> 56)
				return false;
			x = x << 8 | c;
		}
		if (x >> 63)
			return false;
		*out = inv ? ~(int64_t)x : (int64_t)x;
		return true;
	}
	while (i < n && (f[i] == ' ' || f[i] == '\0'))
		i++;
	for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
		if (x >> 60)
			return false;
		x = x << 3 | (uint64_t)(f[i] - '0');
	}
	for (; i < n; i++)
		if (f[i] != ' ' && f[i] != '\0')
			return false;
	*out = (int64_t)x;
	return true;
}

static bool
all_zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/* Historic tars summed signed chars; POSIX says unsigned.  Accept both. */
static bool
checksum_ok(const uint8_t *h)
{
	int64_t stored;
	long su = 0, ss = 0;
	size_t i;

	if (!parse_number(h + H_CHKSUM, 8, &stored))
		return false;
	for (i = 0; i < BLOCK; i++) {
		uint8_t c = (i >= H_CHKSUM && i < H_CHKSUM + 8) ? ' ' : h[i];

		su += c;
		ss += (signed char)c;
	}
	return stored == su || stored == ss;
}

static size_t
field_len(const uint8_t *f, size_t n)
{
	const uint8_t *z = memchr(f, '\0', n);

	return z ? (size_t)(z - f) : n;
}

static clip_err
reserve(char **buf, size_t *cap, size_t need, struct clip_error *err)
{
	char *p;

	if (need <= *cap)
		return CLIP_OK;
	p = realloc(*buf, need);
	if (p == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	*buf = p;
	*cap = need;
	return CLIP_OK;
}

/* Copies (s, n) into *buf as a NUL-terminated string. */
static clip_err
put_string(char **buf, size_t *cap, const char *s, size_t n,
    struct clip_error *err)
{
	clip_err rc = reserve(buf, cap, n + 1, err);

	if (rc != CLIP_OK)
		return rc;
	memcpy(*buf, s, n);
	(*buf)[n] = '\0';
	return CLIP_OK;
}

/* ---------------------------------------------------------------------
 * Entries */

static void
reset_pending(clip_tar *t)
{
	tar_pax_clear(&t->local);
	free(t->longname);
	free(t->longlink);
	t->longname = t->longlink = NULL;
	t->longname_len = t->longlink_len = 0;
	t->pending = false;
}

/*
 * Go before 1.8 wrote a ustar prefix into GNU headers, over the atime
 * and ctime fields (golang.org/issue/12594).  Like Go's reader, take
 * those bytes as a prefix when they do not parse as times and are ASCII.
 */
static bool
gnu_has_go17_prefix(const uint8_t *h)
{
	int64_t v;
	size_t i, n;
	bool times_ok = true;

	for (i = 0; i < 2; i++) {
		const uint8_t *f = h + H_PREFIX + 12 * i;

		if (f[0] != 0 && !parse_number(f, 12, &v))
			times_ok = false;
	}
	if (times_ok)
		return false;
	n = field_len(h + H_PREFIX, 155);
	for (i = 0; i < n; i++)
		if (h[H_PREFIX + i] >= 0x80)
			return false;
	return true;
}

/* The entry's path as stored, into t->path. */
static clip_err
raw_path(clip_tar *t, bool ustar, bool star, size_t *len, struct clip_error *err)
{
	const uint8_t *h = t->hdr;
	size_t nlen, plen;
	clip_err rc;

	if (t->local.path != NULL)
		return *len = t->local.path_len, put_string(&t->path, &t->path_cap,
		    t->local.path, t->local.path_len, err);
	if (t->longname != NULL)
		return *len = t->longname_len, put_string(&t->path, &t->path_cap,
		    t->longname, t->longname_len, err);
	nlen = field_len(h + H_NAME, 100);
	/* star keeps atime and ctime at the end of the ustar prefix field. */
	if (ustar)
		plen = field_len(h + H_PREFIX, star ? 131 : 155);
	else if (memcmp(h + H_MAGIC, "ustar  \0", 8) == 0 && gnu_has_go17_prefix(h))
		plen = field_len(h + H_PREFIX, 155);
	else
		plen = 0;
	rc = reserve(&t->path, &t->path_cap, plen + 1 + nlen + 1, err);
	if (rc != CLIP_OK)
		return rc;
	memcpy(t->path, h + H_PREFIX, plen);
	if (plen > 0)
		t->path[plen++] = '/';
	memcpy(t->path + plen, h + H_NAME, nlen);
	*len = plen + nlen;
	t->path[*len] = '\0';
	return CLIP_OK;
}

static clip_err
raw_link(clip_tar *t, size_t *len, struct clip_error *err)
{
	const char *s;

	if (t->local.linkpath != NULL) {
		s = t->local.linkpath;
		*len = t->local.linkpath_len;
	} else if (t->longlink != NULL) {
		s = t->longlink;
		*len = t->longlink_len;
	} else {
		s = (const char *)t->hdr + H_LINKNAME;
		*len = field_len(t->hdr + H_LINKNAME, 100);
	}
	return put_string(&t->link, &t->link_cap, s, *len, err);
}

/* A header field that must hold a value in [0, max]. */
static clip_err
header_uint(clip_tar *t, size_t off, size_t n, uint64_t max, const char *what,
    uint64_t *out, struct clip_error *err)
{
	int64_t v;

	if (!parse_number(t->hdr + off, n, &v))
		return clip_error_set(err, CLIP_ERR_TAR,
		    "tar header at offset %llu: bad %s field",
		    (unsigned long long)t->hdr_offset, what);
	if (v < 0 || (uint64_t)v > max)
		return clip_error_set(err, CLIP_ERR_TAR,
		    "tar header at offset %llu: %s %lld out of range",
		    (unsigned long long)t->hdr_offset, what, (long long)v);
	*out = (uint64_t)v;
	return CLIP_OK;
}

/* The entry's xattrs, from its 'x' records, in the form tar.h hands on. */
static clip_err
entry_xattrs(clip_tar *t, size_t *n, struct clip_error *err)
{
	size_t need = t->local.nxattrs, i, k = 0;
	struct clip_tar_xattr *xv;

	*n = 0;
	if (need > t->xv_cap) {
		xv = realloc(t->xv, need * sizeof(*xv));
		if (xv == NULL)
			return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
		t->xv = xv;
		t->xv_cap = need;
	}
	for (i = 0; i < t->local.nxattrs; i++) {
		t->xv[k].name = t->local.xattrs[i].name;
		t->xv[k].value = t->local.xattrs[i].value;
		t->xv[k++].len = t->local.xattrs[i].len;
	}
	*n = k;
	return CLIP_OK;
}

enum kind { K_ENTRY, K_LABEL, K_SPARSE, K_UNSUPPORTED };

static enum kind
classify(char tf, const char *path, size_t len, enum clip_tar_type *type,
    bool *has_data)
{
	*has_data = false;
	switch (tf) {
	case '1': *type = CLIP_TAR_HARDLINK; return K_ENTRY;
	case '2': *type = CLIP_TAR_SYMLINK; return K_ENTRY;
	case '3': *type = CLIP_TAR_CHR; return K_ENTRY;
	case '4': *type = CLIP_TAR_BLK; return K_ENTRY;
	case '5': *type = CLIP_TAR_DIR; return K_ENTRY;
	case '6': *type = CLIP_TAR_FIFO; return K_ENTRY;
	case 'D': *type = CLIP_TAR_DIR; *has_data = true; return K_ENTRY;
	case 'V': *has_data = true; return K_LABEL;
	case 'S': return K_SPARSE;
	case 'M': case 'N': return K_UNSUPPORTED;
	case '\0':
		/* Pre-POSIX tars mark directories with a trailing slash. */
		if (len > 0 && path[len - 1] == '/') {
			*type = CLIP_TAR_DIR;
			return K_ENTRY;
		}
		/* FALLTHROUGH */
	default:
		*type = CLIP_TAR_REG;
		*has_data = true;
		return K_ENTRY;
	}
}

/* Sparse and GNU-only types are refused, naming the entry. */
static clip_err
check_kind(clip_tar *t, enum kind kind, size_t plen, struct clip_error *err)
{
	unsigned long long at = (unsigned long long)t->hdr_offset;
	const char *name = t->path;
	size_t nlen = plen;
	char q[QMAX];

	if (kind == K_SPARSE || t->local.sparse) {
		if (t->local.sparse_name != NULL) {
			name = t->local.sparse_name;
			nlen = t->local.sparse_name_len;
		}
		return clip_error_set(err, CLIP_ERR_UNSUPPORTED,
		    "sparse files are not supported: \"%s\" (tar header at offset %llu)",
		    tar_quote(name, nlen, q, sizeof(q)), at);
	}
	if (kind == K_UNSUPPORTED)
		return clip_error_set(err, CLIP_ERR_UNSUPPORTED,
		    "tar entry \"%s\" has GNU type '%c', which is not supported "
		    "(tar header at offset %llu)", tar_quote(t->path, plen, q, sizeof(q)),
		    t->hdr[H_TYPE], at);
	return CLIP_OK;
}

/* The entry's data size (from PAX records, else the header's hsize; 0
 * for types without data) and the padding after it. */
static clip_err
entry_size(clip_tar *t, int64_t hsize, bool has_data, size_t plen, uint64_t *size,
    uint64_t *pad, struct clip_error *err)
{
	char q[QMAX];

	if (t->local.has_size)
		*size = t->local.size;
	else
		*size = (uint64_t)hsize;
	if (!has_data)
		*size = 0;
	*pad = (BLOCK - (*size % BLOCK)) % BLOCK;
	/* Offsets must stay valid off_t values for whoever reads the data. */
	if (*size > (uint64_t)INT64_MAX - *pad || t->offset > (uint64_t)INT64_MAX - *size - *pad)
		return clip_error_set(err, CLIP_ERR_TAR,
		    "tar entry \"%s\": size %llu overflows the stream offset",
		    tar_quote(t->path, plen, q, sizeof(q)), (unsigned long long)*size);
	return CLIP_OK;
}

/* Mode, owner, mtime and device numbers: the header's fields, where PAX
 * records do not say otherwise. */
static clip_err
entry_attrs(clip_tar *t, enum clip_tar_type type, bool has_devs, struct clip_tar_entry *e,
    struct clip_error *err)
{
	uint64_t v;
	int64_t mtime;
	clip_err rc;

	if ((rc = header_uint(t, H_MODE, 8, UINT32_MAX, "mode", &v, err)) != CLIP_OK)
		return rc;
	e->mode = (uint32_t)v & 07777;
	if ((rc = header_uint(t, H_UID, 8, UINT32_MAX, "uid", &v, err)) != CLIP_OK)
		return rc;
	e->uid = t->local.has_uid ? t->local.uid : (uint32_t)v;
	if ((rc = header_uint(t, H_GID, 8, UINT32_MAX, "gid", &v, err)) != CLIP_OK)
		return rc;
	e->gid = t->local.has_gid ? t->local.gid : (uint32_t)v;
	if (!parse_number(t->hdr + H_MTIME, 12, &mtime))
		return clip_error_set(err, CLIP_ERR_TAR, "tar header at offset %llu: bad mtime field",
		    (unsigned long long)t->hdr_offset);
	e->mtime_sec = mtime;
	if (t->local.has_mtime) {
		e->mtime_sec = t->local.mtime_sec;
		e->mtime_nsec = t->local.mtime_nsec;
	}
	if (type != CLIP_TAR_CHR && type != CLIP_TAR_BLK)
		return CLIP_OK;
	/* v7 headers have no device fields: those bytes are zero. */
	if (has_devs) {
		if ((rc = header_uint(t, H_DEVMAJOR, 8, UINT32_MAX, "devmajor", &v, err)) != CLIP_OK)
			return rc;
		e->devmajor = (uint32_t)v;
		if ((rc = header_uint(t, H_DEVMINOR, 8, UINT32_MAX, "devminor", &v, err)) != CLIP_OK)
			return rc;
		e->devminor = (uint32_t)v;
	}
	if (t->local.has_devmajor)
		e->devmajor = t->local.devmajor;
	if (t->local.has_devminor)
		e->devminor = t->local.devminor;
	return CLIP_OK;
}

/* The target of a hard link (normalised like a path) or a symlink. */
static clip_err
entry_link(clip_tar *t, enum clip_tar_type type, size_t plen, struct clip_tar_entry *e,
    struct clip_error *err)
{
	size_t llen;
	char q[QMAX];
	clip_err rc;

	if ((rc = raw_link(t, &llen, err)) != CLIP_OK)
		return rc;
	if (memchr(t->link, '\0', llen) != NULL)
		return clip_error_set(err, CLIP_ERR_TAR,
		    "tar entry \"%s\": link target contains a NUL byte",
		    tar_quote(t->path, plen, q, sizeof(q)));
	if (type == CLIP_TAR_HARDLINK) {
		if ((rc = clip_tar_normalize(t->link, &llen, err)) != CLIP_OK)
			return clip_error_prefix(err, "hard link \"%s\"",
			    tar_quote(t->path, plen, q, sizeof(q)));
		if (llen == 0)
			return clip_error_set(err, CLIP_ERR_TAR, "hard link \"%s\" has no target",
			    tar_quote(t->path, plen, q, sizeof(q)));
	}
	e->linkpath = t->link;
	e->linkpath_len = llen;
	return CLIP_OK;
}

/* The entry (a header and what pending extended headers said), handed
 * to the callback; then the data is skipped. */
static clip_err
emit_entry(clip_tar *t, enum clip_tar_type type, size_t plen, uint64_t size,
    struct clip_error *err)
{
	const uint8_t *h = t->hdr;
	bool ustar = memcmp(h + H_MAGIC, "ustar\0", 6) == 0;
	bool gnu = memcmp(h + H_MAGIC, "ustar  \0", 8) == 0;
	struct clip_tar_entry e;
	clip_err rc;

	memset(&e, 0, sizeof(e));
	if ((rc = entry_attrs(t, type, ustar || gnu, &e, err)) != CLIP_OK)
		return rc;
	if ((type == CLIP_TAR_HARDLINK || type == CLIP_TAR_SYMLINK) &&
	    (rc = entry_link(t, type, plen, &e, err)) != CLIP_OK)
		return rc;
	if ((rc = clip_tar_normalize(t->path, &t->path_len, err)) != CLIP_OK)
		return clip_error_prefix(err, "tar header at offset %llu",
		    (unsigned long long)t->hdr_offset);
	e.path = t->path;
	e.path_len = t->path_len;
	e.type = type;
	e.size = type == CLIP_TAR_REG ? size : 0;
	e.data_offset = t->offset;
	if ((rc = entry_xattrs(t, &e.nxattrs, err)) != CLIP_OK)
		return rc;
	e.xattrs = e.nxattrs ? t->xv : NULL;
	return t->fn(t->ctx, &e, err);
}

/* A header block is in t->hdr (hsize: its size field): the entry it
 * makes goes to the callback (a volume label goes nowhere), and the
 * parser moves on to its data. */
static clip_err
entry_header(clip_tar *t, int64_t hsize, struct clip_error *err)
{
	const uint8_t *h = t->hdr;
	bool ustar = memcmp(h + H_MAGIC, "ustar\0", 6) == 0;
	bool star = ustar && memcmp(h + H_STAR_TRAILER, "tar\0", 4) == 0;
	enum clip_tar_type type = CLIP_TAR_REG;
	uint64_t size, pad;
	bool has_data;
	enum kind kind;
	size_t plen;
	clip_err rc;

	if ((rc = raw_path(t, ustar, star, &plen, err)) != CLIP_OK)
		return rc;
	t->path_len = plen;
	kind = classify((char)h[H_TYPE], t->path, plen, &type, &has_data);
	if ((rc = check_kind(t, kind, plen, err)) != CLIP_OK ||
	    (rc = entry_size(t, hsize, has_data, plen, &size, &pad, err)) != CLIP_OK)
		return rc;
	if (kind != K_LABEL && (rc = emit_entry(t, type, plen, size, err)) != CLIP_OK)
		return rc;
	reset_pending(t);
	t->st = size + pad > 0 ? ST_SKIP : ST_HEADER;
	t->data_size = size;
	t->data_left = size;
	t->pad_left = pad;
	return CLIP_OK;
}

/* ---------------------------------------------------------------------
 * Extended headers */

static clip_err
ext_header(clip_tar *t, char tf, int64_t size, struct clip_error *err)
{
	size_t cap = (tf == 'L' || tf == 'K') ? TAR_LONGNAME_MAX : TAR_PAX_MAX;
	uint8_t *p;

	if ((uint64_t)size > cap)
		return clip_error_set(err, CLIP_ERR_TOOBIG,
		    "tar header at offset %llu: '%c' extended header of %lld "
		    "bytes exceeds the limit of %zu",
		    (unsigned long long)t->hdr_offset, tf, (long long)size, cap);
	if ((size_t)size + 1 > t->ext_cap) {
		p = realloc(t->ext, (size_t)size + 1);
		if (p == NULL)
			return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
		t->ext = p;
		t->ext_cap = (size_t)size + 1;
	}
	t->ext_type = tf;
	t->ext_len = (size_t)size;
	t->ext_fill = 0;
	t->st = ST_EXT;
	if (tf != 'g')
		t->pending = true;
	return CLIP_OK;
}

static clip_err
set_long(char **dst, size_t *dlen, const uint8_t *buf, size_t len,
    struct clip_error *err)
{
	/* GNU long names are C strings: bsdtar, GNU tar and Go cut at NUL. */
	size_t n = field_len(buf, len);
	char *s = malloc(n + 1);

	if (s == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	memcpy(s, buf, n);
	s[n] = '\0';
	free(*dst);
	*dst = s;
	*dlen = n;
	return CLIP_OK;
}

static clip_err
ext_done(clip_tar *t, struct clip_error *err)
{
	struct tar_pax global = { 0 };
	clip_err rc = CLIP_OK;

	switch (t->ext_type) {
	case 'L':
		rc = set_long(&t->longname, &t->longname_len, t->ext, t->ext_len, err);
		break;
	case 'K':
		rc = set_long(&t->longlink, &t->longlink_len, t->ext, t->ext_len, err);
		break;
	case 'x':
	case 'X':
		tar_pax_clear(&t->local);
		rc = tar_pax_parse(&t->local, t->ext, t->ext_len, err);
		break;
	case 'g':
		/* Checked like any header, then ignored for the entries after
		 * it, as Go's archive/tar and so containerd and Docker do (POSIX
		 * makes its records defaults; see clip(5)). */
		rc = tar_pax_parse(&global, t->ext, t->ext_len, err);
		tar_pax_clear(&global);
		break;
	}
	if (rc != CLIP_OK)
		return clip_error_prefix(err, "tar header at offset %llu",
		    (unsigned long long)t->hdr_offset);
	t->st = ST_SKIP;
	t->data_size = t->ext_len;
	t->data_left = 0;
	t->pad_left = (BLOCK - (t->ext_len % BLOCK)) % BLOCK;
	return CLIP_OK;
}

/* ---------------------------------------------------------------------
 * The block loop */

static clip_err
header_block(clip_tar *t, struct clip_error *err)
{
	const uint8_t *h = t->hdr;
	unsigned long long at = (unsigned long long)t->hdr_offset;
	int64_t size;
	char tf;

	if (all_zero(h, BLOCK)) {
		if (t->pending)
			return clip_error_set(err, CLIP_ERR_TAR,
			    "end of archive at offset %llu right after an "
			    "extended header", at);
		t->st = ST_ZERO;
		t->zero_left = BLOCK;
		return CLIP_OK;
	}
	if (!checksum_ok(h))
		return clip_error_set(err, CLIP_ERR_TAR,
		    "tar header at offset %llu: bad checksum (not a tar "
		    "header)", at);
	if (!parse_number(h + H_SIZE, 12, &size))
		return clip_error_set(err, CLIP_ERR_TAR,
		    "tar header at offset %llu: bad size field", at);
	if (size < 0)
		return clip_error_set(err, CLIP_ERR_TAR,
		    "tar header at offset %llu: negative size %lld", at,
		    (long long)size);
	tf = (char)h[H_TYPE];
	switch (tf) {
	case 'L': case 'K': case 'x': case 'X': case 'g':
		return ext_header(t, tf, size, err);
	default:
		return entry_header(t, size, err);
	}
}

static clip_err
feed(clip_tar *t, const uint8_t *buf, size_t len, struct clip_error *err)
{
	clip_err rc;
	size_t n;

	while (len > 0) {
		switch (t->st) {
		case ST_HEADER:
			if (t->hdr_fill == 0)
				t->hdr_offset = t->offset;
			n = BLOCK - t->hdr_fill;
			if (n > len)
				n = len;
			memcpy(t->hdr + t->hdr_fill, buf, n);
			t->hdr_fill += n;
			buf += n;
			len -= n;
			t->offset += n;
			if (t->hdr_fill < BLOCK)
				break;
			t->hdr_fill = 0;
			rc = header_block(t, err);
			if (rc != CLIP_OK)
				return rc;
			break;
		case ST_SKIP:
			if (t->data_left > 0) {
				n = t->data_left < len ? (size_t)t->data_left : len;
				t->data_left -= n;
			} else {
				n = t->pad_left < len ? (size_t)t->pad_left : len;
				t->pad_left -= n;
			}
			buf += n;
			len -= n;
			t->offset += n;
			if (t->data_left == 0 && t->pad_left == 0)
				t->st = ST_HEADER;
			break;
		case ST_EXT:
			n = t->ext_len - t->ext_fill;
			if (n > len)
				n = len;
			memcpy(t->ext + t->ext_fill, buf, n);
			t->ext_fill += n;
			buf += n;
			len -= n;
			t->offset += n;
			if (t->ext_fill < t->ext_len)
				break;
			rc = ext_done(t, err);
			if (rc != CLIP_OK)
				return rc;
			if (t->st == ST_SKIP && t->pad_left == 0)
				t->st = ST_HEADER;
			break;
		case ST_ZERO:
		case ST_END:
			n = len;
			if (t->st == ST_ZERO && n > t->zero_left)
				n = t->zero_left;
			if (!all_zero(buf, n)) {
				size_t i = 0;

				while (buf[i] == 0)
					i++;
				return clip_error_set(err, CLIP_ERR_TAR,
				    t->st == ST_ZERO ?
				    "non-zero data at offset %llu after a zero block "
				    "(a lone zero block inside the archive)" :
				    "garbage after end of archive at offset %llu",
				    (unsigned long long)(t->offset + i));
			}
			buf += n;
			len -= n;
			t->offset += n;
			if (t->st == ST_ZERO) {
				t->zero_left -= n;
				if (t->zero_left == 0)
					t->st = ST_END;
			}
			break;
		}
	}
	/* A zero-length extended header completes without any input. */
	if (t->st == ST_EXT && t->ext_fill == t->ext_len) {
		rc = ext_done(t, err);
		if (rc != CLIP_OK)
			return rc;
		if (t->pad_left == 0)
			t->st = ST_HEADER;
	}
	return CLIP_OK;
}

clip_err
clip_tar_feed(clip_tar *t, const uint8_t *buf, size_t len,
    struct clip_error *err)
{
	clip_err rc;

	if (t == NULL || (buf == NULL && len > 0))
		return clip_error_set(err, CLIP_ERR_INVALID,
		    "clip_tar_feed: NULL argument");
	if (t->failed != CLIP_OK)
		return clip_error_set(err, t->failed,
		    "tar stream: parsing already failed");
	rc = feed(t, buf, len, err);
	if (rc != CLIP_OK)
		t->failed = rc;
	return rc;
}

clip_err
clip_tar_finish(clip_tar *t, struct clip_error *err)
{
	char q[QMAX];

	if (t == NULL)
		return clip_error_set(err, CLIP_ERR_INVALID,
		    "clip_tar_finish: NULL argument");
	if (t->failed != CLIP_OK)
		return clip_error_set(err, t->failed,
		    "tar stream: parsing already failed");
	switch (t->st) {
	case ST_HEADER:
		if (t->hdr_fill > 0)
			return clip_error_set(err, CLIP_ERR_TAR,
			    "tar stream truncated inside the header at offset %llu",
			    (unsigned long long)t->hdr_offset);
		break;
	case ST_EXT:
		return clip_error_set(err, CLIP_ERR_TAR,
		    "tar stream truncated inside the extended header at offset %llu",
		    (unsigned long long)t->hdr_offset);
	case ST_SKIP:
		/* Data complete but padding missing: fine (umoci). */
		if (t->data_left > 0)
			return clip_error_set(err, CLIP_ERR_TAR,
			    "tar stream truncated inside the data of \"%s\" "
			    "(%llu of %llu bytes missing)",
			    tar_quote(t->path, t->path_len, q, sizeof(q)),
			    (unsigned long long)t->data_left,
			    (unsigned long long)t->data_size);
		break;
	case ST_ZERO:
	case ST_END:
		return CLIP_OK;
	}
	if (t->pending)
		return clip_error_set(err, CLIP_ERR_TAR,
		    "tar stream truncated after the extended header at offset %llu",
		    (unsigned long long)t->hdr_offset);
	return CLIP_OK;
}
