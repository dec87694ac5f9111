/*
 * cmd_inspect.c - clipfs inspect: a summary of an index, for people or,
 * with --json, for scripts.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "clipfs/cli.h"
#include "clipfs/format_util.h"
#include "common/format/index.h"

struct tree_counts {
	uint32_t dirs, files, symlinks, devices, fifos, sockets, hardlinked;
	uint64_t file_bytes;
};

static void
inspect_usage(FILE *out)
{
	fprintf(out,
	    "Usage: clipfs inspect [--json] INDEX\n"
	    "\n"
	    "Check INDEX (checksum and structure) and summarise it: image references,\n"
	    "platform, layers with sizes and checkpoint counts, the chunk size of the\n"
	    "chunk hashes (or none), the tree, and the size of each section.\n"
	    "\n"
	    "  -j, --json   print JSON instead of text\n"
	    "  -h, --help   show this help\n");
}

static void
count_tree(const clip_index *idx, struct tree_counts *c)
{
	struct clip_stat st;
	uint32_t ino, n = clip_index_inode_count(idx);

	memset(c, 0, sizeof(*c));
	for (ino = 1; ino <= n; ino++) {
		if (clip_index_stat(idx, ino, &st) != CLIP_OK)
			continue;
		switch (st.mode & S_IFMT) {
		case S_IFDIR: c->dirs++; break;
		case S_IFREG:
			c->files++;
			c->file_bytes += st.size;
			if (st.nlink > 1)
				c->hardlinked++;
			break;
		case S_IFLNK: c->symlinks++; break;
		case S_IFCHR: case S_IFBLK: c->devices++; break;
		case S_IFIFO: c->fifos++; break;
		default: c->sockets++; break;
		}
	}
}

static json_t *
jstr(struct clip_str s)
{
	return json_stringn(s.ptr, s.len);
}

static int
print_json(const clip_index *idx, const char *path)
{
	struct tree_counts c;
	struct clip_index_image im;
	struct clip_layer l;
	struct clip_section_info si;
	json_t *root, *layers, *sections, *tree;
	uint32_t i;
	int rc;

	count_tree(idx, &c);
	clip_index_image(idx, &im);
	root = json_object();
	json_object_set_new(root, "index", json_string(path));
	json_object_set_new(root, "size", json_integer((json_int_t)clip_index_file_size(idx)));
	json_object_set_new(root, "format_version", json_sprintf("2.%u",
	    clip_index_version_minor(idx)));
	json_object_set_new(root, "source", jstr(im.source_ref));
	json_object_set_new(root, "storage_registry", jstr(im.storage_registry));
	json_object_set_new(root, "storage_repository", jstr(im.storage_repository));
	json_object_set_new(root, "plain_http",
	    json_boolean(im.storage_flags & CLIP_STORAGE_PLAIN_HTTP));
	json_object_set_new(root, "manifest_digest", jstr(im.manifest_digest));
	json_object_set_new(root, "manifest_media_type", jstr(im.manifest_media_type));
	json_object_set_new(root, "config_digest", jstr(im.config_digest));
	json_object_set_new(root, "os", jstr(im.os));
	json_object_set_new(root, "architecture", jstr(im.architecture));
	json_object_set_new(root, "variant", jstr(im.variant));
	json_object_set_new(root, "config", json_loadb(im.config_json.ptr, im.config_json.len,
	    JSON_ALLOW_NUL, NULL));   /* clip_config_parse allows \u0000 */
	tree = json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:I}",
	    "inodes", (int)clip_index_inode_count(idx), "entries", (int)clip_index_dirent_count(idx),
	    "directories", (int)c.dirs, "files", (int)c.files, "symlinks", (int)c.symlinks,
	    "devices", (int)c.devices, "fifos", (int)c.fifos, "sockets", (int)c.sockets,
	    "hardlinked_files", (int)c.hardlinked, "file_bytes", (json_int_t)c.file_bytes);
	json_object_set_new(root, "tree", tree);
	layers = json_array();
	for (i = 0; i < clip_index_layer_count(idx); i++) {
		if (clip_index_layer(idx, i, &l) != CLIP_OK)
			continue;
		json_array_append_new(layers, json_pack("{s:s%,s:s%,s:s,s:I,s:I,s:i}",
		    "digest", l.digest.ptr, (size_t)l.digest.len,
		    "media_type", l.media_type.ptr, (size_t)l.media_type.len,
		    "compression", l.compression == CLIP_COMPRESSION_GZIP ? "gzip" : "none",
		    "compressed_size", (json_int_t)l.compressed_size,
		    "uncompressed_size", (json_int_t)l.uncompressed_size,
		    "checkpoints", (int)l.checkpoint_count));
	}
	json_object_set_new(root, "layers", layers);
	/* 0: no chunk hashes, only whole spans can be verified. */
	json_object_set_new(root, "chunk_size", json_integer(clip_index_chunk_size(idx)));
	sections = json_array();
	for (i = 0; i < clip_index_section_count(idx); i++) {
		if (clip_index_section(idx, i, &si) != CLIP_OK)
			continue;
		json_array_append_new(sections, json_pack("{s:s,s:i,s:I,s:I}",
		    "name", clip_section_name(si.type), "type", (int)si.type,
		    "offset", (json_int_t)si.offset, "length", (json_int_t)si.length));
	}
	json_object_set_new(root, "sections", sections);
	rc = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(root);
	return rc == 0 ? EXIT_OK : EXIT_FAILURE_GENERIC;
}

