/*
 * span_cache.c - the memory cache of inflated spans (see span_cache.h).
 *
 * One mutex guards the table and the LRU list; one condition variable is
 * broadcast whenever a load finishes.  Waiters recheck their own entry,
 * so a broadcast for another span only costs a wakeup.  Loads are few
 * and slow (a network fetch plus an inflate), so this stays cheap.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "common/reader/span_cache.h"

enum span_state { LOADING, READY, FAILED, GONE };

struct span {
	uint64_t key;
	uint8_t *data;
	size_t len;
	size_t avail;                /* LOADING: data[0, avail) are final */
	enum span_state state;
	unsigned refs;
	struct clip_error err;       /* FAILED: what the loader reported */
	struct span *lru_prev, *lru_next;  /* READY only; head is most recent */
	UT_hash_handle hh;
};

struct span_cache {
	pthread_mutex_t lock;
	pthread_cond_t done;
	struct span *table;
	struct span *lru_head, *lru_tail;
	uint64_t max_bytes;
	uint64_t bytes;              /* of READY spans in the table */
	uint64_t count;
};

static void
lru_unlink(span_cache *c, struct span *s)
{
	if (s->lru_prev != NULL)
		s->lru_prev->lru_next = s->lru_next;
	else
		c->lru_head = s->lru_next;
	if (s->lru_next != NULL)
		s->lru_next->lru_prev = s->lru_prev;
	else
		c->lru_tail = s->lru_prev;
	s->lru_prev = s->lru_next = NULL;
}

static void
lru_push(span_cache *c, struct span *s)
{
	s->lru_prev = NULL;
	s->lru_next = c->lru_head;
	if (c->lru_head != NULL)
		c->lru_head->lru_prev = s;
	c->lru_head = s;
	if (c->lru_tail == NULL)
		c->lru_tail = s;
}

static void
span_destroy(struct span *s)
{
	free(s->data);
	free(s);
}

/* Evicts unreferenced spans, least recently used first, until the cache
 * is within its bound or only referenced spans are left.  Locked. */
static void
trim(span_cache *c)
{
	struct span *s = c->lru_tail, *prev;

	while (c->bytes > c->max_bytes && s != NULL) {
		prev = s->lru_prev;
		if (s->refs == 0) {
			lru_unlink(c, s);
			HASH_DEL(c->table, s);
			c->bytes -= s->len;
			c->count--;
			span_destroy(s);
		}
		s = prev;
	}
}

clip_err
span_cache_new(uint64_t max_bytes, span_cache **out, struct clip_error *err)
{
	span_cache *c;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->done, NULL);
	c->max_bytes = max_bytes;
	*out = c;
	return CLIP_OK;
}

