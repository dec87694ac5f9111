/*
 * cmd_mount.c - clipfs mount: serve an index over FUSE; clipfs umount;
 * and mount.clipfs, the helper mount(8) runs for "-t clipfs".
 *
 * Everything that can be checked is checked before anything is mounted
 * (the index, the mountpoint, where the layers come from), so a failure
 * is an exit status, not a broken mount.  The daemon detaches once the
 * mount is ready; threads and network handles start only after that
 * (threads do not survive fork).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "clipfs/cli.h"
#include "clipfs/fs.h"
#include "clipfs/log.h"
#include "clipfs/mount_opts.h"
#include "clipfs/mount_ref.h"
#include "clipfs/prefetch.h"
#include "clipfs/stats.h"
#include "common/registry/auth_config.h"
#include "common/oci/blob_source.h"
#include "common/oci/reference.h"
#include "common/registry/mirrors.h"
#include "common/registry/registry.h"

/* Prefetch requests in flight: fetch and inflate overlap, and demand reads
 * keep 2 of the reader's 8 loader threads (the choice is measured in
 * bench/COLDSTART.md, item 14). */
#define PREFETCH_WORKERS 6

/* A clear error before mounting on something missing or already mounted. */
static int
check_mountpoint(const char *mp)
{
	struct stat st, up;
	char parent[PATH_MAX];

	if (stat(mp, &st) != 0) {
		fprintf(stderr, "clipfs mount: %s: %s\n", mp, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "clipfs mount: %s: not a directory\n", mp);
		return -1;
	}
	if (snprintf(parent, sizeof(parent), "%s/..", mp) >= (int)sizeof(parent) ||
	    stat(parent, &up) != 0)
		return 0;
	if (st.st_dev != up.st_dev || st.st_ino == up.st_ino) {
		fprintf(stderr, "clipfs mount: %s: already a mount point (busy)\n", mp);
		return -1;
	}
	return 0;
}

/* Where the layers come from, decided before mounting. */
struct data_source {
	clip_layout_source *layout;
	clip_registry *registry;
	clip_mirror_set *mirrors;   /* --mirror: owns the handles, registry last */
	struct clip_blob_source src;
	struct clip_reference ref;
	struct clip_registry_opts ro;
	struct clip_creds creds;
};

static clip_err
registry_fetch(void *ctx, const char *digest, uint64_t off, size_t len, void *buf,
    struct clip_error *err)
{
	return clip_registry_read_range(ctx, digest, off, len, buf, err);
}

static clip_err
registry_fetch_progress(void *ctx, const char *digest, uint64_t off, size_t len, void *buf,
    clip_fetch_progress_fn progress, void *arg, struct clip_error *err)
{
	return clip_registry_read_range_progress(ctx, digest, off, len, buf, progress, arg, err);
}

/* Everything that needs no thread and no connection. */
static int
source_prepare(const struct mount_opts *m, const clip_index *idx, struct data_source *ds)
{
	struct clip_index_image im;
	struct clip_error err;
	char *name = NULL;
	long t = (long)m->timeout_s;

	clip_error_clear(&err);
	if (m->layout != NULL)
		return 0;
	clip_index_image(idx, &im);
	if (im.storage_registry.len == 0 || im.storage_repository.len == 0) {
		fprintf(stderr, "clipfs mount: %s names no registry to fetch from (it was indexed "
		    "from a local layout without --storage-ref); use --layout DIR\n", m->index_path);
		return EXIT_USAGE;
	}
	if (asprintf(&name, "%s/%s", im.storage_registry.ptr, im.storage_repository.ptr) < 0)
		return EXIT_FAILURE_GENERIC;
	if (clip_reference_parse(name, &ds->ref, &err) != CLIP_OK ||
	    ds->ref.kind != CLIP_REF_REGISTRY) {
		fprintf(stderr, "clipfs mount: storage reference '%s' in the index: %s\n", name,
		    clip_error_message(&err));
		free(name);
		return EXIT_BAD_INDEX;
	}
	free(name);
	if (clip_auth_lookup(ds->ref.registry, m->registry.creds, m->registry.authfile, &ds->creds, &err) != CLIP_OK) {
		clipfs_report("mount", &err);
		return EXIT_USAGE;
	}
	clip_registry_opts_init(&ds->ro);
	ds->ro.plain_http = m->registry.plain_http || (im.storage_flags & CLIP_STORAGE_PLAIN_HTTP);
	ds->ro.tls_verify = m->registry.tls_verify;
	ds->ro.cacert = m->registry.cacert;
	ds->ro.username = ds->creds.username;
	ds->ro.password = ds->creds.password;
	/* A read must fail with EIO in about t seconds when the registry is
	 * gone or stalls: two tries, each bounded by t/2.  Ranged blob reads
	 * have no total timeout (request_timeout_s is for small requests),
	 * only the connect and stall timeouts, so those are what bound a try. */
	ds->ro.connect_timeout_s = t / 2 > 0 ? t / 2 : 1;
	ds->ro.low_speed_time_s = t / 2 > 0 ? t / 2 : 1;
	ds->ro.request_timeout_s = t / 2 > 0 ? t / 2 : 1;
	ds->ro.max_retries = 1;
	return 0;
}

