/*
 * cmd_push.c - clipfs push: store an index in its image's repository as
 * an OCI artifact (clip(5), PUBLISHING); also clipfs index --push.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clipfs/cli.h"
#include "clipfs/registry_opts.h"
#include "common/registry/index_artifact.h"
#include "common/util/atomic_file.h"

struct push_args {
	struct registry_cli_opts registry;
};

static const struct opt_table tables[] = {
	REGISTRY_OPT_TABLE_NO_MIRRORS(offsetof(struct push_args, registry)),
};
#define NTABLES (sizeof(tables) / sizeof(tables[0]))

static void
push_usage(FILE *out)
{
	struct push_args a;

	registry_cli_opts_init(&a.registry);
	fprintf(out,
	    "Usage: clipfs push [OPTIONS] INDEX.clip [REF]\n"
	    "\n"
	    "Store INDEX.clip in the registry as an OCI artifact whose subject is the image\n"
	    "it describes, so that clipfs mount REF finds it.  REF names the repository\n"
	    "([docker://]HOST[:PORT]/REPO; a tag or digest in it is ignored); default: the\n"
	    "repository the index fetches its layers from.  The image must be there.\n"
	    "\n");
	opt_usage(out, &tables[0], &a);
	fprintf(out, "  -h, --help                show this help\n");
}

/* Where to publish: ref, else the index's storage repository. */
static int
push_target(const clip_index *idx, const char *ref, const char *path,
    struct clip_reference *out)
{
	struct clip_index_image im;
	struct clip_error err;
	char *name = NULL;
	int rc = EXIT_OK;

	clip_error_clear(&err);
	clip_index_image(idx, &im);
	if (ref == NULL && (im.storage_registry.len == 0 || im.storage_repository.len == 0)) {
		fprintf(stderr, "clipfs push: %s names no registry (indexed from a layout without "
		    "--storage-ref); give REF\n", path);
		return EXIT_USAGE;
	}
	if (ref == NULL && asprintf(&name, "%s/%s", im.storage_registry.ptr,
	    im.storage_repository.ptr) < 0)
		return EXIT_FAILURE_GENERIC;
	if (clip_reference_parse(ref ? ref : name, out, &err) != CLIP_OK ||
	    out->kind != CLIP_REF_REGISTRY) {
		fprintf(stderr, "clipfs push: '%s' is not a registry repository%s%s\n",
		    ref ? ref : name, err.msg[0] ? ": " : "", clip_error_message(&err));
		clip_reference_free(out);
		rc = EXIT_USAGE;
	}
	free(name);
	return rc;
}

static void
report_published(const char *path, const struct clip_reference *ref, const char *subject,
    const struct clip_publish_report *rep)
{
	if (rep->already)
		fprintf(stderr, "clipfs: %s is already published for %s in %s/%s (%s)\n", path,
		    subject, ref->registry, ref->repository, rep->artifact_digest);
	else
		fprintf(stderr, "clipfs: published %s for %s in %s/%s as %s (%s)\n", path, subject,
		    ref->registry, ref->repository, rep->artifact_digest,
		    rep->via_api ? "referrers API" : rep->tag);
}

/* Reads the index, finds its image in the registry, publishes.  An exit
 * status; the registry library is initialised. */
static int
publish(const char *path, const clip_index *idx, const struct clip_reference *ref,
    const struct registry_cli_opts *o, struct clip_error *err)
{
	struct clip_index_image im;
	struct clip_fetched_manifest subject;
	struct clip_publish_report rep;
	clip_registry *r = NULL;
	char created[32], format[16], digest[CLIP_DIGEST_BUFSZ];
	void *data = NULL;
	size_t len;
	time_t now = time(NULL);
	clip_err rc;

	memset(&subject, 0, sizeof(subject));
	clip_index_image(idx, &im);
	snprintf(digest, sizeof(digest), "%.*s", (int)im.manifest_digest.len, im.manifest_digest.ptr);
	strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	snprintf(format, sizeof(format), "2.%u", (unsigned)clip_index_version_minor(idx));
	rc = clip_read_file(path, CLIP_ARTIFACT_MAX, &data, &len, err);
	if (rc == CLIP_OK)
		rc = registry_cli_open(o, ref, (im.storage_flags & CLIP_STORAGE_PLAIN_HTTP) != 0, 1,
		    NULL, &r, err);
	if (rc == CLIP_OK && (rc = clip_registry_get_manifest(r, digest, &subject, err)) ==
	    CLIP_ERR_NOTFOUND)
		clip_error_prefix(err, "the image the index describes is not in %s/%s; push it "
		    "there first", ref->registry, ref->repository);
	if (rc == CLIP_OK)
		rc = clip_index_publish(r, data, len, format, created, &subject, &rep, err);
	if (rc == CLIP_OK)
		report_published(path, ref, digest, &rep);
	clip_fetched_manifest_free(&subject);
	clip_registry_close(r);
	free(data);
	return rc == CLIP_OK ? EXIT_OK : clipfs_exit_code(rc);
}

int
clipfs_push_index(const char *path, const char *ref, const struct registry_cli_opts *o)
{
	struct clip_reference target;
	struct clip_error err;
	clip_index *idx = NULL;
	int rc;

	clip_error_clear(&err);
	memset(&target, 0, sizeof(target));
	if ((rc = clipfs_index_open(path, &idx)) != EXIT_OK)
		return rc;
	rc = push_target(idx, ref, path, &target);
	if (rc == EXIT_OK && clip_registry_global_init(&err) != CLIP_OK)
		rc = EXIT_FAILURE_GENERIC;
	else if (rc == EXIT_OK) {
		rc = publish(path, idx, &target, o, &err);
		clip_registry_global_cleanup();
	}
	if (rc != EXIT_OK && err.msg[0] != '\0')
		clipfs_report("push", &err);
	clip_reference_free(&target);
	clip_index_close(idx);
	return rc;
}

int
cmd_push(int argc, char **argv)
{
	struct option lo[32];
	struct push_args a;
	const struct opt_table *t;
	const struct opt_def *d;
	size_t n;
	int c;

	registry_cli_opts_init(&a.registry);
	n = opt_long_options(tables, NTABLES, lo, 30);
	lo[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	lo[n] = (struct option){ NULL, 0, NULL, 0 };
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if ((d = opt_by_val(tables, NTABLES, c, &t)) != NULL) {
			if (opt_set(&a, t, d, optarg) != 0) {
				fprintf(stderr, "clipfs push: bad value for --%s\n", d->name);
				return EXIT_USAGE;
			}
		} else if (c == 'h') {
			push_usage(stdout);
			return EXIT_OK;
		} else {
			push_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (argc - optind < 1 || argc - optind > 2) {
		push_usage(stderr);
		return EXIT_USAGE;
	}
	return clipfs_push_index(argv[optind], argc - optind == 2 ? argv[optind + 1] : NULL,
	    &a.registry);
}
