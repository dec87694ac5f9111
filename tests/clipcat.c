/*
 * clipcat.c - test tool: read files through a CLIP index from a local OCI
 * layout, the way the mounter will read them from a registry.
 *
 *   clipcat INDEX LAYOUT_DIR PATH [OFFSET LEN]   the file's bytes to stdout
 *   clipcat --all INDEX LAYOUT_DIR               "SHA256  PATH" per file
 *
 * For each read: find the checkpoint whose span holds the first byte,
 * read the span's compressed bytes [span_start, span_end) from the layer
 * blob, check them against the span's SHA-256, inflate from the
 * checkpoint's window skipping to the offset, and go on with the next
 * span until the read is done.  So a wrong data offset, a wrong
 * checkpoint or a wrong span hash in the index shows up as wrong content
 * (compared with sha256sum of an unpacked rootfs) or as an error here.
 *
 * --all prints paths escaped like clipfs ls (\xHH for unprintable bytes
 * and the backslash) and reads every regular file in full, hardlinks once
 * per path.  Exit 0 on success, 1 on any error (message on stderr).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/gzip/inflate.h"
#include "common/format/index.h"

#define CHUNK (1u << 20)            /* output handed on per inflate call */
#define MAX_DEPTH 4096

struct cat {
	const clip_index *idx;
	const char *layout;
	/* One cached span: the last one read (reads are mostly sequential). */
	uint32_t span_layer, span_cp;
	int span_valid;
	uint8_t *comp;
	size_t comp_len;
	uint8_t window[CLIP_WINDOW_SIZE];
	uint8_t *out;
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "clipcat: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void
escape(FILE *f, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f || c == '\\')
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
}

static int
sha256(const uint8_t *buf, size_t len, uint8_t md[32])
{
	unsigned int mdlen = 0;

	return EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32 ? 0 : -1;
}

