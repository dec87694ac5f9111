/*
 * layer_local.c - the EROFS mode's local layers: a layer whose sealed
 * layer file (common/reader/layer_file.h) is in the disk cache is given
 * to the kernel as that file, so its reads never reach the daemon; the
 * others stay on the daemon's layer files (layer_fs.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clipfs/log.h"
#include "clipfs/mount_erofs.h"
#include "common/reader/layer_file.h"

/* Layer l's file, checked as asked; -1 if it cannot be used. */
static int
open_local(const clip_index *idx, int dirfd, uint32_t l, int check, struct erofs_mount *em)
{
	struct clip_layer_file_id id;
	struct clip_error err;
	clip_err rc;
	int fd;

	clip_error_clear(&err);
	if (clip_layer_file_id_of(idx, l, &id, &err) != CLIP_OK)
		return -1;
	rc = clip_layer_file_open(dirfd, &id, check, &fd, &err);
	if (rc == CLIP_ERR_CHECKSUM) {
		em->ndamaged++;
		log_warn("layer %u: %s; the daemon serves it", l, clip_error_message(&err));
	} else if (rc != CLIP_OK && rc != CLIP_ERR_NOTFOUND) {
		log_info("layer %u: %s; the daemon serves it", l, clip_error_message(&err));
	}
	return rc == CLIP_OK ? fd : -1;
}

int
erofs_mount_use_local(struct erofs_mount *em, const clip_index *idx, const char *cache_dir,
    int check)
{
	char path[PATH_MAX];
	uint32_t l;
	int dirfd;

	em->local_fd = malloc((em->nlayers ? em->nlayers : 1) * sizeof(*em->local_fd));
	if (em->local_fd == NULL)
		return -1;
	for (l = 0; l < em->nlayers; l++)
		em->local_fd[l] = -1;
	if (cache_dir == NULL || snprintf(path, sizeof(path), "%s/%s", cache_dir,
	    CLIP_LAYER_FILES_DIR) >= (int)sizeof(path))
		return 0;
	if ((dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return 0;   /* none written yet */
	for (l = 0; l < em->nlayers; l++)
		if ((em->local_fd[l] = open_local(idx, dirfd, l, check, em)) >= 0)
			em->nlocal++;
	close(dirfd);
	return 0;
}

void
erofs_mount_close_local(struct erofs_mount *em)
{
	uint32_t l;

	if (em->local_fd == NULL)
		return;
	for (l = 0; l < em->nlayers; l++)
		if (em->local_fd[l] >= 0)
			close(em->local_fd[l]);
	free(em->local_fd);
	em->local_fd = NULL;
}
