/*
 * layer_file.c - sealed local copies of layer streams (layer_file.h).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "common/reader/layer_file.h"
#include "common/util/fd_io.h"

#define SEAL_MAGIC   "CLIPLAYR"
#define SEAL_VERSION 1
#define DIGEST_MAX   128       /* longest digest a name is made of */
#define PIECE        (1u << 20)
#define TMP_PREFIX   "tmp-"

/* The last 512 bytes of a layer file; native byte order, like the disk
 * cache's headers (the cache is a machine's own). */
struct layer_seal {
	uint8_t  magic[8];           /* SEAL_MAGIC */
	uint32_t version;            /* SEAL_VERSION */
	uint32_t seal_size;          /* CLIP_LAYER_SEAL_SIZE */
	uint64_t stream_size;
	uint64_t padded_size;
	uint8_t  index_sha256[32];
	uint8_t  stream_sha256[32];  /* of the stream (not its padding) */
	char     digest[DIGEST_MAX + 32];   /* NUL-padded */
	uint8_t  reserved[224];      /* zeros */
	uint8_t  seal_sha256[32];    /* of everything above */
};
_Static_assert(sizeof(struct layer_seal) == CLIP_LAYER_SEAL_SIZE, "layer seal layout");

static void
put_u64(EVP_MD_CTX *c, uint64_t v)
{
	uint8_t b[8];
	int i;

	for (i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	EVP_DigestUpdate(c, b, 8);
}

clip_err
clip_layer_file_id_of(const clip_index *idx, uint32_t layer, struct clip_layer_file_id *out,
    struct clip_error *err)
{
	struct clip_layer L;
	struct clip_checkpoint cp;
	EVP_MD_CTX *c;
	unsigned int n = 0;
	uint32_t i;
	int ok;

	memset(out, 0, sizeof(*out));
	if (clip_index_layer(idx, layer, &L) != CLIP_OK)
		return clip_error_set(err, CLIP_ERR_INVALID, "no layer %u", layer);
	if ((c = EVP_MD_CTX_new()) == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	ok = EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1;
	EVP_DigestUpdate(c, "clip layer file 1", 18);
	EVP_DigestUpdate(c, L.digest.ptr, (size_t)L.digest.len + 1);
	put_u64(c, L.uncompressed_size);
	put_u64(c, L.compressed_size);
	put_u64(c, L.checkpoint_count);
	for (i = 0; ok && i < L.checkpoint_count; i++) {
		ok = clip_index_checkpoint(idx, layer, i, &cp) == CLIP_OK;
		if (!ok)
			break;
		put_u64(c, cp.span_start);
		put_u64(c, cp.span_end);
		put_u64(c, cp.out_offset);
		put_u64(c, cp.out_end);
		EVP_DigestUpdate(c, cp.span_sha256, 32);
	}
	ok = ok && EVP_DigestFinal_ex(c, out->index_sha256, &n) == 1 && n == 32;
	EVP_MD_CTX_free(c);
	if (!ok)
		return clip_error_set(err, CLIP_ERR_FORMAT, "layer %u: cannot hash its spans", layer);
	out->digest = L.digest.ptr;
	out->stream_size = L.uncompressed_size;
	return CLIP_OK;
}

int
clip_layer_file_name(const char *digest, char *out, size_t len)
{
	size_t i, n = digest != NULL ? strlen(digest) : 0;
	int colon = 0;

	if (n == 0 || n > DIGEST_MAX || n >= len)
		return -1;
	for (i = 0; i < n; i++) {
		char c = digest[i];
		if (c == ':' && !colon && i > 0) {
			colon = 1;
			out[i] = '-';
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    (colon && ((c >= 'A' && c <= 'Z') || c == '_' || c == '=' || c == '-'))) {
			out[i] = c;
		} else {
			return -1;
		}
	}
	out[n] = '\0';
	return colon ? 0 : -1;
}

uint64_t
clip_layer_file_padded(uint64_t stream_size)
{
	return (stream_size + CLIP_LAYER_FILE_BLOCK - 1) / CLIP_LAYER_FILE_BLOCK *
	    CLIP_LAYER_FILE_BLOCK;
}

/* 1 if all len bytes were read at off; 0 at a short file; -1 on error. */
/* The seal's own hash over its bytes before seal_sha256. */
static int
seal_hash(const struct layer_seal *s, uint8_t out[32])
{
	unsigned int n = 0;

	return EVP_Digest(s, offsetof(struct layer_seal, seal_sha256), out, &n, EVP_sha256(),
	    NULL) == 1 && n == 32 ? 0 : -1;
}

static int
seal_make(const struct clip_layer_file_id *id, const uint8_t stream_sha256[32],
    struct layer_seal *s)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->magic, SEAL_MAGIC, 8);
	s->version = SEAL_VERSION;
	s->seal_size = CLIP_LAYER_SEAL_SIZE;
	s->stream_size = id->stream_size;
	s->padded_size = clip_layer_file_padded(id->stream_size);
	memcpy(s->index_sha256, id->index_sha256, 32);
	memcpy(s->stream_sha256, stream_sha256, 32);
	snprintf(s->digest, sizeof(s->digest), "%s", id->digest);
	return seal_hash(s, s->seal_sha256);
}

