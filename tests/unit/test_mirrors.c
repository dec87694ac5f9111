/* test_mirrors.c - --mirror HOST[/PATH] parsing (mirrors.h) and the
 * scheme of an insecure host (insecure_scheme.h). */
#include "config.h"

#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>

#include "common/registry/insecure_scheme.h"
#include "common/registry/mirrors.h"
#include "common/util/error.h"
#include "tests/unit/test.h"

TEST(test_mirror_parse)
{
	static const struct { const char *mirror, *host, *repo; } ok[] = {
		{ "mirror.example.com", "mirror.example.com", "team/app" },
		{ "127.0.0.1:5001", "127.0.0.1:5001", "team/app" },
		{ "cache.local:5000/docker.io", "cache.local:5000", "docker.io/team/app" },
		{ "cache.local/a/b", "cache.local", "a/b/team/app" },
	};
	struct clip_error err;
	char *host, *repo;
	size_t i;

	clip_error_clear(&err);
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		CHECK_OK(clip_mirror_parse(ok[i].mirror, "team/app", &host, &repo, &err), &err);
		CHECK_MSG(strcmp(host, ok[i].host) == 0 && strcmp(repo, ok[i].repo) == 0,
		    "%s: %s %s", ok[i].mirror, host, repo);
		free(host);
		free(repo);
	}
}

TEST(test_mirror_parse_refused)
{
	static const char *const bad[] = { "", "/path", "host/UPPER", "host/a//b", "host/../x" };
	struct clip_error err;
	char *host, *repo;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_MSG(clip_mirror_parse(bad[i], "team/app", &host, &repo, &err) ==
		    CLIP_ERR_INVALID, "'%s'", bad[i]);
		CHECK(host == NULL && repo == NULL);
	}
}

/* A host whose probes answer as told, taking ms_each each; calls logged. */
struct fake_host {
	int https_answers, http_answers;
	long ms_each;
	char calls[8];
	long timeouts[2];
};

static clip_err
fake_probe(void *ctx, enum clip_scheme s, long timeout_ms, struct clip_error *err)
{
	struct fake_host *h = ctx;
	size_t n = strlen(h->calls);
	struct timespec ts = { h->ms_each / 1000, (h->ms_each % 1000) * 1000000L };

	if (n + 1 < sizeof(h->calls))
		h->calls[n] = s == CLIP_SCHEME_HTTPS ? 'S' : 'P';
	h->timeouts[s] = timeout_ms;
	nanosleep(&ts, NULL);
	if (s == CLIP_SCHEME_HTTPS ? h->https_answers : h->http_answers)
		return CLIP_OK;
	return clip_error_set(err, CLIP_ERR_NETWORK, "%s: no answer", clip_scheme_name(s));
}

/* HTTPS first; plain HTTP only when it alone answers. */
TEST(test_scheme_choice)
{
	static const struct { int https, http; enum clip_scheme want; const char *calls; } c[] = {
		{ 1, 1, CLIP_SCHEME_HTTPS, "S" },    /* a 401 over TLS is an answer too */
		{ 1, 0, CLIP_SCHEME_HTTPS, "S" },
		{ 0, 1, CLIP_SCHEME_HTTP, "SP" },    /* speaks plain HTTP only */
		{ 0, 0, CLIP_SCHEME_HTTPS, "SP" },   /* down: HTTPS, skipped as any down host */
	};
	struct clip_error why;
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct fake_host h = { c[i].https, c[i].http, 0, "", { 0, 0 } };
		enum clip_scheme got = clip_scheme_choose(fake_probe, &h, 2000, &why);

		CHECK_MSG(got == c[i].want && strcmp(h.calls, c[i].calls) == 0,
		    "case %zu: %s after probes %s", i, clip_scheme_name(got), h.calls);
		CHECK(h.timeouts[CLIP_SCHEME_HTTPS] == 2000);
		CHECK(h.timeouts[CLIP_SCHEME_HTTP] <= 2000);
		CHECK(c[i].https ? why.code == CLIP_OK :
		    strcmp(clip_error_message(&why), "https: no answer") == 0);
	}
}

/* A host that does not answer costs the budget once, not twice. */
TEST(test_scheme_budget)
{
	struct fake_host h = { 0, 1, 60, "", { 0, 0 } };

	CHECK(clip_scheme_choose(fake_probe, &h, 50, NULL) == CLIP_SCHEME_HTTPS);
	CHECK_MSG(strcmp(h.calls, "S") == 0, "probes %s", h.calls);
}

/*
 * A loopback server that speaks plain HTTP: a TLS hello gets what Go's
 * net/http (docker-registry) answers, a plain-text 400; a request gets
 * 401, as a registry with auth answers GET /v2/.  It records what came.
 */
struct http_only_server {
	int fd;
	atomic_int stop;
	char seen[8];              /* 'T' a TLS hello, 'G' GET /v2/, '?' else */
};

