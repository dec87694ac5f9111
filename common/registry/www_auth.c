/* www_auth.c - a small tokenizer for WWW-Authenticate challenges. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/registry/www_auth.h"

#define HEADER_MAX 8192

static int
is_tchar(char c)
{
	/* RFC 7230 token characters. */
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

static int
is_token68_char(char c)
{
	return is_tchar(c) || c == '/' || c == '=';
}

static const char *
skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Reads a token or quoted-string value into a malloc'ed string.  Returns
 * the position after it, or NULL on a syntax error / NULL *val on ENOMEM
 * (then also returns NULL; *nomem set). */
static const char *
read_value(const char *p, char **val, int *nomem)
{
	size_t n = 0;
	char *out;

	*val = NULL;
	if (*p == '"') {
		const char *q = p + 1;
		/* first pass: length and end */
		while (*q != '"') {
			if (*q == '\0')
				return NULL;  /* unterminated */
			if (*q == '\\') {
				q++;
				if (*q == '\0')
					return NULL;
			}
			q++;
			n++;
		}
		out = malloc(n + 1);
		if (out == NULL) {
			*nomem = 1;
			return NULL;
		}
		n = 0;
		for (q = p + 1; *q != '"'; q++) {
			if (*q == '\\')
				q++;
			out[n++] = *q;
		}
		out[n] = '\0';
		*val = out;
		return q + 1;
	}
	while (is_tchar(p[n]) || p[n] == '/' || p[n] == ':')
		n++;  /* '/' ':' are not tchars but sloppy servers send them bare */
	if (n == 0)
		return NULL;
	out = strndup(p, n);
	if (out == NULL) {
		*nomem = 1;
		return NULL;
	}
	*val = out;
	return p + n;
}

void
clip_www_auth_free(struct clip_www_auth *a)
{
	if (a == NULL)
		return;
	free(a->realm);
	free(a->service);
	free(a->scope);
	memset(a, 0, sizeof(*a));
}

/* Parameters of one challenge; we keep the ones we know. */
struct challenge {
	enum clip_auth_scheme scheme;  /* NONE for a scheme we skip */
	char *realm, *service, *scope;
};

static void
challenge_free(struct challenge *c)
{
	free(c->realm);
	free(c->service);
	free(c->scope);
	memset(c, 0, sizeof(*c));
}

/* The scheme at p, its kind set in c; returns where its parameters
 * start (after spaces), or NULL if there is no scheme or it is glued to
 * something. */
static const char *
parse_scheme(const char *p, struct challenge *c)
{
	const char *q;
	size_t n = 0;

	while (is_tchar(p[n]))
		n++;
	if (n == 0)
		return NULL;
	if (n == 5 && strncasecmp(p, "Basic", 5) == 0)
		c->scheme = CLIP_AUTH_BASIC;
	else if (n == 6 && strncasecmp(p, "Bearer", 6) == 0)
		c->scheme = CLIP_AUTH_BEARER;
	q = skip_ws(p + n);
	if (q == p + n && *q != '\0' && *q != ',')
		return NULL;
	return q;
}

/* If p holds a token68 item ("Basic dXNlcg==", nothing we need in it):
 * where the item ends; else NULL.  A run of '=' ends a token68, unless a
 * value follows it (then it is a parameter). */
static const char *
skip_token68(const char *p)
{
	const char *q, *end;
	size_t m = 0;

	while (is_token68_char(p[m]) && p[m] != '=')
		m++;
	if (m == 0)
		return NULL;
	end = p + m;
	for (q = end; *q == '='; q++)
		;
	q = skip_ws(q);
	if (*end == '=' && *q != '\0' && *q != ',')
		return NULL;
	if (*end == '=' || *skip_ws(end) == '\0' || *skip_ws(end) == ',')
		return q;
	return NULL;
}

