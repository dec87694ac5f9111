/*
 * cmd_index.c - clipfs index: build a CLIP v2 index from an image.
 */
#include "config.h"

#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "clipfs/cli.h"
#include "clipfs/format_util.h"
#include "clipfs/prefetch.h"
#include "clipfs/registry_opts.h"
#include "common/util/json_bytes.h"
#include "indexer/indexer.h"

/* The largest --span or --big-file: past this a value is a typo. */
#define MAX_SIZE_ARG (UINT64_C(1) << 40)

enum {
	OPT_STORAGE_REF = 1, OPT_PLATFORM, OPT_SPAN, OPT_BIG_FILE, OPT_JSON, OPT_PREFETCH,
	OPT_PUSH,
};

/* What the command line asked for, beyond the indexer's own options. */
struct index_args {
	struct indexer_opts o;
	struct registry_cli_opts registry;
	const char *out, *prefetch;
	int json, quiet, push;
	struct clip_mirror_host mirrors[CLIP_MIRRORS_MAX];   /* registry_cli_mirrors */
};

/* The registry options, shared with clipfs mount. */
static const struct opt_table tables[] = {
	REGISTRY_OPT_TABLE(offsetof(struct index_args, registry)),
};
#define NTABLES (sizeof(tables) / sizeof(tables[0]))