/* The --mirror hosts, then the registry, as the layer source; each
 * mirror with the mount's timeouts and its own host's credentials. */
static clip_err
mirrors_open(const struct mount_opts *m, struct data_source *ds, struct clip_error *err)
{
	clip_registry *hosts[CLIP_MIRRORS_MAX + 1];
	const char *labels[CLIP_MIRRORS_MAX + 1];
	char origin[512];
	size_t n = 0, i;
	clip_err rc = CLIP_OK;

	for (i = 0; i < m->mirrors.n && i < CLIP_MIRRORS_MAX && rc == CLIP_OK; i++)
		if ((rc = registry_cli_open_mirror(&m->registry, m->mirrors.v[i], ds->ref.repository,
		    &ds->ro, &hosts[n], err)) == CLIP_OK)
			labels[n++] = m->mirrors.v[i];
	if (rc != CLIP_OK) {
		while (n > 0)
			clip_registry_close(hosts[--n]);
		return rc;
	}
	snprintf(origin, sizeof(origin), "%s/%s", ds->ref.api_host, ds->ref.repository);
	labels[n] = origin;
	hosts[n++] = ds->registry;
	ds->registry = NULL;   /* the set owns it now */
	return clip_mirror_set_new(hosts, labels, n, &ds->mirrors, &ds->src, err);
}

/* After fork: opens the layout or the registry handle. */
static clip_err
source_open(const struct mount_opts *m, struct data_source *ds, struct clip_error *err)
{
	clip_err rc;

	if (m->layout != NULL)
		return clip_layout_source_new(m->layout, &ds->layout, &ds->src, err);
	if ((rc = clip_registry_global_init(err)) != CLIP_OK)
		return rc;
	rc = clip_registry_open(ds->ref.api_host, ds->ref.repository, &ds->ro, &ds->registry, err);
	if (rc != CLIP_OK)
		return rc;
	if (m->mirrors.n > 0)
		return mirrors_open(m, ds, err);
	ds->src.fetch = registry_fetch;
	ds->src.fetch_progress = registry_fetch_progress;
	ds->src.ctx = ds->registry;
	return CLIP_OK;
}

static void
source_close(struct data_source *ds)
{
	clip_layout_source_free(ds->layout);
	clip_mirror_set_free(ds->mirrors);
	clip_registry_close(ds->registry);
	clip_reference_free(&ds->ref);
	clip_creds_free(&ds->creds);
}

static void
reader_warn(void *ctx, const char *msg)
{
	(void)ctx;
	log_warn("%s", msg);
}

/* What a mount holds, from start to unmount. */
struct mount_run {
	struct fuse_args args;
	struct data_source ds;
	struct clipfs_fs fs;
	struct stats_server *stats;
	struct prefetcher *prefetch;
	struct fuse_session *se;
	clip_index *idx;
	int mounted;
};

/* The FUSE session, mounted; everything that can fail is checked before.
 * An exit status (EXIT_OK once mounted). */
