/* test_link_header.c - the rel="next" URI of Link headers, good and garbage. */
#include "config.h"

#include <string.h>

#include "common/registry/link_header.h"
#include "tests/unit/test.h"

struct link_case {
	const char *in;
	const char *next;   /* NULL: none */
};

static const struct link_case cases[] = {
	{ "</v2/a/referrers/sha256:1?n=10&last=x>; rel=\"next\"", "/v2/a/referrers/sha256:1?n=10&last=x" },
	{ "<https://r.example/v2/a/tags/list?n=1>; rel=next", "https://r.example/v2/a/tags/list?n=1" },
	/* several link-values; the next one is not the first */
	{ "</p1>; rel=\"prev\", </p3>; rel=\"next\"", "/p3" },
	{ "</first>; rel=first,</p2>;rel=\"next\";title=\"page 2\"", "/p2" },
	/* rel lists several types; case does not matter; other params first */
	{ "</p2>; type=\"application/json\"; rel=\"last NEXT\"", "/p2" },
	{ "  </p2>  ;  rel = \"next\"  ", "/p2" },
	/* quoted strings with commas and escapes do not end the value */
	{ "</x>; title=\"a, <b>; rel=next\"; rel=prev, </y>; rel=next", "/y" },
	/* no next */
	{ "</p1>; rel=\"prev\"", NULL },
	{ "</p1>; rel=\"nextish\"", NULL },
	{ "</p1>", NULL },
	/* garbage */
	{ "", NULL },
	{ "/p2; rel=next", NULL },
	{ "</p2; rel=next", NULL },
	{ "<>; rel=next", NULL },
	{ "</a b>; rel=next", NULL },
	{ "</a\tb>; rel=next", NULL },
	{ "</p2>; rel=\"next", NULL },
	{ "</p1>; rel=prev garbage, </p2>; rel=next", NULL },
	{ "</p1>; =x; rel=next", NULL },
};

TEST(test_link_cases)
{
	char out[64];
	size_t i;
	int got;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(out, 'x', sizeof(out));
		got = clip_link_next(cases[i].in, out, sizeof(out));
		CHECK_MSG(got == (cases[i].next != NULL), "case %zu: %s -> %d", i, cases[i].in, got);
		CHECK_MSG(strcmp(out, cases[i].next != NULL ? cases[i].next : "") == 0,
		    "case %zu: %s -> \"%s\"", i, cases[i].in, out);
	}
}

/* A URI that does not fit is no URI, not a cut one. */
TEST(test_link_too_long)
{
	char out[8];

	CHECK(clip_link_next("</1234567>; rel=next", out, sizeof(out)) == 0 && out[0] == '\0');
	CHECK(clip_link_next("</123456>; rel=next", out, sizeof(out)) == 1 &&
	    strcmp(out, "/123456") == 0);
}

TEST_MAIN(test_link_cases, test_link_too_long)
