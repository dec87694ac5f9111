/* opt_table.c - options from tables (opt_table.h). */
#include "config.h"

#include <string.h>

#include "clipfs/cli.h"
#include "clipfs/log.h"
#include "clipfs/opt_table.h"

/* Help text starts in this column and wraps before column 80. */
#define HELP_COLUMN 28

/* Whether key names option name ('-' and '_' alike). */
static int
same_name(const char *name, const char *key)
{
	size_t k;

	for (k = 0; name[k] != '\0' && key[k] != '\0'; k++)
		if (name[k] != key[k] && !(name[k] == '-' && key[k] == '_'))
			return 0;
	return name[k] == '\0' && key[k] == '\0';
}

const struct opt_def *
opt_find(const struct opt_table *tabs, size_t ntabs, const char *key,
    const struct opt_table **t)
{
	size_t i, j;

	for (i = 0; i < ntabs; i++)
		for (j = 0; j < tabs[i].n; j++)
			if (same_name(tabs[i].defs[j].name, key)) {
				if (t != NULL)
					*t = &tabs[i];
				return &tabs[i].defs[j];
			}
	return NULL;
}

const struct opt_def *
opt_by_val(const struct opt_table *tabs, size_t ntabs, int val, const struct opt_table **t)
{
	size_t i, k;

	if (val < OPT_VAL_BASE)
		return NULL;
	k = (size_t)(val - OPT_VAL_BASE);
	for (i = 0; i < ntabs; k -= tabs[i].n, i++)
		if (k < tabs[i].n) {
			if (t != NULL)
				*t = &tabs[i];
			return &tabs[i].defs[k];
		}
	return NULL;
}

void *
opt_value(void *opts, const struct opt_table *t, const struct opt_def *d)
{
	return (char *)opts + t->at + d->offset;
}

static int
set_list(struct opt_list *l, const struct opt_def *d, char *val)
{
	if (val == NULL || *val == '\0' || l->n >= d->max || l->n >= OPT_LIST_MAX)
		return -1;
	l->v[l->n++] = val;
	return 0;
}

int
opt_set(void *opts, const struct opt_table *t, const struct opt_def *d, char *val)
{
	void *p = opt_value(opts, t, d);
	int level;

	switch (d->kind) {
	case K_FLAG:
		if (val == NULL) {
			*(int *)p = 1;
			return 0;
		}
		return clipfs_parse_bool(val, (int *)p);
	case K_STRING:
	case K_PATH:
		*(const char **)p = val;
		return val != NULL && *val != '\0' ? 0 : -1;
	case K_SECRET:
		/* val is argv's own memory (optarg, or a token of -o's list). */
		*(const char **)p = clipfs_hide_secret(val);
		return val != NULL && *val != '\0' ? 0 : -1;
	case K_BOOL:
		return val != NULL ? clipfs_parse_bool(val, (int *)p) : -1;
	case K_SIZE:
		return val != NULL ? clipfs_parse_size(val, d->max, (uint64_t *)p) : -1;
	case K_COUNT:
		return val != NULL ? clipfs_parse_count(val, (unsigned)d->max, (unsigned *)p) : -1;
	case K_SECONDS:
		return val != NULL && clipfs_parse_count(val, (unsigned)d->max, (unsigned *)p) == 0 &&
		    *(unsigned *)p > 0 ? 0 : -1;
	case K_RATE:
		*(uint64_t *)p = d->rate_default;
		if (val == NULL || *val == '\0')
			return 0;
		return clipfs_parse_size(val, d->max, (uint64_t *)p) == 0 && *(uint64_t *)p > 0 ?
		    0 : -1;
	case K_LOGLEVEL:
		if (val == NULL || (level = log_level_parse(val)) < 0)
			return -1;
		*(int *)p = level;
		return 0;
	case K_LIST:
		return set_list(p, d, val);
	}
	return -1;
}

