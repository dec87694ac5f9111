/*
 * test_index.c - the CLIP v2 writer and reader: a round trip of a tree
 * with every field type, byte-identical output, and damaged or hostile
 * files (every truncation, bit flips, structural lies with a valid
 * checksum) that must be refused, never crash.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <openssl/evp.h>

#include "common/format/index.h"
#include "common/format/index_write.h"
#include "tests/unit/testutil.h"
#include "tests/unit/test.h"
#include "tests/unit/zoo.h"

#define BIG_SIZE ZOO_BIG_SIZE
#define window_a zoo_window
#define xval_bin zoo_xattr_value
#define build zoo_build

/* A malloc'ed, 8-aligned copy of the reference index. */
static uint8_t *
make_index(size_t *len, struct clip_error *err)
{
	clip_writer *w = NULL;
	uint8_t *buf = NULL;

	if (clip_writer_new(&w, err) == CLIP_OK && build(w, err) == CLIP_OK)
		clip_writer_finish(w, &buf, len, err);
	clip_writer_free(w);
	return buf;
}

static int
str_eq(struct clip_str s, const void *want, size_t len)
{
	return s.len == len && memcmp(s.ptr, want, len) == 0 && s.ptr[len] == '\0';
}

TEST(test_round_trip)
{
	struct clip_error err;
	struct clip_stat st;
	struct clip_str s, v;
	struct clip_layer l;
	struct clip_checkpoint cp;
	struct clip_index_image im;
	struct clip_dirent de, prev = { { NULL, 0 }, 0, 0 };
	uint8_t win[CLIP_WINDOW_SIZE];
	clip_index *idx = NULL;
	uint8_t *buf;
	size_t len;
	uint32_t ino, i;
	char name[256];

	buf = make_index(&len, &err);
	CHECK_MSG(buf != NULL, "%s", clip_error_message(&err));
	CHECK_OK(clip_index_open_buffer(buf, len, &idx, &err), &err);
	CHECK(clip_index_inode_count(idx) == 31);
	CHECK(clip_index_layer_count(idx) == 2);

	/* Root: 2 + subdirectories (etc, d). */
	CHECK(clip_index_stat(idx, CLIP_ROOT_INO, &st) == CLIP_OK);
	CHECK(st.mode == (S_IFDIR | 0755) && st.nlink == 4 && st.parent == 1);
	CHECK(clip_index_dir_size(idx, 1) == 11);
	for (i = 0; i < clip_index_dir_size(idx, 1); i++) {
		CHECK(clip_index_readdir(idx, 1, i, &de) == CLIP_OK);
		if (i > 0)
			CHECK(clip_name_cmp(prev.name.ptr, prev.name.len, de.name.ptr, de.name.len) < 0);
		CHECK(clip_index_lookup(idx, 1, de.name.ptr, de.name.len, &ino) == CLIP_OK);
		CHECK(ino == de.ino);
		CHECK(clip_index_stat(idx, ino, &st) == CLIP_OK && (st.mode & S_IFMT) == de.mode_type);
		prev = de;
	}

	CHECK(clip_index_resolve(idx, "/etc/big", &ino) == CLIP_OK && ino == 3);
	CHECK(clip_index_stat(idx, ino, &st) == CLIP_OK);
	CHECK(st.mode == (S_IFREG | 04755) && st.nlink == 2);
	CHECK(st.uid == 1000 && st.gid == 100000 && st.size == BIG_SIZE);
	CHECK(st.mtime_sec == -5 && st.mtime_nsec == 999999999);
	CHECK(st.layer == 0 && st.data_offset == 512 && st.xattr_count == 2);
	CHECK(clip_index_resolve(idx, "hardlink", &ino) == CLIP_OK && ino == 3);
	CHECK(clip_index_xattr(idx, 3, 0, &s, &v) == CLIP_OK);
	CHECK(str_eq(s, "security.capability", 19) && str_eq(v, "cap", 3));
	CHECK(clip_index_xattr(idx, 3, 1, &s, &v) == CLIP_OK);
	CHECK(str_eq(s, "user.bin", 8) && str_eq(v, xval_bin, sizeof(xval_bin)));
	CHECK(clip_index_xattr(idx, 3, 2, &s, &v) == CLIP_ERR_INVALID);
	CHECK(clip_index_xattr(idx, 4, 1, &s, &v) == CLIP_OK && str_eq(v, xval_bin, sizeof(xval_bin)));

	CHECK(clip_index_resolve(idx, "/etc", &ino) == CLIP_OK && ino == 2);
	CHECK(clip_index_stat(idx, 2, &st) == CLIP_OK);
	CHECK(st.mode == (S_IFDIR | 01777) && st.uid == 7 && st.gid == 8 && st.nlink == 2);
	CHECK(clip_index_stat(idx, 4, &st) == CLIP_OK && st.mode == (S_IFREG | 02644));
	CHECK(clip_index_readlink(idx, 5, &s) == CLIP_OK && str_eq(s, "../does/not/exist", 17));
	CHECK(clip_index_stat(idx, 5, &st) == CLIP_OK && st.size == 17 && st.nlink == 1);
	CHECK(clip_index_readlink(idx, 4, &s) == CLIP_ERR_INVALID);
	CHECK(clip_index_stat(idx, 6, &st) == CLIP_OK && st.mode == (S_IFCHR | 0666));
	CHECK(st.rdev_major == 1 && st.rdev_minor == 3);
	CHECK(clip_index_stat(idx, 7, &st) == CLIP_OK && st.mode == (S_IFBLK | 0660));
	CHECK(st.rdev_major == 259 && st.rdev_minor == 70000);
	CHECK(clip_index_stat(idx, 8, &st) == CLIP_OK && st.mode == (S_IFIFO | 0600));
	CHECK(clip_index_stat(idx, 9, &st) == CLIP_OK && st.mode == (S_IFSOCK | 0600));
	memset(name, 'n', 250);
	CHECK(clip_index_lookup(idx, 1, name, 250, &ino) == CLIP_OK && ino == 10);
	CHECK(clip_index_lookup(idx, 1, name, 249, &ino) == CLIP_ERR_NOTFOUND && ino == 0);
	CHECK(clip_index_lookup(idx, 1, "caf\xe9\xff", 5, &ino) == CLIP_OK && ino == 11);
	CHECK(clip_index_resolve(idx, "/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d", &ino) == CLIP_OK);
	CHECK(ino == 31 && clip_index_dir_size(idx, 31) == 0);
	CHECK(clip_index_resolve(idx, "/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d", &ino) ==
	    CLIP_ERR_NOTFOUND);
	CHECK(clip_index_resolve(idx, "/etc/big/x", &ino) == CLIP_ERR_NOTFOUND);
	CHECK(clip_index_stat(idx, 0, &st) == CLIP_ERR_INVALID);
	CHECK(clip_index_stat(idx, 32, &st) == CLIP_ERR_INVALID);

	CHECK(clip_index_layer(idx, 0, &l) == CLIP_OK);
	CHECK(str_eq(l.digest, "sha256:1111111111111111111111111111111111111111111111111111111111111111", 71));
	CHECK(l.compression == CLIP_COMPRESSION_GZIP && l.checkpoint_count == 3);
	CHECK(l.uncompressed_size == BIG_SIZE + 4096 && l.compressed_size == 3000000);
	CHECK(clip_index_checkpoint(idx, 0, 0, &cp) == CLIP_OK);
	CHECK(cp.kind == CLIP_CHECKPOINT_MEMBER && cp.span_start == 0 && cp.span_end == 1000017);
	CHECK(cp.window_len == 0 && cp.out_end == BIG_SIZE / 2);
	CHECK(clip_index_checkpoint(idx, 0, 2, &cp) == CLIP_OK);
	CHECK(cp.bits == 4 && cp.in_offset == 2000017 && cp.span_start == 2000016);
	CHECK(cp.span_end == 3000000 && cp.out_end == BIG_SIZE + 4096);
	CHECK(cp.span_sha256[0] == 0xa2 && cp.window_len == CLIP_WINDOW_SIZE - 2);
	CHECK_OK(clip_index_window(&cp, win, &err), &err);
	CHECK(memcmp(win, window_a, cp.window_len) == 0);
	CHECK(cp.window_zlen < cp.window_len);
	CHECK(clip_index_find_checkpoint(idx, 0, 0, &i) == CLIP_OK && i == 0);
	CHECK(clip_index_find_checkpoint(idx, 0, BIG_SIZE / 2 - 1, &i) == CLIP_OK && i == 0);
	CHECK(clip_index_find_checkpoint(idx, 0, BIG_SIZE / 2, &i) == CLIP_OK && i == 1);
	CHECK(clip_index_find_checkpoint(idx, 0, BIG_SIZE + 4095, &i) == CLIP_OK && i == 2);
	CHECK(clip_index_find_checkpoint(idx, 0, BIG_SIZE + 4096, &i) == CLIP_ERR_INVALID);
	CHECK(clip_index_layer(idx, 1, &l) == CLIP_OK && l.compression == CLIP_COMPRESSION_NONE);
	CHECK(clip_index_checkpoint(idx, 1, 0, &cp) == CLIP_OK && cp.kind == CLIP_CHECKPOINT_STORED);
	CHECK(cp.span_end == 10240 && cp.out_end == 10240);
	CHECK(clip_index_layer(idx, 2, &l) == CLIP_ERR_INVALID);

	CHECK(clip_index_chunk_size(idx) == 65536);
	for (i = 0; i < ZOO_CHUNKS0; i++)
		CHECK(clip_index_chunk_sha256(idx, 0, i) != NULL &&
		    memcmp(clip_index_chunk_sha256(idx, 0, i), zoo_chunks + i * 32, 32) == 0);
	CHECK(clip_index_chunk_sha256(idx, 0, ZOO_CHUNKS0) == NULL);
	CHECK(clip_index_chunk_sha256(idx, 1, 0) != NULL &&
	    memcmp(clip_index_chunk_sha256(idx, 1, 0), zoo_chunks + ZOO_CHUNKS0 * 32, 32) == 0);
	CHECK(clip_index_chunk_sha256(idx, 1, 1) == NULL);
	CHECK(clip_index_chunk_sha256(idx, 2, 0) == NULL);
	CHECK(clip_index_chunk_sha256(idx, 0, UINT64_MAX) == NULL);

	clip_index_image(idx, &im);
	CHECK(str_eq(im.source_ref, "oci:/tmp/layout:v1", 18));
	CHECK(str_eq(im.storage_registry, "127.0.0.1:5000", 14));
	CHECK(str_eq(im.storage_repository, "test/zoo", 8));
	CHECK(str_eq(im.variant, "v8", 2) && str_eq(im.architecture, "arm64", 5));
	CHECK(str_eq(im.config_json, "{\"Cmd\":[\"/bin/sh\"]}", 19));
	CHECK(im.storage_flags == CLIP_STORAGE_PLAIN_HTTP);
	clip_index_close(idx);
	free(buf);
}

