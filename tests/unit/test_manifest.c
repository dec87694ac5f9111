/* test_manifest.c - manifests, indexes, configs and platform choice from
 * bytes, plus a local OCI layout written by hand. */
#include "config.h"

#include <sys/stat.h>

#include "common/util/error.h"
#include "common/registry/image.h"
#include "common/oci/manifest.h"
#include "common/oci/oci_layout.h"
#include "tests/unit/testutil.h"
#include "tests/unit/test.h"

#define DA "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DB "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define DC "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

static const char oci_manifest[] =
	"{\"schemaVersion\":2,\"mediaType\":\"" CLIP_MT_OCI_MANIFEST "\","
	"\"config\":{\"mediaType\":\"" CLIP_MT_OCI_CONFIG "\",\"digest\":\"" DA "\",\"size\":7},"
	"\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
	"\"digest\":\"" DB "\",\"size\":100},"
	"{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"" DC "\",\"size\":0}]}";

/* Docker schema 2, no mediaType field: the Content-Type decides. */
static const char docker_manifest[] =
	"{\"schemaVersion\":2,"
	"\"config\":{\"mediaType\":\"" CLIP_MT_DOCKER_CONFIG "\",\"digest\":\"" DA "\",\"size\":1},"
	"\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\","
	"\"digest\":\"" DB "\",\"size\":5}]}";

static const char docker_list[] =
	"{\"schemaVersion\":2,\"mediaType\":\"" CLIP_MT_DOCKER_LIST "\",\"manifests\":["
	"{\"mediaType\":\"" CLIP_MT_DOCKER_MANIFEST "\",\"digest\":\"" DA "\",\"size\":1,"
	" \"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
	"{\"mediaType\":\"" CLIP_MT_DOCKER_MANIFEST "\",\"digest\":\"" DB "\",\"size\":2,"
	" \"platform\":{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v6\"}},"
	"{\"mediaType\":\"" CLIP_MT_DOCKER_MANIFEST "\",\"digest\":\"" DC "\",\"size\":3,"
	" \"platform\":{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v7\"}}]}";

static const char oci_index[] =
	"{\"schemaVersion\":2,\"mediaType\":\"" CLIP_MT_OCI_INDEX "\",\"manifests\":["
	"{\"mediaType\":\"" CLIP_MT_OCI_MANIFEST "\",\"digest\":\"" DA "\",\"size\":1,"
	" \"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\"}},"
	"{\"mediaType\":\"" CLIP_MT_OCI_MANIFEST "\",\"digest\":\"" DB "\",\"size\":2,"
	" \"platform\":{\"architecture\":\"unknown\",\"os\":\"unknown\"}},"
	"{\"mediaType\":\"" CLIP_MT_OCI_MANIFEST "\",\"digest\":\"" DC "\",\"size\":3,"
	" \"platform\":{\"architecture\":\"s390x\",\"os\":\"linux\"}}]}";

static clip_err
parse(const char *doc, const char *ct, struct clip_manifest **m, struct clip_error *err)
{
	clip_error_clear(err);
	return clip_manifest_parse(doc, strlen(doc), ct, m, err);
}

TEST(test_oci_manifest)
{
	struct clip_manifest *m;
	struct clip_error err;

	CHECK_OK(parse(oci_manifest, NULL, &m, &err), &err);
	CHECK(m->kind == CLIP_MANIFEST_IMAGE);
	CHECK(strcmp(m->media_type, CLIP_MT_OCI_MANIFEST) == 0);
	CHECK(strcmp(m->config.digest, DA) == 0 && m->config.size == 7);
	CHECK(strcmp(m->config.media_type, CLIP_MT_OCI_CONFIG) == 0);
	CHECK(m->n_layers == 2);
	CHECK(strcmp(m->layers[0].digest, DB) == 0 && m->layers[0].size == 100);
	CHECK(strcmp(m->layers[1].media_type, "application/vnd.oci.image.layer.v1.tar") == 0);
	CHECK(m->layers[1].size == 0);
	clip_manifest_free(m);
}

