/*
 * tar_pax.c - PAX extended header records ("%d %s=%s\n").
 *
 * Records are length-prefixed, so values are binary: a NUL is data, not
 * an end.  We refuse NULs where they would silently cut a name (keys,
 * path, linkpath, xattr names) instead of guessing what was meant.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tar/tar_pax.h"
#include "common/util/base64.h"
#include "common/util/hex.h"

const char *
tar_quote(const char *p, size_t n, char *out, size_t outsz)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		/* Room for the widest item (4) plus "..." and NUL. */
		if (o + 4 + 4 > outsz) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			out[o++] = (char)c;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}

void
tar_pax_clear(struct tar_pax *p)
{
	size_t i;

	free(p->path);
	free(p->linkpath);
	free(p->sparse_name);
	for (i = 0; i < p->nxattrs; i++) {
		free(p->xattrs[i].name);
		free(p->xattrs[i].value);
	}
	free(p->xattrs);
	memset(p, 0, sizeof(*p));
}

/* Decimal digits only, no sign, at most max. */
static bool
parse_dec(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9 || v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* "[-]SECONDS[.FRACTION]"; the fraction is cut to nanoseconds. */
static bool
parse_time(const char *s, size_t n, int64_t *sec, uint32_t *nsec)
{
	const char *dot = memchr(s, '.', n);
	size_t ilen = dot ? (size_t)(dot - s) : n;
	bool neg = ilen > 0 && s[0] == '-';
	uint64_t whole;
	uint32_t frac = 0;
	size_t i, digits = 0;

	if (!parse_dec(s + neg, ilen - neg, (uint64_t)INT64_MAX, &whole))
		return false;
	if (dot != NULL) {
		for (i = ilen + 1; i < n; i++) {
			unsigned d = (unsigned char)s[i] - '0';

			if (d > 9)
				return false;
			if (digits < 9) {
				frac = frac * 10 + d;
				digits++;
			}
		}
		for (; digits < 9; digits++)
			frac *= 10;
	}
	if (!neg) {
		*sec = (int64_t)whole;
		*nsec = frac;
	} else if (frac == 0) {
		*sec = -(int64_t)whole;
		*nsec = 0;
	} else {
		/* -1.25 is 2 seconds before the epoch plus 0.75. */
		if (whole == (uint64_t)INT64_MAX)
			return false;
		*sec = -(int64_t)whole - 1;
		*nsec = 1000000000u - frac;
	}
	return true;
}

/* %XX-decodes (in, n) into out (n + 1 bytes); refuses %00 and bad escapes. */
static bool
url_decode(const char *in, size_t n, char *out, size_t *outlen)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (in[i] == '%') {
			int hi, lo;

			if (i + 2 >= n)
				return false;
			hi = clip_hex_digit((unsigned char)in[i + 1]);
			lo = clip_hex_digit((unsigned char)in[i + 2]);
			if (hi < 0 || lo < 0 || (hi | lo) == 0)
				return false;
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = in[i];
		}
	}
	out[o] = '\0';
	*outlen = o;
	return true;
}

/* Replaces *dst with a NUL-terminated copy of (v, n), or NULL if n == 0. */
static clip_err
set_string(char **dst, size_t *dlen, const char *v, size_t n,
    struct clip_error *err)
{
	char *s = NULL;

	if (n > 0) {
		s = malloc(n + 1);
		if (s == NULL)
			return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
		memcpy(s, v, n);
		s[n] = '\0';
	}
	free(*dst);
	*dst = s;
	*dlen = n;
	return CLIP_OK;
}

/* Sets xattr name to value (taking ownership of both); replaces a same name. */
static clip_err
xattr_put(struct tar_pax *p, char *name, uint8_t *value, size_t len,
    struct clip_error *err)
{
	struct tar_pax_xattr *x;
	size_t i;

