/*
 * mount_erofs.h - the EROFS mode of clipfs mount: the kernel serves the
 * tree from an EROFS image built from the index, and the daemon serves
 * only the layers' uncompressed tar streams (layer_fs.c), as the image's
 * extra devices.
 *
 * The order matters: the layer files are mounted in a private directory
 * and served before the kernel mounts the image (it opens its devices
 * while mounting); once it holds them open, the layer mount is detached,
 * so nothing but the tree is visible, and it goes away with the tree.
 */
#ifndef CLIPFS_MOUNT_EROFS_H
#define CLIPFS_MOUNT_EROFS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "common/format/index.h"

enum mount_mode { MOUNT_MODE_FUSE, MOUNT_MODE_EROFS };

/*
 * Decides the mode from --mode ("auto", "erofs" or "fuse").  0, with *out
 * and why (what was taken and why the other was not) set; -1 for a mode
 * that cannot be had (said on stderr), or an unknown name.
 */
int mount_mode_choose(const char *asked, enum mount_mode *out, char *why, size_t len);

/* How the kernel reaches the image and the layer files: as files
 * (Linux 6.12 and later), or as loop devices in front of them. */
enum erofs_backing { EROFS_BACKING_FILE, EROFS_BACKING_LOOP, EROFS_BACKING_NONE };

/*
 * Files where the kernel is 6.12 or later, else loop devices where this
 * process can set them up, else none (why says so).  The environment
 * variable CLIPFS_EROFS_BACKING (file or loop) overrides the choice.
 */
enum erofs_backing erofs_backing_choose(char *why, size_t len);

/* What the EROFS mode prepares before the daemon forks. */
struct erofs_mount {
	int image_fd;               /* the image built from the index */
	char image_path[PATH_MAX];  /* its name until mounted; "" in memory */
	int image_served;           /* the kernel reads it from the layer fs */
	uint64_t image_size;
	char layers[PATH_MAX];      /* where the layer files are mounted meanwhile */
	uint32_t nlayers;
	double build_seconds;
	int use_loop;               /* EROFS_BACKING_LOOP */
	int *loop_fds;              /* while mounting: the image's, then each layer's */
	char (*loop_names)[32];
	int *local_fd;              /* per layer: its sealed layer file, or -1 */
	uint32_t nlocal;            /* layers given to the kernel as local files */
	uint32_t ndamaged;          /* layer files --check-layers found damaged */
};

/* Where the layer files are mounted while the tree is being mounted. */
#define EROFS_RUN_DIR "/run/clipfs"

/*
 * Builds the image of idx into a file in image_dir (NULL, or a directory
 * that cannot take it: in memory), and makes the private directory for
 * the layer files in EROFS_RUN_DIR.  The kernel reads the image from its
 * file, or where that file system cannot back EROFS (tmpfs, overlayfs)
 * from the copy the layer file system serves.  0, or an exit status
 * after saying why on stderr.
 */
int erofs_mount_prepare(const clip_index *idx, const char *image_dir, struct erofs_mount *em);

/*
 * Mounts the image at mountpoint, read-only, with the layer files as its
 * devices (they must be served already), then detaches the layer mount
 * and removes the image's name.  0, or -1 with the kernel's words in msg.
 */
int erofs_mount_attach(struct erofs_mount *em, const char *mountpoint, char *msg, size_t len);

/*
 * Opens the sealed layer files (common/reader/layer_file.h) of em's layers
 * in cache_dir/layers (cache_dir NULL: none), each re-hashed first with
 * check; attach gives those to the kernel instead of the daemon's files.
 * A damaged one (check) is removed and counted.  0, or -1 out of memory.
 * Call after prepare.
 */
int erofs_mount_use_local(struct erofs_mount *em, const clip_index *idx, const char *cache_dir,
    int check);
/* Closes them (the mounted tree holds its own references). */
void erofs_mount_close_local(struct erofs_mount *em);

/* The mount ID of the tree at mountpoint (statx), 0 if unknown: for
 * erofs_mount_wait_gone. */
uint64_t erofs_tree_mount_id(const char *mountpoint);

/*
 * Waits until the mount mnt_id is gone from this namespace's mount table
 * (unmounted, also by umount -l), or stopped(ctx) says to stop (asked
 * once a second and after each signal).  For a daemon whose FUSE
 * connection no longer tells it that: when every layer is a local file,
 * the kernel holds nothing of the daemon's.  1 if stopped, 0 if gone.
 */
int erofs_mount_wait_gone(uint64_t mnt_id, int (*stopped)(void *ctx), void *ctx);

/* Detaches the layer mount (its connection ends once the kernel lets go
 * of the files) and removes its directory. */
void erofs_mount_release_layers(struct erofs_mount *em);

/* Removes what prepare made and attach did not, and closes the image. */
void erofs_mount_cleanup(struct erofs_mount *em);

#endif
