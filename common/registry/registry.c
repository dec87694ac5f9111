/* registry.c - manifests and blobs over the distribution API, with auth. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "common/oci/manifest.h"
#include "common/oci/reference.h"
#include <uthash.h>

#include "common/registry/registry.h"
#include "common/registry/registry_http.h"
#include "common/registry/registry_int.h"
#include "common/registry/www_auth.h"

#define TOKEN_REPLY_MAX (64 * 1024)
#define TOKEN_DEFAULT_TTL 60
#define AUTH_ROUNDS_MAX 2

struct redirect;
static void redirect_drop_locked(clip_registry *r, struct redirect *e);

/* A cached blob redirect.  Presigned URLs expire; REDIRECT_TTL_S stays
 * well inside the usual lifetimes, and any failure drops the entry. */
#define REDIRECT_TTL_S 300
#define REDIRECTS_MAX 1024

struct redirect {
	UT_hash_handle hh;
	char digest[CLIP_DIGEST_BUFSZ];
	char *url;
	time_t expires;
};

void
clip_registry_opts_init(struct clip_registry_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->tls_verify = 1;
	o->connect_timeout_s = 15;
	o->low_speed_time_s = 30;
	o->request_timeout_s = 120;
	o->max_retries = 4;
}

clip_err
clip_registry_global_init(struct clip_error *err)
{
	CURLcode cc = curl_global_init(CURL_GLOBAL_DEFAULT);

	if (cc != CURLE_OK)
		return clip_error_set(err, CLIP_ERR_NETWORK, "curl_global_init: %s",
		    curl_easy_strerror(cc));
	return CLIP_OK;
}

void
clip_registry_global_cleanup(void)
{
	curl_global_cleanup();
}

