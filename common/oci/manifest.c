/* manifest.c - manifests, indexes and configs from bytes; platform choice. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "common/oci/manifest.h"
#include "common/util/hex.h"

/* More entries than this is not an image anyone can pull. */
#define MAX_ENTRIES 10000

static void
descriptor_free(struct clip_descriptor *d)
{
	free(d->media_type);
	free(d->ref_name);
	d->media_type = d->ref_name = NULL;
}

void
clip_manifest_free(struct clip_manifest *m)
{
	size_t i;

	if (m == NULL)
		return;
	free(m->media_type);
	descriptor_free(&m->config);
	for (i = 0; i < m->n_layers; i++)
		descriptor_free(&m->layers[i]);
	free(m->layers);
	for (i = 0; i < m->n_manifests; i++)
		descriptor_free(&m->manifests[i]);
	free(m->manifests);
	free(m);
}

static int
copy_short(char *dst, size_t dstsz, json_t *v)
{
	const char *s = json_string_value(v);

	if (s == NULL)
		return v == NULL ? 0 : -1;
	if (strlen(s) >= dstsz)
		return -1;
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

/* Fills d from a descriptor object; what names it in errors. */
static clip_err
parse_descriptor(json_t *o, int with_platform, struct clip_descriptor *d,
    const char *what, struct clip_error *err)
{
	json_t *mt, *dg, *sz, *pl, *ann;
	clip_err rc;

	if (!json_is_object(o))
		return clip_error_set(err, CLIP_ERR_PROTOCOL, "%s: not an object", what);
	mt = json_object_get(o, "mediaType");
	dg = json_object_get(o, "digest");
	sz = json_object_get(o, "size");
	if (mt != NULL && !json_is_string(mt))
		return clip_error_set(err, CLIP_ERR_PROTOCOL, "%s: mediaType is not a string", what);
	if (!json_is_string(dg))
		return clip_error_set(err, CLIP_ERR_PROTOCOL, "%s: missing digest", what);
	rc = clip_digest_check(json_string_value(dg), what, err);
	if (rc != CLIP_OK) {
		/* a bad digest from a server is a protocol error, not ours */
		if (rc == CLIP_ERR_INVALID) {
			rc = CLIP_ERR_PROTOCOL;
			if (err != NULL)
				err->code = rc;
		}
		return rc;
	}
	if (!json_is_integer(sz) || json_integer_value(sz) < 0)
		return clip_error_set(err, CLIP_ERR_PROTOCOL, "%s: size is not a non-negative integer", what);
	memcpy(d->digest, json_string_value(dg), CLIP_DIGEST_BUFSZ);
	d->size = (uint64_t)json_integer_value(sz);
	if (mt != NULL && (d->media_type = strdup(json_string_value(mt))) == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	ann = json_object_get(o, "annotations");
	if (json_is_object(ann)) {
		const char *name = json_string_value(json_object_get(ann,
		    "org.opencontainers.image.ref.name"));
		if (name != NULL && (d->ref_name = strdup(name)) == NULL)
			return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	if (with_platform && (pl = json_object_get(o, "platform")) != NULL) {
		if (!json_is_object(pl) ||
		    copy_short(d->platform.os, sizeof(d->platform.os), json_object_get(pl, "os")) ||
		    copy_short(d->platform.arch, sizeof(d->platform.arch), json_object_get(pl, "architecture")) ||
		    copy_short(d->platform.variant, sizeof(d->platform.variant), json_object_get(pl, "variant")))
			return clip_error_set(err, CLIP_ERR_PROTOCOL, "%s: bad platform", what);
	}
	return CLIP_OK;
}

static clip_err
parse_array(json_t *arr, int with_platform, const char *what,
    struct clip_descriptor **out, size_t *n, struct clip_error *err)
{
	size_t i, count;
	char name[64];

	*out = NULL;
	*n = 0;
	if (!json_is_array(arr))
		return clip_error_set(err, CLIP_ERR_PROTOCOL, "%s: missing or not an array", what);
	count = json_array_size(arr);
	if (count > MAX_ENTRIES)
		return clip_error_set(err, CLIP_ERR_TOOBIG, "%s: %zu entries", what, count);
	if (count == 0)
		return CLIP_OK;
	*out = calloc(count, sizeof(**out));
	if (*out == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	for (i = 0; i < count; i++) {
		clip_err rc;
		snprintf(name, sizeof(name), "%s[%zu]", what, i);
		*n = i + 1;  /* so that a partial entry is freed too */
		rc = parse_descriptor(json_array_get(arr, i), with_platform, &(*out)[i], name, err);
		if (rc != CLIP_OK)
			return rc;
	}
	return CLIP_OK;
}

/* Content-Type without parameters, into buf; "" if none. */
static void
bare_type(const char *ct, char *buf, size_t bufsz)
{
	size_t n = 0;

	buf[0] = '\0';
	if (ct == NULL)
		return;
	while (*ct == ' ')
		ct++;
	while (ct[n] && ct[n] != ';' && ct[n] != ' ')
		n++;
	if (n < bufsz) {
		memcpy(buf, ct, n);
		buf[n] = '\0';
	}
}

static int
is_type(const char *t, enum clip_manifest_kind *kind)
{
	if (strcmp(t, CLIP_MT_OCI_MANIFEST) == 0 || strcmp(t, CLIP_MT_DOCKER_MANIFEST) == 0) {
		*kind = CLIP_MANIFEST_IMAGE;
		return 1;
	}
	if (strcmp(t, CLIP_MT_OCI_INDEX) == 0 || strcmp(t, CLIP_MT_DOCKER_LIST) == 0) {
		*kind = CLIP_MANIFEST_INDEX;
		return 1;
	}
	return 0;
}

clip_err
clip_manifest_parse(const void *data, size_t len, const char *content_type,
    struct clip_manifest **out, struct clip_error *err)
{
	struct clip_manifest *m = NULL;
	json_error_t jerr;
	json_t *root, *mtv;
	char ct[128];
	const char *type = NULL;
	enum clip_manifest_kind kind = 0;
	clip_err rc;

	*out = NULL;
	if (len > CLIP_MANIFEST_MAX)
		return clip_error_set(err, CLIP_ERR_TOOBIG, "manifest larger than %u bytes",
		    CLIP_MANIFEST_MAX);
	root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL || !json_is_object(root)) {
		json_decref(root);
		return clip_error_set(err, CLIP_ERR_PROTOCOL, "manifest is not a JSON object: %s",
		    root ? "wrong type" : jerr.text);
	}
	{
		json_t *sv = json_object_get(root, "schemaVersion");
		if (json_is_integer(sv) && json_integer_value(sv) == 1) {
			rc = clip_error_set(err, CLIP_ERR_UNSUPPORTED,
			    "Docker schema 1 manifests are not supported");
			goto fail;
		}
	}
	bare_type(content_type, ct, sizeof(ct));
	mtv = json_object_get(root, "mediaType");
	if (is_type(ct, &kind)) {
		type = ct;
	} else if (json_is_string(mtv)) {
		type = json_string_value(mtv);
		if (!is_type(type, &kind)) {
			rc = clip_error_set(err, CLIP_ERR_UNSUPPORTED,
			    "unsupported manifest media type \"%.100s\"", type);
			goto fail;
		}
	} else if (json_object_get(root, "manifests") != NULL) {
		kind = CLIP_MANIFEST_INDEX;
		type = CLIP_MT_OCI_INDEX;
	} else if (json_object_get(root, "layers") != NULL) {
		kind = CLIP_MANIFEST_IMAGE;
		type = CLIP_MT_OCI_MANIFEST;
	} else {
		rc = clip_error_set(err, CLIP_ERR_UNSUPPORTED,
		    "document is neither an image manifest nor an index%s%.100s",
		    ct[0] ? "; Content-Type " : "", ct);
		goto fail;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL || (m->media_type = strdup(type)) == NULL) {
		rc = clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
		goto fail;
	}
	m->kind = kind;
	if (kind == CLIP_MANIFEST_IMAGE) {
		rc = parse_descriptor(json_object_get(root, "config"), 0, &m->config,
		    "manifest config", err);
		if (rc == CLIP_OK)
			rc = parse_array(json_object_get(root, "layers"), 0, "manifest layers",
			    &m->layers, &m->n_layers, err);
	} else {
		rc = parse_array(json_object_get(root, "manifests"), 1, "index manifests",
		    &m->manifests, &m->n_manifests, err);
	}
	if (rc != CLIP_OK)
		goto fail;
	json_decref(root);
	*out = m;
	return CLIP_OK;
fail:
	clip_manifest_free(m);
	json_decref(root);
	return rc;
}

clip_err
clip_platform_parse(const char *s, struct clip_platform *out, struct clip_error *err)
{
	char buf[96], *parts[4] = { 0 };
	size_t n = 0;
	char *p, *save = NULL;

	memset(out, 0, sizeof(*out));
	if (s == NULL || strlen(s) >= sizeof(buf))
		return clip_error_set(err, CLIP_ERR_INVALID, "bad platform");
	strcpy(buf, s);
	for (p = strtok_r(buf, "/", &save); p != NULL; p = strtok_r(NULL, "/", &save)) {
		if (n == 3)
			return clip_error_set(err, CLIP_ERR_INVALID,
			    "platform \"%s\": want OS/ARCH[/VARIANT]", s);
		parts[n++] = p;
	}
	if (n < 2 || strlen(parts[0]) >= sizeof(out->os) ||
	    strlen(parts[1]) >= sizeof(out->arch) ||
	    (parts[2] && strlen(parts[2]) >= sizeof(out->variant)))
		return clip_error_set(err, CLIP_ERR_INVALID,
		    "platform \"%s\": want OS/ARCH[/VARIANT]", s);
	strcpy(out->os, parts[0]);
	strcpy(out->arch, parts[1]);
	if (parts[2])
		strcpy(out->variant, parts[2]);
	return CLIP_OK;
}

void
clip_platform_host(struct clip_platform *out)
{
	static const struct { const char *uname, *arch, *variant; } map[] = {
		{ "x86_64", "amd64", "" },
		{ "amd64", "amd64", "" },
		{ "aarch64", "arm64", "v8" },
		{ "arm64", "arm64", "v8" },
		{ "armv7l", "arm", "v7" },
		{ "armv6l", "arm", "v6" },
		{ "armv5tel", "arm", "v5" },
		{ "i386", "386", "" },
		{ "i486", "386", "" },
		{ "i586", "386", "" },
		{ "i686", "386", "" },
		{ "ppc64le", "ppc64le", "" },
		{ "s390x", "s390x", "" },
		{ "riscv64", "riscv64", "" },
		{ "mips64", "mips64", "" },
		{ "loongarch64", "loong64", "" },
	};
	struct utsname u;
	size_t i;

	memset(out, 0, sizeof(*out));
	strcpy(out->os, "linux");
	if (uname(&u) != 0) {
		strcpy(out->arch, "amd64");
		return;
	}
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(u.machine, map[i].uname) == 0) {
			strcpy(out->arch, map[i].arch);
			strcpy(out->variant, map[i].variant);
			return;
		}
	}
	snprintf(out->arch, sizeof(out->arch), "%.31s", u.machine);
}

void
clip_platform_format(const struct clip_platform *p, char *buf, size_t bufsz)
{
	snprintf(buf, bufsz, "%s/%s%s%s", p->os[0] ? p->os : "?",
	    p->arch[0] ? p->arch : "?", p->variant[0] ? "/" : "", p->variant);
}

/* The "vN" number of an arm variant, or -1. */
static int
arm_level(const char *v)
{
	if (v[0] != 'v' || v[1] < '5' || v[1] > '8' || v[2] != '\0')
		return -1;
	return v[1] - '0';
}

static int
runnable_type(const char *mt)
{
	return mt == NULL || strcmp(mt, CLIP_MT_OCI_MANIFEST) == 0 ||
	    strcmp(mt, CLIP_MT_DOCKER_MANIFEST) == 0;
}

/* 0: no match; higher is better. */
static int
score(const struct clip_descriptor *d, const struct clip_platform *want)
{
	const char *have = d->platform.variant;

	if (!runnable_type(d->media_type))
		return 0;
	if (strcmp(d->platform.os, want->os) != 0 || strcmp(d->platform.arch, want->arch) != 0)
		return 0;
	if (strcmp(have, want->variant) == 0)
		return 100;
	if (strcmp(want->arch, "arm64") == 0 &&
	    ((have[0] == '\0' && strcmp(want->variant, "v8") == 0) ||
	    (want->variant[0] == '\0' && strcmp(have, "v8") == 0)))
		return 99;
	if (want->variant[0] == '\0') {
		/* No variant asked: as containers/image (skopeo, podman)
		 * chooses, an arm entry of the highest variant first (v8 ...
		 * v5), else the first entry in index order. */
		if (strcmp(want->arch, "arm") == 0 && arm_level(have) > 0)
			return 50 + arm_level(have);
		return 50;
	}
	if (strcmp(want->arch, "arm") == 0) {
		int w = arm_level(want->variant), h = arm_level(have);
		if (have[0] == '\0')
			return 10;
		if (w > 0 && h > 0 && h <= w)
			return 10 + h;
	}
	return 0;
}

clip_err
clip_index_select(const struct clip_manifest *index, const struct clip_platform *want,
    const struct clip_descriptor **out, struct clip_error *err)
{
	const struct clip_descriptor *best = NULL;
	int best_score = 0;
	char list[300], one[96], w[96];
	size_t i, used = 0;

	*out = NULL;
	if (index->kind != CLIP_MANIFEST_INDEX)
		return clip_error_set(err, CLIP_ERR_INVALID, "not an index");
	for (i = 0; i < index->n_manifests; i++) {
		int s = score(&index->manifests[i], want);
		if (s > best_score) {
			best_score = s;
			best = &index->manifests[i];
		}
	}
	if (best != NULL) {
		*out = best;
		return CLIP_OK;
	}
	list[0] = '\0';
	for (i = 0; i < index->n_manifests; i++) {
		const struct clip_descriptor *d = &index->manifests[i];
		int n;
		if (!runnable_type(d->media_type) || d->platform.os[0] == '\0' ||
		    strcmp(d->platform.os, "unknown") == 0)
			continue;  /* attestations and such */
		clip_platform_format(&d->platform, one, sizeof(one));
		n = snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "", one);
		if (n < 0 || (size_t)n >= sizeof(list) - used)
			break;
		used += (size_t)n;
	}
	clip_platform_format(want, w, sizeof(w));
	return clip_error_set(err, CLIP_ERR_NOTFOUND, "no image for platform %s; the index has: %s",
	    w, used ? list : "(no platforms)");
}

