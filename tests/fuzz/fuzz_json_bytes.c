/*
 * fuzz_json_bytes.c - libFuzzer target for the byte strings of clipfs's
 * JSON output (common/util/json_bytes.h: index --json, inspect --json,
 * stats --json all write paths and image strings through it).
 *
 * The input is the bytes.  They are stored under a key, the object is
 * written as clipfs writes it and parsed back as a script would (jansson,
 * no flags): the member must be there, a string; KEY_hex must be there
 * exactly when the bytes are not NUL-free valid UTF-8 (checked against
 * jansson's own UTF-8 check); and clip_json_get_bytes must give the input
 * back, byte for byte.
 */
#include "config.h"

#include <string.h>

#include <jansson.h>

#include "common/util/json_bytes.h"
#include "tests/fuzz/fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

/* Whether jansson itself takes the bytes as a string (UTF-8, and no NUL
 * since the reader below does not allow one). */
static int
plain_string(const uint8_t *data, size_t size)
{
	json_t *s;

	if (memchr(data, 0, size) != NULL)
		return 0;
	s = json_stringn((const char *)data, size);
	json_decref(s);
	return s != NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *obj = json_object(), *back;
	char *text, *bytes;
	size_t len;

	if (obj == NULL || clip_json_set_bytes(obj, "path", data, size) != 0) {
		json_decref(obj);
		return 0;   /* out of memory only */
	}
	text = json_dumps(obj, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(obj);
	FUZZ_ASSERT(text != NULL);
	back = json_loads(text, 0, NULL);
	free(text);
	FUZZ_ASSERT(back != NULL);
	FUZZ_ASSERT(json_is_string(json_object_get(back, "path")));
	FUZZ_ASSERT((json_object_get(back, "path_hex") == NULL) == plain_string(data, size));
	bytes = clip_json_get_bytes(back, "path", &len);
	FUZZ_ASSERT(bytes != NULL && len == size && memcmp(bytes, data, size) == 0);
	FUZZ_ASSERT(bytes[len] == '\0');
	if (json_object_get(back, "path_hex") == NULL)
		FUZZ_ASSERT(strcmp(json_string_value(json_object_get(back, "path")), bytes) == 0);
	free(bytes);
	json_decref(back);
	return 0;
}
