/* auth_config.c - read credentials from containers/docker auth files. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "common/registry/auth_config.h"
#include "common/util/base64.h"

void
clip_creds_free(struct clip_creds *c)
{
	if (c == NULL)
		return;
	if (c->username)
		explicit_bzero(c->username, strlen(c->username));
	if (c->password)
		explicit_bzero(c->password, strlen(c->password));
	free(c->username);
	free(c->password);
	c->username = c->password = NULL;
}

static clip_err
split_user_pass(const char *s, size_t len, struct clip_creds *out,
    const char *where, struct clip_error *err)
{
	const char *colon = memchr(s, ':', len);

	if (colon == NULL || colon == s)
		return clip_error_set(err, CLIP_ERR_INVALID,
		    "%s: credentials are not of the form USER:PASSWORD", where);
	if (memchr(s, '\0', len) != NULL)
		return clip_error_set(err, CLIP_ERR_INVALID,
		    "%s: credentials contain a NUL byte", where);
	out->username = strndup(s, (size_t)(colon - s));
	out->password = strndup(colon + 1, len - (size_t)(colon - s) - 1);
	if (out->username == NULL || out->password == NULL) {
		clip_creds_free(out);
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	return CLIP_OK;
}

/* "https://host:5000/v1/" -> "host:5000" in buf. */
static void
normalize_key(const char *key, char *buf, size_t bufsz)
{
	const char *p = key, *end;

	if (strncmp(p, "https://", 8) == 0)
		p += 8;
	else if (strncmp(p, "http://", 7) == 0)
		p += 7;
	end = strchr(p, '/');
	if (end == NULL)
		end = p + strlen(p);
	snprintf(buf, bufsz, "%.*s", (int)(end - p), p);
}

static int
is_hub(const char *host)
{
	return strcmp(host, "docker.io") == 0 || strcmp(host, "index.docker.io") == 0 ||
	    strcmp(host, "registry-1.docker.io") == 0;
}

static int
key_matches(const char *key, const char *registry)
{
	char host[512];

	normalize_key(key, host, sizeof(host));
	if (strcmp(host, registry) == 0)
		return 1;
	return is_hub(registry) && is_hub(host);
}

/* Reads a whole file of at most max bytes.  ENOENT -> CLIP_ERR_NOTFOUND. */
static clip_err
read_small_file(const char *path, size_t max, char **out, struct clip_error *err)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return clip_error_set(err, CLIP_ERR_NOTFOUND, "%s: no such file", path);
		return clip_error_set(err, CLIP_ERR_IO, "%s: %s", path, strerror(errno));
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return clip_error_set(err, CLIP_ERR_IO, "%s: not a regular file", path);
	}
	if ((unsigned long long)st.st_size > max) {
		close(fd);
		return clip_error_set(err, CLIP_ERR_TOOBIG, "%s: larger than %zu bytes",
		    path, max);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		close(fd);
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	return CLIP_OK;
}

/* Returns CLIP_OK with out->username set if file has an entry,
 * CLIP_ERR_NOTFOUND if the file or the entry is missing. */
static clip_err
lookup_file(const char *path, const char *registry, struct clip_creds *out,
    struct clip_error *err)
{
	json_error_t jerr;
	json_t *root, *auths, *entry;
	const char *key;
	char *text;
	clip_err rc;

	rc = read_small_file(path, CLIP_AUTH_FILE_MAX, &text, err);
	if (rc != CLIP_OK)
		return rc;
	root = json_loads(text, 0, &jerr);
	explicit_bzero(text, strlen(text));
	free(text);
	if (root == NULL || !json_is_object(root)) {
		json_decref(root);
		/* jerr.text could quote file content: leave it out. */
		return clip_error_set(err, CLIP_ERR_FORMAT,
		    "%s: not a JSON object (line %d)", path, jerr.line);
	}
	auths = json_object_get(root, "auths");
	rc = clip_error_set(err, CLIP_ERR_NOTFOUND, "%s: no entry for %s", path, registry);
	if (!json_is_object(auths))
		goto out;
	/* Exact key first, then the normalized forms. */
	entry = json_object_get(auths, registry);
	if (!json_is_object(entry)) {
		json_t *v;
		entry = NULL;
		json_object_foreach(auths, key, v) {
			if (json_is_object(v) && key_matches(key, registry)) {
				entry = v;
				break;
			}
		}
	}
	if (entry == NULL)
		goto out;
	{
		const char *auth = json_string_value(json_object_get(entry, "auth"));
		const char *user = json_string_value(json_object_get(entry, "username"));
		const char *pass = json_string_value(json_object_get(entry, "password"));
		if (auth != NULL && auth[0] != '\0') {
			size_t len;
			char *dec = clip_base64_decode(auth, &len);
			if (dec == NULL) {
				rc = clip_error_set(err, CLIP_ERR_INVALID,
				    "%s: entry for %s: \"auth\" is not base64", path, registry);
				goto out;
			}
			rc = split_user_pass(dec, len, out, path, err);
			explicit_bzero(dec, len);
			free(dec);
		} else if (user != NULL && pass != NULL) {
			out->username = strdup(user);
			out->password = strdup(pass);
			rc = CLIP_OK;
			if (out->username == NULL || out->password == NULL) {
				clip_creds_free(out);
				rc = clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
			}
		}
	}
out:
	json_decref(root);
	return rc;
}

clip_err
clip_auth_lookup(const char *registry, const char *creds,
    const char *authfile, struct clip_creds *out, struct clip_error *err)
{
	const char *env;
	char path[4096];
	clip_err rc;
	int i;

	out->username = out->password = NULL;
	if (creds != NULL)
		return split_user_pass(creds, strlen(creds), out, "--creds", err);
	if (authfile != NULL) {
		rc = lookup_file(authfile, registry, out, err);
		if (rc == CLIP_ERR_NOTFOUND && out->username == NULL) {
			struct stat st;
			if (stat(authfile, &st) != 0)
				return clip_error_set(err, CLIP_ERR_IO,
				    "auth file %s: %s", authfile, strerror(errno));
			return CLIP_OK;  /* the file has no entry: anonymous */
		}
		return rc;
	}
	for (i = 0; i < 4; i++) {
		path[0] = '\0';
		switch (i) {
		case 0:
			if ((env = getenv("REGISTRY_AUTH_FILE")) && *env)
				snprintf(path, sizeof(path), "%s", env);
			break;
		case 1:
			if ((env = getenv("XDG_RUNTIME_DIR")) && *env)
				snprintf(path, sizeof(path), "%s/containers/auth.json", env);
			break;
		case 2:
			if ((env = getenv("DOCKER_CONFIG")) && *env)
				snprintf(path, sizeof(path), "%s/config.json", env);
			break;
		case 3:
			if ((env = getenv("HOME")) && *env)
				snprintf(path, sizeof(path), "%s/.docker/config.json", env);
			break;
		}
		if (path[0] == '\0')
			continue;
		rc = lookup_file(path, registry, out, err);
		if (rc == CLIP_OK)
			return CLIP_OK;
		if (rc != CLIP_ERR_NOTFOUND)
			return rc;
	}
	clip_error_clear(err);
	return CLIP_OK;
}