TEST(test_deterministic_and_file)
{
	struct clip_error err;
	clip_writer *w = NULL;
	clip_index *idx = NULL;
	uint8_t *a, *b;
	size_t alen, blen;
	FILE *f;
	char disk[1 << 16];
	size_t n;

	a = make_index(&alen, &err);
	b = make_index(&blen, &err);
	CHECK(a != NULL && b != NULL);
	CHECK(alen == blen && memcmp(a, b, alen) == 0);
	CHECK(alen % 8 == 0);

	CHECK_OK(clip_writer_new(&w, &err), &err);
	CHECK_OK(build(w, &err), &err);
	CHECK_OK(clip_writer_write_file(w, "out.clip", &err), &err);
	clip_writer_free(w);
	f = fopen("out.clip", "rb");
	CHECK(f != NULL);
	n = fread(disk, 1, sizeof(disk), f);
	fclose(f);
	CHECK(n == alen && memcmp(disk, a, alen) == 0);
	CHECK_OK(clip_index_open("out.clip", &idx, &err), &err);
	clip_index_close(idx);
	CHECK(clip_index_open("missing.clip", &idx, &err) == CLIP_ERR_IO && idx == NULL);
	CHECK(strstr(clip_error_message(&err), "missing.clip") != NULL);
	free(a);
	free(b);
}

