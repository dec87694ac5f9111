# tests/lib/registry.sh: start and stop real OCI registries for shell tests.
# shellcheck shell=bash
# Sourced by bash test scripts; needs docker-registry (CNCF distribution),
# curl, openssl, python3; htpasswd (apache2-utils) for tls-basic; skopeo for
# push_oci.
#
# Typical use:
#
#   . "$top_srcdir/tests/lib/registry.sh"
#   harness_require docker-registry umoci skopeo   # exit 77 if missing
#   harness_init                     # temp dir + cleanup trap
#   registry_start plain             # sets REGISTRY=127.0.0.1:PORT etc.
#   push_oci "$dir:tag" "app:tag"
#   curl $(registry_curl_args) "$REGISTRY_URL/v2/app/tags/list"
#
# Functions:
#   harness_require PROG...   skip (77) unless all are on PATH
#   harness_require_root      skip (77) unless root
#   harness_skip REASON       skip; under CI=true an error (99) instead
#   harness_init              temp dir $HARNESS_TMP + EXIT/INT/TERM trap
#   harness_fail MESSAGE      print and exit 1 (the trap cleans up)
#   harness_pids              every PID the harness started
#   registry_start [MODE]     start a registry (modes below)
#   registry_use ENV_FILE     switch to a registry started earlier
#   registry_stop [ENV_FILE]  stop one registry (default: current)
#   registry_stop_all         stop all (the trap does this)
#   registry_kill             stop the current registry's process only
#                             (an outage: dir, port and storage kept)
#   registry_restart          start it again after registry_kill, on the
#                             same port with the same storage
#   registry_curl_args        curl options: CA cert, basic credentials
#   registry_token SCOPE      print a bearer token (token modes)
#   push_oci [--v2s2] LAYOUT:TAG NAME:TAG [skopeo args]
#
# Several registries at once: each registry_start writes its variables to
# $REGISTRY_ENV (a file); save that path and switch back with
# `registry_use "$saved"`. registry_stop stops the current one,
# registry_stop_all (run by the EXIT trap) stops every one.
#
# Variables after registry_start (all exported):
#   REGISTRY          host:port, e.g. 127.0.0.1:40123
#   REGISTRY_URL      http://... or https://...
#   REGISTRY_MODE     the mode given to registry_start
#   REGISTRY_TLS      yes | no
#   REGISTRY_AUTH     none | basic | token
#   REGISTRY_PID      the docker-registry process
#   REGISTRY_DIR      its private dir (config, storage, logs)
#   REGISTRY_LOG      its stdout+stderr (includes the access log)
#   REGISTRY_ENV      file holding all of these, for registry_use
#   TLS modes:   REGISTRY_CACERT (PEM), REGISTRY_CERT_DIR (dir with ca.crt,
#                for skopeo --dest-cert-dir / --src-cert-dir)
#   auth modes:  REGISTRY_USER, REGISTRY_PASS
#   token mode:  TOKEN_SERVER_URL, TOKEN_SERVER_PID, TOKEN_REALM,
#                TOKEN_SERVICE, TOKEN_LOG (one JSON line per token request),
#                TOKEN_LIFETIME_FILE (write an integer there to change the
#                lifetime of tokens issued from then on)
#
# Modes:
#   plain        HTTP, no auth.
#   basic        HTTP + htpasswd basic auth (bcrypt file from htpasswd -B).
#   tls          HTTPS with a self-signed cert (SAN IP:127.0.0.1,
#                DNS:localhost), no auth.
#   tls-basic    HTTPS + basic auth.
#   token        HTTPS + bearer tokens from tests/lib/token_server.py (which
#                itself is plain HTTP on its own 127.0.0.1 port).
#   plain-token  HTTP + bearer tokens.
#   Token modes: before registry_start, set TOKEN_LIFETIME (seconds, default
#   300) and TOKEN_EXP_SHIFT (added to the exp claim only; distribution
#   accepts tokens up to 60 s past exp, so -60 makes expiry bite at once).
#
# Other knobs: REGISTRY_HTTP2_DISABLED=1 before registry_start turns off
# HTTP/2 on TLS registries.  REGISTRY_PROXY_REMOTE=URL before
# registry_start makes the new registry a pull-through cache of URL
# (distribution's proxy mode); set it for that one call only. HARNESS_KEEP=1 keeps the temp dir.

