/*
 * mount_erofs.c - the EROFS mode of clipfs mount (mount_erofs.h).
 *
 * The image is mounted with the new mount API (fsopen/fsconfig): util-
 * linux mount(8) puts a regular-file source on a loop device and then
 * refuses regular-file device= options, and the new API hands back the
 * kernel's own words when it refuses an image.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "clipfs/cli.h"
#include "clipfs/fs.h"
#include "clipfs/loop_dev.h"
#include "clipfs/mount_erofs.h"
#include "common/erofs/erofs_write.h"

/* File-backed EROFS (a regular file as the image and as its devices). */
#define EROFS_FILE_BACKED_MAJOR 6
#define EROFS_FILE_BACKED_MINOR 12
/* Blocks smaller than a page (the image's are 512 bytes, as tar's). */
#define EROFS_SMALL_BLOCKS_MAJOR 6
#define EROFS_SMALL_BLOCKS_MINOR 4

static int
kernel_at_least(int major, int minor, char *release, size_t len)
{
	struct utsname u;
	int ma = 0, mi = 0;

	if (uname(&u) != 0)
		return 0;
	snprintf(release, len, "%s", u.release);
	if (sscanf(u.release, "%d.%d", &ma, &mi) != 2)
		return 0;
	return ma > major || (ma == major && mi >= minor);
}

/* Whether this kernel knows EROFS at all: fsopen fails with ENODEV
 * without it (ENOSYS before the new mount API; EPERM under a filter). */
static int
kernel_has_erofs(char *why, size_t len)
{
	int fd = fsopen("erofs", FSOPEN_CLOEXEC);

	if (fd < 0) {
		snprintf(why, len, "the kernel offers no EROFS: fsopen(erofs): %s", strerror(errno));
		return 0;
	}
	close(fd);
	return 1;
}

enum erofs_backing
erofs_backing_choose(char *why, size_t len)
{
	const char *asked = getenv("CLIPFS_EROFS_BACKING");
	char release[128] = "";
	int file_ok = kernel_at_least(EROFS_FILE_BACKED_MAJOR, EROFS_FILE_BACKED_MINOR,
	    release, sizeof(release));

	if (asked != NULL && strcmp(asked, "file") == 0)
		return EROFS_BACKING_FILE;
	if (asked != NULL && strcmp(asked, "loop") == 0)
		return EROFS_BACKING_LOOP;
	if (file_ok)
		return EROFS_BACKING_FILE;
	if (!kernel_at_least(EROFS_SMALL_BLOCKS_MAJOR, EROFS_SMALL_BLOCKS_MINOR, release,
	    sizeof(release)))
		snprintf(why, len, "the kernel (%s) is older than 6.4: its EROFS cannot read "
		    "512-byte blocks", release);
	else if (loop_available())
		return EROFS_BACKING_LOOP;
	else
		snprintf(why, len, "the kernel (%s) is older than 6.12, so no file-backed EROFS, "
		    "and loop devices cannot be set up (/dev/loop-control)", release);
	return EROFS_BACKING_NONE;
}

