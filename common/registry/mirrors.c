/* mirrors.c - blob ranges from mirrors, then the origin (mirrors.h). */
#include "config.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/oci/reference.h"
#include "common/registry/auth_config.h"
#include "common/registry/insecure_scheme.h"
#include "common/registry/mirrors.h"

struct host {
	clip_registry *r;
	char *label;
	atomic_long skip_until;      /* CLOCK_MONOTONIC seconds */
	atomic_ulong served, failed, wrong;
	atomic_ullong bytes;
};

struct clip_mirror_set {
	struct host hosts[CLIP_MIRRORS_MAX + 1];
	size_t n;
};

static long
mono_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec;
}

/* Whether host i may be asked now: the origin always. */
static int
host_usable(clip_mirror_set *m, size_t i)
{
	return i + 1 == m->n || atomic_load(&m->hosts[i].skip_until) <= mono_seconds();
}

/* Host i failed with rc: counted, and skipped for a while unless it is
 * the origin.  A 200 for a range: the cache is filling (on its own),
 * soon done; anything else: the host is in trouble. */
static void
host_failed(clip_mirror_set *m, size_t i, clip_err rc)
{
	struct host *h = &m->hosts[i];

	atomic_fetch_add(&h->failed, 1);
	if (rc == CLIP_ERR_CHECKSUM)
		atomic_fetch_add(&h->wrong, 1);
	if (i + 1 < m->n)
		atomic_store(&h->skip_until, mono_seconds() + (rc == CLIP_ERR_UNSUPPORTED ?
		    CLIP_MIRROR_FILL_SKIP_S : CLIP_MIRROR_SKIP_S));
}

/* One host's try: its bytes, checked by verify (or NULL). */
static clip_err
fetch_at(struct host *h, const char *digest, uint64_t off, size_t len, void *buf,
    clip_fetch_progress_fn progress, clip_fetch_verify_fn verify, void *arg,
    struct clip_error *err)
{
	clip_err rc;

	rc = clip_registry_read_range_progress(h->r, digest, off, len, buf, progress, arg, err);
	if (rc == CLIP_OK && verify != NULL && !verify(arg)) {
		rc = clip_error_set(err, CLIP_ERR_CHECKSUM, "%s: bytes %llu-%llu of %s are not the "
		    "indexed ones (sha256 mismatch)", h->label, (unsigned long long)off,
		    (unsigned long long)(off + len), digest);
	} else if (rc != CLIP_OK) {
		clip_error_prefix(err, "%s", h->label);
	}
	return rc;
}

/* Tries each host in turn; the origin (the last) always. */
static clip_err
fetch_from_hosts(void *ctx, const char *digest, uint64_t off, size_t len, void *buf,
    clip_fetch_progress_fn progress, clip_fetch_verify_fn verify, void *arg,
    struct clip_error *err)
{
	clip_mirror_set *m = ctx;
	clip_err rc = CLIP_ERR_NETWORK;
	size_t i;

	for (i = 0; i < m->n; i++) {
		struct host *h = &m->hosts[i];

		if (!host_usable(m, i))
			continue;
		rc = fetch_at(h, digest, off, len, buf, progress, verify, arg, err);
		if (rc == CLIP_OK) {
			atomic_fetch_add(&h->served, 1);
			atomic_fetch_add(&h->bytes, len);
			return CLIP_OK;
		}
		host_failed(m, i, rc);
	}
	return rc;
}

/* A clip_blob_sink that counts what it passes on. */
struct counting_sink {
	clip_blob_sink sink;
	void *ctx;
	uint64_t bytes;
};

static int
count_bytes(void *ctx, const void *buf, size_t len)
{
	struct counting_sink *c = ctx;

	c->bytes += len;
	return c->sink(c->ctx, buf, len);
}

clip_err
clip_mirror_set_stream_blob(clip_mirror_set *m, const char *digest, uint64_t expected_size,
    clip_blob_sink sink, clip_stream_restart_fn restart, void *ctx, struct clip_error *err)
{
	struct counting_sink c = { sink, ctx, 0 };
	clip_err rc = CLIP_ERR_NETWORK;
	size_t i;
	int tried = 0;

	for (i = 0; i < m->n; i++) {
		struct host *h = &m->hosts[i];

		if (!host_usable(m, i))
			continue;
		if (tried++ > 0 && restart(ctx) != 0)
			return rc;   /* the caller gives up: the last host's error */
		c.bytes = 0;
		rc = clip_registry_stream_blob(h->r, digest, expected_size, count_bytes, &c, err);
		if (rc == CLIP_OK) {
			atomic_fetch_add(&h->served, 1);
			atomic_fetch_add(&h->bytes, c.bytes);
			return CLIP_OK;
		}
		clip_error_prefix(err, "%s", h->label);
		host_failed(m, i, rc);
	}
	return rc;
}

