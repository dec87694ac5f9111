/*
 * fs_ops.c - the FUSE low-level operations of clipfs.
 *
 * Metadata is answered from the index alone, data through the layer
 * reader.  Helpers return a positive errno and never reply; each
 * operation replies exactly once.  Nothing is writable: the mount is
 * read-only ("ro"), and write operations that still arrive get EROFS.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "clipfs/fs.h"
#include "clipfs/log.h"

#define FS_BLOCK 4096

static struct clipfs_fs *
fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

double
fs_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Fills st from the index; a positive errno on failure. */
static int
fill_stat(const struct clipfs_fs *fs, fuse_ino_t ino, struct stat *st)
{
	struct clip_stat cs;

	if (ino > UINT32_MAX || clip_index_stat(fs->idx, (uint32_t)ino, &cs) != CLIP_OK)
		return ENOENT;
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = cs.mode;
	st->st_nlink = cs.nlink;
	st->st_uid = cs.uid;
	st->st_gid = cs.gid;
	st->st_size = (off_t)cs.size;
	/* tar gives directories no size; report what a real unpacked
	 * rootfs on a block file system shows for a small directory. */
	if (S_ISDIR(cs.mode) && cs.size == 0)
		st->st_size = FS_BLOCK;
	st->st_blksize = FS_BLOCK;
	st->st_blocks = (blkcnt_t)((cs.size + 511) / 512);
	st->st_rdev = makedev(cs.rdev_major, cs.rdev_minor);
	st->st_mtim.tv_sec = cs.mtime_sec;
	st->st_mtim.tv_nsec = cs.mtime_nsec;
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
	return 0;
}

/* Remembers a name for ino so the trace can print paths. */
static void
trace_learn(struct clipfs_fs *fs, fuse_ino_t parent, const char *name, uint32_t ino)
{
	struct fs_trace *t = fs->trace;
	const char *base;
	char *path;

	if (t == NULL || ino == 0 || ino > clip_index_inode_count(fs->idx))
		return;
	pthread_mutex_lock(&t->lock);
	if (t->paths[ino - 1] == NULL) {
		base = parent == FUSE_ROOT_ID || t->paths[parent - 1] == NULL ? "" :
		    t->paths[parent - 1];
		if (asprintf(&path, "%s/%s", base, name) >= 0)
			t->paths[ino - 1] = path;
	}
	pthread_mutex_unlock(&t->lock);
}

void
fs_trace_access(struct clipfs_fs *fs, fuse_ino_t ino, off_t off)
{
	struct fs_trace *t = fs->trace;

	if (t == NULL || ino == 0 || ino > clip_index_inode_count(fs->idx))
		return;
	pthread_mutex_lock(&t->lock);
	if (!(t->seen[(ino - 1) / 8] & (1u << ((ino - 1) % 8)))) {
		t->seen[(ino - 1) / 8] |= (uint8_t)(1u << ((ino - 1) % 8));
		fprintf(t->out, "%s\t%.6f\t%lld\n", t->paths[ino - 1] ? t->paths[ino - 1] : "?",
		    fs_now() - t->start, (long long)off);
		fflush(t->out);
	}
	pthread_mutex_unlock(&t->lock);
}

struct fs_trace *
fs_trace_open(const char *path, uint32_t ninodes, int append)
{
	struct fs_trace *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->ninodes = ninodes;
	t->out = fopen(path, append ? "a" : "w");
	t->seen = calloc((size_t)ninodes / 8 + 1, 1);
	t->paths = calloc((size_t)ninodes + 1, sizeof(*t->paths));
	if (t->out == NULL || t->seen == NULL || t->paths == NULL) {
		fs_trace_close(t);
		return NULL;
	}
	pthread_mutex_init(&t->lock, NULL);
	t->start = fs_now();
	if (!append)
		fprintf(t->out, "# path\tseconds\toffset\n");
	return t;
}

void
fs_trace_close(struct fs_trace *t)
{
	uint32_t i;

	if (t == NULL)
		return;
	if (t->out != NULL)
		fclose(t->out);
	for (i = 0; t->paths != NULL && i < t->ninodes; i++)
		free(t->paths[i]);
	free(t->seen);
	free(t->paths);
	free(t->ext);
	free(t);
}

/* Whether any inode of the index has a POSIX ACL (the xattrs the kernel
 * reads as ACLs); an mmap'ed walk of the inodes, once at init. */
