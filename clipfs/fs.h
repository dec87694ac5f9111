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

#include <fuse_lowlevel.h>

#include "common/format/index.h"
#include "common/reader/layer_reader.h"

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
};

struct clipfs_fs {
	const clip_index *idx;
	clip_reader *reader;
	double entry_timeout;   /* the image never changes: long */
	struct fs_counters counters;
	struct fs_trace *trace; /* NULL: no trace */
	double start_time;      /* CLOCK_MONOTONIC at start, for stats */
	double ready_time;      /* when the mount was ready */
	/* The kernel can open files (dirs) without asking us; set in init. */
	int no_open, no_opendir;
	const struct clip_mirror_set *mirrors;   /* --mirror: per-host stats; or NULL */
};

extern const struct fuse_lowlevel_ops clipfs_ops;

/* A monotonic clock in seconds. */
double fs_now(void);

/* Trace: open FILE for writing; NULL on failure (errno set). */
struct fs_trace *fs_trace_open(const char *path, uint32_t ninodes);
void fs_trace_close(struct fs_trace *t);

#endif
