/*
 * cmd_mount.c - clipfs mount: serve an index over FUSE; and mount.clipfs,
 * the helper mount(8) runs for "-t clipfs".
 *
 * Everything that can be checked is checked before anything is mounted
 * (the index, the mountpoint, where the layers come from), so a failure
 * is an exit status, not a broken mount.  The process detaches once the
 * mount is ready and becomes the mount's keeper (keeper.h), which forks
 * the serving daemon (mount_daemon.c), and a new one whenever it dies;
 * threads and network handles start only in the daemon (threads do not
 * survive fork).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clipfs/cli.h"
#include "clipfs/log.h"
#include "clipfs/mount_ref.h"
#include "clipfs/mount_run.h"
#include "clipfs/stats.h"

/* A clear error before mounting on something missing or already mounted. */
static int
check_mountpoint(const char *mp)
{
	struct stat st, up;
	char parent[PATH_MAX];

	if (stat(mp, &st) != 0) {
		/* ENOTCONN: a FUSE mount whose daemon has died is still there. */
		fprintf(stderr, "clipfs mount: %s: %s%s%s%s\n", mp, strerror(errno),
		    errno == ENOTCONN ? " (a mount whose daemon is gone: run clipfs umount " : "",
		    errno == ENOTCONN ? mp : "", errno == ENOTCONN ? " first)" : "");
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
		fprintf(stderr, "clipfs mount: %s: already a mount point (busy: run clipfs "
		    "umount %s first)\n", mp, mp);
		return -1;
	}
	return 0;
}

/* Everything that can fail on the user's input, before anything is
 * mounted: the index, the mountpoint, the layer source, the mode (and in
 * the EROFS mode, its image).  An exit status. */
static int
mount_check(const struct mount_opts *m, struct mount_run *mr)
{
	int rc;

	/* mount REF opened and checked it already (mount_ref_fetch). */
	if (mr->idx == NULL && (rc = clipfs_index_open(m->index_path, &mr->idx)) != EXIT_OK)
		return rc;
	if (check_mountpoint(m->mountpoint) != 0)
		return EXIT_MOUNT;
	if ((rc = mount_source_prepare(m, mr->idx, &mr->ds)) != 0)
		return rc;
	if (m->layout != NULL && access(m->layout, R_OK | X_OK) != 0) {
		fprintf(stderr, "clipfs mount: --layout %s: %s\n", m->layout, strerror(errno));
		return EXIT_USAGE;
	}
	if (mount_mode_choose(m->mode, &mr->mode, mr->fs.mode_why, sizeof(mr->fs.mode_why)) != 0)
		return EXIT_USAGE;
	mr->fs.mode = mr->mode == MOUNT_MODE_EROFS ? "erofs" : "fuse";
	if (mr->mode == MOUNT_MODE_EROFS &&
	    (rc = erofs_mount_prepare(mr->idx, m->cache_dir, &mr->em)) != EXIT_OK)
		return rc;
	if (mr->mode == MOUNT_MODE_EROFS && erofs_mount_use_local(&mr->em, mr->idx,
	    m->no_disk_cache ? NULL : m->cache_dir, m->check_layers) != 0) {
		fprintf(stderr, "clipfs mount: out of memory\n");
		return EXIT_FAILURE_GENERIC;
	}
	mr->fs.layer_files_damaged = mr->em.ndamaged;
	mr->fs.erofs_image_fd = mr->em.image_fd;
	mr->fs.erofs_image_size = mr->em.image_size;
	return EXIT_OK;
}

/* A new FUSE session with the mode's operations, not mounted yet.  An
 * exit status. */