static int
index_has_acls(const clip_index *idx)
{
	uint32_t ino, n = clip_index_inode_count(idx), i;
	struct clip_str name, value;
	struct clip_stat st;

	for (ino = 1; ino <= n; ino++) {
		if (clip_index_stat(idx, ino, &st) != CLIP_OK)
			continue;
		for (i = 0; i < st.xattr_count; i++)
			if (clip_index_xattr(idx, ino, i, &name, &value) == CLIP_OK &&
			    name.len > 16 && memcmp(name.ptr, "system.posix_acl", 16) == 0)
				return 1;
	}
	return 0;
}

static void
fs_init(void *userdata, struct fuse_conn_info *conn)
{
	struct clipfs_fs *fs = userdata;

	/* Opening a file of an image that never changes needs no answer
	 * from us: once an open is answered ENOSYS, the kernel opens files
	 * (dirs) by itself, with their cache kept, and sends neither OPEN
	 * nor RELEASE, two round trips fewer per file the workload opens. */
	fs->no_open = (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) != 0;
	fs->no_opendir = (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) != 0;
	/* Large reads and readahead: spans are megabytes anyway. */
	conn->max_readahead = 1u << 20;
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO;
	/* The image never changes under the kernel. */
	conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
	/* ACLs in the image: the kernel enforces them (default_permissions
	 * is always on) from the system.posix_acl_* xattrs we serve.  Only
	 * then: it costs a getxattr round trip per inode checked. */
	if (index_has_acls(fs->idx)) {
		if (conn->capable & FUSE_CAP_POSIX_ACL)
			conn->want |= FUSE_CAP_POSIX_ACL;
		else
			log_warn("the image has POSIX ACLs, which this kernel cannot enforce "
			    "through FUSE: only the mode bits are checked");
	}
}

static void
fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct clipfs_fs *fs = fs_of(req);
	struct fuse_entry_param e;
	uint32_t child = 0;
	clip_err rc;

	atomic_fetch_add(&fs->counters.lookups, 1);
	memset(&e, 0, sizeof(e));
	e.attr_timeout = fs->entry_timeout;
	e.entry_timeout = fs->entry_timeout;
	if (parent > UINT32_MAX) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	rc = clip_index_lookup(fs->idx, (uint32_t)parent, name, strlen(name), &child);
	if (rc == CLIP_ERR_INVALID) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	if (rc != CLIP_OK) {
		/* ino 0 with a timeout: the kernel caches the miss. */
		fuse_reply_entry(req, &e);
		return;
	}
	if (fill_stat(fs, child, &e.attr) != 0) {
		fuse_reply_err(req, EIO);
		return;
	}
	e.ino = child;
	trace_learn(fs, parent, name, child);
	fuse_reply_entry(req, &e);
}

static void
fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct clipfs_fs *fs = fs_of(req);
	struct stat st;
	int e;

	(void)fi;
	atomic_fetch_add(&fs->counters.getattrs, 1);
	if ((e = fill_stat(fs, ino, &st)) != 0)
		fuse_reply_err(req, e);
	else
		fuse_reply_attr(req, &st, fs->entry_timeout);
}

static void
fs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct clipfs_fs *fs = fs_of(req);
	struct clip_str target;

	atomic_fetch_add(&fs->counters.readlinks, 1);
	/* The target is NUL-terminated in the index (clip(5)). */
	if (ino > UINT32_MAX || clip_index_readlink(fs->idx, (uint32_t)ino, &target) != CLIP_OK)
		fuse_reply_err(req, EINVAL);
	else
		fuse_reply_readlink(req, target.ptr);
}

static void
fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct clipfs_fs *fs = fs_of(req);
	struct clip_stat cs;

	if (ino > UINT32_MAX || clip_index_stat(fs->idx, (uint32_t)ino, &cs) != CLIP_OK) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (!S_ISDIR(cs.mode)) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	if (fs->no_opendir) {
		fuse_reply_err(req, ENOSYS);    /* i.e. "do not ask again" */
		return;
	}
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