clip_err
clip_mirror_set_resolve(clip_mirror_set *m, const char *tag_or_digest,
    const struct clip_platform *platform, struct clip_image **out, struct clip_error *err)
{
	clip_err rc = CLIP_ERR_NETWORK;
	size_t i;

	for (i = 0; i < m->n; i++) {
		if (!host_usable(m, i))
			continue;
		rc = clip_image_resolve_registry(m->hosts[i].r, tag_or_digest, platform, out, err);
		if (rc == CLIP_OK)
			return CLIP_OK;
		clip_error_prefix(err, "%s", m->hosts[i].label);
		host_failed(m, i, rc);
	}
	return rc;
}

/* An insecure host's handles by scheme, opened as the probes need them. */
struct scheme_probe {
	const struct clip_mirror_host *m;
	struct clip_registry_opts ro;
	clip_registry *r[2];         /* by enum clip_scheme */
};

static clip_err
probe_host(void *ctx, enum clip_scheme s, long timeout_ms, struct clip_error *err)
{
	struct scheme_probe *p = ctx;
	clip_err rc = CLIP_OK;

	if (p->r[s] == NULL) {
		p->ro.plain_http = s == CLIP_SCHEME_HTTP;
		rc = clip_registry_open(p->m->host, p->m->repository, &p->ro, &p->r[s], err);
	}
	return rc == CLIP_OK ? clip_registry_ping(p->r[s], timeout_ms, err) : rc;
}

/* containers-registries.conf(5)'s insecure: HTTPS without certificate
 * checks, else plain HTTP (insecure_scheme.h), decided within the
 * connect timeout, so that a mirror that is down delays the open by no
 * more than its first request would have. */
static clip_err
open_insecure(const struct clip_mirror_host *m, const struct clip_registry_opts *ro,
    clip_registry **out, struct clip_error *err)
{
	struct scheme_probe p = { m, *ro, { NULL, NULL } };
	long budget_s = ro->connect_timeout_s > 0 ? ro->connect_timeout_s : 15;
	enum clip_scheme s;
	clip_err rc;

	p.ro.tls_verify = 0;
	p.ro.plain_http = 0;
	rc = clip_registry_open(m->host, m->repository, &p.ro, &p.r[CLIP_SCHEME_HTTPS], err);
	if (rc != CLIP_OK)
		return rc;
	s = clip_scheme_choose(probe_host, &p, budget_s * 1000L, NULL);
	*out = p.r[s];
	clip_registry_close(p.r[s == CLIP_SCHEME_HTTPS ? CLIP_SCHEME_HTTP : CLIP_SCHEME_HTTPS]);
	return CLIP_OK;
}

clip_err
clip_mirror_open(const struct clip_mirror_host *m, const struct clip_registry_opts *base,
    const char *authfile, clip_registry **out, struct clip_error *err)
{
	struct clip_registry_opts ro = *base;
	struct clip_creds found = { 0 };
	clip_err rc;

	*out = NULL;
	rc = clip_auth_lookup(m->host, NULL, authfile, &found, err);
	if (rc == CLIP_OK) {
		ro.username = found.username;
		ro.password = found.password;
		ro.push = 0;
		ro.whole_blob_fails = 1;
		if (m->insecure)
			rc = open_insecure(m, &ro, out, err);
		else
			rc = clip_registry_open(m->host, m->repository, &ro, out, err);
	}
	clip_creds_free(&found);
	return rc;
}

static clip_err
fetch_plain(void *ctx, const char *digest, uint64_t off, size_t len, void *buf,
    struct clip_error *err)
{
	return fetch_from_hosts(ctx, digest, off, len, buf, NULL, NULL, NULL, err);
}

static clip_err
fetch_progress(void *ctx, const char *digest, uint64_t off, size_t len, void *buf,
    clip_fetch_progress_fn progress, void *arg, struct clip_error *err)
{
	return fetch_from_hosts(ctx, digest, off, len, buf, progress, NULL, arg, err);
}

