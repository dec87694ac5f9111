/*
 * cmd_ls.c - clipfs ls: list the tree inside an index, like ls -l.
 *
 * One line per entry: mode, links, uid, gid, size (or major, minor),
 * mtime in UTC with nanoseconds, name, and "-> target" for symlinks.
 * With -R the names are paths below the listed directory, depth first
 * in name order, so two listings can be compared with diff.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clipfs/cli.h"
#include "clipfs/format_util.h"
#include "common/format/index.h"

#define LS_MAX_DEPTH 4096   /* deeper than PATH_MAX allows anyway */

struct ls_opts {
	int recursive;
	int inodes;
	int xattrs;
	int all_dirs;   /* -d: the directory itself, not its contents */
};

static void
ls_usage(FILE *out)
{
	fprintf(out,
	    "Usage: clipfs ls [OPTIONS] INDEX [PATH]\n"
	    "\n"
	    "List the file tree stored in INDEX (from PATH, default /), like ls -l.\n"
	    "Times are UTC with nanoseconds; unprintable name bytes are shown as \\xHH.\n"
	    "\n"
	    "  -R, --recursive  list subdirectories too, as paths below PATH\n"
	    "  -i, --inode      show inode numbers (hardlinks share one)\n"
	    "  -x, --xattrs     show extended attributes (values in hex)\n"
	    "  -d, --directory  list PATH itself, not its contents\n"
	    "  -h, --help       show this help\n");
}

static void
print_entry(const clip_index *idx, const struct ls_opts *o, uint32_t ino,
    const char *prefix, size_t plen, const char *name, size_t nlen)
{
	struct clip_stat st;
	struct clip_str s, v;
	char mode[11], when[48];
	uint32_t i, j;

	if (clip_index_stat(idx, ino, &st) != CLIP_OK)
		return;
	mode_string(st.mode, mode);
	time_string(st.mtime_sec, st.mtime_nsec, when, sizeof(when));
	if (o->inodes)
		printf("%8u ", ino);
	printf("%s %3u %5u %5u ", mode, st.nlink, st.uid, st.gid);
	if (S_ISCHR(st.mode) || S_ISBLK(st.mode))
		printf("%5u, %5u ", st.rdev_major, st.rdev_minor);
	else
		printf("%12llu ", (unsigned long long)st.size);
	printf("%s ", when);
	if (plen > 0) {
		print_escaped(stdout, prefix, plen);
		if (nlen > 0)
			putchar('/');
	}
	print_escaped(stdout, name, nlen);
	if (plen == 0 && nlen == 0)
		putchar('/');
	if (S_ISLNK(st.mode) && clip_index_readlink(idx, ino, &s) == CLIP_OK) {
		fputs(" -> ", stdout);
		print_escaped(stdout, s.ptr, s.len);
	}
	putchar('\n');
	for (i = 0; o->xattrs && i < st.xattr_count; i++) {
		if (clip_index_xattr(idx, ino, i, &s, &v) != CLIP_OK)
			continue;
		fputs("    xattr ", stdout);
		print_escaped(stdout, s.ptr, s.len);
		fputc('=', stdout);
		for (j = 0; j < v.len; j++)
			printf("%02x", (unsigned char)v.ptr[j]);
		putchar('\n');
	}
}

/* Lists dir; prefix is its path below the top, for -R. */
static int
list_dir(const clip_index *idx, const struct ls_opts *o, uint32_t dir, char *prefix,
    size_t plen, int depth)
{
	struct clip_dirent de;
	uint32_t i, n = clip_index_dir_size(idx, dir);

	if (depth > LS_MAX_DEPTH) {
		fprintf(stderr, "clipfs: ls: tree deeper than %d levels; not descending\n",
		    LS_MAX_DEPTH);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (clip_index_readdir(idx, dir, i, &de) != CLIP_OK)
			continue;
		print_entry(idx, o, de.ino, prefix, plen, de.name.ptr, de.name.len);
		if (o->recursive && de.mode_type == S_IFDIR) {
			size_t sub = plen + (plen ? 1 : 0) + de.name.len;
			char *p = malloc(sub + 1);
			int rc;
			if (p == NULL)
				return -1;
			if (plen) {
				memcpy(p, prefix, plen);
				p[plen] = '/';
			}
			memcpy(p + sub - de.name.len, de.name.ptr, de.name.len);
			p[sub] = '\0';
			rc = list_dir(idx, o, de.ino, p, sub, depth + 1);
			free(p);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

int
cmd_ls(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "recursive", no_argument, NULL, 'R' },
		{ "inode", no_argument, NULL, 'i' },
		{ "xattrs", no_argument, NULL, 'x' },
		{ "directory", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ls_opts o = { 0 };
	struct clip_stat st;
	clip_index *idx = NULL;
	const char *path = "/";
	uint32_t ino;
	int c, rc = EXIT_OK;

	while ((c = getopt_long(argc, argv, "Rixdh", longopts, NULL)) != -1) {
		switch (c) {
		case 'R': o.recursive = 1; break;
		case 'i': o.inodes = 1; break;
		case 'x': o.xattrs = 1; break;
		case 'd': o.all_dirs = 1; break;
		case 'h': ls_usage(stdout); return EXIT_OK;
		default: ls_usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc || argc - optind > 2) {
		ls_usage(stderr);
		return EXIT_USAGE;
	}
	if (argc - optind == 2)
		path = argv[optind + 1];
	if ((rc = clipfs_index_open(argv[optind], &idx)) != EXIT_OK)
		return rc;
	if (clip_index_resolve(idx, path, &ino) != CLIP_OK) {
		fprintf(stderr, "clipfs: ls: %s: no such file or directory in the index\n", path);
		rc = EXIT_FAILURE_GENERIC;
	} else if (clip_index_stat(idx, ino, &st) == CLIP_OK && (!S_ISDIR(st.mode) || o.all_dirs)) {
		/* The last component of PATH, trailing slashes ignored. */
		size_t end = strlen(path), start;
		while (end > 1 && path[end - 1] == '/')
			end--;
		start = end;
		while (start > 0 && path[start - 1] != '/')
			start--;
		if (end - start == 0)
			print_entry(idx, &o, ino, "", 0, "/", 1);
		else
			print_entry(idx, &o, ino, "", 0, path + start, end - start);
	} else if (list_dir(idx, &o, ino, "", 0, 0) != 0) {
		rc = EXIT_FAILURE_GENERIC;
	}
	clip_index_close(idx);
	if (fflush(stdout) != 0)
		rc = EXIT_FAILURE_GENERIC;
	return rc;
}