/* Offsets: 1 is ".", 2 is "..", 3 + i is entry i. */
static void
do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus)
{
	struct clipfs_fs *fs = fs_of(req);
	struct clip_dirent de;
	struct clip_stat cs;
	char *buf, name[CLIP_NAME_MAX + 1];
	size_t used = 0, n;
	uint32_t count;

	atomic_fetch_add(&fs->counters.readdirs, 1);
	if (ino > UINT32_MAX || clip_index_stat(fs->idx, (uint32_t)ino, &cs) != CLIP_OK ||
	    !S_ISDIR(cs.mode)) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	buf = malloc(size);
	if (buf == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	count = clip_index_dir_size(fs->idx, (uint32_t)ino);
	for (; off < (off_t)count + 2; off++) {
		struct fuse_entry_param e;
		const char *nm;
		memset(&e, 0, sizeof(e));
		if (off == 0) {
			nm = ".";
			e.ino = ino;
		} else if (off == 1) {
			nm = "..";
			e.ino = cs.parent;
		} else {
			if (clip_index_readdir(fs->idx, (uint32_t)ino, (uint32_t)(off - 2), &de) != CLIP_OK)
				break;
			memcpy(name, de.name.ptr, de.name.len);
			name[de.name.len] = '\0';
			nm = name;
			e.ino = de.ino;
		}
		if (fill_stat(fs, e.ino, &e.attr) != 0)
			break;
		if (plus && off >= 2) {
			e.attr_timeout = fs->entry_timeout;
			e.entry_timeout = fs->entry_timeout;
			n = fuse_add_direntry_plus(req, buf + used, size - used, nm, &e, off + 1);
		} else {
			/* "." and ".." must not be looked up by readdirplus. */
			if (plus) {
				struct fuse_entry_param dot = { .attr = e.attr };
				n = fuse_add_direntry_plus(req, buf + used, size - used, nm, &dot, off + 1);
			} else {
				n = fuse_add_direntry(req, buf + used, size - used, nm, &e.attr, off + 1);
			}
		}
		if (n > size - used)
			break;
		used += n;
		if (plus && off >= 2)
			trace_learn(fs, ino, nm, (uint32_t)e.ino);
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void
fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, 0);
}

static void
fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, 1);
}

static void
fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct clipfs_fs *fs = fs_of(req);
	struct clip_stat cs;

	atomic_fetch_add(&fs->counters.opens, 1);
	if (ino > UINT32_MAX || clip_index_stat(fs->idx, (uint32_t)ino, &cs) != CLIP_OK) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (S_ISDIR(cs.mode)) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if (fs->no_open) {
		fuse_reply_err(req, ENOSYS);    /* i.e. "do not ask again" */
		return;
	}
	fi->keep_cache = 1;   /* the bytes never change */
	fuse_reply_open(req, fi);
}

static void
fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct clipfs_fs *fs = fs_of(req);
	struct clip_error err;
	struct clip_stat cs;
	uint8_t *buf;
	size_t got = 0;

	(void)fi;
	atomic_fetch_add(&fs->counters.reads, 1);
	if (ino > UINT32_MAX || clip_index_stat(fs->idx, (uint32_t)ino, &cs) != CLIP_OK ||
	    !S_ISREG(cs.mode) || off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	fs_trace_access(fs, ino, off);
	if ((uint64_t)off >= cs.size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > cs.size - (uint64_t)off)
		size = (size_t)(cs.size - (uint64_t)off);
	buf = malloc(size);
	if (buf == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	clip_error_clear(&err);
	if (clip_reader_read_extent(fs->reader, cs.layer, cs.data_offset + (uint64_t)off, size,
	    cs.data_offset + cs.size, buf, &got, &err) != CLIP_OK || got != size) {
		atomic_fetch_add(&fs->counters.read_errors, 1);
		log_error("read of inode %llu at %lld (+%zu): %s", (unsigned long long)ino,
		    (long long)off, size, got != size && err.code == CLIP_OK ?
		    "layer ends early" : clip_error_message(&err));
		fuse_reply_err(req, EIO);
	} else {
		fuse_reply_buf(req, (const char *)buf, size);
	}
	free(buf);
}

/* Finds xattr name of ino; its value in *value. */
static int
find_xattr(const struct clipfs_fs *fs, fuse_ino_t ino, const char *name, struct clip_str *value)
{
	struct clip_stat cs;
	struct clip_str n;
	size_t len = strlen(name);
	uint32_t i;

	if (ino > UINT32_MAX || clip_index_stat(fs->idx, (uint32_t)ino, &cs) != CLIP_OK)
		return ENOENT;
	for (i = 0; i < cs.xattr_count; i++)
		if (clip_index_xattr(fs->idx, (uint32_t)ino, i, &n, value) == CLIP_OK &&
		    n.len == len && memcmp(n.ptr, name, len) == 0)
			return 0;
	return ENODATA;
}

static void
fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct clipfs_fs *fs = fs_of(req);
	struct clip_str v;
	int e;

	atomic_fetch_add(&fs->counters.xattrs, 1);
	if ((e = find_xattr(fs, ino, name, &v)) != 0)
		fuse_reply_err(req, e);
	else if (size == 0)
		fuse_reply_xattr(req, v.len);
	else if (size < v.len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, v.ptr, v.len);
}

