/*
 * format.h - the CLIP v2 index file, as it sits on disk.
 *
 * man/clip.5 is the normative description; this header is its C form.
 * Every multi-byte field is little-endian (configure refuses big-endian
 * hosts), every section starts on an 8-byte boundary, and every record
 * is naturally aligned, so a reader can mmap the file and index the
 * record arrays in place.  Nothing here is trusted by the reader: every
 * offset, length, count and index is checked before it is used.
 */
#ifndef CLIP_FORMAT_H
#define CLIP_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CLIP_MAGIC          "\x89" "CLIP\r\n\x1a\n"
#define CLIP_MAGIC_LEN      9
#define CLIP_VERSION_MAJOR  2
#define CLIP_VERSION_MINOR  2   /* 1: the optional PREFETCH section;
                                   2: the optional CHUNKS section */
#define CLIP_ALIGN          8
#define CLIP_ROOT_INO       1   /* inode number n is record n - 1 */
#define CLIP_NAME_MAX       255
#define CLIP_WINDOW_SIZE    32768
#define CLIP_XATTR_NAME_MAX 255
#define CLIP_XATTR_VALUE_MAX 65536

/* The file header, at offset 0. */
struct clip_disk_header {
	uint8_t  magic[9];        /* CLIP_MAGIC */
	uint8_t  reserved0;       /* 0 */
	uint16_t version_major;   /* CLIP_VERSION_MAJOR; another one is refused */
	uint16_t version_minor;   /* additions that older readers may ignore */
	uint16_t reserved1;       /* 0 */
	uint32_t header_size;     /* sizeof(struct clip_disk_header) today */
	uint32_t section_count;   /* entries in the section table */
	uint64_t file_size;       /* the whole file, so truncation is caught */
	uint32_t flags;           /* none defined: must be 0 */
	uint32_t reserved2;       /* 0 */
	/* SHA-256 of the whole file with these 32 bytes taken as zeros, so
	 * every byte, the header included, is covered. */
	uint8_t  sha256[32];
};

/* The section table follows the header: section_count of these. */
struct clip_disk_section {
	uint32_t type;            /* CLIP_SECTION_* */
	uint32_t flags;           /* CLIP_SECTION_REQUIRED */
	uint64_t offset;          /* from the start of the file, 8-aligned */
	uint64_t length;          /* bytes; a multiple of the record size */
};

/* A reader that does not know a section type skips it, unless this is set. */
#define CLIP_SECTION_REQUIRED 0x1u

enum clip_section_type {
	CLIP_SECTION_STRINGS     = 1, /* bytes: names, targets, xattrs, refs */
	CLIP_SECTION_INODES      = 2, /* struct clip_disk_inode[] */
	CLIP_SECTION_DIRENTS     = 3, /* struct clip_disk_dirent[] */
	CLIP_SECTION_XATTR_SETS  = 4, /* struct clip_disk_xattr_set[] */
	CLIP_SECTION_XATTRS      = 5, /* struct clip_disk_xattr[] */
	CLIP_SECTION_LAYERS      = 6, /* struct clip_disk_layer[] */
	CLIP_SECTION_CHECKPOINTS = 7, /* struct clip_disk_checkpoint[] */
	CLIP_SECTION_WINDOWS     = 8, /* bytes: zlib-compressed windows */
	CLIP_SECTION_IMAGE       = 9, /* one struct clip_disk_image */
	CLIP_SECTION_PREFETCH    = 10, /* struct clip_disk_prefetch[]; optional */
	CLIP_SECTION_CHUNKS      = 11, /* struct clip_disk_chunks_header, ...; optional */
};
#define CLIP_SECTION_MAX_KNOWN 11

/*
 * A string: bytes [off, off + len) of the STRINGS section, followed there
 * by a NUL byte that len does not count.  Strings are binary-safe (xattr
 * values); the NUL only lets a checked string be used as a C string.
 */
struct clip_disk_str {
	uint32_t off;
	uint32_t len;
};

