/*
 * www_auth.h - parse a WWW-Authenticate header (RFC 7235).
 *
 * Registries answer 401 with a challenge such as
 *   Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"
 *   Basic realm="Registry Realm"
 * The header may hold several challenges separated by commas; Bearer is
 * preferred over Basic, other schemes are skipped.  Quoted strings may
 * contain backslash escapes.  Pure and thread-safe.
 */
#ifndef CLIP_WWW_AUTH_H
#define CLIP_WWW_AUTH_H

#include "common/util/error.h"

enum clip_auth_scheme {
	CLIP_AUTH_NONE = 0,
	CLIP_AUTH_BASIC,
	CLIP_AUTH_BEARER,
};

/* Strings are malloc'ed (NULL if absent); free with clip_www_auth_free(). */
struct clip_www_auth {
	enum clip_auth_scheme scheme;
	char *realm;
	char *service;
	char *scope;
};

/*
 * Parses header into *out (zeroed first).  Returns CLIP_OK with the
 * chosen challenge, CLIP_ERR_UNSUPPORTED when no Basic or Bearer
 * challenge is there (e.g. only Negotiate), CLIP_ERR_PROTOCOL when the
 * header does not parse (a Bearer challenge without a realm counts as
 * not parsing), CLIP_ERR_NOMEM.  Headers longer than 8 KiB are refused
 * (CLIP_ERR_TOOBIG).
 */
clip_err clip_www_auth_parse(const char *header, struct clip_www_auth *out,
    struct clip_error *err);

void clip_www_auth_free(struct clip_www_auth *a);

#endif
