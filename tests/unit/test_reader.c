/*
 * test_reader.c - the read path: spans through memory, disk and a source.
 *
 * Each test builds a real layer: generated data, gzipped by zlib's own
 * deflate (or stored), written as a blob of an OCI layout, indexed by
 * clip_gzindex and turned into a CLIP index by clip_writer.  Every read
 * is compared with the generated data, which never passed through the
 * code under test.  Wrapper sources count, corrupt or fail fetches.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <linux/magic.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <zlib.h>
#include <openssl/evp.h>

#include "common/oci/blob_source.h"
#include "common/gzip/gzindex.h"
#include "common/format/index.h"
#include "common/format/index_write.h"
#include "common/reader/layer_file.h"
#include "common/reader/layer_reader.h"
#include "tests/unit/testutil.h"
#include "tests/unit/test.h"

#define KiB 1024u
#define MiB (1024u * 1024u)
#define SPAN (64 * KiB)
static uint64_t fx_span = SPAN;   /* the span make_layer indexes with */
static int fx_words_only;         /* gen_data: only the text-like segments */
#define MAX_SPANS 4096
#define MAX_RANGES 1024

/* ---- data ---------------------------------------------------------------- */

#define rnd test_rnd

/* Segments (up to 100 KiB) of text-like words, random bytes and zeros. */
static uint8_t *
gen_data(size_t len, uint64_t seed)
{
	uint64_t st = test_rnd_seed(seed);

	return test_gen_data(len, &st, 100 * KiB, fx_words_only);
}

static uint8_t *
gzip_data(const uint8_t *data, size_t len, size_t *out_len)
{
	z_stream s;
	uint8_t *out;
	size_t cap;

	memset(&s, 0, sizeof(s));
	if (deflateInit2(&s, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return NULL;
	cap = deflateBound(&s, (uLong)len) + 64;
	out = malloc(cap);
	if (out == NULL)
		return NULL;
	s.next_in = (Bytef *)data;
	s.avail_in = (uInt)len;
	s.next_out = out;
	s.avail_out = (uInt)cap;
	if (deflate(&s, Z_FINISH) != Z_STREAM_END) {
		free(out);
		deflateEnd(&s);
		return NULL;
	}
	*out_len = cap - s.avail_out;
	deflateEnd(&s);
	return out;
}

/* ---- a layer and its index -------------------------------------------------- */

struct layer_fx {
	uint8_t *data;
	size_t len;
	uint8_t *blob;
	size_t blob_len;
	char digest[72];
	uint8_t *idxbuf;
	size_t idxlen;
	clip_index *idx;
	uint32_t nspans;
	uint64_t span_start[MAX_SPANS];
	uint64_t span_end[MAX_SPANS];
};

static clip_err
ignore_data(void *ctx, const uint8_t *buf, size_t len, uint64_t out_offset,
    struct clip_error *err)
{
	(void)ctx; (void)buf; (void)len; (void)out_offset; (void)err;
	return CLIP_OK;
}

static int
write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (f == NULL)
		return -1;
	ok = fwrite(buf, 1, len, f) == len;
	return fclose(f) == 0 && ok ? 0 : -1;
}

#define TRY(x) do { rc = (x); if (rc != CLIP_OK) goto out; } while (0)

static clip_err
make_layer(struct layer_fx *f, uint32_t compression, size_t len, uint64_t seed,
    struct clip_error *err)
{
	uint8_t md[32];
	char path[256];
	clip_gzindex *gz = NULL;
	clip_writer *w = NULL;
	struct clip_inode_attr a;
	struct clip_layer_info li;
	struct clip_checkpoint cp;
	uint32_t root, file, layer, i;
	size_t pos, n;
	clip_err rc = CLIP_OK;

	memset(f, 0, sizeof(*f));
	f->len = len;
	f->data = gen_data(len, seed);
	if (f->data == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "gen_data");
	if (compression == CLIP_COMPRESSION_GZIP) {
		f->blob = gzip_data(f->data, len, &f->blob_len);
	} else {
		f->blob = malloc(len);
		if (f->blob != NULL)
			memcpy(f->blob, f->data, len);
		f->blob_len = len;
	}
	if (f->blob == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "blob");
	EVP_Digest(f->blob, f->blob_len, md, NULL, EVP_sha256(), NULL);
	strcpy(f->digest, "sha256:");
	for (i = 0; i < 32; i++)
		sprintf(f->digest + 7 + 2 * i, "%02x", md[i]);
	mkdir("layout", 0755);
	mkdir("layout/blobs", 0755);
	mkdir("layout/blobs/sha256", 0755);
	snprintf(path, sizeof(path), "layout/blobs/sha256/%s", f->digest + 7);
	if (write_file(path, f->blob, f->blob_len) != 0)
		return clip_error_set(err, CLIP_ERR_IO, "write %s", path);

	TRY(clip_gzindex_new(compression, fx_span, ignore_data, NULL, &gz, err));
	for (pos = 0; pos < f->blob_len; pos += n) {
		n = f->blob_len - pos < 300 * KiB ? f->blob_len - pos : 300 * KiB;
		TRY(clip_gzindex_feed(gz, f->blob + pos, n, err));
	}
	TRY(clip_gzindex_finish(gz, err));

	TRY(clip_writer_new(&w, err));
	memset(&a, 0, sizeof(a));
	a.mode = 040755;
	TRY(clip_writer_add_inode(w, &a, &root, err));
	memset(&li, 0, sizeof(li));
	li.digest = f->digest;
	li.media_type = compression ? "application/vnd.oci.image.layer.v1.tar+gzip" :
	    "application/vnd.oci.image.layer.v1.tar";
	li.compressed_size = f->blob_len;
	li.uncompressed_size = len;
	li.compression = compression;
	li.chunk_sha256 = clip_gzindex_chunk_sha256s(gz, &n, &li.chunk_shift);
	li.chunk_count = n;
	TRY(clip_writer_add_layer(w, &li, &layer, err));
	for (i = 0; i < clip_gzindex_checkpoint_count(gz); i++)
		TRY(clip_writer_add_checkpoint(w, layer, clip_gzindex_checkpoint(gz, i), err));
	memset(&a, 0, sizeof(a));
	a.mode = 0100644;
	a.size = len;
	a.layer = layer;
	a.data_offset = 0;
	TRY(clip_writer_add_inode(w, &a, &file, err));
	TRY(clip_writer_add_dirent(w, root, "data", 4, file, err));
	TRY(clip_writer_finish(w, &f->idxbuf, &f->idxlen, err));
	TRY(clip_index_open_buffer(f->idxbuf, f->idxlen, &f->idx, err));

	f->nspans = clip_index_checkpoint_count(f->idx);
	if (f->nspans > MAX_SPANS || f->nspans < 2) {
		rc = clip_error_set(err, CLIP_ERR_INVALID, "%u spans", f->nspans);
		goto out;
	}
	for (i = 0; i < f->nspans; i++) {
		TRY(clip_index_checkpoint(f->idx, 0, i, &cp));
		f->span_start[i] = cp.span_start;
		f->span_end[i] = cp.span_end;
	}
	/* The index has the blob's chunk hashes, each over its own piece. */
	if (clip_index_chunk_size(f->idx) != 65536) {
		rc = clip_error_set(err, CLIP_ERR_INVALID, "no chunk hashes");
		goto out;
	}
	for (pos = 0; pos < f->blob_len; pos += 65536) {
		n = f->blob_len - pos < 65536 ? f->blob_len - pos : 65536;
		EVP_Digest(f->blob + pos, n, md, NULL, EVP_sha256(), NULL);
		if (clip_index_chunk_sha256(f->idx, 0, pos / 65536) == NULL ||
		    memcmp(clip_index_chunk_sha256(f->idx, 0, pos / 65536), md, 32) != 0) {
			rc = clip_error_set(err, CLIP_ERR_INVALID, "chunk %zu hash", pos / 65536);
			goto out;
		}
	}
	if (clip_index_chunk_sha256(f->idx, 0, (f->blob_len + 65535) / 65536) != NULL) {
		rc = clip_error_set(err, CLIP_ERR_INVALID, "a chunk hash too many");
		goto out;
	}
out:
	clip_gzindex_free(gz);
	clip_writer_free(w);
	return rc;
}

static void
free_layer(struct layer_fx *f)
{
	clip_index_close(f->idx);
	free(f->idxbuf);
	free(f->blob);
	free(f->data);
}

/* ---- wrapper sources --------------------------------------------------------- */

struct wrap {
	struct clip_blob_source inner;
	const struct layer_fx *f;
	atomic_int corrupt;          /* damage every span a fetch holds */
	atomic_int fail;             /* fail every fetch */
	atomic_int delay_ms;         /* sleep before fetching */
	atomic_uint calls;
	/* per_span[i]: fetches that held the last byte of span i that is
	 * its own (the next span may start on the byte before its end): a
	 * fetch takes whole chunks, so it holds a little of its neighbours
	 * too, and its first chunk may have come with the span before;
	 * unknown_ranges: fetches that held no span's last byte, or several. */
	atomic_uint per_span[MAX_SPANS];
	atomic_uint unknown_ranges;
	/* Every range fetched, in order (the first MAX_RANGES). */
	pthread_mutex_t lock;
	uint64_t range_off[MAX_RANGES], range_len[MAX_RANGES];
	unsigned nranges;
};

/* Bytes fetched more than once: the sum, over pairs of ranges, of what
 * they have in common. */
static void __attribute__((unused))
wrap_dump(struct wrap *w)
{
	unsigned a;

	for (a = 0; a < w->f->nspans; a++)
		fprintf(stderr, "span %u: %llu-%llu\n", a, (unsigned long long)w->f->span_start[a],
		    (unsigned long long)w->f->span_end[a]);
	for (a = 0; a < w->nranges; a++)
		fprintf(stderr, "fetch %llu-%llu\n", (unsigned long long)w->range_off[a],
		    (unsigned long long)(w->range_off[a] + w->range_len[a]));
}

static uint64_t
wrap_overlap_bytes(struct wrap *w)
{
	uint64_t total = 0, lo, hi;
	unsigned a, b;

	pthread_mutex_lock(&w->lock);
	for (a = 0; a < w->nranges; a++)
		for (b = a + 1; b < w->nranges; b++) {
			lo = w->range_off[a] > w->range_off[b] ? w->range_off[a] : w->range_off[b];
			hi = w->range_off[a] + w->range_len[a] < w->range_off[b] + w->range_len[b] ?
			    w->range_off[a] + w->range_len[a] : w->range_off[b] + w->range_len[b];
			if (hi > lo)
				total += hi - lo;
		}
	pthread_mutex_unlock(&w->lock);
	return total;
}

/* Flips a byte in the middle of every span whose middle the fetched
 * range [off, off + len) holds (or in the middle of the range), so that
 * every span the fetch could deliver is damaged. */
static void
wrap_corrupt(const struct wrap *w, uint64_t off, size_t len, uint8_t *buf)
{
	uint64_t mid;
	uint32_t i;
	int flipped = 0;

	for (i = 0; i < w->f->nspans; i++) {
		mid = (w->f->span_start[i] + w->f->span_end[i]) / 2;
		if (mid >= off && mid < off + len) {
			buf[mid - off] ^= 0x40;
			flipped = 1;
		}
	}
	if (!flipped)
		buf[len / 2] ^= 0x40;
}

static clip_err
wrap_fetch(void *ctx, const char *digest, uint64_t off, size_t len, void *buf,
    struct clip_error *err)
{
	struct wrap *w = ctx;
	uint32_t i, held;
	clip_err rc;
	int ms = atomic_load(&w->delay_ms);

	atomic_fetch_add(&w->calls, 1);
	for (i = 0, held = 0; i < w->f->nspans; i++) {
		uint64_t last = w->f->span_end[i] - (w->f->span_end[i] - w->f->span_start[i] > 1 ? 2 : 1);
		if (last >= off && last < off + len) {
			atomic_fetch_add(&w->per_span[i], 1);
			held++;
		}
	}
	if (held != 1)
		atomic_fetch_add(&w->unknown_ranges, 1);
	pthread_mutex_lock(&w->lock);
	if (w->nranges < MAX_RANGES) {
		w->range_off[w->nranges] = off;
		w->range_len[w->nranges++] = len;
	}
	pthread_mutex_unlock(&w->lock);
	if (ms > 0) {
		struct timespec ts = { 0, (long)ms * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (atomic_load(&w->fail))
		return clip_error_set(err, CLIP_ERR_NETWORK, "injected failure");
	rc = w->inner.fetch(w->inner.ctx, digest, off, len, buf, err);
	if (rc == CLIP_OK && atomic_load(&w->corrupt) && len > 0)
		wrap_corrupt(w, off, len, buf);
	return rc;
}

static void
wrap_init(struct wrap *w, const struct clip_blob_source *inner, const struct layer_fx *f,
    struct clip_blob_source *out)
{
	memset(w, 0, sizeof(*w));
	memset(out, 0, sizeof(*out));
	w->inner = *inner;
	w->f = f;
	pthread_mutex_init(&w->lock, NULL);
	out->fetch = wrap_fetch;
	out->ctx = w;
}

static atomic_int warnings;

static void
count_warn(void *ctx, const char *msg)
{
	(void)ctx;
	(void)msg;
	atomic_fetch_add(&warnings, 1);
}

/* ---- helpers --------------------------------------------------------------- */

/* Counters once the disk writes queued so far are done. */
static void
flushed_stats(clip_reader *r, struct clip_reader_stats *s)
{
	clip_reader_flush(r);
	clip_reader_stats(r, s);
}

/* The ids of this process's threads now (/proc/self/task), up to max of
 * them; the count, or -1. */
static int
thread_ids(long *ids, int max)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL && n < max)
		if (de->d_name[0] != '.')
			ids[n++] = atol(de->d_name);
	closedir(d);
	return n;
}

/* How many of the threads now were not among before[0, nbefore). */
static int
threads_new(const long *before, int nbefore)
{
	long now[256];
	int n = thread_ids(now, 256), fresh = 0, i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < nbefore && before[j] != now[i]; j++)
			;
		fresh += j == nbefore;
	}
	return n < 0 ? -1 : fresh;
}

