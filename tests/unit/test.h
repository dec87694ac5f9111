/*
 * test.h - a very small unit test runner.
 *
 * A test file defines its tests with TEST(name) { ... } and ends with
 * TEST_MAIN(test_a, test_b, ...).  CHECK() records a failure with file
 * and line and returns from the test; the program exits 1 if any test
 * failed, so automake counts the file as one failing test.  Each test
 * runs in a fresh temporary directory (its current directory), removed
 * when it passes and kept, with its path printed, when it fails.
 */
#ifndef CLIP_TEST_H
#define CLIP_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern int test_failed;

#define TEST(name) static void name(void)

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
		test_failed = 1; \
		return; \
	} \
} while (0)

#define CHECK_MSG(cond, ...) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
		test_failed = 1; \
		return; \
	} \
} while (0)

/* CHECK that a clip_err is CLIP_OK, printing the error detail if not. */
#define CHECK_OK(expr, errp) do { \
	clip_err check_rc_ = (expr); \
	if (check_rc_ != CLIP_OK) { \
		fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr, \
		    clip_error_message(errp)); \
		test_failed = 1; \
		return; \
	} \
} while (0)

struct test_case {
	const char *name;
	void (*fn)(void);
};

int test_run(const char *prog, const struct test_case *cases, size_t n);

#define TEST_ENTRY_(fn) { #fn, fn }
#define TEST_MAIN(...) \
	int test_failed; \
	int main(int argc, char **argv) { \
		static const struct test_case cases_[] = { TEST_LIST_(__VA_ARGS__) }; \
		(void)argc; \
		return test_run(argv[0], cases_, sizeof(cases_) / sizeof(cases_[0])); \
	}

/* Expands to up to 32 { "name", fn } entries. */
#define TEST_LIST_(...) TEST_MAP_(TEST_ENTRY_, __VA_ARGS__)
#define TEST_MAP_(m, ...) TEST_MAP_N_(__VA_ARGS__, TEST_M32_, TEST_M31_, TEST_M30_, \
	TEST_M29_, TEST_M28_, TEST_M27_, TEST_M26_, TEST_M25_, TEST_M24_, TEST_M23_, \
	TEST_M22_, TEST_M21_, TEST_M20_, TEST_M19_, TEST_M18_, TEST_M17_, TEST_M16_, \
	TEST_M15_, TEST_M14_, TEST_M13_, TEST_M12_, TEST_M11_, TEST_M10_, TEST_M9_, \
	TEST_M8_, TEST_M7_, TEST_M6_, TEST_M5_, TEST_M4_, TEST_M3_, TEST_M2_, \
	TEST_M1_)(m, __VA_ARGS__)
#define TEST_MAP_N_(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, \
	a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, \
	a30, a31, a32, N, ...) N
#define TEST_M1_(m, x) m(x)
#define TEST_M2_(m, x, ...) m(x), TEST_M1_(m, __VA_ARGS__)
#define TEST_M3_(m, x, ...) m(x), TEST_M2_(m, __VA_ARGS__)
#define TEST_M4_(m, x, ...) m(x), TEST_M3_(m, __VA_ARGS__)
#define TEST_M5_(m, x, ...) m(x), TEST_M4_(m, __VA_ARGS__)
#define TEST_M6_(m, x, ...) m(x), TEST_M5_(m, __VA_ARGS__)
#define TEST_M7_(m, x, ...) m(x), TEST_M6_(m, __VA_ARGS__)
#define TEST_M8_(m, x, ...) m(x), TEST_M7_(m, __VA_ARGS__)
#define TEST_M9_(m, x, ...) m(x), TEST_M8_(m, __VA_ARGS__)
#define TEST_M10_(m, x, ...) m(x), TEST_M9_(m, __VA_ARGS__)
#define TEST_M11_(m, x, ...) m(x), TEST_M10_(m, __VA_ARGS__)
#define TEST_M12_(m, x, ...) m(x), TEST_M11_(m, __VA_ARGS__)
#define TEST_M13_(m, x, ...) m(x), TEST_M12_(m, __VA_ARGS__)
#define TEST_M14_(m, x, ...) m(x), TEST_M13_(m, __VA_ARGS__)
#define TEST_M15_(m, x, ...) m(x), TEST_M14_(m, __VA_ARGS__)
#define TEST_M16_(m, x, ...) m(x), TEST_M15_(m, __VA_ARGS__)
#define TEST_M17_(m, x, ...) m(x), TEST_M16_(m, __VA_ARGS__)
#define TEST_M18_(m, x, ...) m(x), TEST_M17_(m, __VA_ARGS__)
#define TEST_M19_(m, x, ...) m(x), TEST_M18_(m, __VA_ARGS__)
#define TEST_M20_(m, x, ...) m(x), TEST_M19_(m, __VA_ARGS__)
#define TEST_M21_(m, x, ...) m(x), TEST_M20_(m, __VA_ARGS__)
#define TEST_M22_(m, x, ...) m(x), TEST_M21_(m, __VA_ARGS__)
#define TEST_M23_(m, x, ...) m(x), TEST_M22_(m, __VA_ARGS__)
#define TEST_M24_(m, x, ...) m(x), TEST_M23_(m, __VA_ARGS__)
#define TEST_M25_(m, x, ...) m(x), TEST_M24_(m, __VA_ARGS__)
#define TEST_M26_(m, x, ...) m(x), TEST_M25_(m, __VA_ARGS__)
#define TEST_M27_(m, x, ...) m(x), TEST_M26_(m, __VA_ARGS__)
#define TEST_M28_(m, x, ...) m(x), TEST_M27_(m, __VA_ARGS__)
#define TEST_M29_(m, x, ...) m(x), TEST_M28_(m, __VA_ARGS__)
#define TEST_M30_(m, x, ...) m(x), TEST_M29_(m, __VA_ARGS__)
#define TEST_M31_(m, x, ...) m(x), TEST_M30_(m, __VA_ARGS__)
#define TEST_M32_(m, x, ...) m(x), TEST_M31_(m, __VA_ARGS__)

#endif
