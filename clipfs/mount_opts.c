/* mount_opts.c - clipfs mount's options, from tables (mount_opts.h). */
#include "config.h"

#include <getopt.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clipfs/cli.h"
#include "clipfs/mount_opts.h"

#define DEFAULT_TIMEOUT_S 30
#define DEFAULT_BACKGROUND_RATE (UINT64_C(20) << 20)   /* bytes/s */
#define MAX_LOAD_SIZE (UINT64_C(256) << 20)   /* the reader's own span bound */

#define AT(field) offsetof(struct mount_opts, field)

static const struct opt_def mount_defs[] = {
	{ "mode", K_STRING, AT(mode), 0, "MODE",
	    "erofs: the kernel serves the tree from an EROFS image built from the index, "
	    "and the daemon only the layers' bytes (root, Linux 6.12+); fuse: the daemon "
	    "serves the whole tree; auto: erofs where the kernel offers it, else fuse", 0 },
	{ "layout", K_PATH, AT(layout), 0, "DIR",
	    "read layers from a local OCI layout, not a registry", 0 },
	{ "cache-dir", K_PATH, AT(cache_dir), 0, "DIR", "disk cache of spans", 0 },
	{ "no-disk-cache", K_FLAG, AT(no_disk_cache), 0, NULL,
	    "memory cache only (and no layer files)", 0 },
	{ "check-layers", K_FLAG, AT(check_layers), 0, NULL,
	    "EROFS mode: re-hash each layer file against its seal before the kernel gets it "
	    "(a damaged one is removed and the daemon serves that layer)", 0 },
	{ "cache-size", K_SIZE, AT(reader.disk_cache_bytes), UINT64_MAX, "SIZE",
	    "disk cache bound", 0 },
	{ "mem-cache", K_SIZE, AT(reader.mem_cache_bytes), UINT64_MAX, "SIZE",
	    "memory cache bound (0: only the spans in use)", 0 },
	{ "timeout", K_SECONDS, AT(timeout_s), 86400, "SECONDS",
	    "a read that needs the registry fails with EIO after about this long", 0 },
	{ "readahead", K_COUNT, AT(reader.readahead_spans), 64, "N",
	    "spans fetched ahead of sequential reads", 0 },
	{ "load-size", K_SIZE, AT(reader.load_bytes), MAX_LOAD_SIZE, "SIZE",
	    "a miss fetches, in one request, the spans from its own on while they hold "
	    "at most SIZE", 0 },
	{ "predict", K_COUNT, AT(reader.predict_spans), 16, "N",
	    "on a miss, also load the N spans after those", 0 },
	{ "trace", K_PATH, AT(trace), 0, "FILE",
	    "write each file's first read (path, time, offset)", 0 },
	{ "no-prefetch", K_FLAG, AT(no_prefetch), 0, NULL,
	    "do not fetch the index's prefetch list at mount", 0 },
	{ "background-fetch", K_RATE, AT(background_rate), UINT64_MAX, "RATE",
	    "after the prefetch list, fetch the rest of the image at most RATE bytes/s, so "
	    "the mount ends up independent of the registry", DEFAULT_BACKGROUND_RATE },
	{ "platform", K_STRING, AT(platform), 0, "OS/ARCH[/VARIANT]",
	    "mounting an image by reference: its platform (default: this machine)", 0 },
	{ "log-level", K_LOGLEVEL, AT(log_level), 0, "LEVEL", "error, warn, info or debug", 0 },
	{ "partial-loads", K_FLAG, AT(partial_loads), 0, NULL, NULL, 0 },   /* ignored */
};

/* Mount's own options, then the registry's. */
static const struct opt_table tables[] = {
	{ mount_defs, sizeof(mount_defs) / sizeof(mount_defs[0]), 0 },
	REGISTRY_OPT_TABLE(AT(registry)),
};
#define NTABLES (sizeof(tables) / sizeof(tables[0]))
#define NOPTS_MAX 64

void
mount_opts_init(struct mount_opts *m)
{
	memset(m, 0, sizeof(*m));
	clip_reader_opts_init(&m->reader);
	registry_cli_opts_init(&m->registry);
	m->cache_dir = MOUNT_DEFAULT_CACHE_DIR;
	m->mode = "auto";
	m->timeout_s = DEFAULT_TIMEOUT_S;
	m->log_level = -1;
}

void
mount_opts_free(struct mount_opts *m)
{
	size_t i;

	for (i = 0; i < MOUNT_MAX_PATHS; i++) {
		free(m->made[i]);
		m->made[i] = NULL;
	}
	free(m->fetched_index);
	m->fetched_index = NULL;
	clip_index_close(m->fetched);
	m->fetched = NULL;
}

/* Adds tok to the options handed to FUSE. */
static int
add_fuse_opt(struct mount_opts *m, const char *tok)
{
	/* "rw" cannot be honoured: the image is read-only. */
	if (strcmp(tok, "rw") == 0) {
		fprintf(stderr, "clipfs mount: the image is read-only; -o rw is not possible\n");
		return -1;
	}
	if (strlen(m->fuse_opts) + strlen(tok) + 2 >= sizeof(m->fuse_opts)) {
		fprintf(stderr, "clipfs mount: too many -o options\n");
		return -1;
	}
	strcat(m->fuse_opts, ",");
	strcat(m->fuse_opts, tok);
	return 0;
}

