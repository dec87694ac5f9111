/*
 * test_tar.c - the tar push parser against independent references.
 *
 * Archives come from GNU tar (built here, from a tree we made and can
 * stat), from Python's tarfile (offsets, PAX records it writes), from
 * Go's archive/tar corpus (tests/data/tar, expectations from Go's
 * reader_test.go), and from bytes written here for hostile cases.
 * Every archive is parsed whole, one byte at a time and in random
 * chunks, and the three runs must agree.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>

#include "common/tar/tar.h"
#include "tests/unit/test.h"

/* ------------------------------------------------------------------ */
/* Collecting entries */

struct xattr_copy {
	char *name;
	uint8_t *value;
	size_t len;
};

struct ent {
	char *path;
	size_t path_len;
	char *link;                 /* NULL if none */
	size_t link_len;
	enum clip_tar_type type;
	uint32_t mode, uid, gid, devmajor, devminor;
	uint64_t size, data_offset;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	struct xattr_copy *x;
	size_t nx;
};

struct ents {
	struct ent *v;
	size_t n;
	int bad;                    /* an entry broke the header's promises */
	size_t fail_at;             /* callback fails on this entry (1-based) */
};

static void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		abort();
	return p;
}

static void *
xmemdup(const void *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static void
ents_free(struct ents *es)
{
	size_t i, j;

	for (i = 0; i < es->n; i++) {
		free(es->v[i].path);
		free(es->v[i].link);
		for (j = 0; j < es->v[i].nx; j++) {
			free(es->v[i].x[j].name);
			free(es->v[i].x[j].value);
		}
		free(es->v[i].x);
	}
	free(es->v);
	memset(es, 0, sizeof(*es));
}

/* The normalised-path promise of tar.h. */
static int
path_ok(const char *p, size_t n)
{
	size_t i, start = 0;

	if (p[n] != '\0' || strlen(p) != n)
		return 0;
	if (n == 0)
		return 1;
	if (p[0] == '/' || p[n - 1] == '/')
		return 0;
	for (i = 0; i <= n; i++) {
		if (i == n || p[i] == '/') {
			size_t c = i - start;

			if (c == 0 || (c == 1 && p[start] == '.') ||
			    (c == 2 && p[start] == '.' && p[start + 1] == '.'))
				return 0;
			start = i + 1;
		}
	}
	return 1;
}

static clip_err
on_entry(void *ctx, const struct clip_tar_entry *e, struct clip_error *err)
{
	struct ents *es = ctx;
	struct ent *d;
	size_t i;

	if (es->fail_at != 0 && es->n + 1 == es->fail_at)
		return clip_error_set(err, CLIP_ERR_CANCELLED, "stop here");
	es->v = realloc(es->v, (es->n + 1) * sizeof(*es->v));
	if (es->v == NULL)
		abort();
	d = &es->v[es->n++];
	memset(d, 0, sizeof(*d));
	if (!path_ok(e->path, e->path_len))
		es->bad = 1;
	if (e->type != CLIP_TAR_REG && e->size != 0)
		es->bad = 1;
	if ((e->mode & ~07777u) != 0)
		es->bad = 1;
	if ((e->type == CLIP_TAR_SYMLINK || e->type == CLIP_TAR_HARDLINK) !=
	    (e->linkpath != NULL))
		es->bad = 1;
	if (e->type == CLIP_TAR_HARDLINK && !path_ok(e->linkpath, e->linkpath_len))
		es->bad = 1;
	d->path = xmemdup(e->path, e->path_len);
	d->path_len = e->path_len;
	if (e->linkpath != NULL) {
		d->link = xmemdup(e->linkpath, e->linkpath_len);
		d->link_len = e->linkpath_len;
	}
	d->type = e->type;
	d->mode = e->mode;
	d->uid = e->uid;
	d->gid = e->gid;
	d->devmajor = e->devmajor;
	d->devminor = e->devminor;
	d->size = e->size;
	d->data_offset = e->data_offset;
	d->mtime_sec = e->mtime_sec;
	d->mtime_nsec = e->mtime_nsec;
	d->nx = e->nxattrs;
	d->x = xmalloc(e->nxattrs * sizeof(*d->x));
	for (i = 0; i < e->nxattrs; i++) {
		d->x[i].name = xmemdup(e->xattrs[i].name, strlen(e->xattrs[i].name));
		d->x[i].value = xmemdup(e->xattrs[i].value, e->xattrs[i].len);
		d->x[i].len = e->xattrs[i].len;
	}
	return CLIP_OK;
}

enum { WHOLE, BYTES, RANDOM };

/* Feeds buf in the given chunking, then finishes; entries go to es. */
static clip_err
parse_chunked(const uint8_t *buf, size_t len, int how, struct ents *es,
    struct clip_error *err)
{
	uint32_t rng = 0x12345u + (uint32_t)len;
	size_t pos = 0, n;
	clip_tar *t = NULL;
	clip_err rc;

	clip_error_clear(err);
	rc = clip_tar_new(on_entry, es, &t, err);
	if (rc != CLIP_OK)
		return rc;
	while (pos < len) {
		if (how == WHOLE) {
			n = len - pos;
		} else if (how == BYTES) {
			n = 1;
		} else {
			rng = rng * 1103515245u + 12345u;
			n = 1 + (rng >> 8) % ((rng & 0x100) ? 3000 : 9);
		}
		if (n > len - pos)
			n = len - pos;
		rc = clip_tar_feed(t, buf + pos, n, err);
		if (rc != CLIP_OK)
			break;
		pos += n;
		if (clip_tar_offset(t) != pos)
			es->bad = 1;
	}
	if (rc == CLIP_OK)
		rc = clip_tar_finish(t, err);
	clip_tar_free(t);
	return rc;
}

static int
ent_equal(const struct ent *a, const struct ent *b)
{
	size_t i;

	if (a->path_len != b->path_len || memcmp(a->path, b->path, a->path_len) ||
	    (a->link == NULL) != (b->link == NULL) ||
	    (a->link && (a->link_len != b->link_len ||
	    memcmp(a->link, b->link, a->link_len))) ||
	    a->type != b->type || a->mode != b->mode || a->uid != b->uid ||
	    a->gid != b->gid || a->devmajor != b->devmajor ||
	    a->devminor != b->devminor || a->size != b->size ||
	    a->data_offset != b->data_offset || a->mtime_sec != b->mtime_sec ||
	    a->mtime_nsec != b->mtime_nsec || a->nx != b->nx)
		return 0;
	for (i = 0; i < a->nx; i++)
		if (strcmp(a->x[i].name, b->x[i].name) || a->x[i].len != b->x[i].len ||
		    memcmp(a->x[i].value, b->x[i].value, a->x[i].len))
			return 0;
	return 1;
}

/*
 * Parses buf three ways; returns the whole-buffer result (entries in
 * es, detail in err) and sets *agree if all three runs gave the same
 * code and the same entries, and no entry broke a promise.
 */
static clip_err
parse_all(const uint8_t *buf, size_t len, struct ents *es, struct clip_error *err,
    int *agree)
{
	struct ents other;
	struct clip_error e2;
	clip_err rc, rc2;
	size_t i;
	int how;

	memset(es, 0, sizeof(*es));
	rc = parse_chunked(buf, len, WHOLE, es, err);
	*agree = !es->bad;
	for (how = BYTES; how <= RANDOM; how++) {
		memset(&other, 0, sizeof(other));
		rc2 = parse_chunked(buf, len, how, &other, &e2);
		if (rc2 != rc || other.n != es->n || other.bad) {
			fprintf(stderr, "chunking %d: rc %d vs %d, %zu vs %zu entries (%s)\n",
			    how, rc2, rc, other.n, es->n, clip_error_message(&e2));
			*agree = 0;
		} else {
			for (i = 0; i < es->n; i++)
				if (!ent_equal(&es->v[i], &other.v[i]))
					*agree = 0;
		}
		ents_free(&other);
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* Small helpers */

static int
sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (rc < 0 || (size_t)rc >= sizeof(cmd))
		return -1;
	rc = system(cmd);
	return rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static uint8_t *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p = NULL;
	size_t cap = 0, n = 0, r;

	*len = 0;
	if (f == NULL)
		return NULL;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			p = realloc(p, cap);
			if (p == NULL)
				abort();
		}
		r = fread(p + n, 1, cap - n, f);
		if (r == 0)
			break;
		n += r;
	}
	fclose(f);
	*len = n;
	return p ? p : xmalloc(1);
}