/*
 * An inode.  The meaning of a, b and c depends on the file type:
 *   S_IFREG: a = layer index, b = 0, c = offset of the file's first data
 *            byte in that layer's uncompressed tar stream
 *   S_IFDIR: a = index of the first dirent, b = number of dirents,
 *            c = parent inode number (the root is its own parent)
 *   S_IFLNK: a, b = the target, as a clip_disk_str; size = b
 *   S_IFCHR, S_IFBLK: a = major, b = minor
 *   S_IFIFO, S_IFSOCK: all zero
 */
struct clip_disk_inode {
	uint16_t mode;            /* st_mode: type and all 12 permission bits */
	uint16_t flags;           /* none defined: must be 0 */
	uint32_t nlink;
	uint32_t uid;
	uint32_t gid;
	uint64_t size;
	int64_t  mtime_sec;
	uint32_t mtime_nsec;      /* < 1000000000 */
	uint32_t xattr_set;       /* 0: none; else 1 + index into XATTR_SETS */
	uint32_t a;
	uint32_t b;
	uint64_t c;
};

/*
 * A directory entry.  A directory's entries are contiguous and sorted by
 * name (bytewise, shorter first on a common prefix), so lookup is a
 * binary search and readdir a scan.  "." and ".." are not stored.
 */
struct clip_disk_dirent {
	uint32_t name_off;        /* into STRINGS */
	uint32_t ino;             /* the child's inode number (>= 2) */
	uint16_t name_len;        /* 1..CLIP_NAME_MAX */
	uint8_t  type;            /* the child's mode >> 12, for readdir */
	uint8_t  reserved;        /* 0 */
};

/* The order of names in a directory: bytewise, a prefix first. */
static inline int
clip_name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* An inode's xattrs: XATTRS[first .. first + count), sorted by name. */
struct clip_disk_xattr_set {
	uint32_t first;
	uint32_t count;
};

struct clip_disk_xattr {
	struct clip_disk_str name;   /* full name with namespace: "user.foo" */
	struct clip_disk_str value;  /* binary */
};

enum clip_compression {
	CLIP_COMPRESSION_NONE = 0,  /* the blob is the tar stream */
	CLIP_COMPRESSION_GZIP = 1,  /* one or more gzip members */
};

/* A layer, bottom first, as in the image manifest. */
struct clip_disk_layer {
	struct clip_disk_str digest;      /* "sha256:<64 hex>" */
	struct clip_disk_str media_type;
	uint64_t compressed_size;         /* the blob */
	uint64_t uncompressed_size;       /* the tar stream */
	uint32_t first_checkpoint;        /* into CHECKPOINTS */
	uint32_t checkpoint_count;        /* >= 1 unless the blob is empty */
	uint32_t compression;             /* enum clip_compression */
	uint32_t flags;                   /* none defined: must be 0 */
	uint64_t reserved[2];             /* 0 */
};

enum clip_checkpoint_kind {
	/* Resume raw deflate: prime `bits` bits from byte in_offset - 1,
	 * preset the window, continue at in_offset. */
	CLIP_CHECKPOINT_DEFLATE = 0,
	/* A gzip member header starts at in_offset; no window needed. */
	CLIP_CHECKPOINT_MEMBER = 1,
	/* Uncompressed layer: in_offset == out_offset, no window. */
	CLIP_CHECKPOINT_STORED = 2,
};

/*
 * A checkpoint, and the span that starts at it.  Checkpoints of a layer
 * are sorted by both offsets, and the first one has out_offset 0.  Span i
 * is the compressed bytes [in_offset_i - (bits_i ? 1 : 0), end_i) with
 * end_i the next checkpoint's in_offset, or the blob's size for the last
 * span; span_sha256 is their SHA-256, so a fetched range is verified
 * before it is inflated.
 */
