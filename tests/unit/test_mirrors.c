/* test_mirrors.c - --mirror HOST[/PATH] parsing (mirrors.h). */
#include "config.h"

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

TEST_MAIN(test_mirror_parse, test_mirror_parse_refused)
