/*
 * regconf_parse.c - the TOML subset of containers-registries.conf(5)
 * (registries_conf.h): a line-oriented lexer and the tables it fills.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/registry/regconf_int.h"

#define STR_MAX 1024

enum section { SEC_TOP, SEC_REGISTRY, SEC_MIRROR, SEC_ALIASES };

struct lexer {
	const char *p, *end, *name;
	unsigned line;
	struct clip_error *err;
	enum section sec;
	unsigned seen;                 /* bit per known key of the current table */
	clip_regconf *c;               /* what this text adds */
};

static clip_err bad(struct lexer *lx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static clip_err
bad(struct lexer *lx, const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return clip_error_set(lx->err, CLIP_ERR_FORMAT, "%s:%u: %s", lx->name, lx->line, msg);
}

static int
peek(const struct lexer *lx)
{
	return lx->p < lx->end ? (unsigned char)*lx->p : -1;
}

static void
skip_blank(struct lexer *lx)
{
	while (peek(lx) == ' ' || peek(lx) == '\t')
		lx->p++;
}

/* Blanks, newlines and comments (inside an array). */
static void
skip_space(struct lexer *lx)
{
	for (;;) {
		skip_blank(lx);
		if (peek(lx) == '#')
			while (peek(lx) != -1 && peek(lx) != '\n')
				lx->p++;
		if (peek(lx) != '\n' && !(peek(lx) == '\r' && lx->p + 1 < lx->end &&
		    lx->p[1] == '\n'))
			return;
		lx->p += peek(lx) == '\r' ? 2 : 1;
		lx->line++;
	}
}

/* The end of a line: blanks, a comment, then a newline or the end. */
static clip_err
end_of_line(struct lexer *lx)
{
	skip_blank(lx);
	if (peek(lx) == '#')
		while (peek(lx) != -1 && peek(lx) != '\n')
			lx->p++;
	if (peek(lx) == '\r')
		lx->p++;
	if (peek(lx) == -1)
		return CLIP_OK;
	if (peek(lx) != '\n')
		return bad(lx, "unexpected '%c' after the value", peek(lx));
	lx->p++;
	lx->line++;
	return CLIP_OK;
}

/* One escape of a basic string at lx->p (after the backslash). */
static int
unescape(struct lexer *lx)
{
	static const char from[] = "\"\\btnfr", to[] = "\"\\\b\t\n\f\r";
	const char *k = peek(lx) > 0 ? strchr(from, peek(lx)) : NULL;

	if (k == NULL)
		return -1;
	lx->p++;
	return to[k - from];
}

/* A basic "..." or literal '...' string on one line into buf. */
static clip_err
string(struct lexer *lx, char *buf, size_t bufsz)
{
	int q = peek(lx), ch;
	size_t n = 0;

	if (lx->end - lx->p >= 3 && lx->p[1] == q && lx->p[2] == q)
		return bad(lx, "multi-line strings are not supported");
	for (lx->p++; (ch = peek(lx)) != q; n++) {
		if (ch == -1 || ch == '\n' || (ch < ' ' && ch != '\t'))
			return bad(lx, "unterminated string");
		lx->p++;
		if (ch == '\\' && q == '"' && (ch = unescape(lx)) < 0)
			return bad(lx, "unsupported escape in a string");
		if (n + 1 >= bufsz)
			return bad(lx, "string longer than %zu bytes", bufsz - 1);
		buf[n] = (char)ch;
	}
	lx->p++;
	buf[n] = '\0';
	return CLIP_OK;
}

enum vkind { V_STRING, V_BOOL, V_ARRAY };

struct value {
	enum vkind kind;
	char s[STR_MAX];
	int b;
};

/* An array of strings, over several lines if need be (its strings are
 * checked, not kept: no key clipfs uses is an array). */
static clip_err
array(struct lexer *lx)
{
	char s[STR_MAX];
	clip_err rc;

	lx->p++;
	for (;;) {
		skip_space(lx);
		if (peek(lx) == ']') {
			lx->p++;
			return CLIP_OK;
		}
		if (peek(lx) != '"' && peek(lx) != '\'')
			return bad(lx, "arrays hold strings only");
		if ((rc = string(lx, s, sizeof(s))) != CLIP_OK)
			return rc;
		skip_space(lx);
		if (peek(lx) == ',')
			lx->p++;
		else if (peek(lx) != ']')
			return bad(lx, "expected ',' or ']' in an array");
	}
}

static clip_err
value(struct lexer *lx, struct value *v)
{
	skip_blank(lx);
	if (peek(lx) == '"' || peek(lx) == '\'') {
		v->kind = V_STRING;
		return string(lx, v->s, sizeof(v->s));
	}
	if (peek(lx) == '[') {
		v->kind = V_ARRAY;
		return array(lx);
	}
	v->kind = V_BOOL;
	if (lx->end - lx->p >= 4 && strncmp(lx->p, "true", 4) == 0) {
		v->b = 1;
		lx->p += 4;
	} else if (lx->end - lx->p >= 5 && strncmp(lx->p, "false", 5) == 0) {
		v->b = 0;
		lx->p += 5;
	} else {
		return bad(lx, peek(lx) == '{' ? "inline tables are not supported" :
		    "expected a string, true, false or an array of strings");
	}
	return CLIP_OK;
}

/* A bare key [A-Za-z0-9_-]+, or a quoted one. */
static clip_err
key(struct lexer *lx, char *buf, size_t bufsz)
{
	size_t n = 0;

	if (peek(lx) == '"' || peek(lx) == '\'')
		return string(lx, buf, bufsz);
	while (peek(lx) != -1 && (strchr("_-", peek(lx)) != NULL ||
	    (peek(lx) >= 'a' && peek(lx) <= 'z') || (peek(lx) >= 'A' && peek(lx) <= 'Z') ||
	    (peek(lx) >= '0' && peek(lx) <= '9'))) {
		if (n + 1 >= bufsz)
			return bad(lx, "key too long");
		buf[n++] = *lx->p++;
	}
	buf[n] = '\0';
	if (n == 0)
		return bad(lx, "expected a key, a [table] or a comment");
	if (peek(lx) == '.')
		return bad(lx, "dotted keys are not supported");
	return CLIP_OK;
}

/* ---- the tables ------------------------------------------------------------ */

static const char *const registry_keys[] = {
	"prefix", "location", "insecure", "blocked", "mirror-by-digest-only", "pull-from-mirror",
};
static const char *const mirror_keys[] = { "location", "insecure", "pull-from-mirror" };
static const char *const top_keys[] = {
	"unqualified-search-registries", "short-name-mode", "credential-helpers",
};

/* Which of names (n of them) k is, or -1. */
static int
key_index(const char *const *names, size_t n, const char *k)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], k) == 0)
			return (int)i;
	return -1;
}

