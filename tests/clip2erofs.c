/*
 * clip2erofs.c - test tool: the EROFS image of a CLIP index.
 *
 *   clip2erofs [--max-chunk-bits N] INDEX OUT
 *
 * Writes the image clip_erofs_write() makes to OUT (through a temporary
 * file and a rename), then prints to stdout one "key=value" line per
 * fact (image_size, inodes, meta_bytes, data_blocks, chunk_indexes,
 * devices, ms: the writer's time) and one "device K SIZE DIGEST" line per
 * layer: the size its device file must have (the uncompressed layer
 * padded with zeros to a whole block) and the layer's blob digest.
 * CLIP_EROFS_TEST_SKEW_MTIME=1 in the environment sets the writer's
 * test_skew_mtime (every regular file's mtime 1 ns off), for the
 * negative control of tests/erofs.test.
 * Exit 0 on success, 1 on any error (message on stderr), 2 on bad usage.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/erofs/erofs_write.h"
#include "common/format/index.h"

static int
usage(void)
{
	fprintf(stderr, "usage: clip2erofs [--max-chunk-bits N] INDEX OUT\n");
	return 2;
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void
print_info(const clip_index *idx, const struct clip_erofs_info *info, double ms)
{
	uint32_t i;

	printf("image_size=%llu\ninodes=%llu\nmeta_bytes=%llu\ndata_blocks=%llu\n"
	    "chunk_indexes=%llu\ndevices=%u\nms=%.1f\n",
	    (unsigned long long)info->image_size, (unsigned long long)info->inode_count,
	    (unsigned long long)info->meta_bytes, (unsigned long long)info->data_blocks,
	    (unsigned long long)info->chunk_indexes, info->device_count, ms);
	for (i = 0; i < info->device_count; i++) {
		struct clip_layer l;
		if (clip_index_layer(idx, i, &l) != CLIP_OK)
			continue;
		printf("device %u %llu %.*s\n", i + 1,
		    (unsigned long long)clip_erofs_device_size(idx, i),
		    (int)l.digest.len, l.digest.ptr);
	}
}

static int
write_image(const clip_index *idx, const char *out, const struct clip_erofs_opts *opts)
{
	struct clip_erofs_info info;
	struct clip_error err = { 0 };
	size_t n = strlen(out) + 8;
	char *tmp = malloc(n);
	double t0;
	int fd, rc = 1;

	if (!tmp)
		return 1;
	snprintf(tmp, n, "%s.tmp", out);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		perror(tmp);
		free(tmp);
		return 1;
	}
	t0 = now_ms();
	if (clip_erofs_write(idx, fd, opts, &info, &err) != CLIP_OK)
		fprintf(stderr, "clip2erofs: %s\n", clip_error_message(&err));
	else if (close(fd) != 0 || (fd = -1, rename(tmp, out) != 0))
		perror(out);
	else
		rc = 0;
	if (rc == 0)
		print_info(idx, &info, now_ms() - t0);
	else
		unlink(tmp);
	if (fd >= 0)
		close(fd);
	free(tmp);
	return rc;
}

int
main(int argc, char **argv)
{
	struct clip_erofs_opts opts = { 0 };
	struct clip_error err = { 0 };
	clip_index *idx;
	const char *skew = getenv("CLIP_EROFS_TEST_SKEW_MTIME");
	int a = 1, rc;

	if (argc > 2 && strcmp(argv[1], "--max-chunk-bits") == 0) {
		opts.max_chunk_bits = (unsigned)atoi(argv[2]);
		a = 3;
	}
	if (argc - a != 2)
		return usage();
	opts.test_skew_mtime = skew && strcmp(skew, "1") == 0;
	if (clip_index_open(argv[a], &idx, &err) != CLIP_OK) {
		fprintf(stderr, "clip2erofs: %s: %s\n", argv[a], clip_error_message(&err));
		return 1;
	}
	rc = write_image(idx, argv[a + 1], &opts);
	clip_index_close(idx);
	return rc;
}