TEST(test_docker_manifest_by_content_type)
{
	struct clip_manifest *m;
	struct clip_error err;

	CHECK_OK(parse(docker_manifest, CLIP_MT_DOCKER_MANIFEST "; charset=utf-8", &m, &err), &err);
	CHECK(m->kind == CLIP_MANIFEST_IMAGE);
	CHECK(strcmp(m->media_type, CLIP_MT_DOCKER_MANIFEST) == 0);
	CHECK(m->n_layers == 1 && m->layers[0].size == 5);
	clip_manifest_free(m);
	/* a generic Content-Type falls back to the shape */
	CHECK_OK(parse(docker_manifest, "application/json", &m, &err), &err);
	CHECK(m->kind == CLIP_MANIFEST_IMAGE);
	clip_manifest_free(m);
}

TEST(test_bad_manifests)
{
	static const struct { const char *doc; clip_err code; const char *needle; } cases[] = {
		{ "not json", CLIP_ERR_PROTOCOL, "JSON" },
		{ "[]", CLIP_ERR_PROTOCOL, "JSON object" },
		{ "{\"schemaVersion\":1,\"fsLayers\":[]}", CLIP_ERR_UNSUPPORTED, "schema 1" },
		{ "{\"mediaType\":\"application/vnd.foo\",\"layers\":[]}", CLIP_ERR_UNSUPPORTED, "vnd.foo" },
		{ "{\"x\":1}", CLIP_ERR_UNSUPPORTED, "neither" },
		{ "{\"layers\":[]}", CLIP_ERR_PROTOCOL, "config" },
		{ "{\"config\":{\"digest\":\"" DA "\",\"size\":1},\"layers\":{}}", CLIP_ERR_PROTOCOL, "layers" },
		{ "{\"config\":{\"digest\":\"" DA "\",\"size\":-1},\"layers\":[]}", CLIP_ERR_PROTOCOL, "size" },
		{ "{\"config\":{\"digest\":\"" DA "\",\"size\":1},\"layers\":[{\"digest\":\"sha256:../../etc\",\"size\":1}]}",
		  CLIP_ERR_PROTOCOL, "layers[0]" },
		{ "{\"config\":{\"digest\":\"md5:abc\",\"size\":1},\"layers\":[]}", CLIP_ERR_UNSUPPORTED, "sha256" },
		{ "{\"manifests\":[{\"digest\":\"" DA "\",\"size\":1,\"platform\":\"x\"}]}", CLIP_ERR_PROTOCOL, "platform" },
		{ "{\"config\":{\"digest\":\"" DA "\",\"size\":1},\"config\":{},\"layers\":[]}", CLIP_ERR_PROTOCOL, NULL },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct clip_manifest *m = (void *)1;
		struct clip_error err;
		clip_err rc = parse(cases[i].doc, NULL, &m, &err);
		CHECK_MSG(rc == cases[i].code, "case %zu: %s (%s)", i, clip_strerror(rc), err.msg);
		CHECK(m == NULL);
		CHECK_MSG(cases[i].needle == NULL || strstr(err.msg, cases[i].needle),
		    "case %zu: %s", i, err.msg);
	}
	{
		struct clip_manifest *m;
		CHECK(clip_manifest_parse("{}", CLIP_MANIFEST_MAX + 1, NULL, &m, NULL) == CLIP_ERR_TOOBIG);
	}
}

static const char *
pick(const struct clip_manifest *idx, const char *plat, struct clip_error *err)
{
	struct clip_platform p;
	const struct clip_descriptor *d;

	if (clip_platform_parse(plat, &p, err) != CLIP_OK)
		return "badplat";
	if (clip_index_select(idx, &p, &d, err) != CLIP_OK)
		return NULL;
	return d->digest;
}

