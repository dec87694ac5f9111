/*
 * blob_source.c - the local OCI layout blob source.
 *
 * Files stay open once opened, so a mount does not pay an open() per
 * span; a cached fd is never closed before the source is freed, which
 * lets pread() run outside the lock.  Past MAX_FDS distinct blobs a
 * blob is opened and closed per fetch instead of growing without bound.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uthash.h>

#include "common/oci/blob_source.h"

#define MAX_FDS     1024
#define DIGEST_LEN  (7 + 64)     /* "sha256:" + hex */

struct open_blob {
	char digest[DIGEST_LEN + 1];
	int fd;
	UT_hash_handle hh;
};

struct clip_layout_source {
	char *dir;
	pthread_mutex_t lock;
	struct open_blob *open;      /* uthash by digest */
	unsigned nopen;
};

static int
digest_ok(const char *d)
{
	size_t i;

	if (strncmp(d, "sha256:", 7) != 0 || strlen(d) != DIGEST_LEN)
		return 0;
	for (i = 7; i < DIGEST_LEN; i++)
		if (!((d[i] >= '0' && d[i] <= '9') || (d[i] >= 'a' && d[i] <= 'f')))
			return 0;
	return 1;
}

/* Returns an fd for digest; *owned says the caller must close it. */
static clip_err
get_fd(clip_layout_source *ls, const char *digest, int *fd, int *owned,
    struct clip_error *err)
{
	struct open_blob *ob;
	char *path;
	int f, e;

	*fd = -1;
	*owned = 0;
	pthread_mutex_lock(&ls->lock);
	HASH_FIND_STR(ls->open, digest, ob);
	pthread_mutex_unlock(&ls->lock);
	if (ob != NULL) {
		*fd = ob->fd;
		return CLIP_OK;
	}

	if (asprintf(&path, "%s/blobs/sha256/%s", ls->dir, digest + 7) < 0)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	f = open(path, O_RDONLY | O_CLOEXEC);
	e = errno;
	if (f < 0) {
		clip_err rc = clip_error_set(err, e == ENOENT ? CLIP_ERR_NOTFOUND : CLIP_ERR_IO,
		    "%s: %s", path, strerror(e));
		free(path);
		return rc;
	}
	free(path);

	pthread_mutex_lock(&ls->lock);
	HASH_FIND_STR(ls->open, digest, ob);
	if (ob != NULL) {
		/* Another thread opened it meanwhile: use theirs. */
		pthread_mutex_unlock(&ls->lock);
		close(f);
		*fd = ob->fd;
		return CLIP_OK;
	}
	if (ls->nopen < MAX_FDS && (ob = calloc(1, sizeof(*ob))) != NULL) {
		memcpy(ob->digest, digest, DIGEST_LEN + 1);
		ob->fd = f;
		HASH_ADD_STR(ls->open, digest, ob);
		ls->nopen++;
	} else {
		*owned = 1;
	}
	pthread_mutex_unlock(&ls->lock);
	*fd = f;
	return CLIP_OK;
}

/* Reads are cut to this size when the caller follows the progress. */
#define PROGRESS_PIECE (256u << 10)

static clip_err
layout_fetch_progress(void *ctx, const char *digest, uint64_t off, size_t len, void *buf,
    clip_fetch_progress_fn progress, void *arg, struct clip_error *err)
{
	clip_layout_source *ls = ctx;
	uint8_t *p = buf;
	size_t done = 0;
	ssize_t n;
	int fd, owned;
	clip_err rc;

	if (digest == NULL || !digest_ok(digest))
		return clip_error_set(err, CLIP_ERR_INVALID, "blob digest '%s' is not sha256:<hex>",
		    digest ? digest : "(null)");
	if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off)
		return clip_error_set(err, CLIP_ERR_INVALID, "blob %s: range out of bounds",
		    digest);
	rc = get_fd(ls, digest, &fd, &owned, err);
	if (rc != CLIP_OK)
		return rc;
	while (done < len) {
		n = pread(fd, p + done, progress != NULL && len - done > PROGRESS_PIECE ?
		    PROGRESS_PIECE : len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = clip_error_set(err, CLIP_ERR_IO, "blob %s: read at %llu: %s", digest,
			    (unsigned long long)(off + done), strerror(errno));
			break;
		}
		if (n == 0) {
			rc = clip_error_set(err, CLIP_ERR_IO,
			    "blob %s: ends at %llu, before the %zu bytes asked at %llu", digest,
			    (unsigned long long)(off + done), len, (unsigned long long)off);
			break;
		}
		done += (size_t)n;
		if (progress != NULL)
			progress(arg, done);
	}
	if (owned)
		close(fd);
	return rc;
}

static clip_err
layout_fetch(void *ctx, const char *digest, uint64_t off, size_t len, void *buf,
    struct clip_error *err)
{
	return layout_fetch_progress(ctx, digest, off, len, buf, NULL, NULL, err);
}

clip_err
clip_layout_source_new(const char *dir, clip_layout_source **out,
    struct clip_blob_source *src, struct clip_error *err)
{
	clip_layout_source *ls;

	*out = NULL;
	if (src != NULL)
		memset(src, 0, sizeof(*src));
	if (dir == NULL || src == NULL)
		return clip_error_set(err, CLIP_ERR_INVALID, "layout source: bad arguments");
	ls = calloc(1, sizeof(*ls));
	if (ls == NULL || (ls->dir = strdup(dir)) == NULL) {
		free(ls);
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	pthread_mutex_init(&ls->lock, NULL);
	src->fetch = layout_fetch;
	src->fetch_progress = layout_fetch_progress;
	src->ctx = ls;
	*out = ls;
	return CLIP_OK;
}

void
clip_layout_source_free(clip_layout_source *ls)
{
	struct open_blob *ob, *tmp;

	if (ls == NULL)
		return;
	HASH_ITER(hh, ls->open, ob, tmp) {
		HASH_DEL(ls->open, ob);
		close(ob->fd);
		free(ob);
	}
	pthread_mutex_destroy(&ls->lock);
	free(ls->dir);
	free(ls);
}
