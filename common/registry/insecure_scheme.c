/* insecure_scheme.c - HTTPS first, plain HTTP when TLS fails (insecure_scheme.h). */
#include "config.h"

#include <time.h>

#include "common/registry/insecure_scheme.h"

const char *
clip_scheme_name(enum clip_scheme s)
{
	switch (s) {
	case CLIP_SCHEME_HTTPS: return "https";
	case CLIP_SCHEME_HTTP: return "http";
	}
	return "?";
}

static long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

enum clip_scheme
clip_scheme_choose(clip_scheme_probe_fn probe, void *ctx, long budget_ms,
    struct clip_error *why)
{
	struct clip_error http_err;
	long start = mono_ms(), left;

	clip_error_clear(why);
	if (probe(ctx, CLIP_SCHEME_HTTPS, budget_ms, why) == CLIP_OK)
		return CLIP_SCHEME_HTTPS;
	left = budget_ms - (mono_ms() - start);
	if (left > 0 && probe(ctx, CLIP_SCHEME_HTTP, left, &http_err) == CLIP_OK)
		return CLIP_SCHEME_HTTP;
	return CLIP_SCHEME_HTTPS;
}