/* Reads span cp of layer into c->comp and checks its SHA-256. */
static int
load_span(struct cat *c, uint32_t layer, uint32_t cpi, const struct clip_checkpoint *cp)
{
	struct clip_layer l;
	char path[4096];
	uint8_t md[32];
	size_t len, got = 0;
	ssize_t n;
	int fd;

	if (c->span_valid && c->span_layer == layer && c->span_cp == cpi)
		return 0;
	c->span_valid = 0;
	if (clip_index_layer(c->idx, layer, &l) != CLIP_OK) {
		fprintf(stderr, "clipcat: layer %u: not in the index\n", layer);
		return -1;
	}
	if (l.digest.len != 71 || strncmp(l.digest.ptr, "sha256:", 7) != 0) {
		fprintf(stderr, "clipcat: layer %u: digest is not sha256:<hex>\n", layer);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/blobs/sha256/%.*s", c->layout, 64, l.digest.ptr + 7);
	if (cp->span_end < cp->span_start || cp->span_end - cp->span_start > (1ull << 31)) {
		fprintf(stderr, "clipcat: layer %u span %u: bad bounds\n", layer, cpi);
		return -1;
	}
	len = (size_t)(cp->span_end - cp->span_start);
	free(c->comp);
	c->comp = malloc(len ? len : 1);
	if (c->comp == NULL) {
		fprintf(stderr, "clipcat: out of memory\n");
		return -1;
	}
	if ((fd = open(path, O_RDONLY)) < 0) {
		fprintf(stderr, "clipcat: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (got < len) {
		n = pread(fd, c->comp + got, len - got, (off_t)(cp->span_start + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got != len) {
		fprintf(stderr, "clipcat: %s: short read of span %u\n", path, cpi);
		return -1;
	}
	if (sha256(c->comp, len, md) != 0 || memcmp(md, cp->span_sha256, 32) != 0) {
		fprintf(stderr, "clipcat: layer %u span %u [%" PRIu64 ", %" PRIu64
		    "): sha256 mismatch\n", layer, cpi, cp->span_start, cp->span_end);
		return -1;
	}
	c->comp_len = len;
	c->span_layer = layer;
	c->span_cp = cpi;
	c->span_valid = 1;
	return 0;
}

/*
 * Reads [off, off + len) of the file with stat st, passing the bytes to
 * sink (stdout or a digest).  Returns 0 or -1 (after a message).
 */
static int
read_range(struct cat *c, const struct clip_stat *st, uint64_t off, uint64_t len,
    FILE *out, EVP_MD_CTX *md)
{
	struct clip_checkpoint cp;
	struct clip_error err;
	uint64_t pos, want, skip, take;
	uint32_t cpi;

	if (off > st->size)
		off = st->size;
	if (len > st->size - off)
		len = st->size - off;
	while (len > 0) {
		pos = st->data_offset + off;
		clip_error_clear(&err);
		if (clip_index_find_checkpoint(c->idx, st->layer, pos, &cpi) != CLIP_OK ||
		    clip_index_checkpoint(c->idx, st->layer, cpi, &cp) != CLIP_OK) {
			fprintf(stderr, "clipcat: layer %u: no checkpoint for offset %" PRIu64 "\n",
			    st->layer, pos);
			return -1;
		}
		if (pos < cp.out_offset || pos >= cp.out_end) {
			fprintf(stderr, "clipcat: layer %u checkpoint %u: [%" PRIu64 ", %" PRIu64
			    ") does not hold offset %" PRIu64 "\n", st->layer, cpi,
			    cp.out_offset, cp.out_end, pos);
			return -1;
		}
		if (load_span(c, st->layer, cpi, &cp) != 0)
			return -1;
		if (cp.window_len > 0 && clip_index_window(&cp, c->window, &err) != CLIP_OK) {
			fprintf(stderr, "clipcat: layer %u checkpoint %u: window: %s\n", st->layer,
			    cpi, clip_error_message(&err));
			return -1;
		}
		skip = pos - cp.out_offset;
		want = cp.out_end - pos;
		if (want > len)
			want = len;
		/* Inflate the span's part in chunks; each call restarts at the
		 * checkpoint, so chunks are big to keep that cheap. */
		while (want > 0) {
			take = want > CHUNK ? CHUNK : want;
			if (clip_inflate_span_at(&cp, cp.window_len ? c->window : NULL, c->comp,
			    c->comp_len, skip, c->out, (size_t)take, &err) != CLIP_OK) {
				fprintf(stderr, "clipcat: layer %u checkpoint %u: %s\n", st->layer,
				    cpi, clip_error_message(&err));
				return -1;
			}
			if (out != NULL && fwrite(c->out, 1, (size_t)take, out) != take) {
				fprintf(stderr, "clipcat: write error\n");
				return -1;
			}
			if (md != NULL)
				EVP_DigestUpdate(md, c->out, (size_t)take);
			skip += take;
			want -= take;
			off += take;
			len -= take;
		}
	}
	return 0;
}

static int
hash_file(struct cat *c, uint32_t ino, const char *path, size_t plen)
{
	struct clip_stat st;
	EVP_MD_CTX *md;
	uint8_t dig[32];
	unsigned int dlen = 0, i;
	int rc;

	if (clip_index_stat(c->idx, ino, &st) != CLIP_OK)
		return -1;
	md = EVP_MD_CTX_new();
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		return -1;
	}
	rc = read_range(c, &st, 0, st.size, NULL, md);
	if (rc == 0 && EVP_DigestFinal_ex(md, dig, &dlen) == 1) {
		for (i = 0; i < dlen; i++)
			printf("%02x", dig[i]);
		fputs("  ", stdout);
		escape(stdout, path, plen);
		putchar('\n');
	} else {
		fputs("clipcat: while reading ", stderr);
		escape(stderr, path, plen);
		fputc('\n', stderr);
		rc = -1;
	}
	EVP_MD_CTX_free(md);
	return rc;
}

static int
walk(struct cat *c, uint32_t dir, const char *prefix, size_t plen, int depth)
{
	struct clip_dirent de;
	uint32_t i, n = clip_index_dir_size(c->idx, dir);
	int rc = 0;

	if (depth > MAX_DEPTH)
		return -1;
	for (i = 0; i < n && rc == 0; i++) {
		size_t sub;
		char *p;

		if (clip_index_readdir(c->idx, dir, i, &de) != CLIP_OK)
			return -1;
		if (de.mode_type != S_IFDIR && de.mode_type != S_IFREG)
			continue;
		sub = plen + (plen ? 1 : 0) + de.name.len;
		if ((p = malloc(sub + 1)) == NULL)
			return -1;
		if (plen) {
			memcpy(p, prefix, plen);
			p[plen] = '/';
		}
		memcpy(p + sub - de.name.len, de.name.ptr, de.name.len);
		p[sub] = '\0';
		if (de.mode_type == S_IFDIR)
			rc = walk(c, de.ino, p, sub, depth + 1);
		else
			rc = hash_file(c, de.ino, p, sub);
		free(p);
	}
	return rc;
}

static uint64_t
number(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-')
		die("bad number '%s'", s);
	return v;
}

int
main(int argc, char **argv)
{
	struct cat c;
	struct clip_error err;
	struct clip_stat st;
	clip_index *idx = NULL;
	uint32_t ino;
	int all = argc > 1 && strcmp(argv[1], "--all") == 0;
	int rc;

	if (!(all && argc == 4) && !(!all && (argc == 4 || argc == 6))) {
		fprintf(stderr, "usage: clipcat INDEX LAYOUT_DIR PATH [OFFSET LEN]\n"
		    "       clipcat --all INDEX LAYOUT_DIR\n");
		return 2;
	}
	clip_error_clear(&err);
	if (clip_index_open(argv[1 + all], &idx, &err) != CLIP_OK)
		die("%s: %s", argv[1 + all], clip_error_message(&err));
	memset(&c, 0, sizeof(c));
	c.idx = idx;
	c.layout = argv[2 + all];
	if ((c.out = malloc(CHUNK)) == NULL)
		die("out of memory");
	if (all) {
		rc = walk(&c, CLIP_ROOT_INO, "", 0, 0);
	} else {
		if (clip_index_resolve(idx, argv[3], &ino) != CLIP_OK)
			die("%s: not in the index", argv[3]);
		if (clip_index_stat(idx, ino, &st) != CLIP_OK || !S_ISREG(st.mode))
			die("%s: not a regular file", argv[3]);
		rc = read_range(&c, &st, argc == 6 ? number(argv[4]) : 0,
		    argc == 6 ? number(argv[5]) : st.size, stdout, NULL);
	}
	free(c.comp);
	free(c.out);
	clip_index_close(idx);
	if (fflush(stdout) != 0)
		rc = -1;
	return rc == 0 ? 0 : 1;
}
