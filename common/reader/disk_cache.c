/*
 * disk_cache.c - the on-disk span cache (see disk_cache.h).
 *
 * Files live flat in one directory, reached through a directory fd
 * (openat/renameat/unlinkat), named
 *     <algo>-<hex>.<span>.<span sha256 hex>
 * and laid out as struct span_file_header followed by the inflated bytes.
 * One mutex guards the table of known files, the LRU list and the total;
 * file I/O runs outside it, except the unlinks of eviction.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uthash.h>
#include <openssl/evp.h>

#include "common/reader/disk_cache.h"
#include "common/reader/layer_file.h"
#include "common/util/fd_io.h"
#include "common/util/hex.h"

#define SPAN_FILE_MAGIC   "CLIPSPAN"
#define SPAN_FILE_VERSION 2       /* 2: per-block hashes */
#define DC_BLOCK          (64u * 1024)   /* verified unit of a partial read */
#define NAME_LEN          256
#define TMP_PREFIX        "tmp-"
#define STALE_TMP_SECS    3600    /* older temporaries are crash leftovers */
#define MAX_SPAN_FILE     (UINT64_C(1) << 40)

struct span_file_header {
	uint8_t  magic[8];           /* SPAN_FILE_MAGIC */
	uint32_t version;            /* SPAN_FILE_VERSION */
	uint32_t header_size;        /* sizeof(struct span_file_header) */
	uint64_t data_len;           /* inflated bytes that follow: the span's
	                              * first data_len bytes (all of it, or a
	                              * prefix from a partial load) */
	uint8_t  span_sha256[32];    /* the key's: compressed span hash */
	uint8_t  table_sha256[32];   /* of the block table that follows */
};
/* After the header: one SHA-256 per DC_BLOCK of data (the last block may
 * be short), then the data.  A read checks the table against the header,
 * and only the blocks it touches against the table. */
_Static_assert(sizeof(struct span_file_header) == 88, "span file header layout");

struct dc_entry {
	char name[NAME_LEN];
	uint64_t size;
	int64_t mtime_ns;            /* only while scanning */
	struct dc_entry *prev, *next;  /* LRU: head is the most recent */
	UT_hash_handle hh;
};

struct disk_cache {
	int dirfd;
	pthread_mutex_t lock;
	struct dc_entry *table;
	struct dc_entry *head, *tail;
	uint64_t max_bytes;
	uint64_t bytes;              /* files in the table plus writes under way */
	uint64_t files;
	int writes_off;
	uint64_t tmp_seq;
};

/* ---- names, list ---------------------------------------------------------- */

/* 0 if the digest cannot safely be part of a file name. */
static int
entry_name(const struct disk_cache_key *k, char *name)
{
	char sha[65], dig[CLIP_LAYER_FILE_NAME_MAX];

	if (clip_layer_file_name(k->layer_digest, dig, sizeof(dig)) != 0)
		return 0;
	clip_hex_encode(k->span_sha256, 32, sha);
	snprintf(name, NAME_LEN, "%s.%u.%s", dig, k->span, sha);
	return 1;
}

static void
lru_unlink(disk_cache *dc, struct dc_entry *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		dc->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		dc->tail = e->prev;
	e->prev = e->next = NULL;
}

static void
lru_push(disk_cache *dc, struct dc_entry *e)
{
	e->prev = NULL;
	e->next = dc->head;
	if (dc->head != NULL)
		dc->head->prev = e;
	dc->head = e;
	if (dc->tail == NULL)
		dc->tail = e;
}

/* Forgets an entry (locked); unlinks its file too if asked. */
static void
drop(disk_cache *dc, struct dc_entry *e, int remove_file)
{
	if (remove_file)
		unlinkat(dc->dirfd, e->name, 0);
	lru_unlink(dc, e);
	HASH_DEL(dc->table, e);
	dc->bytes -= e->size;
	dc->files--;
	free(e);
}

