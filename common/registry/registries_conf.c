/* registries_conf.c - registries.conf(5): files, merging, matching
 * (registries_conf.h; the lexer is regconf_parse.c). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/registry/regconf_int.h"

#define REGCONF_FILE_MAX (1u << 20)

static void
registry_free(struct clip_regconf_registry *r)
{
	size_t i;

	for (i = 0; i < r->nmirrors; i++)
		free(r->mirrors[i].location);
	free(r->mirrors);
	free(r->prefix);
	free(r->location);
}

void
clip_regconf_free(clip_regconf *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++)
		registry_free(&c->regs[i]);
	free(c->regs);
	c->regs = NULL;
	c->n = 0;
}

/* Fills in prefix from location, checks what one table alone can be. */
static clip_err
registry_check(struct clip_regconf_registry *r, const char *name, struct clip_error *err)
{
	size_t i;

	if (r->prefix == NULL && r->location == NULL)
		return clip_error_set(err, CLIP_ERR_FORMAT, "%s:%u: [[registry]] without prefix "
		    "or location", name, r->line);
	if (r->prefix == NULL && (r->prefix = strdup(r->location)) == NULL)
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	if (strncmp(r->prefix, "*.", 2) == 0 && (strchr(r->prefix, '/') != NULL ||
	    r->location != NULL))
		return clip_error_set(err, CLIP_ERR_FORMAT, "%s:%u: a wildcard prefix (%.100s) "
		    "names hosts only and takes no location", name, r->line, r->prefix);
	for (i = 0; i < r->nmirrors; i++)
		if (r->mirrors[i].location == NULL)
			return clip_error_set(err, CLIP_ERR_FORMAT, "%s:%u: a [[registry.mirror]] of "
			    "%.100s has no location", name, r->line, r->prefix);
	return CLIP_OK;
}

clip_err
clip_regconf_parse(clip_regconf *c, const char *name, const char *text, size_t len,
    struct clip_error *err)
{
	clip_regconf add = { NULL, 0 };
	struct clip_regconf_registry *grown;
	size_t i, j;
	clip_err rc;

	rc = regconf_parse_text(&add, name, text, len, err);
	for (i = 0; rc == CLIP_OK && i < add.n; i++)
		rc = registry_check(&add.regs[i], name, err);
	if (rc == CLIP_OK && add.n > 0 &&
	    (grown = realloc(c->regs, (c->n + add.n) * sizeof(*c->regs))) == NULL)
		rc = clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	if (rc != CLIP_OK || add.n == 0) {
		clip_regconf_free(&add);
		return rc;
	}
	c->regs = grown;
	for (i = 0; i < add.n; i++) {
		/* a later table for the same prefix replaces the earlier one */
		for (j = 0; j < c->n && strcmp(c->regs[j].prefix, add.regs[i].prefix) != 0; j++)
			;
		if (j < c->n)
			registry_free(&c->regs[j]);
		c->regs[j] = add.regs[i];
		if (j == c->n)
			c->n++;
	}
	free(add.regs);
	return CLIP_OK;
}

clip_err
clip_regconf_load_file(clip_regconf *c, const char *path, struct clip_error *err)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;
	clip_err rc;

	if (f == NULL)
		return clip_error_set(err, errno == ENOENT ? CLIP_ERR_NOTFOUND : CLIP_ERR_IO,
		    "%s: %s", path, strerror(errno));
	if ((buf = malloc(REGCONF_FILE_MAX + 1)) == NULL) {
		fclose(f);
		return clip_error_set(err, CLIP_ERR_NOMEM, "out of memory");
	}
	n = fread(buf, 1, REGCONF_FILE_MAX + 1, f);
	if (ferror(f))
		rc = clip_error_set(err, CLIP_ERR_IO, "%s: read error", path);
	else if (n > REGCONF_FILE_MAX)
		rc = clip_error_set(err, CLIP_ERR_TOOBIG, "%s: larger than %u bytes", path,
		    REGCONF_FILE_MAX);
	else if (memchr(buf, '\0', n) != NULL)
		rc = clip_error_set(err, CLIP_ERR_FORMAT, "%s: a NUL byte: not a text file", path);
	else
		rc = clip_regconf_parse(c, path, buf, n, err);
	free(buf);
	fclose(f);
	return rc;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

clip_err
clip_regconf_load_default(clip_regconf *c, const char *file, const char *dir,
    struct clip_error *err)
{
	char *names[256], path[4096];
	struct dirent *de;
	size_t n = 0, i, len;
	clip_err rc = clip_regconf_load_file(c, file, err);
	DIR *d;