# The per-registry variables, saved in $REGISTRY_ENV for registry_use.
_HARNESS_VARS=(REGISTRY REGISTRY_URL REGISTRY_MODE REGISTRY_TLS REGISTRY_AUTH
	REGISTRY_PID REGISTRY_DIR REGISTRY_LOG REGISTRY_ENV REGISTRY_CACERT
	REGISTRY_CERT_DIR REGISTRY_USER REGISTRY_PASS TOKEN_SERVER_URL
	TOKEN_SERVER_PID TOKEN_REALM TOKEN_SERVICE TOKEN_LOG TOKEN_LIFETIME_FILE)

# Everything lives under one temp dir so cleanup is one rm -rf.
HARNESS_TMP=
_HARNESS_PIDS=()      # every process we started, for the final sweep
_HARNESS_ENVS=()      # every registry env file, for registry_stop_all
_HARNESS_LIBDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

harness_log() {
	printf '%s\n' "$*"
}

# Print a failure and exit 1 (the EXIT trap tears everything down).
harness_fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

# Skip the test (exit 77) with a reason. Under CI=true (.ci/run installs
# everything) a skip would hide a broken setup, so it is a hard error (99).
harness_skip() {
	if [ "${CI:-}" = true ]; then
		printf 'ERROR: %s (CI=true: tests must not skip)\n' "$*"
		exit 99
	fi
	printf 'SKIP: %s\n' "$*"
	exit 77
}

# True when $CLIPFS was built with AddressSanitizer (run-all.sh
# --sanitizers): its shadow memory and quarantine make memory figures
# meaningless, so memory bounds are reported but not checked.
harness_asan() {
	grep -q __asan_init "${CLIPFS:-/nonexistent}" 2>/dev/null
}

# Skip unless running as root (mknod/chown in image_fixtures, umoci unpack
# without --rootless, FUSE mounts).
harness_require_root() {
	[ "$(id -u)" -eq 0 ] || harness_skip "needs root"
}

# Skip unless every named program is on PATH.
harness_require() {
	local p
	for p in "$@"; do
		command -v "$p" >/dev/null 2>&1 || harness_skip "$p not found"
	done
}

# Create the work dir and install the cleanup traps. Call once, first.
harness_init() {
	HARNESS_TMP=$(mktemp -d "${TMPDIR:-/tmp}/clipfs-test.XXXXXX") ||
		{ echo "mktemp failed" >&2; exit 99; }
	export HARNESS_TMP
	trap '_harness_cleanup' EXIT
	trap '_harness_cleanup; trap - EXIT; exit 130' INT
	trap '_harness_cleanup; trap - EXIT; exit 143' TERM
}

_harness_cleanup() {
	local rc=$?
	# On failure, put the servers' logs into the test log before they go.
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "$HARNESS_TMP" ]; then
		local f
		for f in "$HARNESS_TMP"/reg.*/registry.log "$HARNESS_TMP"/reg.*/token.err; do
			[ -s "$f" ] || continue
			printf '=== last lines of %s\n' "$f" >&2
			tail -n 10 "$f" >&2
		done
	fi
	registry_stop_all
	if [ -n "$HARNESS_TMP" ] && [ -d "$HARNESS_TMP" ]; then
		if [ -n "${HARNESS_KEEP:-}" ]; then
			printf 'kept %s\n' "$HARNESS_TMP" >&2
		else
			rm -rf "$HARNESS_TMP"
		fi
	fi
	return "$rc"
}

