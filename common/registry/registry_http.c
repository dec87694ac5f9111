/* registry_http.c - one request on a pooled curl handle, with a slicing body. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/registry/link_header.h"
#include "common/registry/registry_http.h"

static void
share_lock(CURL *c, curl_lock_data data, curl_lock_access access, void *ud)
{
	struct clip_http *h = ud;

	(void)c;
	(void)access;
	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&h->share_lock[data]);
}

static void
share_unlock(CURL *c, curl_lock_data data, void *ud)
{
	struct clip_http *h = ud;

	(void)c;
	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&h->share_lock[data]);
}

clip_err
clip_http_init(struct clip_http *h, struct clip_error *err)
{
	int i;

	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&h->share_lock[i], NULL);
	pthread_mutex_init(&h->pool_lock, NULL);
	h->npool = 0;
	h->share = curl_share_init();
	if (h->share == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "curl_share_init failed");
	/* DNS answers and TLS sessions are shared between the pooled
	 * handles; connections stay with their handle (each handle's own
	 * cache), which avoids the historically fragile shared pool. */
	curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(h->share, CURLSHOPT_USERDATA, h);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	return CLIP_OK;
}

void
clip_http_cleanup(struct clip_http *h)
{
	int i;

	for (i = 0; i < h->npool; i++)
		curl_easy_cleanup(h->pool[i]);
	h->npool = 0;
	if (h->share != NULL)
		curl_share_cleanup(h->share);
	h->share = NULL;
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&h->share_lock[i]);
	pthread_mutex_destroy(&h->pool_lock);
	free(h->cacert);
	h->cacert = NULL;
}

static CURL *
acquire(struct clip_http *h)
{
	CURL *c = NULL;

	pthread_mutex_lock(&h->pool_lock);
	if (h->npool > 0)
		c = h->pool[--h->npool];
	pthread_mutex_unlock(&h->pool_lock);
	return c ? c : curl_easy_init();
}

static void
release(struct clip_http *h, CURL *c)
{
	pthread_mutex_lock(&h->pool_lock);
	if (h->npool < CLIP_HTTP_POOL_MAX) {
		h->pool[h->npool++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&h->pool_lock);
	if (c != NULL)
		curl_easy_cleanup(c);
}

struct xfer {
	struct clip_http_request *req;
	CURL *curl;
	/* stall detection (on_progress) */
	long stall_s;
	curl_off_t last_dlnow;
	struct timespec last_data;
};

/* Header value after "Name:" if line starts with it, trimmed into buf. */
static int
header_value(const char *line, size_t n, const char *name, char *buf, size_t bufsz)
{
	size_t nl = strlen(name), i, j;

	if (n <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return 0;
	i = nl + 1;
	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	j = n;
	while (j > i && (line[j - 1] == '\r' || line[j - 1] == '\n' ||
	    line[j - 1] == ' ' || line[j - 1] == '\t'))
		j--;
	if (j - i >= bufsz)
		j = i + bufsz - 1;  /* truncated; our fields are short */
	memcpy(buf, line + i, j - i);
	buf[j - i] = '\0';
	return 1;
}

static size_t
on_header(char *line, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	struct clip_http_request *q = x->req;
	size_t n = size * nmemb;
	char val[4096];

	if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		/* A new response (after a redirect or a 100): forget the last. */
		q->content_type[0] = '\0';
		q->www_auth[0] = '\0';
		q->location[0] = q->etag[0] = q->link_next[0] = '\0';
		q->oci_subject = 0;
		q->retry_after_s = 0;
		q->got_range = 0;
		q->started = 0;
		return n;
	}
	if (header_value(line, n, "Content-Type", q->content_type, sizeof(q->content_type)))
		return n;
	if (header_value(line, n, "WWW-Authenticate", val, sizeof(val))) {
		size_t have = strlen(q->www_auth);
		snprintf(q->www_auth + have, sizeof(q->www_auth) - have, "%s%s",
		    have ? ", " : "", val);
		return n;
	}
	if (header_value(line, n, "Retry-After", val, sizeof(val))) {
		long s = strtol(val, NULL, 10);
		q->retry_after_s = s > 0 ? s : 0;
		return n;
	}
	if (header_value(line, n, "Location", q->location, sizeof(q->location)) ||
	    header_value(line, n, "ETag", q->etag, sizeof(q->etag)))
		return n;
	if (header_value(line, n, "Link", val, sizeof(val))) {
		if (q->link_next[0] == '\0')
			clip_link_next(val, q->link_next, sizeof(q->link_next));
		return n;
	}
	if (header_value(line, n, "OCI-Subject", val, sizeof(val))) {
		q->oci_subject = 1;
		return n;
	}
	if (header_value(line, n, "Content-Range", val, sizeof(val))) {
		unsigned long long a, b;
		if (sscanf(val, "bytes %llu-%llu/", &a, &b) == 2 && b >= a) {
			q->resp_at = a;
			q->got_range = 1;
		}
		return n;
	}
	return n;
}

static struct timespec
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts;
}

