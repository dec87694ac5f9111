/*
 * fs.h - the mounted file system: the index for metadata, the layer
 * reader for data, counters for clipfs stats, and the access trace.
 */
#ifndef CLIPFS_FS_H
#define CLIPFS_FS_H

#define FUSE_USE_VERSION 314

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/types.h>

#include <fuse_lowlevel.h>

#include "common/format/index.h"
#include "common/reader/layer_reader.h"
#include "clipfs/layer_writer.h"

/* FUSE operations served, for clipfs stats. */
struct fs_counters {
	atomic_uint_fast64_t lookups, getattrs, readdirs, opens, reads, readlinks, xattrs;
	atomic_uint_fast64_t read_errors;   /* reads answered EIO */
};

/* The first access of each file, in order (--trace). */
struct fs_trace {
	FILE *out;
	pthread_mutex_t lock;
	uint8_t *seen;          /* a bit per inode: already traced */
	char **paths;           /* per inode, learned at lookup */
	uint32_t ninodes;
	double start;
	/* EROFS mode: regular files' data by (layer, start) (trace_layers.c). */
	struct trace_extent *ext;
	size_t next;
};

struct clipfs_fs {
	const clip_index *idx;
	clip_reader *reader;
	double entry_timeout;   /* the image never changes: long */
	struct fs_counters counters;
	struct fs_trace *trace; /* NULL: no trace */
	double start_time;      /* CLOCK_MONOTONIC at start, for stats */
	double ready_time;      /* when the mount was ready */
	const char *mode;       /* "fuse" or "erofs" (mount_erofs.h) */
	int erofs_image_fd;     /* EROFS mode: the image the layer fs serves */
	uint64_t erofs_image_size;
	char mode_why[256];     /* why that mode, for clipfs stats */
	/* The kernel can open files (dirs) without asking us; set in init. */
	int no_open, no_opendir;
	const struct clip_mirror_set *mirrors;   /* --mirror: per-host stats; or NULL */
	/* Layer files (layer_writer.h): written by this daemon, and at mount
	 * (EROFS mode) the layers given to the kernel as local files and
	 * those --check-layers found damaged. */
	struct layer_file_counts layer_files;
	uint32_t layer_files_local, layer_files_damaged;
	pid_t keeper_pid;       /* the mount's keeper (keeper.h) */
	unsigned restarts;      /* daemons the keeper started before this one */
};

extern const struct fuse_lowlevel_ops clipfs_ops;

/* The EROFS mode's files (layer_fs.c): layer i is the file named "i", its
 * uncompressed tar stream zero-padded to whole 512-byte blocks,
 * layer_fs_file_size() bytes; the image is IMAGE_NAME. */
#define IMAGE_NAME "tree.erofs"
extern const struct fuse_lowlevel_ops clipfs_layer_ops;
uint64_t layer_fs_file_size(const struct clip_layer *l);

/* A monotonic clock in seconds. */
double fs_now(void);

/* Trace: open FILE for writing, or (append: a restarted daemon) for
 * appending; NULL on failure (errno set). */
struct fs_trace *fs_trace_open(const char *path, uint32_t ninodes, int append);
void fs_trace_close(struct fs_trace *t);
/* Records the first access of ino (at off) in the trace, if any. */
void fs_trace_access(struct clipfs_fs *fs, fuse_ino_t ino, off_t off);

/* EROFS mode: learns every regular file's path and place (one walk of
 * the tree); 0, or -1 out of memory. */
int fs_trace_map_layers(struct fs_trace *t, const clip_index *idx);
/* EROFS mode: records the file a read of layer at off is for. */
void fs_trace_layer_read(struct clipfs_fs *fs, uint32_t layer, uint64_t off);

#endif
