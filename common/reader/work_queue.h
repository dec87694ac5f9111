/*
 * work_queue.h - a small pool of threads that run (layer, span) jobs in the
 * background: loading spans ahead of reads, writing them to the disk cache.
 *
 * The queue is bounded: when it is full, or the span is already queued,
 * a push is dropped (a queued job is a hint, never a duty).  Jobs still
 * queued when the pool is freed are dropped; running ones finish first.
 */
#ifndef CLIP_WORK_QUEUE_H
#define CLIP_WORK_QUEUE_H

#include <stdint.h>

#include "common/util/error.h"

typedef struct work_queue work_queue;

/* Called on a pool thread for each job, with the arg it was pushed with. */
typedef void (*work_queue_fn)(void *ctx, uint32_t layer, uint32_t span, void *arg);

/* Workers run only on a CPU that would otherwise be idle (SCHED_IDLE,
 * where the system has it), for work that may lag but must not slow
 * anything else down; work_queue_drain then runs the queued jobs itself,
 * at its caller's priority, so that a busy machine cannot stall it. */
#define WORK_QUEUE_IDLE 1u

/* threads >= 1 workers, a queue of queue_cap >= 1 jobs, flags 0 or
 * WORK_QUEUE_IDLE.  *out is NULL on failure (CLIP_ERR_NOMEM, or
 * CLIP_ERR_IO if no thread starts). */
clip_err work_queue_new(unsigned threads, unsigned queue_cap, unsigned flags, work_queue_fn fn,
    void *ctx, work_queue **out, struct clip_error *err);

/* Stops and joins the workers.  Accepts NULL. */
void work_queue_free(work_queue *ra);

/* Waits until no job is queued or running (with WORK_QUEUE_IDLE, running
 * the queued ones on the calling thread).  Accepts NULL. */
void work_queue_drain(work_queue *ra);

/* 1 if queued, 0 if dropped (full, or already queued). */
int work_queue_push(work_queue *ra, uint32_t layer, uint32_t span);
/* The same with an argument for the job (NULL for work_queue_push).  A
 * dropped job's arg is the caller's again; drain before freeing a pool
 * whose queued args own something. */
int work_queue_push_arg(work_queue *ra, uint32_t layer, uint32_t span, void *arg);

#endif
