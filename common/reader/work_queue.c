/*
 * work_queue.c - a fixed pool of threads running queued jobs (see
 * work_queue.h).
 *
 * One FIFO list per class under one mutex; workers sleep on a condition
 * variable.  A worker takes the oldest urgent job, else (when fewer than
 * max_background background jobs run) the oldest normal job, else the
 * oldest hint.
 */
#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "common/reader/work_queue.h"

#define NCLASSES 3

struct fifo {
	struct work_item *head, *tail;
	unsigned len;
};

struct work_queue {
	pthread_mutex_t lock;
	pthread_cond_t work;
	pthread_cond_t idle;         /* no job queued or running */
	struct fifo q[NCLASSES];
	unsigned running, running_background;
	unsigned max_background, hint_cap;
	int stop;
	unsigned flags;
	pthread_t *threads;
	unsigned nthreads;           /* started */
};

static void
fifo_put(struct fifo *f, struct work_item *it)
{
	it->next = NULL;
	if (f->tail != NULL)
		f->tail->next = it;
	else
		f->head = it;
	f->tail = it;
	f->len++;
}

static struct work_item *
fifo_take(struct fifo *f)
{
	struct work_item *it = f->head;

	if (it != NULL) {
		f->head = it->next;
		if (f->head == NULL)
			f->tail = NULL;
		f->len--;
	}
	return it;
}

static unsigned
queued(const work_queue *q)
{
	return q->q[WORK_URGENT].len + q->q[WORK_NORMAL].len + q->q[WORK_HINT].len;
}

/* The class of the next job a worker may take, or -1; any: ignoring
 * max_background (a draining thread).  Locked. */
static int
next_class(const work_queue *q, int any)
{
	if (q->q[WORK_URGENT].len > 0)
		return WORK_URGENT;
	if (!any && q->running_background >= q->max_background)
		return -1;
	if (q->q[WORK_NORMAL].len > 0)
		return WORK_NORMAL;
	return q->q[WORK_HINT].len > 0 ? WORK_HINT : -1;
}

/* Takes a job of class cls off its list and runs it.  Locked; unlocks
 * while the job runs. */
static void
run_one(work_queue *q, int cls)
{
	struct work_item *it = fifo_take(&q->q[cls]);

	q->running++;
	if (cls != WORK_URGENT)
		q->running_background++;
	pthread_mutex_unlock(&q->lock);
	it->run(it);
	pthread_mutex_lock(&q->lock);
	q->running--;
	if (cls != WORK_URGENT) {
		q->running_background--;
		pthread_cond_signal(&q->work);   /* a background job may wait for this */
	}
	if (q->running == 0 && queued(q) == 0)
		pthread_cond_broadcast(&q->idle);
}

static void
set_idle_policy(void)
{
#ifdef SCHED_IDLE
	struct sched_param sp;

	memset(&sp, 0, sizeof(sp));
	(void)pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);  /* else: as is */
#endif
}

static void *
worker(void *arg)
{
	work_queue *q = arg;
	int cls;

	if (q->flags & WORK_QUEUE_IDLE)
		set_idle_policy();
	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (!q->stop && (cls = next_class(q, 0)) < 0)
			pthread_cond_wait(&q->work, &q->lock);
		if (q->stop)
			break;
		run_one(q, cls);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

clip_err
work_queue_new(unsigned threads, unsigned max_background, unsigned hint_cap, unsigned flags,
    work_queue **out, struct clip_error *err)
{
	work_queue *q;
	unsigned i;

	*out = NULL;
	if (threads == 0 || max_background == 0 || max_background > threads || hint_cap == 0)
		return clip_error_set(err, CLIP_ERR_INVALID, "work queue: bad arguments");
	q = calloc(1, sizeof(*q));
	if (q == NULL || (q->threads = calloc(threads, sizeof(*q->threads))) == NULL) {
		free(q);
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	q->flags = flags;
	q->max_background = max_background;
	q->hint_cap = hint_cap;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->work, NULL);
	pthread_cond_init(&q->idle, NULL);
	for (i = 0; i < threads; i++) {
		if (pthread_create(&q->threads[i], NULL, worker, q) != 0)
			break;
		q->nthreads++;
	}
	if (q->nthreads == 0) {
		work_queue_free(q);
		return clip_error_set(err, CLIP_ERR_IO, "work queue: cannot start a thread");
	}
	if (q->max_background > q->nthreads)
		q->max_background = q->nthreads;
	*out = q;
	return CLIP_OK;
}

void
work_queue_free(work_queue *q)
{
	struct work_item *it;
	unsigned i;
	int cls;

	if (q == NULL)
		return;
	pthread_mutex_lock(&q->lock);
	q->stop = 1;
	pthread_cond_broadcast(&q->work);
	pthread_cond_broadcast(&q->idle);
	pthread_mutex_unlock(&q->lock);
	for (i = 0; i < q->nthreads; i++)
		pthread_join(q->threads[i], NULL);
	for (cls = 0; cls < NCLASSES; cls++)
		while ((it = fifo_take(&q->q[cls])) != NULL)
			if (it->drop != NULL)
				it->drop(it);
	pthread_cond_destroy(&q->work);
	pthread_cond_destroy(&q->idle);
	pthread_mutex_destroy(&q->lock);
	free(q->threads);
	free(q);
}

void
work_queue_drain(work_queue *q)
{
	int cls;

	if (q == NULL)
		return;
	pthread_mutex_lock(&q->lock);
	while (!q->stop && (q->flags & WORK_QUEUE_IDLE) && (cls = next_class(q, 1)) >= 0)
		run_one(q, cls);
	while (!q->stop && (queued(q) > 0 || q->running > 0))
		pthread_cond_wait(&q->idle, &q->lock);
	pthread_mutex_unlock(&q->lock);
}

int
work_queue_push(work_queue *q, struct work_item *item, enum work_class cls)
{
	int ok;

	pthread_mutex_lock(&q->lock);
	ok = !q->stop && (cls != WORK_HINT || q->q[WORK_HINT].len < q->hint_cap);
	if (ok) {
		fifo_put(&q->q[cls], item);
		pthread_cond_signal(&q->work);
	}
	pthread_mutex_unlock(&q->lock);
	return ok;
}

void
work_queue_counts(work_queue *q, unsigned *nqueued, unsigned *nrunning)
{
	*nqueued = *nrunning = 0;
	if (q == NULL)
		return;
	pthread_mutex_lock(&q->lock);
	*nqueued = queued(q);
	*nrunning = q->running;
	pthread_mutex_unlock(&q->lock);
}
