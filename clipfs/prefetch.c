/* prefetch.c - prefetch lists and the background fetcher (prefetch.h). */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "clipfs/cli.h"
#include "common/tar/tar.h"
#include "clipfs/log.h"
#include "clipfs/prefetch.h"

/* Compressed bytes per merged request: a few spans of an image like the
 * benchmark's (a 2 MiB span is 0.7-0.9 MB compressed there), so the first
 * spans arrive and inflate soon and the workers share the list. */
#define PREFETCH_MAX_REQUEST (2u << 20)
/* Compressed bytes of unlisted spans a request may take in to reach the
 * next listed one.  With an index made by clipfs index --prefetch, listed
 * files have spans of their own with such gaps between them, and the gaps
 * are what a prefetch fetches beyond the files: a gap costs a little
 * bandwidth, a request a round trip (the choice of 128 KiB is measured in
 * bench/COLDSTART.md, item 14). */
#define PREFETCH_MAX_GAP (128u << 10)
#define PREFETCH_MAX_ENTRIES (1u << 22)
#define SYMLINK_HOPS 40

/* Resolves path in the image, following symlinks (like open(2) would). */
static clip_err
resolve_follow(const clip_index *idx, const char *path, uint32_t *ino)
{
	char cur[PATH_MAX], next[PATH_MAX];
	struct clip_stat st;
	struct clip_str target;
	int hops;

	if (snprintf(cur, sizeof(cur), "%s", path) >= (int)sizeof(cur))
		return CLIP_ERR_TOOBIG;
	for (hops = 0; hops < SYMLINK_HOPS; hops++) {
		clip_err rc = clip_index_resolve(idx, cur, ino);
		char *slash;
		if (rc != CLIP_OK)
			return rc;
		if (clip_index_stat(idx, *ino, &st) != CLIP_OK || !S_ISLNK(st.mode))
			return CLIP_OK;
		clip_index_readlink(idx, *ino, &target);
		slash = strrchr(cur, '/');
		if (target.ptr[0] == '/' || slash == NULL)
			rc = snprintf(next, sizeof(next), "%s", target.ptr) >= (int)sizeof(next) ?
			    CLIP_ERR_TOOBIG : CLIP_OK;
		else
			rc = snprintf(next, sizeof(next), "%.*s/%s", (int)(slash - cur), cur,
			    target.ptr) >= (int)sizeof(next) ? CLIP_ERR_TOOBIG : CLIP_OK;
		if (rc != CLIP_OK)
			return rc;
		memcpy(cur, next, sizeof(cur));
	}
	return CLIP_ERR_NOTFOUND;   /* a symlink loop */
}

/* Room for element n of *v (*cap allocated, elem bytes each), up to
 * PREFETCH_MAX_ENTRIES; -1 when there is none. */
static int
grow_list(void **v, size_t n, size_t *cap, size_t elem)
{
	size_t c;
	void *q;

	if (n < *cap)
		return 0;
	c = *cap ? *cap * 2 : 256;
	if (c > PREFETCH_MAX_ENTRIES || (q = realloc(*v, c * elem)) == NULL)
		return -1;
	*v = q;
	*cap = c;
	return 0;
}

static int
parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0' ? 0 : -1;
}

