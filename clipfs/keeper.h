/*
 * keeper.h - the process that keeps a clipfs mount alive across the
 * death of its serving daemon.
 *
 * The kernel keeps a FUSE connection while any fd on it is open, and
 * queues requests meanwhile.  The keeper holds that fd and the kernel's
 * INIT request (the kernel sends it once), and runs the serving daemon
 * as its child: when the daemon dies, a new one is forked within a
 * second, starts a session on the same fd and is fed the saved INIT so
 * that it negotiates what the first one did; the keeper asks the kernel
 * to queue again the requests the dead one had read but not answered
 * (FUSE_NOTIFY_RESEND, once the dead one is reaped).  On SIGUSR1 (clipfs restart) the keeper starts a new daemon
 * beside the serving one, and once the new one reports ready, ends the
 * old one with SIGTERM: its loop stops reading and answers what it holds
 * before it exits; whatever it still held is resent all the same.  The
 * keeper itself opens no network connection, reads no image data and
 * serves no request: it waits, forks and counts.
 *
 * Repeated quick deaths back off (KEEPER_QUICK_MS, KEEPER_MAX_QUICK);
 * past the limit the keeper gives up and closes the connection, so that
 * reads fail at once (ENOTCONN, EIO in the EROFS tree) instead of
 * hanging, and clipfs umount clears the mount.  A daemon dies with its
 * keeper (PR_SET_PDEATHSIG), which ends the connection the same way.
 */
#ifndef CLIPFS_KEEPER_H
#define CLIPFS_KEEPER_H

#include <stddef.h>
#include <sys/types.h>

/* A daemon that lived less than this died "quickly". */
#define KEEPER_QUICK_MS 1000
/* Quick deaths in a row the keeper restarts after; one more and it gives
 * up.  The n-th one in a row waits 100 ms << (n - 1) before the restart. */
#define KEEPER_MAX_QUICK 5
/* A handover's old daemon that has not finished this long after the new
 * one took over is killed (its requests are resent to the new one). */
#define KEEPER_RETIRE_MS 3000
/* A daemon's exit status that asks the keeper to serve the FUSE tree
 * instead (--mode auto, the kernel refused the EROFS tree). */
#define KEEPER_EXIT_FALLBACK 99

struct keeper;

/* What the keeper's caller supplies. */
struct keeper_hooks {
	/* In the forked daemon: serve until done; the exit status.  The
	 * first daemon (k's restarts 0) reports on keeper_ready_fd. */
	int (*serve)(void *ctx, struct keeper *k);
	/* In the keeper: the first daemon's report (an exit status; 0: the
	 * mount is ready) and what it said of its mode ("" if nothing). */
	void (*ready)(void *ctx, int status, const char *mode_why);
	/* In the forked daemon, once clipfs restart --binary named a binary:
	 * run it as the daemon (keeper_env tells it what it takes over).
	 * Returns only on failure, with an exit status. */
	int (*exec)(void *ctx, struct keeper *k, const char *binary);
	void *ctx;
	/* A file clipfs restart --binary writes the binary's path to before
	 * its SIGUSR1, or NULL. */
	const char *binary_file;
};

enum keeper_end {
	KEEPER_UNMOUNTED,   /* the connection ended: unmounted */
	KEEPER_STOP,        /* asked to stop (a signal): the caller unmounts */
	KEEPER_GAVE_UP,     /* too many quick deaths: the connection is closed */
	KEEPER_FAILED,      /* the first daemon failed before it was ready */
	KEEPER_FALLBACK,    /* the daemon asked for KEEPER_EXIT_FALLBACK */
};

/*
 * A keeper for the connection fd (not taken over: the caller closes it),
 * or NULL (errno set).  Reads the kernel's INIT request from fd, which
 * must be the first request on it.
 */
struct keeper *keeper_new(int fd, const struct keeper_hooks *hooks);
void keeper_free(struct keeper *k);

/*
 * Runs daemons until one of the ends above; for KEEPER_FAILED, *status is
 * the first daemon's report or exit status.  SIGTERM, SIGINT and SIGHUP
 * (unless ignored) are passed on to the daemon and end in KEEPER_STOP.
 */
enum keeper_end keeper_run(struct keeper *k, int *status);

/* For the daemon: the connection, how many daemons came before it, and
 * its keeper. */
int keeper_fd(const struct keeper *k);
unsigned keeper_restarts(const struct keeper *k);
pid_t keeper_pid(const struct keeper *k);
/* The pipe to report on (one byte, an exit status) for the first daemon
 * and a handover's new one; else -1. */
int keeper_ready_fd(const struct keeper *k);

/* The saved INIT request, for the daemon's session to process. */
const void *keeper_init_request(const struct keeper *k, size_t *len);

/* The environment variable through which a daemon the keeper runs as
 * another binary learns what it takes over. */
#define KEEPER_ENV "CLIPFS_TAKEOVER"

/* ... and why the mount is in its mode, as the first daemon said: free
 * text, so apart from KEEPER_ENV's list. */
#define KEEPER_MODE_WHY_ENV "CLIPFS_TAKEOVER_MODE_WHY"

/*
 * In the forked daemon, before exec: what keeper_from_env needs, as
 * "fd=N,keeper=PID,restarts=R,ready=FD,init=HEX", into buf; the fds are
 * made to survive exec.  0, or -1 if it does not fit.
 */
int keeper_env(const struct keeper *k, char *buf, size_t len);

/* In a daemon run as another binary: its keeper, from KEEPER_ENV's value
 * (unknown keys are skipped); NULL if it is malformed.  keeper_free
 * frees it; keeper_run is not for it. */
struct keeper *keeper_from_env(const char *value);

/* The binary clipfs restart --binary chose for later daemons (NULL: this
 * one), handed from a keeper to the one after it (a fallback to the FUSE
 * tree starts a new keeper).  The caller owns what release returns. */
char *keeper_release_binary(struct keeper *k);
void keeper_adopt_binary(struct keeper *k, char *binary);

#endif
