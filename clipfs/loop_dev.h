/*
 * loop_dev.h - read-only loop devices for the EROFS mode on kernels
 * without file-backed EROFS (before 6.12): the image and each layer file
 * reach the kernel as a block device instead.
 */
#ifndef CLIPFS_LOOP_DEV_H
#define CLIPFS_LOOP_DEV_H

#include <stddef.h>

/* Whether this process may set up loop devices (/dev/loop-control). */
int loop_available(void);

/*
 * Attaches the file open at backing_fd to a free loop device, read-only,
 * with direct I/O where the file allows it (no second copy of its bytes
 * in the page cache), set to detach itself when its last user closes it.
 * The caller may close backing_fd afterwards: the device holds the file.
 * Returns the device's fd, with its path in name; -1 with errno set (the
 * device is left as it was found).
 */
int loop_attach(int backing_fd, char *name, size_t len);

#endif
