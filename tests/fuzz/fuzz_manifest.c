/*
 * fuzz_manifest.c - libFuzzer target for manifests, indexes and configs.
 *
 * The first input byte picks the Content-Type the document is parsed
 * with (none, each of the four media types, a config type, junk, one
 * with parameters); the rest is the document.  An index that parses is
 * asked for several platforms with clip_index_select, whose answer must
 * be one of its entries and match the asked os/arch.  The document is
 * also parsed as an image config, with the layer count just found.
 */
#include "config.h"

#include <string.h>

#include "common/oci/manifest.h"
#include "tests/fuzz/fuzz.h"

static const char *const content_types[] = {
	NULL,
	CLIP_MT_OCI_MANIFEST,
	CLIP_MT_OCI_INDEX,
	CLIP_MT_DOCKER_MANIFEST,
	CLIP_MT_DOCKER_LIST,
	CLIP_MT_OCI_CONFIG,
	"application/json",
	"application/vnd.oci.image.index.v1+json; charset=utf-8",
	"application/vnd.docker.distribution.manifest.v1+prettyjws",
	"",
};
#define N_TYPES (sizeof(content_types) / sizeof(content_types[0]))

static const char *const platforms[] = {
	"linux/amd64", "linux/arm64", "linux/arm64/v8", "linux/arm/v7", "linux/arm/v5",
	"linux/arm", "windows/amd64", "linux/s390x",
};
#define N_PLATFORMS (sizeof(platforms) / sizeof(platforms[0]))

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static void
check_descriptor(const struct clip_descriptor *d)
{
	FUZZ_ASSERT(clip_digest_valid(d->digest));
	if (d->media_type != NULL)
		(void)strlen(d->media_type);
	if (d->ref_name != NULL)
		(void)strlen(d->ref_name);
	FUZZ_ASSERT(memchr(d->platform.os, '\0', sizeof(d->platform.os)) != NULL);
	FUZZ_ASSERT(memchr(d->platform.arch, '\0', sizeof(d->platform.arch)) != NULL);
	FUZZ_ASSERT(memchr(d->platform.variant, '\0', sizeof(d->platform.variant)) != NULL);
}

static void
select_all(const struct clip_manifest *m)
{
	struct clip_platform want;
	const struct clip_descriptor *d;
	struct clip_error err;
	size_t i;

	for (i = 0; i <= N_PLATFORMS; i++) {
		if (i == N_PLATFORMS)
			clip_platform_host(&want);
		else
			FUZZ_ASSERT(clip_platform_parse(platforms[i], &want, &err) == CLIP_OK);
		if (clip_index_select(m, &want, &d, &err) != CLIP_OK)
			continue;
		FUZZ_ASSERT(d >= m->manifests && d < m->manifests + m->n_manifests);
		FUZZ_ASSERT(strcmp(d->platform.os, want.os) == 0 &&
		    strcmp(d->platform.arch, want.arch) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct clip_manifest *m = NULL;
	struct clip_error err;
	json_t *cfg = NULL;
	size_t i, n_layers = (size_t)-1;
	uint8_t *doc;

	if (size < 1)
		return 0;
	/* An exact-size copy: the parser is given a length, not a string. */
	doc = malloc(size - 1 ? size - 1 : 1);
	if (doc == NULL)
		return 0;
	memcpy(doc, data + 1, size - 1);
	if (clip_manifest_parse(doc, size - 1, content_types[data[0] % N_TYPES], &m,
	    &err) == CLIP_OK) {
		FUZZ_ASSERT(m != NULL && m->media_type != NULL);
		if (m->kind == CLIP_MANIFEST_IMAGE) {
			check_descriptor(&m->config);
			for (i = 0; i < m->n_layers; i++)
				check_descriptor(&m->layers[i]);
			n_layers = m->n_layers;
		} else {
			FUZZ_ASSERT(m->kind == CLIP_MANIFEST_INDEX);
			for (i = 0; i < m->n_manifests; i++)
				check_descriptor(&m->manifests[i]);
			select_all(m);
		}
		clip_manifest_free(m);
	} else {
		FUZZ_ASSERT(m == NULL);
	}
	if (clip_config_parse(doc, size - 1, n_layers, &cfg, &err) == CLIP_OK) {
		FUZZ_ASSERT(json_is_object(cfg));
		json_decref(cfg);
	} else {
		FUZZ_ASSERT(cfg == NULL);
	}
	free(doc);
	return 0;
}
