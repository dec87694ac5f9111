/*
 * mount_daemon.c - one serving daemon of a clipfs mount: a session of its
 * own on the keeper's connection, the reader, prefetching, the stats
 * socket, and the FUSE loop (with the EROFS tree attached beside it by
 * the first daemon).  Forked by the keeper, or run as another binary by
 * clipfs restart --binary (run_takeover).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "clipfs/cli.h"
#include "clipfs/layer_writer.h"
#include "clipfs/log.h"
#include "clipfs/mount_run.h"
#include "clipfs/prefetch.h"
#include "clipfs/stats.h"

/* Prefetch requests in flight: fetch and inflate overlap, and demand reads
 * keep 2 of the reader's 8 loader threads (the choice is measured in
 * bench/COLDSTART.md, item 14). */
#define PREFETCH_WORKERS 6

static void
reader_warn(void *ctx, const char *msg)
{
	(void)ctx;
	log_warn("%s", msg);
}

/* In a daemon: a session of its own on the keeper's connection, which
 * negotiates what the first daemon did from the kernel's saved INIT (a
 * later daemon's reply goes to a request the kernel has forgotten, and
 * libfuse drops the ENOENT quietly).  An exit status. */
static int
adopt_session(const struct mount_opts *m, struct mount_run *mr, const struct keeper *k)
{
	struct fuse_buf buf;
	char where[32];
	int rc;

	memset(&buf, 0, sizeof(buf));
	buf.mem = (void *)keeper_init_request(k, &buf.size);
	if ((rc = session_create(m, mr, &mr->se)) != EXIT_OK)
		return rc;
	snprintf(where, sizeof(where), "/dev/fd/%d", keeper_fd(k));
	mr->handlers = fuse_set_signal_handlers(mr->se) == 0;
	if (!mr->handlers || fuse_session_mount(mr->se, where) != 0) {
		log_error("cannot start a session on the mount's connection (%s)", where);
		return EXIT_MOUNT;
	}
	fuse_session_process_buf(mr->se, &buf);
	if (fuse_session_exited(mr->se)) {
		log_error("the mount's connection refused the saved INIT");
		return EXIT_MOUNT;
	}
	return EXIT_OK;
}

/* The background fetch has gone through a layer: it may be whole now. */
static void
poke_layer_writer(void *ctx, uint32_t layer)
{
	(void)layer;
	layer_writer_poke(ctx);
}

/* In the daemon: the layer source, the reader, the trace, the layer
 * writer, prefetching and the stats socket.  An exit status. */