int
mount_mode_choose(const char *asked, enum mount_mode *out, char *why, size_t len)
{
	char release[128] = "";
	int erofs_asked = strcmp(asked, "erofs") == 0;
	enum erofs_backing backing = EROFS_BACKING_NONE;

	if (strcmp(asked, "fuse") == 0) {
		*out = MOUNT_MODE_FUSE;
		snprintf(why, len, "asked for (--mode fuse)");
		return 0;
	}
	if (!erofs_asked && strcmp(asked, "auto") != 0) {
		fprintf(stderr, "clipfs mount: --mode %s: not auto, erofs or fuse\n", asked);
		return -1;
	}
	kernel_at_least(0, 0, release, sizeof(release));
	if (geteuid() != 0)
		snprintf(why, len, "not root: the kernel mounts EROFS for root only");
	else if (kernel_has_erofs(why, len))
		backing = erofs_backing_choose(why, len);
	if (backing != EROFS_BACKING_NONE) {
		*out = MOUNT_MODE_EROFS;
		snprintf(why, len, "%s: %s (kernel %s, root)", erofs_asked ? "asked for" : "auto",
		    backing == EROFS_BACKING_FILE ? "file-backed EROFS" : "EROFS on loop devices",
		    release);
		return 0;
	}
	if (erofs_asked) {
		fprintf(stderr, "clipfs mount: --mode erofs: %s (kernel %s)\n", why, release);
		return -1;
	}
	*out = MOUNT_MODE_FUSE;
	return 0;
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A file for the image: named in dir (em->image_path), or in memory. */
static int
image_file(const char *dir, struct erofs_mount *em)
{
	int fd = -1;

	if (dir != NULL && snprintf(em->image_path, sizeof(em->image_path), "%s/tree.XXXXXX",
	    dir) < (int)sizeof(em->image_path))
		fd = mkostemp(em->image_path, O_CLOEXEC);
	if (fd < 0) {
		em->image_path[0] = '\0';
		fd = memfd_create("clipfs-erofs", MFD_CLOEXEC);
	}
	return fd;
}

/* Writes the image into em->image_fd.  An exit status. */
static int
build_image(const clip_index *idx, const char *dir, struct erofs_mount *em)
{
	struct clip_erofs_info info;
	struct clip_error err;
	double t0 = now_seconds();

	clip_error_clear(&err);
	if ((em->image_fd = image_file(dir, em)) < 0) {
		fprintf(stderr, "clipfs mount: cannot make a file for the EROFS image: %s\n",
		    strerror(errno));
		return EXIT_FAILURE_GENERIC;
	}
	if (clip_erofs_write(idx, em->image_fd, NULL, &info, &err) != CLIP_OK) {
		fprintf(stderr, "clipfs mount: cannot build the EROFS image: %s (--mode fuse "
		    "serves this index without it)\n", clip_error_message(&err));
		return err.code == CLIP_ERR_IO || err.code == CLIP_ERR_NOMEM ?
		    EXIT_FAILURE_GENERIC : EXIT_BAD_INDEX;
	}
	em->image_size = info.image_size;
	em->build_seconds = now_seconds() - t0;
	return EXIT_OK;
}

int
erofs_mount_prepare(const clip_index *idx, const char *image_dir, struct erofs_mount *em)
{
	const char *run_dir = EROFS_RUN_DIR;
	int rc;

	char why[256];

	memset(em, 0, sizeof(*em));
	em->image_fd = -1;
	em->use_loop = erofs_backing_choose(why, sizeof(why)) == EROFS_BACKING_LOOP;
	em->nlayers = clip_index_layer_count(idx);
	if (mkdir(run_dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "clipfs mount: cannot make %s: %s\n", run_dir, strerror(errno));
		return EXIT_FAILURE_GENERIC;
	}
	if (image_dir != NULL && mkdir(image_dir, 0700) != 0 && errno != EEXIST)
		image_dir = NULL;
	if ((rc = build_image(idx, image_dir, em)) != EXIT_OK) {
		erofs_mount_cleanup(em);
		return rc;
	}
	if (snprintf(em->layers, sizeof(em->layers), "%s/layers.XXXXXX", run_dir) >=
	    (int)sizeof(em->layers) || mkdtemp(em->layers) == NULL) {
		fprintf(stderr, "clipfs mount: cannot make a directory in %s: %s\n", run_dir,
		    strerror(errno));
		em->layers[0] = '\0';
		erofs_mount_cleanup(em);
		return EXIT_FAILURE_GENERIC;
	}
	return EXIT_OK;
}

/* The kernel's messages about the last fsconfig, one line each. */
static void
kernel_words(int fsfd, const char *what, int e, char *msg, size_t len)
{
	char line[512];
	ssize_t n;
	size_t used;

	used = (size_t)snprintf(msg, len, "%s: %s", what, strerror(e));
	while (used < len && (n = read(fsfd, line, sizeof(line) - 1)) > 0) {
		line[n] = '\0';
		used += (size_t)snprintf(msg + used, len - used, "; kernel: %s", line);
	}
}

/* The name the kernel opens layer i's device by: its file in the layer
 * mount, or the loop device in front of that file. */
static void
layer_device(const struct erofs_mount *em, uint32_t i, char *dev, size_t len)
{
	if (em->loop_names != NULL)
		snprintf(dev, len, "%s", em->loop_names[i + 1]);
	else if (em->local_fd != NULL && em->local_fd[i] >= 0)
		/* A local layer file by its descriptor: the file that was
		 * checked, whatever its name points at by now. */
		snprintf(dev, len, "/proc/self/fd/%d", em->local_fd[i]);
	else
		snprintf(dev, len, "%s/%u", em->layers, i);
}

/* fsopen .. fsmount: a detached mount of the image at source with the
 * layer files as its devices. */
static int
erofs_mount_fd(const struct erofs_mount *em, const char *source, char *msg, size_t len)
{
	char dev[PATH_MAX + 16];
	int fsfd, mfd = -1;
	uint32_t i;

	if ((fsfd = fsopen("erofs", FSOPEN_CLOEXEC)) < 0) {
		snprintf(msg, len, "fsopen(erofs): %s", strerror(errno));
		return -1;
	}
	/* Read-only from the start: a block device (a loop device here) is
	 * opened for writing otherwise, which a read-only one refuses. */
	if (fsconfig(fsfd, FSCONFIG_SET_FLAG, "ro", NULL, 0) != 0 ||
	    fsconfig(fsfd, FSCONFIG_SET_STRING, "source", source, 0) != 0) {
		kernel_words(fsfd, "the image", errno, msg, len);
		goto out;
	}
	for (i = 0; i < em->nlayers; i++) {
		layer_device(em, i, dev, sizeof(dev));
		if (fsconfig(fsfd, FSCONFIG_SET_STRING, "device", dev, 0) != 0) {
			kernel_words(fsfd, "a layer device", errno, msg, len);
			goto out;
		}
	}
	/* Every layer a local file: read them with direct I/O, so that file
	 * data sits in the page cache once, the tree's, not also the layer
	 * files' (buffered is EROFS's default).  A kernel without the option
	 * (before 6.13) keeps buffered reads.  Loop devices do their own
	 * direct I/O. */
	if (em->loop_names == NULL && em->local_fd != NULL && em->nlocal == em->nlayers &&
	    em->nlayers > 0 &&
	    fsconfig(fsfd, FSCONFIG_SET_FLAG, "directio", NULL, 0) != 0)
		kernel_words(fsfd, "directio", errno, msg, len);
	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) != 0) {
		kernel_words(fsfd, "mounting the EROFS image", errno, msg, len);
		goto out;
	}
	if ((mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY)) < 0)
		kernel_words(fsfd, "fsmount", errno, msg, len);