static int
spew(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	ssize_t w;

	if (fd < 0)
		return -1;
	w = write(fd, data, len);
	close(fd);
	return w == (ssize_t)len && chmod(path, mode) == 0 ? 0 : -1;
}

/* Bytes as text, with non-printables as \xNN, for comparing to literals. */
static void
esc(char *out, size_t outsz, const void *data, size_t n)
{
	const uint8_t *s = data;
	size_t o = strlen(out), i;

	for (i = 0; i < n && o + 5 < outsz; i++) {
		if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\')
			out[o++] = (char)s[i];
		else
			o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", s[i]);
	}
	out[o] = '\0';
}

static const char type_chars[] = "-hlcbdp";

/* "path|t|size|mode|uid|gid|sec.nsec|link|maj,min@offset[ xattr=value]..." */
static char *
fmt_ent(const struct ent *e, char *out, size_t outsz)
{
	char tail[160];
	size_t i;

	out[0] = '\0';
	esc(out, outsz, e->path, e->path_len);
	snprintf(tail, sizeof(tail), "|%c|%llu|%o|%u|%u|%lld.%09u|",
	    type_chars[e->type], (unsigned long long)e->size, e->mode, e->uid,
	    e->gid, (long long)e->mtime_sec, e->mtime_nsec);
	strncat(out, tail, outsz - strlen(out) - 1);
	if (e->link)
		esc(out, outsz, e->link, e->link_len);
	snprintf(tail, sizeof(tail), "|%u,%u@%llu", e->devmajor, e->devminor,
	    (unsigned long long)e->data_offset);
	strncat(out, tail, outsz - strlen(out) - 1);
	for (i = 0; i < e->nx; i++) {
		strncat(out, " ", outsz - strlen(out) - 1);
		esc(out, outsz, e->x[i].name, strlen(e->x[i].name));
		strncat(out, "=", outsz - strlen(out) - 1);
		esc(out, outsz, e->x[i].value, e->x[i].len);
	}
	return out;
}

/* ------------------------------------------------------------------ */
/* Writing archives by hand */

struct buf {
	uint8_t *p;
	size_t n, cap;
};

static void
buf_put(struct buf *b, const void *data, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 4096;
		b->p = realloc(b->p, b->cap);
		if (b->p == NULL)
			abort();
	}
	if (data)
		memcpy(b->p + b->n, data, n);
	else
		memset(b->p + b->n, 0, n);
	b->n += n;
}

static void
buf_pad(struct buf *b)
{
	buf_put(b, NULL, (512 - b->n % 512) % 512);
}

static void
set_checksum(uint8_t *h)
{
	unsigned sum = 0;
	int i;

	memset(h + 148, ' ', 8);
	for (i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
}

/* Big-endian base-256 of v (two's complement) into the field f[0..n). */
static void
put_b256(uint8_t *f, size_t n, int64_t v)
{
	size_t i;

	for (i = n; i-- > 0; ) {
		f[i] = (uint8_t)(v & 0xff);
		v >>= 8;             /* arithmetic: negative stays negative */
	}
	f[0] |= 0x80;
}

/* A ustar header; sizes that do not fit 11 octal digits go base-256. */
static void
mk_header(uint8_t *h, const char *name, char type, uint64_t size,
    const char *link)
{
	memset(h, 0, 512);
	memcpy(h, name, strnlen(name, 100));
	memcpy(h + 100, "0000644", 7);
	memcpy(h + 108, "0001750", 7);
	memcpy(h + 116, "0001751", 7);
	if (size < (1ull << 33))
		snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
	else
		put_b256(h + 124, 12, (int64_t)size);
	memcpy(h + 136, "14530242400", 11);   /* 1700000000 */
	h[156] = (uint8_t)type;
	if (link)
		memcpy(h + 157, link, strnlen(link, 100));
	memcpy(h + 257, "ustar\0" "00", 8);
	set_checksum(h);
}

static void
add_entry(struct buf *b, const char *name, char type, const char *data,
    size_t n)
{
	uint8_t h[512];

	mk_header(h, name, type, n, NULL);
	buf_put(b, h, 512);
	buf_put(b, data, n);
	buf_pad(b);
}

/* An extended header ('x', 'g', 'L', 'K') with this payload. */
static void
add_ext(struct buf *b, char type, const void *payload, size_t n)
{
	uint8_t h[512];

	mk_header(h, "././@ext", type, n, NULL);
	buf_put(b, h, 512);
	buf_put(b, payload, n);
	buf_pad(b);
}

/* Appends one PAX record "LEN key=value\n" to s. */
static void
pax_rec(struct buf *s, const char *key, const void *val, size_t vlen)
{
	size_t body = 1 + strlen(key) + 1 + vlen + 1, len = body + 1;
	char num[24];

	while (snprintf(num, sizeof(num), "%zu", len) + body != len)
		len = (size_t)snprintf(num, sizeof(num), "%zu", len) + body;
	buf_put(s, num, strlen(num));
	buf_put(s, " ", 1);
	buf_put(s, key, strlen(key));
	buf_put(s, "=", 1);
	buf_put(s, val, vlen);
	buf_put(s, "\n", 1);
}

static void
add_pax(struct buf *b, char type, const char *key, const char *val)
{
	struct buf s = { 0 };

	pax_rec(&s, key, val, strlen(val));
	add_ext(b, type, s.p, s.n);
	free(s.p);
}

/* Parses b; checks the code, that the detail mentions what, and that
 * all chunkings agree.  Returns 1 if so, printing why not otherwise. */
static int
expect_rc(const struct buf *b, clip_err want, const char *what, size_t *nents)
{
	struct clip_error e;
	struct ents es;
	clip_err rc;
	int agree, ok;

	rc = parse_all(b->p, b->n, &es, &e, &agree);
	ok = rc == want && agree &&
	    (what == NULL || strstr(clip_error_message(&e), what) != NULL);
	if (!ok)
		fprintf(stderr, "  want %s \"%s\", got %s \"%s\" (agree=%d)\n",
		    clip_strerror(want), what ? what : "", clip_strerror(rc),
		    rc ? clip_error_message(&e) : "", agree);
	if (nents)
		*nents = es.n;
	ents_free(&es);
	return ok;
}

/* ------------------------------------------------------------------ */
/* clip_tar_normalize */

TEST(test_normalize)
{
	static const struct { const char *in; const char *out; } ok[] = {
		{ "", "" }, { ".", "" }, { "./", "" }, { "/", "" }, { "///", "" },
		{ "a", "a" }, { "./a", "a" }, { "/a/b/", "a/b" }, { "//a//b//", "a/b" },
		{ "./a/./b/.", "a/b" }, { "a/.../b", "a/.../b" }, { "..a/b..", "..a/b.." },
		{ ".hidden/.x", ".hidden/.x" }, { "././.", "" }, { "caf\xe9/x", "caf\xe9/x" },
	};
	static const char *bad[] = { "..", "../a", "a/..", "a/../b", "/..", "./../", "a//..//" };
	struct clip_error e;
	char p[64];
	size_t i, n;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		n = strlen(ok[i].in);
		memset(p, 'Z', sizeof(p));
		memcpy(p, ok[i].in, n);
		CHECK_OK(clip_tar_normalize(p, &n, &e), &e);
		CHECK_MSG(n == strlen(ok[i].out) && memcmp(p, ok[i].out, n) == 0,
		    "\"%s\" -> \"%.*s\"", ok[i].in, (int)n, p);
		/* NUL-terminated whenever it shrank. */
		CHECK(n == strlen(ok[i].in) || p[n] == '\0');
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = strlen(bad[i]);
		memcpy(p, bad[i], n + 1);
		CHECK(clip_tar_normalize(p, &n, &e) == CLIP_ERR_TAR);
		CHECK(strstr(e.msg, bad[i]) != NULL);
		CHECK(strstr(e.msg, "..") != NULL);
	}
	n = 3;
	memcpy(p, "a\0b", 4);
	CHECK(clip_tar_normalize(p, &n, &e) == CLIP_ERR_TAR);
	/* Unchanged length: nothing written past it. */
	n = 3;
	memcpy(p, "abcZ", 4);
	CHECK_OK(clip_tar_normalize(p, &n, &e), &e);
	CHECK(n == 3 && p[3] == 'Z');
}