struct clip_disk_checkpoint {
	uint64_t in_offset;       /* compressed offset */
	uint64_t out_offset;      /* uncompressed offset */
	uint64_t window_off;      /* into WINDOWS */
	uint32_t window_zlen;     /* stored (zlib-compressed) length */
	uint32_t window_len;      /* inflated length, <= CLIP_WINDOW_SIZE */
	uint8_t  bits;            /* 0..7 */
	uint8_t  kind;            /* enum clip_checkpoint_kind */
	uint16_t reserved0;       /* 0 */
	uint32_t reserved1;       /* 0 */
	uint8_t  span_sha256[32];
};

/* Where the image came from, where to fetch it, and how to run it. */
struct clip_disk_image {
	struct clip_disk_str source_ref;       /* as given to clipfs index */
	struct clip_disk_str storage_registry; /* "host[:port]" the mounter fetches from */
	struct clip_disk_str storage_repository;
	struct clip_disk_str manifest_digest;
	struct clip_disk_str manifest_media_type;
	struct clip_disk_str config_digest;
	struct clip_disk_str os;
	struct clip_disk_str architecture;
	struct clip_disk_str variant;
	struct clip_disk_str config_json;      /* the config's "config" object */
	uint32_t storage_flags;                /* CLIP_STORAGE_* */
	uint32_t reserved;                     /* 0 */
};

/*
 * What to fetch first when the image is mounted, in order: bytes
 * [offset, offset + length) of a regular file (length 0: to its end).
 * Written without CLIP_SECTION_REQUIRED: a reader that does not know it
 * mounts the image all the same, only without prefetching.
 */
struct clip_disk_prefetch {
	uint32_t ino;
	uint32_t reserved;        /* 0 */
	uint64_t offset;
	uint64_t length;
};

/*
 * Chunk hashes: the SHA-256 of every 1 << chunk_shift byte piece of each
 * layer's blob as stored in the registry (the gzip bytes of a gzip layer,
 * the tar bytes of an uncompressed one), pieces aligned to blob offset 0,
 * the last one shorter.  So any chunk-aligned range of a span can be
 * verified, not only whole spans.  The section is this header, then
 * layer_count uint64_t `first` (the index of the layer's first hash:
 * first[0] == 0, first[l + 1] == first[l] + ceil(compressed_size_l /
 * chunk size)), then the hashes, 32 bytes each; its length is exactly
 * that.  Written without CLIP_SECTION_REQUIRED: a reader that does not
 * know it verifies whole spans only.
 */
struct clip_disk_chunks_header {
	uint32_t chunk_shift;     /* chunk size = 1 << chunk_shift; 16 (64 KiB) written */
	uint32_t layer_count;     /* == the LAYERS count */
};
#define CLIP_CHUNK_SHIFT     16  /* what clipfs writes */
#define CLIP_CHUNK_SHIFT_MIN 12  /* what readers accept */
#define CLIP_CHUNK_SHIFT_MAX 24

/* The registry speaks plain HTTP (recorded from --plain-http). */
#define CLIP_STORAGE_PLAIN_HTTP 0x1u

_Static_assert(sizeof(struct clip_disk_header) == 72, "header layout");
_Static_assert(sizeof(struct clip_disk_section) == 24, "section layout");
_Static_assert(sizeof(struct clip_disk_inode) == 56, "inode layout");
_Static_assert(sizeof(struct clip_disk_dirent) == 12, "dirent layout");
_Static_assert(sizeof(struct clip_disk_xattr_set) == 8, "xattr set layout");
_Static_assert(sizeof(struct clip_disk_xattr) == 16, "xattr layout");
_Static_assert(sizeof(struct clip_disk_layer) == 64, "layer layout");
_Static_assert(sizeof(struct clip_disk_checkpoint) == 72, "checkpoint layout");
_Static_assert(sizeof(struct clip_disk_image) == 88, "image layout");
_Static_assert(sizeof(struct clip_disk_prefetch) == 24, "prefetch layout");
_Static_assert(sizeof(struct clip_disk_chunks_header) == 8, "chunks header layout");

#endif
