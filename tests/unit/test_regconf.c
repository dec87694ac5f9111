/* test_regconf.c - containers-registries.conf(5): the TOML subset parsed,
 * everything else refused with its line, prefixes matched, mirrors
 * mapped. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/registry/registries_conf.h"
#include "tests/unit/test.h"

/* As the files in the wild are written: comments everywhere, an array
 * over several lines, [aliases] with quoted keys, indentation. */
static const char good[] =
    "# a comment\n"
    "unqualified-search-registries = [\"docker.io\",  # trailing comment\n"
    "   'quay.io',\n"
    "]\n"
    "short-name-mode = \"enforcing\"\n"
    "\n"
    "[[registry]]\n"
    "prefix = \"example.com/team\"\n"
    "location = \"example.com/team\"   # the same: no relocation\n"
    "insecure = false\n"
    "\n"
    "  [[registry.mirror]]\n"
    "  location = \"mirror-a.local:5000/cache\"\n"
    "  insecure = true\n"
    "  [[registry.mirror]]\n"
    "  location = 'mirror-b.local'\n"
    "  pull-from-mirror = \"digest-only\"\n"
    "\r\n"
    "[[registry]]\n"
    "location = \"example.com\"\n"
    "[[registry.mirror]]\n"
    "location = \"wide.local/all\"\n"
    "\n"
    "[[registry]]\n"
    "prefix = \"*.corp.example\"\n"
    "[[registry.mirror]]\n"
    "location = \"corp-cache.local\"\n"
    "\n"
    "[aliases]\n"
    "  \"fedora\" = \"registry.fedoraproject.org/fedora\"\n"
    "  \"opensuse/leap\" = \"registry.opensuse.org/opensuse/leap\"\n";

TEST(test_parse_and_match)
{
	clip_regconf c = { NULL, 0 };
	const struct clip_regconf_registry *r;
	struct clip_mirror_host h[8];
	struct clip_error err;
	size_t n;

	clip_error_clear(&err);
	CHECK_OK(clip_regconf_parse(&c, "good.conf", good, strlen(good), &err), &err);
	CHECK(c.n == 3);
	/* the longest prefix wins, at a component boundary */
	r = clip_regconf_find(&c, "example.com", "team/app");
	CHECK(r != NULL && strcmp(r->prefix, "example.com/team") == 0 && r->nmirrors == 2);
	CHECK(r->mirrors[0].insecure && !r->mirrors[1].insecure);
	r = clip_regconf_find(&c, "example.com", "teamwork/app");
	CHECK(r != NULL && strcmp(r->prefix, "example.com") == 0);
	CHECK(clip_regconf_find(&c, "example.org", "team/app") == NULL);
	CHECK(clip_regconf_find(&c, "examplexcom", "x") == NULL);
	/* mirrors: the rest of the name after the prefix, by tag... */
	r = clip_regconf_find(&c, "example.com", "team/app");
	CHECK_OK(clip_regconf_mirrors(r, "example.com", "team/app", 0, h, 8, &n, &err), &err);
	CHECK(n == 1 && strcmp(h[0].host, "mirror-a.local:5000") == 0 &&
	    strcmp(h[0].repository, "cache/app") == 0 && h[0].insecure);
	/* ... and by digest: the digest-only one too */
	CHECK_OK(clip_regconf_mirrors(r, "example.com", "team/app", 1, h, 8, &n, &err), &err);
	CHECK(n == 2 && strcmp(h[1].host, "mirror-b.local") == 0 &&
	    strcmp(h[1].repository, "app") == 0 && !h[1].insecure);
	/* at most max */
	CHECK_OK(clip_regconf_mirrors(r, "example.com", "team/app", 1, h, 1, &n, &err), &err);
	CHECK(n == 1);
	/* a host prefix: the whole repository under the mirror's path */
	r = clip_regconf_find(&c, "example.com", "other/x");
	CHECK_OK(clip_regconf_mirrors(r, "example.com", "other/x", 0, h, 8, &n, &err), &err);
	CHECK(n == 1 && strcmp(h[0].host, "wide.local") == 0 &&
	    strcmp(h[0].repository, "all/other/x") == 0);
	/* a wildcard: hosts under the domain, below any path prefix */
	r = clip_regconf_find(&c, "reg.corp.example", "lib/y");
	CHECK(r != NULL && strcmp(r->prefix, "*.corp.example") == 0);
	CHECK_OK(clip_regconf_mirrors(r, "reg.corp.example", "lib/y", 0, h, 8, &n, &err), &err);
	CHECK(n == 1 && strcmp(h[0].host, "corp-cache.local") == 0 &&
	    strcmp(h[0].repository, "lib/y") == 0);
	CHECK(clip_regconf_find(&c, "corp.example", "lib/y") == NULL);
	/* a prefix equal to the whole name leaves no repository at a
	 * mirror without a path: refused, not guessed */
	r = clip_regconf_find(&c, "example.com", "team");
	CHECK(r != NULL && strcmp(r->prefix, "example.com/team") == 0);
	CHECK(clip_regconf_mirrors(r, "example.com", "team", 1, h, 8, &n, &err) ==
	    CLIP_ERR_INVALID);
	clip_regconf_free(&c);
	clip_regconf_free(&c);
}

