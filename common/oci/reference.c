/* reference.c - parse docker:// and oci: image references. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/oci/oci_digest.h"
#include "common/oci/reference.h"

/* The distribution spec caps a repository name (with host) at 255. */
#define NAME_MAX_TOTAL 255
#define TAG_MAX 128

static int
is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int
is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static int
is_word(char c)
{
	return is_alnum(c) || c == '_';
}

/*
 * One path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
 * i.e. alnum runs joined by one '.', one or two '_', or any number of '-'.
 */
static int
component_valid(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t run = 0;
		while (i < n && is_lower_alnum(s[i])) {
			i++;
			run++;
		}
		if (run == 0)
			return 0;
		if (i == n)
			return 1;
		if (s[i] == '.') {
			i++;
		} else if (s[i] == '_') {
			i++;
			if (i < n && s[i] == '_')
				i++;
		} else if (s[i] == '-') {
			while (i < n && s[i] == '-')
				i++;
		} else {
			return 0;
		}
		if (i == n)
			return 0;  /* separator at the end */
	}
	return 0;  /* empty */
}

int
clip_ref_repository_valid(const char *repo)
{
	const char *p = repo, *slash;

	if (repo == NULL || *repo == '\0' || strlen(repo) > NAME_MAX_TOTAL)
		return 0;
	for (;;) {
		slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (!component_valid(p, n))
			return 0;
		if (slash == NULL)
			return 1;
		p = slash + 1;
	}
}

int
clip_ref_tag_valid(const char *tag)
{
	size_t i;

	if (tag == NULL || !is_word(tag[0]))
		return 0;
	for (i = 1; tag[i] != '\0'; i++) {
		if (i >= TAG_MAX)
			return 0;
		if (!is_word(tag[i]) && tag[i] != '.' && tag[i] != '-')
			return 0;
	}
	return 1;
}

/* HOST is DNS labels joined by '.', or a bracketed IPv6 address; then an
 * optional :PORT (1..65535). */
static int
host_valid(const char *s, size_t n)
{
	size_t i = 0, hostlen;
	const char *colon;

	if (n == 0)
		return 0;
	if (s[0] == '[') {
		for (i = 1; i < n && s[i] != ']'; i++)
			if (!(is_alnum(s[i]) || s[i] == ':' || s[i] == '.' || s[i] == '%'))
				return 0;
		if (i >= n || i == 1)
			return 0;
		hostlen = i + 1;
	} else {
		colon = memchr(s, ':', n);
		hostlen = colon ? (size_t)(colon - s) : n;
		if (hostlen == 0)
			return 0;
		/* labels: alnum at both ends, '-' inside */
		while (i < hostlen) {
			size_t start = i;
			while (i < hostlen && (is_alnum(s[i]) || s[i] == '-'))
				i++;
			if (i == start || s[start] == '-' || s[i - 1] == '-')
				return 0;
			if (i < hostlen) {
				if (s[i] != '.')
					return 0;
				i++;
				if (i == hostlen)
					return 0;
			}
		}
	}
	if (hostlen == n)
		return 1;
	if (s[hostlen] != ':' || hostlen + 1 == n || n - hostlen - 1 > 5)
		return 0;
	{
		unsigned long port = 0;
		for (i = hostlen + 1; i < n; i++) {
			if (s[i] < '0' || s[i] > '9')
				return 0;
			port = port * 10 + (unsigned long)(s[i] - '0');
		}
		return port >= 1 && port <= 65535;
	}
}

void
clip_reference_free(struct clip_reference *ref)
{
	if (ref == NULL)
		return;
	free(ref->registry);
	free(ref->api_host);
	free(ref->repository);
	free(ref->tag);
	free(ref->digest);
	free(ref->path);
	memset(ref, 0, sizeof(*ref));
}

static clip_err
nomem(struct clip_reference *out, struct clip_error *err)
{
	clip_reference_free(out);
	return clip_error_set(err, CLIP_ERR_NOMEM, "image reference: out of memory");
}

static clip_err
fail(struct clip_reference *out, struct clip_error *err, clip_err code,
    const char *what, const char *s)
{
	clip_reference_free(out);
	/* References carry no secrets (a user:pass@ prefix is rejected as a
	 * bad name before anything is stored), but keep messages short. */
	return clip_error_set(err, code, "image reference \"%.200s\": %s", s, what);
}

