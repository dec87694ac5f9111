/*
 * keeper.c - the process that keeps a clipfs mount alive (keeper.h).
 *
 * One loop over a signalfd (SIGCHLD, SIGUSR1 for a handover, and the
 * stop signals) and the report pipe of the daemon starting up; a timeout
 * only while a restart is waiting out its back-off.  Nothing here reads
 * a request or an image.  FUSE_NOTIFY_RESEND is written here, once a
 * daemon is gone: then nothing can still answer what it held.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clipfs/cli.h"
#include "clipfs/keeper.h"
#include "clipfs/log.h"
#include "common/util/hex.h"

/* FUSE_NOTIFY_RESEND (protocol 7.40): Debian 12's linux/fuse.h is 7.38. */
#define NOTIFY_RESEND 7
/* Enough for any request the kernel may queue first (libfuse's size). */
#define INIT_READ_MAX (256u * 4096u + 4096u)

struct keeper {
	int fd;
	unsigned char *init;
	size_t init_len;
	struct keeper_hooks hooks;
	pid_t self;
	pid_t daemon;           /* 0: none running */
	pid_t next;             /* a handover: the new daemon, not ready yet */
	pid_t retiring;         /* a handover: the old one, finishing */
	long long retire_by;    /* then SIGKILL: what it holds is resent */
	long long started_ms;   /* when it was forked */
	long long restart_at;   /* no daemon: when to fork the next */
	unsigned restarts;
	unsigned quick;         /* quick deaths in a row */
	int sfd;                /* signalfd */
	sigset_t old_mask;
	int ready_rfd, ready_wfd;
	int ready;              /* the first daemon reported the mount ready */
	int reported;           /* the ready hook ran */
	int first_status;       /* what the first daemon reported, if not ready */
	int stopping;
	int resend_warned;
	int pipe_handover;      /* the report pipe is a handover's */
	char *binary;           /* clipfs restart --binary: daemons run this */
	char *pending_binary;   /* ... from the handover under way on */
};

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct keeper *
keeper_new(int fd, const struct keeper_hooks *hooks)
{
	struct keeper *k = calloc(1, sizeof(*k));
	const struct fuse_in_header *in;
	ssize_t n;

	if (k == NULL || (k->init = malloc(INIT_READ_MAX)) == NULL) {
		free(k);
		errno = ENOMEM;
		return NULL;
	}
	k->fd = fd;
	k->hooks = *hooks;
	k->sfd = k->ready_rfd = k->ready_wfd = -1;
	do
		n = read(fd, k->init, INIT_READ_MAX);
	while (n < 0 && errno == EINTR);
	in = (const struct fuse_in_header *)k->init;
	if (n < (ssize_t)sizeof(*in) || in->opcode != FUSE_INIT || in->len != (uint32_t)n) {
		if (n >= 0)
			errno = EPROTO;
		keeper_free(k);
		return NULL;
	}
	k->init_len = (size_t)n;
	return k;
}

void
keeper_free(struct keeper *k)
{
	if (k == NULL)
		return;
	if (k->sfd >= 0)
		close(k->sfd);
	if (k->ready_rfd >= 0)
		close(k->ready_rfd);
	free(k->binary);
	free(k->pending_binary);
	free(k->init);
	free(k);
}

int
keeper_env(const struct keeper *k, char *buf, size_t len)
{
	size_t used;

	used = (size_t)snprintf(buf, len, "fd=%d,keeper=%d,restarts=%u,ready=%d,init=", k->fd,
	    (int)k->self, k->restarts, k->ready_wfd);
	if (used + 2 * k->init_len >= len)
		return -1;
	clip_hex_encode(k->init, k->init_len, buf + used);
	fcntl(k->fd, F_SETFD, 0);
	if (k->ready_wfd >= 0)
		fcntl(k->ready_wfd, F_SETFD, 0);
	return 0;
}