int
mount_opts_apply_o(struct mount_opts *m, char *list)
{
	const struct opt_table *t;
	const struct opt_def *d;
	char *save = NULL, *tok, *eq;
	int rc;

	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if ((eq = strchr(tok, '=')) != NULL)
			*eq = '\0';
		d = opt_find(tables, NTABLES, tok, &t);
		if (d != NULL && eq == NULL && opt_needs_value(d)) {
			fprintf(stderr, "clipfs mount: -o %s needs a value (%s=...)\n", tok, tok);
			return -1;
		}
		rc = d != NULL ? opt_set(m, t, d, eq != NULL ? eq + 1 : NULL) : 0;
		if (eq != NULL)
			*eq = '=';
		if (rc != 0) {
			fprintf(stderr, "clipfs mount: bad value in -o %s\n", tok);
			return -1;
		}
		if (d == NULL && add_fuse_opt(m, tok) != 0)
			return -1;
	}
	return 0;
}

/* The long options of getopt_long: the tables', then ours. */
static void
long_options(struct option *lo)
{
	static const struct option fixed[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	size_t n = opt_long_options(tables, NTABLES, lo, NOPTS_MAX);

	memcpy(lo + n, fixed, sizeof(fixed));
}

int
mount_opts_parse(int argc, char **argv, struct mount_opts *m)
{
	struct option lo[NOPTS_MAX + 4];
	const struct opt_table *t;
	const struct opt_def *d;
	int c;

	long_options(lo);
	while ((c = getopt_long(argc, argv, "fdo:h", lo, NULL)) != -1) {
		switch (c) {
		case 'f': m->foreground = 1; break;
		case 'd': m->debug = m->foreground = 1; break;
		case 'o':
			if (mount_opts_apply_o(m, optarg) != 0)
				return -1;
			break;
		case 'h': mount_usage(stdout); return 1;
		case '?': mount_usage(stderr); return -1;
		default:
			d = opt_by_val(tables, NTABLES, c, &t);
			if (d == NULL || opt_set(m, t, d, optarg) != 0) {
				fprintf(stderr, "clipfs mount: bad value for --%s\n", d ? d->name : "?");
				return -1;
			}
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "clipfs mount: need IMAGE.clip (or an image reference) and "
		    "MOUNTPOINT\n");
		mount_usage(stderr);
		return -1;
	}
	m->index_path = argv[optind];
	m->mountpoint = argv[optind + 1];
	return 0;
}

/* *path made absolute into a string of our own (kept in m->made). */
static int
make_absolute(struct mount_opts *m, const char **path, size_t *nmade)
{
	char cwd[PATH_MAX];

	if (*path == NULL || (*path)[0] == '/')
		return 0;
	if (*nmade >= MOUNT_MAX_PATHS || getcwd(cwd, sizeof(cwd)) == NULL ||
	    asprintf(&m->made[*nmade], "%s/%s", cwd, *path) < 0) {
		m->made[*nmade] = NULL;
		return -1;
	}
	*path = m->made[(*nmade)++];
	return 0;
}

int
mount_opts_absolute(struct mount_opts *m)
{
	size_t i, j, nmade = 0;

	if (make_absolute(m, &m->index_path, &nmade) != 0 ||
	    make_absolute(m, &m->mountpoint, &nmade) != 0)
		return -1;
	for (i = 0; i < NTABLES; i++)
		for (j = 0; j < tables[i].n; j++)
			if (tables[i].defs[j].kind == K_PATH &&
			    make_absolute(m, opt_value(m, &tables[i], &tables[i].defs[j]), &nmade) != 0)
				return -1;
	return 0;
}

void
mount_usage(FILE *out)
{
	struct mount_opts m;
	size_t i;

	mount_opts_init(&m);
	fprintf(out,
	    "Usage: clipfs mount [OPTIONS] IMAGE.clip MOUNTPOINT\n"
	    "       clipfs mount [OPTIONS] [docker://]HOST/REPO[:TAG|@DIGEST] MOUNTPOINT\n"
	    "\n"
	    "Serve the image described by IMAGE.clip at MOUNTPOINT, read-only, fetching\n"
	    "file data lazily from the registry recorded in the index (or --layout).\n"
	    "An argument that is not an existing file (nor starts with / or ., nor ends\n"
	    "in .clip) is an image reference: the index published for it (clipfs push)\n"
	    "is fetched into CACHE-DIR/indexes/ first.\n"
	    "Returns once the mount is ready; unmount with clipfs umount MOUNTPOINT.\n"
	    "\n"
	    "  -f, --foreground          stay in the foreground (logs to stderr)\n"
	    "  -d, --debug               FUSE debug output (implies -f)\n"
	    "  -o OPT[,OPT...]           FUSE options (allow_other, ...) and the options below\n"
	    "                            as key=value (cache-dir=DIR or cache_dir=DIR, ...)\n");
	for (i = 0; i < NTABLES; i++)
		opt_usage(out, &tables[i], &m);
	fprintf(out, "  -h, --help                show this help\n");
}