static int
mount_session(const struct mount_opts *m, struct mount_run *mr)
{
	char opts[4352];
	int rc;

	if ((rc = clipfs_index_open(m->index_path, &mr->idx)) != EXIT_OK)
		return rc;
	if (check_mountpoint(m->mountpoint) != 0)
		return EXIT_MOUNT;
	if ((rc = source_prepare(m, mr->idx, &mr->ds)) != 0)
		return rc;
	if (m->layout != NULL && access(m->layout, R_OK | X_OK) != 0) {
		fprintf(stderr, "clipfs mount: --layout %s: %s\n", m->layout, strerror(errno));
		return EXIT_USAGE;
	}
	snprintf(opts, sizeof(opts), "ro,default_permissions,fsname=clipfs,subtype=clipfs%s",
	    m->fuse_opts);
	if (fuse_opt_add_arg(&mr->args, "clipfs") != 0 || fuse_opt_add_arg(&mr->args, "-o") != 0 ||
	    fuse_opt_add_arg(&mr->args, opts) != 0 ||
	    (m->debug && fuse_opt_add_arg(&mr->args, "-d") != 0))
		return EXIT_FAILURE_GENERIC;
	mr->fs.idx = mr->idx;
	mr->fs.entry_timeout = 365.0 * 24 * 3600;
	mr->se = fuse_session_new(&mr->args, &clipfs_ops, sizeof(clipfs_ops), &mr->fs);
	if (mr->se == NULL) {
		fprintf(stderr, "clipfs mount: bad FUSE options: %s\n", opts);
		return EXIT_USAGE;
	}
	if (fuse_set_signal_handlers(mr->se) != 0 ||
	    fuse_session_mount(mr->se, m->mountpoint) != 0) {
		fprintf(stderr, "clipfs mount: cannot mount on %s\n", m->mountpoint);
		return EXIT_MOUNT;
	}
	mr->mounted = 1;
	mr->fs.ready_time = fs_now();
	return EXIT_OK;
}

/* In the daemon: the layer source, the reader, the trace, prefetching
 * and the stats socket.  An exit status. */
static int
start_serving(const struct mount_opts *m, struct mount_run *mr)
{
	struct clip_reader_opts ro;
	struct clip_error err;

	clip_error_clear(&err);
	if (source_open(m, &mr->ds, &err) != CLIP_OK) {
		log_error("cannot open the layer source: %s", clip_error_message(&err));
		return EXIT_REGISTRY;
	}
	mr->fs.mirrors = mr->ds.mirrors;
	ro = m->reader;
	ro.warn = reader_warn;
	ro.disk_cache_dir = m->no_disk_cache ? NULL : m->cache_dir;
	if (clip_reader_new(mr->idx, &mr->ds.src, &ro, &mr->fs.reader, &err) != CLIP_OK) {
		log_error("%s", clip_error_message(&err));
		return EXIT_FAILURE_GENERIC;
	}
	if (m->trace != NULL && (mr->fs.trace = fs_trace_open(m->trace,
	    clip_index_inode_count(mr->idx))) == NULL)
		log_warn("--trace %s: %s; not tracing", m->trace, strerror(errno));
	if (!m->no_prefetch || m->background_rate > 0)
		mr->prefetch = prefetcher_start(mr->idx, mr->fs.reader,
		    m->no_prefetch ? 0 : PREFETCH_WORKERS, m->background_rate);
	mr->stats = stats_server_start(&mr->fs, m->mountpoint, m->index_path);
	if (mr->stats == NULL)
		log_warn("clipfs stats will not answer for %s: %s", m->mountpoint, strerror(errno));
	log_info("serving %s at %s", m->index_path, m->mountpoint);
	return EXIT_OK;
}

