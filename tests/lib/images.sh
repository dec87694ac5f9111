# tests/lib/images.sh: build small OCI images offline with umoci.
# shellcheck shell=bash
# Sourced by bash test scripts after registry.sh: call harness_init first so
# scratch bundles land in $HARNESS_TMP and get removed. Needs umoci, openssl,
# python3; image_fixtures also needs root (mknod, chown) and uses setfattr.
#
# Every builder writes one tagged image into an OCI layout dir (created if
# missing, shared if it exists, so several images can live in one layout)
# and returns non-zero if any umoci step fails. Layers are gzip tars made by
# `umoci repack --refresh-bundle` (one per step) or `umoci insert` (opaque
# dirs, explicit whiteouts). umoci insert layers can be truncated tars (no
# end-of-archive blocks, see RIG.md): Go's archive/tar, hence umoci and
# containerd, accepts them, GNU tar and Python's tarfile do not, so an
# indexer must cope.
#
# Functions:
#   image_basic DIR TAG              4 small layers of common content.
#   image_fixtures DIR TAG           the fidelity zoo for indexer tests.
#   image_symlinks DIR TAG           paths through symlinked parents (layers
#                                    written by tests/lib/layer_stack.py).
#   image_unpack_reference IMG DIR   umoci unpack IMG (DIR:TAG) into DIR, the
#                                    reference tree, with the mtimes of
#                                    directories no layer names set to 0.
#   image_config_set DIR TAG ARGS..  umoci config (Entrypoint/Cmd/Env/...).
#   image_platform DIR TAG OS ARCH   set the config's platform.
#   image_index OUT TAG SRC:TAG...   a multi-platform OCI index from images.
#   image_layers DIR TAG             print the layer digests, one a line.
#   image_manifest_digest DIR TAG    print the manifest digest.
#   image_blob DIR DIGEST            print the path of a blob in the layout.
#   random_file PATH BYTES [SEED]    deterministic incompressible bytes.
#
# Content is deterministic except timestamps (umoci records the build time).

# Deterministic pseudo-random bytes (AES-CTR keystream of the seed), so a
# failing test reproduces with the same data and is incompressible like
# real binaries.
random_file() {
	local path=$1 bytes=$2 seed=${3:-clipfs}
	local key
	key=$(printf '%s' "$seed" | openssl dgst -sha256 -r | cut -c1-32)
	openssl enc -aes-128-ctr -K "$key" -iv 00000000000000000000000000000000 \
		-nosalt </dev/zero 2>/dev/null | head -c "$bytes" >"$path"
}

# _img_begin DIR TAG: make sure the layout exists, create an empty image
# TAG and unpack it into a fresh bundle; prints the bundle path.
_img_begin() {
	local dir=$1 tag=$2 bundle
	if [ ! -f "$dir/index.json" ]; then
		umoci init --layout "$dir" || return 1
	fi
	umoci new --image "$dir:$tag" || return 1
	bundle=$(mktemp -d "${HARNESS_TMP:-${TMPDIR:-/tmp}}/bundle.XXXXXX") || return 1
	rmdir "$bundle"   # umoci unpack wants to create it
	umoci unpack --image "$dir:$tag" "$bundle" >/dev/null || return 1
	printf '%s\n' "$bundle"
}

# _img_layer DIR TAG BUNDLE: turn the bundle's changes into a new layer.
_img_layer() {
	umoci repack --refresh-bundle --image "$1:$2" "$3" >/dev/null
}

# _img_end DIR BUNDLE: drop the bundle and unreferenced blobs.
_img_end() {
	rm -rf "$2"
	umoci gc --layout "$1"
}

