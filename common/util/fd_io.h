/*
 * fd_io.h - whole reads and writes on a file descriptor, retried across
 * EINTR and short transfers; and dropping a written file from the page
 * cache.
 */
#ifndef CLIP_FD_IO_H
#define CLIP_FD_IO_H

#include <stddef.h>
#include <stdint.h>

/* Reads len bytes at off: 1 if all came, 0 if the file ended first, -1
 * on an error (errno set). */
int clip_pread_full(int fd, void *buf, size_t len, uint64_t off);

/* Writes len bytes at the file position: 0, or -1 with errno set (EIO
 * for a write that wrote nothing). */
int clip_write_full(int fd, const void *buf, size_t len);

/* Writes the file's dirty pages back, waits for that, then asks the kernel
 * to drop its pages from the page cache: for a cache file written once
 * and read later by another path (its pages would otherwise stay, as
 * reclaimable but counted memory).  Best effort: errors are ignored. */
void clip_fd_drop_cached(int fd);

#endif
