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
#include "common/util/json_bytes.h"

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

/* obj[key] = the bytes of s, kept whole (json_bytes.h); 0 or -1. */
static int
set_str(json_t *obj, const char *key, struct clip_str s)
{
	return clip_json_set_bytes(obj, key, s.ptr, s.len);
}

/* Where the image came from, and what it is; 0 or -1 (out of memory). */
static int
image_members(json_t *root, const clip_index *idx, const char *path)
{
	struct clip_index_image im;
	json_t *cfg;

	clip_index_image(idx, &im);
	if (clip_json_set_bytes(root, "index", path, strlen(path)) != 0 ||
	    json_object_set_new(root, "size",
	    json_integer((json_int_t)clip_index_file_size(idx))) != 0 ||
	    json_object_set_new(root, "format_version", json_sprintf("2.%u",
	    clip_index_version_minor(idx))) != 0 ||
	    set_str(root, "source", im.source_ref) != 0 ||
	    set_str(root, "storage_registry", im.storage_registry) != 0 ||
	    set_str(root, "storage_repository", im.storage_repository) != 0 ||
	    json_object_set_new(root, "plain_http",
	    json_boolean(im.storage_flags & CLIP_STORAGE_PLAIN_HTTP)) != 0 ||
	    set_str(root, "manifest_digest", im.manifest_digest) != 0 ||
	    set_str(root, "manifest_media_type", im.manifest_media_type) != 0 ||
	    set_str(root, "config_digest", im.config_digest) != 0 ||
	    set_str(root, "os", im.os) != 0 ||
	    set_str(root, "architecture", im.architecture) != 0 ||
	    set_str(root, "variant", im.variant) != 0)
		return -1;
	/* clip_config_parse allows \u0000; null if the index holds no JSON. */
	cfg = json_loadb(im.config_json.ptr, im.config_json.len, JSON_ALLOW_NUL, NULL);
	return json_object_set_new(root, "config", cfg ? cfg : json_null());
}

static json_t *
layer_json(const struct clip_layer *l)
{
	json_t *o = json_object(), *nums;

	nums = json_pack("{s:s,s:I,s:I,s:i}",
	    "compression", l->compression == CLIP_COMPRESSION_GZIP ? "gzip" : "none",
	    "compressed_size", (json_int_t)l->compressed_size,
	    "uncompressed_size", (json_int_t)l->uncompressed_size,
	    "checkpoints", (int)l->checkpoint_count);
	if (o == NULL || nums == NULL || set_str(o, "digest", l->digest) != 0 ||
	    set_str(o, "media_type", l->media_type) != 0 || json_object_update(o, nums) != 0) {
		json_decref(o);
		o = NULL;
	}
	json_decref(nums);
	return o;
}

static int
print_json(const clip_index *idx, const char *path)
{
	struct tree_counts c;
	struct clip_layer l;
	struct clip_section_info si;
	json_t *root, *layers, *sections, *tree;
	uint32_t i;
	int rc, bad;

	count_tree(idx, &c);
	root = json_object();
	bad = root == NULL || image_members(root, idx, path) != 0;
	tree = json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:I}",
	    "inodes", (int)clip_index_inode_count(idx), "entries", (int)clip_index_dirent_count(idx),
	    "directories", (int)c.dirs, "files", (int)c.files, "symlinks", (int)c.symlinks,
	    "devices", (int)c.devices, "fifos", (int)c.fifos, "sockets", (int)c.sockets,
	    "hardlinked_files", (int)c.hardlinked, "file_bytes", (json_int_t)c.file_bytes);
	bad |= json_object_set_new(root, "tree", tree) != 0;
	layers = json_array();
	for (i = 0; i < clip_index_layer_count(idx); i++)
		if (clip_index_layer(idx, i, &l) == CLIP_OK)
			bad |= json_array_append_new(layers, layer_json(&l)) != 0;
	bad |= json_object_set_new(root, "layers", layers) != 0;
	/* 0: no chunk hashes, only whole spans can be verified. */
	bad |= json_object_set_new(root, "chunk_size",
	    json_integer(clip_index_chunk_size(idx))) != 0;
	sections = json_array();
	for (i = 0; i < clip_index_section_count(idx); i++) {
		if (clip_index_section(idx, i, &si) != CLIP_OK)
			continue;
		bad |= json_array_append_new(sections, json_pack("{s:s,s:i,s:I,s:I}",
		    "name", clip_section_name(si.type), "type", (int)si.type,
		    "offset", (json_int_t)si.offset, "length", (json_int_t)si.length)) != 0;
	}
	bad |= json_object_set_new(root, "sections", sections) != 0;
	if (bad) {
		json_decref(root);
		fprintf(stderr, "clipfs inspect: out of memory\n");
		return EXIT_FAILURE_GENERIC;
	}
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
