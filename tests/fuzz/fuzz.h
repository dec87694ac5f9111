/*
 * fuzz.h - what every harness in tests/fuzz/ defines.
 *
 * Each fuzz_*.c is a libFuzzer target.  Built with --enable-fuzzing it
 * links against libFuzzer (-fsanitize=fuzzer), which supplies main();
 * in every build it also links against replay_main.c, which runs the
 * harness once per file, so the committed corpora and regressions are
 * replayed by `make check` with any compiler.
 *
 * A harness returns 0 and never prints.  When it sees an API break its
 * own contract (a listed name that lookup cannot find, a span that does
 * not inflate to what the indexer saw) it calls FUZZ_ASSERT, which
 * aborts, so the fuzzer records the input as a crash.
 */
#ifndef CLIP_FUZZ_H
#define CLIP_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: fuzz assertion failed: %s\n", \
		    __FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

#endif