static void
index_usage(FILE *out)
{
	struct index_args a;
	char span[32], big[32];
	size_t i;

	indexer_opts_init(&a.o);
	registry_cli_opts_init(&a.registry);
	opt_format_size(a.o.span, span, sizeof(span));
	opt_format_size(a.o.big_file, big, sizeof(big));
	fprintf(out,
	    "Usage: clipfs index [OPTIONS] SOURCE -o OUT.clip\n"
	    "\n"
	    "Read an OCI image once and write its CLIP v2 index to OUT.clip.\n"
	    "SOURCE is [docker://]HOST[:PORT]/REPO[:TAG|@sha256:DIGEST] or oci:DIR[:TAG].\n"
	    "\n"
	    "  -o, --output FILE         the index to write (atomically; nothing on failure)\n"
	    "      --storage-ref REF     registry repository the mounter fetches from\n"
	    "                            (default: SOURCE, when it is a registry)\n"
	    "      --platform OS/ARCH[/VARIANT]\n"
	    "                            from a multi-platform image (default: this machine)\n"
	    "      --span SIZE           checkpoint spacing in uncompressed bytes (default %s)\n"
	    "      --big-file SIZE       files this large get their own checkpoint (default %s;\n"
	    "                            0 off)\n"
	    "  -j, --threads N           layers indexed at once (default: one per core)\n"
	    "      --prefetch LIST       store a prefetch list (see clipfs prefetch), with\n"
	    "                            checkpoints around its files\n"
	    "      --push                then publish the index in the image's repository\n"
	    "                            (the --storage-ref one; see clipfs push)\n"
	    "      --json                print a summary as JSON\n"
	    "  -q, --quiet               no progress display\n", span, big);
	for (i = 0; i < NTABLES; i++)
		opt_usage(out, &tables[i], &a);
	fprintf(out,
	    "  -h, --help                show this help\n"
	    "\n"
	    "SIZE takes K, M or G (powers of 1024).\n");
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The progress line on a terminal, redrawn a few times a second. */
struct progress_display {
	struct indexer_progress *p;
	pthread_t tid;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop;
	double start;
};

/* Draws the line; 0 (nothing drawn) while the layers are not known yet:
 * the indexer sets layers_total once it has added up bytes_total. */
static int
progress_draw(struct progress_display *d)
{
	unsigned layers = atomic_load(&d->p->layers_total);
	uint64_t done = atomic_load(&d->p->bytes_read), total = atomic_load(&d->p->bytes_total);
	double secs = now_seconds() - d->start;
	char a[32], b[32], r[32];

	if (layers == 0)
		return 0;
	size_string(done, a, sizeof(a));
	size_string(total, b, sizeof(b));
	size_string(secs > 0 ? (uint64_t)(done / secs) : 0, r, sizeof(r));
	fprintf(stderr, "\r\033[Kindexing: layers %u/%u, %s of %s (%.0f%%), %s/s",
	    atomic_load(&d->p->layers_done), layers, a, b,
	    total ? 100.0 * (double)done / (double)total : 0.0, r);
	return 1;
}

static void *
progress_thread(void *arg)
{
	struct progress_display *d = arg;
	struct timespec ts;
	int drawn = 0;

	pthread_mutex_lock(&d->lock);
	while (!d->stop) {
		drawn |= progress_draw(d);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 250 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&d->cond, &d->lock, &ts);
	}
	if (progress_draw(d) || drawn)
		fputc('\n', stderr);
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

/* The summary as JSON on stdout; 0, or -1 when it could not be made. */
static int
print_json(const char *out, const struct indexer_report *r, double secs)
{
	json_t *j = json_object(), *rest;

	/* The strings are bytes (a path, names from the image): kept whole. */
	if (j == NULL || clip_json_set_bytes(j, "index", out, strlen(out)) != 0 ||
	    clip_json_set_bytes(j, "manifest_digest", r->manifest_digest,
	    strlen(r->manifest_digest)) != 0 ||
	    clip_json_set_bytes(j, "platform", r->platform, strlen(r->platform)) != 0) {
		json_decref(j);
		return -1;
	}
	rest = json_pack("{s:i,s:I,s:I,s:I,s:I,s:i,s:I,s:f,s:f}",
	    "layers", (int)r->layers, "entries", (json_int_t)(r->names ? r->names - 1 : 0),
	    "inodes", (json_int_t)r->inodes, "bytes_read", (json_int_t)r->compressed_bytes,
	    "uncompressed_bytes", (json_int_t)r->uncompressed_bytes,
	    "checkpoints", (int)r->checkpoints, "index_size", (json_int_t)r->index_size,
	    "index_percent", r->compressed_bytes ?
	    100.0 * (double)r->index_size / (double)r->compressed_bytes : 0.0,
	    "seconds", secs);
	if (rest == NULL || json_object_update(j, rest) != 0) {
		json_decref(rest);
		json_decref(j);
		return -1;
	}
	json_decref(rest);
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(j);
	return 0;
}

/* One option of index's own; 0, 1 for --help (done), or an exit code. */
static int
index_opt(struct index_args *a, int c, char *arg)
{
	unsigned n;

	switch (c) {
	case 'o': a->out = arg; return 0;
	case OPT_STORAGE_REF: a->o.storage_ref = arg; return 0;
	case OPT_PLATFORM: a->o.platform = arg; return 0;
	case OPT_SPAN:
	case OPT_BIG_FILE:
		if (clipfs_parse_size(arg, MAX_SIZE_ARG, c == OPT_SPAN ? &a->o.span :
		    &a->o.big_file) != 0) {
			fprintf(stderr, "clipfs index: bad --%s '%s'\n",
			    c == OPT_SPAN ? "span" : "big-file", arg);
			return EXIT_USAGE;
		}
		return 0;
	case 'j':
		if (clipfs_parse_count(arg, 64, &n) != 0 || n < 1) {
			fprintf(stderr, "clipfs index: --threads takes a number from 1 to 64\n");
			return EXIT_USAGE;
		}
		a->o.threads = (int)n;
		return 0;
	case OPT_JSON: a->json = 1; return 0;
	case OPT_PREFETCH: a->prefetch = arg; return 0;
	case OPT_PUSH: a->push = 1; return 0;
	case 'q': a->quiet = 1; return 0;
	case 'h': index_usage(stdout); return 1;
	default: index_usage(stderr); return EXIT_USAGE;
	}
}

/* The mirrors of a registry SOURCE (--mirror, registries.conf): 0, or an
 * exit status after saying why. */
static int
index_mirrors(struct index_args *a)
{
	struct clip_reference ref;
	struct clip_error err;
	int rc = 0;

	clip_error_clear(&err);
	if (clip_reference_parse(a->o.source, &ref, &err) != CLIP_OK)
		return 0;   /* the indexer says what is wrong with it */
	if (ref.kind != CLIP_REF_REGISTRY && a->registry.mirrors.n > 0) {
		fprintf(stderr, "clipfs index: --mirror needs a registry SOURCE, not %s\n",
		    a->o.source);
		rc = EXIT_USAGE;
	} else if (ref.kind == CLIP_REF_REGISTRY &&
	    registry_cli_mirrors(&a->registry, ref.registry, ref.repository, ref.digest != NULL,
	    a->mirrors, &a->o.nmirrors, &err) != CLIP_OK) {
		clipfs_report("index", &err);
		rc = clipfs_exit_code(err.code);
	}
	a->o.mirrors = a->mirrors;
	clip_reference_free(&ref);
	return rc;
}

/* Parses the command line into a (indexer_opts_init'ed); 0, 1 for
 * --help (printed), or an exit code. */
static int
index_parse(int argc, char **argv, struct index_args *a)
{
	static const struct option own[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "storage-ref", required_argument, NULL, OPT_STORAGE_REF },
		{ "platform", required_argument, NULL, OPT_PLATFORM },
		{ "span", required_argument, NULL, OPT_SPAN },
		{ "big-file", required_argument, NULL, OPT_BIG_FILE },
		{ "threads", required_argument, NULL, 'j' },
		{ "prefetch", required_argument, NULL, OPT_PREFETCH },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "push", no_argument, NULL, OPT_PUSH },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct option lo[32 + sizeof(own) / sizeof(own[0])];
	const struct opt_table *t;
	const struct opt_def *d;
	size_t n;
	int c, rc;

	n = opt_long_options(tables, NTABLES, lo, 32);
	memcpy(lo + n, own, sizeof(own));
	while ((c = getopt_long(argc, argv, "o:j:qh", lo, NULL)) != -1) {
		if ((d = opt_by_val(tables, NTABLES, c, &t)) != NULL) {
			if (opt_set(a, t, d, optarg) != 0) {
				fprintf(stderr, "clipfs index: bad value for --%s\n", d->name);
				return EXIT_USAGE;
			}
		} else if ((rc = index_opt(a, c, optarg)) != 0) {
			return rc;
		}
	}
	if (argc - optind != 1 || a->out == NULL) {
		fprintf(stderr, "clipfs index: %s\n", a->out == NULL ? "-o OUT.clip is required" :
		    "exactly one SOURCE is required");
		index_usage(stderr);
		return EXIT_USAGE;
	}
	a->o.source = argv[optind];
	a->o.creds = a->registry.creds;
	a->o.authfile = a->registry.authfile;
	a->o.registry.cacert = a->registry.cacert;
	a->o.registry.plain_http = a->registry.plain_http;
	a->o.registry.tls_verify = a->registry.tls_verify;
	return index_mirrors(a);
}