static clip_err
parse_layout(const char *full, const char *s, struct clip_reference *out,
    struct clip_error *err)
{
	/* Like containers/image: the first ':' separates DIR and TAG. */
	const char *colon = strchr(s, ':');
	size_t dlen = colon ? (size_t)(colon - s) : strlen(s);

	out->kind = CLIP_REF_OCI_LAYOUT;
	if (dlen == 0)
		return fail(out, err, CLIP_ERR_INVALID, "missing layout directory", full);
	out->path = strndup(s, dlen);
	if (out->path == NULL)
		return nomem(out, err);
	if (colon != NULL) {
		const char *t = colon + 1;
		if (*t == '\0')
			return fail(out, err, CLIP_ERR_INVALID, "empty tag after ':'", full);
		/* OCI layouts allow any ref.name; stay with the tag grammar
		 * plus '@' '/' ':' which ref.name commonly contains. */
		if (strchr(t, '\0') - t > 255)
			return fail(out, err, CLIP_ERR_INVALID, "tag too long", full);
		out->tag = strdup(t);
		if (out->tag == NULL)
			return nomem(out, err);
	}
	return CLIP_OK;
}

/* The part of s a transport prefix leaves for a registry reference, or
 * NULL (with the error set) for a transport of skopeo's that we lack:
 * saying so beats "bad tag" ("alpine:3" is a tag, so only known names). */