TEST(test_writer_refuses_bad_trees)
{
	struct clip_error err;
	struct clip_inode_attr a = { .mode = S_IFDIR | 0755 };
	clip_writer *w = NULL;
	uint8_t *buf = NULL;
	size_t len;
	uint32_t root, d, f;

	CHECK_OK(clip_writer_new(&w, &err), &err);
	a.mode = S_IFREG | 0644;
	CHECK(clip_writer_add_inode(w, &a, &root, &err) == CLIP_ERR_INVALID);
	a.mode = S_IFDIR | 0755;
	CHECK_OK(clip_writer_add_inode(w, &a, &root, &err), &err);
	CHECK_OK(clip_writer_add_inode(w, &a, &d, &err), &err);
	CHECK(clip_writer_add_dirent(w, root, "..", 2, d, &err) == CLIP_ERR_INVALID);
	CHECK(clip_writer_add_dirent(w, root, "a/b", 3, d, &err) == CLIP_ERR_INVALID);
	CHECK(clip_writer_add_dirent(w, root, "x", 1, root, &err) == CLIP_ERR_INVALID);
	CHECK_OK(clip_writer_add_dirent(w, root, "d", 1, d, &err), &err);
	CHECK(clip_writer_add_dirent(w, root, "d2", 2, d, &err) == CLIP_ERR_INVALID);
	a.mode = S_IFREG | 0644;
	CHECK_OK(clip_writer_add_inode(w, &a, &f, &err), &err);
	CHECK(clip_writer_add_dirent(w, f, "x", 1, d, &err) == CLIP_ERR_INVALID);
	/* f is not named yet. */
	CHECK(clip_writer_finish(w, &buf, &len, &err) == CLIP_ERR_INVALID && buf == NULL);
	CHECK_OK(clip_writer_add_dirent(w, d, "f", 1, f, &err), &err);
	CHECK_OK(clip_writer_add_dirent(w, d, "f", 1, f, &err), &err);
	CHECK(clip_writer_finish(w, &buf, &len, &err) == CLIP_ERR_INVALID);
	CHECK(strstr(clip_error_message(&err), "two entries") != NULL);
	clip_writer_free(w);
}

