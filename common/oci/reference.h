/*
 * reference.h - image references, parsed the way docker and skopeo do.
 *
 *   [docker://]NAME[:TAG][@sha256:HEX]     an image in a registry
 *   oci:DIR[:TAG]                          an image in a local OCI layout
 *
 * NAME is [HOST[:PORT]/]PATH.  The first component is a host when it
 * contains '.' or ':', is "localhost", or has an uppercase letter;
 * otherwise the image is on Docker Hub ("docker.io", served from
 * registry-1.docker.io) and a one-component PATH gets "library/".
 * With neither tag nor digest the tag is "latest".  With both, the
 * digest is what gets pulled (the tag is kept for display).
 *
 * All functions are pure (no I/O, no globals) and thread-safe.
 */
#ifndef CLIP_REFERENCE_H
#define CLIP_REFERENCE_H

#include "common/util/error.h"

enum clip_ref_kind {
	CLIP_REF_REGISTRY = 1,
	CLIP_REF_OCI_LAYOUT = 2,
};

/* Everything is owned by the struct; release with clip_reference_free(). */
struct clip_reference {
	enum clip_ref_kind kind;
	/* CLIP_REF_REGISTRY: */
	char *registry;    /* "docker.io", "quay.io", "127.0.0.1:5000": the
	                      name credentials are looked up under */
	char *api_host;    /* HOST[:PORT] to connect to ("registry-1.docker.io") */
	char *repository;  /* "library/alpine" */
	/* both kinds: */
	char *tag;         /* NULL when only a digest was given (or, for an OCI
	                      layout, when no tag was given) */
	char *digest;      /* "sha256:..." or NULL */
	/* CLIP_REF_OCI_LAYOUT: */
	char *path;        /* the layout directory */
};

/*
 * Parses s into *out (zeroed first).  CLIP_ERR_INVALID with a detail
 * naming what is wrong; CLIP_ERR_UNSUPPORTED for an unknown transport
 * ("dir:", "docker-archive:") or a non-sha256 digest; CLIP_ERR_NOMEM.
 * On failure *out holds nothing to free.
 */
clip_err clip_reference_parse(const char *s, struct clip_reference *out,
    struct clip_error *err);

/* Frees the strings and zeroes the struct.  NULL is fine. */
void clip_reference_free(struct clip_reference *ref);

/*
 * What to ask the registry (or layout) for: the digest if there is one,
 * else the tag (may be NULL for a tagless OCI layout reference).
 * Points into ref.
 */
const char *clip_reference_target(const struct clip_reference *ref);

/*
 * The canonical form ("docker.io/library/alpine:latest",
 * "oci:/tmp/x:t"), malloc'ed; NULL when out of memory.
 */
char *clip_reference_format(const struct clip_reference *ref);

/* Grammar checks from the OCI distribution spec; 1 if valid. */
int clip_ref_repository_valid(const char *repo); /* a/b-c/d_e.f */
int clip_ref_tag_valid(const char *tag);         /* [\w][\w.-]{0,127} */

#endif