/* Reads [off, off + len) and compares with the data; returns 0 if equal. */
static int
read_cmp(clip_reader *r, const struct layer_fx *f, uint64_t off, size_t len,
    struct clip_error *err)
{
	uint8_t *buf = malloc(len ? len : 1);
	size_t got = 12345, want;
	int bad;

	if (buf == NULL)
		return -1;
	want = off >= f->len ? 0 : (f->len - off < len ? f->len - off : len);
	if (clip_reader_read(r, 0, off, len, buf, &got, err) != CLIP_OK) {
		free(buf);
		return -1;
	}
	bad = got != want || (want > 0 && memcmp(buf, f->data + off, want) != 0);
	if (bad && err != NULL)
		clip_error_set(err, CLIP_ERR_INVALID, "read %llu+%zu: got %zu want %zu%s",
		    (unsigned long long)off, len, got, want, got == want ? ", bytes differ" : "");
	free(buf);
	return bad ? -1 : 0;
}

static void
opts_quiet(struct clip_reader_opts *o)
{
	clip_reader_opts_init(o);
	o->readahead_spans = 0;
	o->predict_spans = 0;
	o->load_bytes = 0;
	o->warn = count_warn;
}

/* The compressed bytes of the whole chunks that hold span cp. */
static uint64_t
chunk_span(const struct layer_fx *f, const struct clip_checkpoint *cp)
{
	struct clip_layer L;
	uint64_t cs = clip_index_chunk_size(f->idx), from, to;

	clip_index_layer(f->idx, 0, &L);
	from = cp->span_start / cs * cs;
	to = (cp->span_end + cs - 1) / cs * cs;
	return (to < L.compressed_size ? to : L.compressed_size) - from;
}

/* Mode bits of path, or -1. */
static int
mode_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

/* The names of the span files in dir (not temporaries), up to max. */
static size_t
cache_files(const char *dir, char names[][300], size_t max)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL && n < max) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(names[n++], 300, "%s/%s", dir, de->d_name);
	}
	closedir(d);
	return n;
}

/* How many of the n files have a page in the page cache, by fincore(1)
 * (a child process: under valgrind, mapping a file here to ask mincore
 * would itself read its first pages in); -1 if fincore fails. */
static int
files_cached(char names[][300], size_t n)
{
	char cmd[400], line[64];
	int cached = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		FILE *p;
		long pages = -1;

		snprintf(cmd, sizeof(cmd), "fincore -n -o PAGES '%.299s'", names[i]);
		if ((p = popen(cmd, "r")) == NULL)
			return -1;
		if (fgets(line, sizeof(line), p) != NULL)
			pages = strtol(line, NULL, 10);
		if (pclose(p) != 0 || pages < 0)
			return -1;
		cached += pages > 0;
	}
	return cached;
}

/* 1 if dir is on tmpfs, where pages cannot be dropped (they are the file). */
static int
on_tmpfs(const char *dir)
{
	struct statfs sf;

	return statfs(dir, &sf) == 0 && sf.f_type == TMPFS_MAGIC;
}

/* ---- tests ------------------------------------------------------------------ */

/* Reads span i whole and compares it with the data. */
static int
span_data_ok(clip_reader *r, const struct layer_fx *f, uint32_t i)
{
	struct clip_checkpoint cp;
	struct clip_error e;

	if (clip_index_checkpoint(f->idx, 0, i, &cp) != CLIP_OK)
		return 0;
	return read_cmp(r, f, cp.out_offset, (size_t)(cp.out_end - cp.out_offset), &e) == 0;
}

TEST(test_random_reads)
{
	struct layer_fx *f = malloc(sizeof(*f));
	struct clip_error err;
	struct clip_blob_source src;
	clip_layout_source *ls = NULL;
	clip_reader *r = NULL;
	uint64_t st = 42, off;
	size_t len;
	uint32_t i;
	int k;

	CHECK(f != NULL);
	CHECK_OK(make_layer(f, CLIP_COMPRESSION_GZIP, 4 * MiB + 777, 1, &err), &err);
	CHECK_MSG(f->nspans > 20, "%u spans, blob %zu", f->nspans, f->blob_len);
	CHECK_OK(clip_layout_source_new("layout", &ls, &src, &err), &err);
	CHECK_OK(clip_reader_new(f->idx, &src, NULL, &r, &err), &err);

	for (k = 0; k < 300; k++) {
		off = rnd(&st) % (f->len + 100);
		len = 1 + (size_t)(rnd(&st) % (200 * KiB));
		CHECK_MSG(read_cmp(r, f, off, len, &err) == 0, "%s", clip_error_message(&err));
	}
	/* Across each span boundary, and at the very end. */
	for (i = 1; i < f->nspans; i++) {
		struct clip_checkpoint cp;
		CHECK_OK(clip_index_checkpoint(f->idx, 0, i, &cp), NULL);
		CHECK_MSG(read_cmp(r, f, cp.out_offset - 1, 2, &err) == 0, "%s",
		    clip_error_message(&err));
		CHECK_MSG(read_cmp(r, f, cp.out_offset, 1, &err) == 0, "%s",
		    clip_error_message(&err));
	}
	CHECK(read_cmp(r, f, f->len - 1, 1, &err) == 0);
	CHECK(read_cmp(r, f, f->len - 1, 100, &err) == 0);
	CHECK(read_cmp(r, f, f->len, 100, &err) == 0);
	CHECK(read_cmp(r, f, f->len + 5000, 100, &err) == 0);
	CHECK(read_cmp(r, f, 0, 0, &err) == 0);
	CHECK_MSG(read_cmp(r, f, 0, f->len, &err) == 0, "%s", clip_error_message(&err));
	CHECK(read_cmp(r, f, UINT64_MAX - 10, 100, &err) == 0);
	{
		uint8_t b[4];
		size_t got = 7;
		CHECK(clip_reader_read(r, 1, 0, 4, b, &got, &err) == CLIP_ERR_INVALID);
		CHECK(got == 0);
	}

	clip_reader_free(r);
	clip_layout_source_free(ls);
	free_layer(f);
	free(f);
}

TEST(test_counters_exact)
{
	struct layer_fx *f = malloc(sizeof(*f));
	struct clip_error err;
	struct clip_blob_source src;
	struct clip_reader_opts o;
	struct clip_reader_stats s;
	struct clip_checkpoint cp;
	clip_layout_source *ls = NULL;
	clip_reader *r = NULL;

	CHECK(f != NULL);
	CHECK_OK(make_layer(f, CLIP_COMPRESSION_GZIP, 2 * MiB, 2, &err), &err);
	CHECK_OK(clip_layout_source_new("layout", &ls, &src, &err), &err);
	opts_quiet(&o);
	CHECK_OK(clip_reader_new(f->idx, &src, &o, &r, &err), &err);
	CHECK_OK(clip_index_checkpoint(f->idx, 0, 5, &cp), NULL);

	CHECK_MSG(read_cmp(r, f, cp.out_offset + 100, 50, &err) == 0, "%s",
	    clip_error_message(&err));
	flushed_stats(r, &s);
	CHECK(s.reads == 1);
	CHECK(s.bytes_served == 50);
	CHECK(s.fetch_requests == 1);
	/* The chunks that hold the span, each checked on its own. */
	CHECK_MSG(s.bytes_fetched == chunk_span(f, &cp), "%llu fetched, %llu wanted",
	    (unsigned long long)s.bytes_fetched, (unsigned long long)chunk_span(f, &cp));
	CHECK(s.spans_inflated == 1 && s.stream_loads == 1);
	CHECK(s.mem_misses == 1 && s.mem_hits == 0);
	CHECK(s.mem_spans == 1 && s.mem_bytes == cp.out_end - cp.out_offset);
	CHECK(clip_reader_stats_latency_quantile(&s, 0.5) >= 1);
	CHECK(clip_reader_stats_latency_quantile(&s, 0.99) >= clip_reader_stats_latency_quantile(&s, 0.5));

	/* The same range, and another one inside the same span: memory hits. */
	CHECK(read_cmp(r, f, cp.out_offset + 100, 50, &err) == 0);
	CHECK(read_cmp(r, f, cp.out_offset, 10, &err) == 0);
	flushed_stats(r, &s);
	CHECK(s.mem_hits == 2 && s.mem_misses == 1);
	CHECK(s.fetch_requests == 1);
	CHECK(s.bytes_fetched == chunk_span(f, &cp));
	CHECK(s.spans_inflated == 1);
	CHECK(s.bytes_served == 110);
	CHECK(s.checksum_errors == 0 && s.fetch_errors == 0);

	clip_reader_free(r);
	clip_layout_source_free(ls);
	free_layer(f);
	free(f);
}

struct thread_arg {
	clip_reader *r;
	const struct layer_fx *f;
	uint64_t seed;
	int fixed_off;               /* >= 0: every read at this offset */
	int reads;
	int bad;
	clip_err last_rc;
	pthread_barrier_t *barrier;
	char msg[CLIP_ERROR_MSG_MAX];
};

static void *
reader_thread(void *p)
{
	struct thread_arg *a = p;
	struct clip_error err;
	uint64_t st = a->seed, off;
	size_t len;
	int k;

	if (a->barrier != NULL)
		pthread_barrier_wait(a->barrier);
	for (k = 0; k < a->reads; k++) {
		if (a->fixed_off >= 0) {
			off = (uint64_t)a->fixed_off;
			len = 1000;
		} else {
			off = rnd(&st) % a->f->len;
			len = 1 + (size_t)(rnd(&st) % (128 * KiB));
		}
		clip_error_clear(&err);
		if (read_cmp(a->r, a->f, off, len, &err) != 0) {
			a->bad++;
			a->last_rc = err.code;
			snprintf(a->msg, sizeof(a->msg), "%s", clip_error_message(&err));
		}
	}
	return NULL;
}