/* ------------------------------------------------------------------ */
/* GNU tar archives of a tree we made */

#define LONG1 250
#define DEEP 20

static char long_dir[LONG1 + 1], long_file[LONG1 + 1];

static int
make_tree(int with_dev)
{
	static uint8_t big[70001];
	char path[4096];
	struct timespec ts[2];
	size_t i, o;
	int ok = 0;

	memset(long_dir, 'L', LONG1);
	memset(long_file, 'l', LONG1);
	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 2654435761u >> 13);
	ok |= mkdir("tree", 0755);
	ok |= spew("tree/empty", "", 0, 0644);
	ok |= spew("tree/hello.txt", "hello, world\n", 13, 0644);
	ok |= spew("tree/big.bin", big, sizeof(big), 0600);
	ok |= spew("tree/suid", "#!/bin/sh\n", 10, 04711);
	ok |= spew("tree/caf\xe9", "latin-1 name\n", 13, 0640);
	ok |= mkdir("tree/sub", 0750) | chmod("tree/sub", 0750);
	ok |= spew("tree/sub/exec.sh", "#!/bin/sh\necho hi\n", 18, 0755);
	ok |= symlink("../hello.txt", "tree/sub/link");
	ok |= symlink("/etc/../etc/passwd", "tree/sub/abs");
	ok |= link("tree/hello.txt", "tree/hard");
	ok |= mkfifo("tree/fifo", 0620) | chmod("tree/fifo", 0620);
	snprintf(path, sizeof(path), "tree/%s", long_dir);
	ok |= mkdir(path, 0755);
	snprintf(path, sizeof(path), "tree/%s/%s", long_dir, long_file);
	ok |= spew(path, "long\n", 5, 0644);
	o = (size_t)snprintf(path, sizeof(path), "tree");
	for (i = 0; i < DEEP; i++) {
		o += (size_t)snprintf(path + o, sizeof(path) - o, "/d%02zu_pad", i);
		ok |= mkdir(path, 0755);
	}
	snprintf(path + o, sizeof(path) - o, "/deepfile");
	ok |= spew(path, "deep\n", 5, 0644);
	if (with_dev) {
		/* Needs CAP_MKNOD; the Go corpus covers devices otherwise. */
		if (mknod("tree/null", S_IFCHR | 0666, makedev(1, 3)) != 0 ||
		    mknod("tree/disk", S_IFBLK | 0660, makedev(8, 17)) != 0) {
			unlink("tree/null");
		}
	}
	if (ok != 0)
		return -1;
	/* Nanosecond mtimes, deepest first so directories keep theirs. */
	ts[0].tv_sec = ts[1].tv_sec = 1600000000;
	ts[0].tv_nsec = ts[1].tv_nsec = 123456789;
	return sh("cd tree && find . -depth -print0 | xargs -0 touch -h -d "
	    "'@1600000000.123456789'") == 0 ? 0 : -1;
}

static int tree_count;

static int
count_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)p; (void)st; (void)flag; (void)ftw;
	tree_count++;
	return 0;
}

/* Compares one parsed entry with the file it came from. */
static int
check_against_disk(const struct ent *e, const uint8_t *tarbytes, size_t tarlen,
    uint32_t uid, uint32_t gid, int have_nsec)
{
	char path[8192], target[4096];
	struct stat st, lst;
	uint8_t *content;
	size_t clen;
	ssize_t r;

	snprintf(path, sizeof(path), "tree%s%s", e->path_len ? "/" : "", e->path);
	if (lstat(path, &st) != 0)
		return fprintf(stderr, "%s: not on disk\n", path), 0;
	if (e->uid != uid || e->gid != gid)
		return fprintf(stderr, "%s: owner %u:%u\n", path, e->uid, e->gid), 0;
	if (e->mode != (st.st_mode & 07777))
		return fprintf(stderr, "%s: mode %o vs %o\n", path, e->mode,
		    st.st_mode & 07777), 0;
	if (e->mtime_sec != st.st_mtim.tv_sec ||
	    e->mtime_nsec != (have_nsec ? (uint32_t)st.st_mtim.tv_nsec : 0))
		return fprintf(stderr, "%s: mtime %lld.%09u\n", path,
		    (long long)e->mtime_sec, e->mtime_nsec), 0;
	switch (e->type) {
	case CLIP_TAR_REG:
		if (!S_ISREG(st.st_mode) || e->size != (uint64_t)st.st_size ||
		    e->data_offset + e->size > tarlen)
			return fprintf(stderr, "%s: regular size %llu\n", path,
			    (unsigned long long)e->size), 0;
		content = slurp(path, &clen);
		if (content == NULL || clen != e->size ||
		    memcmp(content, tarbytes + e->data_offset, clen) != 0) {
			free(content);
			return fprintf(stderr, "%s: data differs at offset %llu\n",
			    path, (unsigned long long)e->data_offset), 0;
		}
		free(content);
		return 1;
	case CLIP_TAR_HARDLINK:
		snprintf(target, sizeof(target), "tree/%s", e->link);
		if (!S_ISREG(st.st_mode) || lstat(target, &lst) != 0 ||
		    lst.st_ino != st.st_ino)
			return fprintf(stderr, "%s: bad hard link to %s\n", path,
			    e->link), 0;
		return 1;
	case CLIP_TAR_SYMLINK:
		r = readlink(path, target, sizeof(target));
		if (!S_ISLNK(st.st_mode) || r < 0 || (size_t)r != e->link_len ||
		    memcmp(target, e->link, (size_t)r) != 0)
			return fprintf(stderr, "%s: bad symlink -> %s\n", path,
			    e->link), 0;
		return 1;
	case CLIP_TAR_DIR:
		return S_ISDIR(st.st_mode);
	case CLIP_TAR_FIFO:
		return S_ISFIFO(st.st_mode);
	case CLIP_TAR_CHR:
	case CLIP_TAR_BLK:
		return (e->type == CLIP_TAR_CHR ? S_ISCHR(st.st_mode) :
		    S_ISBLK(st.st_mode)) && e->devmajor == major(st.st_rdev) &&
		    e->devminor == minor(st.st_rdev);
	}
	return 0;
}

/* Checks the parse against Python's tarfile: same members, offsets, sizes. */
static int
check_against_python(const char *tarname, const struct ents *es)
{
	char line[16384], name[8192];
	unsigned long long off, size;
	struct clip_error e;
	size_t i = 0, n, j;
	FILE *f;
	int ok = 1;

	if (sh("python3 -c 'import os, sys, tarfile\n"
	    "with tarfile.open(sys.argv[1]) as tf, open(sys.argv[2], \"w\") as o:\n"
	    "    for m in tf:\n"
	    "        o.write(\"%%s %%d %%d\\n\" %% (os.fsencode(m.name).hex() or \"-\","
	    " m.offset_data, m.size if m.isreg() else 0))\n' %s py.lst", tarname) != 0)
		return fprintf(stderr, "python3 tarfile failed\n"), 0;
	f = fopen("py.lst", "r");
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		char hex[16384];

		if (sscanf(line, "%16383s %llu %llu", hex, &off, &size) != 3) {
			ok = 0;
			break;
		}
		n = strcmp(hex, "-") == 0 ? 0 : strlen(hex) / 2;
		for (j = 0; j < n; j++) {
			unsigned v;

			sscanf(hex + 2 * j, "%2x", &v);
			name[j] = (char)v;
		}
		name[n] = '\0';
		if (clip_tar_normalize(name, &n, &e) != CLIP_OK || i >= es->n ||
		    n != es->v[i].path_len || memcmp(name, es->v[i].path, n) != 0 ||
		    off != es->v[i].data_offset || size != es->v[i].size) {
			fprintf(stderr, "python member %zu \"%s\" @%llu size %llu differs\n",
			    i, name, off, size);
			ok = 0;
			break;
		}
		i++;
	}
	fclose(f);
	return ok && i == es->n;
}