void
span_cache_free(span_cache *c)
{
	struct span *s, *tmp;

	if (c == NULL)
		return;
	HASH_ITER(hh, c->table, s, tmp) {
		HASH_DEL(c->table, s);
		span_destroy(s);
	}
	pthread_cond_destroy(&c->done);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* A new LOADING entry for key, with the caller's reference.  Locked. */
static struct span *
claim(span_cache *c, uint64_t key)
{
	struct span *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->key = key;
	s->state = LOADING;
	s->refs = 1;
	HASH_ADD(hh, c->table, key, sizeof(s->key), s);
	return s;
}

enum span_lookup
span_cache_lookup(span_cache *c, uint64_t key, struct span **sp)
{
	struct span *s;
	enum span_lookup res;

	pthread_mutex_lock(&c->lock);
	HASH_FIND(hh, c->table, &key, sizeof(key), s);
	if (s == NULL) {
		s = claim(c, key);
		res = s != NULL ? SPAN_CLAIMED : SPAN_NOMEM;
	} else {
		s->refs++;
		res = s->state == READY ? SPAN_READY : SPAN_LOADING;
		if (res == SPAN_READY) {
			lru_unlink(c, s);
			lru_push(c, s);
		}
	}
	pthread_mutex_unlock(&c->lock);
	*sp = s;
	return res;
}

struct span *
span_cache_try_claim(span_cache *c, uint64_t key)
{
	struct span *s;

	pthread_mutex_lock(&c->lock);
	HASH_FIND(hh, c->table, &key, sizeof(key), s);
	s = s != NULL ? NULL : claim(c, key);   /* present, or someone else's */
	pthread_mutex_unlock(&c->lock);
	return s;
}

enum span_wait
span_cache_wait(span_cache *c, struct span *s, size_t need, struct clip_error *err)
{
	enum span_wait res;

	pthread_mutex_lock(&c->lock);
	while (s->state == LOADING && s->avail < need)
		pthread_cond_wait(&c->done, &c->lock);
	if (s->state == READY || s->state == LOADING) {
		res = SPAN_WAIT_OK;
	} else if (s->state == GONE) {
		res = SPAN_WAIT_GONE;
	} else {
		res = SPAN_WAIT_FAILED;
		if (err != NULL)
			*err = s->err;
	}
	pthread_mutex_unlock(&c->lock);
	return res;
}

void
span_cache_begin(span_cache *c, struct span *s, uint8_t *buf, size_t len)
{
	pthread_mutex_lock(&c->lock);
	s->data = buf;
	s->len = len;
	s->avail = 0;
	pthread_mutex_unlock(&c->lock);
}

void
span_cache_advance(span_cache *c, struct span *s, size_t avail)
{
	pthread_mutex_lock(&c->lock);
	if (avail > s->avail) {
		s->avail = avail;
		pthread_cond_broadcast(&c->done);
	}
	pthread_mutex_unlock(&c->lock);
}

int
span_cache_contains(span_cache *c, uint64_t key)
{
	struct span *s;

	pthread_mutex_lock(&c->lock);
	HASH_FIND(hh, c->table, &key, sizeof(key), s);
	pthread_mutex_unlock(&c->lock);
	return s != NULL;
}

struct span *
span_cache_ref(span_cache *c, struct span *s)
{
	pthread_mutex_lock(&c->lock);
	s->refs++;
	pthread_mutex_unlock(&c->lock);
	return s;
}

struct span *
span_cache_peek(span_cache *c, uint64_t key)
{
	struct span *s;

	pthread_mutex_lock(&c->lock);
	HASH_FIND(hh, c->table, &key, sizeof(key), s);
	if (s != NULL && s->state == READY)
		s->refs++;
	else
		s = NULL;
	pthread_mutex_unlock(&c->lock);
	return s;
}

void
span_cache_fill(span_cache *c, struct span *s, uint8_t *data, size_t len)
{
	pthread_mutex_lock(&c->lock);
	if (s->data != data)
		free(s->data);   /* begun, never advanced */
	s->data = data;
	s->len = len;
	s->avail = len;
	s->state = READY;
	lru_push(c, s);
	c->bytes += len;
	c->count++;
	trim(c);
	pthread_cond_broadcast(&c->done);
	pthread_mutex_unlock(&c->lock);
}

/* Ends a load that will not fill the entry: it leaves the table, the
 * waiters wake, and the caller's reference goes.  Locked. */
static void
drop_loading(span_cache *c, struct span *s, enum span_state state)
{
	s->state = state;
	HASH_DEL(c->table, s);
	pthread_cond_broadcast(&c->done);
	if (--s->refs == 0)
		span_destroy(s);
}

void
span_cache_fail(span_cache *c, struct span *s, const struct clip_error *e)
{
	pthread_mutex_lock(&c->lock);
	if (e != NULL)
		s->err = *e;
	else
		clip_error_set(&s->err, CLIP_ERR_IO, "span load failed");
	if (s->err.code == CLIP_OK)
		s->err.code = CLIP_ERR_IO;
	drop_loading(c, s, FAILED);
	pthread_mutex_unlock(&c->lock);
}

void
span_cache_abandon(span_cache *c, struct span *s)
{
	pthread_mutex_lock(&c->lock);
	drop_loading(c, s, GONE);
	pthread_mutex_unlock(&c->lock);
}

void
span_cache_release(span_cache *c, struct span *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	s->refs--;
	if (s->refs == 0 && (s->state == FAILED || s->state == GONE))
		span_destroy(s);     /* out of the table already */
	else if (s->refs == 0 && c->bytes > c->max_bytes)
		trim(c);
	pthread_mutex_unlock(&c->lock);
}

const uint8_t *
span_data(const struct span *sp)
{
	return sp->data;
}

size_t
span_len(const struct span *sp)
{
	return sp->len;
}

void
span_cache_usage(span_cache *c, uint64_t *bytes, uint64_t *count)
{
	pthread_mutex_lock(&c->lock);
	*bytes = c->bytes;
	*count = c->count;
	pthread_mutex_unlock(&c->lock);
}
