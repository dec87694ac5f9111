/*
 * mount_source.c - where a mount's layer bytes come from: a local OCI
 * layout (--layout) or the registry the index names, with the mount's
 * credentials and timeouts.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipfs/cli.h"
#include "clipfs/mount_source.h"
#include "clipfs/registry_opts.h"

/* Everything that needs no thread and no connection. */
int
mount_source_prepare(const struct mount_opts *m, const clip_index *idx, struct mount_source *ds)
{
	struct clip_index_image im;
	struct clip_error err;
	char *name = NULL;
	long t = (long)m->timeout_s;

	clip_error_clear(&err);
	if (m->layout != NULL)
		return 0;
	clip_index_image(idx, &im);
	if (im.storage_registry.len == 0 || im.storage_repository.len == 0) {
		fprintf(stderr, "clipfs mount: %s names no registry to fetch from (it was indexed "
		    "from a local layout without --storage-ref); use --layout DIR\n", m->index_path);
		return EXIT_USAGE;
	}
	if (asprintf(&name, "%s/%s", im.storage_registry.ptr, im.storage_repository.ptr) < 0)
		return EXIT_FAILURE_GENERIC;
	if (clip_reference_parse(name, &ds->ref, &err) != CLIP_OK ||
	    ds->ref.kind != CLIP_REF_REGISTRY) {
		fprintf(stderr, "clipfs mount: storage reference '%s' in the index: %s\n", name,
		    clip_error_message(&err));
		free(name);
		return EXIT_BAD_INDEX;
	}
	free(name);
	if (clip_auth_lookup(ds->ref.registry, m->registry.creds, m->registry.authfile, &ds->creds, &err) != CLIP_OK) {
		clipfs_report("mount", &err);
		return EXIT_USAGE;
	}
	if (registry_cli_mirrors(&m->registry, ds->ref.registry, ds->ref.repository,
	    !m->ref_by_tag, ds->mirror_hosts, &ds->nmirror_hosts, &err) != CLIP_OK) {
		clipfs_report("mount", &err);
		return clipfs_exit_code(err.code);
	}
	clip_registry_opts_init(&ds->ro);
	ds->ro.plain_http = m->registry.plain_http || (im.storage_flags & CLIP_STORAGE_PLAIN_HTTP);
	ds->ro.tls_verify = m->registry.tls_verify;
	ds->ro.cacert = m->registry.cacert;
	ds->ro.username = ds->creds.username;
	ds->ro.password = ds->creds.password;
	/* A read must fail with EIO in about t seconds when the registry is
	 * gone or stalls: two tries, each bounded by t/2.  Ranged blob reads
	 * have no total timeout (request_timeout_s is for small requests),
	 * only the connect and stall timeouts, so those are what bound a try. */
	ds->ro.connect_timeout_s = t / 2 > 0 ? t / 2 : 1;
	ds->ro.low_speed_time_s = t / 2 > 0 ? t / 2 : 1;
	ds->ro.request_timeout_s = t / 2 > 0 ? t / 2 : 1;
	ds->ro.max_retries = 1;
	return 0;
}

/* The mirrors, then the registry, as the layer source; each
 * mirror with the mount's timeouts and its own host's credentials, plain
 * HTTP with --plain-http unless it is insecure (then as it answers, and
 * the scheme it got logged). */
static clip_err
mirrors_open(const struct mount_opts *m, struct mount_source *ds, struct clip_error *err)
{
	struct clip_registry_opts base = ds->ro;
	struct clip_mirror_host_stats st;
	clip_registry *r = ds->registry;
	char origin[512];
	clip_err rc;
	size_t i;

	base.plain_http = m->registry.plain_http;
	snprintf(origin, sizeof(origin), "%s/%s", ds->ref.api_host, ds->ref.repository);
	ds->registry = NULL;   /* the set's now, even on failure */
	rc = clip_mirror_set_open(ds->mirror_hosts, ds->nmirror_hosts, &base,
	    m->registry.authfile, r, origin, &ds->mirrors, &ds->src, err);
	for (i = 0; rc == CLIP_OK && i < ds->nmirror_hosts; i++) {
		clip_mirror_set_stats(ds->mirrors, i, &st);
		registry_cli_log_scheme(&ds->mirror_hosts[i],
		    strcmp(st.scheme, "http") == 0);
	}
	return rc;
}

/* After fork: opens the layout or the registry handle. */
clip_err
mount_source_open(const struct mount_opts *m, struct mount_source *ds, struct clip_error *err)
{
	clip_err rc;

	if (m->layout != NULL)
		return clip_layout_source_new(m->layout, &ds->layout, &ds->src, err);
	if ((rc = clip_registry_global_init(err)) != CLIP_OK)
		return rc;
	rc = clip_registry_open(ds->ref.api_host, ds->ref.repository, &ds->ro, &ds->registry, err);
	if (rc != CLIP_OK)
		return rc;
	if (ds->nmirror_hosts > 0)
		return mirrors_open(m, ds, err);
	clip_registry_blob_source(ds->registry, &ds->src);
	return CLIP_OK;
}

void
mount_source_close(struct mount_source *ds)
{
	clip_layout_source_free(ds->layout);
	clip_mirror_set_free(ds->mirrors);
	clip_registry_close(ds->registry);
	clip_reference_free(&ds->ref);
	clip_creds_free(&ds->creds);
}
