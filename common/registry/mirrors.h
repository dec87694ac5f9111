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
#include "common/registry/image.h"
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

/* What host i did: its label, its scheme ("https" or "http"), reads it
 * answered, their bytes, reads that failed there, and of those the ones
 * whose bytes were wrong.  0 / "" for i past the last host. */
struct clip_mirror_host_stats {
	const char *label, *scheme;
	unsigned long reads, failed, wrong;
	unsigned long long bytes;
};
size_t clip_mirror_set_size(const clip_mirror_set *m);
void clip_mirror_set_stats(const clip_mirror_set *m, size_t i, struct clip_mirror_host_stats *out);

/* Prepares a sink for a stream from the start again: 0, or nonzero to
 * give up. */
typedef int (*clip_stream_restart_fn)(void *ctx);

/*
 * clip_registry_stream_blob from each host in turn, the origin last, with
 * the skip rules above: a host whose stream fails in any way (its
 * connection, its status, a digest mismatch at the end, or sink stopping
 * it, as wrong bytes may make it) is skipped, restart(ctx) is called, and
 * the whole blob streamed again from the next host.  The last host's
 * error, or the one before restart gave up.  Counted per host.
 */
clip_err clip_mirror_set_stream_blob(clip_mirror_set *m, const char *digest,
    uint64_t expected_size, clip_blob_sink sink, clip_stream_restart_fn restart, void *ctx,
    struct clip_error *err);

/* clip_image_resolve_registry at each host in turn (the skip rules
 * above), the origin's answer last. */
clip_err clip_mirror_set_resolve(clip_mirror_set *m, const char *tag_or_digest,
    const struct clip_platform *platform, struct clip_image **out, struct clip_error *err);

/* One mirror of an image: where it holds the image, and how to talk to
 * it (from --mirror, or from registries.conf). */
struct clip_mirror_host {
	char host[256];              /* HOST[:PORT] */
	char repository[256];
	int insecure;                /* certificates not checked; plain HTTP
	                                when the host has no TLS */
	char label[300];             /* its name in counters and messages */
};

/*
 * Opens mirror m with base's TLS, plain HTTP and timeouts, credentials
 * for m->host from the auth files only (authfile, then the usual ones;
 * base's are the image registry's and never go to a mirror),
 * whole_blob_fails set.  m->insecure (whatever base says of plain HTTP:
 * that is the image registry's): the certificate is not checked, and
 * the scheme is decided here, once
 * (insecure_scheme.h): GET /v2/ over HTTPS, then over plain HTTP when
 * HTTPS got no answer, both within base's connect timeout; HTTPS unless
 * only plain HTTP answered.  clip_registry_plain_http(*out) tells which.
 */
clip_err clip_mirror_open(const struct clip_mirror_host *m,
    const struct clip_registry_opts *base, const char *authfile, clip_registry **out,
    struct clip_error *err);

/*
 * clip_mirror_open of each of mirrors[0..n-1] (n at most
 * CLIP_MIRRORS_MAX), then clip_mirror_set_new with origin (named
 * origin_label) last.  Takes origin over: closed on failure too.
 */
clip_err clip_mirror_set_open(const struct clip_mirror_host *mirrors, size_t n,
    const struct clip_registry_opts *base, const char *authfile, clip_registry *origin,
    const char *origin_label, clip_mirror_set **out, struct clip_blob_source *src,
    struct clip_error *err);

/*
 * The repository a mirror "HOST[/PATH]" holds repo under: PATH/repo, or
 * repo.  *host and *repository are malloc'ed.  CLIP_ERR_INVALID for an
 * empty host or a bad repository name.
 */
clip_err clip_mirror_parse(const char *mirror, const char *repo, char **host,
    char **repository, struct clip_error *err);

#endif