static int
start_serving(const struct mount_opts *m, struct mount_run *mr)
{
	struct clip_reader_opts ro;
	struct clip_error err;

	clip_error_clear(&err);
	if (mount_source_open(m, &mr->ds, &err) != CLIP_OK) {
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
	/* A restarted daemon appends to the trace of the ones before it. */
	if (m->trace != NULL && (mr->fs.trace = fs_trace_open(m->trace,
	    clip_index_inode_count(mr->idx), mr->fs.restarts > 0)) == NULL)
		log_warn("--trace %s: %s; not tracing", m->trace, strerror(errno));
	/* The FUSE tree learns paths at lookup; a restarted daemon gets no
	 * lookups for what the kernel has cached, so it learns them all. */
	if (mr->fs.trace != NULL && (mr->mode == MOUNT_MODE_EROFS || mr->fs.restarts > 0) &&
	    fs_trace_map_layers(mr->fs.trace, mr->idx) != 0) {
		log_warn("--trace %s: out of memory; not tracing", m->trace);
		fs_trace_close(mr->fs.trace);
		mr->fs.trace = NULL;
	}
	if (!m->no_disk_cache)
		mr->layer_writer = layer_writer_start(mr->idx, mr->fs.reader, m->cache_dir,
		    &mr->fs.layer_files);
	if (!m->no_prefetch || m->background_rate > 0)
		mr->prefetch = prefetcher_start(mr->idx, mr->fs.reader,
		    m->no_prefetch ? 0 : PREFETCH_WORKERS, m->background_rate);
	prefetcher_on_layer_done(mr->prefetch, poke_layer_writer, mr->layer_writer);
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
	/* A connection the kernel tears down reads as ENODEV, which libfuse
	 * takes for the end; now and then, as the EROFS tree lets go of the
	 * layer files at unmount, it reads as ECONNABORTED instead (libfuse
	 * prints it).  Either way the mount is gone: not a failure. */
	if (ret == -ECONNABORTED || ret == ECONNABORTED) {
		log_info("the kernel ended the FUSE connection (ECONNABORTED)");
		ret = 0;
	}
	mr->signalled = ret == SIGTERM || ret == SIGINT || ret == SIGHUP;
	if (mr->signalled)
		log_info("signal %d: unmounting", ret);
	return ret == 0 || mr->signalled ? EXIT_OK : EXIT_FAILURE_GENERIC;
}

struct attach_job {
	struct mount_run *mr;
	const char *mountpoint;
	int fallback;               /* --mode auto: a refusal means the FUSE tree */
};

/* EROFS mode, beside the FUSE loop: mounts the tree (the kernel opens the
 * layer files through the loop), then reports. */
static void *
attach_thread(void *arg)
{
	struct attach_job *job = arg;
	struct mount_run *mr = job->mr;
	char msg[1024];
	size_t used;

	if (erofs_mount_attach(&mr->em, job->mountpoint, msg, sizeof(msg)) != 0) {
		if (job->fallback) {
			/* The FUSE tree takes over once the layer loop ends. */
			log_warn("the kernel refused the EROFS tree: %s; serving the FUSE tree",
			    msg);
			snprintf(mr->fs.mode_why, sizeof(mr->fs.mode_why), "auto: the kernel "
			    "refused the EROFS tree (%.180s)", msg);
			mr->erofs_refused = 1;
			erofs_mount_release_layers(&mr->em);
			return NULL;
		}
		log_error("cannot mount the EROFS tree: %s (--mode fuse serves the tree without "
		    "it)", msg);
		report_to_parent(mr, EXIT_MOUNT);
		erofs_mount_release_layers(&mr->em);   /* ends the connection, and so the loop */
		mr->mounted = 0;
		return NULL;
	}
	/* The layer mount is detached and ends with the tree; mounted stays
	 * set so that fuse_session_unmount frees what fuse_session_mount
	 * kept (it finds the connection gone and unmounts nothing). */
	mr->tree_mounted = 1;
	mr->tree_mnt_id = erofs_tree_mount_id(job->mountpoint);
	mr->fs.layer_files_local = mr->em.nlocal;
	used = strlen(mr->fs.mode_why);
	snprintf(mr->fs.mode_why + used, sizeof(mr->fs.mode_why) - used, "; the image %s; "
	    "%u of %u layers from local files",
	    mr->em.image_served ? "served by the daemon (its directory cannot back EROFS)" :
	    "read from its own file", mr->em.nlocal, mr->em.nlayers);
	mr->fs.ready_time = fs_now();
	log_info("EROFS tree at %s (image built in %.3f s)", job->mountpoint,
	    mr->em.build_seconds);
	report_to_parent(mr, EXIT_OK);
	return NULL;
}

/* In a daemon, as it exits: what it started, and its own session (the
 * connection and the mount stay with the keeper). */
static void
daemon_end(struct mount_run *mr)
{
	stats_server_stop(mr->stats);
	prefetcher_stop(mr->prefetch);
	layer_writer_stop(mr->layer_writer);
	mr->mounted = 0;
	session_end(mr);
	fs_trace_close(mr->fs.trace);
	clip_reader_free(mr->fs.reader);
	mount_source_close(&mr->ds);
	clip_index_close(mr->idx);
}

static int
session_stopped(void *ctx)
{
	return fuse_session_exited(ctx);
}

/* EROFS mode: the layer loop ends once the kernel lets go of the daemon's
 * files.  When every layer is a local file that is at once, with the tree
 * still mounted: the daemon stays (clipfs stats, the layer writer) until
 * the tree is unmounted, or until it is asked to stop, when it takes the
 * tree down itself (the keeper finds the connection gone already). */
static void
wait_tree_unmounted(const struct mount_opts *m, struct mount_run *mr)
{
	fuse_session_reset(mr->se);
	if (erofs_mount_wait_gone(mr->tree_mnt_id, session_stopped, mr->se)) {
		mr->signalled = 1;
		log_info("asked to stop: unmounting");
		umount2(m->mountpoint, MNT_DETACH);
	}
}

/* In a daemon: serve, with the EROFS tree mounted beside the loop by the
 * first daemon (later ones find it mounted). */
static int
serve_mode(const struct mount_opts *m, struct mount_run *mr)
{
	struct attach_job job = { mr, m->mountpoint, strcmp(m->mode, "auto") == 0 };
	pthread_t tid;
	int rc;

	if (mr->mode == MOUNT_MODE_FUSE || mr->fs.restarts > 0)
		return serve(mr);
	if (pthread_create(&tid, NULL, attach_thread, &job) != 0) {
		report_to_parent(mr, EXIT_FAILURE_GENERIC);
		return EXIT_FAILURE_GENERIC;
	}
	rc = serve(mr);
	pthread_join(tid, NULL);
	if (rc == EXIT_OK && mr->tree_mounted && !mr->signalled)
		wait_tree_unmounted(m, mr);
	return rc;
}

/* Fault injection for tests/restart.test: a restarted daemon that dies
 * at once, so that the keeper's give-up can be seen. */
static int
crash_injected(const struct mount_run *mr)
{
	const char *v = getenv("CLIPFS_TEST_CRASH_RESTARTED");

	return v != NULL && strcmp(v, "1") == 0 && mr->fs.restarts > 0;
}

/* The keeper's serve hook: one daemon's life, in the forked child.  The
 * first one reports to the keeper when the mount is ready.  Its exit
 * status. */
int
daemon_main(void *ctx, struct keeper *k)
{
	struct mount_run *mr = ctx;
	const struct mount_opts *m = mr->m;
	int rc;

	/* The keeper's own session is not this one's to end (that would
	 * unmount); kept referenced, it is not a leak to LeakSanitizer. */
	mr->keeper_se = mr->se;
	mr->se = NULL;
	mr->mounted = 0;
	mr->handlers = 0;
	if (mr->report_fd >= 0)
		close(mr->report_fd);   /* the keeper's pipe to clipfs mount */
	mr->report_fd = keeper_ready_fd(k);
	mr->fs.keeper_pid = keeper_pid(k);
	mr->fs.restarts = keeper_restarts(k);
	if (crash_injected(mr))
		_exit(EXIT_FAILURE_GENERIC);
	rc = adopt_session(m, mr, k);
	/* Span buffers are megabytes and short-lived.  With a fixed mmap
	 * threshold they go back to the kernel when freed; glibc's sliding
	 * threshold would otherwise keep them in per-thread arenas, and the
	 * daemon's memory would grow well past --mem-cache. */
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	if (rc == EXIT_OK)
		rc = start_serving(m, mr);
	/* Ready: the FUSE tree, and any later daemon (a handover waits for
	 * it); the first EROFS daemon once the tree is attached. */
	if (rc == EXIT_OK && (mr->mode == MOUNT_MODE_FUSE || mr->fs.restarts > 0))
		report_to_parent(mr, EXIT_OK);
	if (rc == EXIT_OK)
		rc = serve_mode(m, mr);
	if (rc == EXIT_OK && mr->erofs_refused && !mr->signalled)
		rc = KEEPER_EXIT_FALLBACK;   /* the keeper reports once the FUSE tree is up */
	else
		report_to_parent(mr, rc == EXIT_OK ? EXIT_MOUNT : rc);
	daemon_end(mr);
	return rc;
}

/* The command line clipfs mount ran with (argv[0] the subcommand), for
 * a daemon run as another binary (clipfs restart --binary). */
static char **mount_argv;

void
save_mount_argv(int argc, char **argv)
{
	int i;

	if ((mount_argv = calloc((size_t)argc + 2, sizeof(*mount_argv))) == NULL)
		return;
	mount_argv[1] = "mount";   /* argv[0] is "clipfs mount" from mount.clipfs */
	for (i = 1; i < argc; i++)
		mount_argv[i + 1] = strdup(argv[i]);
}

/* The keeper's exec hook: the daemon as another binary, which finds the
 * connection, the keeper and the mode in KEEPER_ENV.  Returns only on
 * failure. */
int
daemon_exec(void *ctx, struct keeper *k, const char *binary)
{
	struct mount_run *mr = ctx;
	char env[16384];
	size_t used;

	if (mount_argv == NULL || keeper_env(k, env, sizeof(env)) != 0)
		return EXIT_FAILURE_GENERIC;
	used = strlen(env);
	if (snprintf(env + used, sizeof(env) - used, ",mode=%s,image=%d,image_size=%llu,syslog=%d",
	    mr->mode == MOUNT_MODE_EROFS ? "erofs" : "fuse", mr->fs.erofs_image_fd,
	    (unsigned long long)mr->fs.erofs_image_size, !mr->foreground) >= (int)(sizeof(env) - used))
		return EXIT_FAILURE_GENERIC;
	if (mr->fs.erofs_image_fd >= 0)
		fcntl(mr->fs.erofs_image_fd, F_SETFD, 0);
	mount_argv[0] = (char *)binary;
	if (setenv(KEEPER_ENV, env, 1) != 0 || setenv(KEEPER_MODE_WHY_ENV, mr->fs.mode_why, 1) != 0 ||
	    chdir(mr->cwd) != 0)
		return EXIT_FAILURE_GENERIC;
	execv(binary, mount_argv);
	log_error("cannot run %s as the daemon: %s", binary, strerror(errno));
	return EXIT_FAILURE_GENERIC;
}

/* A value of KEEPER_ENV's, after "key=". */
static const char *
env_value(const char *env, const char *key)
{
	const char *p = strstr(env, key);

	return p != NULL ? p + strlen(key) : "";
}

/* The daemon, run as another binary by the keeper (clipfs restart
 * --binary): what the keeper's fork would have had, from the command
 * line and KEEPER_ENV.  An exit status. */
int
run_takeover(struct mount_opts *m, const char *env)
{
	struct mount_run mr;
	struct keeper *k = keeper_from_env(env);
	const char *why;
	int rc;

	memset(&mr, 0, sizeof(mr));
	mr.report_fd = -1;
	mr.m = m;
	mr.foreground = 1;    /* stdio is the keeper's already */
	mr.args = (struct fuse_args)FUSE_ARGS_INIT(0, NULL);
	mr.fs.start_time = mr.fs.ready_time = fs_now();
	mr.idx = m->fetched;
	m->fetched = NULL;
	if (atoi(env_value(env, ",syslog=")) == 1)
		log_use_syslog();
	if (k == NULL || chdir("/") != 0) {
		log_error("%s: not what a keeper sets", KEEPER_ENV);
		keeper_free(k);
		return EXIT_FAILURE_GENERIC;
	}
	unsetenv(KEEPER_ENV);
	mr.mode = strncmp(env_value(env, ",mode="), "erofs", 5) == 0 ? MOUNT_MODE_EROFS :
	    MOUNT_MODE_FUSE;
	mr.fs.mode = mr.mode == MOUNT_MODE_EROFS ? "erofs" : "fuse";
	why = getenv(KEEPER_MODE_WHY_ENV);
	snprintf(mr.fs.mode_why, sizeof(mr.fs.mode_why), "%s", why != NULL && why[0] != '\0' ?
	    why : "the mount's, kept by clipfs restart --binary");
	unsetenv(KEEPER_MODE_WHY_ENV);
	mr.fs.erofs_image_fd = atoi(env_value(env, ",image="));
	mr.fs.erofs_image_size = strtoull(env_value(env, ",image_size="), NULL, 10);
	rc = mr.idx == NULL ? clipfs_index_open(m->index_path, &mr.idx) : EXIT_OK;
	if (rc == EXIT_OK)
		rc = mount_source_prepare(m, mr.idx, &mr.ds) != 0 ? EXIT_FAILURE_GENERIC : EXIT_OK;
	if (rc == EXIT_OK)
		rc = daemon_main(&mr, k);
	else
		report_to_parent(&mr, rc);
	keeper_free(k);
	return rc;
}
