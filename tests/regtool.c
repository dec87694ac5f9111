/*
 * regtool.c - drives the registry client for tests/registry-client.test.
 *
 *   regtool [OPTIONS] manifest REF OUT     raw manifest bytes to OUT;
 *                                          prints "DIGEST MEDIATYPE"
 *   regtool [OPTIONS] resolve REF          prints the resolved image
 *   regtool [OPTIONS] blob REF DIGEST OUT  streams a blob to OUT
 *   regtool [OPTIONS] range REF DIGEST OFF LEN   bytes to stdout
 *   regtool [OPTIONS] rangecheck REF DIGEST FILE COUNT THREADS
 *                      COUNT random ranges from THREADS threads, each
 *                      compared with FILE (the blob, read locally)
 *   regtool [OPTIONS] findindex REF SUBJECT   the clipfs index published
 *                      for manifest SUBJECT (clip_index_find, through
 *                      the referrers API or tag and all their pages):
 *                      prints "INDEX-DIGEST SIZE"
 *
 * OPTIONS: --plain-http --tls-verify=false --cacert F --certs-dir D
 *          --creds U:P --authfile F --platform OS/ARCH[/VARIANT]
 *
 * On failure prints "regtool: ERRNAME(N): detail" and exits 10 + N, so
 * the test can tell CLIP_ERR_AUTH from CLIP_ERR_NETWORK.
 */
#include "config.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/registry/auth_config.h"
#include "common/registry/image.h"
#include "common/registry/index_artifact.h"
#include "common/oci/reference.h"
#include "common/registry/registry.h"

static struct clip_registry_opts opts;
static const char *creds_arg, *authfile_arg, *platform_arg;

static int
die(const struct clip_error *e)
{
	fprintf(stderr, "regtool: %s(%d): %s\n", clip_strerror(e->code), (int)e->code,
	    clip_error_message(e));
	return 10 + (int)e->code;
}

static clip_err
open_ref(const char *s, struct clip_reference *ref, clip_registry **r,
    struct clip_creds *creds, struct clip_error *err)
{
	clip_err rc;

	*r = NULL;
	rc = clip_reference_parse(s, ref, err);
	if (rc != CLIP_OK || ref->kind != CLIP_REF_REGISTRY)
		return rc;
	rc = clip_auth_lookup(ref->registry, creds_arg, authfile_arg, creds, err);
	if (rc != CLIP_OK)
		return rc;
	opts.username = creds->username;
	opts.password = creds->password;
	return clip_registry_open(ref->api_host, ref->repository, &opts, r, err);
}

static int
write_sink(void *ctx, const void *buf, size_t len)
{
	return fwrite(buf, 1, len, ctx) == len ? 0 : 1;
}

struct rc_job {
	clip_registry *r;
	const char *digest;
	const uint8_t *file;
	size_t size;
	int count;
	unsigned seed;
	int failures;
	struct clip_error err;
};

static void *
rangecheck_thread(void *arg)
{
	struct rc_job *j = arg;
	uint8_t *buf = malloc(j->size + 1);
	int i;

	for (i = 0; buf != NULL && i < j->count; i++) {
		size_t off = (size_t)rand_r(&j->seed) % j->size;
		size_t len = 1 + (size_t)rand_r(&j->seed) % (j->size - off);
		if (len > 70000)
			len = 1 + len % 70000;
		if (clip_registry_read_range(j->r, j->digest, off, len, buf, &j->err) != CLIP_OK ||
		    memcmp(buf, j->file + off, len) != 0) {
			if (j->err.code == CLIP_OK)
				clip_error_set(&j->err, CLIP_ERR_CHECKSUM,
				    "range [%zu,+%zu) differs from the file", off, len);
			j->failures++;
			break;
		}
	}
	free(buf);
	return NULL;
}

static int
rangecheck(clip_registry *r, const char *digest, const char *path, int count,
    int nthreads)
{
	struct rc_job jobs[32];
	pthread_t tids[32];
	uint8_t *file;
	struct stat st;
	FILE *f;
	int i, bad = 0;

	if (nthreads < 1 || nthreads > 32 || count < 1)
		return 2;
	f = fopen(path, "rb");
	if (f == NULL || fstat(fileno(f), &st) != 0 || st.st_size == 0)
		return 2;
	file = malloc((size_t)st.st_size);
	if (file == NULL || fread(file, 1, (size_t)st.st_size, f) != (size_t)st.st_size)
		return 2;
	fclose(f);
	for (i = 0; i < nthreads; i++) {
		memset(&jobs[i], 0, sizeof(jobs[i]));
		jobs[i].r = r;
		jobs[i].digest = digest;
		jobs[i].file = file;
		jobs[i].size = (size_t)st.st_size;
		jobs[i].count = count / nthreads + 1;
		jobs[i].seed = 1234u + (unsigned)i;
		pthread_create(&tids[i], NULL, rangecheck_thread, &jobs[i]);
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(tids[i], NULL);
		if (jobs[i].failures) {
			bad = die(&jobs[i].err);
		}
	}
	free(file);
	if (!bad)
		printf("%d ranges from %d threads ok\n", nthreads * (count / nthreads + 1), nthreads);
	return bad;
}

static void
print_image(const struct clip_image *img)
{
	size_t i;

	printf("manifest %s %s\n", img->manifest_digest, img->manifest_media_type);
	if (img->index_digest[0])
		printf("index %s\n", img->index_digest);
	printf("config %s %llu\n", img->manifest->config.digest,
	    (unsigned long long)img->manifest->config.size);
	for (i = 0; i < img->manifest->n_layers; i++)
		printf("layer %s %llu %s\n", img->manifest->layers[i].digest,
		    (unsigned long long)img->manifest->layers[i].size,
		    img->manifest->layers[i].media_type ? img->manifest->layers[i].media_type : "-");
	printf("diff_ids %zu\n", json_array_size(json_object_get(
	    json_object_get(img->config, "rootfs"), "diff_ids")));
}