/* Touches everything an accepted index offers, as the mounter would. */
static void
walk_all(const clip_index *idx)
{
	uint8_t win[CLIP_WINDOW_SIZE];
	struct clip_stat st;
	struct clip_dirent de;
	struct clip_str s, v;
	struct clip_layer l;
	struct clip_checkpoint cp;
	struct clip_index_image im;
	volatile unsigned sum = 0;
	uint32_t ino, i, c;
	uint64_t k;

	for (ino = 1; ino <= clip_index_inode_count(idx); ino++) {
		if (clip_index_stat(idx, ino, &st) != CLIP_OK)
			continue;
		for (i = 0; i < clip_index_dir_size(idx, ino); i++)
			if (clip_index_readdir(idx, ino, i, &de) == CLIP_OK) {
				sum += (unsigned char)de.name.ptr[de.name.len];
				clip_index_lookup(idx, ino, de.name.ptr, de.name.len, &c);
			}
		if (clip_index_readlink(idx, ino, &s) == CLIP_OK)
			sum += (unsigned char)s.ptr[s.len];
		for (i = 0; i < st.xattr_count; i++)
			if (clip_index_xattr(idx, ino, i, &s, &v) == CLIP_OK)
				sum += (unsigned char)v.ptr[v.len];
	}
	for (i = 0; i < clip_index_layer_count(idx); i++) {
		if (clip_index_layer(idx, i, &l) != CLIP_OK)
			continue;
		for (c = 0; c < l.checkpoint_count; c++)
			if (clip_index_checkpoint(idx, i, c, &cp) == CLIP_OK)
				clip_index_window(&cp, win, NULL);
		for (k = 0; clip_index_chunk_size(idx) != 0 &&
		    k <= l.compressed_size / clip_index_chunk_size(idx); k++) {
			const uint8_t *h = clip_index_chunk_sha256(idx, i, k);
			if (h != NULL)
				sum += h[0] + h[31];
		}
	}
	clip_index_image(idx, &im);
	sum += (unsigned char)im.config_json.ptr[im.config_json.len];
	(void)sum;
}

TEST(test_every_truncation_fails)
{
	struct clip_error err;
	clip_index *idx = NULL;
	uint8_t *buf, *copy;
	size_t len, n;

	buf = make_index(&len, &err);
	CHECK(buf != NULL);
	copy = malloc(len);
	CHECK(copy != NULL);
	for (n = 0; n < len; n++) {
		memcpy(copy, buf, n);
		CHECK_MSG(clip_index_open_buffer(copy, n, &idx, &err) != CLIP_OK && idx == NULL,
		    "truncated to %zu of %zu bytes was accepted", n, len);
	}
	free(copy);
	free(buf);
}

TEST(test_bit_flips_fail)
{
	struct clip_error err;
	clip_index *idx = NULL;
	uint8_t *buf, *copy;
	size_t len, bit;

	buf = make_index(&len, &err);
	CHECK(buf != NULL);
	copy = malloc(len);
	CHECK(copy != NULL);
	/* Every bit of the header and section table, then every 7th bit;
	 * the checksum covers them all, the version fields included. */
	for (bit = 0; bit < len * 8; bit += bit < 8 * 300 ? 1 : 7) {
		size_t byte = bit / 8;
		memcpy(copy, buf, len);
		copy[byte] ^= (uint8_t)(1u << (bit % 8));
		CHECK_MSG(clip_index_open_buffer(copy, len, &idx, &err) != CLIP_OK && idx == NULL,
		    "bit %zu flipped was accepted", bit);
	}
	free(copy);
	free(buf);
}

/* The file under test, its section table, and a way to find a section. */
static struct clip_disk_section *
section(uint8_t *buf, uint32_t type)
{
	struct clip_disk_header *h = (void *)buf;
	struct clip_disk_section *s = (void *)(buf + h->header_size);
	uint32_t i;

	for (i = 0; i < h->section_count; i++)
		if (s[i].type == type)
			return &s[i];
	return NULL;
}

static struct clip_disk_inode *
inode(uint8_t *buf, uint32_t ino)
{
	return (void *)(buf + section(buf, CLIP_SECTION_INODES)->offset +
	    (ino - 1) * sizeof(struct clip_disk_inode));
}

/* Applies one lie, reseals, and expects the reader to refuse it. */
static int
refused(const uint8_t *good, size_t len, void (*lie)(uint8_t *), clip_err want,
    struct clip_error *err)
{
	uint8_t *copy = malloc(len);
	clip_index *idx = NULL;
	clip_err rc;

	memcpy(copy, good, len);
	lie(copy);
	test_reseal(copy, len);
	rc = clip_index_open_buffer(copy, len, &idx, err);
	clip_index_close(idx);
	free(copy);
	return rc == want && idx == NULL;
}