static void
check_gnu_tar_format(const char *format, const char *extra, uint32_t uid,
    uint32_t gid, int have_nsec, int with_long)
{
	char tarname[64], tail[512];
	struct clip_error e;
	struct ents es;
	uint8_t *bytes;
	size_t len, i, nreg = 0, nroot = 0, nlink = 0;
	int agree;

	snprintf(tarname, sizeof(tarname), "%s.tar", format);
	snprintf(tail, sizeof(tail), "--exclude=%s --exclude=d00_pad", long_dir);
	CHECK(sh("tar --format=%s %s -cf %s -C tree %s .", format, extra, tarname,
	    with_long ? "" : tail) == 0);
	bytes = slurp(tarname, &len);
	CHECK(bytes != NULL && len > 0);
	CHECK_OK(parse_all(bytes, len, &es, &e, &agree), &e);
	CHECK(agree);
	tree_count = 0;
	CHECK(nftw("tree", count_cb, 16, FTW_PHYS) == 0);
	if (!with_long)
		tree_count -= 2 + DEEP + 1;
	CHECK_MSG(es.n == (size_t)tree_count, "%s: %zu entries, %d on disk",
	    format, es.n, tree_count);
	for (i = 0; i < es.n; i++) {
		const struct ent *x = &es.v[i];

		CHECK_MSG(check_against_disk(x, bytes, len, uid, gid, have_nsec),
		    "%s: entry %zu \"%s\"", format, i, x->path);
		nreg += x->type == CLIP_TAR_REG;
		nroot += x->path_len == 0;
		nlink += x->type == CLIP_TAR_HARDLINK;
		if (with_long && x->path_len == LONG1 * 2 + 1)
			CHECK(memcmp(x->path, long_dir, LONG1) == 0 &&
			    memcmp(x->path + LONG1 + 1, long_file, LONG1) == 0);
	}
	CHECK(nroot == 1 && nlink == 1 && nreg >= 6);
	CHECK_MSG(check_against_python(tarname, &es), "%s: python disagrees", format);
	ents_free(&es);
	free(bytes);
}

TEST(test_gnu_tar_gnu)
{
	CHECK(make_tree(1) == 0);
	/* uid/gid above 07777777 force GNU base-256 fields. */
	check_gnu_tar_format("gnu", "--owner=u:3000000 --group=g:3000001",
	    3000000, 3000001, 0, 1);
}

TEST(test_gnu_tar_oldgnu)
{
	CHECK(make_tree(1) == 0);
	check_gnu_tar_format("oldgnu", "--owner=u:3000000 --group=g:3000001",
	    3000000, 3000001, 0, 1);
}

TEST(test_gnu_tar_posix)
{
	CHECK(make_tree(1) == 0);
	check_gnu_tar_format("posix", "--owner=u:3000000 --group=g:3000001",
	    3000000, 3000001, 1, 1);
}

TEST(test_gnu_tar_ustar)
{
	CHECK(make_tree(1) == 0);
	/* The deep path (170 bytes) needs ustar's prefix field. */
	check_gnu_tar_format("ustar", "--owner=u:1234 --group=g:1235",
	    1234, 1235, 0, 0);
	CHECK(sh("tar --format=ustar --owner=u:1 --group=g:2 -cf deep.tar -C tree "
	    "d00_pad") == 0);
	{
		struct clip_error e;
		struct ents es;
		uint8_t *bytes;
		size_t len;
		int agree;

		bytes = slurp("deep.tar", &len);
		CHECK(bytes != NULL);
		CHECK_OK(parse_all(bytes, len, &es, &e, &agree), &e);
		CHECK(agree && es.n == DEEP + 1);
		CHECK(es.v[DEEP].path_len == DEEP * 8 + 8);
		CHECK(check_against_disk(&es.v[DEEP], bytes, len, 1, 2, 0));
		ents_free(&es);
		free(bytes);
	}
}

TEST(test_gnu_tar_v7)
{
	struct clip_error e;
	struct ents es;
	uint8_t *bytes;
	size_t len, i;
	int agree;

	CHECK(make_tree(0) == 0);
	CHECK(sh("tar --format=v7 --owner=u:7 --group=g:8 -cf v7.tar -C tree "
	    "hello.txt empty big.bin sub hard 2>/dev/null") == 0);
	bytes = slurp("v7.tar", &len);
	CHECK(bytes != NULL);
	CHECK_OK(parse_all(bytes, len, &es, &e, &agree), &e);
	CHECK(agree && es.n == 8);
	for (i = 0; i < es.n; i++)
		CHECK_MSG(check_against_disk(&es.v[i], bytes, len, 7, 8, 0),
		    "v7 entry %s", es.v[i].path);
	CHECK(check_against_python("v7.tar", &es));
	ents_free(&es);
	free(bytes);
}

TEST(test_gnu_tar_xattrs)
{
	static const char val[] = "v\0al\xff";
	struct clip_error e;
	struct ents es;
	uint8_t *bytes;
	size_t len, i, found = 0;
	int agree;

	CHECK(spew("f", "x", 1, 0644) == 0);
	if (setxattr("f", "user.clip", val, sizeof(val) - 1, 0) != 0) {
		printf("SKIP: test_gnu_tar_xattrs: no user xattrs here (%s)\n",
		    strerror(errno));
		return;
	}
	CHECK(spew("g", "y", 1, 0644) == 0);
	CHECK(sh("tar --format=posix --xattrs --xattrs-include='user.*' -cf x.tar f g")
	    == 0);
	bytes = slurp("x.tar", &len);
	CHECK(bytes != NULL);
	CHECK_OK(parse_all(bytes, len, &es, &e, &agree), &e);
	CHECK(agree && es.n == 2);
	for (i = 0; i < es.n; i++) {
		if (strcmp(es.v[i].path, "f") == 0) {
			CHECK(es.v[i].nx == 1);
			CHECK(strcmp(es.v[i].x[0].name, "user.clip") == 0);
			CHECK(es.v[i].x[0].len == sizeof(val) - 1);
			CHECK(memcmp(es.v[i].x[0].value, val, sizeof(val) - 1) == 0);
			found++;
		} else {
			CHECK(es.v[i].nx == 0);
		}
	}
	CHECK(found == 1);
	ents_free(&es);
	free(bytes);
}

/* ------------------------------------------------------------------ */
/* PAX records written by Python's tarfile */

