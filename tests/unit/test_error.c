/* test_error.c - the error type keeps details and prefixes them. */
#include "config.h"

#include "common/util/error.h"
#include "tests/unit/test.h"

TEST(test_set_and_prefix)
{
	struct clip_error e;

	clip_error_clear(&e);
	CHECK(strcmp(clip_error_message(&e), "success") == 0);
	CHECK(clip_error_set(&e, CLIP_ERR_CHECKSUM, "span %d", 7) == CLIP_ERR_CHECKSUM);
	CHECK(strcmp(clip_error_message(&e), "span 7") == 0);
	CHECK(clip_error_prefix(&e, "layer %d", 2) == CLIP_ERR_CHECKSUM);
	CHECK(strcmp(clip_error_message(&e), "layer 2: span 7") == 0);
	CHECK(clip_error_set(NULL, CLIP_ERR_IO, "ignored") == CLIP_ERR_IO);
}

TEST(test_every_code_has_a_message)
{
	int c;

	for (c = CLIP_OK; c <= CLIP_ERR_CANCELLED; c++)
		CHECK(strcmp(clip_strerror((clip_err)c), "unknown error") != 0);
}

TEST_MAIN(test_set_and_prefix, test_every_code_has_a_message)