TEST(test_threads_single_flight)
{
	struct layer_fx *f = malloc(sizeof(*f));
	struct wrap *w = malloc(sizeof(*w));
	struct clip_error err;
	struct clip_blob_source lsrc, src;
	struct clip_reader_opts o;
	struct clip_reader_stats s;
	clip_layout_source *ls = NULL;
	clip_reader *r = NULL;
	struct thread_arg args[16];
	pthread_t th[16];
	unsigned i, total = 0;
	int one_off;

	CHECK(f != NULL && w != NULL);
	CHECK_OK(make_layer(f, CLIP_COMPRESSION_GZIP, 4 * MiB, 3, &err), &err);
	CHECK_OK(clip_layout_source_new("layout", &ls, &lsrc, &err), &err);
	wrap_init(w, &lsrc, f, &src);
	clip_reader_opts_init(&o);   /* readahead on: it must share loads too */
	o.max_fetches = 3;
	CHECK_OK(clip_reader_new(f->idx, &src, &o, &r, &err), &err);

	for (i = 0; i < 16; i++) {
		memset(&args[i], 0, sizeof(args[i]));
		args[i].r = r;
		args[i].f = f;
		args[i].seed = 100 + i;
		args[i].fixed_off = -1;
		args[i].reads = 200;
		CHECK(pthread_create(&th[i], NULL, reader_thread, &args[i]) == 0);
	}
	for (i = 0; i < 16; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 16; i++)
		CHECK_MSG(args[i].bad == 0, "thread %u: %d bad reads: %s", i, args[i].bad,
		    args[i].msg);
	clip_reader_free(r);   /* waits for work_queue */
	r = NULL;
	/* No byte fetched twice, so no span either. */
	CHECK_MSG(wrap_overlap_bytes(w) == 0, "%llu bytes fetched twice",
	    (unsigned long long)wrap_overlap_bytes(w));
	for (i = 0; i < f->nspans; i++) {
		CHECK_MSG(atomic_load(&w->per_span[i]) <= 1, "span %u fetched %u times", i,
		    atomic_load(&w->per_span[i]));
		total += atomic_load(&w->per_span[i]);
	}
	CHECK(total > f->nspans / 2);

	/* Many threads, one span, a slow source: exactly one fetch. */
	{
		struct clip_checkpoint c4;
		CHECK_OK(clip_index_checkpoint(f->idx, 0, 4, &c4), NULL);
		CHECK(c4.out_end - c4.out_offset > 2000);
		one_off = (int)c4.out_offset + 10;
	}
	memset(w, 0, sizeof(*w));
	wrap_init(w, &lsrc, f, &src);
	atomic_store(&w->delay_ms, 50);
	opts_quiet(&o);
	CHECK_OK(clip_reader_new(f->idx, &src, &o, &r, &err), &err);
	{
		pthread_barrier_t b;
		pthread_barrier_init(&b, NULL, 8);
		for (i = 0; i < 8; i++) {
			memset(&args[i], 0, sizeof(args[i]));
			args[i].r = r;
			args[i].f = f;
			args[i].fixed_off = one_off;
			args[i].reads = 3;
			args[i].barrier = &b;
			CHECK(pthread_create(&th[i], NULL, reader_thread, &args[i]) == 0);
		}
		for (i = 0; i < 8; i++)
			pthread_join(th[i], NULL);
		pthread_barrier_destroy(&b);
	}
	for (i = 0; i < 8; i++)
		CHECK(args[i].bad == 0);
	CHECK(atomic_load(&w->calls) == 1);
	flushed_stats(r, &s);
	CHECK(s.fetch_requests == 1);
	CHECK(s.mem_hits + s.mem_misses == 24);
	CHECK(s.mem_waits >= 1);

	/* The same with a failing source: every waiter gets the error. */
	clip_reader_free(r);
	memset(w, 0, sizeof(*w));
	wrap_init(w, &lsrc, f, &src);
	atomic_store(&w->delay_ms, 50);
	atomic_store(&w->fail, 1);
	CHECK_OK(clip_reader_new(f->idx, &src, &o, &r, &err), &err);
	{
		pthread_barrier_t b;
		pthread_barrier_init(&b, NULL, 8);
		for (i = 0; i < 8; i++) {
			memset(&args[i], 0, sizeof(args[i]));
			args[i].r = r;
			args[i].f = f;
			args[i].fixed_off = one_off;
			args[i].reads = 1;
			args[i].barrier = &b;
			CHECK(pthread_create(&th[i], NULL, reader_thread, &args[i]) == 0);
		}
		for (i = 0; i < 8; i++)
			pthread_join(th[i], NULL);
		pthread_barrier_destroy(&b);
	}
	for (i = 0; i < 8; i++) {
		CHECK(args[i].bad == 1);
		CHECK(args[i].last_rc == CLIP_ERR_NETWORK);
		CHECK_MSG(strstr(args[i].msg, "injected failure") != NULL, "%s", args[i].msg);
	}
	CHECK(atomic_load(&w->calls) >= 1 && atomic_load(&w->calls) <= 8);

	clip_reader_free(r);
	clip_layout_source_free(ls);
	free_layer(f);
	free(f);
	free(w);
}

TEST(test_corrupt_source)
{
	struct layer_fx *f = malloc(sizeof(*f));
	struct wrap *w = malloc(sizeof(*w));
	struct clip_error err;
	struct clip_blob_source lsrc, src;
	struct clip_reader_opts o;
	struct clip_reader_stats s;
	struct clip_checkpoint cp;
	clip_layout_source *ls = NULL;
	clip_reader *r = NULL;
	uint8_t buf[4096];
	size_t got;

	CHECK(f != NULL && w != NULL);
	CHECK_OK(make_layer(f, CLIP_COMPRESSION_GZIP, 1 * MiB, 4, &err), &err);
	CHECK_OK(clip_layout_source_new("layout", &ls, &lsrc, &err), &err);
	wrap_init(w, &lsrc, f, &src);
	opts_quiet(&o);
	CHECK_OK(clip_reader_new(f->idx, &src, &o, &r, &err), &err);
	CHECK_OK(clip_index_checkpoint(f->idx, 0, 3, &cp), NULL);

	atomic_store(&w->corrupt, 1);
	clip_error_clear(&err);
	CHECK(clip_reader_read(r, 0, cp.out_offset + 10, sizeof(buf), buf, &got, &err) ==
	    CLIP_ERR_CHECKSUM);
	CHECK(got == 0);
	CHECK_MSG(strstr(err.msg, "span 3") != NULL, "%s", err.msg);
	CHECK_MSG(strstr(err.msg, f->digest) != NULL, "%s", err.msg);
	/* Nothing was cached: the next read fetches (and fails) again. */
	CHECK(clip_reader_read(r, 0, cp.out_offset + 10, sizeof(buf), buf, &got, &err) ==
	    CLIP_ERR_CHECKSUM);
	flushed_stats(r, &s);
	CHECK(s.checksum_errors == 2 && s.fetch_requests == 2);
	CHECK(s.spans_inflated == 0 && s.mem_spans == 0 && s.bytes_served == 0);

	atomic_store(&w->corrupt, 0);
	CHECK_MSG(read_cmp(r, f, cp.out_offset + 10, sizeof(buf), &err) == 0, "%s",
	    clip_error_message(&err));
	flushed_stats(r, &s);
	CHECK(s.checksum_errors == 2 && s.fetch_requests == 3);

	/* A read that spans several spans and fails in the middle. */
	atomic_store(&w->corrupt, 1);
	{
		struct clip_checkpoint c5;
		uint8_t *big = malloc(512 * KiB);
		CHECK(big != NULL);
		CHECK_OK(clip_index_checkpoint(f->idx, 0, 4, &c5), NULL);
		CHECK(clip_reader_read(r, 0, cp.out_offset, 512 * KiB, big, &got, &err) ==
		    CLIP_ERR_CHECKSUM);
		/* Span 3 came from memory; a later one failed (the flipped
		 * byte may lie in the part of a chunk that the next span
		 * holds), and what came before it is right. */
		CHECK_MSG(got >= c5.out_offset - cp.out_offset && got < 512 * KiB, "%zu", got);
		CHECK(memcmp(big, f->data + cp.out_offset, got) == 0);
		CHECK_MSG(strstr(err.msg, "span ") != NULL, "%s", err.msg);
		free(big);
	}

	clip_reader_free(r);
	clip_layout_source_free(ls);
	free_layer(f);
	free(f);
	free(w);
}

TEST(test_failing_source)
{
	struct layer_fx *f = malloc(sizeof(*f));
	struct wrap *w = malloc(sizeof(*w));
	struct clip_error err;
	struct clip_blob_source lsrc, src;
	struct clip_reader_opts o;
	struct clip_reader_stats s;
	clip_layout_source *ls = NULL;
	clip_reader *r = NULL;
	uint8_t buf[100];
	size_t got;

	CHECK(f != NULL && w != NULL);
	CHECK_OK(make_layer(f, CLIP_COMPRESSION_GZIP, 1 * MiB, 5, &err), &err);
	CHECK_OK(clip_layout_source_new("layout", &ls, &lsrc, &err), &err);
	wrap_init(w, &lsrc, f, &src);
	opts_quiet(&o);
	CHECK_OK(clip_reader_new(f->idx, &src, &o, &r, &err), &err);

	atomic_store(&w->fail, 1);
	CHECK(clip_reader_read(r, 0, 1000, sizeof(buf), buf, &got, &err) == CLIP_ERR_NETWORK);
	CHECK_MSG(strstr(err.msg, "injected failure") != NULL && strstr(err.msg, "span 0"),
	    "%s", err.msg);
	flushed_stats(r, &s);
	CHECK(s.fetch_errors == 1 && s.fetch_requests == 1 && s.bytes_fetched == 0);

	atomic_store(&w->fail, 0);
	CHECK(read_cmp(r, f, 1000, sizeof(buf), &err) == 0);
	flushed_stats(r, &s);
	CHECK(s.fetch_errors == 1 && s.fetch_requests == 2);
	clip_reader_free(r);

	/* The layout source's own errors. */
	{
		uint8_t b[16];
		CHECK(src.fetch(src.ctx, "sha256:../../../etc/passwd", 0, 4, b, &err) ==
		    CLIP_ERR_INVALID);
		CHECK(lsrc.fetch(lsrc.ctx, "sha256:0000000000000000000000000000000000000000000000000000000000000000",
		    0, 4, b, &err) == CLIP_ERR_NOTFOUND);
		CHECK(lsrc.fetch(lsrc.ctx, f->digest, f->blob_len - 4, 8, b, &err) == CLIP_ERR_IO);
		CHECK(lsrc.fetch(lsrc.ctx, f->digest, f->blob_len - 4, 4, b, &err) == CLIP_OK);
		CHECK(memcmp(b, f->blob + f->blob_len - 4, 4) == 0);
	}

	clip_layout_source_free(ls);
	free_layer(f);
	free(f);
	free(w);
}

/* Reads the whole layer in 100 KiB pieces and compares. */
static int
read_all(clip_reader *r, const struct layer_fx *f, struct clip_error *err)
{
	uint64_t off;

	for (off = 0; off < f->len; off += 100 * KiB)
		if (read_cmp(r, f, off, 100 * KiB, err) != 0)
			return -1;
	return 0;
}