/* Whether s is a whole, intact seal made for id. */
static int
seal_matches(const struct layer_seal *s, const struct clip_layer_file_id *id)
{
	uint8_t md[32];

	return memcmp(s->magic, SEAL_MAGIC, 8) == 0 && s->version == SEAL_VERSION &&
	    s->seal_size == CLIP_LAYER_SEAL_SIZE && seal_hash(s, md) == 0 &&
	    memcmp(md, s->seal_sha256, 32) == 0 && s->stream_size == id->stream_size &&
	    s->padded_size == clip_layer_file_padded(id->stream_size) &&
	    memchr(s->digest, '\0', sizeof(s->digest)) != NULL &&
	    strcmp(s->digest, id->digest) == 0 && memcmp(s->index_sha256, id->index_sha256, 32) == 0;
}

/* The stream from fill into fd, hashed; zeros up to the block. */
static clip_err
write_stream(int fd, const struct clip_layer_file_id *id, clip_layer_fill_fn fill, void *ctx,
    uint8_t *buf, uint8_t md[32], struct clip_error *err)
{
	uint64_t off, pad = clip_layer_file_padded(id->stream_size) - id->stream_size;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int n = 0;
	clip_err rc = CLIP_OK;
	size_t len;

	if (c == NULL || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(c);
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	for (off = 0; rc == CLIP_OK && off < id->stream_size; off += len) {
		len = id->stream_size - off < PIECE ? (size_t)(id->stream_size - off) : PIECE;
		if ((rc = fill(ctx, off, buf, len, err)) != CLIP_OK)
			break;
		EVP_DigestUpdate(c, buf, len);
		if (clip_write_full(fd, buf, len) != 0)
			rc = clip_error_set(err, CLIP_ERR_IO, "layer file: write: %s",
			    strerror(errno));
	}
	memset(buf, 0, CLIP_LAYER_FILE_BLOCK);
	if (rc == CLIP_OK && pad > 0 && clip_write_full(fd, buf, (size_t)pad) != 0)
		rc = clip_error_set(err, CLIP_ERR_IO, "layer file: write: %s", strerror(errno));
	if (EVP_DigestFinal_ex(c, md, &n) != 1 && rc == CLIP_OK)
		rc = clip_error_set(err, CLIP_ERR_NOMEM, "layer file: sha256 failed");
	EVP_MD_CTX_free(c);
	return rc;
}

clip_err
clip_layer_file_write(int dirfd, const struct clip_layer_file_id *id, clip_layer_fill_fn fill,
    void *ctx, struct clip_error *err)
{
	char name[CLIP_LAYER_FILE_NAME_MAX], tmp[CLIP_LAYER_FILE_NAME_MAX + 32];
	struct layer_seal seal;
	uint8_t md[32], *buf;
	clip_err rc;
	int fd;

	if (clip_layer_file_name(id->digest, name, sizeof(name)) != 0)
		return clip_error_set(err, CLIP_ERR_INVALID, "layer file: digest %s cannot be "
		    "a file name", id->digest ? id->digest : "(none)");
	snprintf(tmp, sizeof(tmp), TMP_PREFIX "%s.%ld", name, (long)getpid());
	if ((buf = malloc(PIECE)) == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		free(buf);
		return clip_error_set(err, CLIP_ERR_IO, "layer file: create %s: %s", tmp,
		    strerror(errno));
	}
	rc = write_stream(fd, id, fill, ctx, buf, md, err);
	free(buf);
	if (rc == CLIP_OK && seal_make(id, md, &seal) != 0)
		rc = clip_error_set(err, CLIP_ERR_NOMEM, "layer file: sha256 failed");
	if (rc == CLIP_OK && (clip_write_full(fd, &seal, sizeof(seal)) != 0 || fsync(fd) != 0))
		rc = clip_error_set(err, CLIP_ERR_IO, "layer file: write %s: %s", tmp,
		    strerror(errno));
	/* EROFS reads it with direct I/O, or through its own page cache. */
	if (rc == CLIP_OK)
		clip_fd_drop_cached(fd);
	if (close(fd) != 0 && rc == CLIP_OK)
		rc = clip_error_set(err, CLIP_ERR_IO, "layer file: close %s: %s", tmp,
		    strerror(errno));
	if (rc == CLIP_OK && renameat(dirfd, tmp, dirfd, name) != 0)
		rc = clip_error_set(err, CLIP_ERR_IO, "layer file: rename %s: %s", tmp,
		    strerror(errno));
	if (rc != CLIP_OK)
		unlinkat(dirfd, tmp, 0);
	else
		fsync(dirfd);   /* the rename, on disk before anyone trusts it */
	return rc;
}

unsigned
clip_layer_files_sweep(int dirfd, long max_age)
{
	int fd = dup(dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	struct stat st;
	time_t now = time(NULL);
	unsigned n = 0;

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0 &&
		    fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode) && now - st.st_mtime > max_age &&
		    unlinkat(dirfd, de->d_name, 0) == 0)
			n++;
	closedir(d);
	return n;
}