/* The value of the 4 hex digits at s[i..i+4), or -1. */
static long
hex4(const char *s, size_t len, size_t i)
{
	long v = 0;
	size_t k;

	if (i > len || len - i < 4)
		return -1;
	for (k = i; k < i + 4; k++) {
		int d = clip_hex_digit((unsigned char)s[k]);

		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* Go's decoder (and so Docker) reads an escaped UTF-16 surrogate that is
 * not half of a pair as U+FFFD; jansson refuses it.  Rewrites each such
 * escape to \uFFFD, in place (the same length), so both read the same
 * config alike.  Escapes outside strings are left for the parser. */
static void
replace_lone_surrogates(char *s, size_t len)
{
	size_t i = 0;
	int in_string = 0;
	long u, lo;

	while (i < len) {
		if (s[i] == '"')
			in_string = !in_string;
		if (!in_string || s[i] != '\\') {
			i++;
			continue;
		}
		if (i + 1 >= len || s[i + 1] != 'u' || (u = hex4(s, len, i + 2)) < 0) {
			i += 2;    /* any other escape, \" and \\ included */
			continue;
		}
		if (u >= 0xD800 && u <= 0xDBFF) {
			lo = i + 7 < len && s[i + 6] == '\\' && s[i + 7] == 'u' ? hex4(s, len, i + 8) : -1;
			if (lo >= 0xDC00 && lo <= 0xDFFF) {
				i += 12;   /* a pair */
				continue;
			}
		}
		if (u >= 0xD800 && u <= 0xDFFF)
			memcpy(s + i, "\\uFFFD", 6);
		i += 6;
	}
}

/* The config as Go reads it: \u0000 in strings allowed (JSON_ALLOW_NUL),
 * lone surrogates as U+FFFD.  NULL and jerr set when it does not parse. */
static json_t *
load_config(const void *data, size_t len, json_error_t *jerr)
{
	char *copy = malloc(len ? len : 1);
	json_t *root;

	if (copy == NULL) {
		snprintf(jerr->text, sizeof(jerr->text), "out of memory");
		return NULL;
	}
	memcpy(copy, data, len);
	replace_lone_surrogates(copy, len);
	root = json_loadb(copy, len, JSON_ALLOW_NUL, jerr);
	free(copy);
	return root;
}

clip_err
clip_config_parse(const void *data, size_t len, size_t n_layers, json_t **out,
    struct clip_error *err)
{
	json_error_t jerr;
	json_t *root, *rootfs, *ids;

	*out = NULL;
	if (len > CLIP_CONFIG_MAX)
		return clip_error_set(err, CLIP_ERR_TOOBIG, "image config larger than %u bytes",
		    CLIP_CONFIG_MAX);
	root = load_config(data, len, &jerr);
	if (root == NULL)
		return clip_error_set(err, CLIP_ERR_IMAGE, "image config is not valid JSON "
		    "(line %d, column %d): %s", jerr.line, jerr.column, jerr.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return clip_error_set(err, CLIP_ERR_IMAGE, "image config is not a JSON object");
	}
	rootfs = json_object_get(root, "rootfs");
	ids = json_object_get(rootfs, "diff_ids");
	if (!json_is_object(rootfs) || !json_is_array(ids)) {
		json_decref(root);
		return clip_error_set(err, CLIP_ERR_IMAGE, "image config has no rootfs.diff_ids");
	}
	if (n_layers != (size_t)-1 && json_array_size(ids) != n_layers) {
		size_t have = json_array_size(ids);
		json_decref(root);
		return clip_error_set(err, CLIP_ERR_IMAGE,
		    "image config lists %zu layers (rootfs.diff_ids), the manifest %zu",
		    have, n_layers);
	}
	*out = root;
	return CLIP_OK;
}