# image_basic DIR TAG
# Layers:
#   1. dirs etc/ usr/bin/ usr/share/doc/ var/lib/app/ opt/app/, text files,
#      a 300 KiB random file (usr/bin/tool), an empty file, a relative
#      symlink (usr/bin/tool-link -> tool), a hardlink
#      (usr/bin/tool-hard = usr/bin/tool), a file to be deleted later
#      (etc/old.conf) and files in opt/app/ (replaced by an opaque dir).
#   2. a new file (var/lib/app/data.bin, 200 KiB random), etc/hostname
#      rewritten, etc/old.conf deleted (whiteout .wh.old.conf).
#   3. (umoci insert --opaque) opt/app/ replaced: only opt/app/new.txt.
#   4. (umoci insert --whiteout) usr/share/doc/README removed.
# Merged result: etc/{hostname,motd}, usr/bin/{tool,tool-link,tool-hard},
# usr/share/doc/ (empty), var/lib/app/{empty,data.bin}, opt/app/new.txt.
image_basic() {
	local dir=$1 tag=$2 bundle r src
	bundle=$(_img_begin "$dir" "$tag") || return 1
	r=$bundle/rootfs
	mkdir -p "$r/etc" "$r/usr/bin" "$r/usr/share/doc" "$r/var/lib/app" "$r/opt/app" &&
	echo "clipfs-basic" >"$r/etc/hostname" &&
	printf 'Welcome to the clipfs test image.\nLine two.\n' >"$r/etc/motd" &&
	echo "to be deleted" >"$r/etc/old.conf" &&
	printf 'README for the basic image\n' >"$r/usr/share/doc/README" &&
	random_file "$r/usr/bin/tool" 307200 basic-tool &&
	chmod 755 "$r/usr/bin/tool" &&
	ln -s tool "$r/usr/bin/tool-link" &&
	ln "$r/usr/bin/tool" "$r/usr/bin/tool-hard" &&
	: >"$r/var/lib/app/empty" &&
	echo "old one" >"$r/opt/app/one.txt" &&
	echo "old two" >"$r/opt/app/two.txt" &&
	_img_layer "$dir" "$tag" "$bundle" || return 1

	random_file "$r/var/lib/app/data.bin" 204800 basic-data &&
	echo "clipfs-basic-2" >"$r/etc/hostname" &&
	rm "$r/etc/old.conf" &&
	_img_layer "$dir" "$tag" "$bundle" || return 1
	_img_end "$dir" "$bundle" || return 1

	src=$(mktemp -d "${HARNESS_TMP:-${TMPDIR:-/tmp}}/src.XXXXXX") || return 1
	chmod 755 "$src"   # the opaque dir takes src's mode; mktemp made it 0700
	echo "the only file left in opt/app" >"$src/new.txt"
	umoci insert --image "$dir:$tag" --opaque "$src" /opt/app >/dev/null &&
	umoci insert --image "$dir:$tag" --whiteout /usr/share/doc/README >/dev/null &&
	umoci gc --layout "$dir" || return 1
	rm -rf "$src"
}

# image_symlinks DIR TAG
# tests/data/symlink-parents.layers (see there): a usrmerge base and
# entries, whiteouts, opaque markers and hardlinks through relative,
# absolute, dangling, escaping and chained links, over three layers.
# umoci cannot write such layers from a tree; Python's tarfile does.
image_symlinks() {
	python3 "$(_img_srcdir)/tests/lib/layer_stack.py" "$1" "$2" \
		"$(_img_srcdir)/tests/data/symlink-parents.layers"
}

_img_srcdir() {
	printf '%s\n' "${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
}

# image_unpack_reference DIR:TAG OUT
# umoci unpack into OUT (OUT/rootfs is the reference tree).  A directory
# that no layer has an entry for (made for a deeper path, or for a
# dangling symlink's target) has no mtime in the image: umoci gives it the
# time of the unpack, the index 0.  Those are the directories newer than
# the unpack's start; they get mtime 0 here, so that every other mtime is
# still compared.
image_unpack_reference() {
	local start
	start=$(date +%s)
	umoci unpack --image "$1" "$2" >"$2.log" 2>&1 || { cat "$2.log" >&2; return 1; }
	find "$2/rootfs" -mindepth 1 -type d -newermt "@$start" -exec touch -h -d @0 {} +
}

# _img_can_xattr DIR: can we set user.* xattrs on files in DIR?
_img_can_xattr() {
	command -v setfattr >/dev/null 2>&1 || return 1
	: >"$1/.xattr-probe" || return 1
	setfattr -n user.probe -v 0x00ff "$1/.xattr-probe" 2>/dev/null
	local rc=$?
	rm -f "$1/.xattr-probe"
	return $rc
}