/*
 * Aborts a transfer that received no byte for stall_s seconds.  curl's
 * own LOW_SPEED_LIMIT/TIME looks at an average over the last few
 * seconds, so a body that stops half way after a fast start keeps
 * "moving" for several more seconds before it trips: a mount's --timeout
 * would then be overrun several times over.
 */
static int
on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
    curl_off_t ulnow)
{
	struct xfer *x = ud;
	struct timespec now = mono_now();

	(void)dltotal;
	(void)ultotal;
	(void)ulnow;
	if (dlnow != x->last_dlnow) {
		x->last_dlnow = dlnow;
		x->last_data = now;
		return 0;
	}
	if ((now.tv_sec - x->last_data.tv_sec) * 1000L +
	    (now.tv_nsec - x->last_data.tv_nsec) / 1000000L >= x->stall_s * 1000L) {
		return 1;
	}
	return 0;
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	struct clip_http_request *q = x->req;
	struct clip_http_body *b = q->body;
	const uint8_t *p = (const uint8_t *)data;
	size_t n = size * nmemb, left = n, take;
	clip_err rc;

	if (!q->started) {
		long st = 0;
		q->started = 1;
		curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &st);
		q->in_error = st < 200 || st > 299;
		if (!q->in_error) {
			if (st == 206 && !q->got_range) {
				q->sink_rc = clip_error_set(&q->sink_err, CLIP_ERR_PROTOCOL,
				    "206 response without a usable Content-Range");
				return 0;
			}
			if (st != 206 && q->use_range && q->refuse_whole) {
				q->sink_rc = clip_error_set(&q->sink_err, CLIP_ERR_UNSUPPORTED,
				    "HTTP %ld, the whole blob, to a ranged read (not read)", st);
				return 0;
			}
			if (st != 206)
				q->resp_at = 0;
			if (b != NULL && q->resp_at > b->pos) {
				q->sink_rc = clip_error_set(&q->sink_err, CLIP_ERR_PROTOCOL,
				    "server sent bytes from %llu, wanted %llu",
				    (unsigned long long)q->resp_at,
				    (unsigned long long)b->pos);
				return 0;
			}
		}
	}
	if (q->in_error) {
		size_t room = CLIP_HTTP_ERRBODY_MAX - q->errbody_len;
		if (n < room)
			room = n;
		memcpy(q->errbody + q->errbody_len, data, room);
		q->errbody_len += room;
		q->errbody[q->errbody_len] = '\0';
		return n;
	}
	if (b == NULL)
		return n;
	if (q->done)
		return 0;  /* the rest of a 200 we do not want: stop */
	if (q->resp_at < b->pos) {
		uint64_t skip = b->pos - q->resp_at;
		if (skip >= left) {
			q->resp_at += left;
			return n;
		}
		p += skip;
		left -= (size_t)skip;
		q->resp_at += skip;
	}
	take = left;
	if (b->end != UINT64_MAX && b->end - b->pos < take)
		take = (size_t)(b->end - b->pos);
	if (take > 0) {
		rc = b->consume(b->ctx, p, take, &q->sink_err);
		if (rc != CLIP_OK) {
			q->sink_rc = rc;
			return 0;
		}
		b->pos += take;
		q->resp_at += take;
	}
	if (b->end != UINT64_MAX && b->pos == b->end) {
		q->done = 1;
		if (take < left)
			return 0;
	}
	return n;
}

