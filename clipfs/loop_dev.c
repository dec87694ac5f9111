/*
 * loop_dev.c - read-only, self-detaching loop devices (loop_dev.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "clipfs/loop_dev.h"

#define LOOP_CONTROL "/dev/loop-control"
/* Another program may take the free device between asking for it and
 * configuring it: try a few. */
#define LOOP_TRIES 8

int
loop_available(void)
{
	return access(LOOP_CONTROL, R_OK | W_OK) == 0;
}

/* LOOP_CONFIGURE (Linux 5.8) sets the file and the flags in one step,
 * so a device is never seen half set up. */
static int
loop_configure(int dev_fd, int backing_fd)
{
	struct loop_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = (unsigned int)backing_fd;
	cfg.block_size = 512;
	cfg.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO;
	return ioctl(dev_fd, LOOP_CONFIGURE, &cfg);
}

int
loop_attach(int backing_fd, char *name, size_t len)
{
	int ctl, dev_fd = -1, n, tries, saved;

	if ((ctl = open(LOOP_CONTROL, O_RDWR | O_CLOEXEC)) < 0)
		return -1;
	for (tries = 0; tries < LOOP_TRIES; tries++) {
		if ((n = ioctl(ctl, LOOP_CTL_GET_FREE)) < 0)
			break;
		snprintf(name, len, "/dev/loop%d", n);
		if ((dev_fd = open(name, O_RDONLY | O_CLOEXEC)) < 0)
			break;
		if (loop_configure(dev_fd, backing_fd) == 0)
			break;
		saved = errno;
		close(dev_fd);
		dev_fd = -1;
		errno = saved;
		if (errno != EBUSY)
			break;
	}
	saved = errno;
	close(ctl);
	errno = saved;
	return dev_fd;
}
