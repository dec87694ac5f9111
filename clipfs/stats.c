/* stats.c - counters over a unix socket, and the clipfs stats command. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "clipfs/cli.h"
#include "clipfs/format_util.h"
#include "clipfs/log.h"
#include "clipfs/stats.h"
#include "common/util/hex.h"
#include "common/util/json_bytes.h"
#include "common/registry/mirrors.h"

#define STATS_MAX_REPLY (64 * 1024)

struct stats_server {
	struct clipfs_fs *fs;
	int fd;
	int stop_pipe[2];
	pthread_t tid;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	ino_t sock_ino;             /* so a later daemon's socket is not removed */
	char *mountpoint;
	char *index_path;
};

static int
run_dir(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	if (geteuid() == 0 || xdg == NULL)
		return snprintf(buf, len, "/run/clipfs") >= (int)len ? -1 : 0;
	return snprintf(buf, len, "%s/clipfs", xdg) >= (int)len ? -1 : 0;
}

int
stats_socket_path(const char *mountpoint, char *buf, size_t len)
{
	char abs[PATH_MAX], dir[PATH_MAX];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	char hex[33];

	if (realpath(mountpoint, abs) == NULL)
		return -1;
	if (!EVP_Digest(abs, strlen(abs), md, &mdlen, EVP_sha256(), NULL))
		return -1;
	clip_hex_encode(md, 16, hex);
	if (run_dir(dir, sizeof(dir)) != 0)
		return -1;
	return snprintf(buf, len, "%s/%s.sock", dir, hex) >= (int)len ? -1 : 0;
}

/* Sets member key of o ("a.b": member b of object a, made if needed). */
static void
json_set_path(json_t *o, const char *key, json_t *v)
{
	const char *dot = strchr(key, '.');
	char head[64];
	json_t *sub;

	if (dot == NULL || (size_t)(dot - key) >= sizeof(head)) {
		json_object_set_new(o, key, v);
		return;
	}
	memcpy(head, key, (size_t)(dot - key));
	head[dot - key] = '\0';
	if ((sub = json_object_get(o, head)) == NULL) {
		sub = json_object();
		json_object_set_new(o, head, sub);
	}
	json_set_path(sub, dot + 1, v);
}

/* The member at key, as for json_set_path; NULL if there is none. */
static json_t *
json_get_path(json_t *o, const char *key)
{
	const char *dot = strchr(key, '.');
	char head[64];

	if (dot == NULL || (size_t)(dot - key) >= sizeof(head))
		return json_object_get(o, key);
	memcpy(head, key, (size_t)(dot - key));
	head[dot - key] = '\0';
	return json_get_path(json_object_get(o, head), dot + 1);
}

/* --mirror: per host, in the order tried, its scheme, the reads it
 * answered, their bytes, the reads that failed there and those of them
 * whose bytes were wrong. */
static json_t *
hosts_json(const struct clip_mirror_set *m)
{
	struct clip_mirror_host_stats h;
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < clip_mirror_set_size(m); i++) {
		clip_mirror_set_stats(m, i, &h);
		json_array_append_new(a, json_pack("{s:s,s:s,s:I,s:I,s:I,s:I}", "host", h.label,
		    "scheme", h.scheme,
		    "reads", (json_int_t)h.reads, "bytes", (json_int_t)h.bytes,
		    "failed", (json_int_t)h.failed, "wrong", (json_int_t)h.wrong));
	}
	return a;
}

int
stats_binary_path(const char *mountpoint, char *buf, size_t len)
{
	size_t n;

	if (stats_socket_path(mountpoint, buf, len) != 0)
		return -1;
	n = strlen(buf);
	return snprintf(buf + n, len - n, ".binary") >= (int)(len - n) ? -1 : 0;
}

