/*
 * fuzz_www_auth.c - libFuzzer target for clip_www_auth_parse.
 *
 * The input is the header value.  On success the chosen challenge must be
 * Basic or Bearer, and a Bearer one must have a realm (www_auth.h).
 */
#include "config.h"

#include <string.h>

#include "common/registry/www_auth.h"
#include "tests/fuzz/fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static void
touch(const char *s)
{
	volatile size_t n;

	if (s != NULL)
		n = strlen(s);
	(void)n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct clip_www_auth a;
	struct clip_error err;
	char *s = malloc(size + 1);

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (clip_www_auth_parse(s, &a, &err) == CLIP_OK) {
		FUZZ_ASSERT(a.scheme == CLIP_AUTH_BASIC || a.scheme == CLIP_AUTH_BEARER);
		FUZZ_ASSERT(a.scheme != CLIP_AUTH_BEARER || a.realm != NULL);
		touch(a.realm);
		touch(a.service);
		touch(a.scope);
	} else {
		FUZZ_ASSERT(a.realm == NULL && a.service == NULL && a.scope == NULL);
	}
	clip_www_auth_free(&a);
	free(s);
	return 0;
}