/* Records a file now on disk (locked), replacing an older record. */
static void
remember(disk_cache *dc, const char *name, uint64_t size)
{
	struct dc_entry *e;

	HASH_FIND_STR(dc->table, name, e);
	if (e != NULL) {
		dc->bytes = dc->bytes - e->size + size;
		e->size = size;
		lru_unlink(dc, e);
		lru_push(dc, e);
		return;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return;   /* unaccounted, but still a valid cache file */
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->size = size;
	HASH_ADD_STR(dc->table, name, e);
	lru_push(dc, e);
	dc->bytes += size;
	dc->files++;
}

/* Evicts least recently used files until need more bytes fit (locked). */
static void
make_room(disk_cache *dc, uint64_t need)
{
	while (dc->tail != NULL && dc->bytes + need > dc->max_bytes)
		drop(dc, dc->tail, 1);
}

/* ---- open: scan ------------------------------------------------------------ */

static int
by_mtime(const void *a, const void *b)
{
	const struct dc_entry *x = *(struct dc_entry *const *)a;
	const struct dc_entry *y = *(struct dc_entry *const *)b;

	return (x->mtime_ns > y->mtime_ns) - (x->mtime_ns < y->mtime_ns);
}

static clip_err
scan(disk_cache *dc, struct clip_error *err)
{
	int fd = dup(dc->dirfd);
	DIR *d;
	struct dirent *de;
	struct stat st;
	struct dc_entry **found = NULL, **grown, *e;
	size_t n = 0, cap = 0, i;
	time_t now = time(NULL);
	clip_err rc = CLIP_OK;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return clip_error_set(err, CLIP_ERR_IO, "disk cache: %s", strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dc->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0) {
			/* Another process may be writing a young one right now. */
			if (now - st.st_mtime > STALE_TMP_SECS)
				unlinkat(dc->dirfd, de->d_name, 0);
			continue;
		}
		if (strlen(de->d_name) >= NAME_LEN)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(found, cap * sizeof(*found));
			if (grown == NULL) {
				rc = clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
				break;
			}
			found = grown;
		}
		e = calloc(1, sizeof(*e));
		if (e == NULL) {
			rc = clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
			break;
		}
		snprintf(e->name, sizeof(e->name), "%s", de->d_name);
		e->size = (uint64_t)st.st_size;
		e->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		found[n++] = e;
	}
	closedir(d);
	if (rc == CLIP_OK) {
		/* Oldest first onto the head, so the oldest ends at the tail. */
		if (n > 0)
			qsort(found, n, sizeof(*found), by_mtime);
		for (i = 0; i < n; i++) {
			HASH_ADD_STR(dc->table, name, found[i]);
			lru_push(dc, found[i]);
			dc->bytes += found[i]->size;
			dc->files++;
		}
		make_room(dc, 0);
	} else {
		for (i = 0; i < n; i++)
			free(found[i]);
	}
	free(found);
	return rc;
}

clip_err
disk_cache_open(const char *dir, uint64_t max_bytes, disk_cache **out,
    struct clip_error *err)
{
	disk_cache *dc;
	struct stat st;
	clip_err rc;

	*out = NULL;
	if (dir == NULL || dir[0] == '\0')
		return clip_error_set(err, CLIP_ERR_INVALID, "disk cache: no directory");
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return clip_error_set(err, CLIP_ERR_IO, "disk cache: mkdir %s: %s", dir,
		    strerror(errno));
	dc = calloc(1, sizeof(*dc));
	if (dc == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	dc->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dc->dirfd < 0 || fstat(dc->dirfd, &st) != 0) {
		rc = clip_error_set(err, CLIP_ERR_IO, "disk cache: %s: %s", dir, strerror(errno));
		if (dc->dirfd >= 0)
			close(dc->dirfd);
		free(dc);
		return rc;
	}
	pthread_mutex_init(&dc->lock, NULL);
	dc->max_bytes = max_bytes;
	rc = scan(dc, err);
	if (rc != CLIP_OK) {
		disk_cache_close(dc);
		return clip_error_prefix(err, "%s", dir);
	}
	*out = dc;
	return CLIP_OK;
}

void
disk_cache_close(disk_cache *dc)
{
	struct dc_entry *e, *tmp;

	if (dc == NULL)
		return;
	HASH_ITER(hh, dc->table, e, tmp) {
		HASH_DEL(dc->table, e);
		free(e);
	}
	close(dc->dirfd);
	pthread_mutex_destroy(&dc->lock);
	free(dc);
}

/* ---- get ------------------------------------------------------------------- */

/*
 * Deletes the damaged file open as fd, if the name still points to it.
 * Two readers can find the same damage at once, and by the time the second
 * looks, the name may hold a good refetched copy: only the reader that
 * removes this very file reports it (1), so each damage is counted once.
 */