int
prefetch_list_load(const clip_index *idx, const char *path, struct clip_prefetch_entry **out,
    size_t *n, size_t *skipped, char *msg, size_t msglen)
{
	FILE *f = fopen(path, "r");
	struct clip_prefetch_entry *v = NULL;
	void *tmp;
	char line[PATH_MAX + 128];
	size_t cap = 0, lineno = 0;
	struct clip_stat st;

	*out = NULL;
	*n = *skipped = 0;
	if (f == NULL) {
		snprintf(msg, msglen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *fields[3] = { NULL, NULL, NULL }, *p = line;
		uint64_t a = 0, b = 0;
		uint32_t ino;
		int nf = 0;

		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		while (nf < 3 && (fields[nf] = strsep(&p, "\t")) != NULL)
			nf++;
		if (resolve_follow(idx, fields[0], &ino) != CLIP_OK ||
		    clip_index_stat(idx, ino, &st) != CLIP_OK || !S_ISREG(st.mode)) {
			(*skipped)++;
			continue;
		}
		/* OFFSET LENGTH is a range; SECONDS (with a dot) OFFSET is a trace line. */
		if (nf == 3 && strchr(fields[1], '.') == NULL) {
			if (parse_u64(fields[1], &a) != 0 || parse_u64(fields[2], &b) != 0) {
				snprintf(msg, msglen, "%s:%zu: expected PATH<TAB>OFFSET<TAB>LENGTH", path,
				    lineno);
				goto fail;
			}
		}
		tmp = v;
		if (grow_list(&tmp, *n, &cap, sizeof(*v)) != 0) {
			snprintf(msg, msglen, "%s: too many entries", path);
			goto fail;
		}
		v = tmp;
		v[*n].ino = ino;
		v[*n].offset = a;
		v[*n].length = b;
		(*n)++;
	}
	fclose(f);
	*out = v;
	return 0;
fail:
	fclose(f);
	free(v);
	*n = 0;
	return -1;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
prefetch_paths_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int
prefetch_list_paths(const char *path, char ***out, size_t *n, char *msg, size_t msglen)
{
	FILE *f = fopen(path, "r");
	char line[PATH_MAX + 128], **v = NULL;
	void *tmp;
	size_t cap = 0, i, k, len;
	struct clip_error err;

	*out = NULL;
	*n = 0;
	if (f == NULL) {
		snprintf(msg, msglen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p;
		line[strcspn(line, "\t\r\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		len = strlen(line);
		clip_error_clear(&err);
		if (clip_tar_normalize(line, &len, &err) != CLIP_OK || len == 0)
			continue;       /* names nothing a file could be */
		tmp = v;
		if (grow_list(&tmp, *n, &cap, sizeof(*v)) != 0) {
			snprintf(msg, msglen, "%s: too many entries", path);
			goto fail;
		}
		v = tmp;
		if ((p = strdup(line)) == NULL) {
			snprintf(msg, msglen, "out of memory");
			goto fail;
		}
		v[(*n)++] = p;
	}
	fclose(f);
	if (*n > 0)
		qsort(v, *n, sizeof(*v), str_cmp);
	for (i = k = 0; i < *n; i++) {
		if (k > 0 && strcmp(v[k - 1], v[i]) == 0)
			free(v[i]);
		else
			v[k++] = v[i];
	}
	*n = k;
	*out = v;
	return 0;
fail:
	fclose(f);
	prefetch_paths_free(v, *n);
	*n = 0;
	return -1;
}

/* ---- the background fetcher ------------------------------------------------ */

struct run {
	uint32_t layer, first, count;
};

struct prefetcher {
	const clip_index *idx;
	clip_reader *reader;
	struct run *runs;
	size_t nruns;
	atomic_size_t next;
	atomic_int stop;
	uint64_t rate;              /* background bytes/s, 0: none */
	pthread_t *tids;
	unsigned nthreads;
	pthread_t bg;
	int bg_started;
	/* Set before the background fetcher reaches its first layer's end. */
	void (*_Atomic layer_done)(void *ctx, uint32_t layer);
	void *_Atomic layer_done_ctx;
};

/* Compressed bytes of spans [first, last] of layer. */
static uint64_t
run_bytes(const clip_index *idx, uint32_t layer, uint32_t first, uint32_t last)
{
	struct clip_checkpoint a, b;

	if (clip_index_checkpoint(idx, layer, first, &a) != CLIP_OK ||
	    clip_index_checkpoint(idx, layer, last, &b) != CLIP_OK || b.span_end < a.span_start)
		return UINT64_MAX;
	return b.span_end - a.span_start;
}

/* Marks spans [a, b) of a layer as taken by a run. */
static void
mark_seen(uint8_t *seen, uint32_t a, uint32_t b)
{
	for (; a < b; a++)
		seen[a / 8] |= (uint8_t)(1u << (a % 8));
}

/*
 * Puts span c of layer into a run already listed that ends a little
 * before it or starts a little after it (PREFETCH_MAX_GAP), taking in the
 * spans between; 1 if it did.  Fetching c earlier than its place in the
 * list costs the spans listed before it little, and saves a request.
 */
static int
join_run(struct prefetcher *p, uint8_t *seen, uint32_t layer, uint32_t c)
{
	size_t k;
	uint32_t end;

	for (k = p->nruns; k-- > 0;) {
		struct run *r = &p->runs[k];
		if (r->layer != layer)
			continue;
		end = r->first + r->count;          /* one past the run */
		if (c >= end && (c == end || run_bytes(p->idx, layer, end, c - 1) <= PREFETCH_MAX_GAP) &&
		    run_bytes(p->idx, layer, r->first, c) <= PREFETCH_MAX_REQUEST) {
			mark_seen(seen, end, c);
			r->count = c - r->first + 1;
			return 1;
		}
		if (c < r->first && (c + 1 == r->first ||
		    run_bytes(p->idx, layer, c + 1, r->first - 1) <= PREFETCH_MAX_GAP) &&
		    run_bytes(p->idx, layer, c, end - 1) <= PREFETCH_MAX_REQUEST) {
			mark_seen(seen, c + 1, r->first);
			r->count = end - c;
			r->first = c;
			return 1;
		}
	}
	return 0;
}

/* The list as runs of consecutive spans, in order, each span once. */
static int
build_runs(struct prefetcher *p)
{
	uint32_t nl = clip_index_layer_count(p->idx), i, l;
	uint8_t **seen = calloc(nl ? nl : 1, sizeof(*seen));
	size_t cap = 0;
	int rc = -1;

	if (seen == NULL)
		return -1;
	for (l = 0; l < nl; l++) {
		struct clip_layer L;
		clip_index_layer(p->idx, l, &L);
		if ((seen[l] = calloc(L.checkpoint_count / 8 + 1, 1)) == NULL)
			goto out;
	}
	for (i = 0; i < clip_index_prefetch_count(p->idx); i++) {
		struct clip_stat st;
		uint32_t ino, c0, c1, c;
		uint64_t off, len;
		if (clip_index_prefetch(p->idx, i, &ino, &off, &len) != CLIP_OK || len == 0 ||
		    clip_index_stat(p->idx, ino, &st) != CLIP_OK ||
		    clip_index_find_checkpoint(p->idx, st.layer, st.data_offset + off, &c0) != CLIP_OK ||
		    clip_index_find_checkpoint(p->idx, st.layer, st.data_offset + off + len - 1, &c1) !=
		    CLIP_OK)
			continue;
		for (c = c0; c <= c1; c++) {
			if (seen[st.layer][c / 8] & (1u << (c % 8)))
				continue;
			mark_seen(seen[st.layer], c, c + 1);
			/* A run is one request: long runs are cut, so that the
			 * workers share them rather than one taking them all. */
			if (join_run(p, seen[st.layer], st.layer, c))
				continue;
			if (p->nruns == cap) {
				void *q;
				cap = cap ? cap * 2 : 64;
				if ((q = realloc(p->runs, cap * sizeof(*p->runs))) == NULL)
					goto out;
				p->runs = q;
			}
			p->runs[p->nruns].layer = st.layer;
			p->runs[p->nruns].first = c;
			p->runs[p->nruns].count = 1;
			p->nruns++;
		}
	}
	rc = 0;
out:
	for (l = 0; l < nl; l++)
		free(seen[l]);
	free(seen);
	return rc;
}

static void *
list_worker(void *arg)
{
	struct prefetcher *p = arg;
	size_t i;

	while (!atomic_load(&p->stop) && (i = atomic_fetch_add(&p->next, 1)) < p->nruns) {
		struct clip_error err;
		clip_error_clear(&err);
		if (clip_reader_prefetch(p->reader, p->runs[i].layer, p->runs[i].first,
		    p->runs[i].count, PREFETCH_MAX_REQUEST, &err) != CLIP_OK)
			log_warn("prefetch: %s", clip_error_message(&err));
	}
	return NULL;
}

static void
sleep_s(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* After the list: the whole image, a few spans at a time, rate-limited. */
static void *
background_worker(void *arg)
{
	struct prefetcher *p = arg;
	uint32_t l, i, nl = clip_index_layer_count(p->idx);
	struct clip_reader_stats s0, s;
	unsigned k;
	double start;

	for (k = 0; k < p->nthreads; k++)
		pthread_join(p->tids[k], NULL);
	p->nthreads = 0;
	clip_reader_stats(p->reader, &s0);
	start = mono();
	for (l = 0; l < nl && !atomic_load(&p->stop); l++) {
		struct clip_layer L;
		clip_index_layer(p->idx, l, &L);
		for (i = 0; i < L.checkpoint_count && !atomic_load(&p->stop); i += 4) {
			struct clip_error err;
			double ahead;
			clip_error_clear(&err);
			if (clip_reader_prefetch(p->reader, l, i, 4, PREFETCH_MAX_REQUEST, &err) !=
			    CLIP_OK)
				log_warn("background fetch: %s", clip_error_message(&err));
			clip_reader_stats(p->reader, &s);
			/* Sleep off whatever we are ahead of the rate. */
			ahead = (double)(s.bytes_fetched - s0.bytes_fetched) / (double)p->rate -
			    (mono() - start);
			while (ahead > 0 && !atomic_load(&p->stop)) {
				sleep_s(ahead < 0.2 ? ahead : 0.2);
				ahead -= 0.2;
			}
		}
		if (!atomic_load(&p->stop) && atomic_load(&p->layer_done) != NULL)
			atomic_load(&p->layer_done)(atomic_load(&p->layer_done_ctx), l);
	}
	log_info("background fetch done");
	return NULL;
}

struct prefetcher *
prefetcher_start(const clip_index *idx, clip_reader *r, unsigned workers, uint64_t rate)
{
	struct prefetcher *p;
	unsigned k;

	if ((workers == 0 || clip_index_prefetch_count(idx) == 0) && rate == 0)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->idx = idx;
	p->reader = r;
	p->rate = rate;
	if ((workers > 0 && build_runs(p) != 0) ||
	    (p->tids = calloc(workers ? workers : 1, sizeof(*p->tids))) == NULL) {
		free(p->runs);
		free(p);
		return NULL;
	}
	log_info("prefetch: %zu runs of spans from %u list entries", p->nruns,
	    clip_index_prefetch_count(idx));
	for (k = 0; k < workers; k++)
		if (pthread_create(&p->tids[k], NULL, list_worker, p) == 0)
			p->nthreads++;
	if (rate > 0 && pthread_create(&p->bg, NULL, background_worker, p) == 0)
		p->bg_started = 1;
	return p;
}

void
prefetcher_on_layer_done(struct prefetcher *p, void (*layer_done)(void *ctx, uint32_t layer),
    void *ctx)
{
	if (p == NULL)
		return;
	atomic_store(&p->layer_done_ctx, ctx);
	atomic_store(&p->layer_done, layer_done);
}

void
prefetcher_stop(struct prefetcher *p)
{
	unsigned k;

	if (p == NULL)
		return;
	atomic_store(&p->stop, 1);
	if (p->bg_started)
		pthread_join(p->bg, NULL);   /* it joins the list workers */
	else
		for (k = 0; k < p->nthreads; k++)
			pthread_join(p->tids[k], NULL);
	free(p->tids);
	free(p->runs);
	free(p);
}

/* ---- clipfs prefetch --------------------------------------------------------- */

static void
prefetch_usage(FILE *out)
{
	fprintf(out,
	    "Usage: clipfs prefetch IMAGE.clip LIST\n"
	    "\n"
	    "Store a prefetch list in IMAGE.clip (replacing any it had): the files, or\n"
	    "ranges of files, that clipfs mount fetches in the background, in this order,\n"
	    "as soon as the image is mounted.  LIST has one entry per line: PATH, or\n"
	    "PATH<TAB>OFFSET<TAB>LENGTH for a range; the output of clipfs mount --trace works\n"
	    "as is.  An empty LIST removes the list.\n");
}

/* Shared with clipfs index --prefetch. */
int
prefetch_apply(const char *index_path, const char *list)
{
	struct clip_prefetch_entry *v = NULL;
	struct clip_error err;
	clip_index *idx = NULL;
	size_t n, skipped;
	char msg[512];
	int rc;

	if ((rc = clipfs_index_open(index_path, &idx)) != EXIT_OK)
		return rc;
	if (prefetch_list_load(idx, list, &v, &n, &skipped, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "clipfs prefetch: %s\n", msg);
		clip_index_close(idx);
		return EXIT_USAGE;
	}
	clip_index_close(idx);
	clip_error_clear(&err);
	if (clip_index_set_prefetch(index_path, v, n, &err) != CLIP_OK) {
		clipfs_report("prefetch", &err);
		free(v);
		return clipfs_exit_code(err.code);
	}
	free(v);
	if (skipped > 0)
		fprintf(stderr, "clipfs prefetch: %zu entries are not regular files in the image; "
		    "left out\n", skipped);
	fprintf(stderr, "clipfs: %s: prefetch list of %zu entries\n", index_path, n);
	return EXIT_OK;
}

int
cmd_prefetch(int argc, char **argv)
{
	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		prefetch_usage(stdout);
		return EXIT_OK;
	}
	if (argc != 3) {
		prefetch_usage(stderr);
		return EXIT_USAGE;
	}
	return prefetch_apply(argv[1], argv[2]);
}