TEST(test_python_pax)
{
	struct clip_error e;
	struct ents es;
	uint8_t *bytes;
	size_t len;
	char s[1024];
	int agree;

	/* A 'g' header with uid, mtime and an xattr, then per-file 'x'
	 * records.  The 'g' records are ignored, as Go's reader (and so
	 * containerd) does; Python applies them, but check_against_python
	 * compares only names, offsets and sizes, which they do not touch. */
	CHECK(sh("python3 -c 'import io, tarfile, base64\n"
	    "with tarfile.open(\"py.tar\", \"w\", format=tarfile.PAX_FORMAT,\n"
	    "        pax_headers={\"uid\": \"4242\", \"SCHILY.xattr.user.g\": \"global\",\n"
	    "                     \"mtime\": \"-1.25\"}) as tf:\n"
	    "    t = tarfile.TarInfo(\"./a.txt\"); t.size = 5; t.mtime = 1234567890.5\n"
	    "    t.pax_headers = {\"SCHILY.xattr.user.one\": \"1\",\n"
	    "        \"LIBARCHIVE.xattr.user.b%%3Dx\": base64.b64encode(b\"\\0\\1\\xff\").decode().rstrip(\"=\"),\n"
	    "        \"comment\": \"ignored\", \"uname\": \"nobody\"}\n"
	    "    tf.addfile(t, io.BytesIO(b\"hello\"))\n"
	    "    t = tarfile.TarInfo(\"b\"); t.type = tarfile.SYMTYPE; t.linkname = \"x\" * 300\n"
	    "    t.pax_headers = {\"SCHILY.xattr.user.g\": \"override\", \"gid\": \"77\"}\n"
	    "    tf.addfile(t)\n"
	    "    t = tarfile.TarInfo(\"c\"); t.size = 3\n"
	    "    tf.addfile(t, io.BytesIO(b\"abc\"))\n'") == 0);
	bytes = slurp("py.tar", &len);
	CHECK(bytes != NULL);
	CHECK_OK(parse_all(bytes, len, &es, &e, &agree), &e);
	CHECK(agree && es.n == 3);
	fmt_ent(&es.v[0], s, sizeof(s));
	CHECK_MSG(strcmp(s, "a.txt|-|5|644|0|0|1234567890.500000000||0,0@2560 "
	    "user.one=1 user.b=x=\\x00\\x01\\xff") == 0, "%s", s);
	CHECK(memcmp(bytes + es.v[0].data_offset, "hello", 5) == 0);
	fmt_ent(&es.v[1], s, sizeof(s));
	CHECK_MSG(strncmp(s, "b|l|0|644|0|77|0.000000000|xxxxxxxxxx", 37) == 0 &&
	    strstr(s, "|0,0@") && strstr(s, " user.g=override"), "%s", s);
	CHECK(es.v[1].link_len == 300);
	fmt_ent(&es.v[2], s, sizeof(s));
	CHECK_MSG(strncmp(s, "c|-|3|644|0|0|0.000000000||0,0@", 31) == 0 &&
	    strstr(s, "user.g") == NULL, "%s", s);
	CHECK(memcmp(bytes + es.v[2].data_offset, "abc", 3) == 0);
	CHECK(check_against_python("py.tar", &es));
	ents_free(&es);
	free(bytes);
}

/* ------------------------------------------------------------------ */
/* Go's archive/tar corpus */

struct fixture {
	const char *file;
	clip_err rc;
	const char *msg;            /* substring of the error detail */
	const char *ents[17];       /* fmt_ent() of each entry, NULL-ended */
};

#define R9 "123456789/123456789/123456789/123456789/123456789/123456789/" \
	"123456789/123456789/123456789/"
#define R10 R9 "123456789/"
#define N100 "1234567891011121314151617181920212223242526272829303132333435" \
	"36373839404142434445464748495051525354555657585960616263646566676869" \
	"707172737475767778798081828384858687888990919293949596979899100"
#define LN "longname/longname/longname/longname/longname/longname/longname/" \
	"longname/longname/longname/longname/longname/longname/longname/longname/"
#define A97 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HDRONLY(o1, o2, o3, o4, o5, o6, o7, o8) \
	"dir|d|0|750|319973|5000|1442273732.000000000||0,0@" o1, \
	"fifo|p|0|640|319973|5000|1442273806.000000000||0,0@" o2, \
	"file|-|46|640|319973|5000|1442273747.000000000||0,0@" o3, \
	"hardlink|h|0|640|319973|5000|1442273747.000000000|file|0,0@" o4, \
	"null|c|0|666|319973|5000|1442264573.000000000||1,3@" o5, \
	"sda|b|0|660|319973|5000|1442264573.000000000||8,0@" o6, \
	"symlink|l|0|777|319973|5000|1442273756.000000000|file|0,0@" o7, \
	"badlink|l|0|777|319973|5000|1442274044.000000000|missing|0,0@" o8

static const struct fixture fixtures[] = {
	{ "gnu.tar", CLIP_OK, NULL, {
	    "small.txt|-|5|640|73025|5000|1244428340.000000000||0,0@512",
	    "small2.txt|-|11|640|73025|5000|1244436044.000000000||0,0@1536" } },
	{ "star.tar", CLIP_OK, NULL, {
	    "small.txt|-|5|640|73025|5000|1244592783.000000000||0,0@512",
	    "small2.txt|-|11|640|73025|5000|1244592783.000000000||0,0@1536" } },
	{ "v7.tar", CLIP_OK, NULL, {
	    "small.txt|-|5|444|73025|5000|1244593104.000000000||0,0@512",
	    "small2.txt|-|11|444|73025|5000|1244593104.000000000||0,0@1536" } },
	{ "ustar.tar", CLIP_OK, NULL, {
	    LN "file.txt|-|6|644|501|20|1360135598.000000000||0,0@512" } },
	{ "pax.tar", CLIP_OK, NULL, {
	    "a/" N100 "|-|7|664|1000|1000|1350244992.023960108||0,0@1536",
	    "a/b|l|0|777|1000|1000|1350266320.910238425|" N100 "|0,0@3584" } },
	/* 'g' records are ignored for the entries after them, as Go's
	 * reader (and so containerd and Docker) does; POSIX, GNU tar and
	 * Python apply them (path global1, mtime 1500000000).  Go's
	 * reader_test.go expects these names and mtimes. */
	{ "pax-global-records.tar", CLIP_OK, NULL, {
	    "file1|-|0|0|0|0|0.000000000||0,0@1536",
	    "file2|-|0|0|0|0|0.000000000||0,0@3072",
	    "file3|-|0|0|0|0|0.000000000||0,0@4608",
	    "file4|-|0|0|0|0|1400000000.000000000||0,0@6144" } },
	/* The last of repeated extended headers wins (GNU tar, Go). */
	{ "pax-multi-hdrs.tar", CLIP_OK, NULL, {
	    "bar|l|0|0|0|0|0.000000000|PAX4/PAX4/long-linkpath-name|0,0@4608" } },
	{ "gnu-multi-hdrs.tar", CLIP_OK, NULL, {
	    "GNU2/GNU2/long-path-name|l|0|0|0|0|0.000000000|"
	    "GNU4/GNU4/long-linkpath-name|0,0@4608" } },
	{ "xattrs.tar", CLIP_OK, NULL, {
	    "small.txt|-|5|644|1000|10|1386065770.448252320||0,0@1536 "
	    "user.key=value user.key2=value2 "
	    "security.selinux=unconfined_u:object_r:default_t:s0\\x00",
	    "small2.txt|-|11|644|1000|10|1386065770.449252304||0,0@3584 "
	    "security.selinux=unconfined_u:object_r:default_t:s0\\x00" } },
	{ "nil-uid.tar", CLIP_OK, NULL, {
	    "P1050238.JPG.log|-|14|664|0|0|1365454838.000000000||0,0@512" } },
	{ "gnu-long-nul.tar", CLIP_OK, NULL, {
	    "0123456789|-|0|644|1000|1000|1486082191.000000000||0,0@1536" } },
	{ "gnu-not-utf8.tar", CLIP_OK, NULL, {
	    "hi\\x80\\x81\\x82\\x83bye|-|0|644|1000|1000|0.000000000||0,0@512" } },
	{ "pax-pos-size-file.tar", CLIP_OK, NULL, {
	    "foo|-|999|640|319973|5000|1442282516.000000000||0,0@1536" } },
	{ "trailing-slash.tar", CLIP_OK, NULL, {
	    R10 R10 R9 "123456789|d|0|0|0|0|0.000000000||0,0@1536" } },
	{ "hardlink.tar", CLIP_OK, NULL, {
	    "file.txt|-|15|644|1000|100|1425484303.000000000||0,0@512",
	    "hard.txt|h|0|644|1000|100|1425484303.000000000|file.txt|0,0@1536" } },
	/* A GNU header with a ustar prefix over atime/ctime (Go < 1.8). */
	{ "invalid-go17.tar", CLIP_OK, NULL, {
	    A97 "/foo|-|0|0|2097152|0|0.000000000||0,0@512" } },
	{ "ustar-file-devs.tar", CLIP_OK, NULL, {
	    "file|-|0|644|0|0|0.000000000||0,0@512" } },
	/* Header-only types with a non-zero size field carry no data (Go,
	 * Python; offsets from Python's TarInfo.offset_data). */
	{ "hdr-only.tar", CLIP_OK, NULL, {
	    HDRONLY("512", "1024", "1536", "2560", "3072", "3584", "4096", "4608"),
	    HDRONLY("5120", "5632", "6144", "7168", "7680", "8192", "8704", "9216") } },
	{ "gnu-incremental.tar", CLIP_ERR_UNSUPPORTED,
	    "sparse files are not supported: \"test2/sparse\"", {
	    "test2|d|0|755|1000|1000|1441973427.000000000||0,0@512",
	    "test2/foo|-|64|644|1000|1000|1441973363.000000000||0,0@1536" } },
	{ "gnu-nil-sparse-data.tar", CLIP_ERR_UNSUPPORTED,
	    "sparse files are not supported: \"sparse.db\"", { NULL } },
	{ "pax-nil-sparse-data.tar", CLIP_ERR_UNSUPPORTED,
	    "sparse files are not supported: \"sparse.db\"", { NULL } },
	{ "sparse-formats.tar", CLIP_ERR_UNSUPPORTED,
	    "sparse files are not supported: \"sparse-gnu\"", { NULL } },
	{ "pax-nul-xattrs.tar", CLIP_ERR_TAR, "NUL", { NULL } },
	{ "pax-nul-path.tar", CLIP_ERR_TAR, "NUL", { NULL } },
	{ "neg-size.tar", CLIP_ERR_TAR, NULL, { NULL } },
	{ "issue10968.tar", CLIP_ERR_TAR, NULL, { NULL } },
	{ "issue11169.tar", CLIP_ERR_TAR, NULL, { NULL } },
	{ "issue12435.tar", CLIP_ERR_TAR, NULL, { NULL } },
	{ "pax-bad-hdr-file.tar", CLIP_ERR_TAR, "PAX", { NULL } },
	{ "pax-bad-mtime-file.tar", CLIP_ERR_TAR, "mtime", { NULL } },
};

