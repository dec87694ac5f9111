/* atomic_file.c - whole-file writes by rename, whole-file reads. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util/atomic_file.h"

clip_err
clip_write_file_atomic(const char *path, const void *buf, size_t len, mode_t mode,
    struct clip_error *err)
{
	const char *p = buf;
	size_t done = 0;
	char *tmp = NULL;
	int fd = -1;
	clip_err rc = CLIP_OK;

	if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	fd = mkstemp(tmp);
	if (fd < 0) {
		rc = clip_error_set(err, CLIP_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
		free(tmp);
		return rc;
	}
	while (done < len) {
		ssize_t n = write(fd, p + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = clip_error_set(err, CLIP_ERR_IO, "%s: write: %s", path,
			    n < 0 ? strerror(errno) : "short write");
			goto fail;
		}
		done += (size_t)n;
	}
	if (fchmod(fd, mode) != 0 || fsync(fd) != 0) {
		rc = clip_error_set(err, CLIP_ERR_IO, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = clip_error_set(err, CLIP_ERR_IO, "%s: close: %s", path, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		rc = clip_error_set(err, CLIP_ERR_IO, "%s: rename: %s", path, strerror(errno));
		goto fail;
	}
	free(tmp);
	return CLIP_OK;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	return rc;
}

clip_err
clip_read_file(const char *path, size_t max, void **bufp, size_t *lenp, struct clip_error *err)
{
	struct stat st;
	size_t done = 0;
	void *buf;
	int fd;

	*bufp = NULL;
	*lenp = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return clip_error_set(err, CLIP_ERR_IO, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return clip_error_set(err, CLIP_ERR_IO, "%s: not a readable regular file", path);
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return clip_error_set(err, CLIP_ERR_TOOBIG, "%s: larger than %zu bytes", path, max);
	}
	if (posix_memalign(&buf, 8, (size_t)st.st_size ? (size_t)st.st_size : 8) != 0) {
		close(fd);
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, (char *)buf + done, (size_t)st.st_size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			close(fd);
			return clip_error_set(err, CLIP_ERR_IO, "%s: read: %s", path,
			    n < 0 ? strerror(errno) : "file shrank");
		}
		done += (size_t)n;
	}
	close(fd);
	*bufp = buf;
	*lenp = done;
	return CLIP_OK;
}
