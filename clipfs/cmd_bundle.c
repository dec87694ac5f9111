/*
 * cmd_bundle.c - clipfs bundle: an OCI runtime bundle whose root is a
 * clipfs mount, so `runc run` starts the image without unpacking it.
 *
 * Read-only by default (root.readonly); with --writable an overlayfs is
 * mounted at BUNDLE/rootfs, with the clipfs mount as its lower layer and
 * its upper and work directories in the bundle, so the container can
 * write while the image stays untouched.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "clipfs/cli.h"
#include "clipfs/oci_spec.h"

static void
bundle_usage(FILE *out)
{
	fprintf(out,
	    "Usage: clipfs bundle [--writable] IMAGE.clip MOUNTPOINT BUNDLE_DIR\n"
	    "\n"
	    "Write BUNDLE_DIR/config.json, an OCI runtime bundle that runs the image\n"
	    "mounted at MOUNTPOINT (by clipfs mount) as its root: args from Entrypoint +\n"
	    "Cmd, Env, Cwd from WorkingDir, uid/gid from User (looked up in the image's own\n"
	    "/etc/passwd and /etc/group through the mount).  Then: runc run -b BUNDLE_DIR ID\n"
	    "\n"
	    "  -w, --writable  mount an overlayfs at BUNDLE_DIR/rootfs (upper and work dirs\n"
	    "                  in the bundle) so the container can write; the image stays\n"
	    "                  untouched.  umount BUNDLE_DIR/rootfs when done.\n"
	    "  -h, --help      show this help\n");
}

static int
make_dir(const char *base, const char *name, char *out, size_t len)
{
	if (snprintf(out, len, "%s/%s", base, name) >= (int)len)
		return -1;
	if (mkdir(out, 0755) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

static int
mount_overlay(const char *lower, const char *bundle, char *rootfs, size_t len)
{
	char upper[PATH_MAX], work[PATH_MAX], opts[3 * PATH_MAX + 64];

	if (make_dir(bundle, "upper", upper, sizeof(upper)) != 0 ||
	    make_dir(bundle, "work", work, sizeof(work)) != 0 ||
	    make_dir(bundle, "rootfs", rootfs, len) != 0) {
		fprintf(stderr, "clipfs bundle: %s: %s\n", bundle, strerror(errno));
		return -1;
	}
	if (snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s", lower, upper,
	    work) >= (int)sizeof(opts)) {
		fprintf(stderr, "clipfs bundle: paths too long for overlayfs\n");
		return -1;
	}
	if (mount("overlay", rootfs, "overlay", 0, opts) != 0) {
		fprintf(stderr, "clipfs bundle: mounting overlayfs at %s: %s\n", rootfs, strerror(errno));
		return -1;
	}
	return 0;
}

/* Whether the mount at mp has allow_other (from /proc/self/mountinfo). */
static int
mounted_allow_other(const char *mp)
{
	char line[8192], dir[PATH_MAX];
	FILE *f = fopen("/proc/self/mountinfo", "r");
	int found = 1;   /* if we cannot tell, do not warn */

	if (f == NULL)
		return 1;
	while (fgets(line, sizeof(line), f) != NULL) {
		/* id parent major:minor root mountpoint options ... - type source superopts */
		if (sscanf(line, "%*s %*s %*s %*s %4095s", dir) != 1 || strcmp(dir, mp) != 0)
			continue;
		found = strstr(line, "allow_other") != NULL;
	}
	fclose(f);
	return found;
}

static int
write_json(json_t *spec, const char *bundle)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];

	if (snprintf(path, sizeof(path), "%s/config.json", bundle) >= (int)sizeof(path))
		return -1;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (json_dump_file(spec, tmp, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0 ||
	    rename(tmp, path) != 0) {
		fprintf(stderr, "clipfs bundle: cannot write %s: %s\n", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

int
cmd_bundle(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "writable", no_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char mp[PATH_MAX], bundle[PATH_MAX], rootfs[PATH_MAX], msg[512];
	struct clip_index_image im;
	struct oci_user user;
	clip_index *idx = NULL;
	json_t *cfg = NULL, *spec = NULL;
	const char *user_s;
	int c, writable = 0, rc;

	while ((c = getopt_long(argc, argv, "wh", longopts, NULL)) != -1) {
		switch (c) {
		case 'w': writable = 1; break;
		case 'h': bundle_usage(stdout); return EXIT_OK;
		default: bundle_usage(stderr); return EXIT_USAGE;
		}
	}
	if (argc - optind != 3) {
		bundle_usage(stderr);
		return EXIT_USAGE;
	}
	if ((rc = clipfs_index_open(argv[optind], &idx)) != EXIT_OK)
		return rc;
	rc = EXIT_FAILURE_GENERIC;
	if (realpath(argv[optind + 1], mp) == NULL) {
		fprintf(stderr, "clipfs bundle: %s: %s\n", argv[optind + 1], strerror(errno));
		goto out;
	}
	if ((mkdir(argv[optind + 2], 0755) != 0 && errno != EEXIST) ||
	    realpath(argv[optind + 2], bundle) == NULL) {
		fprintf(stderr, "clipfs bundle: %s: %s\n", argv[optind + 2], strerror(errno));
		goto out;
	}
	clip_index_image(idx, &im);
	cfg = im.config_json.len ? json_loadb(im.config_json.ptr, im.config_json.len,
	    JSON_ALLOW_NUL, NULL) :
	    json_object();
	if (cfg == NULL) {
		fprintf(stderr, "clipfs bundle: the image config in the index is not JSON\n");
		rc = EXIT_BAD_INDEX;
		goto out;
	}
	user_s = json_string_value(json_object_get(cfg, "User"));
	if (oci_user_resolve(mp, user_s, &user, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "clipfs bundle: %s\n", msg);
		rc = EXIT_BAD_IMAGE;
		goto out;
	}
	if (user.uid != 0 && !writable && !mounted_allow_other(mp))
		fprintf(stderr, "clipfs bundle: warning: the image runs as uid %u but %s was not "
		    "mounted with -o allow_other; the container will get EACCES\n", user.uid, mp);
	if (writable) {
		if (mount_overlay(mp, bundle, rootfs, sizeof(rootfs)) != 0)
			goto out;
	} else {
		snprintf(rootfs, sizeof(rootfs), "%s", mp);
	}
	spec = oci_spec_build(cfg, &user, rootfs, !writable, msg, sizeof(msg));
	if (spec == NULL) {
		fprintf(stderr, "clipfs bundle: %s\n", msg);
		rc = EXIT_BAD_IMAGE;
	} else if (write_json(spec, bundle) == 0) {
		rc = EXIT_OK;
	}
	if (rc != EXIT_OK && writable)
		umount(rootfs);
out:
	json_decref(spec);
	json_decref(cfg);
	clip_index_close(idx);
	return rc;
}