static void
fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct clipfs_fs *fs = fs_of(req);
	struct clip_stat cs;
	struct clip_str n, v;
	size_t total = 0;
	uint32_t i;
	char *buf;

	atomic_fetch_add(&fs->counters.xattrs, 1);
	if (ino > UINT32_MAX || clip_index_stat(fs->idx, (uint32_t)ino, &cs) != CLIP_OK) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	for (i = 0; i < cs.xattr_count; i++)
		if (clip_index_xattr(fs->idx, (uint32_t)ino, i, &n, &v) == CLIP_OK)
			total += n.len + 1;
	if (size == 0) {
		fuse_reply_xattr(req, total);
		return;
	}
	if (size < total) {
		fuse_reply_err(req, ERANGE);
		return;
	}
	buf = malloc(total ? total : 1);
	if (buf == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	total = 0;
	for (i = 0; i < cs.xattr_count; i++)
		if (clip_index_xattr(fs->idx, (uint32_t)ino, i, &n, &v) == CLIP_OK) {
			memcpy(buf + total, n.ptr, n.len);
			buf[total + n.len] = '\0';
			total += n.len + 1;
		}
	fuse_reply_buf(req, buf, total);
	free(buf);
}

static void
fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct clipfs_fs *fs = fs_of(req);
	struct statvfs sv;
	uint64_t bytes = 0;
	uint32_t i, n = clip_index_layer_count(fs->idx);
	struct clip_layer l;

	(void)ino;
	for (i = 0; i < n; i++)
		if (clip_index_layer(fs->idx, i, &l) == CLIP_OK)
			bytes += l.uncompressed_size;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = FS_BLOCK;
	sv.f_frsize = FS_BLOCK;
	sv.f_blocks = (bytes + FS_BLOCK - 1) / FS_BLOCK;
	sv.f_files = clip_index_inode_count(fs->idx);
	sv.f_namemax = CLIP_NAME_MAX;
	sv.f_flag = ST_RDONLY;
	fuse_reply_statfs(req, &sv);
}

/* Everything that would change the image. */
static void
fs_erofs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *a, int to_set,
    struct fuse_file_info *fi)
{
	(void)ino; (void)a; (void)to_set; (void)fi;
	fuse_reply_err(req, EROFS);
}

static void
fs_erofs_entry(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent; (void)name;
	fuse_reply_err(req, EROFS);
}

static void
fs_erofs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	(void)parent; (void)name; (void)mode;
	fuse_reply_err(req, EROFS);
}

static void
fs_erofs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	(void)parent; (void)name; (void)mode; (void)rdev;
	fuse_reply_err(req, EROFS);
}

static void
fs_erofs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	(void)link; (void)parent; (void)name;
	fuse_reply_err(req, EROFS);
}

static void
fs_erofs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
    const char *newname, unsigned int flags)
{
	(void)parent; (void)name; (void)newparent; (void)newname; (void)flags;
	fuse_reply_err(req, EROFS);
}

static void
fs_erofs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino; (void)newparent; (void)newname;
	fuse_reply_err(req, EROFS);
}

static void
fs_erofs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
    struct fuse_file_info *fi)
{
	(void)parent; (void)name; (void)mode; (void)fi;
	fuse_reply_err(req, EROFS);
}

static void
fs_erofs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
    size_t size, int flags)
{
	(void)ino; (void)name; (void)value; (void)size; (void)flags;
	fuse_reply_err(req, EROFS);
}

static void
fs_erofs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino; (void)name;
	fuse_reply_err(req, EROFS);
}

static void
fs_erofs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	(void)ino; (void)buf; (void)size; (void)off; (void)fi;
	fuse_reply_err(req, EROFS);
}

const struct fuse_lowlevel_ops clipfs_ops = {
	.init = fs_init,
	.lookup = fs_lookup,
	.getattr = fs_getattr,
	.readlink = fs_readlink,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.readdirplus = fs_readdirplus,
	.open = fs_open,
	.read = fs_read,
	.getxattr = fs_getxattr,
	.listxattr = fs_listxattr,
	.statfs = fs_statfs,
	.setattr = fs_erofs_setattr,
	.mknod = fs_erofs_mknod,
	.mkdir = fs_erofs_mkdir,
	.unlink = fs_erofs_entry,
	.rmdir = fs_erofs_entry,
	.symlink = fs_erofs_symlink,
	.rename = fs_erofs_rename,
	.link = fs_erofs_link,
	.create = fs_erofs_create,
	.write = fs_erofs_write,
	.setxattr = fs_erofs_setxattr,
	.removexattr = fs_erofs_removexattr,
};