int
opt_needs_value(const struct opt_def *d)
{
	return d->kind != K_FLAG && d->kind != K_RATE;
}

size_t
opt_long_options(const struct opt_table *tabs, size_t ntabs, struct option *lo, size_t max)
{
	size_t i, j, k = 0;

	for (i = 0; i < ntabs; i++)
		for (j = 0; j < tabs[i].n && k < max; j++, k++) {
			const struct opt_def *d = &tabs[i].defs[j];
			lo[k].name = d->name;
			lo[k].has_arg = d->kind == K_FLAG ? no_argument :
			    d->kind == K_RATE ? optional_argument : required_argument;
			lo[k].flag = NULL;
			lo[k].val = OPT_VAL_BASE + (int)k;
		}
	return k;
}

void
opt_format_size(uint64_t v, char *buf, size_t len)
{
	static const char units[] = "KMG";
	int u = -1;

	while (u < 2 && v >= 1024 && v % 1024 == 0) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%llu%.*s", (unsigned long long)v, u >= 0 ? 1 : 0,
	    u >= 0 ? &units[u] : "");
}

/* " (default ...)" for option d, from its value p; "" if it has none. */
static void
format_default(const struct opt_def *d, const void *p, char *buf, size_t len)
{
	char v[64];

	buf[0] = '\0';
	switch (d->kind) {
	case K_PATH:
	case K_STRING:
		if (*(const char *const *)p != NULL)
			snprintf(buf, len, " (default %s)", *(const char *const *)p);
		return;
	case K_BOOL:
		snprintf(buf, len, " (default %s)", *(const int *)p ? "true" : "false");
		return;
	case K_SIZE:
		opt_format_size(*(const uint64_t *)p, v, sizeof(v));
		snprintf(buf, len, " (default %s)", v);
		return;
	case K_COUNT:
	case K_SECONDS:
		snprintf(buf, len, " (default %u)", *(const unsigned *)p);
		return;
	case K_RATE:
		opt_format_size(d->rate_default, v, sizeof(v));
		snprintf(buf, len, " (default RATE %s)", v);
		return;
	case K_LOGLEVEL:
		snprintf(buf, len, " (default warn)");
		return;
	case K_FLAG:
	case K_SECRET:
	case K_LIST:
		return;
	}
}

/* Prints text from HELP_COLUMN on, wrapped before column 80; the first
 * line goes on after col columns already used. */
static void
print_wrapped(FILE *out, const char *text, size_t col)
{
	const char *p = text, *space;
	size_t room = 80 - HELP_COLUMN, n;

	if (col > HELP_COLUMN - 1) {
		fputc('\n', out);
		col = 0;
	}
	fprintf(out, "%*s", (int)(HELP_COLUMN - col), "");
	for (;;) {
		if (strlen(p) <= room) {
			fprintf(out, "%s\n", p);
			return;
		}
		for (n = room; n > 0 && p[n] != ' '; n--)
			;
		space = n > 0 ? p + n : p + room;
		fprintf(out, "%.*s\n%*s", (int)(space - p), p, HELP_COLUMN, "");
		p = *space == ' ' ? space + 1 : space;
	}
}

void
opt_usage(FILE *out, const struct opt_table *t, const void *opts)
{
	char left[64], def[128], text[512];
	size_t i;

	for (i = 0; i < t->n; i++) {
		const struct opt_def *d = &t->defs[i];
		if (d->help == NULL)
			continue;
		snprintf(left, sizeof(left), "--%s%s%s%s", d->name,
		    d->arg == NULL ? "" : d->kind == K_RATE ? "[=" : " ",
		    d->arg == NULL ? "" : d->arg, d->kind == K_RATE ? "]" : "");
		format_default(d, (const char *)opts + t->at + d->offset, def, sizeof(def));
		snprintf(text, sizeof(text), "%s%s", d->help, def);
		fprintf(out, "      %s", left);
		print_wrapped(out, text, 6 + strlen(left));
	}
}
