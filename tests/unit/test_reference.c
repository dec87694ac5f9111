/* test_reference.c - image reference parsing, against a table of what
 * docker/skopeo make of each input. */
#include "config.h"

#include "common/util/error.h"
#include "common/oci/reference.h"
#include "tests/unit/testutil.h"
#include "tests/unit/test.h"

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct ok_case {
	const char *in;
	const char *registry, *api_host, *repository, *tag, *digest;
};

static const struct ok_case ok_cases[] = {
	{ "alpine", "docker.io", "registry-1.docker.io", "library/alpine", "latest", NULL },
	{ "alpine:3.19", "docker.io", "registry-1.docker.io", "library/alpine", "3.19", NULL },
	{ "docker://alpine", "docker.io", "registry-1.docker.io", "library/alpine", "latest", NULL },
	{ "docker://docker.io/alpine", "docker.io", "registry-1.docker.io", "library/alpine", "latest", NULL },
	{ "index.docker.io/library/alpine", "docker.io", "registry-1.docker.io", "library/alpine", "latest", NULL },
	{ "user/app", "docker.io", "registry-1.docker.io", "user/app", "latest", NULL },
	{ "user/app:v1.2-rc_3", "docker.io", "registry-1.docker.io", "user/app", "v1.2-rc_3", NULL },
	{ "quay.io/coreos/etcd:v3", "quay.io", "quay.io", "coreos/etcd", "v3", NULL },
	{ "localhost/foo", "localhost", "localhost", "foo", "latest", NULL },
	{ "localhost:5000/foo/bar:t", "localhost:5000", "localhost:5000", "foo/bar", "t", NULL },
	{ "127.0.0.1:5000/test/img:t", "127.0.0.1:5000", "127.0.0.1:5000", "test/img", "t", NULL },
	{ "myhost:443/a", "myhost:443", "myhost:443", "a", "latest", NULL },
	{ "[::1]:5000/a/b", "[::1]:5000", "[::1]:5000", "a/b", "latest", NULL },
	{ "Registry/a", "Registry", "Registry", "a", "latest", NULL },
	{ "ghcr.io/a/b/c/d", "ghcr.io", "ghcr.io", "a/b/c/d", "latest", NULL },
	{ "alpine@sha256:" D64, "docker.io", "registry-1.docker.io", "library/alpine", NULL, "sha256:" D64 },
	{ "alpine:3@sha256:" D64, "docker.io", "registry-1.docker.io", "library/alpine", "3", "sha256:" D64 },
	{ "h.io:1/x_y/a__b/c-d/e---f/g.h:_T", "h.io:1", "h.io:1", "x_y/a__b/c-d/e---f/g.h", "_T", NULL },
	{ "localhost:5000", "docker.io", "registry-1.docker.io", "library/localhost", "5000", NULL },
};

struct bad_case {
	const char *in;
	clip_err code;
	const char *needle;  /* must appear in the message */
};

static const struct bad_case bad_cases[] = {
	{ "", CLIP_ERR_INVALID, "empty" },
	{ "Alpine", CLIP_ERR_INVALID, "repository" },
	{ "alpine:", CLIP_ERR_INVALID, "empty tag" },
	{ "alpine:-x", CLIP_ERR_INVALID, "bad tag" },
	{ "alpine:a/b", CLIP_ERR_INVALID, NULL },
	{ "quay.io/", CLIP_ERR_INVALID, "missing repository" },
	{ "quay.io/a//b", CLIP_ERR_INVALID, "repository" },
	{ "quay.io/a-/b", CLIP_ERR_INVALID, "repository" },
	{ "quay.io/a___b", CLIP_ERR_INVALID, "repository" },
	{ "quay.io/a.", CLIP_ERR_INVALID, "repository" },
	{ "host:99999/a", CLIP_ERR_INVALID, "host" },
	{ "host:/a", CLIP_ERR_INVALID, "host" },
	{ "-h.io/a", CLIP_ERR_INVALID, "host" },
	{ "alpine@sha256:abc", CLIP_ERR_INVALID, "64" },
	{ "alpine@sha256:" "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", CLIP_ERR_INVALID, "lowercase" },
	{ "alpine@sha512:" D64, CLIP_ERR_UNSUPPORTED, "sha256" },
	{ "alpine@", CLIP_ERR_INVALID, NULL },
	{ "dir:/tmp/x", CLIP_ERR_UNSUPPORTED, "transport" },
	{ "docker-archive:x.tar", CLIP_ERR_UNSUPPORTED, "transport" },
	{ "oci:", CLIP_ERR_INVALID, "directory" },
	{ "oci:/x:", CLIP_ERR_INVALID, "empty tag" },
	{ "user:pw@host.io/a", CLIP_ERR_INVALID, NULL },
	{ "a:b:c", CLIP_ERR_INVALID, NULL },
	{ "alpine:" "0123456789012345678901234567890123456789012345678901234567890123456789"
	  "01234567890123456789012345678901234567890123456789012345678", CLIP_ERR_INVALID, "bad tag" },
};