static void
field(const char *label, struct clip_str s)
{
	printf("%-14s ", label);
	if (s.len == 0)
		fputs("-", stdout);
	else
		print_escaped(stdout, s.ptr, s.len);
	putchar('\n');
}

static int
print_text(const clip_index *idx, const char *path)
{
	struct tree_counts c;
	struct clip_index_image im;
	struct clip_layer l;
	struct clip_section_info si;
	char a[32], b[32];
	uint32_t i;

	count_tree(idx, &c);
	clip_index_image(idx, &im);
	size_string(clip_index_file_size(idx), a, sizeof(a));
	printf("%-14s %s (%s, format 2.%u, checksum ok)\n", "index:", path, a,
	    clip_index_version_minor(idx));
	field("source:", im.source_ref);
	printf("%-14s ", "storage:");
	if (im.storage_registry.len == 0) {
		/* Indexed from a layout without --storage-ref: no registry. */
		puts("(none: local layout; mount with --layout)");
	} else {
		print_escaped(stdout, im.storage_registry.ptr, im.storage_registry.len);
		putchar('/');
		print_escaped(stdout, im.storage_repository.ptr, im.storage_repository.len);
		puts(im.storage_flags & CLIP_STORAGE_PLAIN_HTTP ? " (plain http)" : "");
	}
	field("manifest:", im.manifest_digest);
	field("media type:", im.manifest_media_type);
	field("config:", im.config_digest);
	printf("%-14s %.*s/%.*s%s%.*s\n", "platform:", (int)im.os.len, im.os.ptr,
	    (int)im.architecture.len, im.architecture.ptr, im.variant.len ? "/" : "",
	    (int)im.variant.len, im.variant.ptr);
	size_string(c.file_bytes, a, sizeof(a));
	printf("%-14s %u inodes, %u entries: %u directories, %u files (%s, %u hardlinked), "
	    "%u symlinks, %u devices, %u fifos, %u sockets\n", "tree:",
	    clip_index_inode_count(idx), clip_index_dirent_count(idx), c.dirs, c.files, a,
	    c.hardlinked, c.symlinks, c.devices, c.fifos, c.sockets);
	printf("%-14s %u\n", "layers:", clip_index_layer_count(idx));
	for (i = 0; i < clip_index_layer_count(idx); i++) {
		if (clip_index_layer(idx, i, &l) != CLIP_OK)
			continue;
		size_string(l.compressed_size, a, sizeof(a));
		size_string(l.uncompressed_size, b, sizeof(b));
		printf("  %2u  %.*s  %s  %s -> %s  %u checkpoints\n", i, (int)l.digest.len,
		    l.digest.ptr, l.compression == CLIP_COMPRESSION_GZIP ? "gzip" : "tar ",
		    a, b, l.checkpoint_count);
	}
	if (clip_index_chunk_size(idx) == 0) {
		printf("%-14s none (only whole spans can be verified)\n", "chunk hashes:");
	} else {
		size_string(clip_index_chunk_size(idx), a, sizeof(a));
		printf("%-14s every %s of each layer blob\n", "chunk hashes:", a);
	}
	printf("%-14s\n", "sections:");
	for (i = 0; i < clip_index_section_count(idx); i++) {
		if (clip_index_section(idx, i, &si) != CLIP_OK)
			continue;
		size_string(si.length, a, sizeof(a));
		printf("  %-12s %10llu bytes  (%s)\n", clip_section_name(si.type),
		    (unsigned long long)si.length, a);
	}
	return EXIT_OK;
}

int
cmd_inspect(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	clip_index *idx = NULL;
	int c, json = 0, rc;

	while ((c = getopt_long(argc, argv, "jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 'h': inspect_usage(stdout); return EXIT_OK;
		default: inspect_usage(stderr); return EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		inspect_usage(stderr);
		return EXIT_USAGE;
	}
	if ((rc = clipfs_index_open(argv[optind], &idx)) != EXIT_OK)
		return rc;
	rc = json ? print_json(idx, argv[optind]) : print_text(idx, argv[optind]);
	clip_index_close(idx);
	if (fflush(stdout) != 0)
		rc = EXIT_FAILURE_GENERIC;
	return rc;
}
