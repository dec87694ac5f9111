/*
 * work_queue.h - a fixed pool of threads running queued jobs.
 *
 * The threads are created once, with the queue.  A job is an item the
 * caller embeds in its own structure (no allocation here), queued in one
 * of three classes: urgent jobs run first, on any worker; normal and
 * hint jobs run in that order on at most max_background workers at a
 * time, so that urgent work always finds a free worker soon; hints are
 * refused when hint_cap of them are queued (a hint is never a duty).
 * Jobs still queued when the pool is freed are dropped (their drop
 * callback runs); running ones finish first.
 */
#ifndef CLIP_WORK_QUEUE_H
#define CLIP_WORK_QUEUE_H

#include <stdint.h>

#include "common/util/error.h"

typedef struct work_queue work_queue;

struct work_item {
	struct work_item *next;            /* the queue's */
	/* Runs the job on a worker (or a draining thread); the item is the
	 * job's again from then on. */
	void (*run)(struct work_item *item);
	/* Called instead of run for a job still queued when the pool is
	 * freed; NULL: nothing to undo. */
	void (*drop)(struct work_item *item);
};

enum work_class {
	WORK_URGENT,   /* never refused, runs first */
	WORK_NORMAL,   /* never refused */
	WORK_HINT,     /* refused when hint_cap hints are queued */
};

/* Workers run only on a CPU that would otherwise be idle (SCHED_IDLE,
 * where the system has it), for work that may lag but must not slow
 * anything else down; work_queue_drain then runs the queued jobs itself,
 * at its caller's priority, so that a busy machine cannot stall it. */
#define WORK_QUEUE_IDLE 1u

/* threads >= 1 workers, of which at most max_background (1..threads)
 * run normal and hint jobs at once; hint_cap >= 1; flags 0 or
 * WORK_QUEUE_IDLE.  *out is NULL on failure (CLIP_ERR_INVALID,
 * CLIP_ERR_NOMEM, or CLIP_ERR_IO if no thread starts). */
clip_err work_queue_new(unsigned threads, unsigned max_background, unsigned hint_cap,
    unsigned flags, work_queue **out, struct clip_error *err);

/* Stops and joins the workers, dropping what is still queued.  Accepts
 * NULL. */
void work_queue_free(work_queue *q);

/* Waits until no job is queued or running (with WORK_QUEUE_IDLE,
 * running the queued ones on the calling thread).  Accepts NULL. */
void work_queue_drain(work_queue *q);

/* 1 if queued; 0 if refused (a hint with hint_cap queued, or a queue
 * being freed): the item is then the caller's again. */
int work_queue_push(work_queue *q, struct work_item *item, enum work_class cls);

/* Jobs queued and running now; never waits for a job. */
void work_queue_counts(work_queue *q, unsigned *queued, unsigned *running);

#endif