static clip_err
set_string(struct lexer *lx, char **dst, const struct value *v, const char *k)
{
	if (v->kind != V_STRING)
		return bad(lx, "%s must be a string", k);
	if (v->s[0] == '\0' || strpbrk(v->s, " \t") != NULL)
		return bad(lx, "%s \"%.100s\": not a registry location", k, v->s);
	if ((*dst = strdup(v->s)) == NULL)
		return clip_error_set(lx->err, CLIP_ERR_NOMEM, "out of memory");
	return CLIP_OK;
}

static clip_err
set_bool(struct lexer *lx, int *dst, const struct value *v, const char *k)
{
	if (v->kind != V_BOOL)
		return bad(lx, "%s must be true or false", k);
	*dst = v->b;
	return CLIP_OK;
}

static clip_err
set_pull(struct lexer *lx, enum clip_regconf_pull *dst, const struct value *v)
{
	if (v->kind == V_STRING && strcmp(v->s, "all") == 0)
		*dst = CLIP_PULL_ALL;
	else if (v->kind == V_STRING && strcmp(v->s, "digest-only") == 0)
		*dst = CLIP_PULL_DIGEST_ONLY;
	else if (v->kind == V_STRING && strcmp(v->s, "tag-only") == 0)
		*dst = CLIP_PULL_TAG_ONLY;
	else
		return bad(lx, "pull-from-mirror must be \"all\", \"digest-only\" or \"tag-only\"");
	return CLIP_OK;
}

static clip_err
registry_key(struct lexer *lx, int k, const struct value *v)
{
	struct clip_regconf_registry *r = &lx->c->regs[lx->c->n - 1];
	int digest_only = 0;
	clip_err rc;

	switch (k) {
	case 0: return set_string(lx, &r->prefix, v, "prefix");
	case 1: return set_string(lx, &r->location, v, "location");
	case 2: return set_bool(lx, &r->insecure, v, "insecure");
	case 3: return set_bool(lx, &r->blocked, v, "blocked");
	case 4:
		if ((rc = set_bool(lx, &digest_only, v, "mirror-by-digest-only")) == CLIP_OK &&
		    digest_only)
			r->pull = CLIP_PULL_DIGEST_ONLY;
		return rc;
	default: return set_pull(lx, &r->pull, v);
	}
}

static clip_err
mirror_key(struct lexer *lx, int k, const struct value *v)
{
	struct clip_regconf_registry *r = &lx->c->regs[lx->c->n - 1];
	struct clip_regconf_mirror *m = &r->mirrors[r->nmirrors - 1];

	if (k == 0)
		return set_string(lx, &m->location, v, "location");
	if (k == 1)
		return set_bool(lx, &m->insecure, v, "insecure");
	m->pull_set = 1;
	return set_pull(lx, &m->pull, v);
}

