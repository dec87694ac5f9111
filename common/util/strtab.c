/* strtab.c - interned strings for the STRINGS section. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "common/util/strtab.h"

struct strtab_entry {
	UT_hash_handle hh;
	uint32_t off;
	size_t len;
	char bytes[];
};

struct clip_strtab {
	struct strtab_entry *table;
	uint8_t *buf;
	size_t len, cap;
};

clip_err
clip_strtab_new(struct clip_strtab **out, struct clip_error *err)
{
	struct clip_strtab *st = calloc(1, sizeof(*st));

	*out = NULL;
	if (st == NULL || (st->buf = malloc(4096)) == NULL) {
		free(st);
		return clip_error_set(err, CLIP_ERR_NOMEM, "string table: out of memory");
	}
	st->cap = 4096;
	st->buf[0] = '\0';   /* the empty string */
	st->len = 1;
	*out = st;
	return CLIP_OK;
}

void
clip_strtab_free(struct clip_strtab *st)
{
	struct strtab_entry *e, *tmp;

	if (st == NULL)
		return;
	HASH_ITER(hh, st->table, e, tmp) {
		HASH_DEL(st->table, e);
		free(e);
	}
	free(st->buf);
	free(st);
}

clip_err
clip_strtab_add(struct clip_strtab *st, const char *s, size_t len, uint32_t *off,
    struct clip_error *err)
{
	struct strtab_entry *e;

	*off = 0;
	if (len == 0)
		return CLIP_OK;
	HASH_FIND(hh, st->table, s, len, e);
	if (e != NULL) {
		*off = e->off;
		return CLIP_OK;
	}
	if (len > UINT32_MAX || st->len + len + 1 > UINT32_MAX)
		return clip_error_set(err, CLIP_ERR_TOOBIG, "string table over 4 GiB");
	if (st->len + len + 1 > st->cap) {
		size_t ncap = st->cap * 2;
		uint8_t *p;
		while (ncap < st->len + len + 1)
			ncap *= 2;
		p = realloc(st->buf, ncap);
		if (p == NULL)
			return clip_error_set(err, CLIP_ERR_NOMEM, "string table: out of memory");
		st->buf = p;
		st->cap = ncap;
	}
	e = malloc(sizeof(*e) + len);
	if (e == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "string table: out of memory");
	memcpy(e->bytes, s, len);
	e->len = len;
	e->off = (uint32_t)st->len;
	HASH_ADD_KEYPTR(hh, st->table, e->bytes, len, e);
	memcpy(st->buf + st->len, s, len);
	st->buf[st->len + len] = '\0';
	st->len += len + 1;
	*off = e->off;
	return CLIP_OK;
}

clip_err
clip_strtab_take(struct clip_strtab *st, uint8_t **buf, size_t *len, struct clip_error *err)
{
	(void)err;
	*buf = st->buf;
	*len = st->len;
	st->buf = NULL;
	st->len = st->cap = 0;
	return CLIP_OK;
}
