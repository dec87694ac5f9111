/*
 * fuzz_reference.c - libFuzzer target for image references and platforms.
 *
 * The input is tried as a reference and as a platform string.  What
 * parses must format to a string that parses again to the same thing
 * (reference.h, manifest.h: the canonical form is a valid input).
 */
#include "config.h"

#include <string.h>

#include "common/oci/manifest.h"
#include "common/oci/reference.h"
#include "tests/unit/testutil.h"
#include "tests/fuzz/fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static void
reference(const char *s)
{
	struct clip_reference r, r2;
	struct clip_error err;
	char *canon;

	if (clip_reference_parse(s, &r, &err) != CLIP_OK) {
		clip_reference_free(&r);
		return;
	}
	FUZZ_ASSERT(r.kind == CLIP_REF_REGISTRY || r.kind == CLIP_REF_OCI_LAYOUT);
	if (r.kind == CLIP_REF_REGISTRY) {
		FUZZ_ASSERT(r.registry != NULL && r.api_host != NULL && r.repository != NULL);
		FUZZ_ASSERT(clip_ref_repository_valid(r.repository));
		FUZZ_ASSERT(r.tag != NULL || r.digest != NULL);
		FUZZ_ASSERT(r.tag == NULL || clip_ref_tag_valid(r.tag));
	} else {
		FUZZ_ASSERT(r.path != NULL);
	}
	(void)clip_reference_target(&r);
	canon = clip_reference_format(&r);
	if (canon != NULL) {
		if (clip_reference_parse(canon, &r2, &err) != CLIP_OK) {
			fprintf(stderr, "canonical form \"%s\" does not parse: %s\n", canon,
			    clip_error_message(&err));
			abort();
		}
		FUZZ_ASSERT(r2.kind == r.kind && test_same(r2.registry, r.registry) &&
		    test_same(r2.api_host, r.api_host) && test_same(r2.repository, r.repository) &&
		    test_same(r2.tag, r.tag) && test_same(r2.digest, r.digest) && test_same(r2.path, r.path));
		clip_reference_free(&r2);
		free(canon);
	}
	clip_reference_free(&r);
}

static void
platform(const char *s)
{
	struct clip_platform p, p2;
	struct clip_error err;
	char buf[128];

	if (clip_platform_parse(s, &p, &err) != CLIP_OK)
		return;
	FUZZ_ASSERT(memchr(p.os, '\0', sizeof(p.os)) != NULL);
	FUZZ_ASSERT(memchr(p.arch, '\0', sizeof(p.arch)) != NULL);
	FUZZ_ASSERT(memchr(p.variant, '\0', sizeof(p.variant)) != NULL);
	clip_platform_format(&p, buf, sizeof(buf));
	FUZZ_ASSERT(clip_platform_parse(buf, &p2, &err) == CLIP_OK);
	FUZZ_ASSERT(strcmp(p.os, p2.os) == 0 && strcmp(p.arch, p2.arch) == 0 &&
	    strcmp(p.variant, p2.variant) == 0);
	/* A buffer too small must still be terminated. */
	clip_platform_format(&p, buf, 5);
	FUZZ_ASSERT(memchr(buf, '\0', 5) != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	reference(s);
	platform(s);
	(void)clip_ref_repository_valid(s);
	(void)clip_ref_tag_valid(s);
	free(s);
	return 0;
}