static int
forget_damaged(disk_cache *dc, const char *name, int fd)
{
	struct dc_entry *e;
	struct stat mine, now;
	int removed = 0;

	if (fstat(fd, &mine) != 0)
		return 0;
	pthread_mutex_lock(&dc->lock);
	if (fstatat(dc->dirfd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
	    now.st_dev == mine.st_dev && now.st_ino == mine.st_ino) {
		removed = unlinkat(dc->dirfd, name, 0) == 0;
		HASH_FIND_STR(dc->table, name, e);
		if (e != NULL)
			drop(dc, e, 0);
	}
	pthread_mutex_unlock(&dc->lock);
	return removed;
}

static size_t
nblocks(size_t len)
{
	return (len + DC_BLOCK - 1) / DC_BLOCK;
}

/* An open, checked entry: its header and block table. */
struct open_entry {
	int fd;
	char name[NAME_LEN];
	uint64_t size;
	size_t data_len;             /* the span's first data_len bytes are here */
	uint8_t *table;
	size_t nblocks;
};

/* Closes an open entry's file and frees its block table. */
static void
entry_free(struct open_entry *oe)
{
	close(oe->fd);
	free(oe->table);
}

/* Opens key's file and checks its header and table.  CLIP_ERR_NOTFOUND
 * for a miss (*damaged set if a bad file was deleted). */
static clip_err
entry_open(disk_cache *dc, const struct disk_cache_key *key, size_t len, struct open_entry *oe,
    int *damaged, struct clip_error *err)
{
	struct span_file_header h;
	struct stat st;
	struct dc_entry *e;
	uint8_t md[32];
	unsigned int mdlen = 0;
	int r, saved;

	memset(oe, 0, sizeof(*oe));
	oe->fd = -1;
	*damaged = 0;
	if (!entry_name(key, oe->name) || len > MAX_SPAN_FILE)
		return CLIP_ERR_NOTFOUND;
	oe->fd = openat(dc->dirfd, oe->name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (oe->fd < 0) {
		if (errno == ENOENT) {
			pthread_mutex_lock(&dc->lock);
			HASH_FIND_STR(dc->table, oe->name, e);
			if (e != NULL)   /* deleted behind our back */
				drop(dc, e, 0);
			pthread_mutex_unlock(&dc->lock);
			return CLIP_ERR_NOTFOUND;
		}
		return clip_error_set(err, CLIP_ERR_IO, "disk cache: open %s: %s", oe->name,
		    strerror(errno));
	}
	if (fstat(oe->fd, &st) != 0 || !S_ISREG(st.st_mode))
		goto damaged;
	r = clip_pread_full(oe->fd, &h, sizeof(h), 0);
	if (r < 0)
		goto io_error;
	if (r == 0 || memcmp(h.magic, SPAN_FILE_MAGIC, 8) != 0 ||
	    h.version != SPAN_FILE_VERSION || h.header_size != sizeof(h) ||
	    h.data_len > len || memcmp(h.span_sha256, key->span_sha256, 32) != 0)
		goto damaged;
	oe->data_len = (size_t)h.data_len;
	oe->nblocks = nblocks(oe->data_len);
	if ((uint64_t)st.st_size != sizeof(h) + 32 * (uint64_t)oe->nblocks + oe->data_len)
		goto damaged;
	oe->size = (uint64_t)st.st_size;
	oe->table = malloc(32 * oe->nblocks + 1);
	if (oe->table == NULL) {
		close(oe->fd);
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	r = clip_pread_full(oe->fd, oe->table, 32 * oe->nblocks, sizeof(h));
	if (r < 0)
		goto io_error;
	if (r == 0 || EVP_Digest(oe->table, 32 * oe->nblocks, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32 || memcmp(md, h.table_sha256, 32) != 0)
		goto damaged;
	return CLIP_OK;
damaged:
	*damaged = forget_damaged(dc, oe->name, oe->fd);
	entry_free(oe);
	return CLIP_ERR_NOTFOUND;
io_error:
	saved = errno;
	entry_free(oe);
	return clip_error_set(err, CLIP_ERR_IO, "disk cache: read %s: %s", oe->name,
	    strerror(saved));
}

/* Reads data blocks [b0, b1] of an open entry into buf and checks each;
 * drops the file's pages (header and table too) if drop is set. */
static int
read_blocks(struct open_entry *oe, size_t len, size_t b0, size_t b1, uint8_t *buf, int drop)
{
	uint64_t data_at = sizeof(struct span_file_header) + 32 * (uint64_t)oe->nblocks;
	size_t first = b0 * DC_BLOCK, last = b1 * DC_BLOCK + DC_BLOCK, b;
	uint8_t md[32];
	unsigned int mdlen = 0;
	int r;

	if (last > len)
		last = len;
	r = clip_pread_full(oe->fd, buf, last - first, data_at + first);
	if (drop)
		posix_fadvise(oe->fd, 0, 0, POSIX_FADV_DONTNEED);
	if (r <= 0)
		return r;
	for (b = b0; b <= b1; b++) {
		size_t at = b * DC_BLOCK - first;
		size_t n = (b + 1) * DC_BLOCK > len ? len - b * DC_BLOCK : DC_BLOCK;
		if (EVP_Digest(buf + at, n, md, &mdlen, EVP_sha256(), NULL) != 1 ||
		    memcmp(md, oe->table + 32 * b, 32) != 0)
			return 0;
	}
	return 1;
}

/* The end of a successful use: note the access, for eviction order. */
static void
entry_close(disk_cache *dc, struct open_entry *oe)
{
	/* Mirror the access into mtime so the LRU order survives a restart. */
	futimens(oe->fd, NULL);
	entry_free(oe);
	pthread_mutex_lock(&dc->lock);
	remember(dc, oe->name, oe->size);
	pthread_mutex_unlock(&dc->lock);
}

static clip_err
entry_bad(disk_cache *dc, struct open_entry *oe, int r, int *damaged, struct clip_error *err)
{
	int saved = errno;

	if (r < 0) {
		entry_free(oe);
		return clip_error_set(err, CLIP_ERR_IO, "disk cache: read %s: %s", oe->name,
		    strerror(saved));
	}
	*damaged = forget_damaged(dc, oe->name, oe->fd);
	entry_free(oe);
	return CLIP_ERR_NOTFOUND;
}

clip_err
disk_cache_get(disk_cache *dc, const struct disk_cache_key *key, size_t len,
    uint8_t **data, int *damaged, struct clip_error *err)
{
	struct open_entry oe;
	uint8_t *buf;
	clip_err rc;
	int r;

	*data = NULL;
	if ((rc = entry_open(dc, key, len, &oe, damaged, err)) != CLIP_OK)
		return rc;
	if (oe.data_len != len) {   /* a prefix only: a miss for the whole span */
		entry_free(&oe);
		return CLIP_ERR_NOTFOUND;
	}
	buf = malloc(len ? len : 1);
	if (buf == NULL) {
		entry_free(&oe);
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	r = len == 0 ? 1 : read_blocks(&oe, len, 0, oe.nblocks - 1, buf, 1);
	if (r != 1) {
		free(buf);
		return entry_bad(dc, &oe, r, damaged, err);
	}
	entry_close(dc, &oe);
	*data = buf;
	return CLIP_OK;
}

clip_err
disk_cache_read(disk_cache *dc, const struct disk_cache_key *key, size_t len, size_t off,
    size_t n, uint8_t *out, int *damaged, struct clip_error *err)
{
	struct open_entry oe;
	size_t b0, b1;
	uint8_t *buf;
	clip_err rc;
	int r;

	if (off > len || n > len - off)
		return clip_error_set(err, CLIP_ERR_INVALID, "disk cache: read past the span");
	if ((rc = entry_open(dc, key, len, &oe, damaged, err)) != CLIP_OK)
		return rc;
	if (off + n > oe.data_len) {   /* past a prefix: a miss */
		entry_free(&oe);
		return CLIP_ERR_NOTFOUND;
	}
	if (n == 0) {
		entry_close(dc, &oe);
		return CLIP_OK;
	}
	b0 = off / DC_BLOCK;
	b1 = (off + n - 1) / DC_BLOCK;
	/* Only the blocks asked for: the kernel's readahead would bring in
	 * (and cache) more of the span than the read needs. */
	posix_fadvise(oe.fd, 0, 0, POSIX_FADV_RANDOM);
	buf = malloc((b1 - b0 + 1) * DC_BLOCK);
	if (buf == NULL) {
		entry_free(&oe);
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	r = read_blocks(&oe, oe.data_len, b0, b1, buf, 0);
	if (r != 1) {
		free(buf);
		return entry_bad(dc, &oe, r, damaged, err);
	}
	memcpy(out, buf + (off - b0 * DC_BLOCK), n);
	free(buf);
	entry_close(dc, &oe);
	return CLIP_OK;
}

clip_err
disk_cache_put(disk_cache *dc, const struct disk_cache_key *key, const uint8_t *data,
    size_t len, int *stored, struct clip_error *err)
{
	char name[NAME_LEN], tmp[64];
	struct span_file_header h;
	struct stat st;
	size_t nb = nblocks(len), b;
	uint64_t size = sizeof(h) + 32 * (uint64_t)nb + (uint64_t)len, seq;
	uint8_t *table;
	unsigned int mdlen = 0;
	int fd = -1, e;
	const char *what;

	*stored = 0;
	if (!entry_name(key, name) || len > MAX_SPAN_FILE)
		return CLIP_OK;
	table = malloc(32 * nb + 1);
	if (table == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	for (b = 0; b < nb; b++)
		if (EVP_Digest(data + b * DC_BLOCK, (b + 1) * DC_BLOCK > len ? len - b * DC_BLOCK :
		    DC_BLOCK, table + 32 * b, &mdlen, EVP_sha256(), NULL) != 1) {
			free(table);
			return clip_error_set(err, CLIP_ERR_NOMEM, "disk cache: sha256 failed");
		}

	memset(&h, 0, sizeof(h));
	memcpy(h.magic, SPAN_FILE_MAGIC, 8);
	h.version = SPAN_FILE_VERSION;
	h.header_size = sizeof(h);
	h.data_len = len;
	memcpy(h.span_sha256, key->span_sha256, 32);
	if (EVP_Digest(table, 32 * nb, h.table_sha256, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32) {
		free(table);
		return clip_error_set(err, CLIP_ERR_NOMEM, "disk cache: sha256 failed");
	}

	pthread_mutex_lock(&dc->lock);
	/* A prefix never replaces a longer entry (the whole span, or a
	 * longer prefix) that is already there.  The file says, not the
	 * table: a reader may have re-recorded an entry just deleted. */
	if (dc->writes_off || size > dc->max_bytes ||
	    (fstatat(dc->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    (uint64_t)st.st_size >= size)) {
		pthread_mutex_unlock(&dc->lock);
		free(table);
		return CLIP_OK;
	}
	make_room(dc, size);
	dc->bytes += size;           /* reserved while the file is written */
	seq = dc->tmp_seq++;
	pthread_mutex_unlock(&dc->lock);

	snprintf(tmp, sizeof(tmp), TMP_PREFIX "%ld-%llu", (long)getpid(),
	    (unsigned long long)seq);
	what = "create";
	fd = openat(dc->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		goto fail;
	what = "chmod";
	if (fchmod(fd, 0600) != 0)   /* whatever the umask says */
		goto fail;
	what = "write";
	if (clip_write_full(fd, &h, sizeof(h)) != 0 || clip_write_full(fd, table, 32 * nb) != 0 ||
	    clip_write_full(fd, data, len) != 0)
		goto fail;
	/* The span is served from memory now, and read back later without
	 * readahead (disk_cache_read): its pages need not stay cached. */
	clip_fd_drop_cached(fd);
	what = "close";
	e = close(fd);
	fd = -1;
	if (e != 0)
		goto fail;
	what = "rename";
	if (renameat(dc->dirfd, tmp, dc->dirfd, name) != 0)
		goto fail;

	pthread_mutex_lock(&dc->lock);
	dc->bytes -= size;
	remember(dc, name, size);
	pthread_mutex_unlock(&dc->lock);
	free(table);
	*stored = 1;
	return CLIP_OK;

fail:
	e = errno;
	free(table);
	if (fd >= 0)
		close(fd);
	unlinkat(dc->dirfd, tmp, 0);
	pthread_mutex_lock(&dc->lock);
	dc->bytes -= size;
	dc->writes_off = 1;
	pthread_mutex_unlock(&dc->lock);
	return clip_error_set(err, CLIP_ERR_IO, "disk cache: %s %s: %s", what, tmp, strerror(e));
}

void
disk_cache_drop_pages(disk_cache *dc, const struct disk_cache_key *key)
{
	char name[NAME_LEN];
	int fd;

	if (!entry_name(key, name))
		return;
	fd = openat(dc->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
}

int
disk_cache_contains(disk_cache *dc, const struct disk_cache_key *key)
{
	char name[NAME_LEN];
	struct stat st;

	return entry_name(key, name) && fstatat(dc->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

int
disk_cache_holds(disk_cache *dc, const struct disk_cache_key *key, size_t len)
{
	char name[NAME_LEN];
	struct stat st;

	return entry_name(key, name) && fstatat(dc->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    (uint64_t)st.st_size == sizeof(struct span_file_header) + 32 * (uint64_t)nblocks(len) + len;
}

void
disk_cache_usage(disk_cache *dc, uint64_t *bytes, uint64_t *files)
{
	pthread_mutex_lock(&dc->lock);
	*bytes = dc->bytes;
	*files = dc->files;
	pthread_mutex_unlock(&dc->lock);
}