# Stop one process we started: TERM, wait up to 5 s, then KILL.
_harness_kill() {
	local pid=$1
	[ -n "$pid" ] || return 0
	# wait gives the child's status (143 after our TERM): || true, so that
	# a caller under set -e (tests/quickstart.sh) does not exit with it.
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null || true
	return 0
}

# A port that was free a moment ago. Racy by nature; registry_start retries.
_harness_free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# One self-signed cert/key for every TLS registry and one for token signing,
# made once per test run (RSA keygen is the slow part of registry_start).
_harness_pki() {
	local pki=$HARNESS_TMP/pki
	[ -f "$pki/ca.crt" ] && return 0
	mkdir -p "$pki/certs.d" || return 1
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" \
		-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
		-keyout "$pki/tls.key" -out "$pki/ca.crt" 2>"$pki/openssl.err" || return 1
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=clipfs-test-token" \
		-keyout "$pki/token.key" -out "$pki/token.crt" 2>>"$pki/openssl.err" || return 1
	# skopeo's --dest-cert-dir treats *.crt as CA certificates.
	cp "$pki/ca.crt" "$pki/certs.d/ca.crt"
}

# Wait until URL answers with any HTTP status (200 or 401 mean "up"), or the
# process dies, or 10 s pass. Returns 0 when up.
_harness_wait_http() {
	local url=$1 pid=$2 code
	shift 2
	for _ in $(seq 1 200); do
		kill -0 "$pid" 2>/dev/null || return 1
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$@" "$url" 2>/dev/null)
		case $code in
		200|401) return 0 ;;
		esac
		sleep 0.05
	done
	return 1
}

# Start a token server for the registry in $1 (its dir); sets TOKEN_*.
_harness_start_token_server() {
	local dir=$1
	TOKEN_SERVICE=clipfs-test-registry
	TOKEN_LOG=$dir/token.log
	TOKEN_LIFETIME_FILE=$dir/token.lifetime
	: >"$TOKEN_LOG"
	python3 "$_HARNESS_LIBDIR/token_server.py" \
		--key "$HARNESS_TMP/pki/token.key" --cert "$HARNESS_TMP/pki/token.crt" \
		--issuer clipfs-test-issuer --service "$TOKEN_SERVICE" \
		--user "$REGISTRY_USER" --password "$REGISTRY_PASS" \
		--lifetime "${TOKEN_LIFETIME:-300}" --exp-shift "${TOKEN_EXP_SHIFT:-0}" \
		--lifetime-file "$TOKEN_LIFETIME_FILE" \
		--log "$TOKEN_LOG" --port-file "$dir/token.port" \
		>"$dir/token.out" 2>"$dir/token.err" &
	TOKEN_SERVER_PID=$!
	_HARNESS_PIDS+=("$TOKEN_SERVER_PID")
	for _ in $(seq 1 200); do
		[ -s "$dir/token.port" ] && break
		kill -0 "$TOKEN_SERVER_PID" 2>/dev/null || break
		sleep 0.05
	done
	if [ ! -s "$dir/token.port" ]; then
		cat "$dir/token.err" >&2
		return 1
	fi
	TOKEN_SERVER_URL=http://127.0.0.1:$(cat "$dir/token.port")
	TOKEN_REALM=$TOKEN_SERVER_URL/token
	_harness_wait_http "$TOKEN_SERVER_URL/health" "$TOKEN_SERVER_PID" || return 1
}

