/*
 * indexer.c - clipfs index: resolve, scan layers in parallel, merge,
 * write (see indexer.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "common/registry/auth_config.h"
#include "common/registry/image.h"
#include "common/registry/mirrors.h"
#include "common/format/index_write.h"
#include "common/oci/oci_layout.h"
#include "common/oci/reference.h"
#include "indexer/indexer.h"
#include "indexer/layer_scan.h"
#include "indexer/tree.h"

#define LAYOUT_CHUNK (1u << 20)

/* The image config keys that matter to a runtime, kept in the index. */
static const char *const config_keys[] = {
	"Env", "Entrypoint", "Cmd", "WorkingDir", "User", "Labels",
	"ExposedPorts", "Volumes", "StopSignal",
};

/* Where the layers come from: a registry (with mirrors: the set, which
 * owns the registry's handle too) or a local layout. */
struct source {
	struct clip_reference ref;
	clip_registry *registry;
	clip_mirror_set *mirrors;
	clip_oci_layout *layout;
	struct clip_image *image;
};

struct layer_job {
	const struct clip_descriptor *desc;
	uint32_t compression;
	struct layer_scan *scan;
	clip_err rc;
	struct clip_error err;
};

struct scan_pool {
	const struct indexer_opts *o;
	struct source *src;
	struct layer_job *jobs;
	size_t njobs;
	atomic_size_t next;
	atomic_int failed;          /* stop the others early */
};

void
indexer_opts_init(struct indexer_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->span = INDEXER_DEFAULT_SPAN;
	o->big_file = INDEXER_DEFAULT_BIG_FILE;
	clip_registry_opts_init(&o->registry);
}

static void
source_close(struct source *s)
{
	clip_image_free(s->image);
	clip_mirror_set_free(s->mirrors);
	clip_registry_close(s->registry);
	clip_oci_layout_close(s->layout);
	clip_reference_free(&s->ref);
	memset(s, 0, sizeof(*s));
}

/* The mirrors, then s->registry, as one set (which takes the handles). */
static clip_err
mirrors_open(const struct indexer_opts *o, struct source *s, struct clip_error *err)
{
	struct clip_blob_source unused;
	char origin[512];
	clip_registry *r = s->registry;

	snprintf(origin, sizeof(origin), "%s/%s", s->ref.api_host, s->ref.repository);
	s->registry = NULL;   /* the set's now, even on failure */
	return clip_mirror_set_open(o->mirrors, o->nmirrors, &o->registry, o->authfile, r, origin,
	    &s->mirrors, &unused, err);
}

static clip_err
source_open(const struct indexer_opts *o, struct source *s, struct clip_error *err)
{
	struct clip_platform want, *pwant = NULL;
	struct clip_registry_opts ro = o->registry;
	struct clip_creds creds = { 0 };
	clip_err rc;

	memset(s, 0, sizeof(*s));
	if (o->platform != NULL) {
		if ((rc = clip_platform_parse(o->platform, &want, err)) != CLIP_OK)
			return rc;
		pwant = &want;
	}
	if ((rc = clip_reference_parse(o->source, &s->ref, err)) != CLIP_OK)
		return clip_error_prefix(err, "%s", o->source);
	if (s->ref.kind == CLIP_REF_OCI_LAYOUT) {
		if ((rc = clip_oci_layout_open(s->ref.path, &s->layout, err)) != CLIP_OK)
			return rc;
		return clip_image_resolve_layout(s->layout, s->ref.tag, pwant, &s->image, err);
	}
	rc = clip_auth_lookup(s->ref.registry, o->creds, o->authfile, &creds, err);
	if (rc != CLIP_OK)
		return rc;
	ro.username = creds.username;
	ro.password = creds.password;
	rc = clip_registry_open(s->ref.api_host, s->ref.repository, &ro, &s->registry, err);
	clip_creds_free(&creds);
	if (rc == CLIP_OK && o->nmirrors > 0)
		rc = mirrors_open(o, s, err);
	if (rc != CLIP_OK)
		return rc;
	if (s->mirrors != NULL)
		return clip_mirror_set_resolve(s->mirrors, clip_reference_target(&s->ref), pwant,
		    &s->image, err);
	return clip_image_resolve_registry(s->registry, clip_reference_target(&s->ref), pwant,
	    &s->image, err);
}

/* The sink keeps its own error: the stream that it stops reports only
 * that it was stopped, in the caller's error, which must not hide this. */
struct feed_ctx {
	struct scan_pool *pool;
	struct layer_job *job;
	struct layer_scan *scan;
	struct clip_error err;
	clip_err rc;
};

