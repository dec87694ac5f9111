/* oci_layout.c - index.json, tags and blobs of a local OCI layout. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "common/oci/oci_layout.h"

struct clip_oci_layout {
	char *dir;
	struct clip_manifest *index;
};

/* Reads path (at most max bytes) into a NUL-terminated buffer. */
static clip_err
read_file_capped(const char *path, size_t max, uint8_t **data, size_t *len,
    struct clip_error *err)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	int fd;

	*data = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return clip_error_set(err, errno == ENOENT ? CLIP_ERR_NOTFOUND : CLIP_ERR_IO,
		    "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return clip_error_set(err, CLIP_ERR_IO, "%s: not a regular file", path);
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return clip_error_set(err, CLIP_ERR_TOOBIG, "%s: larger than %zu bytes", path, max);
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
		if (n < 0) {
			int e = errno;
			close(fd);
			free(buf);
			return clip_error_set(err, CLIP_ERR_IO, "%s: %s", path, strerror(e));
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*data = buf;
	*len = got;
	return CLIP_OK;
}

void
clip_oci_layout_close(clip_oci_layout *l)
{
	if (l == NULL)
		return;
	free(l->dir);
	clip_manifest_free(l->index);
	free(l);
}

clip_err
clip_oci_layout_open(const char *dir, clip_oci_layout **out, struct clip_error *err)
{
	clip_oci_layout *l;
	char *path = NULL;
	uint8_t *data = NULL;
	size_t len;
	json_t *root;
	const char *ver;
	clip_err rc;

	*out = NULL;
	l = calloc(1, sizeof(*l));
	if (l == NULL || (l->dir = strdup(dir)) == NULL ||
	    asprintf(&path, "%s/oci-layout", dir) < 0) {
		clip_oci_layout_close(l);
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	rc = read_file_capped(path, 4096, &data, &len, err);
	free(path);
	path = NULL;
	if (rc != CLIP_OK) {
		clip_oci_layout_close(l);
		if (rc == CLIP_ERR_NOTFOUND)
			return clip_error_set(err, rc, "%s: not an OCI layout (no oci-layout file)", dir);
		return rc;
	}
	root = json_loadb((const char *)data, len, 0, NULL);
	free(data);
	ver = json_string_value(json_object_get(root, "imageLayoutVersion"));
	if (ver == NULL || strncmp(ver, "1.", 2) != 0) {
		json_decref(root);
		clip_oci_layout_close(l);
		return clip_error_set(err, CLIP_ERR_UNSUPPORTED,
		    "%s/oci-layout: missing or unsupported imageLayoutVersion", dir);
	}
	json_decref(root);
	if (asprintf(&path, "%s/index.json", dir) < 0) {
		clip_oci_layout_close(l);
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	rc = read_file_capped(path, CLIP_MANIFEST_MAX, &data, &len, err);
	if (rc == CLIP_OK) {
		rc = clip_manifest_parse(data, len, NULL, &l->index, err);
		free(data);
		if (rc == CLIP_OK && l->index->kind != CLIP_MANIFEST_INDEX)
			rc = clip_error_set(err, CLIP_ERR_PROTOCOL, "not an image index");
		if (rc != CLIP_OK)
			clip_error_prefix(err, "%s", path);
	}
	free(path);
	if (rc != CLIP_OK) {
		clip_oci_layout_close(l);
		return rc;
	}
	*out = l;
	return CLIP_OK;
}

const struct clip_manifest *
clip_oci_layout_index(const clip_oci_layout *l)
{
	return l->index;
}

static void
list_tags(const clip_oci_layout *l, char *buf, size_t bufsz)
{
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < l->index->n_manifests; i++) {
		const char *t = l->index->manifests[i].ref_name;
		int n = snprintf(buf + used, bufsz - used, "%s%s", used ? ", " : "",
		    t ? t : "(untagged)");
		if (n < 0 || (size_t)n >= bufsz - used)
			break;
		used += (size_t)n;
	}
}

clip_err
clip_oci_layout_find(const clip_oci_layout *l, const char *tag,
    const struct clip_descriptor **out, struct clip_error *err)
{
	char tags[300];
	size_t i;

	*out = NULL;
	if (tag == NULL) {
		if (l->index->n_manifests == 1) {
			*out = &l->index->manifests[0];
			return CLIP_OK;
		}
		list_tags(l, tags, sizeof(tags));
		return clip_error_set(err, l->index->n_manifests ? CLIP_ERR_INVALID :
		    CLIP_ERR_NOTFOUND, "%s: %s; name a tag (oci:DIR:TAG): %s", l->dir,
		    l->index->n_manifests ? "several images" : "no images", tags);
	}
	for (i = 0; i < l->index->n_manifests; i++) {
		const char *name = l->index->manifests[i].ref_name;
		if (name != NULL && strcmp(name, tag) == 0) {
			*out = &l->index->manifests[i];
			return CLIP_OK;
		}
	}
	list_tags(l, tags, sizeof(tags));
	return clip_error_set(err, CLIP_ERR_NOTFOUND, "%s: no image tagged \"%.100s\"; tags: %s",
	    l->dir, tag, tags[0] ? tags : "(none)");
}

clip_err
clip_oci_layout_blob_path(const clip_oci_layout *l, const char *digest,
    char **path, struct clip_error *err)
{
	clip_err rc;

	*path = NULL;
	rc = clip_digest_check(digest, "blob digest", err);
	if (rc != CLIP_OK)
		return rc;
	/* digest validated: "sha256:HEX", no '/' or ".." can sneak in */
	if (asprintf(path, "%s/blobs/sha256/%s", l->dir, digest + 7) < 0) {
		*path = NULL;
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	return CLIP_OK;
}

clip_err
clip_oci_layout_open_blob(const clip_oci_layout *l, const char *digest, int *fd,
    uint64_t *size, struct clip_error *err)
{
	struct stat st;
	char *path;
	clip_err rc;

	*fd = -1;
	*size = 0;
	rc = clip_oci_layout_blob_path(l, digest, &path, err);
	if (rc != CLIP_OK)
		return rc;
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0) {
		rc = clip_error_set(err, errno == ENOENT ? CLIP_ERR_NOTFOUND : CLIP_ERR_IO,
		    "%s: %s", path, strerror(errno));
		free(path);
		return rc;
	}
	if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(*fd);
		*fd = -1;
		rc = clip_error_set(err, CLIP_ERR_IO, "%s: not a regular file", path);
		free(path);
		return rc;
	}
	free(path);
	*size = (uint64_t)st.st_size;
	return CLIP_OK;
}

clip_err
clip_oci_layout_read_blob(const clip_oci_layout *l, const char *digest, size_t max,
    uint8_t **data, size_t *len, struct clip_error *err)
{
	char *path, got[CLIP_DIGEST_BUFSZ];
	clip_err rc;

	*data = NULL;
	*len = 0;
	rc = clip_oci_layout_blob_path(l, digest, &path, err);
	if (rc != CLIP_OK)
		return rc;
	rc = read_file_capped(path, max, data, len, err);
	free(path);
	if (rc != CLIP_OK)
		return rc;
	clip_digest_of(*data, *len, got);
	if (strcmp(got, digest) != 0) {
		free(*data);
		*data = NULL;
		*len = 0;
		return clip_error_set(err, CLIP_ERR_CHECKSUM, "blob %s: content has digest %s",
		    digest, got);
	}
	return CLIP_OK;
}
