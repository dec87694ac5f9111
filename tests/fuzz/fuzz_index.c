/*
 * fuzz_index.c - libFuzzer target for the CLIP v2 index reader.
 *
 * The reader refuses any file whose SHA-256 does not match, which random
 * bytes never do, so the input is resealed first (digest recomputed the
 * way the writer does it) and the fuzzer gets to the structural checks.
 * An index that opens is then walked through every accessor the mounter
 * uses, and the walk checks what the reader promises about an accepted
 * file: every listed name is found again by lookup, every path built from
 * names resolves to its inode, ".." leads to the parent, every checkpoint
 * of a layer is found by offset, every chunk of a blob has its hash.
 * Then the EROFS writer writes the index's image to /dev/null.
 */
#include "config.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "common/erofs/erofs_write.h"
#include "common/format/index.h"
#include "tests/unit/testutil.h"
#include "tests/fuzz/fuzz.h"

#define PATH_MAX_WALK 4096

static uint8_t window[CLIP_WINDOW_SIZE];

/* Reads the byte after a string, which the format promises is a NUL. */
static void
touch(struct clip_str s)
{
	FUZZ_ASSERT(s.ptr != NULL && s.ptr[s.len] == '\0');
}

static void
walk_inode(const clip_index *idx, uint32_t ino)
{
	struct clip_stat st;
	struct clip_str s, v;
	uint32_t i;

	if (clip_index_stat(idx, ino, &st) != CLIP_OK)
		return;
	FUZZ_ASSERT(st.ino == ino);
	if (clip_index_readlink(idx, ino, &s) == CLIP_OK) {
		FUZZ_ASSERT(S_ISLNK(st.mode));
		touch(s);
	}
	for (i = 0; i < st.xattr_count; i++)
		if (clip_index_xattr(idx, ino, i, &s, &v) == CLIP_OK) {
			touch(s);
			touch(v);
		}
	clip_index_xattr(idx, ino, st.xattr_count, &s, &v);
}

/* Every entry of dir: looked up by name, and, for directories, walked
 * with its path, which must resolve back to it. */
static void
walk_dir(const clip_index *idx, uint32_t dir, char *path, size_t plen, unsigned depth)
{
	struct clip_dirent de;
	struct clip_stat st;
	uint32_t i, n = clip_index_dir_size(idx, dir), child, ino;

	for (i = 0; i < n; i++) {
		FUZZ_ASSERT(clip_index_readdir(idx, dir, i, &de) == CLIP_OK);
		touch(de.name);
		FUZZ_ASSERT(clip_index_lookup(idx, dir, de.name.ptr, de.name.len, &child) ==
		    CLIP_OK && child == de.ino);
		FUZZ_ASSERT(clip_index_stat(idx, de.ino, &st) == CLIP_OK &&
		    (st.mode & S_IFMT) == de.mode_type);
		if (plen + 1 + de.name.len + 4 > PATH_MAX_WALK || depth > 64)
			continue;
		path[plen] = '/';
		memcpy(path + plen + 1, de.name.ptr, de.name.len);
		path[plen + 1 + de.name.len] = '\0';
		FUZZ_ASSERT(clip_index_resolve(idx, path, &ino) == CLIP_OK && ino == de.ino);
		if (S_ISDIR(st.mode)) {
			memcpy(path + plen + 1 + de.name.len, "/..", 4);
			FUZZ_ASSERT(clip_index_resolve(idx, path, &ino) == CLIP_OK && ino == dir);
			walk_dir(idx, de.ino, path, plen + 1 + de.name.len, depth + 1);
		}
		path[plen] = '\0';
	}
	clip_index_readdir(idx, dir, n, &de);
}

/* Every chunk of the blob has a hash in the file, and no more. */
static void
walk_chunks(const clip_index *idx, uint32_t layer, uint64_t compressed_size)
{
	uint64_t size = clip_index_chunk_size(idx), n, k;
	volatile uint8_t sink;
	const uint8_t *h;

	if (size == 0) {
		FUZZ_ASSERT(clip_index_chunk_sha256(idx, layer, 0) == NULL);
		return;
	}
	n = compressed_size / size + (compressed_size % size != 0);
	for (k = 0; k < n; k++) {
		h = clip_index_chunk_sha256(idx, layer, k);
		FUZZ_ASSERT(h != NULL);
		sink = h[0];
		sink = h[31];
	}
	(void)sink;
	FUZZ_ASSERT(clip_index_chunk_sha256(idx, layer, n) == NULL);
}