static int
feed_sink(void *ctx, const void *buf, size_t len)
{
	struct feed_ctx *f = ctx;

	if (atomic_load(&f->pool->failed))
		return 1;
	f->rc = layer_scan_feed(f->scan, buf, len, &f->err);
	if (f->pool->o->progress != NULL)
		atomic_fetch_add(&f->pool->o->progress->bytes_read, len);
	return f->rc != CLIP_OK;
}

static clip_err
stream_layout_blob(struct source *src, const char *digest, struct feed_ctx *f,
    struct clip_error *err)
{
	uint8_t *buf;
	uint64_t size;
	int fd;
	clip_err rc;

	if ((rc = clip_oci_layout_open_blob(src->layout, digest, &fd, &size, err)) != CLIP_OK)
		return rc;
	buf = malloc(LAYOUT_CHUNK);
	if (buf == NULL) {
		close(fd);
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	for (;;) {
		ssize_t n = read(fd, buf, LAYOUT_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = clip_error_set(err, CLIP_ERR_IO, "reading blob %s: %s", digest,
			    strerror(errno));
			break;
		}
		if (n == 0 || feed_sink(f, buf, (size_t)n) != 0) {
			rc = f->rc;
			if (rc == CLIP_OK && n != 0)
				rc = clip_error_set(err, CLIP_ERR_CANCELLED, "cancelled");
			break;
		}
	}
	free(buf);
	close(fd);
	return rc;
}

/* A mirror's stream failed: a new scan for the next host's, unless the
 * run is failing anyway. */
static int
scan_restart(void *ctx)
{
	struct feed_ctx *f = ctx;
	struct layer_job *job = f->job;
	const struct indexer_opts *o = f->pool->o;

	if (atomic_load(&f->pool->failed))
		return 1;
	layer_scan_free(job->scan);
	job->scan = NULL;
	f->rc = CLIP_OK;
	clip_error_clear(&f->err);
	if (layer_scan_new(job->compression, o->span, o->big_file, o->mark_paths, o->nmark_paths,
	    &job->scan, &f->err) != CLIP_OK)
		return 1;
	f->scan = job->scan;
	return 0;
}

static clip_err
scan_layer(struct scan_pool *pool, struct layer_job *job)
{
	const struct indexer_opts *o = pool->o;
	struct feed_ctx f;
	clip_err rc;

	rc = layer_scan_new(job->compression, o->span, o->big_file, o->mark_paths, o->nmark_paths,
	    &job->scan, &job->err);
	if (rc != CLIP_OK)
		return rc;
	memset(&f, 0, sizeof(f));
	f.pool = pool;
	f.job = job;
	f.scan = job->scan;
	if (pool->src->layout != NULL)
		rc = stream_layout_blob(pool->src, job->desc->digest, &f, &job->err);
	else if (pool->src->mirrors != NULL)
		rc = clip_mirror_set_stream_blob(pool->src->mirrors, job->desc->digest,
		    job->desc->size, feed_sink, scan_restart, &f, &job->err);
	else
		rc = clip_registry_stream_blob(pool->src->registry, job->desc->digest,
		    job->desc->size, feed_sink, &f, &job->err);
	/* The sink's own error (a bad gzip or tar stream) is the real cause
	 * of a stream it stopped, whichever way the blob came. */
	if (f.rc != CLIP_OK) {
		job->err = f.err;
		rc = f.rc;
	}
	if (rc == CLIP_OK)
		rc = layer_scan_finish(job->scan, job->desc->digest, &job->err);
	return rc;
}

static void *
scan_worker(void *arg)
{
	struct scan_pool *pool = arg;
	size_t i;

	while ((i = atomic_fetch_add(&pool->next, 1)) < pool->njobs) {
		struct layer_job *job = &pool->jobs[i];
		if (atomic_load(&pool->failed)) {
			job->rc = clip_error_set(&job->err, CLIP_ERR_CANCELLED, "cancelled");
			continue;
		}
		job->rc = scan_layer(pool, job);
		if (job->rc != CLIP_OK)
			atomic_store(&pool->failed, 1);
		else if (pool->o->progress != NULL)
			atomic_fetch_add(&pool->o->progress->layers_done, 1);
	}
	return NULL;
}

static int
default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (int)n : 1;
}

/* Scans every layer; on failure, the error of the first layer that failed
 * for a reason of its own (not cancelled because another one failed). */
