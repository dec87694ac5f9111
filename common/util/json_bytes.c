/* json_bytes.c - byte strings in JSON output (see json_bytes.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util/json_bytes.h"
#include "common/util/hex.h"

/* The length of the valid UTF-8 sequence at p (at most n bytes long), or
 * 0: RFC 3629, no overlong forms, no surrogates, nothing past U+10FFFF,
 * no NUL (a C string could not carry it back). */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	size_t len, i;
	unsigned long cp;

	if (p[0] >= 0x01 && p[0] <= 0x7f)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* A copy of the bytes with what utf8_len refuses as U+FFFD, byte by
 * byte; *clean tells whether nothing was replaced. */
static char *
readable_copy(const unsigned char *p, size_t n, int *clean)
{
	char *out = malloc(3 * n + 1), *o = out;
	size_t i = 0, k;

	*clean = 1;
	if (out == NULL)
		return NULL;
	while (i < n) {
		if ((k = utf8_len(p + i, n - i)) > 0) {
			memcpy(o, p + i, k);
			o += k;
			i += k;
			continue;
		}
		memcpy(o, "\xef\xbf\xbd", 3);
		o += 3;
		i++;
		*clean = 0;
	}
	*o = '\0';
	return out;
}

static json_t *
hex_string(const unsigned char *p, size_t n)
{
	char *hex = malloc(2 * n + 1);
	json_t *j;

	if (hex == NULL)
		return NULL;
	clip_hex_encode(p, n, hex);
	j = json_stringn(hex, 2 * n);
	free(hex);
	return j;
}

int
clip_json_set_bytes(json_t *obj, const char *key, const void *p, size_t n)
{
	char hkey[CLIP_JSON_KEY_MAX + 5];
	json_t *s, *h = NULL;
	char *text;
	int clean;

	if (strlen(key) > CLIP_JSON_KEY_MAX)
		return -1;
	snprintf(hkey, sizeof(hkey), "%s_hex", key);
	if ((text = readable_copy(p, n, &clean)) == NULL)
		return -1;
	s = json_string(text);
	free(text);
	if (s == NULL || (!clean && (h = hex_string(p, n)) == NULL)) {
		json_decref(s);
		return -1;
	}
	if (json_object_set_new(obj, key, s) != 0) {
		json_decref(h);
		return -1;
	}
	json_object_del(obj, hkey);
	if (h != NULL && json_object_set_new(obj, hkey, h) != 0) {
		json_object_del(obj, key);
		return -1;
	}
	return 0;
}

char *
clip_json_get_bytes(const json_t *obj, const char *key, size_t *len)
{
	char hkey[CLIP_JSON_KEY_MAX + 5], *out;
	const char *s;
	json_t *h, *v;
	size_t n;

	*len = 0;
	v = json_object_get(obj, key);
	if (!json_is_string(v) || strlen(key) > CLIP_JSON_KEY_MAX)
		return NULL;
	snprintf(hkey, sizeof(hkey), "%s_hex", key);
	h = json_object_get(obj, hkey);
	if (h == NULL) {
		n = json_string_length(v);
		if ((out = malloc(n + 1)) != NULL) {
			memcpy(out, json_string_value(v), n);
			out[n] = '\0';
			*len = n;
		}
		return out;
	}
	s = json_string_value(h);
	n = json_string_length(h);
	if (s == NULL || n % 2 != 0 || (out = malloc(n / 2 + 1)) == NULL)
		return NULL;
	if (clip_hex_decode(s, n / 2, (uint8_t *)out) != 0) {
		free(out);
		return NULL;
	}
	out[n / 2] = '\0';
	*len = n / 2;
	return out;
}