# image_fixtures DIR TAG
# The fidelity zoo: every kind of tar entry and metadata an indexer must
# keep, spread over layers so merging matters. Needs root (mknod, chown).
# Layer 1 (zoo/):
#   files/   empty, small text, 100 KiB random, mtime 2001-02-03 04:05:06 UTC
#            (files/mtime), uid 1234 gid 5678 (files/owned), modes 4755
#            (setuid), 2755 (setgid), 0600, 0444; dirs/ with sticky 1777
#   links/   hardlink pair (hard-a, hard-b -> same inode as files/random),
#            symlinks: relative (rel -> ../files/text), absolute
#            (abs -> /zoo/files/text), dangling (dangling -> nowhere/at/all),
#            to a dir (dir-link -> ../files)
#   dev/     char 1:3 (null), block 7:0 (loop0), fifo
#   names/   a 250-byte name, a 20-deep path d01/.../d20/leaf,
#            non-UTF-8 names ($'\xff\xfe-latin1-\xe9'), spaces and newline
#            in a name, a name with a leading dash
#   xattr/   user.* xattrs with binary values (user.binary=0x00ff00fe01,
#            user.nul="a\0b", user.text=hello) on a file, user.dir on the dir; skipped with a note on stderr when the temp
#            dir's filesystem has no user xattrs
#   gone/    a file and a dir (gone/dir/...) deleted in layer 2
#   opaque/  a.txt, b.txt, sub/c.txt, replaced by an opaque dir in layer 3
#   change/  a file that becomes a dir, a symlink that becomes a file
# Layer 2: files/text rewritten, gone/file and gone/dir deleted (whiteouts),
#          change/ type changes, a new file with uid/gid 65534.
# Layer 3 (umoci insert --opaque): opaque/ holds only new.txt.
# Layer 4 (umoci insert --whiteout): links/rel removed by an explicit
#          whiteout.
# Total size well under 1 MB.
image_fixtures() {
	local dir=$1 tag=$2 bundle z src i deep name250
	bundle=$(_img_begin "$dir" "$tag") || return 1
	z=$bundle/rootfs/zoo
	mkdir -p "$z/files/dirs" "$z/links" "$z/dev" "$z/names" "$z/xattr" \
		"$z/gone/dir/sub" "$z/opaque/sub" "$z/change" || return 1

	# files/
	: >"$z/files/empty" &&
	printf 'plain text\n' >"$z/files/text" &&
	random_file "$z/files/random" 102400 fixtures-random &&
	echo "dated" >"$z/files/mtime" &&
	touch -d '2001-02-03 04:05:06 UTC' "$z/files/mtime" &&
	echo "owned" >"$z/files/owned" &&
	chown 1234:5678 "$z/files/owned" &&
	echo "suid" >"$z/files/setuid" && chmod 4755 "$z/files/setuid" &&
	echo "sgid" >"$z/files/setgid" && chmod 2755 "$z/files/setgid" &&
	echo "private" >"$z/files/private" && chmod 0600 "$z/files/private" &&
	echo "readonly" >"$z/files/readonly" && chmod 0444 "$z/files/readonly" &&
	chmod 1777 "$z/files/dirs" || return 1

	# links/
	ln "$z/files/random" "$z/links/hard-a" &&
	ln "$z/files/random" "$z/links/hard-b" &&
	ln -s ../files/text "$z/links/rel" &&
	ln -s /zoo/files/text "$z/links/abs" &&
	ln -s nowhere/at/all "$z/links/dangling" &&
	ln -s ../files "$z/links/dir-link" || return 1

	# dev/
	mknod "$z/dev/null" c 1 3 &&
	mknod "$z/dev/loop0" b 7 0 &&
	mkfifo "$z/dev/fifo" || return 1

	# names/
	name250=$(printf 'n%.0s' $(seq 1 250))
	echo "long name" >"$z/names/$name250" || return 1
	deep=$z/names
	for i in $(seq -w 1 20); do
		deep=$deep/d$i
	done
	mkdir -p "$deep" && echo "deep" >"$deep/leaf" &&
	echo "latin1" >"$z/names/"$'\xff\xfe-latin1-\xe9' &&
	echo "spaces" >"$z/names/with space and"$'\n'"newline" &&
	echo "dash" >"$z/names/-leading-dash" || return 1

	# xattr/
	echo "has xattrs" >"$z/xattr/file" || return 1
	if _img_can_xattr "$z/xattr"; then
		setfattr -n user.binary -v 0x00ff00fe01 "$z/xattr/file" &&
		setfattr -n user.text -v "hello" "$z/xattr/file" &&
		setfattr -n user.nul -v 0x610062 "$z/xattr/file" &&
		setfattr -n user.dir -v 0xdeadbeef "$z/xattr" || return 1
	else
		echo "image_fixtures: note: no user xattrs on this filesystem; zoo/xattr has none" >&2
	fi

	# gone/, opaque/, change/
	echo "will vanish" >"$z/gone/file" &&
	echo "will vanish too" >"$z/gone/dir/sub/file" &&
	echo a >"$z/opaque/a.txt" && echo b >"$z/opaque/b.txt" &&
	echo c >"$z/opaque/sub/c.txt" &&
	echo "file first" >"$z/change/file-to-dir" &&
	ln -s ../files/text "$z/change/link-to-file" || return 1

	# Directory mtimes last: creating entries updates them.
	touch -d '2002-03-04 05:06:07 UTC' "$z/names" || return 1
	_img_layer "$dir" "$tag" "$bundle" || return 1

	# Layer 2.
	printf 'plain text, second version\n' >"$z/files/text" &&
	rm "$z/gone/file" && rm -r "$z/gone/dir" &&
	rm "$z/change/file-to-dir" && mkdir "$z/change/file-to-dir" &&
	echo "now inside a dir" >"$z/change/file-to-dir/inner" &&
	rm "$z/change/link-to-file" && echo "now a file" >"$z/change/link-to-file" &&
	echo "nobody" >"$z/files/nobody" && chown 65534:65534 "$z/files/nobody" &&
	_img_layer "$dir" "$tag" "$bundle" || return 1
	_img_end "$dir" "$bundle" || return 1

	# Layers 3 and 4.
	src=$(mktemp -d "${HARNESS_TMP:-${TMPDIR:-/tmp}}/src.XXXXXX") || return 1
	chmod 755 "$src"   # the opaque dir takes src's mode; mktemp made it 0700
	echo "only me" >"$src/new.txt"
	umoci insert --image "$dir:$tag" --opaque "$src" /zoo/opaque >/dev/null &&
	umoci insert --image "$dir:$tag" --whiteout /zoo/links/rel >/dev/null &&
	umoci gc --layout "$dir" || return 1
	rm -rf "$src"
}