/* A [[registry]] location other than its prefix: the moved registry is
 * asked after the mirrors (with its own insecure). */
TEST(test_moved_registry)
{
	static const char conf[] =
	    "[[registry]]\n"
	    "prefix = \"old.example/proj\"\n"
	    "location = \"new.example:5000/moved/proj\"\n"
	    "insecure = true\n"
	    "[[registry.mirror]]\n"
	    "location = \"cache.local/c\"\n";
	clip_regconf c = { NULL, 0 };
	const struct clip_regconf_registry *r;
	struct clip_mirror_host h[4];
	struct clip_error err;
	size_t n;

	clip_error_clear(&err);
	CHECK_OK(clip_regconf_parse(&c, "moved.conf", conf, strlen(conf), &err), &err);
	r = clip_regconf_find(&c, "old.example", "proj/app");
	CHECK(r != NULL);
	CHECK_OK(clip_regconf_mirrors(r, "old.example", "proj/app", 0, h, 4, &n, &err), &err);
	CHECK(n == 2 && strcmp(h[0].host, "cache.local") == 0 &&
	    strcmp(h[0].repository, "c/app") == 0 && !h[0].insecure);
	CHECK(strcmp(h[1].host, "new.example:5000") == 0 &&
	    strcmp(h[1].repository, "moved/proj/app") == 0 && h[1].insecure);
	/* no room left: the mirrors first */
	CHECK_OK(clip_regconf_mirrors(r, "old.example", "proj/app", 0, h, 1, &n, &err), &err);
	CHECK(n == 1 && strcmp(h[0].host, "cache.local") == 0);
	clip_regconf_free(&c);
}

struct bad_case {
	const char *text;
	unsigned line;
	const char *says;
};

static const struct bad_case bads[] = {
	{ "[registries.search]\nregistries = ['a']\n", 1, "version 1" },
	{ "# ok\n[[registry]]\nprefix = \"a\"\nfoo = true\n", 4, "unknown key foo" },
	{ "[[registry]]\nprefix = \"a\"\nprefix = \"b\"\n", 3, "given twice" },
	{ "[[registry]]\nprefix = a\n", 2, "expected a string" },
	{ "[[registry]]\nprefix = \"a\" junk\n", 2, "after the value" },
	{ "[[registry]]\nprefix = \"a\nb\"\n", 2, "unterminated string" },
	{ "[[registry]]\nprefix = \"\"\"a\"\"\"\n", 2, "multi-line" },
	{ "[[registry]]\nprefix = {a = 1}\n", 2, "inline tables" },
	{ "[[registry]]\ninsecure = 1\n", 2, "expected a string" },
	{ "[[registry]]\ninsecure = \"yes\"\n", 2, "true or false" },
	{ "[[registry]]\nprefix.x = \"a\"\n", 2, "dotted keys" },
	{ "[[registry.mirror]]\nlocation = \"m\"\n", 1, "before any [[registry]]" },
	{ "[engine]\n", 1, "unsupported table [engine]" },
	{ "[[registry]\n", 1, "unterminated table header" },
	{ "\n\n[[registry]]\ninsecure = true\n", 3, "without prefix or location" },
	{ "[[registry]]\nprefix = \"a\"\npull-from-mirror = \"sometimes\"\n", 3, "pull-from-mirror" },
	{ "[[registry]]\nprefix = \"*.x/y\"\n", 1, "wildcard" },
	{ "unqualified-search-registries = [\"a\", 3]\n", 1, "strings only" },
	{ "unqualified-search-registries = \"a\"\n", 1, "array of strings" },
	{ "[[registry]]\nprefix = \"a b\"\n", 2, "not a registry location" },
	{ "[[registry]]\nprefix = \"a\\q\"\n", 2, "unsupported escape" },
	{ "[[registry]]\nprefix = \"a\"\n[[registry.mirror]]\ninsecure = true\n", 1, "no location" },
	{ "= 3\n", 1, "expected a key" },
};