/* Never waits for the reader's loads or writes: the counters as they are. */
static json_t *
stats_json(const struct stats_server *s)
{
	struct clipfs_fs *fs = s->fs;
	struct clip_reader_stats rs;
	const struct clip_reader_stat_field *f;
	json_t *j;
	size_t k;

	clip_reader_stats(fs->reader, &rs);
	j = json_object();
	/* Paths are bytes: clip_json_set_bytes keeps them whole. */
	clip_json_set_bytes(j, "mountpoint", s->mountpoint, strlen(s->mountpoint));
	clip_json_set_bytes(j, "index", s->index_path, strlen(s->index_path));
	json_object_set_new(j, "pid", json_integer(getpid()));
	json_object_set_new(j, "keeper_pid", json_integer(fs->keeper_pid));
	json_object_set_new(j, "restarts", json_integer(fs->restarts));
	json_object_set_new(j, "mode", json_string(fs->mode != NULL ? fs->mode : "fuse"));
	json_object_set_new(j, "mode_why", json_string(fs->mode_why));
	json_object_set_new(j, "uptime_seconds", json_real(fs_now() - fs->start_time));
	json_object_set_new(j, "ready_ms", json_real(1000.0 * (fs->ready_time - fs->start_time)));
	json_object_set_new(j, "fuse", json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
	    "lookups", (json_int_t)atomic_load(&fs->counters.lookups),
	    "getattrs", (json_int_t)atomic_load(&fs->counters.getattrs),
	    "readdirs", (json_int_t)atomic_load(&fs->counters.readdirs),
	    "opens", (json_int_t)atomic_load(&fs->counters.opens),
	    "reads", (json_int_t)atomic_load(&fs->counters.reads),
	    "readlinks", (json_int_t)atomic_load(&fs->counters.readlinks),
	    "xattrs", (json_int_t)atomic_load(&fs->counters.xattrs)));
	for (k = 0; k < clip_reader_stat_field_count; k++) {
		f = &clip_reader_stat_fields[k];
		json_set_path(j, f->key, json_integer((json_int_t)clip_reader_stat_value(&rs, f)));
	}
	json_object_set_new(j, "fetch_latency_us", json_pack("{s:I,s:I,s:I}",
	    "p50", (json_int_t)clip_reader_stats_latency_quantile(&rs, 0.50),
	    "p90", (json_int_t)clip_reader_stats_latency_quantile(&rs, 0.90),
	    "p99", (json_int_t)clip_reader_stats_latency_quantile(&rs, 0.99)));
	json_object_set_new(j, "layer_files", json_pack("{s:I,s:I,s:I,s:I}",
	    "written", (json_int_t)atomic_load(&fs->layer_files.written),
	    "errors", (json_int_t)atomic_load(&fs->layer_files.errors),
	    "local", (json_int_t)fs->layer_files_local,
	    "damaged", (json_int_t)fs->layer_files_damaged));
	json_set_path(j, "errors.read_eio",
	    json_integer((json_int_t)atomic_load(&fs->counters.read_errors)));
	if (fs->mirrors != NULL)
		json_object_set_new(j, "hosts", hosts_json(fs->mirrors));
	return j;
}

static void *
stats_thread(void *arg)
{
	struct stats_server *s = arg;
	struct pollfd p[2] = { { s->fd, POLLIN, 0 }, { s->stop_pipe[0], POLLIN, 0 } };

	for (;;) {
		int c;
		char *text;
		json_t *j;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		c = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		j = stats_json(s);
		text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_decref(j);
		if (text != NULL) {
			size_t len = strlen(text), done = 0;
			while (done < len) {
				ssize_t n = send(c, text + done, len - done, MSG_NOSIGNAL);
				if (n <= 0)
					break;
				done += (size_t)n;
			}
			free(text);
		}
		close(c);
	}
	return NULL;
}