/* The URL without its query (presigned URLs carry secrets there). */
static void
url_for_msg(const char *url, char *buf, size_t bufsz)
{
	size_t n = strcspn(url, "?#");

	snprintf(buf, bufsz, "%.*s", (int)(n > 300 ? 300 : n), url);
}
/* Clears the results and private state of q before a new try. */
static void
request_reset(struct clip_http_request *q)
{
	q->status = 0;
	q->content_type[0] = q->www_auth[0] = q->errbody[0] = '\0';
	q->effective_url[0] = q->location[0] = q->etag[0] = q->link_next[0] = '\0';
	q->oci_subject = 0;
	q->errbody_len = 0;
	q->retry_after_s = 0;
	q->started = q->in_error = q->got_range = q->done = 0;
	q->resp_at = 0;
	q->sink_rc = CLIP_OK;
	clip_error_clear(&q->sink_err);
}

/* Options that come from the connection settings, the same for every
 * request: protocols, redirects, timeouts, TLS. */
static void
set_transport_opts(struct clip_http *h, CURL *c, const struct clip_http_request *q,
    char *errbuf)
{
	curl_easy_setopt(c, CURLOPT_URL, q->url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_SHARE, h->share);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "clipfs/" PACKAGE_VERSION);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, h->https_only ? "https" : "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS,
	    h->https_only ? (long)CURLPROTO_HTTPS : (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, h->connect_timeout_s);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, h->low_speed_time_s);
	if (q->total_timeout_ms > 0)
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, q->total_timeout_ms);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, h->tls_verify ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, h->tls_verify ? 2L : 0L);
	if (h->cacert != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, h->cacert);
}

/* Appends "name: value" to *hdrs; an empty value removes curl's own
 * header of that name ("name:"). */
static clip_err
add_header(struct curl_slist **hdrs, const char *name, const char *value,
    struct clip_error *err)
{
	char line[600];
	struct curl_slist *tmp;

	snprintf(line, sizeof(line), "%s:%s%s", name, value[0] ? " " : "", value);
	tmp = curl_slist_append(*hdrs, line);
	if (tmp == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	*hdrs = tmp;
	return CLIP_OK;
}

/* The method, its request body and the headers that go with them. */
static clip_err
set_method_opts(CURL *c, const struct clip_http_request *q, struct curl_slist **hdrs,
    struct clip_error *err)
{
	clip_err rc;

	if (q->method == NULL || strcmp(q->method, "GET") == 0)
		return CLIP_OK;
	if (strcmp(q->method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		return CLIP_OK;
	}
	/* POST and PUT: the body from memory; a custom method keeps PUT a PUT */
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->upload_len);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->upload != NULL ? q->upload : "");
	if (strcmp(q->method, "POST") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
	/* no 100-continue round trip; no form content type by default */
	rc = add_header(hdrs, "Expect", "", err);
	if (rc == CLIP_OK)
		rc = add_header(hdrs, "Content-Type", q->upload_type != NULL ?
		    q->upload_type : "application/octet-stream", err);
	if (rc == CLIP_OK && q->if_match != NULL)
		rc = add_header(hdrs, "If-Match", q->if_match, err);
	return rc;
}

/* Options of this request: credentials, Accept, Range, callbacks.
 * *hdrs receives the header list the caller frees after the transfer;
 * range is the caller's buffer for the Range value. */
static clip_err
set_request_opts(CURL *c, struct clip_http_request *q, struct xfer *x,
    struct curl_slist **hdrs, char *range, size_t rangesz, struct clip_error *err)
{
	clip_err rc;

	if (q->bearer != NULL) {
		/* libcurl's own auth: never sent to another host on redirect */
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
		curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, q->bearer);
	} else if (q->username != NULL) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERNAME, q->username);
		curl_easy_setopt(c, CURLOPT_PASSWORD, q->password ? q->password : "");
	}
	if (q->accept != NULL && (rc = add_header(hdrs, "Accept", q->accept, err)) != CLIP_OK)
		return rc;
	if ((rc = set_method_opts(c, q, hdrs, err)) != CLIP_OK)
		return rc;
	if (*hdrs != NULL)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
	if (q->use_range && q->body != NULL) {
		if (q->body->end == UINT64_MAX)
			snprintf(range, rangesz, "%llu-", (unsigned long long)q->body->pos);
		else
			snprintf(range, rangesz, "%llu-%llu", (unsigned long long)q->body->pos,
			    (unsigned long long)q->body->end - 1);
		curl_easy_setopt(c, CURLOPT_RANGE, range);
	}
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	return CLIP_OK;
}

