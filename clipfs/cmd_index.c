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
#include "indexer/indexer.h"

/* The largest --span or --big-file: past this a value is a typo. */
#define MAX_SIZE_ARG (UINT64_C(1) << 40)

enum {
	OPT_STORAGE_REF = 256, OPT_PLATFORM, OPT_SPAN, OPT_BIG_FILE, OPT_CREDS, OPT_AUTHFILE,
	OPT_CACERT, OPT_PLAIN_HTTP, OPT_TLS_VERIFY, OPT_JSON, OPT_THREADS, OPT_PREFETCH,
};

static void
index_usage(FILE *out)
{
	fprintf(out,
	    "Usage: clipfs index [OPTIONS] SOURCE -o OUT.clip\n"
	    "\n"
	    "Read an OCI image once and write its CLIP v2 index to OUT.clip.\n"
	    "SOURCE is [docker://]HOST[:PORT]/REPO[:TAG|@sha256:DIGEST] or oci:DIR[:TAG].\n"
	    "\n"
	    "  -o, --output FILE       the index to write (atomically; nothing on failure)\n"
	    "      --storage-ref REF   registry repository the mounter fetches from\n"
	    "                          (default: SOURCE, when it is a registry)\n"
	    "      --platform OS/ARCH[/VARIANT]  from a multi-platform image (default: this machine)\n"
	    "      --span SIZE         checkpoint spacing in uncompressed bytes (default 2M)\n"
	    "      --big-file SIZE     files this large get their own checkpoint (default 4M; 0 off)\n"
	    "      --creds USER:PASS   registry credentials\n"
	    "      --authfile FILE     credentials file (containers auth.json format)\n"
	    "      --cacert FILE       trust this CA for the registry\n"
	    "      --plain-http        talk HTTP, not HTTPS, to the registry\n"
	    "      --tls-verify=BOOL   verify the registry's certificate (default true)\n"
	    "  -j, --threads N         layers indexed at once (default: one per core)\n"
	    "      --prefetch LIST     store a prefetch list (see clipfs prefetch), with\n"
	    "                          checkpoints around its files\n"
	    "      --json              print a summary as JSON\n"
	    "  -q, --quiet             no progress display\n"
	    "  -h, --help              show this help\n"
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

static void
progress_draw(struct progress_display *d)
{
	uint64_t done = atomic_load(&d->p->bytes_read), total = atomic_load(&d->p->bytes_total);
	double secs = now_seconds() - d->start;
	char a[32], b[32], r[32];

	size_string(done, a, sizeof(a));
	size_string(total, b, sizeof(b));
	size_string(secs > 0 ? (uint64_t)(done / secs) : 0, r, sizeof(r));
	fprintf(stderr, "\r\033[Kindexing: layers %u/%u, %s of %s (%.0f%%), %s/s",
	    atomic_load(&d->p->layers_done), atomic_load(&d->p->layers_total), a, b,
	    total ? 100.0 * (double)done / (double)total : 0.0, r);
}

static void *
progress_thread(void *arg)
{
	struct progress_display *d = arg;
	struct timespec ts;

	pthread_mutex_lock(&d->lock);
	while (!d->stop) {
		progress_draw(d);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 250 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&d->cond, &d->lock, &ts);
	}
	progress_draw(d);
	fputc('\n', stderr);
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

static void
print_json(const char *out, const struct indexer_report *r, double secs)
{
	json_t *j = json_pack("{s:s,s:s,s:s,s:i,s:I,s:I,s:I,s:I,s:i,s:I,s:f,s:f}",
	    "index", out, "manifest_digest", r->manifest_digest, "platform", r->platform,
	    "layers", (int)r->layers, "entries", (json_int_t)(r->names ? r->names - 1 : 0),
	    "inodes", (json_int_t)r->inodes, "bytes_read", (json_int_t)r->compressed_bytes,
	    "uncompressed_bytes", (json_int_t)r->uncompressed_bytes,
	    "checkpoints", (int)r->checkpoints, "index_size", (json_int_t)r->index_size,
	    "index_percent", r->compressed_bytes ?
	    100.0 * (double)r->index_size / (double)r->compressed_bytes : 0.0,
	    "seconds", secs);

	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(j);
}

int
cmd_index(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "storage-ref", required_argument, NULL, OPT_STORAGE_REF },
		{ "platform", required_argument, NULL, OPT_PLATFORM },
		{ "span", required_argument, NULL, OPT_SPAN },
		{ "big-file", required_argument, NULL, OPT_BIG_FILE },
		{ "creds", required_argument, NULL, OPT_CREDS },
		{ "authfile", required_argument, NULL, OPT_AUTHFILE },
		{ "cacert", required_argument, NULL, OPT_CACERT },
		{ "plain-http", no_argument, NULL, OPT_PLAIN_HTTP },
		{ "tls-verify", required_argument, NULL, OPT_TLS_VERIFY },
		{ "threads", required_argument, NULL, 'j' },
		{ "prefetch", required_argument, NULL, OPT_PREFETCH },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct indexer_opts o;
	struct indexer_progress progress;
	struct indexer_report rep;
	struct progress_display disp;
	struct clip_error err;
	const char *out = NULL, *prefetch = NULL;
	char **marks = NULL;
	size_t nmarks = 0;
	int c, json = 0, quiet = 0, show, tls_verify = 1;
	double start;
	clip_err rc;

	indexer_opts_init(&o);
	clip_error_clear(&err);
	memset(&progress, 0, sizeof(progress));
	while ((c = getopt_long(argc, argv, "o:j:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case OPT_STORAGE_REF: o.storage_ref = optarg; break;
		case OPT_PLATFORM: o.platform = optarg; break;
		case OPT_SPAN:
			if (clipfs_parse_size(optarg, MAX_SIZE_ARG, &o.span) != 0) {
				fprintf(stderr, "clipfs index: bad --span '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_BIG_FILE:
			if (clipfs_parse_size(optarg, MAX_SIZE_ARG, &o.big_file) != 0) {
				fprintf(stderr, "clipfs index: bad --big-file '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_CREDS: o.creds = clipfs_hide_secret(optarg); break;
		case OPT_AUTHFILE: o.authfile = optarg; break;
		case OPT_CACERT: o.registry.cacert = optarg; break;
		case OPT_PLAIN_HTTP: o.registry.plain_http = 1; break;
		case OPT_TLS_VERIFY:
			if (clipfs_parse_bool(optarg, &tls_verify) != 0) {
				fprintf(stderr, "clipfs index: --tls-verify takes true or false\n");
				return EXIT_USAGE;
			}
			o.registry.tls_verify = tls_verify;
			break;
		case 'j': {
			unsigned n;
			if (clipfs_parse_count(optarg, 64, &n) != 0 || n < 1) {
				fprintf(stderr, "clipfs index: --threads takes a number from 1 to 64\n");
				return EXIT_USAGE;
			}
			o.threads = (int)n;
			break;
		}
		case OPT_JSON: json = 1; break;
		case OPT_PREFETCH: prefetch = optarg; break;
		case 'q': quiet = 1; break;
		case 'h': index_usage(stdout); return EXIT_OK;
		default: index_usage(stderr); return EXIT_USAGE;
		}
	}
	if (argc - optind != 1 || out == NULL) {
		fprintf(stderr, "clipfs index: %s\n", out == NULL ? "-o OUT.clip is required" :
		    "exactly one SOURCE is required");
		index_usage(stderr);
		return EXIT_USAGE;
	}
	o.source = argv[optind];
	o.progress = &progress;
	if (prefetch != NULL) {
		char msg[512];
		if (prefetch_list_paths(prefetch, &marks, &nmarks, msg, sizeof(msg)) != 0) {
			fprintf(stderr, "clipfs index: %s\n", msg);
			return EXIT_USAGE;
		}
		o.mark_paths = (const char *const *)marks;
		o.nmark_paths = nmarks;
	}
	if (clip_registry_global_init(&err) != CLIP_OK) {
		clipfs_report("index", &err);
		prefetch_paths_free(marks, nmarks);
		return EXIT_FAILURE_GENERIC;
	}
	start = now_seconds();
	show = !quiet && !json && isatty(STDERR_FILENO);
	if (show) {
		memset(&disp, 0, sizeof(disp));
		disp.p = &progress;
		disp.start = start;
		pthread_mutex_init(&disp.lock, NULL);
		pthread_cond_init(&disp.cond, NULL);
		if (pthread_create(&disp.tid, NULL, progress_thread, &disp) != 0)
			show = 0;
	}
	rc = indexer_run(&o, out, &rep, &err);
	prefetch_paths_free(marks, nmarks);
	if (show) {
		pthread_mutex_lock(&disp.lock);
		disp.stop = 1;
		pthread_cond_signal(&disp.cond);
		pthread_mutex_unlock(&disp.lock);
		pthread_join(disp.tid, NULL);
	}
	clip_registry_global_cleanup();
	if (rc != CLIP_OK) {
		clipfs_report("index", &err);
		return clipfs_exit_code(rc);
	}
	if (prefetch != NULL) {
		int prc = prefetch_apply(out, prefetch);
		if (prc != EXIT_OK) {
			unlink(out);   /* all or nothing */
			return prc;
		}
	}
	if (json)
		print_json(out, &rep, now_seconds() - start);
	else if (!quiet)
		fprintf(stderr, "clipfs: wrote %s: %u layers, %llu entries, %u checkpoints, "
		    "%llu bytes (%.2f%% of %llu compressed)\n", out, rep.layers,
		    (unsigned long long)(rep.names ? rep.names - 1 : 0), rep.checkpoints,
		    (unsigned long long)rep.index_size,
		    rep.compressed_bytes ? 100.0 * (double)rep.index_size / (double)rep.compressed_bytes : 0.0,
		    (unsigned long long)rep.compressed_bytes);
	return EXIT_OK;
}