int
main(int argc, char **argv)
{
	struct clip_reference ref;
	struct clip_creds creds = { NULL, NULL };
	struct clip_platform plat, *platp = NULL;
	struct clip_error err;
	clip_registry *r = NULL;
	const char *cmd;
	int i = 1, ret = 0;

	clip_error_clear(&err);
	clip_registry_opts_init(&opts);
	opts.max_retries = 1;
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--plain-http") == 0)
			opts.plain_http = 1;
		else if (strcmp(argv[i], "--tls-verify=false") == 0)
			opts.tls_verify = 0;
		else if (strcmp(argv[i], "--cacert") == 0 && i + 1 < argc)
			opts.cacert = argv[++i];
		else if (strcmp(argv[i], "--certs-dir") == 0 && i + 1 < argc)
			opts.certs_dir = argv[++i];
		else if (strcmp(argv[i], "--creds") == 0 && i + 1 < argc)
			creds_arg = argv[++i];
		else if (strcmp(argv[i], "--authfile") == 0 && i + 1 < argc)
			authfile_arg = argv[++i];
		else if (strcmp(argv[i], "--platform") == 0 && i + 1 < argc)
			platform_arg = argv[++i];
		else {
			fprintf(stderr, "regtool: bad option %s\n", argv[i]);
			return 2;
		}
	}
	if (opts.certs_dir == NULL)
		opts.certs_dir = "/nonexistent";  /* tests never use the system's */
	if (i + 2 > argc) {
		fprintf(stderr, "usage: regtool [OPTIONS] manifest|resolve|blob|range|rangecheck|findindex REF ...\n");
		return 2;
	}
	if (clip_registry_global_init(&err) != CLIP_OK)
		return die(&err);
	if (platform_arg != NULL) {
		if (clip_platform_parse(platform_arg, &plat, &err) != CLIP_OK)
			return die(&err);
		platp = &plat;
	}
	cmd = argv[i];
	if (open_ref(argv[i + 1], &ref, &r, &creds, &err) != CLIP_OK) {
		ret = die(&err);
		goto out;
	}
	if (ref.kind == CLIP_REF_OCI_LAYOUT) {
		clip_oci_layout *l;
		struct clip_image *img;
		if (strcmp(cmd, "resolve") != 0) {
			fprintf(stderr, "regtool: only resolve works on oci: references\n");
			ret = 2;
			goto out;
		}
		if (clip_oci_layout_open(ref.path, &l, &err) != CLIP_OK) {
			ret = die(&err);
			goto out;
		}
		if (clip_image_resolve_layout(l, ref.tag, platp, &img, &err) != CLIP_OK)
			ret = die(&err);
		else
			print_image(img);
		clip_image_free(img);
		clip_oci_layout_close(l);
		goto out;
	}
	if (strcmp(cmd, "manifest") == 0 && i + 3 == argc) {
		struct clip_fetched_manifest fm;
		FILE *f;
		if (clip_registry_get_manifest(r, clip_reference_target(&ref), &fm, &err) != CLIP_OK) {
			ret = die(&err);
			goto out;
		}
		f = fopen(argv[i + 2], "wb");
		if (f == NULL || fwrite(fm.data, 1, fm.len, f) != fm.len || fclose(f) != 0)
			ret = 2;
		printf("%s %s\n", fm.digest, fm.media_type);
		clip_fetched_manifest_free(&fm);
	} else if (strcmp(cmd, "resolve") == 0 && i + 2 == argc) {
		struct clip_image *img;
		if (clip_image_resolve_registry(r, clip_reference_target(&ref), platp, &img, &err) != CLIP_OK)
			ret = die(&err);
		else
			print_image(img);
		clip_image_free(img);
	} else if (strcmp(cmd, "blob") == 0 && i + 4 == argc) {
		FILE *f = fopen(argv[i + 3], "wb");
		if (f == NULL)
			return 2;
		if (clip_registry_stream_blob(r, argv[i + 2], UINT64_MAX, write_sink, f, &err) != CLIP_OK)
			ret = die(&err);
		if (fclose(f) != 0 && ret == 0)
			ret = 2;
	} else if (strcmp(cmd, "range") == 0 && i + 5 == argc) {
		unsigned long long off = strtoull(argv[i + 3], NULL, 10);
		size_t len = (size_t)strtoull(argv[i + 4], NULL, 10);
		uint8_t *buf = malloc(len + 1);
		if (buf == NULL)
			return 2;
		if (clip_registry_read_range(r, argv[i + 2], off, len, buf, &err) != CLIP_OK)
			ret = die(&err);
		else if (fwrite(buf, 1, len, stdout) != len)
			ret = 2;
		free(buf);
	} else if (strcmp(cmd, "findindex") == 0 && i + 3 == argc) {
		char blob[CLIP_DIGEST_BUFSZ];
		uint64_t size;
		if (clip_index_find(r, argv[i + 2], blob, &size, &err) != CLIP_OK)
			ret = die(&err);
		else
			printf("%s %llu\n", blob, (unsigned long long)size);
	} else if (strcmp(cmd, "rangecheck") == 0 && i + 6 == argc) {
		ret = rangecheck(r, argv[i + 2], argv[i + 3], atoi(argv[i + 4]), atoi(argv[i + 5]));
	} else {
		fprintf(stderr, "regtool: bad command or arguments\n");
		ret = 2;
	}
out:
	clip_registry_close(r);
	clip_reference_free(&ref);
	clip_creds_free(&creds);
	clip_registry_global_cleanup();
	return ret;
}