TEST(test_disk_cache)
{
	struct layer_fx *f = malloc(sizeof(*f));
	struct wrap *w = malloc(sizeof(*w));
	struct clip_error err;
	struct clip_blob_source lsrc, src;
	struct clip_reader_opts o;
	struct clip_reader_stats s;
	clip_layout_source *ls = NULL;
	clip_reader *r = NULL;
	static char names[MAX_SPANS][300];
	size_t n, i;
	int fd;

	CHECK(f != NULL && w != NULL);
	CHECK_OK(make_layer(f, CLIP_COMPRESSION_GZIP, 2 * MiB, 6, &err), &err);
	CHECK_OK(clip_layout_source_new("layout", &ls, &lsrc, &err), &err);
	opts_quiet(&o);
	o.disk_cache_dir = "cache";

	/* Cold: everything fetched and written. */
	CHECK_OK(clip_reader_new(f->idx, &lsrc, &o, &r, &err), &err);
	CHECK_MSG(read_all(r, f, &err) == 0, "%s", clip_error_message(&err));
	flushed_stats(r, &s);
	CHECK(s.disk_writes == f->nspans && s.disk_misses == f->nspans && s.disk_hits == 0);
	CHECK(s.disk_errors == 0 && s.disk_bytes > f->len);
	clip_reader_free(r);
	CHECK(mode_of("cache") == 0700);
	n = cache_files("cache", names, MAX_SPANS);
	CHECK(n == f->nspans);
	for (i = 0; i < n; i++)
		CHECK_MSG(mode_of(names[i]) == 0600, "%s: %o", names[i], mode_of(names[i]));

	/* Warm, in a new reader: no fetch at all. */
	wrap_init(w, &lsrc, f, &src);
	CHECK_OK(clip_reader_new(f->idx, &src, &o, &r, &err), &err);
	CHECK_MSG(read_all(r, f, &err) == 0, "%s", clip_error_message(&err));
	flushed_stats(r, &s);
	CHECK(atomic_load(&w->calls) == 0);
	/* Hits count reads served from the disk (partial or whole spans). */
	CHECK_MSG(s.fetch_requests == 0 && s.disk_hits >= f->nspans && s.disk_writes == 0,
	    "fetches %llu disk hits %llu writes %llu spans %u", (unsigned long long)s.fetch_requests,
	    (unsigned long long)s.disk_hits, (unsigned long long)s.disk_writes, f->nspans);
	CHECK(s.disk_bytes > f->len);
	/* The span files read last keep their pages (the next piece of a
	 * file is often in the same block), four per layer at most; the
	 * rest, and all of them once the reader ends, are dropped: the bytes
	 * are cached where they are served from.  (Fewer than four when
	 * some spans came whole into memory by a load instead.) */
	if (!on_tmpfs("cache")) {
		CHECK(f->nspans > 4);
		CHECK_MSG(files_cached(names, n) <= 4, "%d span files cached",
		    files_cached(names, n));
	}
	clip_reader_free(r);
	if (!on_tmpfs("cache"))
		CHECK_MSG(files_cached(names, n) == 0, "%d span files cached after the reader",
		    files_cached(names, n));

	/* Damage three files: truncated, a data byte flipped, a header byte
	 * flipped.  Each is detected, deleted, refetched. */
	CHECK(truncate(names[0], 1000) == 0);
	fd = open(names[1], O_RDWR);
	CHECK(fd >= 0);
	{
		uint8_t b;
		CHECK(pread(fd, &b, 1, 5000) == 1);
		b ^= 1;
		CHECK(pwrite(fd, &b, 1, 5000) == 1);
		close(fd);
	}
	fd = open(names[2], O_RDWR);
	CHECK(fd >= 0);
	{
		uint8_t b = 'X';
		CHECK(pwrite(fd, &b, 1, 0) == 1);   /* the magic */
		close(fd);
	}
	memset(w, 0, sizeof(*w));
	wrap_init(w, &lsrc, f, &src);
	atomic_store(&warnings, 0);
	CHECK_OK(clip_reader_new(f->idx, &src, &o, &r, &err), &err);
	CHECK_MSG(read_all(r, f, &err) == 0, "%s", clip_error_message(&err));
	flushed_stats(r, &s);
	CHECK(atomic_load(&w->calls) == 3);
	CHECK(s.disk_damaged == 3 && s.disk_writes == 3);
	CHECK(s.disk_hits >= f->nspans - 3);   /* hits count reads, not spans */
	CHECK(atomic_load(&warnings) == 3);
	clip_reader_free(r);

	/* Repaired: warm again. */
	memset(w, 0, sizeof(*w));
	wrap_init(w, &lsrc, f, &src);
	CHECK_OK(clip_reader_new(f->idx, &src, &o, &r, &err), &err);
	CHECK_MSG(read_all(r, f, &err) == 0, "%s", clip_error_message(&err));
	CHECK(atomic_load(&w->calls) == 0);
	clip_reader_free(r);

	clip_layout_source_free(ls);
	free_layer(f);
	free(f);
	free(w);
}

TEST(test_disk_cache_bound)
{
	struct layer_fx *f = malloc(sizeof(*f));
	struct clip_error err;
	struct clip_blob_source src;
	struct clip_reader_opts o;
	struct clip_reader_stats s;
	clip_layout_source *ls = NULL;
	clip_reader *r = NULL;
	static char names[MAX_SPANS][300];
	struct stat st;
	uint64_t total = 0;
	size_t n, i;

	CHECK(f != NULL);
	CHECK_OK(make_layer(f, CLIP_COMPRESSION_GZIP, 2 * MiB, 7, &err), &err);
	CHECK_OK(clip_layout_source_new("layout", &ls, &src, &err), &err);
	opts_quiet(&o);
	o.disk_cache_dir = "cache";
	/* Less than the layer's ~2 MiB of span files (65-300 KiB each), so
	 * some are evicted; room enough that the last write, with others
	 * still in flight (their bytes are reserved), always leaves at least
	 * one older file: at 400 KiB, 1 run in ~150 kept only the last. */
	o.disk_cache_bytes = 1536 * KiB;
	CHECK_OK(clip_reader_new(f->idx, &src, &o, &r, &err), &err);
	CHECK_MSG(read_all(r, f, &err) == 0, "%s", clip_error_message(&err));
	flushed_stats(r, &s);
	CHECK(s.disk_bytes <= o.disk_cache_bytes);
	CHECK(s.disk_writes == f->nspans && s.disk_errors == 0);
	clip_reader_free(r);
	n = cache_files("cache", names, MAX_SPANS);
	CHECK(n >= 2 && n < f->nspans);
	for (i = 0; i < n; i++) {
		CHECK(stat(names[i], &st) == 0);
		total += (uint64_t)st.st_size;
	}
	CHECK(total <= o.disk_cache_bytes);

	/* Reopen with a smaller bound: the scan evicts down to it. */
	o.disk_cache_bytes = 100 * KiB;
	CHECK_OK(clip_reader_new(f->idx, &src, &o, &r, &err), &err);
	flushed_stats(r, &s);
	CHECK(s.disk_bytes <= 100 * KiB);
	CHECK(read_cmp(r, f, f->len / 2, 1000, &err) == 0);
	clip_reader_free(r);
	CHECK(cache_files("cache", names, MAX_SPANS) <= 1);

	/* Oldest access is evicted first, and access order survives a
	 * restart: write spans 0, 1, 2; in a new reader hit 0 on disk, then
	 * write 3: span 1 goes, 0 stays. */
	{
		struct clip_checkpoint c[4];
		uint64_t bound = 0;
		char path[4][300];
		uint32_t j;

		for (j = 0; j < 4; j++) {
			CHECK_OK(clip_index_checkpoint(f->idx, 0, j, &c[j]), NULL);
			bound += c[j].out_end - c[j].out_offset + 88;
		}
		o.disk_cache_dir = "lru";
		o.disk_cache_bytes = bound - 1;   /* room for three of the four */
		CHECK_OK(clip_reader_new(f->idx, &src, &o, &r, &err), &err);
		for (j = 0; j < 3; j++) {
			struct timespec ts = { 0, 20 * 1000000L };
			CHECK(read_cmp(r, f, c[j].out_offset, 10, &err) == 0);
			clip_reader_flush(r);   /* written now, not by a late writer thread */
			nanosleep(&ts, NULL);   /* distinct mtimes */
		}
		clip_reader_free(r);
		CHECK(cache_files("lru", names, MAX_SPANS) == 3);
		CHECK_OK(clip_reader_new(f->idx, &src, &o, &r, &err), &err);
		CHECK(read_cmp(r, f, c[0].out_offset, 10, &err) == 0);
		CHECK(read_cmp(r, f, c[3].out_offset, 10, &err) == 0);
		flushed_stats(r, &s);
		CHECK(s.disk_hits == 1 && s.disk_writes == 1);
		clip_reader_free(r);
		for (j = 0; j < 4; j++) {
			char hexsha[65];
			unsigned b;
			for (b = 0; b < 32; b++)
				sprintf(hexsha + 2 * b, "%02x", c[j].span_sha256[b]);
			snprintf(path[j], sizeof(path[j]), "lru/sha256-%s.%u.%s", f->digest + 7, j,
			    hexsha);
		}
		CHECK(access(path[0], F_OK) == 0);
		CHECK(access(path[1], F_OK) != 0);
		CHECK(access(path[2], F_OK) == 0);
		CHECK(access(path[3], F_OK) == 0);
	}

	clip_layout_source_free(ls);
	free_layer(f);
	free(f);
}

TEST(test_disk_cache_unusable)
{
	struct layer_fx *f = malloc(sizeof(*f));
	struct clip_error err;
	struct clip_blob_source src;
	struct clip_reader_opts o;
	struct clip_reader_stats s;
	clip_layout_source *ls = NULL;
	clip_reader *r = NULL;
	static char names[MAX_SPANS][300];
	struct rlimit old, lim;

	CHECK(f != NULL);
	CHECK_OK(make_layer(f, CLIP_COMPRESSION_GZIP, 1 * MiB, 8, &err), &err);
	CHECK_OK(clip_layout_source_new("layout", &ls, &src, &err), &err);
	opts_quiet(&o);

	/* A cache directory that cannot be created: memory-only, with a warning. */
	CHECK(write_file("plainfile", "x", 1) == 0);
	o.disk_cache_dir = "plainfile/cache";
	atomic_store(&warnings, 0);
	CHECK_OK(clip_reader_new(f->idx, &src, &o, &r, &err), &err);
	CHECK(atomic_load(&warnings) == 1);
	CHECK_MSG(read_all(r, f, &err) == 0, "%s", clip_error_message(&err));
	flushed_stats(r, &s);
	CHECK(s.disk_errors == 1 && s.disk_writes == 0 && s.disk_hits == 0);
	clip_reader_free(r);

	/* A bound smaller than one span: nothing is written, reads work. */
	o.disk_cache_dir = "tiny";
	o.disk_cache_bytes = 1000;
	CHECK_OK(clip_reader_new(f->idx, &src, &o, &r, &err), &err);
	CHECK_MSG(read_all(r, f, &err) == 0, "%s", clip_error_message(&err));
	flushed_stats(r, &s);
	CHECK(s.disk_writes == 0 && s.disk_errors == 0);
	clip_reader_free(r);
	CHECK(cache_files("tiny", names, MAX_SPANS) == 0);

	/* Writes that fail (a file size limit stands in for a full disk):
	 * one warning, memory-only from then on, reads still right. */
	o.disk_cache_dir = "full";
	o.disk_cache_bytes = 1u << 30;
	atomic_store(&warnings, 0);
	CHECK_OK(clip_reader_new(f->idx, &src, &o, &r, &err), &err);
	CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
	signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = 4096;
	CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	err.code = CLIP_OK;
	{
		int rc = read_all(r, f, &err);
		clip_reader_flush(r);   /* the writer thread writes under the limit too */
		setrlimit(RLIMIT_FSIZE, &old);
		signal(SIGXFSZ, SIG_DFL);
		CHECK_MSG(rc == 0, "%s", clip_error_message(&err));
	}
	flushed_stats(r, &s);
	/* Two threads write here, the reader's own (span prefixes) and the
	 * writer thread (whole spans): a write of one can be under way when
	 * the other's fails and turns writes off, and fails too (1 run in
	 * ~100 saw 2).  Fewer failures than spans: writing stopped. */
	CHECK_MSG(s.disk_errors >= 1 && s.disk_errors < f->nspans && s.disk_writes == 0,
	    "%llu failed writes (%zu spans), %llu written", (unsigned long long)s.disk_errors,
	    (size_t)f->nspans, (unsigned long long)s.disk_writes);
	CHECK(atomic_load(&warnings) == 1);
	clip_reader_free(r);
	CHECK(cache_files("full", names, MAX_SPANS) == 0);   /* no temporaries left */

	clip_layout_source_free(ls);
	free_layer(f);
	free(f);
}

