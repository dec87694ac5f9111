/* mount_opts.c - clipfs mount's options, from one table (mount_opts.h). */
#include "config.h"

#include <getopt.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clipfs/cli.h"
#include "clipfs/log.h"
#include "clipfs/mount_opts.h"

#define DEFAULT_TIMEOUT_S 30
#define DEFAULT_BACKGROUND_RATE (UINT64_C(20) << 20)   /* bytes/s */
#define MAX_LOAD_SIZE (UINT64_C(256) << 20)   /* the reader's own span bound */

enum opt_kind {
	K_FLAG,      /* sets an int to 1 (-o: or to a boolean value given) */
	K_STRING,    /* a const char * */
	K_PATH,      /* the same, made absolute before the daemon starts */
	K_SECRET,    /* a const char *, hidden from ps (clipfs_hide_secret) */
	K_BOOL,      /* an int, true or false */
	K_SIZE,      /* a uint64_t, SIZE up to max */
	K_COUNT,     /* an unsigned, 0 to max */
	K_SECONDS,   /* an unsigned, 1 to max */
	K_RATE,      /* a uint64_t: the default rate, or the SIZE given (> 0) */
	K_LOGLEVEL,  /* an int: error, warn, info, debug */
};

struct opt_def {
	const char *name;          /* the long name; -o also takes it with '_' */
	enum opt_kind kind;
	size_t offset;             /* of the value in struct mount_opts */
	uint64_t max;
	const char *arg;           /* its argument in --help */
	const char *help;          /* --help's text; the default is added */
};

#define AT(field) offsetof(struct mount_opts, field)