out:
	close(fsfd);
	return mfd;
}

static void erofs_mount_unlink_image(struct erofs_mount *em);

/* Closes the loop devices: the ones the mount holds stay (and detach
 * when it ends), the others detach now. */
static void
loops_close(struct erofs_mount *em)
{
	uint32_t i;

	for (i = 0; em->loop_fds != NULL && i <= em->nlayers; i++)
		if (em->loop_fds[i] >= 0)
			close(em->loop_fds[i]);
	free(em->loop_fds);
	free(em->loop_names);
	em->loop_fds = NULL;
	em->loop_names = NULL;
}

/* Device i+1 in front of layer file i, device 0 in front of the image. */
static int
loop_one(struct erofs_mount *em, uint32_t i, char *msg, size_t len)
{
	char path[PATH_MAX + 16];
	int fd = em->image_fd;

	if (i > 0 && em->local_fd != NULL && em->local_fd[i - 1] >= 0) {
		fd = em->local_fd[i - 1];
		snprintf(path, sizeof(path), "local layer file %u", i - 1);
	} else if (i > 0) {
		snprintf(path, sizeof(path), "%s/%u", em->layers, i - 1);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
			snprintf(msg, len, "opening layer file %s: %s", path, strerror(errno));
			return -1;
		}
	}
	em->loop_fds[i] = loop_attach(fd, em->loop_names[i], sizeof(em->loop_names[i]));
	if (em->loop_fds[i] < 0)
		snprintf(msg, len, "setting up a loop device for %s: %s",
		    i == 0 ? "the image" : path, strerror(errno));
	if (fd != em->image_fd && (em->local_fd == NULL || fd != em->local_fd[i - 1]))
		close(fd);
	return em->loop_fds[i] < 0 ? -1 : 0;
}