_harness_write_config() {
	local dir=$1 port=$2
	{
		echo "version: 0.1"
		echo "log:"
		echo "  level: info"
		echo "  formatter: text"
		echo "storage:"
		echo "  filesystem:"
		echo "    rootdirectory: $dir/storage"
		echo "  delete:"
		echo "    enabled: true"
		echo "http:"
		echo "  addr: 127.0.0.1:$port"
		echo "  secret: $(openssl rand -hex 16)"
		if [ "$REGISTRY_TLS" = yes ]; then
			echo "  tls:"
			echo "    certificate: $HARNESS_TMP/pki/ca.crt"
			echo "    key: $HARNESS_TMP/pki/tls.key"
			if [ -n "${REGISTRY_HTTP2_DISABLED:-}" ]; then
				echo "  http2:"
				echo "    disabled: true"
			fi
		fi
		if [ -n "${REGISTRY_PROXY_REMOTE:-}" ]; then
			echo "proxy:"
			echo "  remoteurl: $REGISTRY_PROXY_REMOTE"
		fi
		case $REGISTRY_AUTH in
		basic)
			echo "auth:"
			echo "  htpasswd:"
			echo "    realm: clipfs-test"
			echo "    path: $dir/htpasswd"
			;;
		token)
			echo "auth:"
			echo "  token:"
			echo "    realm: $TOKEN_REALM"
			echo "    service: $TOKEN_SERVICE"
			echo "    issuer: clipfs-test-issuer"
			echo "    rootcertbundle: $HARNESS_TMP/pki/token.crt"
			;;
		esac
	} >"$dir/config.yml"
}

# registry_start [plain|basic|tls|tls-basic|token|plain-token]
# Start a registry on 127.0.0.1 (free port), wait until /v2/ answers, export
# the REGISTRY_* variables described at the top. Returns non-zero (after
# printing why) if it could not start.
registry_start() {
	local mode=${1:-plain} dir port
	case $mode in
	plain)       REGISTRY_TLS=no  REGISTRY_AUTH=none ;;
	basic)       REGISTRY_TLS=no  REGISTRY_AUTH=basic ;;
	tls)         REGISTRY_TLS=yes REGISTRY_AUTH=none ;;
	tls-basic)   REGISTRY_TLS=yes REGISTRY_AUTH=basic ;;
	token)       REGISTRY_TLS=yes REGISTRY_AUTH=token ;;
	plain-token) REGISTRY_TLS=no  REGISTRY_AUTH=token ;;
	*) echo "registry_start: unknown mode '$mode'" >&2; return 2 ;;
	esac
	[ -n "$HARNESS_TMP" ] || { echo "registry_start: call harness_init first" >&2; return 2; }
	# The token signing cert lives there too, so token modes need it as well.
	if [ "$REGISTRY_TLS" = yes ] || [ "$REGISTRY_AUTH" = token ]; then
		_harness_pki || { echo "registry_start: openssl failed" >&2; return 1; }
	fi
	dir=$(mktemp -d "$HARNESS_TMP/reg.XXXXXX") || return 1
	mkdir -p "$dir/storage"

	# shellcheck disable=SC2034  # exported through _HARNESS_VARS
	REGISTRY_MODE=$mode
	REGISTRY_DIR=$dir
	REGISTRY_LOG=$dir/registry.log
	REGISTRY_CACERT=
	REGISTRY_CERT_DIR=
	REGISTRY_USER=
	REGISTRY_PASS=
	TOKEN_SERVER_URL='' TOKEN_SERVER_PID='' TOKEN_REALM='' TOKEN_SERVICE=''
	TOKEN_LOG='' TOKEN_LIFETIME_FILE=
	if [ "$REGISTRY_TLS" = yes ]; then
		REGISTRY_CACERT=$HARNESS_TMP/pki/ca.crt
		REGISTRY_CERT_DIR=$HARNESS_TMP/pki/certs.d
	fi
	if [ "$REGISTRY_AUTH" != none ]; then
		REGISTRY_USER=clipuser
		REGISTRY_PASS=$(openssl rand -hex 12)
	fi
	if [ "$REGISTRY_AUTH" = basic ]; then
		htpasswd -Bbc "$dir/htpasswd" "$REGISTRY_USER" "$REGISTRY_PASS" \
			>/dev/null 2>"$dir/htpasswd.err" ||
			{ cat "$dir/htpasswd.err" >&2; return 1; }
	fi
	if [ "$REGISTRY_AUTH" = token ]; then
		_harness_start_token_server "$dir" ||
			{ echo "registry_start: token server did not start" >&2; return 1; }
	fi

	# The port is picked before the registry binds it; if another process
	# wins the race the registry exits and we try another port.
	REGISTRY_PID=
	for _ in 1 2 3 4 5; do
		port=$(_harness_free_port) || return 1
		_harness_write_config "$dir" "$port"
		# distribution reads REGISTRY_* environment variables as config
		# overrides (REGISTRY_LOG would replace the log section), and we
		# export exactly such names: give it a clean environment.
		env -i PATH="$PATH" HOME="$dir" \
			docker-registry serve "$dir/config.yml" >"$REGISTRY_LOG" 2>&1 &
		REGISTRY_PID=$!
		_HARNESS_PIDS+=("$REGISTRY_PID")
		REGISTRY=127.0.0.1:$port
		if [ "$REGISTRY_TLS" = yes ]; then
			REGISTRY_URL=https://$REGISTRY
		else
			REGISTRY_URL=http://$REGISTRY
		fi
		if _harness_wait_http "$REGISTRY_URL/v2/" "$REGISTRY_PID" \
			${REGISTRY_CACERT:+--cacert "$REGISTRY_CACERT"}; then
			break
		fi
		_harness_kill "$REGISTRY_PID"
		REGISTRY_PID=
	done
	if [ -z "$REGISTRY_PID" ]; then
		echo "registry_start: docker-registry did not come up; its log:" >&2
		cat "$REGISTRY_LOG" >&2
		return 1
	fi

	REGISTRY_ENV=$dir/env
	_harness_save_env
	_HARNESS_ENVS+=("$REGISTRY_ENV")
	harness_log "registry: $mode at $REGISTRY_URL (pid $REGISTRY_PID)"
}