static const struct opt_def opts[] = {
	{ "layout", K_PATH, AT(layout), 0, "DIR",
	    "read layers from a local OCI layout, not a registry" },
	{ "creds", K_SECRET, AT(creds), 0, "USER:PASS", "registry credentials" },
	{ "authfile", K_PATH, AT(authfile), 0, "FILE",
	    "credentials file (containers auth.json format)" },
	{ "cacert", K_PATH, AT(cacert), 0, "FILE", "trust this CA for the registry" },
	{ "plain-http", K_FLAG, AT(plain_http), 0, NULL,
	    "talk HTTP to the registry (also taken from the index)" },
	{ "tls-verify", K_BOOL, AT(tls_verify), 0, "BOOL", "verify the registry's certificate" },
	{ "cache-dir", K_PATH, AT(cache_dir), 0, "DIR", "disk cache of spans" },
	{ "no-disk-cache", K_FLAG, AT(no_disk_cache), 0, NULL, "memory cache only" },
	{ "cache-size", K_SIZE, AT(reader.disk_cache_bytes), UINT64_MAX, "SIZE",
	    "disk cache bound" },
	{ "mem-cache", K_SIZE, AT(reader.mem_cache_bytes), UINT64_MAX, "SIZE",
	    "memory cache bound (0: only the spans in use)" },
	{ "timeout", K_SECONDS, AT(timeout_s), 86400, "SECONDS",
	    "a read that needs the registry fails with EIO after about this long" },
	{ "readahead", K_COUNT, AT(reader.readahead_spans), 64, "N",
	    "spans fetched ahead of sequential reads" },
	{ "load-size", K_SIZE, AT(reader.load_bytes), MAX_LOAD_SIZE, "SIZE",
	    "a miss fetches, in one request, the spans from its own on while they hold "
	    "at most SIZE" },
	{ "predict", K_COUNT, AT(reader.predict_spans), 16, "N",
	    "on a miss, also load the N spans after those" },
	{ "trace", K_PATH, AT(trace), 0, "FILE",
	    "write each file's first read (path, time, offset)" },
	{ "no-prefetch", K_FLAG, AT(no_prefetch), 0, NULL,
	    "do not fetch the index's prefetch list at mount" },
	{ "background-fetch", K_RATE, AT(background_rate), UINT64_MAX, "RATE",
	    "after the prefetch list, fetch the rest of the image at most RATE bytes/s, so "
	    "the mount ends up independent of the registry" },
	{ "log-level", K_LOGLEVEL, AT(log_level), 0, "LEVEL", "error, warn, info or debug" },
	{ "partial-loads", K_FLAG, AT(partial_loads), 0, NULL, NULL },   /* ignored */
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

void
mount_opts_init(struct mount_opts *m)
{
	memset(m, 0, sizeof(*m));
	clip_reader_opts_init(&m->reader);
	m->tls_verify = 1;
	m->cache_dir = MOUNT_DEFAULT_CACHE_DIR;
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
}

/* The option named key ('-' and '_' alike), or NULL. */
static const struct opt_def *
find_opt(const char *key)
{
	size_t i, k;

	for (i = 0; i < NOPTS; i++) {
		for (k = 0; opts[i].name[k] != '\0' && key[k] != '\0'; k++)
			if (opts[i].name[k] != key[k] && !(opts[i].name[k] == '-' && key[k] == '_'))
				break;
		if (opts[i].name[k] == '\0' && key[k] == '\0')
			return &opts[i];
	}
	return NULL;
}

/* Sets option d from val (NULL: none given); 0, or -1 for a bad value. */
static int
set_opt(struct mount_opts *m, const struct opt_def *d, char *val)
{
	void *p = (char *)m + d->offset;
	int level;

	switch (d->kind) {
	case K_FLAG:
		if (val == NULL) {
			*(int *)p = 1;
			return 0;
		}
		return clipfs_parse_bool(val, (int *)p);
	case K_STRING:
	case K_PATH:
		*(const char **)p = val;
		return val != NULL && *val != '\0' ? 0 : -1;
	case K_SECRET:
		/* val is argv's own memory (optarg, or a token of -o's list). */
		*(const char **)p = clipfs_hide_secret(val);
		return *val != '\0' ? 0 : -1;
	case K_BOOL:
		return clipfs_parse_bool(val, (int *)p);
	case K_SIZE:
		return clipfs_parse_size(val, d->max, (uint64_t *)p);
	case K_COUNT:
		return clipfs_parse_count(val, (unsigned)d->max, (unsigned *)p);
	case K_SECONDS:
		return clipfs_parse_count(val, (unsigned)d->max, (unsigned *)p) == 0 &&
		    *(unsigned *)p > 0 ? 0 : -1;
	case K_RATE:
		*(uint64_t *)p = DEFAULT_BACKGROUND_RATE;
		if (val == NULL || *val == '\0')
			return 0;
		return clipfs_parse_size(val, d->max, (uint64_t *)p) == 0 && *(uint64_t *)p > 0 ?
		    0 : -1;
	case K_LOGLEVEL:
		if ((level = log_level_parse(val)) < 0)
			return -1;
		*(int *)p = level;
		return 0;
	}
	return -1;
}

/* Whether an option of this kind needs a value. */
static int
needs_value(enum opt_kind k)
{
	return k != K_FLAG && k != K_RATE;
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
	const struct opt_def *d;
	char *save = NULL, *tok, *eq;
	int rc;

	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if ((eq = strchr(tok, '=')) != NULL)
			*eq = '\0';
		d = find_opt(tok);
		if (d != NULL && eq == NULL && needs_value(d->kind)) {
			fprintf(stderr, "clipfs mount: -o %s needs a value (%s=...)\n", tok, tok);
			return -1;
		}
		rc = d != NULL ? set_opt(m, d, eq != NULL ? eq + 1 : NULL) : 0;
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

/* The long options of getopt_long, from the table; val 256 + index. */
static void
long_options(struct option *lo)
{
	static const struct option fixed[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
	};
	size_t i;

	for (i = 0; i < NOPTS; i++) {
		lo[i].name = opts[i].name;
		lo[i].has_arg = opts[i].kind == K_FLAG ? no_argument :
		    opts[i].kind == K_RATE ? optional_argument : required_argument;
		lo[i].flag = NULL;
		lo[i].val = 256 + (int)i;
	}
	memcpy(lo + NOPTS, fixed, sizeof(fixed));
	memset(lo + NOPTS + 3, 0, sizeof(*lo));
}

int
mount_opts_parse(int argc, char **argv, struct mount_opts *m)
{
	struct option lo[NOPTS + 4];
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
			if (set_opt(m, &opts[c - 256], optarg) != 0) {
				fprintf(stderr, "clipfs mount: bad value for --%s\n", opts[c - 256].name);
				return -1;
			}
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "clipfs mount: need IMAGE.clip and MOUNTPOINT\n");
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
	size_t i, nmade = 0;

	if (make_absolute(m, &m->index_path, &nmade) != 0 ||
	    make_absolute(m, &m->mountpoint, &nmade) != 0)
		return -1;
	for (i = 0; i < NOPTS; i++)
		if (opts[i].kind == K_PATH &&
		    make_absolute(m, (const char **)((char *)m + opts[i].offset), &nmade) != 0)
			return -1;
	return 0;
}

/* A size as --help shows it: 256M, 4G, 1536K, 100. */
static void
format_size(uint64_t v, char *buf, size_t len)
{
	static const char units[] = "KMG";
	int u = -1;

	while (u < 2 && v >= 1024 && v % 1024 == 0) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%llu%.*s", (unsigned long long)v, u >= 0 ? 1 : 0, u >= 0 ? &units[u] : "");
}

/* " (default ...)" for option d, from m's value; "" if it has none. */
static void
format_default(const struct mount_opts *m, const struct opt_def *d, char *buf, size_t len)
{
	const void *p = (const char *)m + d->offset;
	char v[64];

	buf[0] = '\0';
	switch (d->kind) {
	case K_PATH:
	case K_STRING:
		if (*(const char *const *)p != NULL)
			snprintf(buf, len, " (default %s)", *(const char *const *)p);
		return;
	case K_BOOL:
		snprintf(buf, len, " (default %s)", *(const int *)p ? "true" : "false");
		return;
	case K_SIZE:
		format_size(*(const uint64_t *)p, v, sizeof(v));
		snprintf(buf, len, " (default %s)", v);
		return;
	case K_COUNT:
	case K_SECONDS:
		snprintf(buf, len, " (default %u)", *(const unsigned *)p);
		return;
	case K_RATE:
		format_size(DEFAULT_BACKGROUND_RATE, v, sizeof(v));
		snprintf(buf, len, " (default RATE %s)", v);
		return;
	case K_LOGLEVEL:
		snprintf(buf, len, " (default warn)");
		return;
	case K_FLAG:
	case K_SECRET:
		return;
	}
}

/* Prints text from column 28 on, wrapped before column 80; the first
 * line goes on after col columns already used. */
static void
print_wrapped(FILE *out, const char *text, size_t col)
{
	const char *p = text, *space;
	size_t room, n;

	if (col > 27) {
		fputc('\n', out);
		col = 0;
	}
	fprintf(out, "%*s", (int)(28 - col), "");
	for (;;) {
		room = 80 - 28;
		if (strlen(p) <= room) {
			fprintf(out, "%s\n", p);
			return;
		}
		for (n = room; n > 0 && p[n] != ' '; n--)
			;
		space = n > 0 ? p + n : p + room;
		fprintf(out, "%.*s\n%28s", (int)(space - p), p, "");
		p = *space == ' ' ? space + 1 : space;
	}
}

void
mount_usage(FILE *out)
{
	struct mount_opts m;
	char left[64], def[128], text[512];
	size_t i;

	mount_opts_init(&m);
	fprintf(out,
	    "Usage: clipfs mount [OPTIONS] IMAGE.clip MOUNTPOINT\n"
	    "\n"
	    "Serve the image described by IMAGE.clip at MOUNTPOINT, read-only, fetching\n"
	    "file data lazily from the registry recorded in the index (or --layout).\n"
	    "Returns once the mount is ready; unmount with clipfs umount MOUNTPOINT.\n"
	    "\n"
	    "  -f, --foreground          stay in the foreground (logs to stderr)\n"
	    "  -d, --debug               FUSE debug output (implies -f)\n"
	    "  -o OPT[,OPT...]           FUSE options (allow_other, ...) and the options below\n"
	    "                            as key=value (cache-dir=DIR or cache_dir=DIR, ...)\n");
	for (i = 0; i < NOPTS; i++) {
		if (opts[i].help == NULL)
			continue;
		snprintf(left, sizeof(left), "--%s%s%s%s", opts[i].name,
		    opts[i].arg == NULL ? "" : opts[i].kind == K_RATE ? "[=" : " ",
		    opts[i].arg == NULL ? "" : opts[i].arg, opts[i].kind == K_RATE ? "]" : "");
		format_default(&m, &opts[i], def, sizeof(def));
		snprintf(text, sizeof(text), "%s%s", opts[i].help, def);
		fprintf(out, "      %s", left);
		print_wrapped(out, text, 6 + strlen(left));
	}
	fprintf(out, "  -h, --help                show this help\n");
}
