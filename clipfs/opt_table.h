/*
 * opt_table.h - command-line options described by tables: getopt_long's
 * long options, -o keys (cache-dir and cache_dir alike), the parsing of
 * each value and the lines of --help all come from one list of struct
 * opt_def, so that they cannot drift apart.
 *
 * A table's values live at offsets in a struct of its own (struct
 * mount_opts, struct registry_cli_opts); a command that takes several
 * tables places each struct inside its options struct (struct
 * opt_table.at).  Defaults come from that struct's *_opts_init, and
 * --help prints them from a freshly initialised one, so it shows the
 * real ones.
 */
#ifndef CLIPFS_OPT_TABLE_H
#define CLIPFS_OPT_TABLE_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum opt_kind {
	K_FLAG,      /* sets an int to 1 (-o: or to a boolean value given) */
	K_STRING,    /* a const char * */
	K_PATH,      /* the same, made absolute by a daemon that runs in / */
	K_SECRET,    /* a const char *, hidden from ps (clipfs_hide_secret) */
	K_BOOL,      /* an int, true or false */
	K_SIZE,      /* a uint64_t, SIZE up to max */
	K_COUNT,     /* an unsigned, 0 to max */
	K_SECONDS,   /* an unsigned, 1 to max */
	K_RATE,      /* a uint64_t: rate_default without a value, else the SIZE (> 0) */
	K_LOGLEVEL,  /* an int: error, warn, info, debug */
	K_LIST,      /* a struct opt_list: each use adds one string (at most max) */
};

/* The values of a repeatable option, in the order given. */
#define OPT_LIST_MAX 8
struct opt_list {
	const char *v[OPT_LIST_MAX];
	unsigned n;
};

struct opt_def {
	const char *name;          /* the long name; -o also takes it with '_' */
	enum opt_kind kind;
	size_t offset;             /* of the value in the table's struct */
	uint64_t max;              /* K_SIZE, K_COUNT, K_SECONDS, K_LIST */
	const char *arg;           /* its argument in --help */
	const char *help;          /* --help's text (the default is added); NULL: hidden */
	uint64_t rate_default;     /* K_RATE */
};

/* A table, and where its struct sits in the options struct. */
struct opt_table {
	const struct opt_def *defs;
	size_t n;
	size_t at;
};

/* getopt_long's val of table option k (counted across the tables). */
#define OPT_VAL_BASE 256

/* The option named key ('-' and '_' alike) in the tables, or NULL; *t
 * (if not NULL) is set to its table. */
const struct opt_def *opt_find(const struct opt_table *tabs, size_t ntabs, const char *key,
    const struct opt_table **t);

/* The option getopt_long returned as val (OPT_VAL_BASE + k), or NULL. */
const struct opt_def *opt_by_val(const struct opt_table *tabs, size_t ntabs, int val,
    const struct opt_table **t);

/* Where d's value is, in the options struct opts. */
void *opt_value(void *opts, const struct opt_table *t, const struct opt_def *d);

/* Sets option d of table t in opts from val (NULL: none given; val is
 * argv's own memory and is kept).  0, or -1 for a bad value. */
int opt_set(void *opts, const struct opt_table *t, const struct opt_def *d, char *val);

/* Whether d needs a value (-o KEY=VALUE, --KEY VALUE). */
int opt_needs_value(const struct opt_def *d);

/* Fills lo with the tables' long options (vals from OPT_VAL_BASE on);
 * returns how many, at most max (the caller adds its own and the end). */
size_t opt_long_options(const struct opt_table *tabs, size_t ntabs, struct option *lo,
    size_t max);

/* The --help lines of table t, each with its default as it is in opts
 * (a freshly initialised options struct): "      --name ARG   text". */
void opt_usage(FILE *out, const struct opt_table *t, const void *opts);

/* A size as --help shows it: 256M, 4G, 1536K, 100. */
void opt_format_size(uint64_t v, char *buf, size_t len);

#endif