/* Starts the progress line on a terminal; 0 if there is none. */
static int
progress_start(struct progress_display *d, struct indexer_progress *p, double start)
{
	memset(d, 0, sizeof(*d));
	d->p = p;
	d->start = start;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	return pthread_create(&d->tid, NULL, progress_thread, d) == 0;
}

static void
progress_stop(struct progress_display *d)
{
	pthread_mutex_lock(&d->lock);
	d->stop = 1;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->tid, NULL);
}

static void
print_summary(const char *out, const struct indexer_report *rep)
{
	fprintf(stderr, "clipfs: wrote %s: %u layers, %llu entries, %u checkpoints, "
	    "%llu bytes (%.2f%% of %llu compressed)\n", out, rep->layers,
	    (unsigned long long)(rep->names ? rep->names - 1 : 0), rep->checkpoints,
	    (unsigned long long)rep->index_size,
	    rep->compressed_bytes ? 100.0 * (double)rep->index_size /
	    (double)rep->compressed_bytes : 0.0, (unsigned long long)rep->compressed_bytes);
}

/* Indexes a->o.source into a->out, with the progress line on a terminal. */
static int
run_index(struct index_args *a, struct indexer_report *rep, double start)
{
	struct indexer_progress progress;
	struct progress_display disp;
	struct clip_error err;
	int show;
	clip_err rc;

	clip_error_clear(&err);
	memset(&progress, 0, sizeof(progress));
	a->o.progress = &progress;
	if (clip_registry_global_init(&err) != CLIP_OK) {
		clipfs_report("index", &err);
		return EXIT_FAILURE_GENERIC;
	}
	show = !a->quiet && !a->json && isatty(STDERR_FILENO) &&
	    progress_start(&disp, &progress, start);
	rc = indexer_run(&a->o, a->out, rep, &err);
	if (show)
		progress_stop(&disp);
	clip_registry_global_cleanup();
	if (rc != CLIP_OK) {
		clipfs_report("index", &err);
		return clipfs_exit_code(rc);
	}
	return EXIT_OK;
}

int
cmd_index(int argc, char **argv)
{
	struct index_args a;
	struct indexer_report rep;
	char **marks = NULL, msg[512];
	size_t nmarks = 0;
	double start;
	int rc;

	memset(&a, 0, sizeof(a));
	indexer_opts_init(&a.o);
	registry_cli_opts_init(&a.registry);
	if ((rc = index_parse(argc, argv, &a)) != 0)
		return rc == 1 ? EXIT_OK : rc;
	if (a.prefetch != NULL) {
		if (prefetch_list_paths(a.prefetch, &marks, &nmarks, msg, sizeof(msg)) != 0) {
			fprintf(stderr, "clipfs index: %s\n", msg);
			return EXIT_USAGE;
		}
		a.o.mark_paths = (const char *const *)marks;
		a.o.nmark_paths = nmarks;
	}
	start = now_seconds();
	rc = run_index(&a, &rep, start);
	prefetch_paths_free(marks, nmarks);
	if (rc != EXIT_OK)
		return rc;
	if (a.prefetch != NULL && (rc = prefetch_apply(a.out, a.prefetch)) != EXIT_OK) {
		unlink(a.out);   /* all or nothing */
		return rc;
	}
	if (a.json && print_json(a.out, &rep, now_seconds() - start) != 0) {
		fprintf(stderr, "clipfs index: the index is written, but not its JSON summary "
		    "(out of memory)\n");
		return EXIT_FAILURE_GENERIC;
	} else if (!a.json && !a.quiet)
		print_summary(a.out, &rep);
	/* The index stays on disk whatever the push says: it is good. */
	return a.push ? clipfs_push_index(a.out, NULL, &a.registry) : EXIT_OK;
}
