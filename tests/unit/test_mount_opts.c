/* test_mount_opts.c - clipfs mount's options: --help shows the defaults
 * that mount_opts_init and clip_reader_opts_init really set; -o keys
 * with '-' or '_' and the long options set the same fields; bad values
 * are refused; --mem-cache 0 means no cache beyond the spans in use. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipfs/mount_opts.h"
#include "tests/unit/test.h"

/* --help as a string (malloc'ed). */
static char *
help_text(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		return NULL;
	mount_usage(f);
	fclose(f);
	return buf;
}

/* The help line (and its continuation) of --name, joined by spaces. */
static int
help_says(const char *help, const char *name, const char *want)
{
	char key[64], line[1024];
	const char *p, *end;
	size_t n = 0;

	snprintf(key, sizeof(key), "--%s", name);
	if ((p = strstr(help, key)) == NULL)
		return 0;
	/* Up to the next option's line. */
	end = strstr(p + 1, "\n      --");
	if (end == NULL)
		end = p + strlen(p);
	for (; p < end && n + 1 < sizeof(line); p++)
		if (*p != '\n' && !(*p == ' ' && n > 0 && line[n - 1] == ' '))
			line[n++] = *p;
		else if (*p == '\n' && n > 0 && line[n - 1] != ' ')
			line[n++] = ' ';
	line[n] = '\0';
	return strstr(line, want) != NULL;
}

static void
size_text(uint64_t v, char *buf, size_t len)
{
	if (v % (1u << 30) == 0)
		snprintf(buf, len, "(default %lluG)", (unsigned long long)(v >> 30));
	else if (v % (1u << 20) == 0)
		snprintf(buf, len, "(default %lluM)", (unsigned long long)(v >> 20));
	else
		snprintf(buf, len, "(default %llu)", (unsigned long long)v);
}

TEST(test_help_shows_real_defaults)
{
	struct clip_reader_opts ro;
	struct mount_opts m;
	char *help = help_text(), want[64];

	CHECK(help != NULL);
	clip_reader_opts_init(&ro);
	mount_opts_init(&m);
	size_text(ro.mem_cache_bytes, want, sizeof(want));
	CHECK_MSG(help_says(help, "mem-cache", want), "--mem-cache, wanted %s", want);
	size_text(ro.disk_cache_bytes, want, sizeof(want));
	CHECK_MSG(help_says(help, "cache-size", want), "--cache-size, wanted %s", want);
	size_text(ro.load_bytes, want, sizeof(want));
	CHECK_MSG(help_says(help, "load-size", want), "--load-size, wanted %s", want);
	snprintf(want, sizeof(want), "(default %u)", ro.readahead_spans);
	CHECK_MSG(help_says(help, "readahead", want), "--readahead, wanted %s", want);
	snprintf(want, sizeof(want), "(default %u)", ro.predict_spans);
	CHECK_MSG(help_says(help, "predict", want), "--predict, wanted %s", want);
	snprintf(want, sizeof(want), "(default %u)", m.timeout_s);
	CHECK_MSG(help_says(help, "timeout", want), "--timeout, wanted %s", want);
	snprintf(want, sizeof(want), "(default %s)", m.cache_dir);
	CHECK_MSG(help_says(help, "cache-dir", want), "--cache-dir, wanted %s", want);
	CHECK(help_says(help, "tls-verify", m.registry.tls_verify ? "(default true)" : "(default false)"));
	/* The reader's defaults reach the mount untouched. */
	CHECK(memcmp(&m.reader, &ro, sizeof(ro)) == 0);
	free(help);
}

/* Parses argv (NULL-terminated, argv[0] first) into *m. */
static int
parse(struct mount_opts *m, char **argv)
{
	int argc = 0;

	while (argv[argc] != NULL)
		argc++;
	mount_opts_init(m);
	optind = 1;
	opterr = 0;
	return mount_opts_parse(argc, argv, m);
}

