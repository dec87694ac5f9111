/* test_work_queue.c - the background job pool: idle workers, and a
 * drain that does not wait on them. */
#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
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

static void
job(void *arg, uint32_t layer, uint32_t span, void *jarg)
{
	struct ctx *c = arg;
	int pol = sched_getscheduler(0);

	(void)layer;
	(void)jarg;
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
	struct ctx c;
	pthread_t t;
	uint32_t s;

	ctx_init(&c);
	CHECK(work_queue_new(1, 8, WORK_QUEUE_IDLE, job, &c, &ra, &e) == CLIP_OK);
	if (ra == NULL)
		return;
	CHECK(work_queue_push(ra, 0, 0) == 1);
	wait_started(&c);
	for (s = 1; s < NJOBS; s++)
		CHECK(work_queue_push(ra, 0, s) == 1);
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
	struct ctx c;
	uint32_t s;

	ctx_init(&c);
	c.hold = 0;
	CHECK(work_queue_new(2, 8, 0, job, &c, &ra, &e) == CLIP_OK);
	if (ra == NULL)
		return;
	for (s = 0; s < NJOBS; s++)
		CHECK(work_queue_push(ra, 0, s) == 1);
	work_queue_drain(ra);
	CHECK_MSG(atomic_load(&c.ran) == NJOBS, "%d", atomic_load(&c.ran));
	CHECK(atomic_load(&c.on_drainer) == 0);
	CHECK(atomic_load(&c.policy_idle) == 0);
	work_queue_free(ra);
}

TEST_MAIN(test_idle_drain_runs_jobs, test_plain_drain_waits)
