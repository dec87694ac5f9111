/* cli.c - what the subcommands share: exit codes, reports, secrets (cli.h). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "clipfs/cli.h"

int
clipfs_exit_code(clip_err code)
{
	switch (code) {
	case CLIP_OK:
		return EXIT_OK;
	case CLIP_ERR_FORMAT:
	case CLIP_ERR_VERSION:
		return EXIT_BAD_INDEX;
	case CLIP_ERR_NETWORK:
	case CLIP_ERR_TIMEOUT:
	case CLIP_ERR_HTTP:
	case CLIP_ERR_AUTH:
	case CLIP_ERR_PROTOCOL:
		return EXIT_REGISTRY;
	case CLIP_ERR_CHECKSUM:
	case CLIP_ERR_GZIP:
	case CLIP_ERR_TAR:
	case CLIP_ERR_IMAGE:
	case CLIP_ERR_UNSUPPORTED:
	case CLIP_ERR_TOOBIG:
		return EXIT_BAD_IMAGE;
	case CLIP_ERR_INVALID:
		return EXIT_USAGE;
	case CLIP_ERR_NOMEM:
	case CLIP_ERR_IO:
	case CLIP_ERR_NOTFOUND:
	case CLIP_ERR_CANCELLED:
		return EXIT_FAILURE_GENERIC;
	}
	return EXIT_FAILURE_GENERIC;
}

void
clipfs_report(const char *what, const struct clip_error *err)
{
	if (what != NULL)
		fprintf(stderr, "clipfs: %s: %s\n", what, clip_error_message(err));
	else
		fprintf(stderr, "clipfs: %s\n", clip_error_message(err));
}

/* Overwrites what follows the first ':' of the n bytes at s. */
static void
mask_password(char *s, size_t n)
{
	char *colon = memchr(s, ':', n);

	if (colon != NULL)
		memset(colon + 1, '*', n - (size_t)(colon + 1 - s));
}

const char *
clipfs_hide_secret(char *arg)
{
	/* Reachable to the end, so not a leak: a command takes --creds once
	 * or twice, and what it was given is needed until it exits.  volatile:
	 * the array is only ever written, and an optimiser would drop the
	 * stores (valgrind then calls the copies lost). */
	static char *volatile kept[8];
	static size_t nkept;
	char *copy;

	if (arg == NULL || nkept == sizeof(kept) / sizeof(kept[0]) ||
	    (copy = strdup(arg)) == NULL)
		return arg;
	kept[nkept++] = copy;
	mask_password(arg, strlen(arg));
	return copy;
}

void
clipfs_hide_secret_opts(char *list)
{
	char *p = list;

	while ((p = strstr(p, "creds=")) != NULL) {
		if (p == list || p[-1] == ',')
			mask_password(p + 6, strcspn(p + 6, ","));
		p += 6;
	}
}

int
clipfs_index_open(const char *path, clip_index **idx)
{
	struct clip_error err;

	clip_error_clear(&err);
	if (clip_index_open(path, idx, &err) == CLIP_OK)
		return EXIT_OK;
	clipfs_report(NULL, &err);
	/* A missing or unreadable file is not a damaged index. */
	return err.code == CLIP_ERR_IO || err.code == CLIP_ERR_NOMEM ?
	    EXIT_FAILURE_GENERIC : EXIT_BAD_INDEX;
}