	if (rc != CLIP_OK && rc != CLIP_ERR_NOTFOUND)
		return rc;
	if ((d = opendir(dir)) == NULL)
		return CLIP_OK;
	while (n < sizeof(names) / sizeof(names[0]) && (de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len > 5 && de->d_name[0] != '.' && strcmp(de->d_name + len - 5, ".conf") == 0 &&
		    (names[n] = strdup(de->d_name)) != NULL)
			n++;
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), by_name);
	for (rc = CLIP_OK, i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (rc == CLIP_OK)
			rc = clip_regconf_load_file(c, path, err);
		free(names[i]);
	}
	return rc;
}

/* How well prefix matches name ("HOST/REPO"): 0 not at all, more is
 * better; a wildcard below any path prefix. */
static size_t
match_score(const char *prefix, const char *name, const char *host)
{
	size_t pl = strlen(prefix), hl = strlen(host);

	if (strncmp(prefix, "*.", 2) == 0)
		return hl > pl - 1 && strcmp(host + hl - (pl - 1), prefix + 1) == 0 ? pl : 0;
	if (strncmp(name, prefix, pl) != 0 || (name[pl] != '\0' && name[pl] != '/'))
		return 0;
	return 4096 + pl;
}

const struct clip_regconf_registry *
clip_regconf_find(const clip_regconf *c, const char *registry, const char *repository)
{
	const struct clip_regconf_registry *best = NULL;
	size_t i, score, best_score = 0;
	char name[600];

	if (c == NULL)
		return NULL;
	snprintf(name, sizeof(name), "%s/%s", registry, repository);
	for (i = 0; i < c->n; i++) {
		score = match_score(c->regs[i].prefix, name, registry);
		if (score > best_score) {
			best = &c->regs[i];
			best_score = score;
		}
	}
	return best;
}

/* location + rest as HOST and REPOSITORY in h. */
static int
split_into(struct clip_mirror_host *h, const char *location, const char *rest, int insecure)
{
	char full[600];
	size_t hl;

	if ((size_t)snprintf(full, sizeof(full), "%s%s", location, rest) >= sizeof(full))
		return 0;
	hl = strcspn(full, "/");
	if (hl == 0 || hl >= sizeof(h->host) || full[hl] != '/' || full[hl + 1] == '\0' ||
	    strlen(full + hl + 1) >= sizeof(h->repository))
		return 0;
	memcpy(h->host, full, hl);
	h->host[hl] = '\0';
	snprintf(h->repository, sizeof(h->repository), "%s", full + hl + 1);
	snprintf(h->label, sizeof(h->label), "%.299s", full);
	h->insecure = insecure;
	return 1;
}

clip_err
clip_regconf_mirrors(const struct clip_regconf_registry *reg, const char *registry,
    const char *repository, int by_digest, struct clip_mirror_host *out, size_t max,
    size_t *n, struct clip_error *err)
{
	char name[600], rest[600];
	size_t i;

	*n = 0;
	snprintf(name, sizeof(name), "%s/%s", registry, repository);
	if (strncmp(reg->prefix, "*.", 2) == 0)
		snprintf(rest, sizeof(rest), "/%s", repository);
	else   /* the name after the prefix: "" or "/..." */
		snprintf(rest, sizeof(rest), "%s", strlen(name) > strlen(reg->prefix) ?
		    name + strlen(reg->prefix) : "");
	for (i = 0; i < reg->nmirrors && *n < max; i++) {
		const struct clip_regconf_mirror *m = &reg->mirrors[i];
		enum clip_regconf_pull pull = m->pull_set ? m->pull : reg->pull;
		if ((pull == CLIP_PULL_DIGEST_ONLY && !by_digest) ||
		    (pull == CLIP_PULL_TAG_ONLY && by_digest))
			continue;
		if (!split_into(&out[*n], m->location, rest, m->insecure))
			return clip_error_set(err, CLIP_ERR_INVALID, "registries.conf: mirror %.100s "
			    "of %.100s: no repository for %s/%s", m->location, reg->prefix, registry,
			    repository);
		(*n)++;
	}
	/* A registry moved elsewhere: its new location after the mirrors
	 * (the caller keeps the image's own registry last, as a fallback). */
	if (reg->location != NULL && strcmp(reg->location, reg->prefix) != 0 && *n < max) {
		if (!split_into(&out[*n], reg->location, rest, reg->insecure))
			return clip_error_set(err, CLIP_ERR_INVALID, "registries.conf: location "
			    "%.100s of %.100s: no repository for %s/%s", reg->location, reg->prefix,
			    registry, repository);
		(*n)++;
	}
	return CLIP_OK;
}
