/*
 * regconf_int.h - what regconf_parse.c gives registries_conf.c.  Not a
 * public API.
 */
#ifndef CLIP_REGCONF_INT_H
#define CLIP_REGCONF_INT_H

#include "common/registry/registries_conf.h"

/*
 * Lexes text and appends its [[registry]] tables to into, as they are
 * (no merging, no checks across tables).  On error into may hold a part
 * of them: the caller parses into an empty one and frees it.
 */
clip_err regconf_parse_text(clip_regconf *into, const char *name, const char *text,
    size_t len, struct clip_error *err);

#endif