/* The deepest directory lists root's entry "d" (third by name): a loop. */
static void lie_loop(uint8_t *b) { inode(b, 31)->a = inode(b, 1)->a + 2; inode(b, 31)->b = 1; }
static void lie_root_child(uint8_t *b)
{
	struct clip_disk_dirent *d = (void *)(b + section(b, CLIP_SECTION_DIRENTS)->offset);
	d[0].ino = 1;
}
static void lie_ino_range(uint8_t *b)
{
	struct clip_disk_dirent *d = (void *)(b + section(b, CLIP_SECTION_DIRENTS)->offset);
	d[0].ino = 1000;
}
static void lie_unsorted(uint8_t *b)
{
	struct clip_disk_dirent *d = (void *)(b + section(b, CLIP_SECTION_DIRENTS)->offset);
	struct clip_disk_dirent t = d[0];
	d[0] = d[1];
	d[1] = t;
}
static void lie_dirent_count(uint8_t *b) { inode(b, 1)->b = 0xffffffffu; }
static void lie_section_overlap(uint8_t *b) { section(b, CLIP_SECTION_DIRENTS)->length += 1200; }
static void lie_section_past_end(uint8_t *b) { section(b, CLIP_SECTION_IMAGE)->length += 8 * 88; }
static void lie_section_overlap_table(uint8_t *b) { section(b, CLIP_SECTION_STRINGS)->offset = 8; }
static void lie_string(uint8_t *b) { inode(b, 5)->a = 0xfffffff0u; }
static void lie_string_no_nul(uint8_t *b) { inode(b, 5)->b -= 1; inode(b, 5)->size -= 1; }
static void lie_layer(uint8_t *b) { inode(b, 3)->a = 9; }
static void lie_data_past_layer(uint8_t *b) { inode(b, 3)->c = BIG_SIZE; }
static void lie_checkpoint_order(uint8_t *b)
{
	struct clip_disk_checkpoint *c = (void *)(b + section(b, CLIP_SECTION_CHECKPOINTS)->offset);
	c[2].out_offset = c[1].out_offset;
}
static void lie_window(uint8_t *b)
{
	struct clip_disk_checkpoint *c = (void *)(b + section(b, CLIP_SECTION_CHECKPOINTS)->offset);
	c[1].window_off = 1u << 30;
}
static void lie_type(uint8_t *b) { inode(b, 8)->mode = 0170644; }
static void lie_dup_section(uint8_t *b) { section(b, CLIP_SECTION_WINDOWS)->type = CLIP_SECTION_DIRENTS; }
static void lie_required_unknown(uint8_t *b) { section(b, CLIP_SECTION_WINDOWS)->type = 77; }
static void lie_version_3(uint8_t *b) { ((struct clip_disk_header *)b)->version_major = 3; }
static void lie_version_1(uint8_t *b) { ((struct clip_disk_header *)b)->version_major = 1; }
static void lie_xattr_set(uint8_t *b) { inode(b, 3)->xattr_set = 50; }
static void lie_nsec(uint8_t *b) { inode(b, 3)->mtime_nsec = 1000000000; }
static void lie_count(uint8_t *b) { ((struct clip_disk_header *)b)->section_count = 0x7fffffff; }
static struct clip_disk_chunks_header *
chunks_hdr(uint8_t *b)
{
	return (void *)(b + section(b, CLIP_SECTION_CHUNKS)->offset);
}
static uint64_t *
chunks_first(uint8_t *b)
{
	return (void *)(b + section(b, CLIP_SECTION_CHUNKS)->offset + 8);
}
static void lie_chunks_one_hash_less(uint8_t *b) { section(b, CLIP_SECTION_CHUNKS)->length -= 32; }
static void lie_chunks_ragged(uint8_t *b) { section(b, CLIP_SECTION_CHUNKS)->length -= 8; }
static void lie_chunks_header_only(uint8_t *b) { section(b, CLIP_SECTION_CHUNKS)->length = 8; }
static void lie_chunks_empty(uint8_t *b) { section(b, CLIP_SECTION_CHUNKS)->length = 0; }
static void lie_chunks_first0(uint8_t *b) { chunks_first(b)[0] = 1; }
static void lie_chunks_first1(uint8_t *b) { chunks_first(b)[1] = ZOO_CHUNKS0 - 1; }
static void lie_chunks_first_huge(uint8_t *b) { chunks_first(b)[1] = UINT64_MAX; }
static void lie_chunks_shift_low(uint8_t *b) { chunks_hdr(b)->chunk_shift = 11; }
static void lie_chunks_shift_high(uint8_t *b) { chunks_hdr(b)->chunk_shift = 25; }
static void lie_chunks_shift_other(uint8_t *b) { chunks_hdr(b)->chunk_shift = 17; }
static void lie_chunks_layers_less(uint8_t *b) { chunks_hdr(b)->layer_count = 1; }
static void lie_chunks_layers_more(uint8_t *b) { chunks_hdr(b)->layer_count = 3; }
static void lie_chunks_layers_huge(uint8_t *b) { chunks_hdr(b)->layer_count = 0xffffffffu; }
static void lie_chunks_layer_size(uint8_t *b)
{
	struct clip_disk_layer *l = (void *)(b + section(b, CLIP_SECTION_LAYERS)->offset);
	l[0].compressed_size += 65536;
}
static void lie_chunks_overlap(uint8_t *b)
{
	section(b, CLIP_SECTION_CHUNKS)->offset = section(b, CLIP_SECTION_WINDOWS)->offset;
}
static void lie_chunks_twice(uint8_t *b) { section(b, CLIP_SECTION_IMAGE)->type = CLIP_SECTION_CHUNKS; }