int
session_create(const struct mount_opts *m, struct mount_run *mr, struct fuse_session **se)
{
	const struct fuse_lowlevel_ops *ops = &clipfs_ops;
	char opts[4352];

	if (mr->mode == MOUNT_MODE_EROFS) {
		ops = &clipfs_layer_ops;
		snprintf(opts, sizeof(opts), "ro,fsname=clipfs-layers,subtype=clipfs");
	} else {
		snprintf(opts, sizeof(opts), "ro,default_permissions,fsname=clipfs,subtype=clipfs%s",
		    m->fuse_opts);
	}
	fuse_opt_free_args(&mr->args);
	mr->args = (struct fuse_args)FUSE_ARGS_INIT(0, NULL);
	if (fuse_opt_add_arg(&mr->args, "clipfs") != 0 || fuse_opt_add_arg(&mr->args, "-o") != 0 ||
	    fuse_opt_add_arg(&mr->args, opts) != 0 ||
	    (m->debug && fuse_opt_add_arg(&mr->args, "-d") != 0))
		return EXIT_FAILURE_GENERIC;
	mr->fs.idx = mr->idx;
	mr->fs.entry_timeout = 365.0 * 24 * 3600;
	*se = fuse_session_new(&mr->args, ops, sizeof(*ops), &mr->fs);
	if (*se == NULL) {
		fprintf(stderr, "clipfs mount: bad FUSE options: %s\n", opts);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/* The FUSE session, mounted: the tree at the mountpoint, or in the EROFS
 * mode the layer files in their private directory.  An exit status. */
static int
mount_session(const struct mount_opts *m, struct mount_run *mr)
{
	const char *where = mr->mode == MOUNT_MODE_EROFS ? mr->em.layers : m->mountpoint;
	int rc;

	if ((rc = session_create(m, mr, &mr->se)) != EXIT_OK)
		return rc;
	mr->handlers = fuse_set_signal_handlers(mr->se) == 0;
	if (!mr->handlers || fuse_session_mount(mr->se, where) != 0) {
		fprintf(stderr, "clipfs mount: cannot mount on %s\n", where);
		return EXIT_MOUNT;
	}
	mr->mounted = 1;
	if (mr->mode == MOUNT_MODE_FUSE)
		mr->fs.ready_time = fs_now();
	return EXIT_OK;
}

/* Into the background: the parent waits until the first daemon reports
 * the mount ready (in the EROFS mode the tree is mounted, which needs the
 * daemon serving the layer files already; in both, clipfs stats answers),
 * so fuse_daemonize (which lets the parent go at once) does not fit.
 * Returns in the keeper (0), or -1; the parent exits with the status the
 * daemon reports. */
static int
daemon_fork(struct mount_run *mr, int foreground)
{
	int p[2];
	pid_t pid;
	unsigned char status = EXIT_MOUNT;

	mr->report_fd = -1;
	if (foreground)
		return 0;
	if (pipe2(p, O_CLOEXEC) != 0 || (pid = fork()) < 0) {
		fprintf(stderr, "clipfs mount: cannot start the daemon: %s\n", strerror(errno));
		return -1;
	}
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &status, 1) != 1)
			status = EXIT_MOUNT;
		_exit(status);
	}
	close(p[0]);
	mr->report_fd = p[1];
	if (setsid() < 0 || chdir("/") != 0)
		return -1;
	return 0;
}

/* Tells the waiting parent how the mount went, and lets go of the
 * terminal. */
void
report_to_parent(struct mount_run *mr, int status)
{
	unsigned char c = (unsigned char)status;
	char msg[1 + sizeof(mr->fs.mode_why) + 1];
	size_t n;
	int null;

	if (mr->report_fd < 0)
		return;
	if (status == EXIT_OK && !mr->foreground && (null = open("/dev/null", O_RDWR)) >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
		log_use_syslog();
	}
	/* The status, then mode_why for a keeper that forks later daemons
	 * (a waiting clipfs mount reads the status only): one write, within
	 * PIPE_BUF, so a reader gets all of it or none. */
	msg[0] = (char)c;
	n = 2 + (size_t)snprintf(msg + 1, sizeof(msg) - 1, "%s", mr->fs.mode_why);
	if (write(mr->report_fd, msg, n < sizeof(msg) ? n : sizeof(msg)) < 1)
		log_warn("cannot tell the waiting clipfs mount: %s", strerror(errno));
	close(mr->report_fd);
	mr->report_fd = -1;
}

/* Gives SIGTERM, SIGINT and SIGHUP back to their default (libfuse
 * complains when asked twice). */
void
remove_handlers(struct mount_run *mr)
{
	if (mr->handlers)
		fuse_remove_signal_handlers(mr->se);
	mr->handlers = 0;
}

/* Ends the FUSE session (its mount too, if it is still there). */
void
session_end(struct mount_run *mr)
{
	if (mr->se != NULL) {
		if (mr->mounted)
			fuse_session_unmount(mr->se);
		remove_handlers(mr);
		fuse_session_destroy(mr->se);
		mr->se = NULL;
	}
	mr->mounted = 0;
	fuse_opt_free_args(&mr->args);
	mr->args = (struct fuse_args)FUSE_ARGS_INIT(0, NULL);
}

/* In the keeper, once every daemon is gone. */
static void
end_mount(struct mount_run *mr)
{
	session_end(mr);
	erofs_mount_cleanup(&mr->em);
	mount_source_close(&mr->ds);
	clip_index_close(mr->idx);
}

/* The keeper's ready hook: the first daemon's report, passed on to the
 * waiting clipfs mount. */
static void
keeper_ready(void *ctx, int status, const char *mode_why)
{
	struct mount_run *mr = ctx;

	/* What the first daemon found (the image, local layers), for the
	 * daemons forked after it. */
	if (status == EXIT_OK && mode_why[0] != '\0')
		snprintf(mr->fs.mode_why, sizeof(mr->fs.mode_why), "%s", mode_why);

	if (status == EXIT_OK && mr->mode == MOUNT_MODE_EROFS) {
		/* The daemon detached the layer mount and removed the names. */
		mr->tree_mounted = 1;
		mr->em.layers[0] = '\0';
		mr->em.image_path[0] = '\0';
		mr->fs.ready_time = fs_now();
	}
	report_to_parent(mr, status);
}

