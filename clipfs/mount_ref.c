/* mount_ref.c - clipfs mount REF: find, fetch and cache the image's index. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clipfs/cli.h"
#include "clipfs/mount_ref.h"
#include "common/registry/image.h"
#include "common/registry/index_artifact.h"

int
mount_arg_is_reference(const char *arg)
{
	struct stat st;
	size_t n = strlen(arg);

	if (stat(arg, &st) == 0 || arg[0] == '/' || arg[0] == '.')
		return 0;
	return !(n >= 5 && strcmp(arg + n - 5, ".clip") == 0);
}

/* Whether path is a good index of the image manifest digest; if so,
 * *out is it, open (the mount uses it without opening it again). */
static int
index_describes(const char *path, const char *digest, clip_index **out,
    struct clip_error *err)
{
	struct clip_index_image im;
	clip_index *idx = NULL;
	int ok;

	if (clip_index_open(path, &idx, err) != CLIP_OK)
		return 0;
	clip_index_image(idx, &im);
	ok = im.manifest_digest.len == strlen(digest) &&
	    memcmp(im.manifest_digest.ptr, digest, im.manifest_digest.len) == 0;
	if (!ok) {
		clip_error_set(err, CLIP_ERR_CHECKSUM, "the published index describes %.*s, not %s",
		    (int)im.manifest_digest.len, im.manifest_digest.ptr, digest);
		clip_index_close(idx);
		idx = NULL;
	}
	*out = idx;
	return ok;
}

static int
write_sink(void *ctx, const void *buf, size_t len)
{
	FILE *f = ctx;

	return fwrite(buf, 1, len, f) == len ? 0 : -1;
}

/* Downloads blob digest (size bytes, verified) to path, atomically, and
 * keeps it only if it is an index of manifest. */
