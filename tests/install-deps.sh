#!/bin/bash
# tests/install-deps.sh: installs, from Debian's packages, everything clipfs
# needs to build and to run its tests. Used by .ci/run, tests/run-all.sh
# --install and tests/quickstart.sh. Must run as root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# Build: compiler, autotools, the five libraries. Test: a real registry
# (docker-registry), image tools (umoci, skopeo), htpasswd (apache2-utils),
# openssl + python3 (token server, certs), python3-seccomp (a kernel
# without EROFS, stood in for by a seccomp filter), curl, jq, attr, acl
# (setfacl, for the POSIX ACL test), fuse3; runc and
# busybox-static for the containers-from-the-mount test; clang and its
# runtime for the fuzzers (libFuzzer); valgrind for the unit tests; libisal-dev, the optional fast
# inflater (README, "Optional: ISA-L").
PACKAGES=(
	build-essential autoconf automake pkg-config
	libfuse3-dev fuse3 libcurl4-openssl-dev zlib1g-dev libssl-dev
	libjansson-dev uthash-dev
	docker-registry umoci skopeo apache2-utils openssl python3 python3-seccomp curl jq attr acl
	ca-certificates runc busybox-static clang libclang-rt-14-dev valgrind
	libisal-dev
)
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: must run as root (apt-get install)" >&2
	exit 2
fi
apt-get update </dev/null
apt-get install -y --no-install-recommends "${PACKAGES[@]}" </dev/null
# erofs-utils >= 1.7 (fsck.erofs, mkfs.erofs, dump.erofs) for tests/erofs.test,
# built from Debian 13's source package into /opt/erofs.
bash "$(dirname "$0")/install-erofs-utils.sh"
