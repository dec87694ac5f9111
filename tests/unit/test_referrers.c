/* test_referrers.c - index artifacts and referrer lists (referrers.h). */
#include "config.h"

#include <jansson.h>

#include "common/oci/referrers.h"
#include "common/util/error.h"
#include "tests/unit/test.h"

#define DA "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DB "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define DC "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define DD "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"

/* A list with a signature (not ours) and two of our artifacts. */
static const char list3[] =
	"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
	"\"manifests\":["
	"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" DA "\","
	" \"size\":300,\"artifactType\":\"application/vnd.dev.cosign.artifact.sig.v1+json\","
	" \"annotations\":{\"org.opencontainers.image.created\":\"2030-01-01T00:00:00Z\"}},"
	"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" DB "\","
	" \"size\":700,\"artifactType\":\"" CLIP_ARTIFACT_TYPE "\","
	" \"annotations\":{\"org.opencontainers.image.created\":\"2026-12-03T10:00:00Z\","
	"  \"org.clipfs.index.digest\":\"" DD "\"}},"
	"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" DC "\","
	" \"size\":701,\"artifactType\":\"" CLIP_ARTIFACT_TYPE "\","
	" \"annotations\":{\"org.opencontainers.image.created\":\"2026-12-01T10:00:00Z\"}}]}";

static char *
manifest_for(const char *index_digest, const char *created)
{
	struct clip_artifact a = {
		.subject_media_type = "application/vnd.oci.image.manifest.v1+json",
		.subject_digest = DA, .subject_size = 812,
		.index_digest = index_digest, .index_size = 4096,
		.format = "2.2", .created = created,
	};

	return clip_artifact_manifest(&a);
}

TEST(test_artifact_round_trip)
{
	char *m = manifest_for(DD, "2026-12-03T10:00:00Z");
	char layer[CLIP_DIGEST_BUFSZ], subject[CLIP_DIGEST_BUFSZ];
	struct clip_error err;
	uint64_t size;

	clip_error_clear(&err);
	CHECK(m != NULL);
	CHECK_OK(clip_artifact_parse(m, strlen(m), layer, &size, subject, &err), &err);
	CHECK(strcmp(layer, DD) == 0 && size == 4096 && strcmp(subject, DA) == 0);
	CHECK(strstr(m, "\"config\":{\"mediaType\":\"" CLIP_MT_OCI_EMPTY "\",\"digest\":\""
	    CLIP_EMPTY_DIGEST "\",\"size\":2}") != NULL);
	free(m);
}

TEST(test_artifact_refused)
{
	static const char *const bad[] = {
		"not json",
		"{\"artifactType\":\"application/spdx+json\",\"layers\":[],\"subject\":{}}",
		"{\"artifactType\":\"" CLIP_ARTIFACT_TYPE "\",\"layers\":[],"
		"\"subject\":{\"digest\":\"" DA "\"}}",
		"{\"artifactType\":\"" CLIP_ARTIFACT_TYPE "\",\"layers\":[{\"mediaType\":\""
		CLIP_ARTIFACT_TYPE "\",\"digest\":\"" DB "\",\"size\":5000000000}],"
		"\"subject\":{\"digest\":\"" DA "\"}}",
		"{\"artifactType\":\"" CLIP_ARTIFACT_TYPE "\",\"layers\":[{\"mediaType\":\""
		CLIP_ARTIFACT_TYPE "\",\"digest\":\"sha256:../x\",\"size\":5}],"
		"\"subject\":{\"digest\":\"" DA "\"}}",
		"{\"artifactType\":\"" CLIP_ARTIFACT_TYPE "\",\"layers\":[{\"mediaType\":\""
		CLIP_ARTIFACT_TYPE "\",\"digest\":\"" DB "\",\"size\":5}]}",
	};
	char layer[CLIP_DIGEST_BUFSZ], subject[CLIP_DIGEST_BUFSZ];
	struct clip_error err;
	uint64_t size;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_MSG(clip_artifact_parse(bad[i], strlen(bad[i]), layer, &size, subject, &err) ==
		    CLIP_ERR_PROTOCOL, "case %zu", i);
}

TEST(test_pick_newest_then_last)
{
	static const char tie[] =
		"{\"manifests\":["
		"{\"digest\":\"" DB "\",\"size\":7,\"artifactType\":\"" CLIP_ARTIFACT_TYPE "\"},"
		"{\"digest\":\"" DC "\",\"size\":7,\"artifactType\":\"" CLIP_ARTIFACT_TYPE "\"}]}";
	struct clip_referrer r;
	struct clip_error err;

	clip_error_clear(&err);
	CHECK_OK(clip_referrers_pick(list3, strlen(list3), NULL, &r, &err), &err);
	CHECK_MSG(strcmp(r.digest, DB) == 0, "newest created wins, not the foreign one: %s",
	    r.digest);
	CHECK(r.size == 700 && strcmp(r.index_digest, DD) == 0);
	CHECK_OK(clip_referrers_pick(tie, strlen(tie), NULL, &r, &err), &err);
	CHECK_MSG(strcmp(r.digest, DC) == 0, "no created: the last listed");
	CHECK(clip_referrers_pick(list3, strlen(list3), DA, &r, &err) == CLIP_ERR_NOTFOUND);
	CHECK_OK(clip_referrers_pick(list3, strlen(list3), DD, &r, &err), &err);
	CHECK(strcmp(r.digest, DB) == 0);
	CHECK(clip_referrers_pick(NULL, 0, NULL, &r, &err) == CLIP_ERR_NOTFOUND);
	CHECK(clip_referrers_pick("[1]", 3, NULL, &r, &err) == CLIP_ERR_PROTOCOL);
}

