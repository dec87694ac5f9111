/*
 * layer_writer.c - writing sealed layer files from the daemon
 * (layer_writer.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clipfs/layer_writer.h"
#include "clipfs/log.h"
#include "common/reader/layer_file.h"

#define LOOK_EVERY_S 30
/* After a poke, the last spans of a layer may still be on their way to
 * the disk cache: look again this soon, this many times. */
#define RETRY_S 2
#define RETRIES 15
/* Older temporaries are crash leftovers. */
#define STALE_TMP_S 3600

/* The lowest I/O priority (linux/ioprio.h, which Debian 12's libc lacks). */
#define IOPRIO_CLASS_IDLE 3
#define IOPRIO_CLASS_SHIFT 13
#define IOPRIO_WHO_PROCESS 1

enum layer_state { LAYER_TODO, LAYER_DONE, LAYER_FAILED };

struct layer_writer {
	const clip_index *idx;
	clip_reader *reader;
	struct layer_file_counts *counts;
	char *cache_dir;
	int dirfd;                  /* cache_dir/layers, once there is one; or -1 */
	uint8_t *state;             /* enum layer_state, per layer */
	pthread_t tid;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int poked, stop;            /* under lock */
	atomic_int stopping;        /* read by the copy, between pieces */
};

struct copy_job {
	struct layer_writer *w;
	uint32_t layer;
};

static clip_err
copy_fill(void *ctx, uint64_t off, uint8_t *buf, size_t len, struct clip_error *err)
{
	struct copy_job *j = ctx;

	if (atomic_load(&j->w->stopping))
		return clip_error_set(err, CLIP_ERR_CANCELLED, "stopped");
	return clip_reader_read_held(j->w->reader, j->layer, off, len, buf, err);
}

/* cache_dir/layers, made if needed (create); -1 if it is not there, or
 * after a warning if it cannot be made. */
static int
open_layers_dir(const char *cache_dir, int create)
{
	char path[PATH_MAX];
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", cache_dir, CLIP_LAYER_FILES_DIR) >=
	    (int)sizeof(path))
		return -1;
	if (!create)
		return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if ((mkdir(cache_dir, 0700) != 0 && errno != EEXIST) ||
	    (mkdir(path, 0700) != 0 && errno != EEXIST) ||
	    (fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		log_warn("layer files: %s: %s; not writing any", path, strerror(errno));
		return -1;
	}
	return fd;
}

/* Layer l's file: there already, written now, or not yet possible.
 * 1 if the layer still waits for its spans. */
static int
consider_layer(struct layer_writer *w, uint32_t l)
{
	struct clip_layer_file_id id;
	struct copy_job job = { w, l };
	struct clip_error err;
	clip_err rc;
	int fd;

	clip_error_clear(&err);
	if (clip_layer_file_id_of(w->idx, l, &id, &err) != CLIP_OK) {
		w->state[l] = LAYER_FAILED;
		return 0;
	}
	if (w->dirfd >= 0 && clip_layer_file_open(w->dirfd, &id, 0, &fd, &err) == CLIP_OK) {
		close(fd);
		w->state[l] = LAYER_DONE;
		return 0;
	}
	if (!clip_reader_layer_held(w->reader, l))
		return 1;
	/* The directory is made when the first layer file is due, so a
	 * cache that never holds a whole layer gets none. */
	if (w->dirfd < 0 && (w->dirfd = open_layers_dir(w->cache_dir, 1)) < 0) {
		atomic_fetch_add(&w->counts->errors, 1);
		w->state[l] = LAYER_FAILED;
		return 0;
	}
	clip_error_clear(&err);
	rc = clip_layer_file_write(w->dirfd, &id, copy_fill, &job, &err);
	if (rc == CLIP_OK) {
		atomic_fetch_add(&w->counts->written, 1);
		w->state[l] = LAYER_DONE;
		log_info("layer %u (%s): layer file written", l, id.digest);
		return 0;
	}
	if (rc == CLIP_ERR_NOTFOUND || rc == CLIP_ERR_CANCELLED)
		return 1;   /* a span left the caches meanwhile; or stopping */
	atomic_fetch_add(&w->counts->errors, 1);
	w->state[l] = LAYER_FAILED;
	log_warn("layer %u (%s): cannot write its layer file: %s", l, id.digest,
	    clip_error_message(&err));
	return 0;
}

/* One look at every layer not done; the number still waiting. */
static uint32_t
look(struct layer_writer *w)
{
	uint32_t l, n = clip_index_layer_count(w->idx), waiting = 0;

	for (l = 0; l < n && !atomic_load(&w->stopping); l++)
		if (w->state[l] == LAYER_TODO)
			waiting += (uint32_t)consider_layer(w, l);
	return waiting;
}

/* Waits up to s seconds, or until poked or stopped: -1 stopped, 1
 * poked, 0 the time is up. */
static int
nap(struct layer_writer *w, int s)
{
	struct timespec until;
	int r;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += s;
	pthread_mutex_lock(&w->lock);
	while (!w->stop && !w->poked &&
	    pthread_cond_timedwait(&w->cond, &w->lock, &until) != ETIMEDOUT)
		;
	r = w->stop ? -1 : w->poked;
	w->poked = 0;
	pthread_mutex_unlock(&w->lock);
	return r;
}

static void *
writer_thread(void *arg)
{
	struct layer_writer *w = arg;
	int retries = 0, r;
	uint32_t waiting;

	/* Reads and loads come first: the copy uses what nothing else wants. */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19) != 0)
		log_debug("layer writer: setpriority: %s", strerror(errno));
	if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0,
	    IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT) != 0)
		log_debug("layer writer: ioprio_set: %s", strerror(errno));
	do {
		waiting = look(w);
		if (waiting > 0 && retries > 0) {
			retries--;
			r = nap(w, RETRY_S);
		} else {
			r = nap(w, LOOK_EVERY_S);
		}
		if (r == 1)
			retries = RETRIES;
	} while (r >= 0);
	return NULL;
}

struct layer_writer *
layer_writer_start(const clip_index *idx, clip_reader *r, const char *cache_dir,
    struct layer_file_counts *counts)
{
	struct layer_writer *w = calloc(1, sizeof(*w));
	uint32_t n = clip_index_layer_count(idx);

	if (w == NULL || (w->state = calloc(n ? n : 1, 1)) == NULL ||
	    (w->cache_dir = strdup(cache_dir)) == NULL) {
		if (w != NULL)
			free(w->state);
		free(w);
		return NULL;
	}
	/* A write a crash interrupted leaves a temporary behind. */
	if ((w->dirfd = open_layers_dir(cache_dir, 0)) >= 0)
		clip_layer_files_sweep(w->dirfd, STALE_TMP_S);
	w->idx = idx;
	w->reader = r;
	w->counts = counts;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	if (pthread_create(&w->tid, NULL, writer_thread, w) != 0) {
		log_warn("layer files: cannot start the writer: %s", strerror(errno));
		if (w->dirfd >= 0)
			close(w->dirfd);
		free(w->cache_dir);
		free(w->state);
		free(w);
		return NULL;
	}
	return w;
}

void
layer_writer_poke(struct layer_writer *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->poked = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

void
layer_writer_stop(struct layer_writer *w)
{
	if (w == NULL)
		return;
	atomic_store(&w->stopping, 1);
	pthread_mutex_lock(&w->lock);
	w->stop = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->tid, NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	if (w->dirfd >= 0)
		close(w->dirfd);
	free(w->cache_dir);
	free(w->state);
	free(w);
}