clip_err
clip_mirror_set_new(clip_registry *const *hosts, const char *const *labels, size_t n,
    clip_mirror_set **out, struct clip_blob_source *src, struct clip_error *err)
{
	clip_mirror_set *m;
	size_t i;

	*out = NULL;
	m = n >= 1 && n <= CLIP_MIRRORS_MAX + 1 ? calloc(1, sizeof(*m)) : NULL;
	if (m == NULL) {
		for (i = 0; i < n; i++)
			clip_registry_close(hosts[i]);
		return n >= 1 && n <= CLIP_MIRRORS_MAX + 1 ?
		    clip_error_set(err, CLIP_ERR_NOMEM, "out of memory") :
		    clip_error_set(err, CLIP_ERR_INVALID, "1 to %d hosts", CLIP_MIRRORS_MAX + 1);
	}
	m->n = n;
	for (i = 0; i < n; i++)
		m->hosts[i].r = hosts[i];
	for (i = 0; i < n; i++) {
		if ((m->hosts[i].label = strdup(labels[i])) == NULL) {
			clip_mirror_set_free(m);
			return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
		}
	}
	src->fetch = fetch_plain;
	src->fetch_progress = fetch_progress;
	src->fetch_verified = fetch_from_hosts;
	src->ctx = m;
	*out = m;
	return CLIP_OK;
}

void
clip_mirror_set_free(clip_mirror_set *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n; i++) {
		clip_registry_close(m->hosts[i].r);
		free(m->hosts[i].label);
	}
	free(m);
}

size_t
clip_mirror_set_size(const clip_mirror_set *m)
{
	return m != NULL ? m->n : 0;
}

void
clip_mirror_set_stats(const clip_mirror_set *m, size_t i, struct clip_mirror_host_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->label = "";
	out->scheme = "";
	if (m == NULL || i >= m->n)
		return;
	out->label = m->hosts[i].label;
	out->scheme = clip_registry_plain_http(m->hosts[i].r) ? "http" : "https";
	out->reads = atomic_load(&m->hosts[i].served);
	out->failed = atomic_load(&m->hosts[i].failed);
	out->wrong = atomic_load(&m->hosts[i].wrong);
	out->bytes = atomic_load(&m->hosts[i].bytes);
}

clip_err
clip_mirror_set_open(const struct clip_mirror_host *mirrors, size_t n,
    const struct clip_registry_opts *base, const char *authfile, clip_registry *origin,
    const char *origin_label, clip_mirror_set **out, struct clip_blob_source *src,
    struct clip_error *err)
{
	clip_registry *hosts[CLIP_MIRRORS_MAX + 1];
	const char *labels[CLIP_MIRRORS_MAX + 1];
	size_t i;
	clip_err rc = CLIP_OK;

	*out = NULL;
	if (n > CLIP_MIRRORS_MAX)
		rc = clip_error_set(err, CLIP_ERR_INVALID, "at most %d mirrors", CLIP_MIRRORS_MAX);
	for (i = 0; i < n && rc == CLIP_OK; i++) {
		rc = clip_mirror_open(&mirrors[i], base, authfile, &hosts[i], err);
		labels[i] = mirrors[i].label;
	}
	if (rc != CLIP_OK) {
		for (; i > 1; i--)
			clip_registry_close(hosts[i - 2]);
		clip_registry_close(origin);
		return rc;
	}
	labels[n] = origin_label;
	hosts[n] = origin;
	return clip_mirror_set_new(hosts, labels, n + 1, out, src, err);
}

clip_err
clip_mirror_parse(const char *mirror, const char *repo, char **host, char **repository,
    struct clip_error *err)
{
	size_t hl = strcspn(mirror, "/");
	const char *path = mirror[hl] == '/' ? mirror + hl + 1 : "";
	int n;

	*host = *repository = NULL;
	if (hl == 0)
		return clip_error_set(err, CLIP_ERR_INVALID, "--mirror %.100s: no host", mirror);
	*host = strndup(mirror, hl);
	n = path[0] ? asprintf(repository, "%s/%s", path, repo) :
	    asprintf(repository, "%s", repo);
	if (n < 0)
		*repository = NULL;
	if (*host == NULL || *repository == NULL) {
		free(*host);
		free(*repository);
		*host = *repository = NULL;
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	if (!clip_ref_repository_valid(*repository)) {
		clip_error_set(err, CLIP_ERR_INVALID, "--mirror %.100s: bad repository %.100s",
		    mirror, *repository);
		free(*host);
		free(*repository);
		*host = *repository = NULL;
		return CLIP_ERR_INVALID;
	}
	return CLIP_OK;
}