/* The INIT request from its hex; 0, or -1. */
static int
init_from_hex(struct keeper *k, const char *hex)
{
	size_t n = strcspn(hex, ",");

	if (n == 0 || n % 2 != 0 || n / 2 > INIT_READ_MAX || (k->init = malloc(n / 2)) == NULL)
		return -1;
	if (clip_hex_decode(hex, n / 2, k->init) != 0)
		return -1;
	k->init_len = n / 2;
	return 0;
}

struct keeper *
keeper_from_env(const char *value)
{
	struct keeper *k = calloc(1, sizeof(*k));
	int fd = -1, self = 0, ready = -1;
	unsigned restarts = 0;
	const char *init = value ? strstr(value, "init=") : NULL;

	if (k == NULL || init == NULL ||
	    sscanf(value, "fd=%d,keeper=%d,restarts=%u,ready=%d,", &fd, &self, &restarts,
	    &ready) != 4 || fd < 0 || self <= 0 || init_from_hex(k, init + 5) != 0) {
		keeper_free(k);
		return NULL;
	}
	k->fd = fd;
	k->self = self;
	k->restarts = restarts;
	k->sfd = k->ready_rfd = -1;
	k->ready_wfd = ready;
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	if (ready >= 0)
		fcntl(ready, F_SETFD, FD_CLOEXEC);
	return k;
}

int keeper_fd(const struct keeper *k) { return k->fd; }
unsigned keeper_restarts(const struct keeper *k) { return k->restarts; }
pid_t keeper_pid(const struct keeper *k) { return k->self; }
int keeper_ready_fd(const struct keeper *k) { return k->ready_wfd; }

const void *
keeper_init_request(const struct keeper *k, size_t *len)
{
	*len = k->init_len;
	return k->init;
}

/* Asks the kernel to queue again, for fd's connection, the requests a
 * dead daemon read but never answered (FUSE_NOTIFY_RESEND, Linux 6.9).
 * 0, or -1 with errno (EINVAL on older kernels). */
static int
keeper_notify_resend(int fd)
{
	struct fuse_out_header oh = { sizeof(oh), NOTIFY_RESEND, 0 };

	return write(fd, &oh, sizeof(oh)) == (ssize_t)sizeof(oh) ? 0 : -1;
}