static clip_err
scan_all(struct scan_pool *pool, struct clip_error *err)
{
	pthread_t tids[64];
	size_t i, nthreads;

	nthreads = (size_t)(pool->o->threads > 0 ? pool->o->threads : default_threads());
	if (nthreads > pool->njobs)
		nthreads = pool->njobs;
	if (nthreads > sizeof(tids) / sizeof(tids[0]))
		nthreads = sizeof(tids) / sizeof(tids[0]);
	for (i = 0; i < nthreads; i++)
		if (pthread_create(&tids[i], NULL, scan_worker, pool) != 0)
			break;
	if (i == 0 && pool->njobs > 0)
		scan_worker(pool);    /* no thread at all: do it here */
	nthreads = i;
	for (i = 0; i < nthreads; i++)
		pthread_join(tids[i], NULL);
	for (i = 0; i < pool->njobs; i++) {
		struct layer_job *job = &pool->jobs[i];
		if (job->rc != CLIP_OK && job->rc != CLIP_ERR_CANCELLED) {
			clip_error_set(err, job->rc, "layer %zu (%s): %s", i, job->desc->digest,
			    clip_error_message(&job->err));
			return job->rc;
		}
	}
	for (i = 0; i < pool->njobs; i++)
		if (pool->jobs[i].rc != CLIP_OK)
			return clip_error_set(err, pool->jobs[i].rc, "%s",
			    clip_error_message(&pool->jobs[i].err));
	return CLIP_OK;
}

/* The "config" object of the image config, trimmed to config_keys and
 * serialised with sorted keys so the index is reproducible. */
