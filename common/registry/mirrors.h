/*
 * mirrors.h - blob ranges from several registries holding the same
 * blobs: mirrors (pull-through caches, copies) tried in order, the
 * image's own registry last.
 *
 * A mirror whose read fails (connection refused, timeout, 5xx, a
 * missing blob, a short body: any error) or whose bytes the caller's
 * verify callback refuses (fetch_verified) is skipped for
 * CLIP_MIRROR_SKIP_S seconds, so a dead mirror costs one failed try per
 * period, not one per read, and the read goes to the next host; the
 * origin is never skipped.  A mirror that answers a ranged read with the
 * whole blob (200: a pull-through cache that has not cached it yet; open
 * its handle with whole_blob_fails) is dropped after the headers and
 * skipped for CLIP_MIRROR_FILL_SKIP_S: distribution's proxy goes on
 * filling its cache without us.  A mirror never changes what is served:
 * the caller verifies every range against the index, whichever host it
 * came from.  Safe from many threads at once.
 */
#ifndef CLIP_MIRRORS_H
#define CLIP_MIRRORS_H

#include <stddef.h>

#include "common/oci/blob_source.h"
#include "common/registry/registry.h"

#define CLIP_MIRROR_SKIP_S 30
#define CLIP_MIRROR_FILL_SKIP_S 3
#define CLIP_MIRRORS_MAX 8

typedef struct clip_mirror_set clip_mirror_set;

/*
 * hosts[0..n-1]: the mirrors in order, then the origin (n >= 1, at most
 * CLIP_MIRRORS_MAX + 1), named labels[i] in counters (copied).  The set
 * takes the handles over (it closes them, also on failure).  src gets
 * fetch/fetch_progress/fetch_verified/ctx.
 */
clip_err clip_mirror_set_new(clip_registry *const *hosts, const char *const *labels, size_t n,
    clip_mirror_set **out, struct clip_blob_source *src, struct clip_error *err);

/* Closes the handles.  No fetch may be running.  NULL is fine. */
void clip_mirror_set_free(clip_mirror_set *m);

/* What host i did: its label, reads it answered, their bytes, reads that
 * failed there, and of those the ones whose bytes were wrong.  0 / ""
 * for i past the last host. */
struct clip_mirror_host_stats {
	const char *label;
	unsigned long reads, failed, wrong;
	unsigned long long bytes;
};
size_t clip_mirror_set_size(const clip_mirror_set *m);
void clip_mirror_set_stats(const clip_mirror_set *m, size_t i, struct clip_mirror_host_stats *out);

/*
 * The repository a mirror "HOST[/PATH]" holds repo under: PATH/repo, or
 * repo.  *host and *repository are malloc'ed.  CLIP_ERR_INVALID for an
 * empty host or a bad repository name.
 */
clip_err clip_mirror_parse(const char *mirror, const char *repo, char **host,
    char **repository, struct clip_error *err);

#endif