struct stats_server *
stats_server_start(struct clipfs_fs *fs, const char *mountpoint, const char *index_path)
{
	struct stats_server *s = calloc(1, sizeof(*s));
	struct sockaddr_un sa;
	char dir[PATH_MAX];

	if (s == NULL)
		return NULL;
	s->fd = -1;
	s->stop_pipe[0] = s->stop_pipe[1] = -1;
	s->fs = fs;
	s->mountpoint = realpath(mountpoint, NULL);
	s->index_path = realpath(index_path, NULL);
	if (s->mountpoint == NULL || s->index_path == NULL ||
	    stats_socket_path(mountpoint, s->path, sizeof(s->path)) != 0 ||
	    run_dir(dir, sizeof(dir)) != 0)
		goto fail;
	/* Private to the owner: counters reveal what a container reads. */
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		goto fail;
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0 || pipe2(s->stop_pipe, O_CLOEXEC) != 0)
		goto fail;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, s->path, strlen(s->path) + 1);
	unlink(s->path);   /* a stale socket of a daemon that died */
	if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || chmod(s->path, 0600) != 0 ||
	    listen(s->fd, 8) != 0)
		goto fail;
	{
		struct stat st;
		if (stat(s->path, &st) == 0)
			s->sock_ino = st.st_ino;
	}
	if (pthread_create(&s->tid, NULL, stats_thread, s) != 0) {
		unlink(s->path);
		goto fail;
	}
	return s;
fail:
	if (s->fd >= 0)
		close(s->fd);
	if (s->stop_pipe[0] >= 0) {
		close(s->stop_pipe[0]);
		close(s->stop_pipe[1]);
	}
	free(s->mountpoint);
	free(s->index_path);
	free(s);
	return NULL;
}

void
stats_server_stop(struct stats_server *s)
{
	if (s == NULL)
		return;
	if (write(s->stop_pipe[1], "x", 1) != 1)
		log_warn("stats: cannot stop the stats thread");
	pthread_join(s->tid, NULL);
	close(s->fd);
	close(s->stop_pipe[0]);
	close(s->stop_pipe[1]);
	{
		/* A new daemon on the same mountpoint may own the path by now. */
		struct stat st;
		if (stat(s->path, &st) == 0 && st.st_ino == s->sock_ino)
			unlink(s->path);
	}
	free(s->mountpoint);
	free(s->index_path);
	free(s);
}

