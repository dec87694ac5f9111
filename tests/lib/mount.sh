# tests/lib/mount.sh: mount and unmount clipfs in shell tests, safely.
# shellcheck shell=bash
# Sourced after registry.sh and images.sh, by tests/mount.test and
# tests/mount-faults.test.  Like libfuse's and squashfuse's tests: never
# sleep and hope (clipfs mount returns once the mount is ready; a
# foreground daemon is waited for with a bounded poll of mountpoint -q),
# and every mount made here is unmounted by the EXIT trap (fusermount3 -u,
# then -uz if that fails), every daemon started in the foreground is
# killed by its PID.
#
#   mount_require              skip unless root, /dev/fuse and the tools
#   mount_init                 harness_init + our cleanup in the trap
#   mnt_dir NAME               make $HARNESS_TMP/mnt/NAME, print it
#   mnt_mount MNT ARGS...      clipfs mount ARGS... (ARGS end with INDEX
#                              MNT); fail the test unless it is mounted
#   mnt_mount_fg LOG MNT ARGS...  clipfs mount -f ARGS... in the background,
#                              stderr to LOG; sets MNT_FG_PID once mounted
#   mnt_umount MNT             clipfs umount MNT; fail unless unmounted
#   mnt_umount_fg MNT PID      the same for a foreground daemon, then wait
#                              (10 s at most) for PID to exit; fail unless
#                              it exits with status 0
#   mnt_stat MNT JQ_EXPR       a value from clipfs stats --json MNT, once
#                              the daemon's loads and writes have settled
#   mnt_stat_now MNT JQ_EXPR   the same without waiting
#   mnt_settle MNT             wait (bounded) for loads and writes to end
#   mnt_daemon_gone PID        0 once PID is gone or a zombie (bounded)
#   mnt_no_log_errors LOG      fail if LOG has "error:" or "warning:" lines
#
# Needs $CLIPFS (the clipfs binary; make check exports it).
# CLIPFS_MOUNT_MODE=erofs|fuse: mnt_mount and mnt_mount_fg pass --mode
# with it.  Unset, it becomes what clipfs mount's default (--mode auto)
# picks here: erofs as root on Linux 6.12 or later, else fuse; checks that
# differ by mode read it.  run-all.sh's distcheck pass sets it to fuse, so
# that every mount test runs in both modes.

: "${CLIPFS:=${top_builddir:-$top_srcdir}/clipfs/clipfs}"

