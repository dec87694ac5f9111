/*
 * cmd_umount.c - the commands for a running mount: clipfs umount, and
 * clipfs restart (a new serving daemon takes over, keeper.h).  Both find
 * the mount's processes through its stats socket.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "clipfs/cli.h"
#include "clipfs/stats.h"

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

/* What a mount's stats socket says of its processes; all 0 if nothing
 * answers. */
struct mount_procs {
	pid_t pids[2];          /* the serving daemon, its keeper */
	long long restarts;
};

static void
mount_procs(const char *mountpoint, struct mount_procs *mp)
{
	size_t len;
	char *buf = stats_query(mountpoint, &len);
	json_t *j = buf ? json_loads(buf, 0, NULL) : NULL;

	mp->pids[0] = j ? (pid_t)json_integer_value(json_object_get(j, "pid")) : 0;
	mp->pids[1] = j ? (pid_t)json_integer_value(json_object_get(j, "keeper_pid")) : 0;
	mp->restarts = j ? json_integer_value(json_object_get(j, "restarts")) : 0;
	json_decref(j);
	free(buf);
}

#define UMOUNT_WAIT_MS 10000
#define EROFS_MAGIC 0xE0F5E1E2u

/* Whether the tree at mp is the kernel's (the EROFS mode). */
static int
is_erofs(const char *mp)
{
	struct statfs sf;

	return statfs(mp, &sf) == 0 && (uint32_t)sf.f_type == EROFS_MAGIC;
}

/* So that "unmounted" also means "the daemon and its keeper have let go
 * of everything". */
static int
wait_daemon_gone(const pid_t pids[2])
{
	int waited, i;

	for (i = 0; i < 2; i++) {
		pid_t pid = pids[i];
		for (waited = 0; pid > 0 && !process_gone(pid) && waited < UMOUNT_WAIT_MS; waited += 10)
			usleep(10 * 1000);
		if (pid > 0 && !process_gone(pid)) {
			fprintf(stderr, "clipfs umount: unmounted, but %s %d has not exited yet\n",
			    i == 0 ? "daemon" : "keeper", (int)pid);
			return EXIT_FAILURE_GENERIC;
		}
	}
	return EXIT_OK;
}

int
cmd_umount(int argc, char **argv)
{
	struct mount_procs mp;
	pid_t child;
	int status;

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf("Usage: clipfs umount MOUNTPOINT\n\nUnmount a clipfs mount (fusermount3 -u; "
		    "umount(2) for an EROFS tree) and wait (up to 10 s) for its daemon and its "
		    "keeper to exit.\n");
		return EXIT_OK;
	}
	if (argc != 2) {
		fprintf(stderr, "Usage: clipfs umount MOUNTPOINT\n");
		return EXIT_USAGE;
	}
	mount_procs(argv[1], &mp);
	if (is_erofs(argv[1])) {
		if (umount2(argv[1], 0) != 0) {
			fprintf(stderr, "clipfs umount: %s: %s\n", argv[1], strerror(errno));
			return EXIT_MOUNT;
		}
		return wait_daemon_gone(mp.pids);
	}
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
	return wait_daemon_gone(mp.pids);
}

#define RESTART_WAIT_MS 10000

/* Waits for the handover: a new daemon answers, counted as one more
 * restart, and the old one is gone.  Its PID, or 0 after the wait. */
static pid_t
wait_handover(const char *mountpoint, const struct mount_procs *before)
{
	struct mount_procs now;
	int waited;

	for (waited = 0; waited < RESTART_WAIT_MS; waited += 20) {
		mount_procs(mountpoint, &now);
		if (now.pids[0] > 0 && now.pids[0] != before->pids[0] &&
		    now.restarts > before->restarts && process_gone(before->pids[0]))
			return now.pids[0];
		usleep(20 * 1000);
	}
	return 0;
}

/* --binary PATH: left where the keeper takes it at the SIGUSR1.  An exit
 * status. */
static int
leave_binary(const char *mountpoint, const char *binary)
{
	char file[4096], *path = realpath(binary, NULL);
	int fd, ok;

	if (path == NULL || access(path, X_OK) != 0) {
		fprintf(stderr, "clipfs restart: --binary %s: %s\n", binary, strerror(errno));
		free(path);
		return EXIT_USAGE;
	}
	ok = stats_binary_path(mountpoint, file, sizeof(file)) == 0 &&
	    (fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600)) >= 0;
	if (ok) {
		ok = write(fd, path, strlen(path)) == (ssize_t)strlen(path);
		ok = close(fd) == 0 && ok;
	}
	if (!ok)
		fprintf(stderr, "clipfs restart: cannot leave the binary's path for the keeper: %s\n",
		    strerror(errno));
	free(path);
	return ok ? EXIT_OK : EXIT_FAILURE_GENERIC;
}

static void
restart_usage(FILE *out)
{
	fprintf(out, "Usage: clipfs restart [--binary PATH] MOUNTPOINT\n");
}

int
cmd_restart(int argc, char **argv)
{
	struct mount_procs before;
	const char *binary = NULL;
	pid_t pid;
	int rc;

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		restart_usage(stdout);
		printf("\nReplace the daemon serving a clipfs mount with a new one, without failing "
		    "a request: the new daemon starts\nbeside the old one, which finishes what it "
		    "holds and exits.  Waits (up to 10 s) for the handover.\n\n"
		    "  --binary PATH   the new daemon, and every later one, runs PATH (an upgraded "
		    "clipfs)\n");
		return EXIT_OK;
	}
	if (argc == 4 && strcmp(argv[1], "--binary") == 0) {
		binary = argv[2];
		argv += 2;
		argc -= 2;
	}
	if (argc != 2) {
		restart_usage(stderr);
		return EXIT_USAGE;
	}
	mount_procs(argv[1], &before);
	if (before.pids[0] <= 0 || before.pids[1] <= 0) {
		fprintf(stderr, "clipfs restart: %s: no clipfs daemon and keeper answer for this "
		    "mountpoint\n", argv[1]);
		return EXIT_MOUNT;
	}
	if (binary != NULL && (rc = leave_binary(argv[1], binary)) != EXIT_OK)
		return rc;
	if (kill(before.pids[1], SIGUSR1) != 0) {
		fprintf(stderr, "clipfs restart: keeper %d: %s\n", (int)before.pids[1],
		    strerror(errno));
		return EXIT_FAILURE_GENERIC;
	}
	if ((pid = wait_handover(argv[1], &before)) == 0) {
		fprintf(stderr, "clipfs restart: %s: no handover from daemon %d within 10 s (the "
		    "keeper's log says why)\n", argv[1], (int)before.pids[0]);
		return EXIT_FAILURE_GENERIC;
	}
	printf("clipfs restart: %s: daemon %d took over from %d\n", argv[1], (int)pid,
	    (int)before.pids[0]);
	return EXIT_OK;
}