static clip_err
download_index(clip_registry *r, const char *digest, uint64_t size, const char *manifest,
    const char *path, clip_index **out, struct clip_error *err)
{
	char *tmp = NULL;
	FILE *f = NULL;
	int fd = -1;
	clip_err rc;

	if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	if ((fd = mkstemp(tmp)) < 0 || (f = fdopen(fd, "wb")) == NULL) {
		rc = clip_error_set(err, CLIP_ERR_IO, "%s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	rc = clip_registry_stream_blob(r, digest, size, write_sink, f, err);
	if (rc == CLIP_ERR_CANCELLED)
		rc = clip_error_set(err, CLIP_ERR_IO, "%s: write failed", tmp);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		if (rc == CLIP_OK)
			rc = clip_error_set(err, CLIP_ERR_IO, "%s: %s", tmp, strerror(errno));
	}
	fclose(f);
	if (rc == CLIP_OK && !index_describes(tmp, manifest, out, err))
		rc = err != NULL && err->code != CLIP_OK ? err->code : CLIP_ERR_FORMAT;
	if (rc == CLIP_OK && rename(tmp, path) != 0) {
		rc = clip_error_set(err, CLIP_ERR_IO, "%s: %s", path, strerror(errno));
		clip_index_close(*out);
		*out = NULL;
	}
out:
	if (rc != CLIP_OK && fd >= 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

/* CACHE_DIR/indexes/sha256-HEX.clip for manifest digest (made 0700). */
static char *
cache_path(const char *cache_dir, const char *digest)
{
	char *dir = NULL, *path = NULL, tag[80];

	clip_referrers_tag(digest, tag, sizeof(tag));
	if (asprintf(&dir, "%s/indexes", cache_dir) < 0)
		return NULL;
	mkdir(cache_dir, 0700);
	mkdir(dir, 0700);
	if (asprintf(&path, "%s/%s.clip", dir, tag) < 0)
		path = NULL;
	free(dir);
	return path;
}

/* The image's manifest digest for ref on the platform asked for. */
static clip_err
resolve_manifest(clip_registry *r, const struct clip_reference *ref, const char *platform,
    char digest[CLIP_DIGEST_BUFSZ], struct clip_error *err)
{
	struct clip_platform want;
	struct clip_image *img = NULL;
	clip_err rc = CLIP_OK;

	if (platform != NULL)
		rc = clip_platform_parse(platform, &want, err);
	if (rc == CLIP_OK)
		rc = clip_image_resolve_registry(r, clip_reference_target(ref),
		    platform != NULL ? &want : NULL, &img, err);
	if (rc == CLIP_OK)
		snprintf(digest, CLIP_DIGEST_BUFSZ, "%s", img->manifest_digest);
	clip_image_free(img);
	return rc;
}

/* Resolves, finds and fetches; *path is the cached index, m->fetched it
 * open.  A clip_err. */
static clip_err
fetch_for(struct mount_opts *m, const struct clip_reference *ref, clip_registry *r,
    char **path, int *none, struct clip_error *err)
{
	char manifest[CLIP_DIGEST_BUFSZ], blob[CLIP_DIGEST_BUFSZ];
	uint64_t size;
	clip_err rc;

	rc = resolve_manifest(r, ref, m->platform, manifest, err);
	if (rc != CLIP_OK)
		return rc;
	if ((*path = cache_path(m->cache_dir, manifest)) == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	if (access(*path, F_OK) == 0 && index_describes(*path, manifest, &m->fetched, err))
		return CLIP_OK;   /* fetched before */
	rc = clip_index_find(r, manifest, blob, &size, err);
	*none = rc == CLIP_ERR_NOTFOUND;
	if (rc == CLIP_ERR_NOTFOUND)
		return clip_error_set(err, CLIP_ERR_NOTFOUND, "no clipfs index is published for "
		    "%s/%s@%s; make one with: clipfs index %s -o IMAGE.clip --push", ref->registry,
		    ref->repository, manifest, m->index_path);
	if (rc == CLIP_OK)
		rc = download_index(r, blob, size, manifest, *path, &m->fetched, err);
	return rc;
}

/* Resolves, finds and fetches through one host: mirror or, mirror NULL,
 * the image's own registry; each try bounded by half the mount's
 * --timeout, as a read is. */
static clip_err
fetch_via(struct mount_opts *m, const struct clip_reference *ref,
    const struct clip_mirror_host *mirror, char **path, int *none, struct clip_error *err)
{
	struct clip_registry_opts t;
	long half = (long)m->timeout_s / 2 > 0 ? (long)m->timeout_s / 2 : 1;
	clip_registry *r = NULL;
	clip_err rc;

	clip_registry_opts_init(&t);
	t.connect_timeout_s = t.low_speed_time_s = t.request_timeout_s = half;
	t.max_retries = 1;
	rc = mirror != NULL ?
	    registry_cli_open_mirror(&m->registry, mirror, &t, &r, err) :
	    registry_cli_open(&m->registry, ref, 0, 0, &t, &r, err);
	if (rc == CLIP_OK)
		rc = fetch_for(m, ref, r, path, none, err);
	clip_registry_close(r);
	return rc;
}

int
mount_ref_fetch(struct mount_opts *m)
{
	struct clip_mirror_host hosts[CLIP_MIRRORS_MAX];
	struct clip_reference ref;
	struct clip_error err;
	char *path = NULL;
	size_t i, n = 0;
	int none = 0;
	clip_err rc;

	clip_error_clear(&err);
	if ((rc = clip_reference_parse(m->index_path, &ref, &err)) != CLIP_OK ||
	    ref.kind != CLIP_REF_REGISTRY) {
		fprintf(stderr, "clipfs mount: %s: neither an index file nor an image in a registry"
		    "%s%s\n", m->index_path, rc != CLIP_OK ? ": " : "",
		    rc != CLIP_OK ? clip_error_message(&err) : "");
		clip_reference_free(&ref);
		return EXIT_USAGE;
	}
	m->ref_by_tag = ref.digest == NULL;
	rc = registry_cli_mirrors(&m->registry, ref.registry, ref.repository, !m->ref_by_tag,
	    hosts, &n, &err);
	if (rc == CLIP_OK)
		rc = clip_registry_global_init(&err);
	/* the mirrors in order, then the image's registry, whose answer counts */
	for (i = 0; rc == CLIP_OK && i <= n; i++) {
		free(path);
		path = NULL;
		none = 0;
		rc = fetch_via(m, &ref, i < n ? &hosts[i] : NULL, &path, &none, &err);
		if (rc == CLIP_OK)
			break;
		if (i < n)
			rc = CLIP_OK;   /* on to the next host */
	}
	clip_registry_global_cleanup();
	clip_reference_free(&ref);
	if (rc != CLIP_OK) {
		free(path);
		clipfs_report("mount", &err);
		return none ? EXIT_NO_INDEX : clipfs_exit_code(rc);
	}
	m->fetched_index = path;
	m->index_path = path;
	return EXIT_OK;
}