/* The image and the layer files as loop devices (kernels before 6.12). */
static int
erofs_mount_loop(struct erofs_mount *em, char *msg, size_t len)
{
	uint32_t i, n = em->nlayers + 1;
	int mfd = -1;

	em->loop_fds = malloc(n * sizeof(*em->loop_fds));
	em->loop_names = calloc(n, sizeof(*em->loop_names));
	if (em->loop_fds == NULL || em->loop_names == NULL) {
		snprintf(msg, len, "out of memory");
		loops_close(em);
		return -1;
	}
	for (i = 0; i < n; i++)
		em->loop_fds[i] = -1;
	for (i = 0; i < n; i++)
		if (loop_one(em, i, msg, len) != 0)
			break;
	if (i == n)
		mfd = erofs_mount_fd(em, em->loop_names[0], msg, len);
	loops_close(em);
	return mfd;
}

/* The image's own file where its file system can back EROFS; else
 * (tmpfs and overlayfs cannot) the copy the layer file system serves. */
static int
erofs_mount_any(struct erofs_mount *em, char *msg, size_t len)
{
	char served[PATH_MAX + 16];
	int mfd = -1;

	if (em->use_loop)
		return erofs_mount_loop(em, msg, len);
	if (em->image_path[0] != '\0' && (mfd = erofs_mount_fd(em, em->image_path, msg, len)) >= 0)
		return mfd;
	snprintf(served, sizeof(served), "%s/%s", em->layers, IMAGE_NAME);
	if ((mfd = erofs_mount_fd(em, served, msg, len)) >= 0)
		em->image_served = 1;
	return mfd;
}

int
erofs_mount_attach(struct erofs_mount *em, const char *mountpoint, char *msg, size_t len)
{
	int mfd = erofs_mount_any(em, msg, len);

	if (mfd < 0)
		return -1;
	if (move_mount(mfd, "", AT_FDCWD, mountpoint, MOVE_MOUNT_F_EMPTY_PATH) != 0) {
		snprintf(msg, len, "attaching the tree at %s: %s", mountpoint, strerror(errno));
		close(mfd);
		return -1;
	}
	close(mfd);
	/* The kernel holds the files open now: the names they were reached
	 * by are no longer needed. */
	erofs_mount_release_layers(em);
	erofs_mount_unlink_image(em);
	erofs_mount_close_local(em);
	return 0;
}

uint64_t
erofs_tree_mount_id(const char *mountpoint)
{
	struct statx stx;

	if (statx(AT_FDCWD, mountpoint, AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &stx) != 0 ||
	    !(stx.stx_mask & STATX_MNT_ID))
		return 0;
	return stx.stx_mnt_id;
}

/* Whether mount mnt_id is in the table open as f (rewound here: the
 * rewind drops stdio's buffer, so each look reads the table anew). */
static int
mount_listed(FILE *f, uint64_t mnt_id)
{
	char line[4096];
	unsigned long long id;

	rewind(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "%llu ", &id) == 1 && id == mnt_id)
			return 1;
	return 0;
}

int
erofs_mount_wait_gone(uint64_t mnt_id, int (*stopped)(void *ctx), void *ctx)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	struct pollfd p;

	if (f == NULL || mnt_id == 0) {
		if (f != NULL)
			fclose(f);
		return 0;   /* cannot tell: as if gone */
	}
	p.fd = fileno(f);
	p.events = POLLPRI;
	/* The table signals POLLPRI|POLLERR when it changes. */
	while (mount_listed(f, mnt_id)) {
		if (stopped(ctx)) {
			fclose(f);
			return 1;
		}
		poll(&p, 1, 1000);
	}
	fclose(f);
	return 0;
}

static void
erofs_mount_unlink_image(struct erofs_mount *em)
{
	if (em->image_path[0] != '\0') {
		unlink(em->image_path);
		em->image_path[0] = '\0';
	}
}

void
erofs_mount_release_layers(struct erofs_mount *em)
{
	if (em->layers[0] != '\0') {
		umount2(em->layers, MNT_DETACH);
		rmdir(em->layers);
		em->layers[0] = '\0';
	}
}

void
erofs_mount_cleanup(struct erofs_mount *em)
{
	erofs_mount_release_layers(em);
	erofs_mount_unlink_image(em);
	erofs_mount_close_local(em);
	if (em->image_fd >= 0) {
		close(em->image_fd);
		em->image_fd = -1;
	}
}