# Export the current registry's variables and write them to $REGISTRY_ENV.
_harness_save_env() {
	local v
	for v in "${_HARNESS_VARS[@]}"; do
		export "${v?}"
		printf 'export %s=%q\n' "$v" "${!v}"
	done >"$REGISTRY_ENV"
}

# registry_kill: stop the current registry's docker-registry process (only
# that PID; a token server keeps running) but keep its dir, config and
# storage, so that registry_restart can bring the same registry back.
registry_kill() {
	[ -n "${REGISTRY_PID:-}" ] || { echo "registry_kill: no current registry" >&2; return 1; }
	_harness_kill "$REGISTRY_PID"
}

# registry_restart: after registry_kill, start the current registry again
# from its config (so on the same port) with the same storage, wait until
# /v2/ answers and update REGISTRY_PID (also in $REGISTRY_ENV). Returns
# non-zero if it is still running or does not come back (e.g. the port was
# taken meanwhile).
registry_restart() {
	[ -n "${REGISTRY_DIR:-}" ] && [ -f "$REGISTRY_DIR/config.yml" ] ||
		{ echo "registry_restart: no current registry" >&2; return 1; }
	if kill -0 "$REGISTRY_PID" 2>/dev/null; then
		echo "registry_restart: pid $REGISTRY_PID still runs; registry_kill first" >&2
		return 1
	fi
	env -i PATH="$PATH" HOME="$REGISTRY_DIR" \
		docker-registry serve "$REGISTRY_DIR/config.yml" >>"$REGISTRY_LOG" 2>&1 &
	REGISTRY_PID=$!
	_HARNESS_PIDS+=("$REGISTRY_PID")
	if ! _harness_wait_http "$REGISTRY_URL/v2/" "$REGISTRY_PID" \
		${REGISTRY_CACERT:+--cacert "$REGISTRY_CACERT"}; then
		echo "registry_restart: docker-registry did not come back on $REGISTRY; its log:" >&2
		tail -n 20 "$REGISTRY_LOG" >&2
		return 1
	fi
	_harness_save_env
	harness_log "registry: restarted at $REGISTRY_URL (pid $REGISTRY_PID)"
}

