/*
 * work_queue.c - a small pool of threads running queued (layer, span) jobs (see work_queue.h).
 *
 * A ring buffer of jobs under one mutex; workers sleep on a condition
 * variable.  The queue is short (tens of jobs), so the duplicate check
 * is a linear scan.
 */
#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "common/reader/work_queue.h"

struct job {
	uint32_t layer;
	uint32_t span;
	void *arg;
};

struct work_queue {
	pthread_mutex_t lock;
	pthread_cond_t work;
	pthread_cond_t idle;         /* no job queued or running */
	struct job *ring;
	unsigned cap, head, len, running;
	int stop;
	unsigned flags;
	work_queue_fn fn;
	void *ctx;
	pthread_t *threads;
	unsigned nthreads;           /* started */
};

/* Takes the oldest job off the queue and runs it.  Locked; unlocks
 * while the job runs. */
static void
run_one(work_queue *ra)
{
	struct job j = ra->ring[ra->head];

	ra->head = (ra->head + 1) % ra->cap;
	ra->len--;
	ra->running++;
	pthread_mutex_unlock(&ra->lock);
	ra->fn(ra->ctx, j.layer, j.span, j.arg);
	pthread_mutex_lock(&ra->lock);
	if (--ra->running == 0 && ra->len == 0)
		pthread_cond_broadcast(&ra->idle);
}

static void *
worker(void *arg)
{
	work_queue *ra = arg;

#ifdef SCHED_IDLE
	if (ra->flags & WORK_QUEUE_IDLE) {
		struct sched_param sp;

		memset(&sp, 0, sizeof(sp));
		(void)pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);  /* else: as is */
	}
#endif
	pthread_mutex_lock(&ra->lock);
	for (;;) {
		while (!ra->stop && ra->len == 0)
			pthread_cond_wait(&ra->work, &ra->lock);
		if (ra->stop)
			break;
		run_one(ra);
	}
	pthread_mutex_unlock(&ra->lock);
	return NULL;
}

clip_err
work_queue_new(unsigned threads, unsigned queue_cap, unsigned flags, work_queue_fn fn, void *ctx,
    work_queue **out, struct clip_error *err)
{
	work_queue *ra;
	unsigned i;

	*out = NULL;
	if (threads == 0 || queue_cap == 0 || fn == NULL)
		return clip_error_set(err, CLIP_ERR_INVALID, "work queue: bad arguments");
	ra = calloc(1, sizeof(*ra));
	if (ra == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	ra->ring = calloc(queue_cap, sizeof(*ra->ring));
	ra->threads = calloc(threads, sizeof(*ra->threads));
	if (ra->ring == NULL || ra->threads == NULL) {
		free(ra->ring);
		free(ra->threads);
		free(ra);
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	ra->flags = flags;
	pthread_mutex_init(&ra->lock, NULL);
	pthread_cond_init(&ra->work, NULL);
	pthread_cond_init(&ra->idle, NULL);
	ra->cap = queue_cap;
	ra->fn = fn;
	ra->ctx = ctx;
	for (i = 0; i < threads; i++) {
		if (pthread_create(&ra->threads[i], NULL, worker, ra) != 0)
			break;
		ra->nthreads++;
	}
	if (ra->nthreads == 0) {
		work_queue_free(ra);
		return clip_error_set(err, CLIP_ERR_IO, "work queue: cannot start a thread");
	}
	*out = ra;
	return CLIP_OK;
}

void
work_queue_free(work_queue *ra)
{
	unsigned i;

	if (ra == NULL)
		return;
	pthread_mutex_lock(&ra->lock);
	ra->stop = 1;
	pthread_cond_broadcast(&ra->work);
	pthread_cond_broadcast(&ra->idle);
	pthread_mutex_unlock(&ra->lock);
	for (i = 0; i < ra->nthreads; i++)
		pthread_join(ra->threads[i], NULL);
	pthread_cond_destroy(&ra->work);
	pthread_cond_destroy(&ra->idle);
	pthread_mutex_destroy(&ra->lock);
	free(ra->threads);
	free(ra->ring);
	free(ra);
}

void
work_queue_drain(work_queue *ra)
{
	if (ra == NULL)
		return;
	pthread_mutex_lock(&ra->lock);
	while (!ra->stop && (ra->flags & WORK_QUEUE_IDLE) && ra->len > 0)
		run_one(ra);
	while (!ra->stop && (ra->len > 0 || ra->running > 0))
		pthread_cond_wait(&ra->idle, &ra->lock);
	pthread_mutex_unlock(&ra->lock);
}

int
work_queue_push(work_queue *ra, uint32_t layer, uint32_t span)
{
	return work_queue_push_arg(ra, layer, span, NULL);
}

int
work_queue_push_arg(work_queue *ra, uint32_t layer, uint32_t span, void *arg)
{
	unsigned i;
	struct job *j;

	pthread_mutex_lock(&ra->lock);
	if (ra->stop || ra->len == ra->cap)
		goto drop;
	for (i = 0; i < ra->len; i++) {
		j = &ra->ring[(ra->head + i) % ra->cap];
		if (j->layer == layer && j->span == span)
			goto drop;
	}
	j = &ra->ring[(ra->head + ra->len) % ra->cap];
	j->layer = layer;
	j->span = span;
	j->arg = arg;
	ra->len++;
	pthread_cond_signal(&ra->work);
	pthread_mutex_unlock(&ra->lock);
	return 1;
drop:
	pthread_mutex_unlock(&ra->lock);
	return 0;
}
