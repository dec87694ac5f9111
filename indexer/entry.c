/* entry.c - copies of tar entries, kept until the merge. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "indexer/entry.h"

static char *
copy_bytes(const char *s, size_t len)
{
	char *p = malloc(len + 1);

	if (p != NULL) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

static void
entry_free(struct layer_entry *e)
{
	size_t i;

	free(e->path);
	free(e->linkpath);
	for (i = 0; i < e->nxattrs; i++) {
		free(e->xattrs[i].name);
		free(e->xattrs[i].value);
	}
	free(e->xattrs);
}

clip_err
layer_entries_add(struct layer_entries *list, const struct clip_tar_entry *te,
    struct clip_error *err)
{
	struct layer_entry *e;
	size_t i;

	if (list->n == list->cap) {
		size_t ncap = list->cap ? list->cap * 2 : 256;
		void *p = realloc(list->v, ncap * sizeof(*list->v));
		if (p == NULL)
			return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
		list->v = p;
		list->cap = ncap;
	}
	e = &list->v[list->n];
	memset(e, 0, sizeof(*e));
	e->path = copy_bytes(te->path, te->path_len);
	e->path_len = te->path_len;
	if (te->linkpath != NULL) {
		e->linkpath = copy_bytes(te->linkpath, te->linkpath_len);
		e->linkpath_len = te->linkpath_len;
	}
	e->type = te->type;
	e->mode = te->mode;
	e->uid = te->uid;
	e->gid = te->gid;
	e->size = te->size;
	e->mtime_sec = te->mtime_sec;
	e->mtime_nsec = te->mtime_nsec;
	e->devmajor = te->devmajor;
	e->devminor = te->devminor;
	e->data_offset = te->data_offset;
	if (te->nxattrs > 0) {
		e->xattrs = calloc(te->nxattrs, sizeof(*e->xattrs));
		if (e->xattrs == NULL)
			goto nomem;
		e->nxattrs = te->nxattrs;
		for (i = 0; i < te->nxattrs; i++) {
			e->xattrs[i].name = copy_bytes(te->xattrs[i].name, strlen(te->xattrs[i].name));
			e->xattrs[i].value = (uint8_t *)copy_bytes((const char *)te->xattrs[i].value,
			    te->xattrs[i].len);
			e->xattrs[i].len = te->xattrs[i].len;
			if (e->xattrs[i].name == NULL || e->xattrs[i].value == NULL)
				goto nomem;
		}
	}
	if (e->path == NULL || (te->linkpath != NULL && e->linkpath == NULL))
		goto nomem;
	list->n++;
	return CLIP_OK;
nomem:
	entry_free(e);
	return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
}

void
layer_entries_free(struct layer_entries *list)
{
	size_t i;

	for (i = 0; i < list->n; i++)
		entry_free(&list->v[i]);
	free(list->v);
	memset(list, 0, sizeof(*list));
}
