/*
 * kept_pages.c - which span files of the disk cache keep their pages.
 *
 * A warm read is served from a span file, a few blocks at a time, and the
 * kernel asks for a file in pieces that often fall in the same block:
 * dropping the blocks' pages after each read (so that the bytes are not
 * cached twice, once in the tree) made the next piece a disk read again.
 * So the last few span files read, per layer, keep their pages, and a
 * file's pages go when it leaves that set, or when the reader ends.
 */
#include "config.h"

#include <stdlib.h>

#include "common/reader/reader_int.h"

int
kept_pages_init(clip_reader *r)
{
	uint32_t i, k;

	pthread_mutex_init(&r->kept_lock, NULL);
	r->kept = calloc(r->nlayers ? r->nlayers : 1, sizeof(*r->kept));
	if (r->kept == NULL)
		return -1;
	for (i = 0; i < r->nlayers; i++)
		for (k = 0; k < KEPT_SPANS; k++)
			r->kept[i].span[k] = NO_SPAN;
	return 0;
}

static void
drop_span(clip_reader *r, const struct clip_layer *L, uint32_t i)
{
	struct clip_checkpoint cp;
	struct disk_cache_key key;

	if (clip_index_checkpoint(r->idx, L->index, i, &cp) != CLIP_OK)
		return;
	key = reader_disk_key(L, i, &cp);
	disk_cache_drop_pages(r->disk, &key);
}

void
kept_pages_note(clip_reader *r, const struct clip_layer *L, uint32_t i)
{
	struct kept_spans *ks = &r->kept[L->index];
	uint32_t gone = NO_SPAN;
	unsigned k;

	pthread_mutex_lock(&r->kept_lock);
	for (k = 0; k < KEPT_SPANS && ks->span[k] != i; k++)
		;
	if (k == KEPT_SPANS) {
		gone = ks->span[ks->next];
		ks->span[ks->next] = i;
		ks->next = (ks->next + 1) % KEPT_SPANS;
	}
	pthread_mutex_unlock(&r->kept_lock);
	if (gone != NO_SPAN)
		drop_span(r, L, gone);
}

void
kept_pages_free(clip_reader *r)
{
	struct clip_layer L;
	uint32_t i, k;

	if (r->kept == NULL)
		return;
	for (i = 0; i < r->nlayers; i++) {
		if (r->disk == NULL || clip_index_layer(r->idx, i, &L) != CLIP_OK)
			continue;
		for (k = 0; k < KEPT_SPANS; k++)
			if (r->kept[i].span[k] != NO_SPAN)
				drop_span(r, &L, r->kept[i].span[k]);
	}
	free(r->kept);
	r->kept = NULL;
	pthread_mutex_destroy(&r->kept_lock);
}