TEST(test_platform_selection)
{
	struct clip_manifest *l, *o;
	struct clip_error err;
	const char *d;

	CHECK_OK(parse(docker_list, NULL, &l, &err), &err);
	CHECK(l->kind == CLIP_MANIFEST_INDEX && l->n_manifests == 3);
	CHECK(strcmp(l->manifests[1].platform.variant, "v6") == 0);
	CHECK((d = pick(l, "linux/amd64", &err)) && strcmp(d, DA) == 0);
	CHECK((d = pick(l, "linux/arm/v7", &err)) && strcmp(d, DC) == 0);  /* exact beats v6 */
	CHECK((d = pick(l, "linux/arm/v6", &err)) && strcmp(d, DB) == 0);
	CHECK((d = pick(l, "linux/arm/v8", &err)) && strcmp(d, DC) == 0);  /* best lower */
	CHECK((d = pick(l, "linux/arm", &err)) && strcmp(d, DC) == 0);     /* highest arm */
	CHECK(pick(l, "linux/arm/v5", &err) == NULL);
	CHECK(err.code == CLIP_ERR_NOTFOUND);
	CHECK_MSG(strstr(err.msg, "linux/amd64, linux/arm/v6, linux/arm/v7") != NULL, "%s", err.msg);
	CHECK(pick(l, "windows/amd64", &err) == NULL);
	clip_manifest_free(l);

	CHECK_OK(parse(oci_index, "application/json", &o, &err), &err);
	CHECK(o->kind == CLIP_MANIFEST_INDEX);
	CHECK((d = pick(o, "linux/arm64/v8", &err)) && strcmp(d, DA) == 0);  /* "" == v8 */
	CHECK((d = pick(o, "linux/arm64", &err)) && strcmp(d, DA) == 0);
	CHECK((d = pick(o, "linux/s390x", &err)) && strcmp(d, DC) == 0);
	CHECK(pick(o, "linux/amd64", &err) == NULL);
	/* attestation entries (unknown/unknown) are not listed */
	CHECK_MSG(strstr(err.msg, "unknown") == NULL && strstr(err.msg, "linux/arm64") != NULL,
	    "%s", err.msg);
	clip_manifest_free(o);
}

TEST(test_platform_parse_and_host)
{
	struct clip_platform p;
	char buf[96];

	CHECK(clip_platform_parse("linux", &p, NULL) == CLIP_ERR_INVALID);
	CHECK(clip_platform_parse("linux/arm/v7/x", &p, NULL) == CLIP_ERR_INVALID);
	CHECK(clip_platform_parse("linux/arm64/v8", &p, NULL) == CLIP_OK);
	clip_platform_format(&p, buf, sizeof(buf));
	CHECK(strcmp(buf, "linux/arm64/v8") == 0);
	clip_platform_host(&p);
	CHECK(strcmp(p.os, "linux") == 0);
#if defined(__x86_64__)
	CHECK(strcmp(p.arch, "amd64") == 0 && p.variant[0] == '\0');
#elif defined(__aarch64__)
	CHECK(strcmp(p.arch, "arm64") == 0);
#endif
}

TEST(test_config)
{
	json_t *c;
	struct clip_error err;
	const char *good = "{\"architecture\":\"amd64\",\"os\":\"linux\","
	    "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" DA "\",\"" DB "\"]}}";

	CHECK_OK(clip_config_parse(good, strlen(good), 2, &c, &err), &err);
	CHECK(strcmp(json_string_value(json_object_get(c, "os")), "linux") == 0);
	json_decref(c);
	CHECK(clip_config_parse(good, strlen(good), 3, &c, &err) == CLIP_ERR_IMAGE);
	CHECK(strstr(err.msg, "2") != NULL && c == NULL);
	CHECK(clip_config_parse("{}", 2, (size_t)-1, &c, &err) == CLIP_ERR_IMAGE);
	/* Not JSON: a bad image (exit 5), in plain words. */
	CHECK(clip_config_parse("nope", 4, 0, &c, &err) == CLIP_ERR_IMAGE);
	CHECK_MSG(strstr(err.msg, "image config is not valid JSON") != NULL &&
	    strstr(err.msg, "JSON_") == NULL, "%s", err.msg);
}

