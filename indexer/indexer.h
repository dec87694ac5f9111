/*
 * indexer.h - clipfs index: from an image reference to a CLIP v2 file.
 *
 * Resolves the image (registry or local OCI layout, platform chosen from
 * an index), streams every layer once through layer_scan (in parallel,
 * up to `threads` layers at a time), merges the layers in order with OCI
 * semantics and writes the index atomically.  A failed run leaves no
 * output file behind.
 */
#ifndef CLIP_INDEXER_H
#define CLIP_INDEXER_H

#include <stdatomic.h>
#include <stdint.h>

#include "common/util/error.h"
#include "common/oci/manifest.h"
#include "common/registry/mirrors.h"
#include "common/registry/registry.h"

/* Chosen by measurement; see clipfs(1) and clip(5), SIZE. */
#define INDEXER_DEFAULT_SPAN     (2u << 20)
#define INDEXER_DEFAULT_BIG_FILE (4u << 20)

/* Counters the caller may read at any time, e.g. for a progress line. */
struct indexer_progress {
	atomic_uint_fast64_t bytes_read;    /* compressed bytes streamed so far */
	atomic_uint_fast64_t bytes_total;   /* sum of the layer sizes */
	atomic_uint layers_done;
	atomic_uint layers_total;
};

struct indexer_opts {
	const char *source;         /* [docker://]HOST/REPO[:TAG|@DIGEST] or oci:DIR[:TAG] */
	const char *storage_ref;    /* where the mounter fetches from; NULL: source */
	const char *platform;       /* "os/arch[/variant]"; NULL: this machine */
	uint64_t span;              /* checkpoint spacing, uncompressed bytes */
	uint64_t big_file;          /* files this large get their own checkpoint; 0: never */
	/* Paths (normalised like tar entries, sorted by strcmp, no repeats)
	 * of files that get a checkpoint just before and just after their
	 * data: a prefetch list's files, so that prefetching their spans
	 * fetches little else.  NULL: none. */
	const char *const *mark_paths;
	size_t nmark_paths;
	int threads;                /* layers at once; 0: one per core */
	const char *creds;          /* "USER:PASS" or NULL */
	const char *authfile;       /* or NULL */
	struct clip_registry_opts registry;   /* TLS, plain HTTP, timeouts */
	/* Registry mirrors (mirrors.h) to resolve the image and stream its
	 * layers from first, in order, the image's registry last; at most
	 * CLIP_MIRRORS_MAX. */
	const struct clip_mirror_host *mirrors;
	size_t nmirrors;
	struct indexer_progress *progress;    /* or NULL */
};

struct indexer_report {
	uint32_t layers;
	uint64_t names;             /* entries in the merged tree */
	uint64_t inodes;
	uint64_t compressed_bytes;  /* read from the source */
	uint64_t uncompressed_bytes;
	uint32_t checkpoints;
	uint64_t index_size;
	char manifest_digest[80];
	char platform[96];
};

/* Fills in the defaults. */
void indexer_opts_init(struct indexer_opts *o);

/*
 * Builds the index into out_path.  Errors from every stage, prefixed with
 * where they happened ("layer 2 (sha256:...)": ...).
 */
clip_err indexer_run(const struct indexer_opts *o, const char *out_path,
    struct indexer_report *rep, struct clip_error *err);

#endif