/* Keeps parameter name (nl bytes) = val if the challenge wants it. */
static void
keep_param(struct challenge *c, const char *name, size_t nl, char *val)
{
	if (nl == 5 && strncasecmp(name, "realm", 5) == 0 && c->realm == NULL)
		c->realm = val;
	else if (nl == 7 && strncasecmp(name, "service", 7) == 0 && c->service == NULL)
		c->service = val;
	else if (nl == 5 && strncasecmp(name, "scope", 5) == 0 && c->scope == NULL)
		c->scope = val;
	else
		free(val);
}

/* After a comma: 1 if "name=" continues this challenge, 0 if a bare
 * token starts the next one, -1 if it is neither. */
static int
param_follows(const char *p)
{
	size_t k = 0;

	while (is_tchar(p[k]))
		k++;
	if (k == 0)
		return -1;
	return *skip_ws(p + k) == '=';
}

/*
 * Parses one challenge starting at *pp (at a scheme token).  Leaves *pp
 * after it (at a ',' that starts the next challenge, or at the end).
 * Returns 0, -1 on syntax error, -2 on ENOMEM.
 */
static int
parse_challenge(const char **pp, struct challenge *c)
{
	const char *p, *q, *name, *save;
	size_t nl;
	char *val;
	int nomem, more;

	memset(c, 0, sizeof(*c));
	if ((p = parse_scheme(*pp, c)) == NULL)
		return -1;
	if (*p == '\0' || *p == ',' || (q = skip_token68(p)) != NULL) {
		*pp = *p == '\0' || *p == ',' ? p : q;   /* no parameters */
		return 0;
	}
	/* #auth-param: name = value, separated by commas */
	for (;;) {
		save = p;
		name = p = skip_ws(p);
		if (*p == '\0')
			break;
		for (nl = 0; is_tchar(name[nl]); nl++)
			;
		if (nl == 0)
			return -1;
		p = skip_ws(name + nl);
		if (*p != '=') {
			*pp = save;   /* a bare token: the next challenge's scheme */
			return 0;
		}
		val = NULL;
		nomem = 0;
		if ((p = read_value(skip_ws(p + 1), &val, &nomem)) == NULL)
			return nomem ? -2 : -1;
		keep_param(c, name, nl, val);
		p = skip_ws(p);
		if (*p == '\0')
			break;
		if (*p != ',')
			return -1;
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		if ((more = param_follows(p)) <= 0) {
			if (more == 0)
				*pp = p;
			return more == 0 ? 0 : -1;
		}
	}
	*pp = p;
	return 0;
}

clip_err
clip_www_auth_parse(const char *header, struct clip_www_auth *out,
    struct clip_error *err)
{
	struct challenge best, cur;
	const char *p;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&best, 0, sizeof(best));
	if (header == NULL)
		return clip_error_set(err, CLIP_ERR_PROTOCOL, "no WWW-Authenticate header");
	if (strlen(header) > HEADER_MAX)
		return clip_error_set(err, CLIP_ERR_TOOBIG, "WWW-Authenticate header too long");
	p = header;
	for (;;) {
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		rc = parse_challenge(&p, &cur);
		if (rc != 0) {
			challenge_free(&cur);
			challenge_free(&best);
			if (rc == -2)
				return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
			return clip_error_set(err, CLIP_ERR_PROTOCOL,
			    "malformed WWW-Authenticate header");
		}
		if (cur.scheme > best.scheme) {
			challenge_free(&best);
			best = cur;
		} else {
			challenge_free(&cur);
		}
	}
	if (best.scheme == CLIP_AUTH_NONE)
		return clip_error_set(err, CLIP_ERR_UNSUPPORTED,
		    "server asks for an authentication scheme other than Basic or Bearer");
	if (best.scheme == CLIP_AUTH_BEARER && (best.realm == NULL || best.realm[0] == '\0')) {
		challenge_free(&best);
		return clip_error_set(err, CLIP_ERR_PROTOCOL,
		    "Bearer challenge without a realm");
	}
	out->scheme = best.scheme;
	out->realm = best.realm;
	out->service = best.service;
	out->scope = best.scope;
	return CLIP_OK;
}
