/*
 * fuzz_auth_config.c - libFuzzer target for auth files (auth.json,
 * ~/.docker/config.json) and the base64 decoder.
 *
 * clip_auth_lookup() reads a file by name, so the input is written to a
 * memfd and passed as /proc/self/fd/N; no file on disk is touched.  The
 * first byte picks the registry looked up (Docker Hub aliases, a port, a
 * plain host), the rest is the file.  The input is also decoded as
 * base64.
 */
#include "config.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/registry/auth_config.h"
#include "common/util/base64.h"
#include "tests/fuzz/fuzz.h"

static const char *const registries[] = {
	"docker.io", "index.docker.io", "registry-1.docker.io", "quay.io",
	"127.0.0.1:5000", "localhost", "[::1]:5000", "a",
};
#define N_REGISTRIES (sizeof(registries) / sizeof(registries[0]))

static int memfd = -1;
static char memfd_path[64];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	memfd = memfd_create("fuzz_auth_config", MFD_CLOEXEC);
	FUZZ_ASSERT(memfd >= 0);
	snprintf(memfd_path, sizeof(memfd_path), "/proc/self/fd/%d", memfd);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct clip_creds c;
	struct clip_error err;
	char *s, *dec;
	size_t declen;

	if (size < 1)
		return 0;
	FUZZ_ASSERT(ftruncate(memfd, 0) == 0);
	FUZZ_ASSERT(pwrite(memfd, data + 1, size - 1, 0) == (ssize_t)(size - 1));
	if (clip_auth_lookup(registries[data[0] % N_REGISTRIES], NULL, memfd_path, &c,
	    &err) == CLIP_OK) {
		FUZZ_ASSERT((c.username == NULL) == (c.password == NULL));
		if (c.username != NULL)
			(void)strlen(c.username), (void)strlen(c.password);
	}
	clip_creds_free(&c);

	s = malloc(size);
	if (s == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	dec = clip_base64_decode(s, &declen);
	if (dec != NULL) {
		FUZZ_ASSERT(dec[declen] == '\0');
		FUZZ_ASSERT(declen <= (size - 1) / 4 * 3 + 3);
		free(dec);
	}
	/* "USER:PASS" given directly. */
	if (clip_auth_lookup(registries[data[0] % N_REGISTRIES], s, NULL, &c, &err) == CLIP_OK)
		FUZZ_ASSERT(c.username != NULL && c.password != NULL);
	clip_creds_free(&c);
	free(s);
	return 0;
}