static void
walk_layers(const clip_index *idx)
{
	struct clip_layer l;
	struct clip_checkpoint cp;
	uint32_t i, c, found;
	uint64_t offs[4];
	size_t k;

	for (i = 0; i <= clip_index_layer_count(idx); i++) {
		if (clip_index_layer(idx, i, &l) != CLIP_OK)
			continue;
		touch(l.digest);
		touch(l.media_type);
		for (c = 0; c < l.checkpoint_count; c++) {
			if (clip_index_checkpoint(idx, i, c, &cp) != CLIP_OK)
				continue;
			FUZZ_ASSERT(cp.span_start <= cp.span_end && cp.out_offset <= cp.out_end);
			clip_index_window(&cp, window, NULL);
			if (cp.out_offset < cp.out_end) {
				FUZZ_ASSERT(clip_index_find_checkpoint(idx, i, cp.out_offset,
				    &found) == CLIP_OK && found == c);
				FUZZ_ASSERT(clip_index_find_checkpoint(idx, i, cp.out_end - 1,
				    &found) == CLIP_OK && found == c);
			}
		}
		clip_index_checkpoint(idx, i, l.checkpoint_count, &cp);
		offs[0] = 0;
		offs[1] = l.uncompressed_size / 2;
		offs[2] = l.uncompressed_size;
		offs[3] = UINT64_MAX;
		for (k = 0; k < 4; k++)
			clip_index_find_checkpoint(idx, i, offs[k], &found);
		walk_chunks(idx, i, l.compressed_size);
	}
	FUZZ_ASSERT(clip_index_chunk_sha256(idx, clip_index_layer_count(idx), 0) == NULL);
}

/* The EROFS writer takes any index that opens: it writes an image or
 * fails with an error, never more than the index's entries justify. */
static void
write_erofs(const clip_index *idx)
{
	struct clip_erofs_info info;
	struct clip_error err;
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (clip_erofs_write(idx, fd, NULL, &info, &err) == CLIP_OK)
		FUZZ_ASSERT(info.image_size % 512 == 0 &&
		    info.inode_count == clip_index_inode_count(idx));
	close(fd);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const paths[] = { "/", "", ".", "..", "/..", "/etc/../etc/./passwd",
		"usr/bin", "//a//b/", "/a/b/c/d/e/f/g", "/\xff" };
	struct clip_section_info si;
	struct clip_index_image im;
	struct clip_error err;
	clip_index *idx = NULL;
	char path[PATH_MAX_WALK];
	uint32_t i, ino;
	uint8_t *buf;

	/* malloc() is 16-aligned, as the reader requires of a buffer. */
	buf = malloc(size ? size : 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	if (size >= sizeof(struct clip_disk_header))
		test_reseal(buf, size);
	if (clip_index_open_buffer(buf, size, &idx, &err) != CLIP_OK) {
		FUZZ_ASSERT(idx == NULL);
		free(buf);
		return 0;
	}
	for (i = 0; i <= clip_index_section_count(idx); i++)
		if (clip_index_section(idx, i, &si) == CLIP_OK)
			(void)clip_section_name(si.type);
	(void)clip_index_dirent_count(idx);
	(void)clip_index_checkpoint_count(idx);
	(void)clip_index_file_size(idx);
	(void)clip_index_version_minor(idx);
	for (ino = 0; ino <= clip_index_inode_count(idx) + 1; ino++)
		walk_inode(idx, ino);
	path[0] = '\0';
	walk_dir(idx, CLIP_ROOT_INO, path, 0, 0);
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		clip_index_resolve(idx, paths[i], &ino);
	FUZZ_ASSERT(clip_index_resolve(idx, "/", &ino) == CLIP_OK && ino == CLIP_ROOT_INO);
	walk_layers(idx);
	clip_index_image(idx, &im);
	touch(im.source_ref);
	touch(im.storage_registry);
	touch(im.storage_repository);
	touch(im.manifest_digest);
	touch(im.manifest_media_type);
	touch(im.config_digest);
	touch(im.os);
	touch(im.architecture);
	touch(im.variant);
	touch(im.config_json);
	write_erofs(idx);
	clip_index_close(idx);
	free(buf);
	return 0;
}