char *
stats_query(const char *mountpoint, size_t *lenp)
{
	struct sockaddr_un sa;
	char path[sizeof(sa.sun_path)];
	char *buf;
	size_t len = 0;
	int fd;

	*lenp = 0;
	if (stats_socket_path(mountpoint, path, sizeof(path)) != 0)
		return NULL;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	buf = malloc(STATS_MAX_REPLY + 1);
	while (buf != NULL && len < STATS_MAX_REPLY) {
		ssize_t n = read(fd, buf + len, STATS_MAX_REPLY - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (buf != NULL)
		buf[len] = '\0';
	*lenp = len;
	return buf;
}

static void
stats_usage(FILE *out)
{
	fprintf(out,
	    "Usage: clipfs stats [--json] MOUNTPOINT\n"
	    "\n"
	    "Show the counters of the clipfs daemon serving MOUNTPOINT since it mounted:\n"
	    "requests and bytes fetched from the registry, bytes served, spans inflated,\n"
	    "cache hits and misses, fetch latency percentiles, errors by kind, and the time\n"
	    "from start to mount ready.\n"
	    "\n"
	    "  -j, --json   print the daemon's JSON as is\n"
	    "  -h, --help   show this help\n");
}

static json_int_t
jint(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);

	if (b != NULL)
		v = json_object_get(v, b);
	return json_integer_value(v);
}

/* A path from the daemon's answer, its bytes escaped as clipfs ls does;
 * "-" when the answer has none. */
static void
print_path(const char *label, json_t *j, const char *key)
{
	size_t len;
	char *p = clip_json_get_bytes(j, key, &len);

	fputs(label, stdout);
	if (p != NULL)
		print_escaped(stdout, p, len);
	else
		putchar('-');
	putchar('\n');
	free(p);
}

/* clipfs stats without --json: a few lines about the mount, then every
 * reader counter of the list, by its name. */
static void
print_stats_text(json_t *j)
{
	const struct clip_reader_stat_field *f;
	const char *mode, *why;
	size_t k;

	print_path("mountpoint:      ", j, "mountpoint");
	print_path("index:           ", j, "index");
	printf("pid:             %lld\n", (long long)jint(j, "pid", NULL));
	printf("keeper pid:      %lld (daemons restarted: %lld)\n",
	    (long long)jint(j, "keeper_pid", NULL), (long long)jint(j, "restarts", NULL));
	mode = json_string_value(json_object_get(j, "mode"));
	why = json_string_value(json_object_get(j, "mode_why"));
	printf("mode:            %s (%s)\n", mode ? mode : "fuse", why ? why : "?");
	printf("ready after:     %.1f ms\n", json_real_value(json_object_get(j, "ready_ms")));
	printf("fuse requests:   %lld lookups, %lld getattrs, %lld readdirs, %lld opens, "
	    "%lld reads, %lld readlinks, %lld xattrs\n",
	    (long long)jint(j, "fuse", "lookups"), (long long)jint(j, "fuse", "getattrs"),
	    (long long)jint(j, "fuse", "readdirs"), (long long)jint(j, "fuse", "opens"),
	    (long long)jint(j, "fuse", "reads"), (long long)jint(j, "fuse", "readlinks"),
	    (long long)jint(j, "fuse", "xattrs"));
	printf("fetch latency:   p50 %lld us, p90 %lld us, p99 %lld us\n",
	    (long long)jint(j, "fetch_latency_us", "p50"),
	    (long long)jint(j, "fetch_latency_us", "p90"),
	    (long long)jint(j, "fetch_latency_us", "p99"));
	printf("EIO replies:     %lld\n", (long long)jint(j, "errors", "read_eio"));
	printf("layer files:     %lld written, %lld write errors; at mount %lld local, "
	    "%lld damaged\n", (long long)jint(j, "layer_files", "written"),
	    (long long)jint(j, "layer_files", "errors"), (long long)jint(j, "layer_files", "local"),
	    (long long)jint(j, "layer_files", "damaged"));
	for (k = 0; k < json_array_size(json_object_get(j, "hosts")); k++) {
		json_t *h = json_array_get(json_object_get(j, "hosts"), k);
		printf("host:            %s: %lld reads, %lld bytes, %lld failed (%lld wrong bytes)\n",
		    json_string_value(json_object_get(h, "host")), (long long)jint(h, "reads", NULL),
		    (long long)jint(h, "bytes", NULL), (long long)jint(h, "failed", NULL),
		    (long long)jint(h, "wrong", NULL));
	}
	for (k = 0; k < clip_reader_stat_field_count; k++) {
		f = &clip_reader_stat_fields[k];
		printf("%-20s %14lld  %s%s\n", f->name,
		    (long long)json_integer_value(json_get_path(j, f->key)), f->what,
		    f->gauge ? " (now)" : "");
	}
}

int
cmd_stats(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *buf;
	size_t len = 0;
	int c, json = 0;
	json_t *j;

	while ((c = getopt_long(argc, argv, "jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 'h': stats_usage(stdout); return EXIT_OK;
		default: stats_usage(stderr); return EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		stats_usage(stderr);
		return EXIT_USAGE;
	}
	buf = stats_query(argv[optind], &len);
	if (buf == NULL) {
		fprintf(stderr, "clipfs stats: %s: no clipfs daemon answers for this mountpoint\n",
		    argv[optind]);
		return EXIT_FAILURE_GENERIC;
	}
	j = json_loads(buf, 0, NULL);
	if (j == NULL) {
		fprintf(stderr, "clipfs stats: the daemon's answer is not JSON\n");
		free(buf);
		return EXIT_FAILURE_GENERIC;
	}
	if (json) {
		fputs(buf, stdout);
		putchar('\n');
	} else {
		print_stats_text(j);
	}
	json_decref(j);
	free(buf);
	return EXIT_OK;
}