	for (i = 0; i < p->nxattrs; i++) {
		if (strcmp(p->xattrs[i].name, name) == 0) {
			free(p->xattrs[i].name);
			free(p->xattrs[i].value);
			p->xattrs[i].name = name;
			p->xattrs[i].value = value;
			p->xattrs[i].len = len;
			return CLIP_OK;
		}
	}
	if (p->nxattrs >= TAR_PAX_XATTR_MAX) {
		free(name);
		free(value);
		return clip_error_set(err, CLIP_ERR_TOOBIG,
		    "more than %d extended attributes on one entry",
		    TAR_PAX_XATTR_MAX);
	}
	/* Grows by one: the cap keeps this at most ~1024 small reallocs. */
	x = realloc(p->xattrs, (p->nxattrs + 1) * sizeof(*x));
	if (x == NULL) {
		free(name);
		free(value);
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	p->xattrs = x;
	x[p->nxattrs].name = name;
	x[p->nxattrs].value = value;
	x[p->nxattrs].len = len;
	p->nxattrs++;
	return CLIP_OK;
}

#define KEY_IS(lit) (klen == sizeof(lit) - 1 && memcmp(key, lit, klen) == 0)
#define KEY_HAS_PREFIX(lit) \
	(klen >= sizeof(lit) - 1 && memcmp(key, lit, sizeof(lit) - 1) == 0)

static clip_err
xattr_record(struct tar_pax *p, const char *key, size_t klen, bool libarchive,
    const char *val, size_t vlen, struct clip_error *err)
{
	char q[80];
	char *name;
	uint8_t *value;
	size_t nlen, len;

	if (klen == 0)
		return clip_error_set(err, CLIP_ERR_TAR,
		    "PAX xattr record without an attribute name");
	/* POSIX: an empty value deletes the keyword.  Go's archive/tar (and so
	 * containerd and umoci) drops such an xattr; so do we. */
	if (vlen == 0 && !libarchive) {
		size_t i;
		for (i = 0; i < p->nxattrs; i++)
			if (strlen(p->xattrs[i].name) == klen &&
			    memcmp(p->xattrs[i].name, key, klen) == 0) {
				free(p->xattrs[i].name);
				free(p->xattrs[i].value);
				p->xattrs[i] = p->xattrs[--p->nxattrs];
				break;
			}
		return CLIP_OK;
	}
	name = malloc(klen + 1);
	value = malloc(vlen + 1);
	if (name == NULL || value == NULL) {
		free(name);
		free(value);
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	if (libarchive) {
		if (!url_decode(key, klen, name, &nlen) || nlen == 0) {
			free(name);
			free(value);
			return clip_error_set(err, CLIP_ERR_TAR,
			    "PAX LIBARCHIVE.xattr name \"%s\" is not URL-encoded",
			    tar_quote(key, klen, q, sizeof(q)));
		}
		if (!clip_base64_decode_into(val, vlen, value, &len)) {
			free(name);
			free(value);
			return clip_error_set(err, CLIP_ERR_TAR,
			    "PAX LIBARCHIVE.xattr.%s value is not base64",
			    tar_quote(key, klen, q, sizeof(q)));
		}
	} else {
		memcpy(name, key, klen);
		name[klen] = '\0';
		memcpy(value, val, vlen);
		len = vlen;
	}
	value[len] = '\0';
	return xattr_put(p, name, value, len, err);
}

static clip_err
number_record(const char *key, size_t klen, const char *val, size_t vlen,
    uint64_t max, uint64_t *out, bool *has, struct clip_error *err)
{
	char qk[48], qv[48];

	if (vlen == 0) {
		*has = false;
		return CLIP_OK;
	}
	if (!parse_dec(val, vlen, max, out))
		return clip_error_set(err, CLIP_ERR_TAR,
		    "PAX %s value \"%s\" is not a number in range",
		    tar_quote(key, klen, qk, sizeof(qk)),
		    tar_quote(val, vlen, qv, sizeof(qv)));
	*has = true;
	return CLIP_OK;
}

static clip_err
one_record(struct tar_pax *p, const char *key, size_t klen, const char *val,
    size_t vlen, struct clip_error *err)
{
	uint64_t v;
	char q[80];
	clip_err rc;

	if (memchr(key, '\0', klen) != NULL)
		return clip_error_set(err, CLIP_ERR_TAR,
		    "PAX record key \"%s\" contains a NUL byte",
		    tar_quote(key, klen, q, sizeof(q)));

	if (KEY_IS("path") || KEY_IS("linkpath")) {
		bool is_path = KEY_IS("path");

		if (memchr(val, '\0', vlen) != NULL)
			return clip_error_set(err, CLIP_ERR_TAR,
			    "PAX %s \"%s\" contains a NUL byte",
			    is_path ? "path" : "linkpath",
			    tar_quote(val, vlen, q, sizeof(q)));
		if (is_path)
			return set_string(&p->path, &p->path_len, val, vlen, err);
		return set_string(&p->linkpath, &p->linkpath_len, val, vlen, err);
	}
	if (KEY_IS("size"))
		return number_record(key, klen, val, vlen, (uint64_t)INT64_MAX,
		    &p->size, &p->has_size, err);
	if (KEY_IS("uid") || KEY_IS("gid")) {
		bool is_uid = KEY_IS("uid");

		rc = number_record(key, klen, val, vlen, UINT32_MAX, &v,
		    is_uid ? &p->has_uid : &p->has_gid, err);
		if (rc == CLIP_OK && is_uid)
			p->uid = (uint32_t)v;
		else if (rc == CLIP_OK)
			p->gid = (uint32_t)v;
		return rc;
	}
	if (KEY_IS("SCHILY.devmajor") || KEY_IS("SCHILY.devminor")) {
		bool major = KEY_IS("SCHILY.devmajor");

		rc = number_record(key, klen, val, vlen, UINT32_MAX, &v,
		    major ? &p->has_devmajor : &p->has_devminor, err);
		if (rc == CLIP_OK && major)
			p->devmajor = (uint32_t)v;
		else if (rc == CLIP_OK)
			p->devminor = (uint32_t)v;
		return rc;
	}
	if (KEY_IS("mtime")) {
		if (vlen == 0) {
			p->has_mtime = false;
			return CLIP_OK;
		}
		if (!parse_time(val, vlen, &p->mtime_sec, &p->mtime_nsec))
			return clip_error_set(err, CLIP_ERR_TAR,
			    "PAX mtime \"%s\" is not a time",
			    tar_quote(val, vlen, q, sizeof(q)));
		p->has_mtime = true;
		return CLIP_OK;
	}
	if (KEY_HAS_PREFIX("SCHILY.xattr."))
		return xattr_record(p, key + 13, klen - 13, false, val, vlen, err);
	if (KEY_HAS_PREFIX("LIBARCHIVE.xattr."))
		return xattr_record(p, key + 17, klen - 17, true, val, vlen, err);
	if (KEY_HAS_PREFIX("GNU.sparse.")) {
		p->sparse = true;
		if (KEY_IS("GNU.sparse.name"))
			return set_string(&p->sparse_name, &p->sparse_name_len,
			    val, vlen, err);
		return CLIP_OK;
	}
	/* atime, ctime, uname, gname, charset, comment, vendor keys. */
	return CLIP_OK;
}

clip_err
tar_pax_parse(struct tar_pax *p, const uint8_t *buf, size_t len,
    struct clip_error *err)
{
	const char *s = (const char *)buf;
	size_t pos = 0;
	clip_err rc;

	while (pos < len) {
		size_t n = 0, i = pos, rest = len - pos;
		const char *rec = s + pos, *kv, *eq, *end;

		/* Some writers pad the payload with NULs after the last record. */
		if (s[pos] == '\0') {
			for (; i < len; i++)
				if (s[i] != '\0')
					break;
			if (i == len)
				return CLIP_OK;
			return clip_error_set(err, CLIP_ERR_TAR,
			    "PAX header: data after NUL padding at byte %zu", pos);
		}
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			n = n * 10 + (size_t)(s[i] - '0');
			if (n > rest)
				return clip_error_set(err, CLIP_ERR_TAR,
				    "PAX header: record length at byte %zu runs past "
				    "the header (%zu bytes)", pos, len);
			i++;
		}
		if (i == pos || i >= len || s[i] != ' ')
			return clip_error_set(err, CLIP_ERR_TAR,
			    "PAX header: bad record length at byte %zu", pos);
		/* The length counts itself, the space, "k=" and the newline. */
		if (n < (i - pos) + 4)
			return clip_error_set(err, CLIP_ERR_TAR,
			    "PAX header: record length %zu at byte %zu is too short",
			    n, pos);
		kv = s + i + 1;
		end = rec + n - 1;
		if (*end != '\n')
			return clip_error_set(err, CLIP_ERR_TAR,
			    "PAX header: record at byte %zu does not end in a newline",
			    pos);
		eq = memchr(kv, '=', (size_t)(end - kv));
		if (eq == NULL || eq == kv)
			return clip_error_set(err, CLIP_ERR_TAR,
			    "PAX header: record at byte %zu has no keyword", pos);
		rc = one_record(p, kv, (size_t)(eq - kv), eq + 1,
		    (size_t)(end - eq - 1), err);
		if (rc != CLIP_OK)
			return rc;
		pos += n;
	}
	return CLIP_OK;
}