# image_config_set DIR TAG [umoci config options...]
# e.g. image_config_set "$d" t --config.entrypoint /bin/sh \
#        --config.cmd -c --config.cmd 'echo hi' --config.env FOO=bar \
#        --config.workingdir /zoo
# Rewrites the config and manifest of DIR:TAG in place (no new layer).
image_config_set() {
	local dir=$1 tag=$2
	shift 2
	umoci config --image "$dir:$tag" --no-history "$@" &&
	umoci gc --layout "$dir"
}

# image_platform DIR TAG OS ARCH: set the platform of DIR:TAG's config
# (umoci new uses the host's); image_index copies it into the index.
image_platform() {
	local dir=$1 tag=$2 os=$3 arch=$4
	image_config_set "$dir" "$tag" --os "$os" --architecture "$arch"
}

# image_manifest_digest DIR TAG: the digest of DIR:TAG's manifest (or index).
image_manifest_digest() {
	python3 - "$1" "$2" <<'EOF'
import json, sys
layout, tag = sys.argv[1], sys.argv[2]
with open(layout + "/index.json") as f:
    idx = json.load(f)
for m in idx["manifests"]:
    if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
        print(m["digest"])
        sys.exit(0)
sys.exit("no tag %s in %s" % (tag, layout))
EOF
}

# image_blob DIR DIGEST: the path of blob DIGEST in layout DIR.
image_blob() {
	printf '%s/blobs/%s/%s\n' "$1" "${2%%:*}" "${2#*:}"
}

# image_layers DIR TAG: the layer digests of DIR:TAG, base layer first.
image_layers() {
	local digest
	digest=$(image_manifest_digest "$1" "$2") || return 1
	python3 - "$(image_blob "$1" "$digest")" <<'EOF'
import json, sys
with open(sys.argv[1]) as f:
    m = json.load(f)
for layer in m["layers"]:
    print(layer["digest"])
EOF
}