/* Re-hashes fd's stream and padding against s: 1 equal, 0 not, -1 error. */
static int
stream_matches(int fd, const struct layer_seal *s)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	uint8_t *buf = malloc(PIECE), md[32];
	uint64_t off;
	unsigned int n = 0;
	size_t len, k;
	int r = 1;

	if (c == NULL || buf == NULL || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1)
		r = -1;
	for (off = 0; r == 1 && off < s->padded_size; off += len) {
		len = s->padded_size - off < PIECE ? (size_t)(s->padded_size - off) : PIECE;
		if ((r = clip_pread_full(fd, buf, len, off)) != 1)
			break;
		/* The stream is hashed; its padding must be zeros. */
		k = off >= s->stream_size ? 0 : (s->stream_size - off < len ?
		    (size_t)(s->stream_size - off) : len);
		EVP_DigestUpdate(c, buf, k);
		for (; k < len && r == 1; k++)
			r = buf[k] == 0;
	}
	if (r == 1)
		r = EVP_DigestFinal_ex(c, md, &n) == 1 && n == 32 ?
		    memcmp(md, s->stream_sha256, 32) == 0 : -1;
	EVP_MD_CTX_free(c);
	free(buf);
	return r;
}

/* Removes name if it still is the file open as fd. */
static void
remove_if_same(int dirfd, const char *name, int fd)
{
	struct stat mine, now;

	if (fstat(fd, &mine) == 0 && fstatat(dirfd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
	    mine.st_dev == now.st_dev && mine.st_ino == now.st_ino)
		unlinkat(dirfd, name, 0);
}

clip_err
clip_layer_file_open(int dirfd, const struct clip_layer_file_id *id, int check, int *fdp,
    struct clip_error *err)
{
	char name[CLIP_LAYER_FILE_NAME_MAX];
	struct layer_seal s;
	struct stat st;
	uint64_t size;
	int fd, r;

	*fdp = -1;
	if (clip_layer_file_name(id->digest, name, sizeof(name)) != 0)
		return CLIP_ERR_NOTFOUND;
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? CLIP_ERR_NOTFOUND : clip_error_set(err, CLIP_ERR_IO,
		    "layer file %s: %s", name, strerror(errno));
	size = clip_layer_file_padded(id->stream_size) + CLIP_LAYER_SEAL_SIZE;
	r = fstat(fd, &st) != 0 ? -1 : !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size ? 0 :
	    clip_pread_full(fd, &s, sizeof(s), size - sizeof(s));
	if (r == 1 && !seal_matches(&s, id))
		r = 0;
	if (r == 1 && check && (r = stream_matches(fd, &s)) == 0)
		r = 2;   /* damaged */
	if (r < 0) {
		r = errno;
		close(fd);
		return clip_error_set(err, CLIP_ERR_IO, "layer file %s: %s", name, strerror(r));
	}
	if (r == 0) {
		close(fd);
		return clip_error_set(err, CLIP_ERR_FORMAT, "layer file %s: no valid seal", name);
	}
	if (r == 2) {
		remove_if_same(dirfd, name, fd);
		close(fd);
		return clip_error_set(err, CLIP_ERR_CHECKSUM, "layer file %s: its bytes do not "
		    "match its seal; removed", name);
	}
	*fdp = fd;
	return CLIP_OK;
}