static void
free_secret(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void
clip_registry_close(clip_registry *r)
{
	if (r == NULL)
		return;
	clip_http_cleanup(&r->http);
	pthread_mutex_destroy(&r->auth_lock);
	{
		struct redirect *e, *tmp;
		HASH_ITER(hh, r->redirects, e, tmp)
			redirect_drop_locked(r, e);
	}
	pthread_mutex_destroy(&r->redirect_lock);
	free(r->host);
	free(r->repo);
	free(r->base);
	free_secret(r->username);
	free_secret(r->password);
	free_secret(r->token);
	free(r);
}

clip_err
clip_registry_open(const char *api_host, const char *repository,
    const struct clip_registry_opts *opts, clip_registry **out,
    struct clip_error *err)
{
	struct clip_registry_opts def;
	clip_registry *r;
	clip_err rc;

	*out = NULL;
	if (opts == NULL) {
		clip_registry_opts_init(&def);
		opts = &def;
	}
	if (api_host == NULL || *api_host == '\0' || strpbrk(api_host, "/?#@ ") != NULL)
		return clip_error_set(err, CLIP_ERR_INVALID, "bad registry host");
	if (!clip_ref_repository_valid(repository))
		return clip_error_set(err, CLIP_ERR_INVALID, "bad repository name \"%.200s\"",
		    repository ? repository : "");
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	pthread_mutex_init(&r->auth_lock, NULL);
	pthread_mutex_init(&r->redirect_lock, NULL);
	rc = clip_http_init(&r->http, err);
	if (rc != CLIP_OK) {
		clip_registry_close(r);
		return rc;
	}
	r->http.tls_verify = opts->tls_verify;
	r->http.https_only = !opts->plain_http;
	r->http.connect_timeout_s = opts->connect_timeout_s > 0 ? opts->connect_timeout_s : 15;
	r->http.low_speed_time_s = opts->low_speed_time_s > 0 ? opts->low_speed_time_s : 30;
	r->request_timeout_s = opts->request_timeout_s > 0 ? opts->request_timeout_s : 120;
	r->max_retries = opts->max_retries >= 0 ? opts->max_retries : 0;
	r->push = opts->push;
	r->whole_blob_fails = opts->whole_blob_fails;
	r->host = strdup(api_host);
	r->repo = strdup(repository);
	if (r->host == NULL || r->repo == NULL ||
	    asprintf(&r->base, "%s://%s/v2/%s", opts->plain_http ? "http" : "https",
	    api_host, repository) < 0) {
		r->base = NULL;
		goto nomem;
	}
	if (opts->username != NULL) {
		r->username = strdup(opts->username);
		r->password = strdup(opts->password ? opts->password : "");
		if (r->username == NULL || r->password == NULL)
			goto nomem;
	}
	if (opts->cacert != NULL) {
		r->http.cacert = strdup(opts->cacert);
		if (r->http.cacert == NULL)
			goto nomem;
	} else if (!opts->plain_http) {
		/* containers-certificates.d(5): a CA for just this registry */
		char *path = NULL;
		struct stat st;
		if (asprintf(&path, "%s/%s/ca.crt",
		    opts->certs_dir ? opts->certs_dir : "/etc/containers/certs.d",
		    api_host) < 0)
			goto nomem;
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			r->http.cacert = path;
		else
			free(path);
	}
	*out = r;
	return CLIP_OK;
nomem:
	clip_registry_close(r);
	return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
}

size_t
registry_origin_len(const clip_registry *r)
{
	return strlen(r->base) - strlen(r->repo) - strlen("/v2/");
}

clip_err
clip_registry_ping(clip_registry *r, long timeout_ms, struct clip_error *err)
{
	struct clip_http_request *q;
	size_t hostpart = registry_origin_len(r);
	char *url = NULL;
	int retryable;
	clip_err rc;

	q = calloc(1, sizeof(*q));
	if (q == NULL || asprintf(&url, "%.*s/v2/", (int)hostpart, r->base) < 0) {
		free(q);
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	q->url = url;
	q->total_timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
	rc = clip_http_get(&r->http, q, &retryable, err);
	free(url);
	free(q);
	return rc;
}

int
clip_registry_plain_http(const clip_registry *r)
{
	return strncmp(r->base, "http://", 7) == 0;
}

/* ---- small helpers ---- */

static struct timespec
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts;
}

/*
 * Sleeps before retry number attempt.  A server's Retry-After is honoured
 * up to 10 s, and never longer than one request may take (cap_s, the
 * request timeout): a mount's --timeout promises EIO in about that long,
 * and a registry saying "Retry-After: 3600" must not hold a read for
 * minutes.
 */
static void
backoff(int attempt, long retry_after_s, long cap_s)
{
	long ms = 200L << (attempt < 5 ? attempt : 5);
	struct timespec ts;

	if (ms > 5000)
		ms = 5000;
	if (retry_after_s > 0) {
		if (retry_after_s > 10)
			retry_after_s = 10;
		if (cap_s > 0 && retry_after_s > cap_s)
			retry_after_s = cap_s;
		ms = retry_after_s * 1000;
	}
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* "CODE: message" from a registry error body, printable and short. */
static void
registry_error_text(const char *body, size_t len, char *buf, size_t bufsz)
{
	json_t *root, *e0;
	const char *code = NULL, *msg = NULL;
	size_t i;

	buf[0] = '\0';
	if (len == 0)
		return;
	root = json_loadb(body, len, 0, NULL);
	e0 = json_array_get(json_object_get(root, "errors"), 0);
	code = json_string_value(json_object_get(e0, "code"));
	msg = json_string_value(json_object_get(e0, "message"));
	if (code != NULL || msg != NULL)
		snprintf(buf, bufsz, ": %.60s%s%.140s", code ? code : "",
		    code && msg ? ": " : "", msg ? msg : "");
	json_decref(root);
	for (i = 0; buf[i]; i++)
		if ((unsigned char)buf[i] < 0x20 || (unsigned char)buf[i] == 0x7f)
			buf[i] = '?';
}

clip_err
registry_status_error(clip_registry *r, const char *what, const struct clip_http_request *q,
    struct clip_error *err)
{
	char detail[256];

	registry_error_text(q->errbody, q->errbody_len, detail, sizeof(detail));
	switch (q->status) {
	case 401:
		return clip_error_set(err, CLIP_ERR_AUTH, "%s %s/%s: 401 unauthorized%s%s",
		    r->host, r->repo, what, detail,
		    r->username ? "" : " (no credentials configured)");
	case 403:
		return clip_error_set(err, CLIP_ERR_AUTH, "%s %s/%s: 403 access denied%s",
		    r->host, r->repo, what, detail);
	case 404:
		return clip_error_set(err, CLIP_ERR_NOTFOUND, "%s %s/%s: 404 not found%s",
		    r->host, r->repo, what, detail);
	case 416:
		return clip_error_set(err, CLIP_ERR_HTTP, "%s %s/%s: 416 range not satisfiable",
		    r->host, r->repo, what);
	default:
		return clip_error_set(err, CLIP_ERR_HTTP, "%s %s/%s: HTTP status %ld%s",
		    r->host, r->repo, what, q->status, detail);
	}
}

/* ---- memory bodies ---- */

clip_err
registry_membuf_consume(void *ctx, const uint8_t *buf, size_t len, struct clip_error *err)
{
	struct registry_membuf *m = ctx;

	if (len > m->max - m->len)
		return clip_error_set(err, CLIP_ERR_TOOBIG, "response larger than %zu bytes",
		    m->max);
	if (m->len + len + 1 > m->alloc) {
		size_t na = m->alloc ? m->alloc : 16384;
		uint8_t *nd;
		while (na < m->len + len + 1)
			na *= 2;
		if (na > m->max + 1)
			na = m->max + 1;
		nd = realloc(m->data, na);
		if (nd == NULL)
			return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
		m->data = nd;
		m->alloc = na;
	}
	memcpy(m->data + m->len, buf, len);
	m->len += len;
	m->data[m->len] = '\0';
	return CLIP_OK;
}

/* ---- tokens ---- */

/*
 * The token URL for challenge ch: its realm with service and scope
 * (repository:REPO:pull) as query parameters.  *url is malloc'ed.
 */
static clip_err
token_url(clip_registry *r, const struct clip_www_auth *ch, char **url,
    struct clip_error *err)
{
	char *svc = NULL, *scope = NULL, *sc_raw = NULL;
	clip_err rc = CLIP_OK;
	CURL *esc;

	*url = NULL;
	if (strncmp(ch->realm, "https://", 8) != 0 &&
	    !(strncmp(ch->realm, "http://", 7) == 0 && !r->http.https_only))
		return clip_error_set(err, CLIP_ERR_PROTOCOL,
		    "%s: token realm is not an https:// URL", r->host);
	esc = curl_easy_init();
	if (esc == NULL || asprintf(&sc_raw, "repository:%s:%s", r->repo,
	    r->push ? "pull,push" : "pull") < 0) {
		sc_raw = NULL;
		rc = clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
		goto out;
	}
	scope = curl_easy_escape(esc, sc_raw, 0);
	svc = ch->service ? curl_easy_escape(esc, ch->service, 0) : NULL;
	if (scope == NULL || (ch->service && svc == NULL) ||
	    asprintf(url, "%s%c%s%s%sscope=%s", ch->realm,
	    strchr(ch->realm, '?') ? '&' : '?', svc ? "service=" : "", svc ? svc : "",
	    svc ? "&" : "", scope) < 0) {
		*url = NULL;
		rc = clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
out:
	curl_free(scope);
	curl_free(svc);
	free(sc_raw);
	if (esc != NULL)
		curl_easy_cleanup(esc);
	return rc;
}

/*
 * GETs the token URL into mb (with the registry's credentials, if any),
 * retrying transport failures, 429 and 5xx.  CLIP_OK only for a 200.
 */
static clip_err
token_request(clip_registry *r, const char *url, struct registry_membuf *mb,
    struct clip_error *err)
{
	struct clip_http_request *q;
	struct clip_http_body body;
	int attempt = 0, retryable;
	clip_err rc;

	q = calloc(1, sizeof(*q));
	if (q == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	body.pos = 0;
	body.end = UINT64_MAX;
	body.consume = registry_membuf_consume;
	body.ctx = mb;
	for (;;) {
		mb->len = 0;
		body.pos = 0;
		q->url = url;
		q->total_timeout_ms = r->request_timeout_s * 1000L;
		q->username = r->username;
		q->password = r->password;
		q->body = &body;
		rc = clip_http_get(&r->http, q, &retryable, err);
		if (rc == CLIP_OK && (q->status == 429 || q->status >= 500))
			retryable = 1;
		else if (rc == CLIP_OK)
			break;
		if (!retryable || attempt >= r->max_retries) {
			if (rc == CLIP_OK)
				rc = clip_error_set(err, CLIP_ERR_HTTP,
				    "token server: HTTP status %ld", q->status);
			goto out;
		}
		backoff(attempt++, q->retry_after_s, r->request_timeout_s);
	}
	if (q->status == 401 || q->status == 403)
		rc = clip_error_set(err, CLIP_ERR_AUTH, "token server refused %s (HTTP %ld)",
		    r->username ? "the credentials" : "anonymous access", q->status);
	else if (q->status != 200)
		rc = clip_error_set(err, CLIP_ERR_HTTP, "token server: HTTP status %ld", q->status);
out:
	free(q);
	return rc;
}

/* Takes the token and its lifetime from a token server's JSON reply and
 * makes it the registry's credentials; called with auth_lock held. */
static clip_err
token_store(clip_registry *r, const struct registry_membuf *mb, struct clip_error *err)
{
	json_t *root;
	const char *tok;
	json_int_t ttl = TOKEN_DEFAULT_TTL;
	clip_err rc = CLIP_OK;

	root = json_loadb((const char *)mb->data, mb->len, 0, NULL);
	tok = json_string_value(json_object_get(root, "token"));
	if (tok == NULL || *tok == '\0')
		tok = json_string_value(json_object_get(root, "access_token"));
	if (tok == NULL || *tok == '\0' || strpbrk(tok, "\r\n") != NULL) {
		rc = clip_error_set(err, CLIP_ERR_PROTOCOL, "token server reply has no token");
		goto out;
	}
	if (json_is_integer(json_object_get(root, "expires_in")))
		ttl = json_integer_value(json_object_get(root, "expires_in"));
	if (ttl < TOKEN_DEFAULT_TTL)
		ttl = TOKEN_DEFAULT_TTL;  /* the spec's minimum */
	if (ttl > 24 * 3600)
		ttl = 24 * 3600;
	free_secret(r->token);
	r->token = strdup(tok);
	if (r->token == NULL) {
		rc = clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
		goto out;
	}
	r->token_expiry = now_mono();
	/* refresh a little early so a token does not expire in flight */
	r->token_expiry.tv_sec += (time_t)(ttl - 10);
	r->scheme = CLIP_AUTH_BEARER;
	r->gen++;
out:
	if (root != NULL)
		json_decref(root);
	return rc;
}

/* Fetches a Bearer token; called with auth_lock held. */
static clip_err
fetch_token(clip_registry *r, const struct clip_www_auth *ch, struct clip_error *err)
{
	struct registry_membuf mb = { NULL, 0, 0, TOKEN_REPLY_MAX };
	char *url = NULL;
	clip_err rc;

	rc = token_url(r, ch, &url, err);
	if (rc == CLIP_OK)
		rc = token_request(r, url, &mb, err);
	if (rc == CLIP_OK)
		rc = token_store(r, &mb, err);
	if (mb.data != NULL) {
		explicit_bzero(mb.data, mb.len);
		free(mb.data);
	}
	free(url);
	return rc;
}

/* Reacts to a 401 answered to credentials of generation gen_sent. */
static clip_err
handle_401(clip_registry *r, const char *header, unsigned gen_sent,
    enum clip_auth_scheme sent, struct clip_error *err)
{
	struct clip_www_auth ch;
	clip_err rc;

	rc = clip_www_auth_parse(header[0] ? header : NULL, &ch, err);
	if (rc != CLIP_OK) {
		clip_error_prefix(err, "%s: 401 unauthorized", r->host);
		if (err != NULL)
			err->code = CLIP_ERR_AUTH;
		return CLIP_ERR_AUTH;
	}
	pthread_mutex_lock(&r->auth_lock);
	if (r->gen != gen_sent) {
		rc = CLIP_OK;  /* another thread already renewed them */
	} else if (ch.scheme == CLIP_AUTH_BASIC) {
		if (r->username == NULL)
			rc = clip_error_set(err, CLIP_ERR_AUTH,
			    "%s: registry requires credentials and none are configured", r->host);
		else if (sent == CLIP_AUTH_BASIC)
			rc = clip_error_set(err, CLIP_ERR_AUTH,
			    "%s: registry refused the credentials", r->host);
		else {
			r->scheme = CLIP_AUTH_BASIC;
			r->gen++;
			rc = CLIP_OK;
		}
	} else {
		rc = fetch_token(r, &ch, err);
	}
	pthread_mutex_unlock(&r->auth_lock);
	clip_www_auth_free(&ch);
	return rc;
}

clip_err
registry_api_request(clip_registry *r, const char *url, const char *what,
    struct clip_http_request *q, int always_range, struct registry_membuf *restart,
    struct clip_error *err)
{
	int attempt = 0, auth_rounds = 0, retryable;
	clip_err rc;

	for (;;) {
		enum clip_auth_scheme scheme;
		unsigned gen;
		char *bearer = NULL;

		pthread_mutex_lock(&r->auth_lock);
		if (r->scheme == CLIP_AUTH_BEARER) {
			struct timespec now = now_mono();
			if (now.tv_sec >= r->token_expiry.tv_sec) {
				/* expired: drop it; the 401 that follows renews it */
				free_secret(r->token);
				r->token = NULL;
			}
		}
		scheme = r->scheme;
		gen = r->gen;
		if (scheme == CLIP_AUTH_BEARER && r->token != NULL)
			bearer = strdup(r->token);
		pthread_mutex_unlock(&r->auth_lock);

		if (restart != NULL) {
			restart->len = 0;
			q->body->pos = 0;
		}
		q->url = url;
		q->use_range = q->body != NULL && (always_range || q->body->pos > 0);
		q->bearer = bearer;
		q->username = scheme == CLIP_AUTH_BASIC ? r->username : NULL;
		q->password = scheme == CLIP_AUTH_BASIC ? r->password : NULL;
		rc = clip_http_get(&r->http, q, &retryable, err);
		free_secret(bearer);
		q->bearer = NULL;
		if (rc != CLIP_OK) {
			if (!retryable || attempt >= r->max_retries)
				return rc;
			backoff(attempt++, 0, r->request_timeout_s);
			continue;
		}
		if (q->status >= 200 && q->status <= 299)
			return CLIP_OK;
		if (q->status == 401) {
			if (auth_rounds++ >= AUTH_ROUNDS_MAX)
				return registry_status_error(r, what, q, err);
			rc = handle_401(r, q->www_auth, gen, scheme, err);
			if (rc != CLIP_OK)
				return rc;
			continue;
		}
		if ((q->status == 429 || (q->status >= 500 && q->status <= 599)) &&
		    attempt < r->max_retries) {
			backoff(attempt++, q->retry_after_s, r->request_timeout_s);
			continue;
		}
		return registry_status_error(r, what, q, err);
	}
}

/* ---- the API ---- */

void
clip_fetched_manifest_free(struct clip_fetched_manifest *m)
{
	if (m == NULL)
		return;
	free(m->data);
	free(m->media_type);
	memset(m, 0, sizeof(*m));
}

static char *
manifest_media_type(const char *content_type, const uint8_t *data, size_t len)
{
	static const char *const known[] = { CLIP_MT_OCI_MANIFEST, CLIP_MT_OCI_INDEX,
		CLIP_MT_DOCKER_MANIFEST, CLIP_MT_DOCKER_LIST };
	size_t n = strcspn(content_type, "; "), i;
	json_t *root;
	char *out = NULL;

	for (i = 0; i < 4; i++)
		if (strlen(known[i]) == n && strncmp(content_type, known[i], n) == 0)
			return strdup(known[i]);
	root = json_loadb((const char *)data, len, 0, NULL);
	if (json_is_string(json_object_get(root, "mediaType")))
		out = strdup(json_string_value(json_object_get(root, "mediaType")));
	else
		out = strndup(content_type, n);
	json_decref(root);
	return out;
}

/*
 * GET url (NULL: r->base/path; path names it in messages) into mb (at
 * most mb->max bytes; a retry starts the body over).  *qp is the request,
 * with the response's headers, for the caller to free (also on error).
 */
static clip_err
get_to_memory(clip_registry *r, const char *at, const char *path, const char *accept,
    struct registry_membuf *mb, struct clip_http_request **qp, struct clip_error *err)
{
	struct clip_http_body body;
	char *url = NULL;
	clip_err rc;

	*qp = calloc(1, sizeof(**qp));
	if (*qp == NULL || (at != NULL ? (url = strdup(at)) == NULL :
	    asprintf(&url, "%s/%s", r->base, path) < 0))
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	body.pos = 0;
	body.end = UINT64_MAX;
	body.consume = registry_membuf_consume;
	body.ctx = mb;
	(*qp)->accept = accept;
	(*qp)->total_timeout_ms = r->request_timeout_s * 1000L;
	(*qp)->body = &body;
	rc = registry_api_request(r, url, path, *qp, 0, mb, err);
	(*qp)->body = NULL;   /* it lives in this frame */
	free(url);
	return rc;
}

clip_err
registry_get_document(clip_registry *r, const char *path, const char *accept,
    struct clip_fetched_manifest *out, struct clip_error *err)
{
	return registry_get_document_at(r, NULL, path, accept, out, err);
}

clip_err
registry_get_document_at(clip_registry *r, const char *url, const char *path,
    const char *accept, struct clip_fetched_manifest *out, struct clip_error *err)
{
	struct clip_http_request *q = NULL;
	struct registry_membuf mb = { NULL, 0, 0, CLIP_MANIFEST_MAX };
	clip_err rc;

	memset(out, 0, sizeof(*out));
	rc = get_to_memory(r, url, path, accept, &mb, &q, err);
	if (rc == CLIP_OK && mb.data == NULL)
		rc = clip_error_set(err, CLIP_ERR_PROTOCOL, "%s: empty document", path);
	if (rc == CLIP_OK) {
		clip_digest_of(mb.data, mb.len, out->digest);
		snprintf(out->etag, sizeof(out->etag), "%s", q->etag);
		snprintf(out->next, sizeof(out->next), "%s", q->link_next);
		out->media_type = manifest_media_type(q->content_type, mb.data, mb.len);
		if (out->media_type == NULL)
			rc = clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	if (rc == CLIP_OK) {
		out->data = mb.data;
		out->len = mb.len;
	} else {
		free(mb.data);
		clip_fetched_manifest_free(out);
	}
	free(q);
	return rc;
}

clip_err
clip_registry_get_manifest(clip_registry *r, const char *ref,
    struct clip_fetched_manifest *out, struct clip_error *err)
{
	char what[200];
	int by_digest;
	clip_err rc;

	memset(out, 0, sizeof(*out));
	by_digest = ref != NULL && strchr(ref, ':') != NULL;
	if (by_digest) {
		rc = clip_digest_check(ref, "manifest digest", err);
		if (rc != CLIP_OK)
			return rc;
	} else if (!clip_ref_tag_valid(ref)) {
		return clip_error_set(err, CLIP_ERR_INVALID, "bad tag \"%.130s\"",
		    ref ? ref : "");
	}
	snprintf(what, sizeof(what), "manifests/%s", ref);
	rc = registry_get_document(r, what, CLIP_MANIFEST_ACCEPT, out, err);
	if (rc == CLIP_OK && by_digest && strcmp(out->digest, ref) != 0) {
		rc = clip_error_set(err, CLIP_ERR_CHECKSUM,
		    "%s: the registry sent a manifest with digest %s", what, out->digest);
		clip_fetched_manifest_free(out);
	}
	return rc;
}

clip_err
clip_registry_get_blob(clip_registry *r, const char *digest, size_t max,
    uint8_t **data, size_t *len, struct clip_error *err)
{
	struct clip_http_request *q = NULL;
	struct registry_membuf mb = { NULL, 0, 0, max };
	char what[100], got[CLIP_DIGEST_BUFSZ];
	clip_err rc;

	*data = NULL;
	*len = 0;
	rc = clip_digest_check(digest, "blob digest", err);
	if (rc != CLIP_OK)
		return rc;
	snprintf(what, sizeof(what), "blobs/%s", digest);
	rc = get_to_memory(r, NULL, what, NULL, &mb, &q, err);
	free(q);
	if (rc != CLIP_OK) {
		free(mb.data);
		return rc;
	}
	if (mb.data == NULL && (mb.data = calloc(1, 1)) == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	clip_digest_of(mb.data, mb.len, got);
	if (strcmp(got, digest) != 0) {
		free(mb.data);
		return clip_error_set(err, CLIP_ERR_CHECKSUM, "%s: content has digest %s",
		    what, got);
	}
	*data = mb.data;
	*len = mb.len;
	return CLIP_OK;
}

struct stream_ctx {
	clip_sha256 *sha;
	clip_blob_sink sink;
	void *ctx;
};

static clip_err
stream_consume(void *ctx, const uint8_t *buf, size_t len, struct clip_error *err)
{
	struct stream_ctx *s = ctx;

	clip_sha256_update(s->sha, buf, len);
	if (s->sink(s->ctx, buf, len) != 0)
		return clip_error_set(err, CLIP_ERR_CANCELLED, "blob stream stopped by the reader");
	return CLIP_OK;
}

clip_err
clip_registry_stream_blob(clip_registry *r, const char *digest, uint64_t expected_size,
    clip_blob_sink sink, void *ctx, struct clip_error *err)
{
	struct clip_http_request *q;
	struct clip_http_body body;
	struct stream_ctx sc;
	char *url = NULL, what[100], got[CLIP_DIGEST_BUFSZ];
	clip_err rc;

	rc = clip_digest_check(digest, "blob digest", err);
	if (rc != CLIP_OK)
		return rc;
	snprintf(what, sizeof(what), "blobs/%s", digest);
	sc.sha = clip_sha256_new();
	sc.sink = sink;
	sc.ctx = ctx;
	q = calloc(1, sizeof(*q));
	if (sc.sha == NULL || q == NULL ||
	    asprintf(&url, "%s/blobs/%s", r->base, digest) < 0) {
		clip_sha256_free(sc.sha);
		free(q);
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	body.pos = 0;
	body.end = UINT64_MAX;
	body.consume = stream_consume;
	body.ctx = &sc;
	q->body = &body;
	rc = registry_api_request(r, url, what, q, 0, NULL, err);
	if (rc == CLIP_OK && expected_size != UINT64_MAX && body.pos != expected_size)
		rc = clip_error_set(err, CLIP_ERR_IMAGE, "%s: %llu bytes, the manifest says %llu",
		    what, (unsigned long long)body.pos, (unsigned long long)expected_size);
	if (rc == CLIP_OK) {
		clip_sha256_final(sc.sha, got);
		if (strcmp(got, digest) != 0)
			rc = clip_error_set(err, CLIP_ERR_CHECKSUM, "%s: content has digest %s",
			    what, got);
	}
	clip_sha256_free(sc.sha);
	free(url);
	free(q);
	return rc;
}

struct range_ctx {
	uint8_t *buf;
	uint64_t off;
	uint64_t *pos;
	clip_fetch_progress_fn progress;   /* or NULL */
	void *arg;
};

static clip_err
range_consume(void *ctx, const uint8_t *buf, size_t len, struct clip_error *err)
{
	struct range_ctx *rc = ctx;

	(void)err;
	memcpy(rc->buf + (*rc->pos - rc->off), buf, len);
	if (rc->progress != NULL)
		rc->progress(rc->arg, (size_t)(*rc->pos - rc->off) + len);
	return CLIP_OK;
}

/* The cached redirect URL of digest (malloc'ed copy), or NULL. */
static char *
redirect_get(clip_registry *r, const char *digest)
{
	struct redirect *e;
	char *url = NULL;

	pthread_mutex_lock(&r->redirect_lock);
	HASH_FIND_STR(r->redirects, digest, e);
	if (e != NULL && e->expires > time(NULL))
		url = strdup(e->url);
	pthread_mutex_unlock(&r->redirect_lock);
	return url;
}

static void
redirect_drop_locked(clip_registry *r, struct redirect *e)
{
	HASH_DEL(r->redirects, e);
	free(e->url);
	free(e);
}

static void
redirect_forget(clip_registry *r, const char *digest)
{
	struct redirect *e;

	pthread_mutex_lock(&r->redirect_lock);
	HASH_FIND_STR(r->redirects, digest, e);
	if (e != NULL)
		redirect_drop_locked(r, e);
	pthread_mutex_unlock(&r->redirect_lock);
}

/* Remembers that digest's bytes came from url, when that is not the
 * registry's own URL (a redirect happened). */
static void
redirect_put(clip_registry *r, const char *digest, const char *requested, const char *url)
{
	struct redirect *e;

	if (url[0] == '\0' || strcmp(url, requested) == 0)
		return;
	pthread_mutex_lock(&r->redirect_lock);
	HASH_FIND_STR(r->redirects, digest, e);
	if (e == NULL && HASH_COUNT(r->redirects) >= REDIRECTS_MAX)
		redirect_drop_locked(r, r->redirects);   /* the oldest added */
	if (e == NULL && (e = calloc(1, sizeof(*e))) != NULL) {
		snprintf(e->digest, sizeof(e->digest), "%s", digest);
		HASH_ADD_STR(r->redirects, digest, e);
	}
	if (e != NULL) {
		free(e->url);
		e->url = strdup(url);
		e->expires = time(NULL) + REDIRECT_TTL_S;
		if (e->url == NULL)
			redirect_drop_locked(r, e);
	}
	pthread_mutex_unlock(&r->redirect_lock);
}

/* One try at the cached redirect: no credentials (another host), no
 * retries; anything but the exact bytes means "ask the registry". */
static int
read_range_redirected(clip_registry *r, const char *url, uint64_t off, size_t len, void *buf,
    clip_fetch_progress_fn progress, void *arg)
{
	struct clip_http_request *q = calloc(1, sizeof(*q));
	struct clip_http_body body;
	struct range_ctx rctx;
	struct clip_error e;
	int retryable, ok;

	if (q == NULL)
		return 0;
	body.pos = off;
	body.end = off + len;
	body.consume = range_consume;
	body.ctx = &rctx;
	rctx.buf = buf;
	rctx.off = off;
	rctx.pos = &body.pos;
	rctx.progress = progress;
	rctx.arg = arg;
	q->body = &body;
	q->url = url;
	q->use_range = 1;
	q->total_timeout_ms = r->request_timeout_s * 1000L;
	ok = clip_http_get(&r->http, q, &retryable, &e) == CLIP_OK && q->status >= 200 &&
	    q->status <= 299 && body.pos == body.end;
	free(q);
	return ok;
}

clip_err
clip_registry_read_range(clip_registry *r, const char *digest, uint64_t off,
    size_t len, void *buf, struct clip_error *err)
{
	return clip_registry_read_range_progress(r, digest, off, len, buf, NULL, NULL, err);
}

clip_err
clip_registry_read_range_progress(clip_registry *r, const char *digest, uint64_t off,
    size_t len, void *buf, clip_fetch_progress_fn progress, void *arg, struct clip_error *err)
{
	struct clip_http_request *q;
	struct clip_http_body body;
	struct range_ctx rctx;
	char *url = NULL, what[160];
	clip_err rc;

	rc = clip_digest_check(digest, "blob digest", err);
	if (rc != CLIP_OK)
		return rc;
	if (len == 0)
		return CLIP_OK;
	if (off > UINT64_MAX - len)
		return clip_error_set(err, CLIP_ERR_INVALID, "range overflows");
	snprintf(what, sizeof(what), "blobs/%s [%llu, +%zu)", digest,
	    (unsigned long long)off, len);
	{
		char *cached = redirect_get(r, digest);
		int ok = cached != NULL && read_range_redirected(r, cached, off, len, buf, progress,
		    arg);
		free(cached);
		if (ok)
			return CLIP_OK;
		if (cached != NULL)
			redirect_forget(r, digest);
	}
	q = calloc(1, sizeof(*q));
	if (q == NULL || asprintf(&url, "%s/blobs/%s", r->base, digest) < 0) {
		free(q);
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	body.pos = off;
	body.end = off + len;
	body.consume = range_consume;
	body.ctx = &rctx;
	rctx.buf = buf;
	rctx.off = off;
	rctx.pos = &body.pos;
	rctx.progress = progress;
	rctx.arg = arg;
	q->body = &body;
	q->refuse_whole = r->whole_blob_fails && off > 0;
	rc = registry_api_request(r, url, what, q, 1, NULL, err);
	if (rc == CLIP_OK && body.pos != body.end)
		rc = clip_error_set(err, CLIP_ERR_PROTOCOL,
		    "%s: short body: the blob ended after %llu of %zu bytes", what,
		    (unsigned long long)(body.pos - off), len);
	if (rc == CLIP_OK)
		redirect_put(r, digest, url, q->effective_url);
	free(url);
	free(q);
	return rc;
}

static clip_err
blob_source_fetch(void *ctx, const char *digest, uint64_t off, size_t len, void *buf,
    struct clip_error *err)
{
	return clip_registry_read_range(ctx, digest, off, len, buf, err);
}

static clip_err
blob_source_fetch_progress(void *ctx, const char *digest, uint64_t off, size_t len,
    void *buf, clip_fetch_progress_fn progress, void *arg, struct clip_error *err)
{
	return clip_registry_read_range_progress(ctx, digest, off, len, buf, progress, arg, err);
}

void
clip_registry_blob_source(clip_registry *r, struct clip_blob_source *src)
{
	src->fetch = blob_source_fetch;
	src->fetch_progress = blob_source_fetch_progress;
	src->ctx = r;
}