# The mode --mode auto takes on this machine (mount_erofs.c).
mnt_auto_mode() {
	local release major minor
	release=$(uname -r)
	major=${release%%.*}
	minor=${release#*.}
	minor=${minor%%[!0-9]*}
	if [ "$(id -u)" -eq 0 ] && { [ "$major" -gt 6 ] ||
		{ [ "$major" -eq 6 ] && [ "$minor" -ge 12 ]; }; }; then
		echo erofs
	else
		echo fuse
	fi
}
: "${CLIPFS_MOUNT_MODE:=$(mnt_auto_mode)}"
export CLIPFS_MOUNT_MODE
_MNT_MOUNTS=()     # mountpoints to take down in the trap
_MNT_PIDS=()       # foreground daemons we started
_MNT_CLEANUP_FILES=()   # files outside $HARNESS_TMP to remove (e.g. /sbin/mount.clipfs)
declare -gA _MNT_FG_LOGS   # a foreground daemon's PID -> its log

mount_require() {
	harness_require docker-registry umoci skopeo curl openssl python3 jq \
		fusermount3 mountpoint sha256sum cmp shuf getfattr timeout
	harness_require_root
	[ -c /dev/fuse ] || harness_skip "no /dev/fuse"
	[ -x "$CLIPFS" ] || harness_skip "no clipfs binary at $CLIPFS (run make first)"
}

_mnt_cleanup() {
	local rc=$? m pid f
	for m in "${_MNT_MOUNTS[@]}"; do
		if mountpoint -q "$m" 2>/dev/null; then
			fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null ||
				umount -l "$m" 2>/dev/null
		fi
	done
	for pid in "${_MNT_PIDS[@]}"; do
		_harness_kill "$pid"
	done
	for f in "${_MNT_CLEANUP_FILES[@]}"; do
		rm -f "$f"
	done
	return "$rc"
}

mount_init() {
	harness_init
	trap '_mnt_cleanup; _harness_cleanup' EXIT
	trap '_mnt_cleanup; _harness_cleanup; trap - EXIT; exit 130' INT
	trap '_mnt_cleanup; _harness_cleanup; trap - EXIT; exit 143' TERM
}

mnt_dir() {
	mkdir -p "$HARNESS_TMP/mnt/$1" && printf '%s\n' "$HARNESS_TMP/mnt/$1"
}

mnt_mount() {
	local mnt=$1
	shift
	_MNT_MOUNTS+=("$mnt")
	"$CLIPFS" mount ${CLIPFS_MOUNT_MODE:+--mode "$CLIPFS_MOUNT_MODE"} "$@" ||
		harness_fail "clipfs mount $* exited $?"
	mountpoint -q "$mnt" || harness_fail "clipfs mount $* returned 0 but $mnt is not a mountpoint"
}

mnt_mount_fg() {
	local log=$1 mnt=$2
	shift 2
	_MNT_MOUNTS+=("$mnt")
	"$CLIPFS" mount -f ${CLIPFS_MOUNT_MODE:+--mode "$CLIPFS_MOUNT_MODE"} "$@" 2>"$log" &
	MNT_FG_PID=$!
	_MNT_PIDS+=("$MNT_FG_PID")
	_MNT_FG_LOGS[$MNT_FG_PID]=$log
	# Bounded: 10 s, and not a moment longer than the daemon lives.
	for _ in $(seq 1 200); do
		mountpoint -q "$mnt" && return 0
		kill -0 "$MNT_FG_PID" 2>/dev/null || break
		sleep 0.05
	done
	cat "$log" >&2
	harness_fail "clipfs mount -f $* did not mount $mnt"
}

mnt_umount() {
	"$CLIPFS" umount "$1" || harness_fail "clipfs umount $1 exited $?"
	! mountpoint -q "$1" || harness_fail "$1 is still mounted after clipfs umount"
}

mnt_umount_fg() {
	local mnt=$1 pid=$2 rc
	mnt_umount "$mnt"
	for _ in $(seq 1 200); do
		kill -0 "$pid" 2>/dev/null || break
		# A zombie: exited, waiting for us to reap it.
		[ "$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$pid/status" 2>/dev/null)" = Z ] && break
		sleep 0.05
	done
	kill -0 "$pid" 2>/dev/null &&
		[ "$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$pid/status" 2>/dev/null)" != Z ] &&
		harness_fail "the daemon $pid still runs 10 s after its mount $mnt went away"
	wait "$pid"
	rc=$?
	if [ "$rc" -ne 0 ]; then
		# The log goes with the test's directory: show why first.
		[ -n "${_MNT_FG_LOGS[$pid]:-}" ] && tail -n 40 "${_MNT_FG_LOGS[$pid]}" >&2
		harness_fail "the daemon $pid of $mnt exited with status $rc"
	fi
}

# mnt_stat MOUNTPOINT JQ: a value from clipfs stats --json, once the
# daemon's loads and disk-cache writes have settled (mnt_settle): clipfs
# stats reports the counters as they are and never waits itself.
mnt_stat() {
	mnt_settle "$1"
	mnt_stat_now "$@"
}

mnt_stat_now() {
	"$CLIPFS" stats --json "$1" | jq -r "$2"
}

# Waits (bounded: 10 s) until no load is queued or running and no span
# waits for the disk cache.  Returns 1 if they did not settle.
mnt_settle() {
	local busy
	for _ in $(seq 1 200); do
		busy=$("$CLIPFS" stats --json "$1" 2>/dev/null |
			jq -r '(.loads_queued // 0) + (.loads_running // 0) + (.cache.disk_writes_pending // 0)') || return 1
		[ "$busy" = 0 ] && return 0
		sleep 0.05
	done
	return 1
}

# A zombie counts as gone: the daemon has exited, and our parent shell or
# init reaps it in its own time.
mnt_daemon_gone() {
	local pid=$1 state
	for _ in $(seq 1 200); do
		[ -e "/proc/$pid" ] || return 0
		state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$pid/status" 2>/dev/null)
		[ -z "$state" ] || [ "$state" = Z ] && return 0
		sleep 0.05
	done
	return 1
}

mnt_no_log_errors() {
	if grep -E '^clipfs: (error|warning):' "$1" >/dev/null; then
		grep -E '^clipfs: (error|warning):' "$1" | head -n 10 >&2
		harness_fail "the daemon logged errors or warnings in $1 (above)"
	fi
}
