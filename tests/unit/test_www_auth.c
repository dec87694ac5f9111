/* test_www_auth.c - WWW-Authenticate challenges, good and garbage. */
#include "config.h"

#include "common/util/error.h"
#include "common/registry/www_auth.h"
#include "tests/unit/testutil.h"
#include "tests/unit/test.h"

struct ok_case {
	const char *in;
	enum clip_auth_scheme scheme;
	const char *realm, *service, *scope;
};

static const struct ok_case ok_cases[] = {
	{ "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
	  "scope=\"repository:library/alpine:pull\"", CLIP_AUTH_BEARER,
	  "https://auth.docker.io/token", "registry.docker.io", "repository:library/alpine:pull" },
	{ "Basic realm=\"Registry Realm\"", CLIP_AUTH_BASIC, "Registry Realm", NULL, NULL },
	{ "basic realm=x", CLIP_AUTH_BASIC, "x", NULL, NULL },
	{ "BEARER  realm = \"http://127.0.0.1:1/t\" , service = s", CLIP_AUTH_BEARER,
	  "http://127.0.0.1:1/t", "s", NULL },
	/* escapes in quoted strings */
	{ "Bearer realm=\"a\\\"b\\\\c\",service=\"x,y\"", CLIP_AUTH_BEARER, "a\"b\\c", "x,y", NULL },
	/* several challenges: Bearer wins whatever the order */
	{ "Basic realm=\"r\", Bearer realm=\"https://t\",scope=\"s\"", CLIP_AUTH_BEARER,
	  "https://t", NULL, "s" },
	{ "Negotiate, Basic realm=\"r\"", CLIP_AUTH_BASIC, "r", NULL, NULL },
	{ "Negotiate abc==, Basic realm=r", CLIP_AUTH_BASIC, "r", NULL, NULL },
	{ "Basic", CLIP_AUTH_BASIC, NULL, NULL, NULL },
	/* unknown parameters, error= as distribution sends */
	{ "Bearer realm=\"https://t\",service=\"s\",scope=\"repository:a:pull\",error=\"insufficient_scope\"",
	  CLIP_AUTH_BEARER, "https://t", "s", "repository:a:pull" },
	/* a realm unquoted with ':' and '/' (sloppy servers) */
	{ "Bearer realm=https://t/x", CLIP_AUTH_BEARER, "https://t/x", NULL, NULL },
};

static const char *const bad_cases[] = {
	"",
	"Bearer realm=\"unterminated",
	"Bearer realm=\"x\\",
	"Bearer service=\"s\"",       /* no realm */
	"Bearer realm=",
	"Bearer realm=\"x\" junk=",
	"=x",
	"Bearer ,realm=x\"",
	"Basic realm=\"r\" ;",
	"Digest realm=\"x\"",          /* unsupported scheme only */
	",,,",
	"Bearer realm=\"x\"\"y\"",
};

TEST(test_good_headers)
{
	size_t i;

	for (i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		const struct ok_case *c = &ok_cases[i];
		struct clip_www_auth a;
		struct clip_error err;

		clip_error_clear(&err);
		CHECK_MSG(clip_www_auth_parse(c->in, &a, &err) == CLIP_OK, "%s: %s", c->in,
		    clip_error_message(&err));
		CHECK_MSG(a.scheme == c->scheme, "%s: scheme %d", c->in, a.scheme);
		CHECK_MSG(test_same(a.realm, c->realm), "%s: realm %s", c->in, a.realm ? a.realm : "(null)");
		CHECK_MSG(test_same(a.service, c->service), "%s: service %s", c->in,
		    a.service ? a.service : "(null)");
		CHECK_MSG(test_same(a.scope, c->scope), "%s: scope", c->in);
		clip_www_auth_free(&a);
	}
}

TEST(test_garbage_is_refused)
{
	size_t i;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct clip_www_auth a;
		struct clip_error err;
		clip_err rc;

		clip_error_clear(&err);
		rc = clip_www_auth_parse(bad_cases[i], &a, &err);
		CHECK_MSG(rc == CLIP_ERR_PROTOCOL || rc == CLIP_ERR_UNSUPPORTED,
		    "\"%s\": got %s", bad_cases[i], clip_strerror(rc));
		CHECK(a.realm == NULL && a.scheme == CLIP_AUTH_NONE);
	}
	{
		struct clip_www_auth a;
		CHECK(clip_www_auth_parse(NULL, &a, NULL) == CLIP_ERR_PROTOCOL);
	}
}

TEST(test_every_prefix_and_noise_is_safe)
{
	/* Truncations of a valid header at every length, and random bytes:
	 * must never crash or leak (run under valgrind/ASan to see). */
	const char *h = ok_cases[4].in;
	char buf[256];
	size_t n, i;
	unsigned seed = 7;

	for (n = 0; n <= strlen(h); n++) {
		struct clip_www_auth a;
		memcpy(buf, h, n);
		buf[n] = '\0';
		clip_www_auth_parse(buf, &a, NULL);
		clip_www_auth_free(&a);
	}
	for (i = 0; i < 2000; i++) {
		struct clip_www_auth a;
		size_t len = (size_t)rand_r(&seed) % 40, k;
		for (k = 0; k < len; k++)
			buf[k] = " ,=\"\\aBr"[rand_r(&seed) % 8];
		buf[len] = '\0';
		clip_www_auth_parse(buf, &a, NULL);
		clip_www_auth_free(&a);
	}
	{
		static char big[9000];
		struct clip_www_auth a;
		memset(big, 'a', sizeof(big) - 1);
		CHECK(clip_www_auth_parse(big, &a, NULL) == CLIP_ERR_TOOBIG);
	}
}

TEST_MAIN(test_good_headers, test_garbage_is_refused, test_every_prefix_and_noise_is_safe)