/* key = value in the current table. */
static clip_err
assignment(struct lexer *lx)
{
	static const char *const *const keys[] = { top_keys, registry_keys, mirror_keys, NULL };
	static const size_t nkeys[] = { 3, 6, 3, 0 };
	char k[STR_MAX];
	struct value *v = malloc(sizeof(*v));
	clip_err rc;
	int i = -1;

	if (v == NULL)
		return clip_error_set(lx->err, CLIP_ERR_NOMEM, "out of memory");
	if ((rc = key(lx, k, sizeof(k))) != CLIP_OK)
		goto out;
	skip_blank(lx);
	if (peek(lx) != '=') {
		rc = bad(lx, "expected '=' after %.100s", k);
		goto out;
	}
	lx->p++;
	if ((rc = value(lx, v)) != CLIP_OK)
		goto out;
	if (lx->sec == SEC_ALIASES) {
		if (v->kind != V_STRING)
			rc = bad(lx, "an alias must be a string");
		goto out;
	}
	if ((i = key_index(keys[lx->sec], nkeys[lx->sec], k)) < 0)
		rc = bad(lx, "unknown key %.100s%s", k, lx->sec == SEC_TOP ? "" :
		    lx->sec == SEC_REGISTRY ? " in [[registry]]" : " in [[registry.mirror]]");
	else if (lx->seen & (1u << i))
		rc = bad(lx, "%s given twice", k);
	else if (lx->sec == SEC_TOP && i != 1 && v->kind != V_ARRAY)
		rc = bad(lx, "%s must be an array of strings", k);
	else if (lx->sec == SEC_TOP && i == 1 && v->kind != V_STRING)
		rc = bad(lx, "short-name-mode must be a string");
	else if (lx->sec == SEC_REGISTRY)
		rc = registry_key(lx, i, v);
	else if (lx->sec == SEC_MIRROR)
		rc = mirror_key(lx, i, v);
	lx->seen |= i >= 0 ? 1u << i : 0;
out:
	free(v);
	return rc;
}

/* Grows an array of elements of size sz by one, zeroed. */
static void *
grow(void *arr, size_t n, size_t sz)
{
	char *p = realloc(arr, (n + 1) * sz);

	if (p != NULL)
		memset(p + n * sz, 0, sz);
	return p;
}

/* [[registry]], [[registry.mirror]], [aliases]; the v1 tables refused. */
static clip_err
header(struct lexer *lx)
{
	int arr = lx->end - lx->p >= 2 && lx->p[1] == '[';
	const char *name = lx->p + (arr ? 2 : 1), *close = name;
	clip_regconf *c = lx->c;
	void *p;

	while (close < lx->end && *close != ']' && *close != '\n')
		close++;
	if (close >= lx->end || *close != ']' || (arr && (close + 1 >= lx->end || close[1] != ']')))
		return bad(lx, "unterminated table header");
	lx->p = close + (arr ? 2 : 1);
	lx->seen = 0;
#define IS(s) ((size_t)(close - name) == strlen(s) && strncmp(name, s, strlen(s)) == 0)
	if (arr && IS("registry")) {
		if ((p = grow(c->regs, c->n, sizeof(*c->regs))) == NULL)
			return clip_error_set(lx->err, CLIP_ERR_NOMEM, "out of memory");
		c->regs = p;
		c->regs[c->n++].line = lx->line;
		lx->sec = SEC_REGISTRY;
	} else if (arr && IS("registry.mirror")) {
		struct clip_regconf_registry *r = c->n > 0 ? &c->regs[c->n - 1] : NULL;
		if (r == NULL)
			return bad(lx, "[[registry.mirror]] before any [[registry]]");
		if ((p = grow(r->mirrors, r->nmirrors, sizeof(*r->mirrors))) == NULL)
			return clip_error_set(lx->err, CLIP_ERR_NOMEM, "out of memory");
		r->mirrors = p;
		r->nmirrors++;
		lx->sec = SEC_MIRROR;
	} else if (!arr && IS("aliases")) {
		lx->sec = SEC_ALIASES;
	} else if (!arr && close - name >= 11 && strncmp(name, "registries.", 11) == 0) {
		return bad(lx, "the version 1 format ([registries.*]) is not supported; use "
		    "[[registry]] tables");
	} else {
		return bad(lx, "unsupported table %s%.*s%s", arr ? "[[" : "[", (int)(close - name),
		    name, arr ? "]]" : "]");
	}
#undef IS
	return CLIP_OK;
}

clip_err
regconf_parse_text(clip_regconf *into, const char *name, const char *text, size_t len,
    struct clip_error *err)
{
	struct lexer lx = { text, text + len, name, 1, err, SEC_TOP, 0, into };
	clip_err rc = CLIP_OK;

	while (rc == CLIP_OK) {
		skip_blank(&lx);
		if (peek(&lx) == -1)
			break;
		if (peek(&lx) == '[')
			rc = header(&lx);
		else if (peek(&lx) != '#' && peek(&lx) != '\n' && peek(&lx) != '\r')
			rc = assignment(&lx);
		if (rc == CLIP_OK)
			rc = end_of_line(&lx);
	}
	return rc;
}
