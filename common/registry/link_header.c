/* link_header.c - the rel="next" target of a Link header (link_header.h). */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "common/registry/link_header.h"

static const char *
skip_space(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Whether the relation types in [p, end) (space-separated) list "next". */
static int
lists_next(const char *p, const char *end)
{
	while (p < end) {
		const char *t = p;
		while (t < end && *t != ' ' && *t != '\t')
			t++;
		if (t - p == 4 && strncasecmp(p, "next", 4) == 0)
			return 1;
		p = t;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
	}
	return 0;
}

/* One parameter at *pp ("name=value" or "name"); *pp moves past it.
 * Sets *is_next for rel=...next...  0 when it does not parse. */
static int
parameter(const char **pp, int *is_next)
{
	const char *p = skip_space(*pp), *name = p, *v, *vend;
	size_t nlen;

	while (*p != '\0' && *p != '=' && *p != ';' && *p != ',' && *p != ' ' && *p != '\t')
		p++;
	nlen = (size_t)(p - name);
	p = skip_space(p);
	if (nlen == 0)
		return 0;
	if (*p != '=') {
		*pp = p;
		return 1;
	}
	p = skip_space(p + 1);
	if (*p == '"') {
		v = ++p;
		while (*p != '\0' && *p != '"')
			p += p[0] == '\\' && p[1] != '\0' ? 2 : 1;
		if (*p != '"')
			return 0;
		vend = p++;
	} else {
		v = p;
		while (*p != '\0' && *p != ';' && *p != ',' && *p != ' ' && *p != '\t')
			p++;
		vend = p;
	}
	if (nlen == 3 && strncasecmp(name, "rel", 3) == 0 && lists_next(v, vend))
		*is_next = 1;
	*pp = skip_space(p);
	return 1;
}

int
clip_link_next(const char *value, char *out, size_t outsz)
{
	const char *p = value, *uri, *uend, *c;
	int is_next;

	if (outsz > 0)
		out[0] = '\0';
	for (;;) {
		p = skip_space(p);
		if (*p != '<')
			return 0;
		uri = ++p;
		if ((uend = strchr(p, '>')) == NULL)
			return 0;
		p = skip_space(uend + 1);
		is_next = 0;
		while (*p == ';') {
			p++;
			if (!parameter(&p, &is_next))
				return 0;
		}
		if (is_next) {
			if ((size_t)(uend - uri) >= outsz || uend == uri)
				return 0;
			for (c = uri; c < uend; c++)
				if ((unsigned char)*c <= ' ' || *c == 0x7f)
					return 0;
			memcpy(out, uri, (size_t)(uend - uri));
			out[uend - uri] = '\0';
			return 1;
		}
		if (*p != ',')
			return 0;
		p++;
	}
}