TEST(test_refused_with_line)
{
	clip_regconf c = { NULL, 0 };
	struct clip_error err;
	char want[64];
	size_t i;

	/* what c holds stays when a later text fails */
	CHECK_OK(clip_regconf_parse(&c, "good.conf", good, strlen(good), NULL), NULL);
	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		clip_error_clear(&err);
		CHECK_MSG(clip_regconf_parse(&c, "x.conf", bads[i].text, strlen(bads[i].text),
		    &err) == CLIP_ERR_FORMAT, "case %zu accepted", i);
		snprintf(want, sizeof(want), "x.conf:%u: ", bads[i].line);
		CHECK_MSG(strncmp(err.msg, want, strlen(want)) == 0 &&
		    strstr(err.msg, bads[i].says) != NULL, "case %zu: %s", i, err.msg);
		CHECK(c.n == 3);
	}
	clip_regconf_free(&c);
}

/* Drop-in files in name order; a later table for a prefix replaces the
 * earlier one; a missing default file or directory is no error. */
TEST(test_files)
{
	clip_regconf c = { NULL, 0 };
	const struct clip_regconf_registry *r;
	struct clip_error err;
	FILE *f;

	clip_error_clear(&err);
	CHECK(mkdir("d", 0755) == 0);
	f = fopen("main.conf", "w");
	CHECK(f != NULL);
	fputs("[[registry]]\nprefix = \"a.example\"\n[[registry.mirror]]\nlocation = \"m1\"\n", f);
	fclose(f);
	f = fopen("d/20-late.conf", "w");
	fputs("[[registry]]\nprefix = \"a.example\"\n[[registry.mirror]]\nlocation = \"m3\"\n", f);
	fclose(f);
	f = fopen("d/10-early.conf", "w");
	fputs("[[registry]]\nprefix = \"a.example\"\n[[registry.mirror]]\nlocation = \"m2\"\n", f);
	fclose(f);
	f = fopen("d/ignored.txt", "w");
	fputs("garbage\n", f);
	fclose(f);
	CHECK_OK(clip_regconf_load_default(&c, "main.conf", "d", &err), &err);
	r = clip_regconf_find(&c, "a.example", "x");
	CHECK(c.n == 1 && r != NULL && strcmp(r->mirrors[0].location, "m3") == 0);
	clip_regconf_free(&c);
	CHECK_OK(clip_regconf_load_default(&c, "missing.conf", "missing.d", &err), &err);
	CHECK(c.n == 0);
	CHECK(clip_regconf_load_file(&c, "missing.conf", &err) == CLIP_ERR_NOTFOUND);
	CHECK(strstr(err.msg, "missing.conf") != NULL);
	f = fopen("d/30-bad.conf", "w");
	fputs("[[registry]]\nprefix = \"a.example\"\nbogus = true\n", f);
	fclose(f);
	CHECK(clip_regconf_load_default(&c, "main.conf", "d", &err) == CLIP_ERR_FORMAT);
	CHECK_MSG(strstr(err.msg, "d/30-bad.conf:3: unknown key bogus") != NULL, "%s", err.msg);
	clip_regconf_free(&c);
}

TEST_MAIN(test_parse_and_match, test_moved_registry, test_refused_with_line, test_files)