/* Serves until unmounted or asked to stop.  An exit status. */
static int
serve(struct mount_run *mr)
{
	struct fuse_loop_config *loop = fuse_loop_cfg_create();
	int ret;

	if (loop == NULL)
		return EXIT_FAILURE_GENERIC;
	fuse_loop_cfg_set_idle_threads(loop, 16);
	/* libfuse's signal handlers end the loop with the signal's number as
	 * its result (3.x: se->error = sig); SIGTERM, SIGINT and SIGHUP are
	 * how a daemon is asked to stop, so that is a clean exit. */
	ret = fuse_session_loop_mt(mr->se, loop);
	fuse_loop_cfg_destroy(loop);
	if (ret == SIGTERM || ret == SIGINT || ret == SIGHUP)
		log_info("signal %d: unmounting", ret);
	return ret == 0 || ret == SIGTERM || ret == SIGINT || ret == SIGHUP ?
	    EXIT_OK : EXIT_FAILURE_GENERIC;
}

static void
end_mount(struct mount_run *mr)
{
	stats_server_stop(mr->stats);
	prefetcher_stop(mr->prefetch);
	if (mr->se != NULL) {
		if (mr->mounted)
			fuse_session_unmount(mr->se);
		fuse_remove_signal_handlers(mr->se);
		fuse_session_destroy(mr->se);
	}
	fs_trace_close(mr->fs.trace);
	clip_reader_free(mr->fs.reader);
	source_close(&mr->ds);
	clip_index_close(mr->idx);
	fuse_opt_free_args(&mr->args);
}

static int
run_mount(struct mount_opts *m)
{
	struct mount_run mr;
	int rc;

	memset(&mr, 0, sizeof(mr));
	mr.args = (struct fuse_args)FUSE_ARGS_INIT(0, NULL);
	mr.fs.start_time = fs_now();
	rc = mount_session(m, &mr);
	/* Returns in the child; the parent exits 0 once this is done. */
	if (rc == EXIT_OK && fuse_daemonize(m->foreground) != 0)
		rc = EXIT_MOUNT;
	if (rc == EXIT_OK) {
		if (!m->foreground)
			log_use_syslog();
		/* Span buffers are megabytes and short-lived.  With a fixed
		 * mmap threshold they go back to the kernel when freed; glibc's
		 * sliding threshold would otherwise keep them in per-thread
		 * arenas, and the daemon's memory would grow well past
		 * --mem-cache. */
		mallopt(M_MMAP_THRESHOLD, 1 << 20);
		rc = start_serving(m, &mr);
	}
	if (rc == EXIT_OK)
		rc = serve(&mr);
	end_mount(&mr);
	return rc;
}

int
cmd_mount(int argc, char **argv)
{
	struct mount_opts m;
	int rc;

	mount_opts_init(&m);
	rc = mount_opts_parse(argc, argv, &m);
	if (rc != 0)
		return rc > 0 ? EXIT_OK : EXIT_USAGE;
	if (m.partial_loads)
		fprintf(stderr, "clipfs mount: --partial-loads is ignored: it was measured not worth "
		    "its requests, and a miss is answered while its span arrives anyway\n");
	if (m.log_level >= 0)
		log_set_level(m.log_level);
	if (mount_arg_is_reference(m.index_path))
		rc = mount_ref_fetch(&m);   /* the reason, if any, is on stderr */
	if (rc == EXIT_OK)
		rc = mount_opts_absolute(&m) != 0 ? EXIT_FAILURE_GENERIC : run_mount(&m);
	mount_opts_free(&m);
	return rc;
}

/* Whether pid is gone (or a zombie nobody reaped yet). */
static int
process_gone(pid_t pid)
{
	char path[64], line[256];
	FILE *f;
	int gone = 1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "State:", 6) == 0) {
			gone = strchr(line, 'Z') != NULL;
			break;
		}
	fclose(f);
	return gone;
}

/* The daemon's PID, from its stats socket; 0 if it does not answer. */
static pid_t
daemon_pid(const char *mountpoint)
{
	size_t len;
	char *buf = stats_query(mountpoint, &len);
	json_t *j = buf ? json_loads(buf, 0, NULL) : NULL;
	pid_t pid = j ? (pid_t)json_integer_value(json_object_get(j, "pid")) : 0;

	json_decref(j);
	free(buf);
	return pid;
}

#define UMOUNT_WAIT_MS 10000