# image_index OUT TAG SRC_LAYOUT:SRC_TAG...
# Make OUT:TAG an OCI image index over the given single-platform images (set
# their platforms first with image_platform). Blobs are copied into OUT; the
# platform of each entry comes from its config. Push it with
# `push_oci OUT:TAG NAME:TAG --all`.
image_index() {
	local out=$1 tag=$2
	shift 2
	if [ ! -f "$out/index.json" ]; then
		umoci init --layout "$out" || return 1
	fi
	python3 - "$out" "$tag" "$@" <<'EOF'
import hashlib, json, os, shutil, sys

out, tag, srcs = sys.argv[1], sys.argv[2], sys.argv[3:]
REF = "org.opencontainers.image.ref.name"

def blob_path(layout, digest):
    algo, hexd = digest.split(":", 1)
    return os.path.join(layout, "blobs", algo, hexd)

def load(layout, digest):
    with open(blob_path(layout, digest), "rb") as f:
        return json.loads(f.read())

def copy_blob(layout, digest):
    dst = blob_path(out, digest)
    if not os.path.exists(dst):
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(blob_path(layout, digest), dst)

entries = []
for src in srcs:
    layout, src_tag = src.rsplit(":", 1)
    with open(os.path.join(layout, "index.json")) as f:
        desc = next(m for m in json.load(f)["manifests"]
                    if m.get("annotations", {}).get(REF) == src_tag)
    manifest = load(layout, desc["digest"])
    config = load(layout, manifest["config"]["digest"])
    for d in [desc, manifest["config"]] + manifest["layers"]:
        copy_blob(layout, d["digest"])
    platform = {"architecture": config["architecture"], "os": config["os"]}
    if config.get("variant"):
        platform["variant"] = config["variant"]
    entries.append({"mediaType": desc["mediaType"], "digest": desc["digest"],
                    "size": desc["size"], "platform": platform})

index = {"schemaVersion": 2,
         "mediaType": "application/vnd.oci.image.index.v1+json",
         "manifests": entries}
data = json.dumps(index, separators=(",", ":")).encode()
digest = "sha256:" + hashlib.sha256(data).hexdigest()
path = blob_path(out, digest)
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path, "wb") as f:
    f.write(data)

with open(os.path.join(out, "index.json")) as f:
    top = json.load(f)
top["manifests"] = [m for m in (top.get("manifests") or [])  # umoci init: null
                    if m.get("annotations", {}).get(REF) != tag]
top["manifests"].append({"mediaType": index["mediaType"], "digest": digest,
                         "size": len(data), "annotations": {REF: tag}})
tmp = os.path.join(out, "index.json.tmp")
with open(tmp, "w") as f:
    json.dump(top, f)
os.rename(tmp, os.path.join(out, "index.json"))
EOF
}

# image_busybox DIR TAG: a tiny runnable image (static busybox, a user
# "app" with a supplementary group, /proc /dev /sys /tmp for runc) whose
# config runs a shell script that reports who and where it runs.
image_busybox() {
	local dir=$1 tag=$2 bundle r bb t
	bb=$(command -v busybox) || return 1
	bundle=$(_img_begin "$dir" "$tag") || return 1
	r=$bundle/rootfs
	mkdir -p "$r/bin" "$r/etc" "$r/proc" "$r/dev" "$r/sys" "$r/tmp" "$r/home/app" &&
	chmod 1777 "$r/tmp" &&
	cp "$bb" "$r/bin/busybox" &&
	for t in sh echo id cat ls touch mkdir pwd; do ln -s busybox "$r/bin/$t" || return 1; done &&
	printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n' >"$r/etc/passwd" &&
	printf 'root:x:0:\napp:x:1000:\nstaff:x:50:app\n' >"$r/etc/group" &&
	echo "motd from the image" >"$r/etc/motd" &&
	chown 1000:1000 "$r/home/app" &&
	_img_layer "$dir" "$tag" "$bundle" || return 1
	_img_end "$dir" "$bundle" || return 1
	umoci config --image "$dir:$tag" --config.user app --config.workingdir /home/app \
		--config.env "GREETING=hello from clipfs" \
		--config.entrypoint /bin/sh --config.entrypoint -c \
		--config.cmd 'echo "$GREETING"; id; pwd; cat /etc/motd; if touch /tmp/probe 2>/dev/null; then echo root-writable; else echo root-read-only; fi' \
		>/dev/null
}