TEST(test_structural_lies_refused)
{
	struct clip_error err;
	uint8_t *buf;
	size_t len;

	buf = make_index(&len, &err);
	CHECK(buf != NULL);
#define REFUSED(lie, code) CHECK_MSG(refused(buf, len, lie, code, &err), "%s: %s", #lie, \
	clip_error_message(&err))
	REFUSED(lie_loop, CLIP_ERR_FORMAT);
	REFUSED(lie_root_child, CLIP_ERR_FORMAT);
	REFUSED(lie_ino_range, CLIP_ERR_FORMAT);
	REFUSED(lie_unsorted, CLIP_ERR_FORMAT);
	REFUSED(lie_dirent_count, CLIP_ERR_FORMAT);
	REFUSED(lie_section_past_end, CLIP_ERR_FORMAT);
	REFUSED(lie_section_overlap, CLIP_ERR_FORMAT);
	REFUSED(lie_section_overlap_table, CLIP_ERR_FORMAT);
	REFUSED(lie_string, CLIP_ERR_FORMAT);
	REFUSED(lie_string_no_nul, CLIP_ERR_FORMAT);
	REFUSED(lie_layer, CLIP_ERR_FORMAT);
	REFUSED(lie_data_past_layer, CLIP_ERR_FORMAT);
	REFUSED(lie_checkpoint_order, CLIP_ERR_FORMAT);
	REFUSED(lie_window, CLIP_ERR_FORMAT);
	REFUSED(lie_type, CLIP_ERR_FORMAT);
	REFUSED(lie_dup_section, CLIP_ERR_FORMAT);
	REFUSED(lie_required_unknown, CLIP_ERR_VERSION);
	REFUSED(lie_version_3, CLIP_ERR_VERSION);
	REFUSED(lie_version_1, CLIP_ERR_VERSION);
	REFUSED(lie_xattr_set, CLIP_ERR_FORMAT);
	REFUSED(lie_nsec, CLIP_ERR_FORMAT);
	REFUSED(lie_count, CLIP_ERR_FORMAT);
	REFUSED(lie_chunks_one_hash_less, CLIP_ERR_FORMAT);
	REFUSED(lie_chunks_ragged, CLIP_ERR_FORMAT);
	REFUSED(lie_chunks_header_only, CLIP_ERR_FORMAT);
	REFUSED(lie_chunks_empty, CLIP_ERR_FORMAT);
	REFUSED(lie_chunks_first0, CLIP_ERR_FORMAT);
	REFUSED(lie_chunks_first1, CLIP_ERR_FORMAT);
	REFUSED(lie_chunks_first_huge, CLIP_ERR_FORMAT);
	REFUSED(lie_chunks_shift_low, CLIP_ERR_FORMAT);
	REFUSED(lie_chunks_shift_high, CLIP_ERR_FORMAT);
	REFUSED(lie_chunks_shift_other, CLIP_ERR_FORMAT);
	REFUSED(lie_chunks_layers_less, CLIP_ERR_FORMAT);
	REFUSED(lie_chunks_layers_more, CLIP_ERR_FORMAT);
	REFUSED(lie_chunks_layers_huge, CLIP_ERR_FORMAT);
	REFUSED(lie_chunks_layer_size, CLIP_ERR_FORMAT);
	REFUSED(lie_chunks_overlap, CLIP_ERR_FORMAT);
	REFUSED(lie_chunks_twice, CLIP_ERR_FORMAT);
	CHECK(refused(buf, len, lie_chunks_first1, CLIP_ERR_FORMAT, &err));
	CHECK(strstr(clip_error_message(&err), "chunks section") != NULL);
	CHECK(refused(buf, len, lie_version_3, CLIP_ERR_VERSION, &err));
	CHECK(strstr(clip_error_message(&err), "newer") != NULL);
#undef REFUSED
	free(buf);
}