TEST(test_readahead)
{
	struct layer_fx *f = malloc(sizeof(*f));
	struct wrap *w = malloc(sizeof(*w));
	struct clip_error err;
	struct clip_blob_source lsrc, src;
	struct clip_reader_opts o;
	struct clip_reader_stats s;
	struct clip_checkpoint c1;
	clip_layout_source *ls = NULL;
	clip_reader *r = NULL;
	uint64_t off;
	unsigned i;
	int k;

	CHECK(f != NULL && w != NULL);
	CHECK_OK(make_layer(f, CLIP_COMPRESSION_GZIP, 2 * MiB, 9, &err), &err);
	CHECK_OK(clip_layout_source_new("layout", &ls, &lsrc, &err), &err);
	wrap_init(w, &lsrc, f, &src);
	clip_reader_opts_init(&o);
	o.readahead_spans = 2;
	o.predict_spans = 0;
	o.load_bytes = 0;              /* a miss loads its own span only */
	CHECK_OK(clip_reader_new(f->idx, &src, &o, &r, &err), &err);
	CHECK_OK(clip_index_checkpoint(f->idx, 0, 1, &c1), NULL);

	/* Random-looking reads do not read ahead. */
	CHECK(read_cmp(r, f, f->len / 2, 10, &err) == 0);
	CHECK(read_cmp(r, f, 10, 10, &err) == 0);
	flushed_stats(r, &s);
	CHECK(s.readahead_spans == 0);

	/* Span 0, then span 1: sequential, so spans 2 and 3 load in the
	 * background.  Wait for them (bounded). */
	CHECK(read_cmp(r, f, c1.out_offset - 10, 20, &err) == 0);
	for (k = 0; k < 400; k++) {
		struct timespec ts = { 0, 5 * 1000000L };
		flushed_stats(r, &s);
		if (s.readahead_spans >= 2)
			break;
		nanosleep(&ts, NULL);
	}
	CHECK_MSG(s.readahead_spans >= 2, "%llu", (unsigned long long)s.readahead_spans);
	CHECK(atomic_load(&w->per_span[2]) == 1 && atomic_load(&w->per_span[3]) == 1);

	/* Stream the rest; every span is still fetched once at most. */
	for (off = 0; off < f->len; off += 16 * KiB)
		CHECK_MSG(read_cmp(r, f, off, 16 * KiB, &err) == 0, "%s", clip_error_message(&err));
	clip_reader_free(r);
	for (i = 0; i < f->nspans; i++)
		CHECK_MSG(atomic_load(&w->per_span[i]) == 1, "span %u fetched %u times", i,
		    atomic_load(&w->per_span[i]));

	clip_layout_source_free(ls);
	free_layer(f);
	free(f);
	free(w);
}

/* Waits (bounded) until span i has been fetched n times; 1 if it was. */
static int
wait_fetched(struct wrap *w, unsigned i, unsigned n)
{
	int k;

	for (k = 0; k < 400 && atomic_load(&w->per_span[i]) < n; k++) {
		struct timespec ts = { 0, 5 * 1000000L };
		nanosleep(&ts, NULL);
	}
	return atomic_load(&w->per_span[i]) == n;
}

/* A read that misses span i loads span i + 1 alongside (predict_spans 1),
 * so the next read there is a hit; a hit predicts nothing, and nothing
 * is predicted past the layer's last span. */
TEST(test_predict)
{
	struct layer_fx *f = malloc(sizeof(*f));
	struct wrap *w = malloc(sizeof(*w));
	struct clip_error err;
	struct clip_blob_source lsrc, src;
	struct clip_reader_opts o;
	struct clip_reader_stats s, s2;
	struct clip_checkpoint c1, last;
	clip_layout_source *ls = NULL;
	clip_reader *r = NULL;
	unsigned i;

	CHECK(f != NULL && w != NULL);
	CHECK_OK(make_layer(f, CLIP_COMPRESSION_GZIP, 2 * MiB, 9, &err), &err);
	CHECK(f->nspans >= 4);
	CHECK_OK(clip_layout_source_new("layout", &ls, &lsrc, &err), &err);
	wrap_init(w, &lsrc, f, &src);
	opts_quiet(&o);
	o.predict_spans = 1;
	CHECK_OK(clip_reader_new(f->idx, &src, &o, &r, &err), &err);
	CHECK_OK(clip_index_checkpoint(f->idx, 0, 1, &c1), NULL);
	CHECK_OK(clip_index_checkpoint(f->idx, 0, (uint32_t)f->nspans - 1, &last), NULL);

	/* A miss in span 0: span 1 comes in the background, span 2 does not. */
	CHECK(read_cmp(r, f, 10, 10, &err) == 0);
	CHECK_MSG(wait_fetched(w, 1, 1), "span 1 fetched %u times", atomic_load(&w->per_span[1]));
	flushed_stats(r, &s);
	CHECK_MSG(s.readahead_spans == 1, "%llu", (unsigned long long)s.readahead_spans);

	/* Span 1 is then a memory hit, fetched no more, and predicts nothing. */
	CHECK(read_cmp(r, f, c1.out_offset + 10, 10, &err) == 0);
	flushed_stats(r, &s2);
	CHECK(s2.mem_hits == s.mem_hits + 1);
	CHECK(atomic_load(&w->per_span[1]) == 1);

	/* A miss in the last span predicts nothing past it. */
	CHECK(read_cmp(r, f, last.out_offset + 10, 10, &err) == 0);
	clip_reader_free(r);   /* waits for the background loads */
	/* (Spans that end in the last span's first chunk come with it.) */
	for (i = 2; i < f->nspans - 1 && f->span_end[i] <= last.span_start / 65536 * 65536; i++)
		CHECK_MSG(atomic_load(&w->per_span[i]) == 0, "span %u fetched %u times", i,
		    atomic_load(&w->per_span[i]));
	CHECK(atomic_load(&w->per_span[f->nspans - 1]) == 1);

	clip_layout_source_free(ls);
	free_layer(f);
	free(f);
	free(w);
}

/* Readahead stays inside the extent (the file) being read: a stream that
 * ends in span 2 loads span 2 ahead, never span 3. */
TEST(test_readahead_extent)
{
	struct layer_fx *f = malloc(sizeof(*f));
	struct wrap *w = malloc(sizeof(*w));
	struct clip_error err;
	struct clip_blob_source lsrc, src;
	struct clip_reader_opts o;
	struct clip_reader_stats s;
	struct clip_checkpoint c1, c2;
	clip_layout_source *ls = NULL;
	clip_reader *r = NULL;
	uint8_t buf[20];
	size_t got;
	int k;

	CHECK(f != NULL && w != NULL);
	CHECK_OK(make_layer(f, CLIP_COMPRESSION_GZIP, 2 * MiB, 9, &err), &err);
	CHECK(f->nspans >= 5);
	CHECK_OK(clip_layout_source_new("layout", &ls, &lsrc, &err), &err);
	wrap_init(w, &lsrc, f, &src);
	clip_reader_opts_init(&o);
	o.readahead_spans = 4;
	o.predict_spans = 0;
	o.load_bytes = 0;
	CHECK_OK(clip_reader_new(f->idx, &src, &o, &r, &err), &err);
	CHECK_OK(clip_index_checkpoint(f->idx, 0, 1, &c1), NULL);
	CHECK_OK(clip_index_checkpoint(f->idx, 0, 2, &c2), NULL);

	CHECK_OK(clip_reader_read_extent(r, 0, 10, 10, c2.out_offset + 1, buf, &got, &err), &err);
	CHECK(got == 10 && memcmp(buf, f->data + 10, 10) == 0);
	CHECK_OK(clip_reader_read_extent(r, 0, c1.out_offset - 10, 20, c2.out_offset + 1, buf,
	    &got, &err), &err);
	CHECK(got == 20 && memcmp(buf, f->data + c1.out_offset - 10, 20) == 0);
	for (k = 0; k < 400; k++) {
		struct timespec ts = { 0, 5 * 1000000L };
		flushed_stats(r, &s);
		if (s.readahead_spans >= 1)
			break;
		nanosleep(&ts, NULL);
	}
	clip_reader_free(r);   /* waits for work_queue */
	CHECK(atomic_load(&w->per_span[2]) == 1);
	for (k = 3; k < (int)f->nspans; k++)
		CHECK_MSG(atomic_load(&w->per_span[k]) == 0, "span %d fetched past the extent", k);

	clip_layout_source_free(ls);
	free_layer(f);
	free(f);
	free(w);
}

/*
 * Requests never overlap: a very compressible layer with small spans
 * (several to a 64 KiB chunk), read from start to end with readahead,
 * predict and runs on, fetches no byte twice, and all of it once.  The
 * chunks at the edges of each request are taken from memory instead.
 */
TEST(test_requests_never_overlap)
{
	struct layer_fx *f = malloc(sizeof(*f));
	struct wrap *w = malloc(sizeof(*w));
	struct clip_error err;
	struct clip_blob_source lsrc, src;
	struct clip_reader_opts o;
	struct clip_reader_stats s;
	clip_layout_source *ls = NULL;
	clip_reader *r = NULL;
	uint64_t off, overlap;

	CHECK(f != NULL && w != NULL);
	fx_span = 64 * KiB;
	fx_words_only = 1;
	CHECK_OK(make_layer(f, CLIP_COMPRESSION_GZIP, 24 * MiB, 31, &err), &err);
	fx_span = SPAN;
	fx_words_only = 0;
	CHECK_MSG(f->blob_len * 4 < f->len && f->nspans * 65536 > f->blob_len,
	    "not compressible enough: %zu bytes in %u spans to %zu", f->len, f->nspans,
	    f->blob_len);
	CHECK_OK(clip_layout_source_new("layout", &ls, &lsrc, &err), &err);
	wrap_init(w, &lsrc, f, &src);
	opts_quiet(&o);
	o.readahead_spans = 2;
	o.predict_spans = 1;
	o.load_bytes = 1 * MiB;
	CHECK_OK(clip_reader_new(f->idx, &src, &o, &r, &err), &err);
	for (off = 0; off < f->len; off += 128 * KiB)
		CHECK_MSG(read_cmp(r, f, off, 128 * KiB, &err) == 0, "%s", clip_error_message(&err));
	flushed_stats(r, &s);
	overlap = wrap_overlap_bytes(w);
	CHECK_MSG(overlap == 0, "%llu bytes fetched twice in %u requests",
	    (unsigned long long)overlap, w->nranges);
	CHECK_MSG(s.bytes_fetched == f->blob_len, "%llu bytes fetched of a %zu byte blob",
	    (unsigned long long)s.bytes_fetched, f->blob_len);
	CHECK(s.chunk_reuses > 0 && s.fetch_requests > 4 && w->nranges < MAX_RANGES);
	clip_reader_free(r);

	clip_layout_source_free(ls);
	free_layer(f);
	free(f);
	free(w);
}

TEST(test_stored_layer)
{
	struct layer_fx *f = malloc(sizeof(*f));
	struct wrap *w = malloc(sizeof(*w));
	struct clip_error err;
	struct clip_blob_source lsrc, src;
	struct clip_reader_opts o;
	struct clip_reader_stats s;
	clip_layout_source *ls = NULL;
	clip_reader *r = NULL;
	uint64_t st = 7, off;
	uint8_t buf[100];
	size_t len, got;
	int k;

	CHECK(f != NULL && w != NULL);
	CHECK_OK(make_layer(f, CLIP_COMPRESSION_NONE, 1 * MiB + 3, 10, &err), &err);
	CHECK(f->nspans >= 16);
	CHECK_OK(clip_layout_source_new("layout", &ls, &lsrc, &err), &err);
	wrap_init(w, &lsrc, f, &src);
	opts_quiet(&o);
	CHECK_OK(clip_reader_new(f->idx, &src, &o, &r, &err), &err);
	for (k = 0; k < 200; k++) {
		off = rnd(&st) % (f->len + 10);
		len = 1 + (size_t)(rnd(&st) % (150 * KiB));
		CHECK_MSG(read_cmp(r, f, off, len, &err) == 0, "%s", clip_error_message(&err));
	}
	CHECK(read_cmp(r, f, 0, f->len, &err) == 0);
	flushed_stats(r, &s);
	CHECK(s.spans_inflated == 0 && s.fetch_requests == f->nspans);
	CHECK(s.bytes_fetched == f->len);
	clip_reader_free(r);

	/* Still verified. */
	CHECK_OK(clip_reader_new(f->idx, &src, &o, &r, &err), &err);
	atomic_store(&w->corrupt, 1);
	CHECK(clip_reader_read(r, 0, 5, sizeof(buf), buf, &got, &err) == CLIP_ERR_CHECKSUM);
	atomic_store(&w->corrupt, 0);
	CHECK(read_cmp(r, f, 5, sizeof(buf), &err) == 0);
	clip_reader_free(r);

	clip_layout_source_free(ls);
	free_layer(f);
	free(f);
	free(w);
}

