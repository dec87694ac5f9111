/*
 * registries_conf.h - containers-registries.conf(5), version 2: which
 * mirrors serve an image, read from the files podman, skopeo and CRI-O
 * use (/etc/containers/registries.conf and registries.conf.d/ *.conf).
 *
 * The parser takes the TOML subset those files are written in and
 * nothing else: comments, key = value with basic or literal strings,
 * booleans and arrays of strings (over several lines too), the tables
 * [[registry]], [[registry.mirror]] and [aliases].  Anything else
 * (another table, an unknown key, inline tables, multi-line strings,
 * numbers, the version 1 [registries.search] format, a key given twice)
 * is an error naming the file and line.  Keys that do not change which
 * host clipfs asks (unqualified-search-registries, short-name-mode,
 * credential-helpers, [aliases]) are checked and ignored.
 */
#ifndef CLIP_REGISTRIES_CONF_H
#define CLIP_REGISTRIES_CONF_H

#include <stddef.h>

#include "common/registry/mirrors.h"
#include "common/util/error.h"

#define CLIP_REGCONF_DEFAULT "/etc/containers/registries.conf"
#define CLIP_REGCONF_DEFAULT_DIR "/etc/containers/registries.conf.d"

/* pull-from-mirror (and mirror-by-digest-only): which references a
 * mirror serves. */
enum clip_regconf_pull { CLIP_PULL_ALL, CLIP_PULL_DIGEST_ONLY, CLIP_PULL_TAG_ONLY };

struct clip_regconf_mirror {
	char *location;                /* HOST[:PORT][/PATH] */
	int insecure;
	enum clip_regconf_pull pull;   /* its own, else the registry's */
	int pull_set;
};

struct clip_regconf_registry {
	char *prefix;                  /* HOST[:PORT][/PATH] or *.DOMAIN; location if unset */
	char *location;                /* or NULL */
	int insecure, blocked;
	enum clip_regconf_pull pull;
	struct clip_regconf_mirror *mirrors;
	size_t nmirrors;
	unsigned line;                 /* where its [[registry]] is, for messages */
};

typedef struct clip_regconf {
	struct clip_regconf_registry *regs;
	size_t n;
} clip_regconf;

/*
 * Parses text (len bytes, named name in messages) into c, after what c
 * holds already: a [[registry]] whose prefix c has replaces that one
 * (later drop-in files override earlier ones).  CLIP_ERR_FORMAT with
 * "NAME:LINE: what" for anything outside the subset, CLIP_ERR_NOMEM.
 * On error c keeps what it had before.
 */
clip_err clip_regconf_parse(clip_regconf *c, const char *name, const char *text, size_t len,
    struct clip_error *err);

/* Reads and parses the file at path (at most 1 MiB).  CLIP_ERR_IO naming
 * the file (CLIP_ERR_NOTFOUND when it does not exist), or the parse's. */
clip_err clip_regconf_load_file(clip_regconf *c, const char *path, struct clip_error *err);

/* The defaults: file (missing is fine), then dir's *.conf in name order
 * (a missing dir is fine). */
clip_err clip_regconf_load_default(clip_regconf *c, const char *file, const char *dir,
    struct clip_error *err);

/* Frees what c holds and empties it; NULL is fine. */
void clip_regconf_free(clip_regconf *c);

/*
 * The [[registry]] entry for the image registry/repository (the longest
 * prefix that matches at a path component boundary; a *.DOMAIN prefix
 * matches hosts under DOMAIN, less than any path prefix), or NULL.
 */
const struct clip_regconf_registry *clip_regconf_find(const clip_regconf *c,
    const char *registry, const char *repository);

/*
 * The mirrors of reg for the image registry/repository, in order, the
 * part of the name after the prefix appended to each location, those
 * that do not serve this kind of reference (by_digest) left out; at most
 * max, each labelled HOST/REPOSITORY.  *n is how many.  CLIP_ERR_INVALID
 * for a name that does not fit.
 */
clip_err clip_regconf_mirrors(const struct clip_regconf_registry *reg, const char *registry,
    const char *repository, int by_digest, struct clip_mirror_host *out, size_t max,
    size_t *n, struct clip_error *err);

#endif