int
cmd_umount(int argc, char **argv)
{
	pid_t pid, child;
	int status, waited;

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf("Usage: clipfs umount MOUNTPOINT\n\nUnmount a clipfs mount (fusermount3 -u) "
		    "and wait (up to 10 s) for its daemon to exit.\n");
		return EXIT_OK;
	}
	if (argc != 2) {
		fprintf(stderr, "Usage: clipfs umount MOUNTPOINT\n");
		return EXIT_USAGE;
	}
	pid = daemon_pid(argv[1]);
	child = fork();
	if (child < 0) {
		fprintf(stderr, "clipfs umount: fork: %s\n", strerror(errno));
		return EXIT_FAILURE_GENERIC;
	}
	if (child == 0) {
		execlp("fusermount3", "fusermount3", "-u", argv[1], (char *)NULL);
		fprintf(stderr, "clipfs umount: cannot run fusermount3: %s\n", strerror(errno));
		_exit(127);
	}
	if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return EXIT_MOUNT;
	/* So that "unmounted" also means "the daemon has let go of everything". */
	for (waited = 0; pid > 0 && !process_gone(pid) && waited < UMOUNT_WAIT_MS; waited += 10)
		usleep(10 * 1000);
	if (pid > 0 && !process_gone(pid)) {
		fprintf(stderr, "clipfs umount: unmounted, but daemon %d has not exited yet\n",
		    (int)pid);
		return EXIT_FAILURE_GENERIC;
	}
	return EXIT_OK;
}

/* Options mount(8) itself understands and hands on to helpers anyway;
 * "rw" is its default, and clipfs is always read-only. */
static int
mount8_only(const char *opt)
{
	static const char *const names[] = { "rw", "ro", "defaults", "auto", "noauto", "nofail",
		"_netdev", "user", "users", "nouser", "owner", "group", "comment" };
	size_t i, n = strcspn(opt, "=");

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == n && strncmp(opt, names[i], n) == 0)
			return 1;
	return strncmp(opt, "x-", 2) == 0;
}

/*
 * mount.clipfs SPEC DIR [-sfnv] [-N NS] [-o OPTIONS], as mount(8) runs
 * it: becomes clipfs mount -o OPTIONS SPEC DIR.
 */
int
mount_helper_main(int argc, char **argv)
{
	char *nargv[8], *opts = NULL, *copy, *tok, *save = NULL;
	int nargc = 0, i, fake = 0, rc;
	char *o = NULL;
	size_t used = 0;

	if (argc < 3) {
		fprintf(stderr, "Usage: mount.clipfs IMAGE.clip|REF MOUNTPOINT [-o OPTIONS]\n");
		return EXIT_USAGE;
	}
	for (i = 3; i < argc; i++) {
		if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
			o = argv[++i];
		else if (strcmp(argv[i], "-N") == 0 && i + 1 < argc)
			i++;   /* namespaces: not supported, ignored */
		else if (strcmp(argv[i], "-f") == 0)
			fake = 1;
		/* -s (sloppy), -n (no mtab), -v (verbose): nothing to do */
	}
	if (fake)
		return EXIT_OK;   /* mount -f: do everything but mount */
	if (o != NULL) {
		copy = strdup(o);
		opts = calloc(1, strlen(o) + 1);
		if (copy == NULL || opts == NULL) {
			free(copy);
			free(opts);
			return EXIT_FAILURE_GENERIC;
		}
		for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			if (mount8_only(tok))
				continue;
			used += (size_t)sprintf(opts + used, "%s%s", used ? "," : "", tok);
		}
		free(copy);
		clipfs_hide_secret_opts(o);   /* opts has them now */
	}
	nargv[nargc++] = "clipfs mount";
	if (opts != NULL && opts[0] != '\0') {
		nargv[nargc++] = "-o";
		nargv[nargc++] = opts;
	}
	nargv[nargc++] = argv[1];
	nargv[nargc++] = argv[2];
	nargv[nargc] = NULL;
	optind = 1;
	rc = cmd_mount(nargc, nargv);
	free(opts);
	return rc;
}
