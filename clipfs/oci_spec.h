/*
 * oci_spec.h - an OCI runtime config.json for an image served by clipfs:
 * the process comes from the image config stored in the index, the
 * namespaces, mounts and masks are runc's defaults.
 */
#ifndef CLIPFS_OCI_SPEC_H
#define CLIPFS_OCI_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct oci_user {
	uint32_t uid, gid;
	uint32_t extra_gids[64];
	size_t nextra;
};

/*
 * Resolves the image's User ("", "name", "uid", "name:group", "uid:gid",
 * ...) against ROOTFS/etc/passwd and ROOTFS/etc/group, the way container
 * engines do: a name must exist; a bare numeric uid that is not in
 * passwd gets gid 0.  Returns 0, or -1 with a message in msg.
 */
int oci_user_resolve(const char *rootfs, const char *user, struct oci_user *out,
    char *msg, size_t msglen);

/*
 * The config.json object: args = Entrypoint + Cmd, env = Env (PATH added
 * if missing), cwd = WorkingDir (default "/"), root = root_path.
 * image_config is the index's config_json (an object, may be empty).
 * NULL with msg set if the image has nothing to run.
 */
json_t *oci_spec_build(json_t *image_config, const struct oci_user *user,
    const char *root_path, int readonly, char *msg, size_t msglen);

#endif