TEST(test_go_corpus)
{
	const char *top = getenv("top_srcdir");
	char path[4096], s[2048];
	struct clip_error e;
	struct ents es;
	uint8_t *bytes;
	size_t len, i, j, n;
	clip_err rc;
	int agree;

	CHECK_MSG(top != NULL, "top_srcdir is not set (run through make check)");
	for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		const struct fixture *f = &fixtures[i];

		snprintf(path, sizeof(path), "%s/tests/data/tar/%s", top, f->file);
		bytes = slurp(path, &len);
		CHECK_MSG(bytes != NULL, "%s: %s", path, strerror(errno));
		rc = parse_all(bytes, len, &es, &e, &agree);
		CHECK_MSG(rc == f->rc, "%s: got %s (%s)", f->file, clip_strerror(rc),
		    clip_error_message(&e));
		CHECK_MSG(agree, "%s: chunked parses disagree", f->file);
		CHECK_MSG(f->msg == NULL || strstr(e.msg, f->msg) != NULL,
		    "%s: message \"%s\"", f->file, e.msg);
		for (n = 0; f->ents[n] != NULL; n++)
			;
		CHECK_MSG(es.n == n, "%s: %zu entries, want %zu", f->file, es.n, n);
		for (j = 0; j < n; j++)
			CHECK_MSG(strcmp(fmt_ent(&es.v[j], s, sizeof(s)), f->ents[j]) == 0,
			    "%s entry %zu:\n  got  %s\n  want %s", f->file, j, s,
			    f->ents[j]);
		if (strcmp(f->file, "gnu.tar") == 0) {
			CHECK(memcmp(bytes + es.v[0].data_offset, "Kilts", 5) == 0);
			CHECK(memcmp(bytes + es.v[1].data_offset, "Google.com\n", 11) == 0);
		}
		ents_free(&es);
		free(bytes);
	}
}

/* ------------------------------------------------------------------ */
/* Sizes and ends of streams */

TEST(test_huge_sizes)
{
	static uint8_t chunk[1 << 20];
	const uint64_t five = 5ull << 30;
	struct clip_error e;
	struct ents es;
	struct buf b = { 0 };
	uint8_t h[512];
	clip_tar *t;
	uint64_t fed;
	char num[32];

	/* 5 GiB in octal, header only: the callback sees it, finish() says
	 * the data is missing. */
	mk_header(h, "big", '0', five, NULL);
	memset(&es, 0, sizeof(es));
	CHECK_OK(clip_tar_new(on_entry, &es, &t, &e), &e);
	CHECK_OK(clip_tar_feed(t, h, 512, &e), &e);
	CHECK(es.n == 1 && es.v[0].size == five && es.v[0].data_offset == 512);
	CHECK_OK(clip_tar_feed(t, chunk, 1000, &e), &e);
	CHECK(clip_tar_offset(t) == 1512);
	CHECK(clip_tar_finish(t, &e) == CLIP_ERR_TAR);
	CHECK(strstr(e.msg, "truncated") && strstr(e.msg, "\"big\""));
	clip_tar_free(t);

	/* The same, fed all the way: data is counted, never copied. */
	CHECK_OK(clip_tar_new(on_entry, &es, &t, &e), &e);
	CHECK_OK(clip_tar_feed(t, h, 512, &e), &e);
	for (fed = 0; fed < five; fed += sizeof(chunk))
		CHECK_OK(clip_tar_feed(t, chunk, sizeof(chunk), &e), &e);
	CHECK_OK(clip_tar_feed(t, chunk, 1024, &e), &e);
	CHECK_OK(clip_tar_finish(t, &e), &e);
	CHECK(clip_tar_offset(t) == 512 + five + 1024);
	CHECK(es.n == 2);
	clip_tar_free(t);
	ents_free(&es);

	/* PAX size beyond 8 GiB, and a base-256 one, after a first file. */
	add_entry(&b, "first", '0', "12345", 5);
	snprintf(num, sizeof(num), "%llu", 12ull << 30);
	add_pax(&b, 'x', "size", num);
	add_entry(&b, "pax-big", '0', NULL, 0);
	memset(&es, 0, sizeof(es));
	CHECK(parse_chunked(b.p, b.n, BYTES, &es, &e) == CLIP_ERR_TAR);
	CHECK(es.n == 2 && es.v[1].size == 12ull << 30);
	CHECK(es.v[1].data_offset == b.n);
	CHECK(strcmp(es.v[1].path, "pax-big") == 0);
	ents_free(&es);
	b.n = 0;
	mk_header(h, "b256", '0', 10ull << 30, NULL);
	CHECK((h[124] & 0x80) != 0);
	buf_put(&b, h, 512);
	CHECK(parse_chunked(b.p, b.n, WHOLE, &es, &e) == CLIP_ERR_TAR);
	CHECK(es.n == 1 && es.v[0].size == 10ull << 30 && es.v[0].data_offset == 512);
	ents_free(&es);

	/* Sizes whose end does not fit an off_t. */
	b.n = 0;
	mk_header(h, "huge", '0', 0, NULL);
	put_b256(h + 124, 12, INT64_MAX);
	set_checksum(h);
	buf_put(&b, h, 512);
	CHECK(expect_rc(&b, CLIP_ERR_TAR, "overflows", NULL));
	b.n = 0;
	add_pax(&b, 'x', "size", "9223372036854775000");
	add_entry(&b, "huge", '0', NULL, 0);
	CHECK(expect_rc(&b, CLIP_ERR_TAR, "overflows", NULL));
	b.n = 0;
	add_pax(&b, 'x', "size", "18446744073709551616");
	add_entry(&b, "huge", '0', NULL, 0);
	CHECK(expect_rc(&b, CLIP_ERR_TAR, "size", NULL));
	free(b.p);
}