TEST(test_no_memory_cache)
{
	struct layer_fx *f = malloc(sizeof(*f));
	struct clip_error err;
	struct clip_blob_source src;
	struct clip_reader_opts o;
	struct clip_reader_stats s;
	clip_layout_source *ls = NULL;
	clip_reader *r = NULL;
	uint64_t st = 9, off;
	int k;

	CHECK(f != NULL);
	CHECK_OK(make_layer(f, CLIP_COMPRESSION_GZIP, 1 * MiB, 11, &err), &err);
	CHECK_OK(clip_layout_source_new("layout", &ls, &src, &err), &err);
	opts_quiet(&o);
	o.mem_cache_bytes = 0;
	CHECK_OK(clip_reader_new(f->idx, &src, &o, &r, &err), &err);
	for (k = 0; k < 50; k++) {
		off = rnd(&st) % f->len;
		CHECK(read_cmp(r, f, off, 70 * KiB, &err) == 0);
	}
	CHECK(read_cmp(r, f, 0, f->len, &err) == 0);
	/* Nothing is kept once out of use (a read that comes while a load
	 * still holds its span may find it, and counts a hit). */
	flushed_stats(r, &s);
	CHECK_MSG(s.mem_bytes == 0 && s.mem_spans == 0, "%llu bytes, %llu spans kept",
	    (unsigned long long)s.mem_bytes, (unsigned long long)s.mem_spans);

	/* Bad options are refused. */
	{
		clip_reader *r2 = (clip_reader *)1;
		o.max_fetches = 0;
		CHECK(clip_reader_new(f->idx, &src, &o, &r2, &err) == CLIP_ERR_INVALID);
		CHECK(r2 == NULL);
	}
	/* A span bigger than the limit is refused, not allocated. */
	clip_reader_free(r);
	opts_quiet(&o);
	o.max_span_bytes = 1000;
	CHECK_OK(clip_reader_new(f->idx, &src, &o, &r, &err), &err);
	{
		uint8_t b[10];
		size_t got;
		CHECK(clip_reader_read(r, 0, 0, sizeof(b), b, &got, &err) == CLIP_ERR_TOOBIG);
	}
	clip_reader_free(r);

	clip_layout_source_free(ls);
	free_layer(f);
	free(f);
}

TEST(test_prefetch)
{
	struct layer_fx *f = malloc(sizeof(*f));
	struct wrap *w = malloc(sizeof(*w));
	struct clip_error err;
	struct clip_blob_source lsrc, src;
	struct clip_reader_opts o;
	struct clip_reader_stats s;
	struct clip_checkpoint c3;
	clip_layout_source *ls = NULL;
	clip_reader *r = NULL;
	uint32_t i;

	CHECK(f != NULL && w != NULL);
	CHECK_OK(make_layer(f, CLIP_COMPRESSION_GZIP, 2 * MiB, 9, &err), &err);
	CHECK(f->nspans >= 8);
	CHECK_OK(clip_layout_source_new("layout", &ls, &lsrc, &err), &err);
	wrap_init(w, &lsrc, f, &src);
	opts_quiet(&o);
	o.readahead_spans = 0;
	CHECK_OK(clip_reader_new(f->idx, &src, &o, &r, &err), &err);

	/* Span 3 is read first, so prefetching everything makes two runs:
	 * [0, 3) and [4, n), each one request spanning several spans. */
	CHECK_OK(clip_index_checkpoint(f->idx, 0, 3, &c3), NULL);
	CHECK(read_cmp(r, f, c3.out_offset, 10, &err) == 0);
	CHECK_OK(clip_reader_prefetch(r, 0, 0, f->nspans, 0, &err), &err);
	flushed_stats(r, &s);
	CHECK_MSG(s.fetch_requests == 3, "%llu requests", (unsigned long long)s.fetch_requests);
	CHECK(s.prefetch_requests == 2 && s.prefetch_spans == f->nspans - 1);
	/* Each byte once: the chunk span 3 shares with 2 is not fetched again. */
	CHECK_MSG(wrap_overlap_bytes(w) == 0, "%llu bytes fetched twice",
	    (unsigned long long)wrap_overlap_bytes(w));
	CHECK(s.bytes_fetched == f->blob_len);
	/* Everything is in memory now: reading it all fetches nothing. */
	CHECK(read_cmp(r, f, 0, f->len, &err) == 0);
	flushed_stats(r, &s);
	CHECK(s.fetch_requests == 3);
	/* Again: nothing to do. */
	CHECK_OK(clip_reader_prefetch(r, 0, 0, f->nspans, 0, &err), &err);
	flushed_stats(r, &s);
	CHECK(s.fetch_requests == 3);
	clip_reader_free(r);

	/* A request bound splits runs; corrupt bytes fail the spans, cache
	 * none of them, and the next prefetch loads them. */
	CHECK_OK(clip_reader_new(f->idx, &src, &o, &r, &err), &err);
	atomic_store(&w->corrupt, 1);
	clip_error_clear(&err);
	CHECK(clip_reader_prefetch(r, 0, 0, 4, 1, &err) == CLIP_ERR_CHECKSUM);
	flushed_stats(r, &s);
	CHECK(s.fetch_requests == 4 && s.prefetch_spans == 0 && s.mem_spans == 0);
	atomic_store(&w->corrupt, 0);
	CHECK_OK(clip_reader_prefetch(r, 0, 0, 4, 1, &err), &err);
	flushed_stats(r, &s);
	/* (Chunks that matched their hashes in the failed requests are kept:
	 * only the others are fetched again.) */
	CHECK_MSG(s.fetch_requests > 4 && s.fetch_requests <= 8 && s.prefetch_spans == 4,
	    "%llu requests, %llu spans", (unsigned long long)s.fetch_requests,
	    (unsigned long long)s.prefetch_spans);
	for (i = 0; i < 4; i++)
		CHECK(span_data_ok(r, f, i));
	clip_reader_free(r);
	clip_layout_source_free(ls);
	free_layer(f);
	free(f);
	free(w);
}

/* ---- several hosts (fetch_verified) --------------------------------------- */

/* Two hosts behind one source, as mirrors.c has them: each try goes
 * through the wrap (host 0 damages its bytes while bad0 is set, host 1
 * while bad1 is), and a host whose bytes verify refuses is left for the
 * next one. */
struct two_hosts {
	struct wrap *w;
	atomic_int bad0, bad1;
	atomic_uint wrong[2], served[2];
};

static clip_err
two_hosts_fetch(void *ctx, const char *digest, uint64_t off, size_t len, void *buf,
    clip_fetch_progress_fn progress, clip_fetch_verify_fn verify, void *arg,
    struct clip_error *err)
{
	struct two_hosts *h = ctx;
	clip_err rc = CLIP_OK;
	int i;

	for (i = 0; i < 2; i++) {
		atomic_store(&h->w->corrupt, atomic_load(i == 0 ? &h->bad0 : &h->bad1));
		rc = wrap_fetch(h->w, digest, off, len, buf, err);
		if (rc != CLIP_OK)
			return rc;
		if (progress != NULL)
			progress(arg, len);
		if (verify == NULL || verify(arg)) {
			atomic_fetch_add(&h->served[i], 1);
			return CLIP_OK;
		}
		atomic_fetch_add(&h->wrong[i], 1);
		rc = clip_error_set(err, CLIP_ERR_CHECKSUM, "host %d: wrong bytes", i);
	}
	return rc;
}

/* A source without fetch_verified would only ever see host 0. */
static clip_err
two_hosts_first(void *ctx, const char *digest, uint64_t off, size_t len, void *buf,
    struct clip_error *err)
{
	return two_hosts_fetch(ctx, digest, off, len, buf, NULL, NULL, NULL, err);
}

/* Reads the whole layer through two hosts, host 0 damaging everything:
 * the right bytes, each range wrong once at host 0 and served by host 1;
 * both damaging: CLIP_ERR_CHECKSUM, nothing served. */
static void
check_two_hosts(int exact)
{
	struct layer_fx *f = malloc(sizeof(*f));
	struct wrap *w = malloc(sizeof(*w));
	struct two_hosts h;
	struct clip_error err;
	struct clip_blob_source lsrc, wsrc, src = { 0 };
	struct clip_reader_opts o;
	struct clip_reader_stats s;
	clip_layout_source *ls = NULL;
	clip_reader *r = NULL;
	uint8_t buf[4096];
	size_t got = 1;

	CHECK(f != NULL && w != NULL);
	CHECK_OK(make_layer(f, CLIP_COMPRESSION_GZIP, 1 * MiB, 21, &err), &err);
	CHECK_OK(clip_layout_source_new("layout", &ls, &lsrc, &err), &err);
	wrap_init(w, &lsrc, f, &wsrc);
	memset(&h, 0, sizeof(h));
	h.w = w;
	atomic_store(&h.bad0, 1);
	src.fetch = two_hosts_first;
	src.fetch_verified = two_hosts_fetch;
	src.ctx = &h;
	opts_quiet(&o);
	CHECK_OK(clip_reader_new(f->idx, &src, &o, &r, &err), &err);
	if (exact)
		CHECK_OK(clip_reader_prefetch(r, 0, 0, f->nspans, 0, &err), &err);
	CHECK_MSG(read_cmp(r, f, 0, f->len, &err) == 0, "%s", clip_error_message(&err));
	flushed_stats(r, &s);
	CHECK_MSG(atomic_load(&h.wrong[0]) >= 1 && atomic_load(&h.served[0]) == 0 &&
	    atomic_load(&h.wrong[0]) == atomic_load(&h.served[1]) && atomic_load(&h.wrong[1]) == 0,
	    "host 0: %u wrong, %u served; host 1: %u wrong, %u served", atomic_load(&h.wrong[0]),
	    atomic_load(&h.served[0]), atomic_load(&h.wrong[1]), atomic_load(&h.served[1]));
	CHECK(s.fetch_errors == 0 && s.checksum_errors == atomic_load(&h.wrong[0]));
	if (exact)
		CHECK(s.prefetch_spans == f->nspans);
	clip_reader_free(r);

	atomic_store(&h.bad1, 1);
	CHECK_OK(clip_reader_new(f->idx, &src, &o, &r, &err), &err);
	clip_error_clear(&err);
	if (exact)
		CHECK(clip_reader_prefetch(r, 0, 0, 2, 0, &err) == CLIP_ERR_CHECKSUM);
	CHECK(clip_reader_read(r, 0, 10, sizeof(buf), buf, &got, &err) == CLIP_ERR_CHECKSUM);
	CHECK(got == 0);
	CHECK_MSG(strstr(err.msg, "host 1") != NULL, "%s", err.msg);
	flushed_stats(r, &s);
	CHECK(s.mem_spans == 0 && s.bytes_served == 0);
	clip_reader_free(r);
	clip_layout_source_free(ls);
	free_layer(f);
	free(f);
	free(w);
}

TEST(test_hosts_streamed)
{
	check_two_hosts(0);
}

TEST(test_hosts_exact)
{
	check_two_hosts(1);
}

/* ---- streamed loads -------------------------------------------------------- */

/*
 * A source that reports progress in steps it controls: it reads the range
 * from the layout, then tells the reader about the first hold_at bytes
 * only, and the rest once released (or after 5 s).  Or it misbehaves:
 * flip a byte at flip_at, or go back to 0 once (a retry).
 */
