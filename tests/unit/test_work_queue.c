/* test_work_queue.c - the job pool: idle workers and a drain that does
 * not wait on them; urgent jobs ahead of background ones, a bound on
 * background workers, hints refused when their queue is full, queued
 * jobs dropped when the pool is freed. */
#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "common/reader/work_queue.h"
#include "tests/unit/test.h"

#define NJOBS 6

struct ctx {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int hold;                 /* the first job waits while this is set */
	int started;              /* the first job is running */
	pthread_t drainer;
	atomic_int ran, on_drainer, policy_idle, policy_other;
};

struct tjob {
	struct work_item item;
	struct ctx *c;
	uint32_t span;
};

static void
job(struct work_item *item)
{
	struct tjob *tj = (struct tjob *)item;
	struct ctx *c = tj->c;
	uint32_t span = tj->span;
	int pol = sched_getscheduler(0);

#ifdef SCHED_IDLE
	if (pol == SCHED_IDLE)
		atomic_fetch_add(&c->policy_idle, 1);
	else
#endif
		atomic_fetch_add(&c->policy_other, 1);
	if (pthread_equal(pthread_self(), c->drainer))
		atomic_fetch_add(&c->on_drainer, 1);
	pthread_mutex_lock(&c->lock);
	if (span == 0) {
		c->started = 1;
		pthread_cond_broadcast(&c->cond);
		while (c->hold)
			pthread_cond_wait(&c->cond, &c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	atomic_fetch_add(&c->ran, 1);
}

static void *
release_later(void *arg)
{
	struct ctx *c = arg;
	int n;

	/* Until the drainer has run the rest, the worker stays stuck (for
	 * 5 s at most: a drain that only waits then fails the test, rather
	 * than hanging it). */
	for (n = 0; n < 5000 && atomic_load(&c->on_drainer) < NJOBS - 1; n++)
		usleep(1000);
	pthread_mutex_lock(&c->lock);
	c->hold = 0;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

static void
ctx_init(struct ctx *c)
{
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->hold = 1;
	c->started = 0;
	c->drainer = pthread_self();
	atomic_init(&c->ran, 0);
	atomic_init(&c->on_drainer, 0);
	atomic_init(&c->policy_idle, 0);
	atomic_init(&c->policy_other, 0);
}

static void
wait_started(struct ctx *c)
{
	pthread_mutex_lock(&c->lock);
	while (!c->started)
		pthread_cond_wait(&c->cond, &c->lock);
	pthread_mutex_unlock(&c->lock);
}

/* An idle pool's worker is stuck in job 0 (as a worker that a busy
 * machine never schedules would be); drain runs jobs 1..5 itself and
 * returns once job 0 is done as well. */
TEST(test_idle_drain_runs_jobs)
{
	work_queue *ra = NULL;
	struct clip_error e;
	struct tjob jobs[NJOBS];
	struct ctx c;
	pthread_t t;
	uint32_t s;

	ctx_init(&c);
	for (s = 0; s < NJOBS; s++)
		jobs[s] = (struct tjob){ .item.run = job, .c = &c, .span = s };
	CHECK(work_queue_new(1, 1, 8, WORK_QUEUE_IDLE, &ra, &e) == CLIP_OK);
	if (ra == NULL)
		return;
	CHECK(work_queue_push(ra, &jobs[0].item, WORK_NORMAL) == 1);
	wait_started(&c);
	for (s = 1; s < NJOBS; s++)
		CHECK(work_queue_push(ra, &jobs[s].item, WORK_NORMAL) == 1);
	CHECK(pthread_create(&t, NULL, release_later, &c) == 0);
	work_queue_drain(ra);
	CHECK_MSG(atomic_load(&c.ran) == NJOBS, "%d", atomic_load(&c.ran));
	CHECK_MSG(atomic_load(&c.on_drainer) == NJOBS - 1, "%d", atomic_load(&c.on_drainer));
#ifdef SCHED_IDLE
	/* Job 0 ran on the worker, at idle priority; the rest at ours. */
	CHECK_MSG(atomic_load(&c.policy_idle) == 1, "%d", atomic_load(&c.policy_idle));
#endif
	pthread_join(t, NULL);
	work_queue_free(ra);
}

/* Without the flag, workers keep the normal policy and drain only waits. */
TEST(test_plain_drain_waits)
{
	work_queue *ra = NULL;
	struct clip_error e;
	struct tjob jobs[NJOBS];
	struct ctx c;
	uint32_t s;

	ctx_init(&c);
	c.hold = 0;
	for (s = 0; s < NJOBS; s++)
		jobs[s] = (struct tjob){ .item.run = job, .c = &c, .span = s };
	CHECK(work_queue_new(2, 2, 8, 0, &ra, &e) == CLIP_OK);
	if (ra == NULL)
		return;
	for (s = 0; s < NJOBS; s++)
		CHECK(work_queue_push(ra, &jobs[s].item, WORK_NORMAL) == 1);
	work_queue_drain(ra);
	CHECK_MSG(atomic_load(&c.ran) == NJOBS, "%d", atomic_load(&c.ran));
	CHECK(atomic_load(&c.on_drainer) == 0);
	CHECK(atomic_load(&c.policy_idle) == 0);
	work_queue_free(ra);
}

/* Jobs that block until released, and record the order they started. */
struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int open;
	int order[16], n;
	atomic_int dropped;
};

struct gjob {
	struct work_item item;
	struct gate *g;
	int id;
};

static void
gate_job(struct work_item *item)
{
	struct gjob *j = (struct gjob *)item;
	struct gate *g = j->g;

	pthread_mutex_lock(&g->lock);
	g->order[g->n++] = j->id;
	pthread_cond_broadcast(&g->cond);
	while (!g->open)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

static void
gate_drop(struct work_item *item)
{
	atomic_fetch_add(&((struct gjob *)item)->g->dropped, 1);
}

/* Waits (5 s at most) until n jobs have started. */
static int
gate_started(struct gate *g, int n)
{
	struct timespec ts;
	int ok;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	pthread_mutex_lock(&g->lock);
	while (g->n < n && pthread_cond_timedwait(&g->cond, &g->lock, &ts) == 0)
		;
	ok = g->n >= n;
	pthread_mutex_unlock(&g->lock);
	return ok;
}

static void
gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->open = 1;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

static void *
open_later(void *arg)
{
	usleep(100 * 1000);
	gate_open(arg);
	return NULL;
}

/* 3 workers, at most 2 on background jobs: with both busy on normal jobs
 * and more queued, an urgent job still starts at once; hints beyond the
 * cap are refused; freeing the pool drops what is queued. */
TEST(test_classes)
{
	struct gate g = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
	struct gjob j[8];
	work_queue *q = NULL;
	pthread_t t;
	struct clip_error e;
	int k;

	for (k = 0; k < 8; k++)
		j[k] = (struct gjob){ .item.run = gate_job, .item.drop = gate_drop, .g = &g, .id = k };
	CHECK(work_queue_new(3, 2, 2, 0, &q, &e) == CLIP_OK);
	if (q == NULL)
		return;
	CHECK(work_queue_push(q, &j[0].item, WORK_NORMAL) == 1);
	CHECK(work_queue_push(q, &j[1].item, WORK_NORMAL) == 1);
	CHECK(gate_started(&g, 2));
	CHECK(work_queue_push(q, &j[2].item, WORK_NORMAL) == 1);   /* waits: 2 background */
	CHECK(work_queue_push(q, &j[3].item, WORK_HINT) == 1);
	CHECK(work_queue_push(q, &j[4].item, WORK_HINT) == 1);
	CHECK(work_queue_push(q, &j[5].item, WORK_HINT) == 0);     /* 2 hints queued */
	CHECK(work_queue_push(q, &j[6].item, WORK_URGENT) == 1);
	CHECK(gate_started(&g, 3));
	CHECK_MSG(g.order[2] == 6, "third job to start: %d", g.order[2]);
	usleep(50 * 1000);
	CHECK_MSG(g.n == 3, "%d jobs started, background bound is 2", g.n);
	/* Freeing stops the pool at once; the running jobs end when the gate
	 * opens, and the three still queued are dropped, not run. */
	CHECK(pthread_create(&t, NULL, open_later, &g) == 0);
	work_queue_free(q);
	pthread_join(t, NULL);
	CHECK_MSG(atomic_load(&g.dropped) == 3, "%d dropped", atomic_load(&g.dropped));
	CHECK_MSG(g.n == 3, "%d jobs ran", g.n);
}

TEST_MAIN(test_idle_drain_runs_jobs, test_plain_drain_waits, test_classes)