/* In the child: becomes the daemon, and never returns. */
static void
daemon_child(struct keeper *k)
{
	close(k->sfd);
	k->sfd = -1;
	if (k->ready_rfd >= 0)
		close(k->ready_rfd);
	k->ready_rfd = -1;
	/* The daemon goes with its keeper: without it, nobody could restart
	 * the next one, and the connection ends cleanly instead. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != k->self)
		_exit(EXIT_FAILURE_GENERIC);
	sigprocmask(SIG_SETMASK, &k->old_mask, NULL);
	if (k->pending_binary != NULL || k->binary != NULL)
		exit(k->hooks.exec(k->hooks.ctx, k, k->pending_binary != NULL ? k->pending_binary :
		    k->binary));
	exit(k->hooks.serve(k->hooks.ctx, k));
}

/* clipfs restart --binary: the path it left, taken (and removed). */
static void
take_binary(struct keeper *k)
{
	char path[4096];
	ssize_t n;
	int fd;

	if (k->hooks.binary_file == NULL || (fd = open(k->hooks.binary_file,
	    O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return;
	n = read(fd, path, sizeof(path) - 1);
	close(fd);
	unlink(k->hooks.binary_file);
	if (n <= 0 || path[0] != '/')
		return;
	path[n] = '\0';
	free(k->pending_binary);
	k->pending_binary = strdup(path);
}

char *
keeper_release_binary(struct keeper *k)
{
	char *binary = k->binary;

	k->binary = NULL;
	return binary;
}

void
keeper_adopt_binary(struct keeper *k, char *binary)
{
	free(k->binary);
	k->binary = binary;
}

/* The handover ended: a new binary is kept only if its daemon took over. */
static void
settle_binary(struct keeper *k, int took_over)
{
	if (k->pending_binary == NULL)
		return;
	if (took_over) {
		free(k->binary);
		k->binary = k->pending_binary;
		log_info("daemons from now on run %s", k->binary);
	} else {
		free(k->pending_binary);
	}
	k->pending_binary = NULL;
}

/* Forks a daemon; with a report pipe for the first one and a handover's.
 * Its PID, or -1 (errno set). */
static pid_t
start_daemon(struct keeper *k, int report)
{
	int p[2] = { -1, -1 };
	pid_t pid;

	if (report && pipe2(p, O_CLOEXEC) != 0)
		return -1;
	k->ready_rfd = p[0];
	k->ready_wfd = p[1];
	fflush(NULL);   /* nothing buffered is written twice */
	if ((pid = fork()) < 0) {
		if (p[0] >= 0) {
			close(p[0]);
			close(p[1]);
		}
		k->ready_rfd = k->ready_wfd = -1;
		return -1;
	}
	if (pid == 0)
		daemon_child(k);
	if (p[1] >= 0)
		close(p[1]);
	k->ready_wfd = -1;
	k->started_ms = now_ms();
	log_info("serving daemon %d started (restarts so far: %u)", (int)pid, k->restarts);
	return pid;
}

/* The kernel queues again what a daemon that is gone had read. */
static void
resend(struct keeper *k)
{
	if (keeper_notify_resend(k->fd) == 0 || k->resend_warned)
		return;
	k->resend_warned = 1;
	log_warn("cannot ask the kernel to resend what a dead daemon held (%s; needs Linux "
	    "6.9): those requests wait until the mount ends", strerror(errno));
}

/* SIGUSR1 (clipfs restart): a new daemon beside the serving one, which
 * is asked to finish once the new one is ready. */
static void
start_handover(struct keeper *k)
{
	pid_t pid;

	take_binary(k);
	if (k->daemon == 0 || k->next != 0 || k->retiring != 0 || !k->ready) {
		log_warn("restart asked for while a daemon is starting or finishing: ignored");
		settle_binary(k, 0);
		return;
	}
	k->restarts++;
	if ((pid = start_daemon(k, 1)) < 0) {
		k->restarts--;
		log_error("cannot start a new daemon for the restart: %s", strerror(errno));
		return;
	}
	k->next = pid;
	k->pipe_handover = 1;
}

/* The handover's new daemon reported: on success the old one finishes
 * what it holds (SIGTERM ends its loop once its requests are answered). */
static void
handover_ready(struct keeper *k, int status)
{
	settle_binary(k, status == EXIT_OK);
	if (status != EXIT_OK) {
		log_error("the new daemon %d failed (status %d); the old one goes on", (int)k->next,
		    status);
		return;   /* it exits; reaped as next */
	}
	log_info("daemon %d takes over from %d", (int)k->next, (int)k->daemon);
	k->retiring = k->daemon;
	k->daemon = k->next;
	k->next = 0;
	k->retire_by = now_ms() + KEEPER_RETIRE_MS;
	kill(k->retiring, SIGTERM);
}

/* The starting daemon's report, if it sent one (never blocks once it
 * has exited; else called when poll says the pipe is readable). */
static void
read_ready(struct keeper *k)
{
	/* The status byte, then the daemon's mode_why: one write. */
	char buf[1 + 512];
	unsigned char c;
	ssize_t n;

	if (k->ready_rfd < 0)
		return;
	do
		n = read(k->ready_rfd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	c = n > 0 ? (unsigned char)buf[0] : 0;
	buf[n > 0 ? n : 0] = '\0';
	close(k->ready_rfd);
	k->ready_rfd = -1;
	if (k->pipe_handover) {
		k->pipe_handover = 0;
		if (n >= 1 && k->next != 0)
			handover_ready(k, c);
		return;
	}
	if (n < 1)
		return;
	k->ready = c == EXIT_OK;
	k->first_status = c;
	k->reported = 1;
	k->hooks.ready(k->hooks.ctx, c, buf + 1);
}

/* Whether the connection has ended (unmounted, or aborted). */
static int
connection_gone(const struct keeper *k)
{
	struct pollfd p = { k->fd, 0, 0 };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLNVAL)) != 0;
}

static void
describe_death(int st, char *buf, size_t len)
{
	if (WIFSIGNALED(st))
		snprintf(buf, len, "was killed by signal %d", WTERMSIG(st));
	else
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
}

/* A crash after the mount was ready: schedules the next daemon, or gives
 * up.  -1 to go on, else the end. */
static int
schedule_restart(struct keeper *k, pid_t pid, int st)
{
	long long lived = now_ms() - k->started_ms;
	long long delay;
	char how[64];

	describe_death(st, how, sizeof(how));
	k->quick = lived < KEEPER_QUICK_MS ? k->quick + 1 : 0;
	if (k->quick > KEEPER_MAX_QUICK) {
		log_error("the serving daemon %s %u times in a row within %d ms of its start: "
		    "giving up; the mount fails its reads until clipfs umount",
		    how, k->quick, KEEPER_QUICK_MS);
		return KEEPER_GAVE_UP;
	}
	resend(k);
	delay = k->quick > 0 ? 100LL << (k->quick - 1) : 0;
	log_warn("the serving daemon %d %s after %lld ms; starting a new one in %lld ms",
	    (int)pid, how, lived, delay);
	k->restarts++;
	k->restart_at = now_ms() + delay;
	return -1;
}

/* The daemon has exited with st.  -1 to go on, else the end. */
static int
daemon_died(struct keeper *k, pid_t pid, int st, int *status)
{
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;

	if (!k->pipe_handover)
		read_ready(k);
	if (k->stopping)
		return connection_gone(k) ? KEEPER_UNMOUNTED : KEEPER_STOP;
	if (k->next != 0) {
		/* Died during a handover: the new one serves alone. */
		log_warn("the serving daemon %d died during a restart; %d takes over", (int)pid,
		    (int)k->next);
		k->daemon = k->next;
		k->next = 0;
		resend(k);
		return -1;
	}
	if (code == KEEPER_EXIT_FALLBACK)
		return KEEPER_FALLBACK;
	if (!k->ready) {
		*status = k->reported ? k->first_status : code > 0 ? code : EXIT_MOUNT;
		if (!k->reported)
			k->hooks.ready(k->hooks.ctx, *status, "");
		return KEEPER_FAILED;
	}
	if (code == 0 || connection_gone(k))
		return connection_gone(k) ? KEEPER_UNMOUNTED : KEEPER_STOP;
	return schedule_restart(k, pid, st);
}

/* Reads what the signalfd has.  -1 to go on, else the end. */
static int
take_signals(struct keeper *k, int *status)
{
	struct signalfd_siginfo si;
	int st, end;
	pid_t pid;

	while (read(k->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGUSR1 && !k->stopping)
			start_handover(k);
		else if (si.ssi_signo != SIGCHLD && si.ssi_signo != SIGUSR1) {
			log_info("signal %u: stopping the mount", si.ssi_signo);
			k->stopping = 1;
			if (k->daemon == 0)
				return KEEPER_STOP;
			kill(k->daemon, SIGTERM);
			if (k->next != 0)
				kill(k->next, SIGTERM);
		}
	}
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (pid == k->retiring) {
			k->retiring = 0;
			resend(k);
			continue;
		}
		if (pid == k->next) {
			read_ready(k);
			settle_binary(k, 0);
			k->next = 0;
			k->restarts--;
			log_error("the new daemon %d exited before it was ready; the old one goes on",
			    (int)pid);
			continue;
		}
		if (pid != k->daemon)
			continue;
		k->daemon = 0;
		if ((end = daemon_died(k, pid, st, status)) >= 0)
			return end;
	}
	return -1;
}

/* Blocks the signals the loop reads; the stop signals only where they
 * are not ignored (as libfuse does).  0, or -1. */
static int
take_over_signals(struct keeper *k)
{
	static const int stops[] = { SIGTERM, SIGINT, SIGHUP };
	struct sigaction sa;
	sigset_t set;
	size_t i;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGUSR1);
	for (i = 0; i < sizeof(stops) / sizeof(stops[0]); i++)
		if (sigaction(stops[i], NULL, &sa) == 0 && sa.sa_handler != SIG_IGN)
			sigaddset(&set, stops[i]);
	if (sigprocmask(SIG_BLOCK, &set, &k->old_mask) != 0)
		return -1;
	k->sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return k->sfd < 0 ? -1 : 0;
}

/* Ends a child of the keeper, if there is one. */
static void
end_child(pid_t *pid)
{
	int st;

	if (*pid > 0) {
		kill(*pid, SIGKILL);
		waitpid(*pid, &st, 0);
	}
	*pid = 0;
}

/* The daemons end with their keeper's end, whatever it is. */
static enum keeper_end
keeper_finish(struct keeper *k, int end)
{
	end_child(&k->daemon);
	end_child(&k->next);
	end_child(&k->retiring);
	sigprocmask(SIG_SETMASK, &k->old_mask, NULL);
	return (enum keeper_end)end;
}

/* What is due: a restart that waited out its back-off, a handover's old
 * daemon past its time.  -1 to go on, else the end. */
static int
run_timers(struct keeper *k)
{
	long long now = now_ms();

	if (k->retiring != 0 && now >= k->retire_by) {
		/* Stuck on a request (a stalled registry): it goes, and the new
		 * daemon gets what it held. */
		log_warn("daemon %d did not finish within %d ms of the restart: killed",
		    (int)k->retiring, KEEPER_RETIRE_MS);
		kill(k->retiring, SIGKILL);
		k->retire_by = now + 60000;
	}
	if (k->daemon == 0 && now >= k->restart_at && (k->daemon = start_daemon(k, 0)) < 0) {
		k->daemon = 0;
		log_error("cannot start a new daemon: %s; giving up", strerror(errno));
		return KEEPER_GAVE_UP;
	}
	return -1;
}

/* How long the loop may wait: until the next timer, or -1. */
static int
poll_timeout(const struct keeper *k)
{
	long long now = now_ms(), next = -1;

	if (k->daemon == 0)
		next = k->restart_at;
	if (k->retiring != 0 && (next < 0 || k->retire_by < next))
		next = k->retire_by;
	return next < 0 ? -1 : next <= now ? 0 : (int)(next - now);
}

enum keeper_end
keeper_run(struct keeper *k, int *status)
{
	struct pollfd p[2];
	int end;

	*status = EXIT_OK;
	k->self = getpid();
	if (take_over_signals(k) != 0 || (k->daemon = start_daemon(k, 1)) < 0) {
		k->daemon = 0;
		log_error("cannot start the serving daemon: %s", strerror(errno));
		*status = EXIT_FAILURE_GENERIC;
		if (!k->reported)
			k->hooks.ready(k->hooks.ctx, *status, "");
		return keeper_finish(k, KEEPER_FAILED);
	}
	for (;;) {
		if ((end = run_timers(k)) >= 0)
			return keeper_finish(k, end);
		p[0] = (struct pollfd){ k->sfd, POLLIN, 0 };
		p[1] = (struct pollfd){ k->ready_rfd, POLLIN, 0 };
		if (poll(p, k->ready_rfd >= 0 ? 2 : 1, poll_timeout(k)) < 0 && errno != EINTR)
			return keeper_finish(k, KEEPER_GAVE_UP);
		if (k->ready_rfd >= 0 && p[1].revents)
			read_ready(k);
		if (p[0].revents && (end = take_signals(k, status)) >= 0)
			return keeper_finish(k, end);
	}
}