struct gate {
	struct clip_blob_source inner;
	size_t hold_at;
	atomic_int released, timed_out, fetches;
	long flip_at;               /* -1: none */
	int restart;
};

static clip_err
gate_fetch(void *ctx, const char *digest, uint64_t off, size_t len, void *buf,
    struct clip_error *err)
{
	struct gate *g = ctx;

	return g->inner.fetch(g->inner.ctx, digest, off, len, buf, err);
}

static clip_err
gate_fetch_progress(void *ctx, const char *digest, uint64_t off, size_t len, void *buf,
    clip_fetch_progress_fn progress, void *arg, struct clip_error *err)
{
	struct gate *g = ctx;
	struct timespec ms = { 0, 1000000L };
	clip_err rc;
	int k;

	atomic_fetch_add(&g->fetches, 1);
	rc = g->inner.fetch(g->inner.ctx, digest, off, len, buf, err);
	if (rc != CLIP_OK)
		return rc;
	if (g->flip_at >= 0 && (size_t)g->flip_at < len)
		((uint8_t *)buf)[g->flip_at] ^= 0x20;
	progress(arg, g->hold_at < len ? g->hold_at : len);
	if (g->restart) {
		progress(arg, 0);
		progress(arg, len / 3);
	}
	for (k = 0; k < 5000 && !atomic_load(&g->released); k++)
		nanosleep(&ms, NULL);
	if (!atomic_load(&g->released))
		atomic_store(&g->timed_out, 1);
	progress(arg, len);
	return CLIP_OK;
}

static void
gate_init(struct gate *g, const struct clip_blob_source *inner, struct clip_blob_source *out)
{
	memset(g, 0, sizeof(*g));
	memset(out, 0, sizeof(*out));
	g->inner = *inner;
	g->flip_at = -1;
	out->fetch = gate_fetch;
	out->fetch_progress = gate_fetch_progress;
	out->ctx = g;
}

/* *r: a reader over gate g on inner, released at once, with these settings. */
static clip_err
gated_reader(struct gate *g, const struct clip_blob_source *inner, struct clip_blob_source *src,
    const struct layer_fx *f, const struct clip_reader_opts *o, size_t hold_at, long flip_at,
    int restart, clip_reader **r, struct clip_error *err)
{
	gate_init(g, inner, src);
	g->hold_at = hold_at;
	g->flip_at = flip_at;
	g->restart = restart;
	atomic_store(&g->released, 1);
	return clip_reader_new(f->idx, src, o, r, err);
}

TEST(test_stream_loads)
{
	struct layer_fx *f = malloc(sizeof(*f));
	struct gate *g = malloc(sizeof(*g));
	struct clip_error err;
	struct clip_blob_source lsrc, src;
	struct clip_reader_opts o;
	struct clip_reader_stats s;
	struct clip_checkpoint cp;
	clip_layout_source *ls = NULL;
	clip_reader *r = NULL;
	uint64_t from, to;

	CHECK(f != NULL && g != NULL);
	CHECK_OK(make_layer(f, CLIP_COMPRESSION_GZIP, 2 * MiB, 5, &err), &err);
	CHECK_OK(clip_layout_source_new("layout", &ls, &lsrc, &err), &err);
	CHECK_OK(clip_index_checkpoint(f->idx, 0, 3, &cp), NULL);
	from = cp.span_start / 65536 * 65536;
	to = (cp.span_end + 65535) / 65536 * 65536;
	if (to > f->blob_len)
		to = f->blob_len;
	opts_quiet(&o);

	/* The read at the span's start is answered while the source still
	 * holds back everything after its first chunks. */
	gate_init(g, &lsrc, &src);
	g->hold_at = (size_t)(cp.span_start - from) + 2 * 65536;
	CHECK_OK(clip_reader_new(f->idx, &src, &o, &r, &err), &err);
	CHECK_MSG(read_cmp(r, f, cp.out_offset + 10, 1000, &err) == 0, "%s",
	    clip_error_message(&err));
	CHECK(!atomic_load(&g->timed_out));
	atomic_store(&g->released, 1);
	flushed_stats(r, &s);
	CHECK(s.stream_loads == 1 && s.spans_inflated == 1 && s.fetch_requests == 1);
	CHECK(s.bytes_fetched == to - from);
	/* The whole span was published: reads anywhere in it are hits. */
	CHECK(read_cmp(r, f, cp.out_end - 5000, 5000, &err) == 0);
	flushed_stats(r, &s);
	CHECK(s.fetch_requests == 1 && s.mem_hits == 1);
	clip_reader_free(r);

	/* A read near the span's end waits for the rest, and gets it. */
	CHECK_OK(gated_reader(g, &lsrc, &src, f, &o, 65536, -1, 0, &r, &err), &err);
	CHECK(read_cmp(r, f, cp.out_end - 3000, 3000, &err) == 0);
	flushed_stats(r, &s);
	CHECK(s.stream_loads == 1);
	clip_reader_free(r);

	/* A flipped byte in the span's last chunk: bytes in front of it were
	 * checked and may be served, but the span is never published, and
	 * a read of the damaged part fails with a checksum error. */
	CHECK_OK(gated_reader(g, &lsrc, &src, f, &o, (size_t)(to - from),
	    (long)(cp.span_end - from) - 100, 0, &r, &err), &err);
	CHECK(read_cmp(r, f, cp.out_end - 10, 10, &err) != 0 && err.code == CLIP_ERR_CHECKSUM);
	flushed_stats(r, &s);
	CHECK(s.checksum_errors >= 1 && s.stream_loads == 0 && s.mem_spans == 0);
	clip_reader_free(r);

	/* A retry mid-way (progress goes back): no streaming from then on;
	 * the span loads the usual way, right. */
	CHECK_OK(gated_reader(g, &lsrc, &src, f, &o, (size_t)(to - from) / 2, -1, 1, &r, &err), &err);
	CHECK(read_cmp(r, f, cp.out_end - 10, 10, &err) == 0);
	flushed_stats(r, &s);
	CHECK(s.stream_loads == 0 && s.spans_inflated == 1);
	CHECK(read_cmp(r, f, 0, f->len, &err) == 0);
	clip_reader_free(r);

	/* Every byte of the layer, read in odd pieces through streamed loads;
	 * once flushed, every helper thread has been joined, not merely told
	 * the reader it was done, and no thread is left that was not there
	 * before.  The kernel lists a thread for a moment after it wakes its
	 * joiner (so a joined thread may still show, and one joined before
	 * may still be among those "before"): the check waits (bounded). */
	CHECK_OK(gated_reader(g, &lsrc, &src, f, &o, 100000, -1, 0, &r, &err), &err);
	{
		uint64_t off;
		long before[256];
		int nbefore = thread_ids(before, 256), fresh, tries;
		CHECK(nbefore > 0 && nbefore < 256);
		for (off = 0; off < f->len; off += 77777)
			CHECK(read_cmp(r, f, off, 77777, &err) == 0);
		flushed_stats(r, &s);
		CHECK_MSG(s.loads_running == 0 && s.loads_queued == 0,
		    "%llu loads running, %llu queued after the flush",
		    (unsigned long long)s.loads_running, (unsigned long long)s.loads_queued);
		for (tries = 0; (fresh = threads_new(before, nbefore)) != 0 && tries < 200; tries++)
			usleep(10000);
		CHECK_MSG(fresh == 0, "%d threads 2 s after the flush that were not there before",
		    fresh);
	}
	CHECK(s.stream_loads >= f->nspans - 1);
	clip_reader_free(r);

	clip_layout_source_free(ls);
	free_layer(f);
	free(f);
	free(g);
}

/* A streamed miss brings in the spans after its own in the same request,
 * up to load_bytes of data, each published once whole; a run stops at a
 * span that is loaded already; a bad byte fails only the span it is in. */
TEST(test_load_runs)
{
	struct layer_fx *f = malloc(sizeof(*f));
	struct gate *g = malloc(sizeof(*g));
	struct clip_error err;
	struct clip_blob_source lsrc, src;
	struct clip_reader_opts o;
	struct clip_reader_stats s;
	struct clip_checkpoint c[6];
	clip_layout_source *ls = NULL;
	clip_reader *r = NULL;
	uint64_t from, off;
	unsigned k;

	CHECK(f != NULL && g != NULL);
	CHECK_OK(make_layer(f, CLIP_COMPRESSION_GZIP, 2 * MiB, 5, &err), &err);
	CHECK(f->nspans >= 6);
	for (k = 0; k < 6; k++)
		CHECK_OK(clip_index_checkpoint(f->idx, 0, k, &c[k]), NULL);
	CHECK_OK(clip_layout_source_new("layout", &ls, &lsrc, &err), &err);
	opts_quiet(&o);
	o.load_bytes = c[4].out_offset - c[1].out_offset;   /* spans 1, 2 and 3 */

	/* A miss in span 1: spans 1 to 3 in one request; then reads in 2 and
	 * 3 are memory hits, and span 4 was never fetched. */
	CHECK_OK(gated_reader(g, &lsrc, &src, f, &o, 0, -1, 0, &r, &err), &err);
	CHECK(read_cmp(r, f, c[1].out_offset + 10, 1000, &err) == 0);
	flushed_stats(r, &s);
	CHECK_MSG(s.fetch_requests == 1 && s.stream_loads == 3 && s.spans_inflated == 3 &&
	    s.readahead_spans == 2, "%llu requests, %llu streamed, %llu inflated, %llu ahead",
	    (unsigned long long)s.fetch_requests, (unsigned long long)s.stream_loads,
	    (unsigned long long)s.spans_inflated, (unsigned long long)s.readahead_spans);
	CHECK(read_cmp(r, f, c[2].out_offset + 5, 5000, &err) == 0);
	CHECK(read_cmp(r, f, c[4].out_offset - 100, 100, &err) == 0);
	flushed_stats(r, &s);
	CHECK(s.fetch_requests == 1 && s.mem_hits == 2);
	/* A miss in span 0 takes span 0 alone: span 1 is there already.  If
	 * span 0 lies in the chunk where span 1 starts, that chunk came with
	 * spans 1-3 and is not fetched again. */
	CHECK(read_cmp(r, f, 10, 10, &err) == 0);
	flushed_stats(r, &s);
	CHECK_MSG(s.fetch_requests == (c[0].span_end <= 65536 ? 1u : 2u) && s.spans_inflated == 4 &&
	    s.readahead_spans == 2, "%llu requests", (unsigned long long)s.fetch_requests);
	clip_reader_free(r);

	/* A flipped byte in span 3: the run stops streaming, and the spans
	 * are checked one by one against their own hashes: 1 and 2 are
	 * served right and kept, 3 is not kept. */
	from = c[1].span_start / 65536 * 65536;
	CHECK(c[3].span_end - c[3].span_start > 200 && c[3].span_end - 100 > c[2].span_end);
	CHECK_OK(gated_reader(g, &lsrc, &src, f, &o, 0, (long)(c[3].span_end - 100 - from), 0, &r,
	    &err), &err);
	CHECK(read_cmp(r, f, c[1].out_offset + 10, 10, &err) == 0);
	flushed_stats(r, &s);
	CHECK_MSG(s.checksum_errors >= 1 && s.spans_inflated == 2 && s.mem_spans == 2,
	    "%llu checksum errors, %llu inflated, %llu kept",
	    (unsigned long long)s.checksum_errors, (unsigned long long)s.spans_inflated,
	    (unsigned long long)s.mem_spans);
	CHECK(read_cmp(r, f, c[2].out_offset + 10, 10, &err) == 0);
	flushed_stats(r, &s);
	CHECK(s.fetch_requests == 1 && s.mem_hits == 1);
	clip_reader_free(r);

	/* Every byte of the layer, read in odd pieces through runs. */
	o.load_bytes = 8 * MiB;
	CHECK_OK(gated_reader(g, &lsrc, &src, f, &o, 100000, -1, 0, &r, &err), &err);
	for (off = 0; off < f->len; off += 77777)
		CHECK(read_cmp(r, f, off, 77777, &err) == 0);
	flushed_stats(r, &s);
	CHECK(s.spans_inflated == f->nspans && s.fetch_requests < f->nspans);
	clip_reader_free(r);

	clip_layout_source_free(ls);
	free_layer(f);
	free(f);
	free(g);
}