static const char *
strip_transport(const char *s, struct clip_reference *out, struct clip_error *err)
{
	static const char *const other[] = { "dir:", "docker-archive:", "docker-daemon:",
	    "oci-archive:", "containers-storage:", "tarball:", "sif:", "ostree:" };
	size_t i;

	if (strncmp(s, "docker://", 9) == 0)
		return s + 9;
	for (i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		if (strncmp(s, other[i], strlen(other[i])) == 0) {
			fail(out, err, CLIP_ERR_UNSUPPORTED,
			    "unsupported transport (use docker:// or oci:)", s);
			return NULL;
		}
	return s;
}

/* The digest after '@', if any: checked and kept.  *name_end: the end
 * of what comes before it. */
static clip_err
parse_digest(const char *s, const char *full, const char **name_end,
    struct clip_reference *out, struct clip_error *err)
{
	const char *at = strchr(s, '@');
	struct clip_error derr;
	clip_err rc;

	*name_end = at ? at : s + strlen(s);
	if (at == NULL)
		return CLIP_OK;
	clip_error_clear(&derr);
	if ((rc = clip_digest_check(at + 1, "digest", &derr)) != CLIP_OK)
		return fail(out, err, rc, derr.msg, full);
	if ((out->digest = strdup(at + 1)) == NULL)
		return nomem(out, err);
	return CLIP_OK;
}

/* The tag: after the last ':' that follows the last '/' of s up to
 * *name_end, which then moves to that ':'. */
static clip_err
parse_tag(const char *s, const char *full, const char **name_end,
    struct clip_reference *out, struct clip_error *err)
{
	const char *last_slash = NULL, *colon = NULL, *p;
	size_t tl;

	for (p = s; p < *name_end; p++)
		if (*p == '/')
			last_slash = p;
	for (p = last_slash ? last_slash : s; p < *name_end; p++)
		if (*p == ':')
			colon = p;
	if (colon == NULL)
		return CLIP_OK;
	tl = (size_t)(*name_end - colon - 1);
	if ((out->tag = strndup(colon + 1, tl)) == NULL)
		return nomem(out, err);
	if (!clip_ref_tag_valid(out->tag))
		return fail(out, err, CLIP_ERR_INVALID, tl == 0 ? "empty tag after ':'" :
		    "bad tag (want [A-Za-z0-9_][A-Za-z0-9_.-]{0,127})", full);
	*name_end = colon;
	return CLIP_OK;
}

/* The registry host of NAME (s up to name_end), Docker Hub when the first
 * component does not look like a host; *repo: where the repository
 * starts. */
static clip_err
parse_host(const char *s, const char *full, const char *name_end, const char **repo,
    struct clip_reference *out, struct clip_error *err)
{
	const char *slash = memchr(s, '/', (size_t)(name_end - s));
	size_t hostlen = slash ? (size_t)(slash - s) : 0, i;
	int has_host = 0;

	if (slash != NULL) {
		if (memchr(s, '.', hostlen) || memchr(s, ':', hostlen) ||
		    (hostlen == 9 && strncmp(s, "localhost", 9) == 0))
			has_host = 1;
		for (i = 0; i < hostlen; i++)
			if (s[i] >= 'A' && s[i] <= 'Z')
				has_host = 1;
	}
	*repo = has_host ? s + hostlen + 1 : s;
	if (has_host && !host_valid(s, hostlen))
		return fail(out, err, CLIP_ERR_INVALID, "bad registry host", full);
	/* Docker Hub has several names; keep one. */
	if (!has_host || (hostlen == 15 && strncmp(s, "index.docker.io", 15) == 0) ||
	    (hostlen == 20 && strncmp(s, "registry-1.docker.io", 20) == 0))
		out->registry = strdup("docker.io");
	else
		out->registry = strndup(s, hostlen);
	return out->registry != NULL ? CLIP_OK : nomem(out, err);
}

/* The repository [repo, name_end) ("library/" added for Docker Hub's
 * single names), checked, and the host its API answers on. */
static clip_err
parse_repository(const char *repo, const char *full, const char *name_end,
    struct clip_reference *out, struct clip_error *err)
{
	size_t rl = (size_t)(name_end - repo);
	int hub = strcmp(out->registry, "docker.io") == 0;
	int lib = hub && memchr(repo, '/', rl) == NULL;
	char *name = NULL;

	if (rl == 0)
		return fail(out, err, CLIP_ERR_INVALID, "missing repository name", full);
	if (asprintf(&name, "%s%.*s", lib ? "library/" : "", (int)rl, repo) < 0)
		return nomem(out, err);
	out->repository = name;
	if (!clip_ref_repository_valid(name))
		return fail(out, err, CLIP_ERR_INVALID,
		    "bad repository name (lowercase [a-z0-9] components "
		    "joined by '.', '_', '__' or '-', separated by '/')", full);
	if (strlen(out->registry) + 1 + strlen(name) > NAME_MAX_TOTAL)
		return fail(out, err, CLIP_ERR_INVALID, "name longer than 255", full);
	if ((out->api_host = strdup(hub ? "registry-1.docker.io" : out->registry)) == NULL)
		return nomem(out, err);
	return CLIP_OK;
}

clip_err
clip_reference_parse(const char *s, struct clip_reference *out,
    struct clip_error *err)
{
	const char *full = s, *name_end, *repo;
	clip_err rc;

	memset(out, 0, sizeof(*out));
	if (s == NULL || *s == '\0')
		return clip_error_set(err, CLIP_ERR_INVALID, "empty image reference");
	if (strncmp(s, "oci:", 4) == 0)
		return parse_layout(full, s + 4, out, err);
	if ((s = strip_transport(s, out, err)) == NULL)
		return err != NULL ? err->code : CLIP_ERR_UNSUPPORTED;
	out->kind = CLIP_REF_REGISTRY;
	/* NAME[:TAG][@DIGEST] */
	if ((rc = parse_digest(s, full, &name_end, out, err)) != CLIP_OK ||
	    (rc = parse_tag(s, full, &name_end, out, err)) != CLIP_OK)
		return rc;
	if (name_end == s)
		return fail(out, err, CLIP_ERR_INVALID, "missing repository name", full);
	if ((rc = parse_host(s, full, name_end, &repo, out, err)) != CLIP_OK ||
	    (rc = parse_repository(repo, full, name_end, out, err)) != CLIP_OK)
		return rc;
	if (out->tag == NULL && out->digest == NULL && (out->tag = strdup("latest")) == NULL)
		return nomem(out, err);
	return CLIP_OK;
}

const char *
clip_reference_target(const struct clip_reference *ref)
{
	return ref->digest ? ref->digest : ref->tag;
}

char *
clip_reference_format(const struct clip_reference *ref)
{
	char *s = NULL;
	int n;

	if (ref->kind == CLIP_REF_OCI_LAYOUT)
		n = asprintf(&s, "oci:%s%s%s", ref->path, ref->tag ? ":" : "",
		    ref->tag ? ref->tag : "");
	else
		n = asprintf(&s, "%s/%s%s%s%s%s", ref->registry, ref->repository,
		    ref->tag ? ":" : "", ref->tag ? ref->tag : "",
		    ref->digest ? "@" : "", ref->digest ? ref->digest : "");
	return n < 0 ? NULL : s;
}