/* What Go's decoder (and so Docker) accepts: \u0000, and escaped
 * surrogates that are not half of a pair, read as U+FFFD (skopeo inspect
 * --config prints these values for the same text). */
TEST(test_config_go_escapes)
{
	static const char text[] = "{\"rootfs\":{\"diff_ids\":[]},\"config\":{\"Env\":["
	    "\"a\\u0000b\",\"\\ud800x\",\"\\udc00\",\"\\ud83d\\ude00\",\"\\ud800\\u0041\","
	    "\"\\\\ud800\",\"\\\"\\ud800\",\"\\ud800\"]}}";
	static const char *const want[] = { "a\0b", "\xef\xbf\xbdx", "\xef\xbf\xbd",
	    "\xf0\x9f\x98\x80", "\xef\xbf\xbd" "A", "\\ud800", "\"\xef\xbf\xbd",
	    "\xef\xbf\xbd" };
	static const size_t want_len[] = { 3, 4, 3, 4, 4, 6, 4, 3 };
	struct clip_error err;
	json_t *c, *env;
	size_t i;

	CHECK_OK(clip_config_parse(text, strlen(text), 0, &c, &err), &err);
	env = json_object_get(json_object_get(c, "config"), "Env");
	CHECK(json_array_size(env) == 8);
	for (i = 0; i < 8; i++) {
		json_t *v = json_array_get(env, i);
		CHECK_MSG(json_string_length(v) == want_len[i] &&
		    memcmp(json_string_value(v), want[i], want_len[i]) == 0, "Env[%zu]", i);
	}
	json_decref(c);
}

/* ---- a hand-made OCI layout ---- */

static int
put_blob(const char *data, char digest[CLIP_DIGEST_BUFSZ])
{
	char path[200];

	clip_digest_of(data, strlen(data), digest);
	snprintf(path, sizeof(path), "lay/blobs/sha256/%s", digest + 7);
	return test_put(path, data);
}