/* --mode auto, after the kernel refused the EROFS tree: the FUSE tree at
 * the mountpoint instead, on a new connection.  An exit status. */
static int
fuse_instead(const struct mount_opts *m, struct mount_run *mr)
{
	int rc;

	session_end(mr);
	erofs_mount_cleanup(&mr->em);
	mr->mode = MOUNT_MODE_FUSE;
	mr->fs.mode = "fuse";
	snprintf(mr->fs.mode_why, sizeof(mr->fs.mode_why), "auto: the kernel refused the EROFS "
	    "tree (its words are in the daemon's log)");
	if ((rc = mount_session(m, mr)) != EXIT_OK)
		report_to_parent(mr, rc);
	return rc;
}

/* The keeper gave up: closing the connection fails what waits on it, at
 * once, and leaves the mount for clipfs umount.  libfuse frees the
 * session's mountpoint only when it unmounts, so the session is kept,
 * referenced, instead of destroyed. */
static struct fuse_session *volatile abandoned_session;   /* volatile: kept */

static void
abandon_session(struct mount_run *mr)
{
	remove_handlers(mr);
	close(fuse_session_fd(mr->se));
	abandoned_session = mr->se;
	mr->se = NULL;
	mr->mounted = 0;
}

/* Stops the mount on a signal: the tree goes, as a FUSE tree does. */
static void
stop_mount(const struct mount_opts *m, struct mount_run *mr)
{
	if (mr->tree_mounted)
		umount2(m->mountpoint, MNT_DETACH);
	session_end(mr);
}

/* The keeper: runs daemons on the mount's connection until it ends.  An
 * exit status. */
static int
keep_mount(const struct mount_opts *m, struct mount_run *mr)
{
	char binary_file[PATH_MAX];
	struct keeper_hooks hooks = { daemon_main, keeper_ready, daemon_exec, mr, NULL };
	struct keeper *k;
	enum keeper_end end;
	char *binary = NULL;
	int status;

	if (stats_binary_path(m->mountpoint, binary_file, sizeof(binary_file)) == 0)
		hooks.binary_file = binary_file;

	for (;;) {
		/* The keeper reads the stop signals itself; daemons set them. */
		remove_handlers(mr);
		if ((k = keeper_new(fuse_session_fd(mr->se), &hooks)) == NULL) {
			log_error("cannot read the kernel's INIT request: %s", strerror(errno));
			report_to_parent(mr, EXIT_MOUNT);
			return EXIT_MOUNT;
		}
		keeper_adopt_binary(k, binary);
		end = keeper_run(k, &status);
		binary = keeper_release_binary(k);
		keeper_free(k);
		if (end != KEEPER_FALLBACK)
			break;
		log_info("the kernel refused the EROFS tree; serving the FUSE tree");
		if ((status = fuse_instead(m, mr)) != EXIT_OK)
			return status;
	}
	free(binary);
	switch (end) {
	case KEEPER_STOP:
		stop_mount(m, mr);
		return EXIT_OK;
	case KEEPER_GAVE_UP:
		abandon_session(mr);
		return EXIT_FAILURE_GENERIC;
	case KEEPER_FAILED:
		return status == EXIT_OK ? EXIT_MOUNT : status;
	case KEEPER_UNMOUNTED:
	case KEEPER_FALLBACK:
		break;
	}
	return EXIT_OK;
}

static int
run_mount(struct mount_opts *m)
{
	struct mount_run mr;
	int rc;

	if (getenv(KEEPER_ENV) != NULL)
		return run_takeover(m, getenv(KEEPER_ENV));
	memset(&mr, 0, sizeof(mr));
	mr.report_fd = -1;
	mr.m = m;
	mr.foreground = m->foreground;
	mr.args = (struct fuse_args)FUSE_ARGS_INIT(0, NULL);
	mr.fs.start_time = fs_now();
	mr.idx = m->fetched;   /* mount REF: already open; end_mount closes it */
	m->fetched = NULL;
	if (getcwd(mr.cwd, sizeof(mr.cwd)) == NULL)
		snprintf(mr.cwd, sizeof(mr.cwd), "/");
	rc = mount_check(m, &mr);
	if (rc == EXIT_OK)
		rc = mount_session(m, &mr);
	/* Returns in the keeper; the parent exits once the mount is ready. */
	if (rc == EXIT_OK && daemon_fork(&mr, m->foreground) != 0)
		rc = EXIT_MOUNT;
	if (rc == EXIT_OK)
		rc = keep_mount(m, &mr);
	report_to_parent(&mr, rc == EXIT_OK ? EXIT_MOUNT : rc);
	end_mount(&mr);
	return rc;
}

int
cmd_mount(int argc, char **argv)
{
	struct mount_opts m;
	int rc;

	mount_opts_init(&m);
	save_mount_argv(argc, argv);   /* before the secrets in it are hidden */
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
