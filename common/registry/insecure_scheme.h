/*
 * insecure_scheme.h - which scheme a host marked insecure = true in
 * containers-registries.conf(5) gets.  That file says such a host may be
 * reached over "unencrypted HTTP as well as TLS connections with
 * untrusted certificates"; as containers/image does, HTTPS (certificate
 * not checked) comes first and plain HTTP only when no TLS connection to
 * the host can be made.  The caller decides once per host, when it opens
 * it, and keeps the answer.
 */
#ifndef CLIP_INSECURE_SCHEME_H
#define CLIP_INSECURE_SCHEME_H

#include "common/util/error.h"

enum clip_scheme { CLIP_SCHEME_HTTPS, CLIP_SCHEME_HTTP };

/* "https" or "http". */
const char *clip_scheme_name(enum clip_scheme s);

/*
 * Asks the host over scheme s whether it answers, in at most timeout_ms:
 * CLIP_OK for any HTTP answer (a 401 or a 404 too: the connection
 * worked), else why not.
 */
typedef clip_err (*clip_scheme_probe_fn)(void *ctx, enum clip_scheme s, long timeout_ms,
    struct clip_error *err);

/*
 * Probes HTTPS with budget_ms; when that got no answer, plain HTTP with
 * what is left of budget_ms (not at all when nothing is left: a host
 * that does not answer costs budget_ms, not twice that).
 * CLIP_SCHEME_HTTP only when plain HTTP answered; CLIP_SCHEME_HTTPS
 * otherwise, also when neither did, so that the host's requests fail,
 * and the host is skipped, as any host's that is down.  why (or NULL)
 * gets the HTTPS probe's error when it failed, else is cleared.
 */
enum clip_scheme clip_scheme_choose(clip_scheme_probe_fn probe, void *ctx, long budget_ms,
    struct clip_error *why);

#endif