TEST(test_oci_layout)
{
	char dcfg[CLIP_DIGEST_BUFSZ], dman[CLIP_DIGEST_BUFSZ], didx[CLIP_DIGEST_BUFSZ];
	char man[1024], idx[1024], top[2048];
	const char *cfg = "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" DA "\"]}}";
	const struct clip_descriptor *d;
	struct clip_image *img;
	struct clip_error err;
	clip_oci_layout *l;
	uint8_t *data;
	size_t len;

	CHECK(mkdir("lay", 0755) == 0 && mkdir("lay/blobs", 0755) == 0 &&
	    mkdir("lay/blobs/sha256", 0755) == 0);
	CHECK(clip_oci_layout_open("lay", &l, &err) == CLIP_ERR_NOTFOUND);
	CHECK(test_put("lay/oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}") == 0);
	CHECK(put_blob(cfg, dcfg) == 0);
	snprintf(man, sizeof(man), "{\"schemaVersion\":2,\"mediaType\":\"" CLIP_MT_OCI_MANIFEST "\","
	    "\"config\":{\"mediaType\":\"" CLIP_MT_OCI_CONFIG "\",\"digest\":\"%s\",\"size\":%zu},"
	    "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
	    "\"digest\":\"" DB "\",\"size\":9}]}", dcfg, strlen(cfg));
	CHECK(put_blob(man, dman) == 0);
	/* a nested multi-platform index as well as a plain manifest */
	snprintf(idx, sizeof(idx), "{\"schemaVersion\":2,\"mediaType\":\"" CLIP_MT_OCI_INDEX "\","
	    "\"manifests\":[{\"mediaType\":\"" CLIP_MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":%zu,"
	    "\"platform\":{\"os\":\"linux\",\"architecture\":\"riscv64\"}}]}", dman, strlen(man));
	CHECK(put_blob(idx, didx) == 0);
	snprintf(top, sizeof(top), "{\"schemaVersion\":2,\"manifests\":["
	    "{\"mediaType\":\"" CLIP_MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":%zu,"
	    "\"annotations\":{\"org.opencontainers.image.ref.name\":\"one\"}},"
	    "{\"mediaType\":\"" CLIP_MT_OCI_INDEX "\",\"digest\":\"%s\",\"size\":%zu,"
	    "\"annotations\":{\"org.opencontainers.image.ref.name\":\"multi\"}}]}",
	    dman, strlen(man), didx, strlen(idx));
	CHECK(test_put("lay/index.json", top) == 0);

	CHECK_OK(clip_oci_layout_open("lay", &l, &err), &err);
	CHECK_OK(clip_oci_layout_find(l, "one", &d, &err), &err);
	CHECK(strcmp(d->digest, dman) == 0);
	CHECK(clip_oci_layout_find(l, "nope", &d, &err) == CLIP_ERR_NOTFOUND);
	CHECK(strstr(err.msg, "one, multi") != NULL);
	CHECK(clip_oci_layout_find(l, NULL, &d, &err) == CLIP_ERR_INVALID);

	CHECK_OK(clip_image_resolve_layout(l, "one", NULL, &img, &err), &err);
	CHECK(strcmp(img->manifest_digest, dman) == 0 && img->index_digest[0] == '\0');
	CHECK(img->manifest->n_layers == 1 && strcmp(img->manifest->layers[0].digest, DB) == 0);
	CHECK(img->config_len == strlen(cfg) && memcmp(img->config_data, cfg, img->config_len) == 0);
	clip_image_free(img);

	{
		struct clip_platform p;
		CHECK_OK(clip_platform_parse("linux/riscv64", &p, &err), &err);
		CHECK_OK(clip_image_resolve_layout(l, "multi", &p, &img, &err), &err);
		CHECK(strcmp(img->index_digest, didx) == 0 && strcmp(img->manifest_digest, dman) == 0);
		clip_image_free(img);
		CHECK_OK(clip_platform_parse("linux/ppc64le", &p, &err), &err);
		CHECK(clip_image_resolve_layout(l, "multi", &p, &img, &err) == CLIP_ERR_NOTFOUND);
		CHECK(strstr(err.msg, "linux/riscv64") != NULL);
	}

	/* blobs: digest checked, caps, path safety */
	CHECK_OK(clip_oci_layout_read_blob(l, dcfg, 1000, &data, &len, &err), &err);
	CHECK(len == strlen(cfg));
	free(data);
	CHECK(clip_oci_layout_read_blob(l, dcfg, 3, &data, &len, &err) == CLIP_ERR_TOOBIG);
	CHECK(clip_oci_layout_read_blob(l, "sha256:../../x", 3, &data, &len, &err) == CLIP_ERR_INVALID);
	{
		char path[200];
		snprintf(path, sizeof(path), "lay/blobs/sha256/%s", dcfg + 7);
		CHECK(test_put(path, "{\"tampered\":1}") == 0);
		CHECK(clip_oci_layout_read_blob(l, dcfg, 1000, &data, &len, &err) == CLIP_ERR_CHECKSUM);
		CHECK(clip_image_resolve_layout(l, "one", NULL, &img, &err) == CLIP_ERR_CHECKSUM);
	}
	clip_oci_layout_close(l);
	clip_oci_layout_close(NULL);
}

TEST_MAIN(test_oci_manifest, test_docker_manifest_by_content_type, test_bad_manifests,
    test_platform_selection, test_platform_parse_and_host, test_config, test_oci_layout,
    test_config_go_escapes)