/* A copy of the index with one more section table entry of an unknown
 * type, with or without CLIP_SECTION_REQUIRED. */
static uint8_t *
with_extra_section(const uint8_t *buf, size_t len, uint32_t flags, size_t *nlen)
{
	const struct clip_disk_header *h = (const void *)buf;
	size_t table_end = h->header_size + h->section_count * sizeof(struct clip_disk_section);
	size_t extra = sizeof(struct clip_disk_section);
	uint8_t *out = calloc(1, len + extra);
	struct clip_disk_header *nh = (void *)out;
	struct clip_disk_section *s;
	uint32_t i;

	memcpy(out, buf, table_end);
	memcpy(out + table_end + extra, buf + table_end, len - table_end);
	nh->section_count++;
	nh->file_size = len + extra;
	s = (void *)(out + nh->header_size);
	for (i = 0; i + 1 < nh->section_count; i++)
		s[i].offset += extra;
	s[i].type = 200;
	s[i].flags = flags;
	s[i].offset = s[0].offset;
	s[i].length = 8;
	*nlen = len + extra;
	test_reseal(out, *nlen);
	return out;
}

TEST(test_unknown_sections)
{
	struct clip_error err;
	clip_index *idx = NULL;
	uint8_t *buf, *ext;
	size_t len, elen;
	uint32_t ino;

	buf = make_index(&len, &err);
	CHECK(buf != NULL);
	ext = with_extra_section(buf, len, 0, &elen);
	CHECK_OK(clip_index_open_buffer(ext, elen, &idx, &err), &err);
	CHECK(clip_index_section_count(idx) == 11);
	CHECK(clip_index_resolve(idx, "/etc/big", &ino) == CLIP_OK && ino == 3);
	walk_all(idx);
	clip_index_close(idx);
	free(ext);
	ext = with_extra_section(buf, len, CLIP_SECTION_REQUIRED, &elen);
	CHECK(clip_index_open_buffer(ext, elen, &idx, &err) == CLIP_ERR_VERSION);
	CHECK(strstr(clip_error_message(&err), "section type 200") != NULL);
	free(ext);
	free(buf);
}

/* An index without chunk hashes (as written before format 2.2, or when a
 * layer has none) is still an index; the writer checks what it is given. */
TEST(test_chunks_optional)
{
	struct clip_error err;
	struct clip_layer_info li = { .digest = "sha256:x", .media_type = "t",
	    .compressed_size = 65537, .compression = CLIP_COMPRESSION_GZIP,
	    .chunk_shift = CLIP_CHUNK_SHIFT, .chunk_count = 2, .chunk_sha256 = zoo_chunks };
	struct clip_inode_attr a = { .mode = S_IFDIR | 0755 };
	clip_writer *w = NULL;
	clip_index *idx = NULL;
	uint8_t *buf = NULL;
	size_t len;
	uint32_t l, root;

	CHECK_OK(clip_writer_new(&w, &err), &err);
	CHECK_OK(zoo_build_chunks(w, 0, &err), &err);
	CHECK_OK(clip_writer_finish(w, &buf, &len, &err), &err);
	clip_writer_free(w);
	CHECK_OK(clip_index_open_buffer(buf, len, &idx, &err), &err);
	CHECK(clip_index_section_count(idx) == 9);
	CHECK(clip_index_chunk_size(idx) == 0);
	CHECK(clip_index_chunk_sha256(idx, 0, 0) == NULL);
	walk_all(idx);
	clip_index_close(idx);
	free(buf);

	/* Bad chunk lists are refused; a layer without any leaves the
	 * section out. */
	CHECK_OK(clip_writer_new(&w, &err), &err);
	CHECK_OK(clip_writer_add_inode(w, &a, &root, &err), &err);
	li.chunk_count = 1;
	CHECK(clip_writer_add_layer(w, &li, &l, &err) == CLIP_ERR_INVALID);
	li.chunk_count = 2;
	li.chunk_shift = 30;
	CHECK(clip_writer_add_layer(w, &li, &l, &err) == CLIP_ERR_INVALID);
	li.chunk_shift = CLIP_CHUNK_SHIFT;
	li.chunk_sha256 = NULL;
	CHECK(clip_writer_add_layer(w, &li, &l, &err) == CLIP_ERR_INVALID);
	li.chunk_sha256 = zoo_chunks;
	CHECK_OK(clip_writer_add_layer(w, &li, &l, &err), &err);
	li.chunk_shift = CLIP_CHUNK_SHIFT + 1;
	li.chunk_count = 1;
	CHECK(clip_writer_add_layer(w, &li, &l, &err) == CLIP_ERR_INVALID);
	li.chunk_shift = 0;
	CHECK_OK(clip_writer_add_layer(w, &li, &l, &err), &err);
	CHECK_OK(clip_writer_finish(w, &buf, &len, &err), &err);
	clip_writer_free(w);
	CHECK_OK(clip_index_open_buffer(buf, len, &idx, &err), &err);
	CHECK(clip_index_layer_count(idx) == 2 && clip_index_chunk_size(idx) == 0);
	clip_index_close(idx);
	free(buf);
}