TEST(test_one_table)
{
	struct mount_opts a, b, c;
	char o1[] = "cache-dir=/x,mem_cache=64M,readahead=5,no_disk_cache,allow_other";
	char o2[] = "cache_dir=/x,mem-cache=64M,readahead=5,no-disk-cache=true,allow_other";
	char *argv_a[] = { "mount", "-o", o1, "i.clip", "/mnt", NULL };
	char *argv_b[] = { "mount", "-o", o2, "i.clip", "/mnt", NULL };
	char *argv_c[] = { "mount", "--cache-dir", "/x", "--mem-cache", "64M", "--readahead", "5",
	    "--no-disk-cache", "-o", "allow_other", "i.clip", "/mnt", NULL };

	CHECK(parse(&a, argv_a) == 0);
	CHECK(parse(&b, argv_b) == 0);
	CHECK(parse(&c, argv_c) == 0);
	CHECK(strcmp(a.cache_dir, "/x") == 0 && a.reader.mem_cache_bytes == 64u << 20 &&
	    a.reader.readahead_spans == 5 && a.no_disk_cache == 1);
	CHECK(strcmp(a.fuse_opts, ",allow_other") == 0);
	CHECK(strcmp(b.cache_dir, a.cache_dir) == 0 && b.reader.mem_cache_bytes ==
	    a.reader.mem_cache_bytes && b.reader.readahead_spans == a.reader.readahead_spans &&
	    b.no_disk_cache == a.no_disk_cache && strcmp(b.fuse_opts, a.fuse_opts) == 0);
	CHECK(strcmp(c.cache_dir, a.cache_dir) == 0 && c.reader.mem_cache_bytes ==
	    a.reader.mem_cache_bytes && c.reader.readahead_spans == a.reader.readahead_spans &&
	    c.no_disk_cache == a.no_disk_cache && strcmp(c.fuse_opts, a.fuse_opts) == 0);
	CHECK(strcmp(a.index_path, "i.clip") == 0 && strcmp(a.mountpoint, "/mnt") == 0);
}

TEST(test_values)
{
	struct mount_opts m;
	char *zero[] = { "mount", "--mem-cache", "0", "i", "m", NULL };
	char *rate[] = { "mount", "--background-fetch", "i", "m", NULL };
	char *rate2[] = { "mount", "--background-fetch=5M", "i", "m", NULL };
	char *bad[][6] = {
		{ "mount", "--mem-cache", "", "i", "m", NULL },
		{ "mount", "--mem-cache", "-1", "i", "m", NULL },
		{ "mount", "--predict", "17", "i", "m", NULL },
		{ "mount", "--timeout", "0", "i", "m", NULL },
		{ "mount", "--load-size", "1G", "i", "m", NULL },
		{ "mount", "--tls-verify", "maybe", "i", "m", NULL },
		{ "mount", "--background-fetch=0", "i", "m", NULL, NULL },
		{ "mount", "-o", "cache_dir", "i", "m", NULL },
		{ "mount", "-o", "rw", "i", "m", NULL },
		{ "mount", "--log-level", "loud", "i", "m", NULL },
	};
	char copies[10][32];
	size_t k;

	CHECK(parse(&m, zero) == 0 && m.reader.mem_cache_bytes == 0);
	CHECK(parse(&m, rate) == 0 && m.background_rate == 20u << 20);
	CHECK(parse(&m, rate2) == 0 && m.background_rate == 5u << 20);
	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		/* -o lists are modified in place: parse a copy. */
		if (bad[k][1] != NULL && strcmp(bad[k][1], "-o") == 0) {
			snprintf(copies[k], sizeof(copies[k]), "%s", bad[k][2]);
			bad[k][2] = copies[k];
		}
		CHECK_MSG(parse(&m, bad[k]) == -1, "%s %s accepted", bad[k][1], bad[k][2]);
	}
}

/* The registry options (shared with clipfs index, registry_opts.c) as
 * long options and as -o keys land in m.registry. */
TEST(test_registry_opts)
{
	struct mount_opts a, b;
	struct registry_cli_opts def;
	char creds_a[] = "u:secret", o[] = "creds=u:secret,authfile=/a,cacert=/c,plain_http,"
	    "tls_verify=false";
	char *argv_a[] = { "mount", "--creds", creds_a, "--authfile", "/a", "--cacert", "/c",
	    "--plain-http", "--tls-verify=false", "i", "m", NULL };
	char *argv_b[] = { "mount", "-o", o, "i", "m", NULL };
	char *argv_c[] = { "mount", "i", "m", NULL };

	registry_cli_opts_init(&def);
	CHECK(parse(&a, argv_c) == 0);
	CHECK(memcmp(&a.registry, &def, sizeof(def)) == 0);
	CHECK(parse(&a, argv_a) == 0);
	CHECK(parse(&b, argv_b) == 0);
	CHECK(strcmp(a.registry.creds, "u:secret") == 0 && strcmp(b.registry.creds, "u:secret") == 0);
	/* The password is hidden from ps in argv (a copy is used). */
	CHECK(strcmp(creds_a, "u:******") == 0);
	CHECK(strcmp(a.registry.authfile, "/a") == 0 && strcmp(b.registry.authfile, "/a") == 0);
	CHECK(strcmp(a.registry.cacert, "/c") == 0 && strcmp(b.registry.cacert, "/c") == 0);
	CHECK(a.registry.plain_http == 1 && b.registry.plain_http == 1);
	CHECK(a.registry.tls_verify == 0 && b.registry.tls_verify == 0);
	CHECK(b.fuse_opts[0] == '\0');
}

TEST_MAIN(test_help_shows_real_defaults, test_one_table, test_values, test_registry_opts)
