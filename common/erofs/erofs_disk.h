/*
 * erofs_disk.h - the parts of the EROFS on-disk format that clipfs writes.
 *
 * Written from the kernel's Documentation/filesystems/erofs.rst and the
 * layout its fs/erofs/erofs_fs.h describes; every field is little-endian
 * (configure refuses big-endian hosts, so native fields are written as
 * they are).  Only what the writer uses is here: 512-byte blocks,
 * extended (64-byte) inodes, flat and chunk-based data, inline xattrs,
 * directories and the device table.
 */
#ifndef CLIP_EROFS_DISK_H
#define CLIP_EROFS_DISK_H

#include <stdint.h>

#define EROFS_DISK_MAGIC          0xE0F5E1E2u
#define EROFS_DISK_SB_OFFSET      1024u   /* the superblock's byte offset */
#define EROFS_DISK_BLKBITS        9u      /* 512-byte blocks: tar's unit */
#define EROFS_DISK_BLKSZ          (1u << EROFS_DISK_BLKBITS)
#define EROFS_DISK_SLOTBITS       5u      /* nid = byte offset in meta / 32 */
#define EROFS_DISK_SLOT           (1u << EROFS_DISK_SLOTBITS)
#define EROFS_DISK_NULL_ADDR      0xFFFFFFFFu  /* an unmapped chunk */
#define EROFS_DISK_NAME_MAX       255u

/* feature_incompat bits this writer sets. */
#define EROFS_DISK_INCOMPAT_CHUNKED_FILE  0x4u
#define EROFS_DISK_INCOMPAT_DEVICE_TABLE  0x8u

/* i_format: bit 0 the inode version, bits 1-3 the data layout. */
#define EROFS_DISK_INODE_EXTENDED 1u
#define EROFS_DISK_FLAT_PLAIN     0u      /* data in whole blocks */
#define EROFS_DISK_FLAT_INLINE    2u      /* the tail right after the inode */
#define EROFS_DISK_CHUNK_BASED    4u      /* chunk indexes after the inode */
#define EROFS_DISK_FORMAT(layout) (EROFS_DISK_INODE_EXTENDED | ((layout) << 1))

/* Chunk format: low 5 bits are log2(chunk size / block size). */
#define EROFS_DISK_CHUNK_BLKBITS_MASK 0x1Fu
#define EROFS_DISK_CHUNK_INDEXES      0x20u

/* Inline xattr name indexes (the namespaces the kernel knows). */
#define EROFS_DISK_XATTR_USER           1u
#define EROFS_DISK_XATTR_ACL_ACCESS     2u
#define EROFS_DISK_XATTR_ACL_DEFAULT    3u
#define EROFS_DISK_XATTR_TRUSTED        4u
#define EROFS_DISK_XATTR_SECURITY       6u

/* Directory entry file types (the kernel's FT_* numbers). */
enum {
	EROFS_DISK_FT_UNKNOWN = 0, EROFS_DISK_FT_REG = 1, EROFS_DISK_FT_DIR = 2,
	EROFS_DISK_FT_CHR = 3, EROFS_DISK_FT_BLK = 4, EROFS_DISK_FT_FIFO = 5,
	EROFS_DISK_FT_SOCK = 6, EROFS_DISK_FT_LNK = 7,
};

struct erofs_disk_super {
	uint32_t magic;
	uint32_t checksum;        /* only read with COMPAT_SB_CHKSUM: 0 */
	uint32_t feature_compat;
	uint8_t  blkszbits;
	uint8_t  sb_extslots;
	uint16_t root_nid;        /* 16 bits: the root sits first in meta */
	uint64_t inos;
	uint64_t build_time;
	uint32_t build_time_nsec;
	uint32_t blocks;          /* blocks of the primary device */
	uint32_t meta_blkaddr;
	uint32_t xattr_blkaddr;
	uint8_t  uuid[16];
	uint8_t  volume_name[16];
	uint32_t feature_incompat;
	uint16_t available_compr_algs;
	uint16_t extra_devices;
	uint16_t devt_slotoff;    /* device table at devt_slotoff * 128 */
	uint8_t  dirblkbits;
	uint8_t  xattr_prefix_count;
	uint32_t xattr_prefix_start;
	uint64_t packed_nid;
	uint8_t  xattr_filter_reserved;
	uint8_t  reserved2[23];
} __attribute__((packed));

struct erofs_disk_device {
	uint8_t  tag[64];
	uint32_t blocks;
	uint32_t mapped_blkaddr;
	uint8_t  reserved[56];
} __attribute__((packed));

struct erofs_disk_inode {
	uint16_t i_format;
	uint16_t i_xattr_icount;  /* 0, or 1 + (inline xattr bytes - 12) / 4 */
	uint16_t i_mode;
	uint16_t i_reserved;
	uint64_t i_size;
	union {
		uint32_t raw_blkaddr;
		uint32_t rdev;
		struct {
			uint16_t format;
			uint16_t reserved;
		} chunk;
	} i_u;
	uint32_t i_ino;
	uint32_t i_uid;
	uint32_t i_gid;
	uint64_t i_mtime;
	uint32_t i_mtime_nsec;
	uint32_t i_nlink;
	uint8_t  i_reserved2[16];
} __attribute__((packed));

struct erofs_disk_xattr_ibody {
	uint32_t h_name_filter;   /* only read with COMPAT_XATTR_FILTER: 0 */
	uint8_t  h_shared_count;
	uint8_t  h_reserved2[7];
} __attribute__((packed));

struct erofs_disk_xattr_entry {
	uint8_t  e_name_len;      /* of the name after the namespace prefix */
	uint8_t  e_name_index;
	uint16_t e_value_size;
} __attribute__((packed));

struct erofs_disk_chunk_index {
	uint16_t advise;          /* 0 */
	uint16_t device_id;       /* 0: this image; k: extra device k */
	uint32_t blkaddr;
} __attribute__((packed));

struct erofs_disk_dirent {
	uint64_t nid;
	uint16_t nameoff;         /* of the name, from the block's start */
	uint8_t  file_type;
	uint8_t  reserved;
} __attribute__((packed));

_Static_assert(sizeof(struct erofs_disk_super) == 128, "superblock size");
_Static_assert(sizeof(struct erofs_disk_device) == 128, "device slot size");
_Static_assert(sizeof(struct erofs_disk_inode) == 64, "extended inode size");
_Static_assert(sizeof(struct erofs_disk_xattr_ibody) == 12, "xattr body header size");
_Static_assert(sizeof(struct erofs_disk_xattr_entry) == 4, "xattr entry size");
_Static_assert(sizeof(struct erofs_disk_chunk_index) == 8, "chunk index size");
_Static_assert(sizeof(struct erofs_disk_dirent) == 12, "dirent size");

#endif