TEST(test_random_resealed_damage_never_crashes)
{
	struct clip_error err;
	clip_index *idx = NULL;
	uint8_t *buf, *copy;
	size_t len, round, accepted = 0;
	unsigned int seed = 12345;

	buf = make_index(&len, &err);
	CHECK(buf != NULL);
	copy = malloc(len);
	CHECK(copy != NULL);
	for (round = 0; round < 3000; round++) {
		int k, nflips = 1 + (int)(rand_r(&seed) % 4);
		memcpy(copy, buf, len);
		for (k = 0; k < nflips; k++) {
			size_t at = 64 + (size_t)rand_r(&seed) % (len - 64);
			copy[at] = (uint8_t)rand_r(&seed);
		}
		test_reseal(copy, len);
		if (clip_index_open_buffer(copy, len, &idx, &err) == CLIP_OK) {
			accepted++;
			walk_all(idx);
			clip_index_close(idx);
		}
	}
	printf("random damage: %zu of 3000 damaged files still well-formed\n", accepted);
	free(copy);
	free(buf);
}

TEST(test_set_prefetch)
{
	struct clip_error err;
	struct clip_prefetch_entry v[2] = { { 3, 4096, 100 }, { 10, 0, 0 } };
	struct clip_stat a, b;
	clip_writer *w = NULL;
	clip_index *before = NULL, *after = NULL;
	uint32_t ino, i;
	uint64_t off, len;
	uint8_t *orig;
	size_t olen;

	orig = make_index(&olen, &err);
	CHECK(orig != NULL);
	CHECK_OK(clip_index_open_buffer(orig, olen, &before, &err), &err);
	CHECK_OK(clip_writer_new(&w, &err), &err);
	CHECK_OK(build(w, &err), &err);
	CHECK_OK(clip_writer_write_file(w, "p.clip", &err), &err);
	clip_writer_free(w);

	CHECK_OK(clip_index_set_prefetch("p.clip", v, 2, &err), &err);
	CHECK_OK(clip_index_open("p.clip", &after, &err), &err);
	CHECK(clip_index_prefetch_count(after) == 2);
	CHECK(clip_index_prefetch(after, 0, &ino, &off, &len) == CLIP_OK);
	CHECK(ino == 3 && off == 4096 && len == 100);
	CHECK(clip_index_prefetch(after, 1, &ino, &off, &len) == CLIP_OK);
	CHECK(ino == 10 && off == 0 && len == 0);   /* an empty file: nothing to fetch */
	CHECK(clip_index_prefetch(after, 2, &ino, &off, &len) == CLIP_ERR_INVALID);
	/* Everything else is as it was. */
	CHECK(clip_index_inode_count(after) == clip_index_inode_count(before));
	for (i = 1; i <= clip_index_inode_count(before); i++) {
		CHECK(clip_index_stat(before, i, &a) == CLIP_OK && clip_index_stat(after, i, &b) == CLIP_OK);
		CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	}
	walk_all(after);
	clip_index_close(after);

	/* Replacing keeps one PREFETCH section; a directory is refused and
	 * leaves the file as it was. */
	v[0].length = 0;
	CHECK_OK(clip_index_set_prefetch("p.clip", v, 1, &err), &err);
	CHECK_OK(clip_index_open("p.clip", &after, &err), &err);
	CHECK(clip_index_prefetch_count(after) == 1);
	CHECK(clip_index_section_count(after) == 11);
	CHECK(clip_index_chunk_size(after) == 65536);
	CHECK(memcmp(clip_index_chunk_sha256(after, 0, 45), zoo_chunks + 45 * 32, 32) == 0);
	CHECK(clip_index_prefetch(after, 0, &ino, &off, &len) == CLIP_OK);
	CHECK(ino == 3 && off == 4096 && len == ZOO_BIG_SIZE - 4096);
	clip_index_close(after);
	v[0].ino = 2;
	CHECK(clip_index_set_prefetch("p.clip", v, 1, &err) == CLIP_ERR_INVALID);
	CHECK_OK(clip_index_open("p.clip", &after, &err), &err);
	CHECK(clip_index_prefetch_count(after) == 1);
	clip_index_close(after);
	clip_index_close(before);
	free(orig);
}

TEST_MAIN(test_round_trip, test_deterministic_and_file, test_writer_refuses_bad_trees,
    test_every_truncation_fails, test_bit_flips_fail, test_structural_lies_refused,
    test_unknown_sections, test_chunks_optional, test_random_resealed_damage_never_crashes,
    test_set_prefetch)
