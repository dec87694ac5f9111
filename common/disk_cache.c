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

#include "common/disk_cache.h"

#define SPAN_FILE_MAGIC   "CLIPSPAN"
#define SPAN_FILE_VERSION 1
#define DIGEST_MAX        128     /* longest layer digest we put in a name */
#define NAME_LEN          256
#define TMP_PREFIX        "tmp-"
#define STALE_TMP_SECS    3600    /* older temporaries are crash leftovers */
#define MAX_SPAN_FILE     (UINT64_C(1) << 40)

struct span_file_header {
	uint8_t  magic[8];           /* SPAN_FILE_MAGIC */
	uint32_t version;            /* SPAN_FILE_VERSION */
	uint32_t header_size;        /* sizeof(struct span_file_header) */
	uint64_t data_len;           /* inflated bytes that follow */
	uint8_t  span_sha256[32];    /* the key's: compressed span hash */
	uint8_t  data_sha256[32];    /* of the bytes that follow */
};
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

static void
hex(char *out, const uint8_t *b, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* 0 if the digest cannot safely be part of a file name. */
static int
entry_name(const struct disk_cache_key *k, char *name)
{
	char sha[65], dig[DIGEST_MAX + 1];
	size_t i, n = k->layer_digest ? strlen(k->layer_digest) : 0;
	int colon = 0;

	if (n == 0 || n > DIGEST_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char c = k->layer_digest[i];
		if (c == ':' && !colon && i > 0) {
			colon = 1;
			dig[i] = '-';
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    (colon && ((c >= 'A' && c <= 'Z') || c == '_' || c == '=' || c == '-'))) {
			dig[i] = c;
		} else {
			return 0;
		}
	}
	dig[n] = '\0';
	if (!colon)
		return 0;
	hex(sha, k->span_sha256, 32);
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

static int
read_full(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pread(fd, p + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -1 : 0;
		done += (size_t)n;
	}
	return 1;
}

static void
forget_damaged(disk_cache *dc, const char *name)
{
	struct dc_entry *e;

	pthread_mutex_lock(&dc->lock);
	HASH_FIND_STR(dc->table, name, e);
	if (e != NULL)
		drop(dc, e, 1);
	else
		unlinkat(dc->dirfd, name, 0);
	pthread_mutex_unlock(&dc->lock);
}

clip_err
disk_cache_get(disk_cache *dc, const struct disk_cache_key *key, size_t len,
    uint8_t **data, int *damaged, struct clip_error *err)
{
	char name[NAME_LEN];
	struct span_file_header h;
	struct stat st;
	uint8_t md[32], *buf = NULL;
	struct dc_entry *e;
	unsigned int mdlen = 0;
	int fd, r;

	*data = NULL;
	*damaged = 0;
	if (!entry_name(key, name) || len > MAX_SPAN_FILE)
		return CLIP_ERR_NOTFOUND;
	fd = openat(dc->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT) {
			pthread_mutex_lock(&dc->lock);
			HASH_FIND_STR(dc->table, name, e);
			if (e != NULL)   /* deleted behind our back */
				drop(dc, e, 0);
			pthread_mutex_unlock(&dc->lock);
			return CLIP_ERR_NOTFOUND;
		}
		return clip_error_set(err, CLIP_ERR_IO, "disk cache: open %s: %s", name,
		    strerror(errno));
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != sizeof(h) + (uint64_t)len)
		goto damaged;
	r = read_full(fd, &h, sizeof(h), 0);
	if (r < 0)
		goto io_error;
	if (r == 0 || memcmp(h.magic, SPAN_FILE_MAGIC, 8) != 0 ||
	    h.version != SPAN_FILE_VERSION || h.header_size != sizeof(h) ||
	    h.data_len != len || memcmp(h.span_sha256, key->span_sha256, 32) != 0)
		goto damaged;
	buf = malloc(len ? len : 1);
	if (buf == NULL) {
		close(fd);
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	r = read_full(fd, buf, len, sizeof(h));
	if (r < 0)
		goto io_error;
	if (r == 0 || EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32 || memcmp(md, h.data_sha256, 32) != 0)
		goto damaged;
	/* Mirror the access into mtime so the LRU order survives a restart. */
	futimens(fd, NULL);
	close(fd);
	pthread_mutex_lock(&dc->lock);
	remember(dc, name, (uint64_t)st.st_size);
	pthread_mutex_unlock(&dc->lock);
	*data = buf;
	return CLIP_OK;

damaged:
	close(fd);
	free(buf);
	forget_damaged(dc, name);
	*damaged = 1;
	return CLIP_ERR_NOTFOUND;
io_error:
	r = errno;
	close(fd);
	free(buf);
	return clip_error_set(err, CLIP_ERR_IO, "disk cache: read %s: %s", name, strerror(r));
}

/* ---- put ------------------------------------------------------------------- */

static int
write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

clip_err
disk_cache_put(disk_cache *dc, const struct disk_cache_key *key, const uint8_t *data,
    size_t len, int *stored, struct clip_error *err)
{
	char name[NAME_LEN], tmp[64];
	struct span_file_header h;
	uint64_t size = sizeof(h) + (uint64_t)len, seq;
	unsigned int mdlen = 0;
	int fd = -1, e;
	const char *what;

	*stored = 0;
	if (!entry_name(key, name) || len > MAX_SPAN_FILE)
		return CLIP_OK;

	memset(&h, 0, sizeof(h));
	memcpy(h.magic, SPAN_FILE_MAGIC, 8);
	h.version = SPAN_FILE_VERSION;
	h.header_size = sizeof(h);
	h.data_len = len;
	memcpy(h.span_sha256, key->span_sha256, 32);
	if (EVP_Digest(data, len, h.data_sha256, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		return clip_error_set(err, CLIP_ERR_NOMEM, "disk cache: sha256 failed");

	pthread_mutex_lock(&dc->lock);
	if (dc->writes_off || size > dc->max_bytes) {
		pthread_mutex_unlock(&dc->lock);
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
	if (write_full(fd, &h, sizeof(h)) != 0 || write_full(fd, data, len) != 0)
		goto fail;
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
	*stored = 1;
	return CLIP_OK;

fail:
	e = errno;
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
disk_cache_usage(disk_cache *dc, uint64_t *bytes, uint64_t *files)
{
	pthread_mutex_lock(&dc->lock);
	*bytes = dc->bytes;
	*files = dc->files;
	pthread_mutex_unlock(&dc->lock);
}