/* Status and final URL of the finished transfer into q. */
static void
collect_results(CURL *c, struct clip_http_request *q)
{
	char *eff = NULL;

	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &q->status);
	if (curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff)
		if (snprintf(q->effective_url, sizeof(q->effective_url), "%s", eff) >=
		    (int)sizeof(q->effective_url))
			q->effective_url[0] = '\0';   /* never a cut URL */
}

/* The clip_err for a transfer curl ended with cc (not CURLE_OK), and
 * whether another try may help. */
static clip_err
transfer_error(CURLcode cc, const char *errbuf, const char *method, const char *where,
    long stall_s, int *retryable, struct clip_error *err)
{
	const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(cc);

	switch (cc) {
	case CURLE_ABORTED_BY_CALLBACK:   /* only on_progress aborts */
		*retryable = 1;
		return clip_error_set(err, CLIP_ERR_TIMEOUT,
		    "%s %s: timed out: no data for %ld s", method, where, stall_s);
	case CURLE_OPERATION_TIMEDOUT:
		*retryable = 1;
		return clip_error_set(err, CLIP_ERR_TIMEOUT, "%s %s: %s", method, where, detail);
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
		/* OpenSSL's answer to a TLS hello met by plain HTTP: no retry
		 * will change it. */
		if (cc == CURLE_SSL_CONNECT_ERROR && strstr(detail, "wrong version number"))
			return clip_error_set(err, CLIP_ERR_NETWORK, "%s %s: %s (the registry may "
			    "speak plain HTTP: see --plain-http)", method, where, detail);
		*retryable = 1;
		return clip_error_set(err, CLIP_ERR_NETWORK, "%s %s: %s", method, where, detail);
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		return clip_error_set(err, CLIP_ERR_NETWORK,
		    "%s %s: TLS verification failed (see --cacert / --tls-verify=false): %s",
		    method, where, detail);
	case CURLE_TOO_MANY_REDIRECTS:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return clip_error_set(err, CLIP_ERR_HTTP, "%s %s: %s", method, where, detail);
	default:
		return clip_error_set(err, CLIP_ERR_NETWORK, "%s %s: %s", method, where, detail);
	}
}

clip_err
clip_http_get(struct clip_http *h, struct clip_http_request *q, int *retryable,
    struct clip_error *err)
{
	char errbuf[CURL_ERROR_SIZE], range[64], where[320];
	struct curl_slist *hdrs = NULL;
	struct xfer x;
	CURL *c;
	CURLcode cc;
	clip_err rc;

	*retryable = 0;
	request_reset(q);
	c = acquire(h);
	if (c == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "curl_easy_init failed");
	/* reset keeps live connections and caches, drops old options */
	curl_easy_reset(c);
	x.req = q;
	x.curl = c;
	x.stall_s = h->low_speed_time_s > 0 ? h->low_speed_time_s : 30;
	x.last_dlnow = 0;
	x.last_data = mono_now();
	errbuf[0] = '\0';
	set_transport_opts(h, c, q, errbuf);
	rc = set_request_opts(c, q, &x, &hdrs, range, sizeof(range), err);
	if (rc != CLIP_OK) {
		release(h, c);
		return rc;
	}

	cc = curl_easy_perform(c);
	collect_results(c, q);
	url_for_msg(q->effective_url[0] ? q->effective_url : q->url, where, sizeof(where));
	if (q->sink_rc != CLIP_OK) {
		rc = q->sink_rc;
		if (err != NULL) {
			*err = q->sink_err;
			err->code = rc;
		}
	} else if (cc == CURLE_OK || (cc == CURLE_WRITE_ERROR && q->done)) {
		rc = CLIP_OK;
	} else {
		rc = transfer_error(cc, errbuf, q->method != NULL ? q->method : "GET", where,
		    x.stall_s, retryable, err);
	}
	/* the handle outlives this frame: drop pointers into it */
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	/* A handle whose transfer was cut short has its connection closed by
	 * curl; it is still fine to reuse. */
	release(h, c);
	return rc;
}