static void
serve_one(struct http_only_server *s, int c)
{
	static const char bad[] = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";
	static const char auth[] = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic "
	    "realm=\"t\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
	struct pollfd p = { c, POLLIN, 0 };
	char buf[2048];
	ssize_t n = poll(&p, 1, 2000) == 1 ? recv(c, buf, sizeof(buf) - 1, 0) : -1;
	size_t k = strlen(s->seen);
	char what = n > 0 && buf[0] == 0x16 ? 'T' :
	    n > 8 && strncmp(buf, "GET /v2/ ", 9) == 0 ? 'G' : '?';

	if (k + 1 < sizeof(s->seen))
		s->seen[k] = what;
	if (what == 'T')
		(void)!send(c, bad, sizeof(bad) - 1, MSG_NOSIGNAL);
	else if (what == 'G')
		(void)!send(c, auth, sizeof(auth) - 1, MSG_NOSIGNAL);
	close(c);
}

static void *
serve(void *arg)
{
	struct http_only_server *s = arg;
	struct pollfd p = { s->fd, POLLIN, 0 };
	int i, c;

	for (i = 0; i < 100 && !atomic_load(&s->stop); i++) {   /* 10 s at most */
		if (poll(&p, 1, 100) != 1 || (c = accept(s->fd, NULL, NULL)) < 0)
			continue;
		serve_one(s, c);
	}
	return NULL;
}

/* An auth file with no entries in the test's directory, so that the
 * user's own are not read. */
static int
empty_authfile(void)
{
	FILE *f = fopen("auth.json", "w");

	return f != NULL && fputs("{}\n", f) >= 0 && fclose(f) == 0 ? 0 : -1;
}

/* Listens on 127.0.0.1:*port; the socket, or -1. */
static int
listen_loopback(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 8) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

/* An insecure mirror that speaks plain HTTP only, with auth: its TLS
 * hello fails, its 401 over HTTP counts as an answer: plain HTTP. */
TEST(test_insecure_mirror_plain_http)
{
	struct http_only_server s = { -1, 0, "" };
	struct clip_mirror_host m = { "", "team/app", 1, "m" };
	struct clip_registry_opts ro;
	struct clip_error err;
	clip_registry *r = NULL;
	pthread_t th;
	int port = 0;
	clip_err rc;

	CHECK(empty_authfile() == 0);
	CHECK((s.fd = listen_loopback(&port)) >= 0);
	snprintf(m.host, sizeof(m.host), "127.0.0.1:%d", port);
	CHECK_OK(clip_registry_global_init(&err), &err);
	clip_registry_opts_init(&ro);
	ro.connect_timeout_s = 5;
	CHECK(pthread_create(&th, NULL, serve, &s) == 0);
	rc = clip_mirror_open(&m, &ro, "auth.json", &r, &err);
	atomic_store(&s.stop, 1);
	pthread_join(th, NULL);
	close(s.fd);
	CHECK_OK(rc, &err);
	CHECK_MSG(strcmp(s.seen, "TG") == 0, "the server saw %s", s.seen);
	CHECK(clip_registry_plain_http(r));
	clip_registry_close(r);
	clip_registry_global_cleanup();
}

/* Nothing listening: HTTPS kept, found out at once (no wait). */
TEST(test_insecure_mirror_down)
{
	struct clip_mirror_host m = { "", "team/app", 1, "m" };
	struct clip_registry_opts ro;
	struct clip_error err;
	clip_registry *r = NULL;
	int fd, port = 0;

	CHECK(empty_authfile() == 0);
	CHECK((fd = listen_loopback(&port)) >= 0);
	close(fd);   /* the port refuses connections now */
	snprintf(m.host, sizeof(m.host), "127.0.0.1:%d", port);
	CHECK_OK(clip_registry_global_init(&err), &err);
	clip_registry_opts_init(&ro);
	ro.connect_timeout_s = 5;
	CHECK_OK(clip_mirror_open(&m, &ro, "auth.json", &r, &err), &err);
	CHECK(!clip_registry_plain_http(r));
	clip_registry_close(r);
	/* --plain-http is the image registry's: an insecure mirror is still
	 * tried over HTTPS first (and kept there, nothing answering). */
	ro.plain_http = 1;
	CHECK_OK(clip_mirror_open(&m, &ro, "auth.json", &r, &err), &err);
	CHECK(!clip_registry_plain_http(r));
	clip_registry_close(r);
	/* A mirror that is not insecure follows --plain-http, unasked. */
	m.insecure = 0;
	CHECK_OK(clip_mirror_open(&m, &ro, "auth.json", &r, &err), &err);
	CHECK(clip_registry_plain_http(r));
	clip_registry_close(r);
	clip_registry_global_cleanup();
}

TEST_MAIN(test_mirror_parse, test_mirror_parse_refused, test_scheme_choice, test_scheme_budget,
    test_insecure_mirror_plain_http, test_insecure_mirror_down)