TEST(test_add_keeps_others)
{
	char *m = manifest_for(DD, "2026-12-04T00:00:00Z"), *out = NULL, *again = NULL;
	char digest[CLIP_DIGEST_BUFSZ];
	struct clip_error err;
	json_t *root, *last;

	clip_error_clear(&err);
	CHECK(m != NULL);
	clip_digest_of(m, strlen(m), digest);
	CHECK_OK(clip_referrers_add(list3, strlen(list3), m, strlen(m), &out, &err), &err);
	root = json_loads(out, 0, NULL);
	CHECK(json_array_size(json_object_get(root, "manifests")) == 4);
	last = json_array_get(json_object_get(root, "manifests"), 3);
	CHECK(strcmp(json_string_value(json_object_get(last, "digest")), digest) == 0);
	CHECK(json_integer_value(json_object_get(last, "size")) == (json_int_t)strlen(m));
	CHECK(strcmp(json_string_value(json_object_get(last, "artifactType")),
	    CLIP_ARTIFACT_TYPE) == 0);
	CHECK(json_object_get(json_object_get(last, "annotations"), CLIP_ANN_CREATED) != NULL);
	CHECK(clip_referrers_has(out, strlen(out), DA) && clip_referrers_has(out, strlen(out), DB));
	json_decref(root);
	/* the same artifact again: replaced, not doubled */
	CHECK_OK(clip_referrers_add(out, strlen(out), m, strlen(m), &again, &err), &err);
	CHECK(strcmp(out, again) == 0);
	free(again);
	again = NULL;
	/* a new list from nothing */
	CHECK_OK(clip_referrers_add(NULL, 0, m, strlen(m), &again, &err), &err);
	CHECK(strstr(again, "\"mediaType\":\"application/vnd.oci.image.index.v1+json\"") != NULL);
	free(again);
	again = NULL;
	CHECK(clip_referrers_add("{\"manifests\":3}", 15, m, strlen(m), &again, &err) ==
	    CLIP_ERR_PROTOCOL && again == NULL);
	free(out);
	free(m);
}

/* Pages of a referrer list: the second page's entries after the
 * first's, in order; the pick sees them all; bad pages and the entry
 * cap refused. */
TEST(test_concat_pages)
{
	char *out = NULL, *big = NULL;
	struct clip_referrer r;
	struct clip_error err;
	json_t *root, *arr, *page;
	size_t i;

	clip_error_clear(&err);
	CHECK_OK(clip_referrers_concat(list3, strlen(list3), list3, strlen(list3), &out, &err),
	    &err);
	root = json_loads(out, 0, NULL);
	arr = json_object_get(root, "manifests");
	CHECK(json_array_size(arr) == 6);
	CHECK(json_equal(json_array_get(arr, 0), json_array_get(arr, 3)));
	CHECK(json_equal(json_array_get(arr, 2), json_array_get(arr, 5)));
	json_decref(root);
	CHECK_OK(clip_referrers_pick(out, strlen(out), NULL, &r, &err), &err);
	free(out);
	out = NULL;
	CHECK(clip_referrers_concat(list3, strlen(list3), "{}", 2, &out, &err) ==
	    CLIP_ERR_PROTOCOL && out == NULL);
	CHECK(clip_referrers_concat("[]", 2, list3, strlen(list3), &out, &err) ==
	    CLIP_ERR_PROTOCOL && out == NULL);
	/* CLIP_REFERRERS_MAX entries in all, not one more */
	page = json_pack("{s:i,s:[]}", "schemaVersion", 2, "manifests");
	for (i = 0; i + 3 < CLIP_REFERRERS_MAX; i++)
		json_array_append_new(json_object_get(page, "manifests"), json_pack("{s:s}", "k", "v"));
	big = json_dumps(page, JSON_COMPACT);
	CHECK(big != NULL);
	CHECK_OK(clip_referrers_concat(big, strlen(big), list3, strlen(list3), &out, &err), &err);
	free(out);
	out = NULL;
	json_array_append_new(json_object_get(page, "manifests"), json_pack("{s:s}", "k", "v"));
	free(big);
	big = json_dumps(page, JSON_COMPACT);
	CHECK(clip_referrers_concat(big, strlen(big), list3, strlen(list3), &out, &err) ==
	    CLIP_ERR_TOOBIG && out == NULL);
	json_decref(page);
	free(big);
}

TEST_MAIN(test_artifact_round_trip, test_artifact_refused, test_pick_newest_then_last,
    test_add_keeps_others, test_concat_pages)