TEST(test_stream_ends)
{
	struct buf b = { 0 };
	size_t n;

	/* Empty stream, lone zero block, partial zero block: all fine. */
	CHECK(expect_rc(&b, CLIP_OK, NULL, &n) && n == 0);
	buf_put(&b, NULL, 512);
	CHECK(expect_rc(&b, CLIP_OK, NULL, &n) && n == 0);
	buf_put(&b, NULL, 100);
	CHECK(expect_rc(&b, CLIP_OK, NULL, NULL));

	/* Ends right after the data, unpadded (umoci), or mid-padding. */
	b.n = 0;
	add_entry(&b, "a", '0', "abc", 3);
	b.n -= 509;
	CHECK(expect_rc(&b, CLIP_OK, NULL, &n) && n == 1);
	buf_put(&b, NULL, 200);
	CHECK(expect_rc(&b, CLIP_OK, NULL, &n) && n == 1);
	b.n = 0;
	add_entry(&b, "a", '0', "", 0);
	CHECK(expect_rc(&b, CLIP_OK, NULL, &n) && n == 1);

	/* Full ending, with record padding after it. */
	buf_put(&b, NULL, 1024 + 8192);
	CHECK(expect_rc(&b, CLIP_OK, NULL, &n) && n == 1);

	/* Garbage after the end. */
	buf_put(&b, "x", 1);
	CHECK(expect_rc(&b, CLIP_ERR_TAR, "garbage after end of archive", NULL));

	/* A zero block, then a header. */
	b.n = 0;
	buf_put(&b, NULL, 512);
	add_entry(&b, "a", '0', "abc", 3);
	CHECK(expect_rc(&b, CLIP_ERR_TAR, "zero block", NULL));

	/* Truncated inside a header, inside data, after an extended header. */
	b.n = 0;
	add_entry(&b, "a", '0', "abc", 3);
	add_entry(&b, "b", '0', "defgh", 5);
	b.n -= 512 + 200;
	CHECK(expect_rc(&b, CLIP_ERR_TAR, "truncated inside the header", NULL));
	b.n = 0;
	add_entry(&b, "a", '0', "abc", 3);
	add_entry(&b, "dir/b", '0', "defgh", 5);
	b.n -= 512 - 3;
	CHECK(expect_rc(&b, CLIP_ERR_TAR, "truncated inside the data of \"dir/b\"",
	    &n) && n == 2);
	b.n = 0;
	add_pax(&b, 'x', "path", "long");
	CHECK(expect_rc(&b, CLIP_ERR_TAR, "truncated", NULL));
	b.n -= 100;
	CHECK(expect_rc(&b, CLIP_ERR_TAR, "truncated", NULL));
	b.n = 0;
	add_ext(&b, 'L', "longname", 9);
	buf_put(&b, NULL, 1024);
	CHECK(expect_rc(&b, CLIP_ERR_TAR, "extended header", NULL));
	/* A 'g' header alone is a whole archive. */
	b.n = 0;
	add_pax(&b, 'g', "uid", "5");
	CHECK(expect_rc(&b, CLIP_OK, NULL, &n) && n == 0);
	free(b.p);
}

/* ------------------------------------------------------------------ */
/* Hostile and odd headers */

TEST(test_hostile_headers)
{
	struct buf b = { 0 };
	uint8_t h[512];
	size_t n;

	add_entry(&b, "a/../../etc/passwd", '0', "x", 1);
	CHECK(expect_rc(&b, CLIP_ERR_TAR, "\"a/../../etc/passwd\" has a \"..\"", NULL));
	b.n = 0;
	add_pax(&b, 'x', "path", "../up");
	add_entry(&b, "fine", '0', "x", 1);
	CHECK(expect_rc(&b, CLIP_ERR_TAR, "\"../up\"", NULL));
	b.n = 0;
	mk_header(h, "hl", '1', 0, "x/../../y");
	buf_put(&b, h, 512);
	CHECK(expect_rc(&b, CLIP_ERR_TAR, "hard link \"hl\"", NULL));
	b.n = 0;
	mk_header(h, "hl", '1', 0, "");
	buf_put(&b, h, 512);
	CHECK(expect_rc(&b, CLIP_ERR_TAR, "no target", NULL));
	/* A symlink target is data: kept as stored. */
	b.n = 0;
	mk_header(h, "sl", '2', 0, "../../x//./y/");
	buf_put(&b, h, 512);
	CHECK(expect_rc(&b, CLIP_OK, NULL, &n) && n == 1);

	/* Negative base-256 size, uid out of range. */
	b.n = 0;
	mk_header(h, "neg", '0', 0, NULL);
	put_b256(h + 124, 12, -1024);
	set_checksum(h);
	buf_put(&b, h, 512);
	CHECK(expect_rc(&b, CLIP_ERR_TAR, "negative size", NULL));
	b.n = 0;
	mk_header(h, "uid", '0', 0, NULL);
	put_b256(h + 108, 8, 1ll << 33);
	set_checksum(h);
	buf_put(&b, h, 512);
	CHECK(expect_rc(&b, CLIP_ERR_TAR, "uid", NULL));
	b.n = 0;
	mk_header(h, "uid", '0', 0, NULL);
	put_b256(h + 108, 8, 3000000);
	put_b256(h + 136, 12, -86400);
	set_checksum(h);
	buf_put(&b, h, 512);
	CHECK(expect_rc(&b, CLIP_OK, NULL, &n) && n == 1);

	/* Checksums: wrong, signed (historic), junk in a numeric field. */
	b.n = 0;
	mk_header(h, "sum", '0', 0, NULL);
	h[130] ^= 1;
	buf_put(&b, h, 512);
	CHECK(expect_rc(&b, CLIP_ERR_TAR, "checksum", NULL));
	b.n = 0;
	mk_header(h, "caf\xe9\xff", '0', 0, NULL);
	{
		int sum = 0, i;

		memset(h + 148, ' ', 8);
		for (i = 0; i < 512; i++)
			sum += (signed char)h[i];
		snprintf((char *)h + 148, 8, "%06o", (unsigned)sum);
	}
	buf_put(&b, h, 512);
	CHECK(expect_rc(&b, CLIP_OK, NULL, &n) && n == 1);
	b.n = 0;
	mk_header(h, "junk", '0', 0, NULL);
	memcpy(h + 124, "00000000x12", 11);
	set_checksum(h);
	buf_put(&b, h, 512);
	CHECK(expect_rc(&b, CLIP_ERR_TAR, "size", NULL));
	b.n = 0;
	mk_header(h, "spaces", '0', 0, NULL);
	memcpy(h + 124, "   12 \0\0\0\0\0", 12);
	set_checksum(h);
	buf_put(&b, h, 512);
	buf_put(&b, "0123456789", 10);
	CHECK(expect_rc(&b, CLIP_OK, NULL, &n) && n == 1);

	/* Types: sparse refused by name, unknown read as regular, labels
	 * skipped, 'D' a directory whose listing is skipped. */
	b.n = 0;
	add_entry(&b, "holes.img", 'S', "xx", 2);
	CHECK(expect_rc(&b, CLIP_ERR_UNSUPPORTED,
	    "sparse files are not supported: \"holes.img\"", NULL));
	b.n = 0;
	add_pax(&b, 'x', "GNU.sparse.realsize", "100");
	add_entry(&b, "px", '0', "xx", 2);
	CHECK(expect_rc(&b, CLIP_ERR_UNSUPPORTED, "\"px\"", NULL));
	b.n = 0;
	add_entry(&b, "vol", 'V', "label", 5);
	add_entry(&b, "dd/", 'D', "listing\0", 8);
	add_entry(&b, "z", 'Z', "zz", 2);
	add_entry(&b, "m", 'M', "", 0);
	CHECK(expect_rc(&b, CLIP_ERR_UNSUPPORTED, "'M'", &n) && n == 2);
	b.n = 0;
	add_entry(&b, "./old/", '\0', NULL, 0);
	add_entry(&b, "./", '5', NULL, 0);
	mk_header(h, "fifo", '6', 7, NULL);   /* header-only, size ignored */
	buf_put(&b, h, 512);
	add_entry(&b, "after", '0', "A", 1);
	CHECK(expect_rc(&b, CLIP_OK, NULL, &n) && n == 4);

	/* Callback errors stop the parse and come back unchanged. */
	{
		struct clip_error e;
		struct ents es;

		memset(&es, 0, sizeof(es));
		es.fail_at = 2;
		CHECK(parse_chunked(b.p, b.n, RANDOM, &es, &e) == CLIP_ERR_CANCELLED);
		CHECK(es.n == 1 && strcmp(e.msg, "stop here") == 0);
		ents_free(&es);
	}
	free(b.p);
}