struct prefetch_job {
	clip_reader *r;
	uint32_t count;
	clip_err rc;
};

static void *
prefetch_thread(void *arg)
{
	struct prefetch_job *j = arg;
	struct clip_error err;

	j->rc = clip_reader_prefetch(j->r, 0, 0, j->count, 0, &err);
	return NULL;
}

/* A prefetch request covering several spans publishes each as its bytes
 * arrive: a read of the first span does not wait for the last. */
TEST(test_prefetch_publishes_early)
{
	struct layer_fx *f = malloc(sizeof(*f));
	struct gate *g = malloc(sizeof(*g));
	struct clip_error err;
	struct clip_blob_source lsrc, src;
	struct clip_reader_opts o;
	struct clip_reader_stats s;
	struct clip_checkpoint c0;
	struct prefetch_job job;
	clip_layout_source *ls = NULL;
	pthread_t tid;
	int k;

	CHECK(f != NULL && g != NULL);
	CHECK_OK(make_layer(f, CLIP_COMPRESSION_GZIP, 2 * MiB, 13, &err), &err);
	CHECK(f->nspans >= 4);
	CHECK_OK(clip_layout_source_new("layout", &ls, &lsrc, &err), &err);
	CHECK_OK(clip_index_checkpoint(f->idx, 0, 0, &c0), NULL);
	gate_init(g, &lsrc, &src);
	g->hold_at = (size_t)c0.span_end + 1;     /* span 0 and a byte more */
	opts_quiet(&o);
	memset(&job, 0, sizeof(job));
	job.count = 4;
	CHECK_OK(clip_reader_new(f->idx, &src, &o, &job.r, &err), &err);
	CHECK(pthread_create(&tid, NULL, prefetch_thread, &job) == 0);
	/* Until the prefetch has claimed its spans (bounded: 5 s). */
	for (k = 0; k < 5000 && atomic_load(&g->fetches) == 0; k++) {
		struct timespec ms = { 0, 1000000L };
		nanosleep(&ms, NULL);
	}
	CHECK(atomic_load(&g->fetches) == 1);
	CHECK(read_cmp(job.r, f, c0.out_offset + 5, 100, &err) == 0);
	CHECK(!atomic_load(&g->timed_out));
	atomic_store(&g->released, 1);
	pthread_join(tid, NULL);
	CHECK(job.rc == CLIP_OK);
	flushed_stats(job.r, &s);
	CHECK(s.fetch_requests == 1 && s.prefetch_spans == 4);
	CHECK(read_cmp(job.r, f, 0, f->len, &err) == 0);
	clip_reader_free(job.r);
	clip_layout_source_free(ls);
	free_layer(f);
	free(f);
	free(g);
}

/* ---- layer files ----------------------------------------------------------- */

static clip_err
fill_held(void *ctx, uint64_t off, uint8_t *buf, size_t len, struct clip_error *err)
{
	return clip_reader_read_held(ctx, 0, off, len, buf, err);
}

static clip_err
fill_failing(void *ctx, uint64_t off, uint8_t *buf, size_t len, struct clip_error *err)
{
	(void)ctx; (void)buf; (void)len;
	if (off >= MiB)
		return clip_error_set(err, CLIP_ERR_NETWORK, "injected failure");
	memset(buf, 'x', len);
	return CLIP_OK;
}

/* 1 if path holds data (len bytes), zeros to the block, then a seal. */
static int
layer_file_holds(const char *path, const uint8_t *data, size_t len)
{
	size_t padded = (size_t)clip_layer_file_padded(len), i;
	uint8_t *buf = malloc(padded + CLIP_LAYER_SEAL_SIZE + 1);
	FILE *fp = fopen(path, "rb");
	int ok = buf != NULL && fp != NULL &&
	    fread(buf, 1, padded + CLIP_LAYER_SEAL_SIZE + 1, fp) == padded + CLIP_LAYER_SEAL_SIZE &&
	    memcmp(buf, data, len) == 0;

	for (i = len; ok && i < padded; i++)
		ok = buf[i] == 0;
	if (fp != NULL)
		fclose(fp);
	free(buf);
	return ok;
}

static int
flip_byte(const char *path, off_t at)
{
	int fd = open(path, O_RDWR);
	uint8_t b;
	int ok = fd >= 0 && pread(fd, &b, 1, at) == 1 && (b ^= 0x20, pwrite(fd, &b, 1, at) == 1);

	if (fd >= 0)
		close(fd);
	return ok ? 0 : -1;
}

/* Opens id's file (check or not) and returns the result code. */
static clip_err
layer_file_try(int dirfd, const struct clip_layer_file_id *id, int check)
{
	struct clip_error e;
	clip_err rc;
	int fd;

	clip_error_clear(&e);
	rc = clip_layer_file_open(dirfd, id, check, &fd, &e);
	if (fd >= 0)
		close(fd);
	return rc;
}

TEST(test_layer_files)
{
	struct layer_fx *f = malloc(sizeof(*f));
	struct clip_layer_file_id id, other;
	struct clip_error err;
	struct clip_blob_source lsrc;
	struct clip_reader_opts o;
	clip_layout_source *ls = NULL;
	clip_reader *r = NULL;
	char name[CLIP_LAYER_FILE_NAME_MAX], path[300], other_path[300];
	uint64_t size;
	int dirfd;

	CHECK(f != NULL);
	/* Not a whole number of 512-byte blocks: the file pads it. */
	CHECK_OK(make_layer(f, CLIP_COMPRESSION_GZIP, 2 * MiB + 777, 15, &err), &err);
	CHECK_OK(clip_layout_source_new("layout", &ls, &lsrc, &err), &err);
	opts_quiet(&o);
	o.disk_cache_dir = "cache";
	CHECK_OK(clip_reader_new(f->idx, &lsrc, &o, &r, &err), &err);
	CHECK(clip_reader_layer_held(r, 0) == 0);
	CHECK(clip_reader_read_held(r, 0, 0, 100, f->data, &err) == CLIP_ERR_NOTFOUND);
	CHECK_MSG(read_all(r, f, &err) == 0, "%s", clip_error_message(&err));
	clip_reader_flush(r);
	clip_reader_free(r);

	/* A new reader finds the layer whole on disk, and copies it out. */
	o.mem_cache_bytes = 0;
	CHECK_OK(clip_reader_new(f->idx, &lsrc, &o, &r, &err), &err);
	CHECK(clip_reader_layer_held(r, 0) == 1);
	CHECK(mkdir("cache/" CLIP_LAYER_FILES_DIR, 0700) == 0);
	CHECK((dirfd = open("cache/" CLIP_LAYER_FILES_DIR, O_RDONLY | O_DIRECTORY)) >= 0);
	CHECK_OK(clip_layer_file_id_of(f->idx, 0, &id, &err), &err);
	CHECK(layer_file_try(dirfd, &id, 0) == CLIP_ERR_NOTFOUND);
	CHECK_OK(clip_layer_file_write(dirfd, &id, fill_held, r, &err), &err);
	CHECK(clip_layer_file_name(id.digest, name, sizeof(name)) == 0);
	CHECK(strncmp(name, "sha256-", 7) == 0 && strchr(name, ':') == NULL);
	snprintf(path, sizeof(path), "cache/" CLIP_LAYER_FILES_DIR "/%s", name);
	CHECK(mode_of(path) == 0600);
	CHECK(layer_file_holds(path, f->data, f->len));
	CHECK(layer_file_try(dirfd, &id, 0) == CLIP_OK);
	CHECK(layer_file_try(dirfd, &id, 1) == CLIP_OK);

	/* The seal binds the digest and the index's description. */
	other = id;
	other.index_sha256[5] ^= 1;
	CHECK(layer_file_try(dirfd, &other, 0) == CLIP_ERR_FORMAT);
	other = id;
	other.stream_size--;
	CHECK(layer_file_try(dirfd, &other, 0) == CLIP_ERR_FORMAT);
	other.stream_size = id.stream_size;
	other.digest = "sha256:00000000000000000000000000000000000000000000000000000000000000ff";
	CHECK(clip_layer_file_name(other.digest, name, sizeof(name)) == 0);
	snprintf(other_path, sizeof(other_path), "cache/" CLIP_LAYER_FILES_DIR "/%s", name);
	CHECK(link(path, other_path) == 0);
	CHECK(layer_file_try(dirfd, &other, 0) == CLIP_ERR_FORMAT);
	CHECK(layer_file_try(dirfd, &other, 1) == CLIP_ERR_FORMAT);
	CHECK(unlink(other_path) == 0);

	/* A flipped stream byte: the seal alone does not see it, the check
	 * does, and removes the file. */
	CHECK(flip_byte(path, 1000) == 0);
	CHECK(layer_file_try(dirfd, &id, 0) == CLIP_OK);
	CHECK(layer_file_try(dirfd, &id, 1) == CLIP_ERR_CHECKSUM);
	CHECK(access(path, F_OK) != 0 && errno == ENOENT);
	/* So is a padding byte that is not zero. */
	CHECK_OK(clip_layer_file_write(dirfd, &id, fill_held, r, &err), &err);
	CHECK(flip_byte(path, (off_t)f->len + 3) == 0);
	CHECK(layer_file_try(dirfd, &id, 1) == CLIP_ERR_CHECKSUM);

	/* Truncated, unsealed, a damaged seal: never used. */
	size = clip_layer_file_padded(f->len) + CLIP_LAYER_SEAL_SIZE;
	CHECK_OK(clip_layer_file_write(dirfd, &id, fill_held, r, &err), &err);
	CHECK(truncate(path, (off_t)size - 1) == 0);
	CHECK(layer_file_try(dirfd, &id, 0) == CLIP_ERR_FORMAT);
	CHECK(truncate(path, (off_t)clip_layer_file_padded(f->len)) == 0);
	CHECK(layer_file_try(dirfd, &id, 1) == CLIP_ERR_FORMAT);
	CHECK_OK(clip_layer_file_write(dirfd, &id, fill_held, r, &err), &err);
	CHECK(flip_byte(path, (off_t)size - 100) == 0);
	CHECK(layer_file_try(dirfd, &id, 0) == CLIP_ERR_FORMAT);
	CHECK(access(path, F_OK) == 0);   /* left for the next write */

	/* Temporaries: an old one (a crash's) is swept, a young one not. */
	{
		struct timespec old[2] = { { 1000, 0 }, { 1000, 0 } };
		int t = openat(dirfd, "tmp-old", O_WRONLY | O_CREAT, 0600);
		int y = openat(dirfd, "tmp-young", O_WRONLY | O_CREAT, 0600);
		CHECK(t >= 0 && y >= 0 && futimens(t, old) == 0);
		close(t);
		close(y);
		CHECK(clip_layer_files_sweep(dirfd, 3600) == 1);
		CHECK(faccessat(dirfd, "tmp-old", F_OK, 0) != 0);
		CHECK(unlinkat(dirfd, "tmp-young", 0) == 0);
	}

	/* A write that fails leaves the old file and no temporary. */
	CHECK(unlink(path) == 0);
	CHECK(clip_layer_file_write(dirfd, &id, fill_failing, NULL, &err) == CLIP_ERR_NETWORK);
	CHECK(cache_files("cache/" CLIP_LAYER_FILES_DIR, (char (*)[300])path, 1) == 0);

	close(dirfd);
	clip_reader_free(r);
	clip_layout_source_free(ls);
	free_layer(f);
	free(f);
}

TEST_MAIN(test_random_reads, test_counters_exact, test_threads_single_flight,
    test_corrupt_source, test_failing_source, test_disk_cache, test_disk_cache_bound,
    test_disk_cache_unusable, test_readahead, test_readahead_extent, test_predict, test_requests_never_overlap,
    test_stored_layer, test_no_memory_cache, test_prefetch, test_stream_loads,
    test_load_runs, test_prefetch_publishes_early, test_hosts_streamed, test_hosts_exact,
    test_layer_files)
