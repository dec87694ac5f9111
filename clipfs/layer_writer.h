/*
 * layer_writer.h - the daemon's layer file writer: an idle thread that
 * copies each layer the reader holds whole (every span verified and in
 * memory or the disk cache, after a background fetch or an earlier
 * container) into its sealed layer file (common/reader/layer_file.h), so
 * that the next EROFS mount gives it to the kernel as a local file.
 *
 * It looks at start, every 30 s, and when told a layer may have become
 * whole (layer_writer_poke, after the background fetch finishes one).
 * It runs at the lowest CPU and I/O priority, with one 1 MiB buffer, and
 * never fetches: a layer that stops being whole while it is copied is
 * left for a later look.
 */
#ifndef CLIPFS_LAYER_WRITER_H
#define CLIPFS_LAYER_WRITER_H

#include <stdatomic.h>
#include <stdint.h>

#include "common/format/index.h"
#include "common/reader/layer_reader.h"

/* Counted for clipfs stats. */
struct layer_file_counts {
	atomic_uint_fast64_t written;   /* layer files written by this daemon */
	atomic_uint_fast64_t errors;    /* writes that failed (not: a layer no longer whole) */
};

struct layer_writer;

/* Starts the writer for idx's layers into cache_dir/layers (made 0700
 * when the first layer file is due), counting into counts (which must
 * outlive it).  NULL, after a warning, if the thread cannot start. */
struct layer_writer *layer_writer_start(const clip_index *idx, clip_reader *r,
    const char *cache_dir, struct layer_file_counts *counts);

/* A layer may be whole now: look soon.  Accepts NULL; never waits. */
void layer_writer_poke(struct layer_writer *w);

/* Stops (a copy under way is abandoned, leaving no file) and joins.
 * Accepts NULL. */
void layer_writer_stop(struct layer_writer *w);

#endif