static char *
runtime_config_json(json_t *config)
{
	json_t *cfg = json_object_get(config, "config"), *out = json_object();
	char *s;
	size_t i;

	for (i = 0; cfg != NULL && i < sizeof(config_keys) / sizeof(config_keys[0]); i++) {
		json_t *v = json_object_get(cfg, config_keys[i]);
		if (v != NULL && !json_is_null(v))
			json_object_set(out, config_keys[i], v);
	}
	s = json_dumps(out, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(out);
	return s;
}

static const char *
config_string(json_t *config, const char *key)
{
	const char *s = json_string_value(json_object_get(config, key));

	return s ? s : "";
}

/* Fills in where the mounter will fetch from. */
static clip_err
storage_of(const struct indexer_opts *o, const struct source *src, struct clip_reference *st,
    const char **registry, const char **repository, struct clip_error *err)
{
	clip_err rc;

	*registry = *repository = "";
	memset(st, 0, sizeof(*st));
	if (o->storage_ref != NULL) {
		if ((rc = clip_reference_parse(o->storage_ref, st, err)) != CLIP_OK)
			return clip_error_prefix(err, "--storage-ref %s", o->storage_ref);
		if (st->kind != CLIP_REF_REGISTRY)
			return clip_error_set(err, CLIP_ERR_INVALID,
			    "--storage-ref must name a registry repository, not '%s'", o->storage_ref);
		*registry = st->registry;
		*repository = st->repository;
	} else if (src->ref.kind == CLIP_REF_REGISTRY) {
		*registry = src->ref.registry;
		*repository = src->ref.repository;
	}
	return CLIP_OK;
}

static clip_err
write_index(const struct indexer_opts *o, struct source *src, struct scan_pool *pool,
    const char *out_path, struct indexer_report *rep, struct clip_error *err)
{
	struct clip_image *img = src->image;
	struct merge_tree *tree = NULL;
	clip_writer *w = NULL;
	struct clip_reference st;
	struct clip_image_info ii;
	char *config_json = NULL;
	size_t i, c, nchunks;
	uint32_t layer;
	clip_err rc;

	memset(&ii, 0, sizeof(ii));
	if ((rc = storage_of(o, src, &st, &ii.storage_registry, &ii.storage_repository, err)) != CLIP_OK)
		goto out;
	if ((rc = merge_tree_new(&tree, err)) != CLIP_OK ||
	    (rc = clip_writer_new(&w, err)) != CLIP_OK)
		goto out;
	for (i = 0; i < pool->njobs; i++) {
		struct layer_job *job = &pool->jobs[i];
		const clip_gzindex *gz = layer_scan_gzindex(job->scan);
		struct clip_layer_info li = {
			.digest = job->desc->digest,
			.media_type = job->desc->media_type ? job->desc->media_type : "",
			.compressed_size = clip_gzindex_compressed_size(gz),
			.uncompressed_size = clip_gzindex_uncompressed_size(gz),
			.compression = job->compression,
		};
		li.chunk_sha256 = clip_gzindex_chunk_sha256s(gz, &nchunks, &li.chunk_shift);
		li.chunk_count = nchunks;
		rc = merge_tree_apply(tree, layer_scan_entries(job->scan), (uint32_t)i, err);
		if (rc != CLIP_OK) {
			clip_error_prefix(err, "layer %zu (%s)", i, job->desc->digest);
			goto out;
		}
		if ((rc = clip_writer_add_layer(w, &li, &layer, err)) != CLIP_OK)
			goto out;
		for (c = 0; c < clip_gzindex_checkpoint_count(gz); c++)
			if ((rc = clip_writer_add_checkpoint(w, layer, clip_gzindex_checkpoint(gz, c),
			    err)) != CLIP_OK)
				goto out;
		rep->compressed_bytes += li.compressed_size;
		rep->uncompressed_bytes += li.uncompressed_size;
		rep->checkpoints += (uint32_t)clip_gzindex_checkpoint_count(gz);
		/* The entries are merged; free them now to bound memory. */
		layer_scan_drop_entries(job->scan);
	}
	if ((rc = merge_tree_emit(tree, w, err)) != CLIP_OK)
		goto out;
	merge_tree_counts(tree, &rep->names, &rep->inodes);
	config_json = runtime_config_json(img->config);
	if (config_json == NULL) {
		rc = clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
		goto out;
	}
	ii.source_ref = o->source;
	ii.manifest_digest = img->manifest_digest;
	ii.manifest_media_type = img->manifest_media_type;
	ii.config_digest = img->manifest->config.digest;
	ii.os = config_string(img->config, "os");
	ii.architecture = config_string(img->config, "architecture");
	ii.variant = config_string(img->config, "variant");
	ii.config_json = config_json;
	ii.storage_flags = o->registry.plain_http ? CLIP_STORAGE_PLAIN_HTTP : 0;
	snprintf(rep->manifest_digest, sizeof(rep->manifest_digest), "%s", img->manifest_digest);
	snprintf(rep->platform, sizeof(rep->platform), "%s/%s%s%s", ii.os, ii.architecture,
	    ii.variant[0] ? "/" : "", ii.variant);
	if ((rc = clip_writer_set_image(w, &ii, err)) != CLIP_OK)
		goto out;
	rc = clip_writer_write_file(w, out_path, err);
out:
	free(config_json);
	clip_reference_free(&st);
	clip_writer_free(w);
	merge_tree_free(tree);
	return rc;
}

/* Fails early, before any download, if the output cannot be written. */
static clip_err
check_output_dir(const char *out_path, struct clip_error *err)
{
	char *copy = strdup(out_path);
	const char *dir;
	int ok;

	if (copy == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	dir = dirname(copy);
	ok = access(dir, W_OK | X_OK) == 0;
	if (!ok)
		clip_error_set(err, CLIP_ERR_IO, "%s: cannot write there: %s", out_path, strerror(errno));
	free(copy);
	return ok ? CLIP_OK : CLIP_ERR_IO;
}

clip_err
indexer_run(const struct indexer_opts *o, const char *out_path, struct indexer_report *rep,
    struct clip_error *err)
{
	struct source src;
	struct scan_pool pool;
	clip_err rc;
	size_t i;
	struct stat st;

	memset(rep, 0, sizeof(*rep));
	memset(&pool, 0, sizeof(pool));
	memset(&src, 0, sizeof(src));
	if (o->span < 64 * 1024)
		return clip_error_set(err, CLIP_ERR_INVALID, "--span must be at least 64 KiB");
	if ((rc = check_output_dir(out_path, err)) != CLIP_OK)
		return rc;
	if ((rc = source_open(o, &src, err)) != CLIP_OK)
		goto out;
	pool.o = o;
	pool.src = &src;
	pool.njobs = src.image->manifest->n_layers;
	pool.jobs = calloc(pool.njobs ? pool.njobs : 1, sizeof(*pool.jobs));
	if (pool.jobs == NULL) {
		rc = clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < pool.njobs; i++) {
		struct layer_job *job = &pool.jobs[i];
		job->desc = &src.image->manifest->layers[i];
		rc = layer_media_compression(job->desc->media_type ? job->desc->media_type : "",
		    &job->compression, err);
		if (rc != CLIP_OK) {
			clip_error_prefix(err, "layer %zu (%s)", i, job->desc->digest);
			goto out;
		}
		if (o->progress != NULL)
			atomic_fetch_add(&o->progress->bytes_total, job->desc->size);
	}
	if (o->progress != NULL)
		atomic_store(&o->progress->layers_total, (unsigned)pool.njobs);
	rep->layers = (uint32_t)pool.njobs;
	if ((rc = scan_all(&pool, err)) != CLIP_OK)
		goto out;
	if ((rc = write_index(o, &src, &pool, out_path, rep, err)) != CLIP_OK)
		goto out;
	if (stat(out_path, &st) == 0)
		rep->index_size = (uint64_t)st.st_size;
out:
	for (i = 0; i < pool.njobs; i++)
		layer_scan_free(pool.jobs[i].scan);
	free(pool.jobs);
	source_close(&src);
	return rc;
}