TEST(test_valid_references)
{
	size_t i;

	for (i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		const struct ok_case *c = &ok_cases[i];
		struct clip_reference ref;
		struct clip_error err;
		clip_err rc;

		clip_error_clear(&err);
		rc = clip_reference_parse(c->in, &ref, &err);
		CHECK_MSG(rc == CLIP_OK, "%s: %s", c->in, clip_error_message(&err));
		CHECK_MSG(ref.kind == CLIP_REF_REGISTRY, "%s", c->in);
		CHECK_MSG(test_same(ref.registry, c->registry), "%s: registry %s", c->in, ref.registry);
		CHECK_MSG(test_same(ref.api_host, c->api_host), "%s: api_host %s", c->in, ref.api_host);
		CHECK_MSG(test_same(ref.repository, c->repository), "%s: repo %s", c->in, ref.repository);
		CHECK_MSG(test_same(ref.tag, c->tag), "%s: tag %s", c->in, ref.tag ? ref.tag : "(null)");
		CHECK_MSG(test_same(ref.digest, c->digest), "%s: digest", c->in);
		CHECK(ref.path == NULL);
		CHECK(strcmp(clip_reference_target(&ref), c->digest ? c->digest : c->tag) == 0);
		clip_reference_free(&ref);
	}
}

TEST(test_invalid_references)
{
	size_t i;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct clip_reference ref;
		struct clip_error err;
		clip_err rc;

		clip_error_clear(&err);
		rc = clip_reference_parse(c->in, &ref, &err);
		CHECK_MSG(rc == c->code, "\"%s\": got %s (%s)", c->in, clip_strerror(rc),
		    clip_error_message(&err));
		CHECK_MSG(c->needle == NULL || strstr(err.msg, c->needle) != NULL,
		    "\"%s\": message \"%s\" lacks \"%s\"", c->in, err.msg, c->needle);
		/* nothing left to free after a failure */
		CHECK(ref.registry == NULL && ref.repository == NULL && ref.tag == NULL &&
		    ref.digest == NULL && ref.path == NULL);
	}
}

TEST(test_oci_layout_references)
{
	struct clip_reference ref;
	struct clip_error err;
	char *s;

	CHECK_OK(clip_reference_parse("oci:/tmp/lay:v1", &ref, &err), &err);
	CHECK(ref.kind == CLIP_REF_OCI_LAYOUT);
	CHECK(strcmp(ref.path, "/tmp/lay") == 0);
	CHECK(strcmp(ref.tag, "v1") == 0);
	CHECK(ref.registry == NULL && ref.digest == NULL);
	s = clip_reference_format(&ref);
	CHECK(s && strcmp(s, "oci:/tmp/lay:v1") == 0);
	free(s);
	clip_reference_free(&ref);

	CHECK_OK(clip_reference_parse("oci:rel/dir", &ref, &err), &err);
	CHECK(strcmp(ref.path, "rel/dir") == 0);
	CHECK(ref.tag == NULL);
	CHECK(clip_reference_target(&ref) == NULL);
	clip_reference_free(&ref);
	clip_reference_free(NULL);
}

TEST(test_format_is_canonical)
{
	struct clip_reference ref;
	struct clip_error err;
	char *s;

	CHECK_OK(clip_reference_parse("alpine", &ref, &err), &err);
	s = clip_reference_format(&ref);
	CHECK(s && strcmp(s, "docker.io/library/alpine:latest") == 0);
	free(s);
	clip_reference_free(&ref);
	CHECK_OK(clip_reference_parse("docker://127.0.0.1:5000/a/b@sha256:" D64, &ref, &err), &err);
	s = clip_reference_format(&ref);
	CHECK(s && strcmp(s, "127.0.0.1:5000/a/b@sha256:" D64) == 0);
	free(s);
	clip_reference_free(&ref);
}

TEST(test_grammar_helpers)
{
	CHECK(clip_ref_tag_valid("a"));
	CHECK(clip_ref_tag_valid("_"));
	CHECK(!clip_ref_tag_valid("."));
	CHECK(!clip_ref_tag_valid(""));
	CHECK(!clip_ref_tag_valid(NULL));
	CHECK(clip_ref_repository_valid("a/b.c/d__e/f-g"));
	CHECK(!clip_ref_repository_valid("a/B"));
	CHECK(!clip_ref_repository_valid("/a"));
	CHECK(!clip_ref_repository_valid("a/"));
}

TEST_MAIN(test_valid_references, test_invalid_references, test_oci_layout_references,
    test_format_is_canonical, test_grammar_helpers)