TEST(test_hostile_pax)
{
	static const struct { const char *payload; clip_err rc; const char *msg; } bad[] = {
		{ "99999999 path=a\n", CLIP_ERR_TAR, "runs past" },
		{ "1x path=a\n", CLIP_ERR_TAR, "bad record length" },
		{ " 11 path=a\n", CLIP_ERR_TAR, "bad record length" },
		{ "-11 path=a\n", CLIP_ERR_TAR, "bad record length" },
		{ "path=a\n", CLIP_ERR_TAR, "bad record length" },
		{ "3 \n", CLIP_ERR_TAR, "too short" },
		{ "10 path=ab\n", CLIP_ERR_TAR, "newline" },
		{ "9 path-a\n", CLIP_ERR_TAR, "no keyword" },
		{ "5 =a\n", CLIP_ERR_TAR, "no keyword" },
		{ "10 path=a\n9 size=1", CLIP_ERR_TAR, "runs past" },
		{ "11 size=-5\n", CLIP_ERR_TAR, "size" },
		{ "13 uid=1e100\n", CLIP_ERR_TAR, "uid" },
		{ "19 uid=99999999999\n", CLIP_ERR_TAR, "uid" },
		{ "13 mtime=1.x\n", CLIP_ERR_TAR, "mtime" },
		{ "12 mtime=.5\n", CLIP_ERR_TAR, "mtime" },
		{ "30 LIBARCHIVE.xattr.user.a=!!\n", CLIP_ERR_TAR, "base64" },
		{ "31 LIBARCHIVE.xattr.user.%0=AA\n", CLIP_ERR_TAR, "URL" },
		{ "19 SCHILY.xattr.=x\n", CLIP_ERR_TAR, "attribute name" },
	};
	struct buf b = { 0 }, s = { 0 };
	struct clip_error e;
	struct ents es;
	char big[100];
	size_t i, n;
	int agree;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b.n = 0;
		add_ext(&b, 'x', bad[i].payload, strlen(bad[i].payload));
		add_entry(&b, "f", '0', "x", 1);
		CHECK_MSG(expect_rc(&b, bad[i].rc, bad[i].msg, NULL), "payload %zu: %s",
		    i, bad[i].payload);
	}

	/* NUL bytes inside key or path. */
	b.n = 0;
	s.n = 0;
	pax_rec(&s, "path", "a\0b", 3);
	add_ext(&b, 'x', s.p, s.n);
	add_entry(&b, "f", '0', NULL, 0);
	CHECK(expect_rc(&b, CLIP_ERR_TAR, "NUL", NULL));

	/* Caps: PAX payload over 1 MiB, long name over 64 KiB. */
	b.n = 0;
	{
		uint8_t h[512];

		mk_header(h, "././@PaxHeader", 'x', (1u << 20) + 1, NULL);
		buf_put(&b, h, 512);
		CHECK(expect_rc(&b, CLIP_ERR_TOOBIG, "limit", NULL));
		b.n = 0;
		mk_header(h, "././@LongLink", 'L', (64u << 10) + 1, NULL);
		buf_put(&b, h, 512);
		CHECK(expect_rc(&b, CLIP_ERR_TOOBIG, "limit", NULL));
	}
	/* Too many xattrs on one entry. */
	b.n = 0;
	s.n = 0;
	for (i = 0; i < 1025; i++) {
		snprintf(big, sizeof(big), "SCHILY.xattr.user.%zu", i);
		pax_rec(&s, big, "v", 1);
	}
	add_ext(&b, 'x', s.p, s.n);
	add_entry(&b, "f", '0', NULL, 0);
	CHECK(expect_rc(&b, CLIP_ERR_TOOBIG, "extended attributes", NULL));

	/* Good odd ones: NUL padding, empty values, repeated keys, fractions,
	 * long names of exactly the cap, both xattr encodings. */
	b.n = 0;
	s.n = 0;
	pax_rec(&s, "path", "first", 5);
	pax_rec(&s, "path", "/second/./", 10);
	pax_rec(&s, "uid", "", 0);
	pax_rec(&s, "mtime", "1.0000000019", 12);
	pax_rec(&s, "SCHILY.xattr.user.e", "", 0);
	pax_rec(&s, "LIBARCHIVE.xattr.user.%41%62", "QUJD", 4);
	pax_rec(&s, "SCHILY.xattr.user.Ab", "abc", 3);
	pax_rec(&s, "hdrcharset", "BINARY", 6);
	buf_put(&s, NULL, 7);
	add_ext(&b, 'x', s.p, s.n);
	add_entry(&b, "ignored", '0', "x", 1);
	{
		char *name = xmalloc(64u << 10);

		memset(name, 'n', 64u << 10);
		add_ext(&b, 'L', name, 64u << 10);
		add_entry(&b, "short", '5', NULL, 0);
		free(name);
	}
	CHECK_OK(parse_all(b.p, b.n, &es, &e, &agree), &e);
	CHECK(agree && es.n == 2);
	CHECK(strcmp(es.v[0].path, "second") == 0);
	CHECK(es.v[0].uid == 01750);
	CHECK(es.v[0].mtime_sec == 1 && es.v[0].mtime_nsec == 1);
	/* The empty user.e is dropped, as POSIX says and Go does. */
	CHECK(es.v[0].nx == 1);
	CHECK(strcmp(es.v[0].x[0].name, "user.Ab") == 0 && es.v[0].x[0].len == 3);
	CHECK(memcmp(es.v[0].x[0].value, "abc", 3) == 0);
	CHECK(es.v[1].path_len == 64u << 10 && es.v[1].type == CLIP_TAR_DIR);
	n = es.n;
	ents_free(&es);
	CHECK(n == 2);
	free(b.p);
	free(s.p);
}

TEST(test_api_edges)
{
	struct clip_error e;
	clip_tar *t = (clip_tar *)&e;
	struct ents es;
	uint8_t h[512];

	CHECK(clip_tar_new(NULL, NULL, &t, &e) == CLIP_ERR_INVALID);
	CHECK(t == NULL);
	clip_tar_free(NULL);
	CHECK(clip_tar_offset(NULL) == 0);
	/* Errors are sticky. */
	memset(&es, 0, sizeof(es));
	CHECK_OK(clip_tar_new(on_entry, &es, &t, NULL), &e);
	memset(h, 0xaa, sizeof(h));
	CHECK(clip_tar_feed(t, h, sizeof(h), NULL) == CLIP_ERR_TAR);
	CHECK(clip_tar_feed(t, NULL, 0, &e) == CLIP_ERR_TAR);
	CHECK(clip_tar_finish(t, &e) == CLIP_ERR_TAR);
	clip_tar_free(t);
	ents_free(&es);
}

TEST_MAIN(test_normalize, test_gnu_tar_gnu, test_gnu_tar_oldgnu,
    test_gnu_tar_posix, test_gnu_tar_ustar, test_gnu_tar_v7,
    test_gnu_tar_xattrs, test_python_pax, test_go_corpus, test_huge_sizes,
    test_stream_ends, test_hostile_headers, test_hostile_pax, test_api_edges)