# registry_use ENV_FILE: make a registry started earlier the current one.
registry_use() {
	[ -f "$1" ] || { echo "registry_use: no such env file: $1" >&2; return 1; }
	# shellcheck disable=SC1090
	. "$1"
}

# registry_stop [ENV_FILE]: stop one registry (default: the current one) and
# its token server, and remove its dir. Only our own PIDs are signalled.
registry_stop() {
	local env=${1:-$REGISTRY_ENV} vals reg_pid tok_pid reg_dir
	[ -n "$env" ] && [ -f "$env" ] || return 0
	# Read the file in a subshell so the current registry's variables stay.
	# shellcheck disable=SC1090
	vals=$(. "$env" && printf '%s\n%s\n%s\n' "$REGISTRY_PID" "$TOKEN_SERVER_PID" "$REGISTRY_DIR")
	{ read -r reg_pid; read -r tok_pid; read -r reg_dir; } <<<"$vals"
	_harness_kill "$reg_pid"
	_harness_kill "$tok_pid"
	rm -f "$env"
	if [ -z "${HARNESS_KEEP:-}" ] && [ -n "$reg_dir" ]; then
		rm -rf "$reg_dir"
	fi
}

# Stop every registry and token server this test started.
registry_stop_all() {
	local env pid
	for env in "${_HARNESS_ENVS[@]}"; do
		registry_stop "$env"
	done
	# Anything started but never registered (a failed registry_start).
	for pid in "${_HARNESS_PIDS[@]}"; do
		_harness_kill "$pid"
	done
}

# The PIDs of every process the harness started (for leak checks).
harness_pids() {
	printf '%s\n' "${_HARNESS_PIDS[@]}"
}

# curl options for the current registry: CA cert and, for basic auth, the
# credentials. Word-split on purpose: paths under $HARNESS_TMP have no spaces.
# Token mode gets no credentials here: use registry_token.
registry_curl_args() {
	[ -n "$REGISTRY_CACERT" ] && printf -- '--cacert %s ' "$REGISTRY_CACERT"
	[ "$REGISTRY_AUTH" = basic ] &&
		printf -- '--user %s:%s ' "$REGISTRY_USER" "$REGISTRY_PASS"
	return 0
}

# registry_token SCOPE: print a bearer token for SCOPE (e.g.
# repository:app:pull) from the current registry's token server.
registry_token() {
	[ -n "$TOKEN_REALM" ] || { echo "registry_token: not a token registry" >&2; return 1; }
	curl -sf --max-time 10 -u "$REGISTRY_USER:$REGISTRY_PASS" \
		--get --data-urlencode "service=$TOKEN_SERVICE" \
		--data-urlencode "scope=$1" "$TOKEN_REALM" |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}

# push_oci [--v2s2] LAYOUT_DIR:TAG NAME:TAG [extra skopeo args...]
# Copy an image from an OCI layout to the current registry with skopeo, with
# the TLS/credential flags the registry's mode needs. --v2s2 converts the
# manifest to Docker schema 2 (layer blobs stay byte-identical).
push_oci() {
	local format=()
	if [ "${1:-}" = --v2s2 ]; then
		format=(--format v2s2)
		shift
	fi
	local src=$1 dst=$2
	shift 2
	local args=()
	if [ "$REGISTRY_TLS" = no ]; then
		args+=(--dest-tls-verify=false)
	else
		args+=(--dest-cert-dir "$REGISTRY_CERT_DIR")
	fi
	if [ -n "$REGISTRY_USER" ]; then
		args+=(--dest-creds "$REGISTRY_USER:$REGISTRY_PASS")
	fi
	# Our own policy: a fresh machine may lack /etc/containers/policy.json.
	local policy=$HARNESS_TMP/skopeo-policy.json
	[ -f "$policy" ] ||
		echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$policy"
	skopeo --policy "$policy" copy --quiet "${format[@]}" "${args[@]}" "$@" \
		"oci:$src" "docker://$REGISTRY/$dst"
}
