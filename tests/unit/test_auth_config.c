/* test_auth_config.c - credential lookup order and auth file formats. */
#include "config.h"

#include <sys/stat.h>

#include "common/registry/auth_config.h"
#include "common/util/error.h"
#include "tests/unit/testutil.h"
#include "tests/unit/test.h"

static void
clear_env(const char *home)
{
	unsetenv("REGISTRY_AUTH_FILE");
	unsetenv("XDG_RUNTIME_DIR");
	unsetenv("DOCKER_CONFIG");
	setenv("HOME", home, 1);
}

/* base64("alice:s3cr:et") = YWxpY2U6czNjcjpldA==, base64("bob:pw") = Ym9iOnB3 */

TEST(test_explicit_creds)
{
	struct clip_creds c;
	struct clip_error err;

	CHECK_OK(clip_auth_lookup("r.io", "u:p:q", NULL, &c, &err), &err);
	CHECK(strcmp(c.username, "u") == 0 && strcmp(c.password, "p:q") == 0);
	clip_creds_free(&c);
	CHECK(clip_auth_lookup("r.io", "nopass", NULL, &c, &err) == CLIP_ERR_INVALID);
	CHECK(strstr(err.msg, "nopass") == NULL);  /* no secrets in messages */
	CHECK(c.username == NULL);
	clip_creds_free(NULL);
}

TEST(test_lookup_order)
{
	struct clip_creds c;
	struct clip_error err;
	char cwd[512], p[700];

	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	clear_env(cwd);
	/* nothing configured anywhere: anonymous, not an error */
	CHECK_OK(clip_auth_lookup("r.io", NULL, NULL, &c, &err), &err);
	CHECK(c.username == NULL);

	/* ~/.docker/config.json, docker.io under the legacy v1 URL */
	CHECK(mkdir(".docker", 0700) == 0);
	CHECK(test_put(".docker/config.json", "{\"auths\":{\"https://index.docker.io/v1/\":"
	    "{\"auth\":\"Ym9iOnB3\"},\"r.io\":{\"auth\":\"Ym9iOnB3\"}},\"credsStore\":\"x\"}") == 0);
	CHECK_OK(clip_auth_lookup("docker.io", NULL, NULL, &c, &err), &err);
	CHECK(c.username && strcmp(c.username, "bob") == 0 && strcmp(c.password, "pw") == 0);
	clip_creds_free(&c);
	CHECK_OK(clip_auth_lookup("other.io", NULL, NULL, &c, &err), &err);
	CHECK(c.username == NULL);

	/* $DOCKER_CONFIG beats ~/.docker */
	CHECK(mkdir("dc", 0700) == 0);
	CHECK(test_put("dc/config.json", "{\"auths\":{\"http://r.io/\":{\"username\":\"carol\","
	    "\"password\":\"x\"}}}") == 0);
	snprintf(p, sizeof(p), "%s/dc", cwd);
	setenv("DOCKER_CONFIG", p, 1);
	CHECK_OK(clip_auth_lookup("r.io", NULL, NULL, &c, &err), &err);
	CHECK(c.username && strcmp(c.username, "carol") == 0);
	clip_creds_free(&c);

	/* $XDG_RUNTIME_DIR/containers/auth.json beats that; a file without an
	 * entry for the host does not stop the search */
	CHECK(mkdir("run", 0700) == 0 && mkdir("run/containers", 0700) == 0);
	CHECK(test_put("run/containers/auth.json", "{\"auths\":{\"r.io\":{\"auth\":"
	    "\"YWxpY2U6czNjcjpldA==\"}}}") == 0);
	snprintf(p, sizeof(p), "%s/run", cwd);
	setenv("XDG_RUNTIME_DIR", p, 1);
	CHECK_OK(clip_auth_lookup("r.io", NULL, NULL, &c, &err), &err);
	CHECK(c.username && strcmp(c.username, "alice") == 0 && strcmp(c.password, "s3cr:et") == 0);
	clip_creds_free(&c);
	CHECK_OK(clip_auth_lookup("docker.io", NULL, NULL, &c, &err), &err);
	CHECK(c.username && strcmp(c.username, "bob") == 0);
	clip_creds_free(&c);

	/* $REGISTRY_AUTH_FILE first of all */
	CHECK(test_put("raf.json", "{\"auths\":{\"r.io\":{\"auth\":\"Ym9iOnB3\"}}}") == 0);
	snprintf(p, sizeof(p), "%s/raf.json", cwd);
	setenv("REGISTRY_AUTH_FILE", p, 1);
	CHECK_OK(clip_auth_lookup("r.io", NULL, NULL, &c, &err), &err);
	CHECK(c.username && strcmp(c.username, "bob") == 0);
	clip_creds_free(&c);

	/* --creds beats every file; --authfile replaces the search */
	CHECK_OK(clip_auth_lookup("r.io", "x:y", NULL, &c, &err), &err);
	CHECK(strcmp(c.username, "x") == 0);
	clip_creds_free(&c);
	CHECK(test_put("only.json", "{\"auths\":{}}") == 0);
	CHECK_OK(clip_auth_lookup("r.io", NULL, "only.json", &c, &err), &err);
	CHECK(c.username == NULL);
	CHECK(clip_auth_lookup("r.io", NULL, "missing.json", &c, &err) == CLIP_ERR_IO);
	clear_env(cwd);
	unsetenv("HOME");
}

TEST(test_bad_files)
{
	struct clip_creds c;
	struct clip_error err;
	char cwd[512];

	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	clear_env(cwd);
	CHECK(test_put("a.json", "{\"auths\":{\"r.io\":{\"auth\":\"!!notbase64\"}}}") == 0);
	CHECK(clip_auth_lookup("r.io", NULL, "a.json", &c, &err) == CLIP_ERR_INVALID);
	CHECK(test_put("b.json", "{\"auths\":{\"r.io\":{\"auth\":\"bm9jb2xvbg==\"}}}") == 0); /* "nocolon" */
	CHECK(clip_auth_lookup("r.io", NULL, "b.json", &c, &err) == CLIP_ERR_INVALID);
	CHECK(strstr(err.msg, "nocolon") == NULL);
	CHECK(test_put("c.json", "{\"auths\": [1,2,") == 0);
	CHECK(clip_auth_lookup("r.io", NULL, "c.json", &c, &err) == CLIP_ERR_FORMAT);
	{
		FILE *f = fopen("big.json", "wb");
		CHECK(f != NULL);
		CHECK(fseek(f, CLIP_AUTH_FILE_MAX + 1, SEEK_SET) == 0 && fputc(' ', f) != EOF);
		fclose(f);
		CHECK(clip_auth_lookup("r.io", NULL, "big.json", &c, &err) == CLIP_ERR_TOOBIG);
	}
	unsetenv("HOME");
}

TEST_MAIN(test_explicit_creds, test_lookup_order, test_bad_files)
