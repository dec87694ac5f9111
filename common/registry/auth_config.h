/*
 * auth_config.h - find registry credentials the way podman/skopeo do.
 *
 * Order: an explicit "USER:PASS"; else an explicit auth file (only that
 * one); else the first of $REGISTRY_AUTH_FILE,
 * $XDG_RUNTIME_DIR/containers/auth.json, $DOCKER_CONFIG/config.json,
 * ~/.docker/config.json that has an entry for the registry.  An entry is
 * "auths": { KEY: { "auth": base64(USER:PASS) } } (or "username" and
 * "password" fields); KEY may carry a scheme and path
 * ("https://index.docker.io/v1/"), and Docker Hub is found under
 * docker.io, index.docker.io and registry-1.docker.io.  Credential
 * helpers (credsStore, credHelpers) are not run.
 *
 * Reads files and the environment (getenv): not for use while another
 * thread changes the environment.
 */
#ifndef CLIP_AUTH_CONFIG_H
#define CLIP_AUTH_CONFIG_H

#include <stddef.h>

#include "common/util/error.h"

/* Owned by the struct; free with clip_creds_free (which wipes them). */
struct clip_creds {
	char *username;  /* NULL when no credentials were found */
	char *password;
};

/* Auth files larger than this are refused (CLIP_ERR_TOOBIG). */
#define CLIP_AUTH_FILE_MAX (1024 * 1024)

/*
 * Looks up credentials for registry ("docker.io", "host:5000").
 * creds ("USER:PASS") and authfile may be NULL.  Returns CLIP_OK with
 * out->username NULL when nothing is configured.  Errors:
 * CLIP_ERR_INVALID (creds without ':', a bad base64 "auth"),
 * CLIP_ERR_IO (explicit authfile unreadable; implicit files that do not
 * exist are skipped), CLIP_ERR_FORMAT (a file that is not JSON),
 * CLIP_ERR_TOOBIG, CLIP_ERR_NOMEM.  Messages name files and registries,
 * never the secrets.
 */
clip_err clip_auth_lookup(const char *registry, const char *creds,
    const char *authfile, struct clip_creds *out, struct clip_error *err);

void clip_creds_free(struct clip_creds *c);

#endif
