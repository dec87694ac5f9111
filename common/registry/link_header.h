/*
 * link_header.h - the rel="next" target of an HTTP Link header (RFC 8288),
 * which the OCI distribution spec uses to page the referrers API.
 */
#ifndef CLIP_LINK_HEADER_H
#define CLIP_LINK_HEADER_H

#include <stddef.h>

/*
 * value is one Link header's value: link-values "<URI>; param=value; ..."
 * separated by commas.  If one of them has a rel parameter (a token or a
 * quoted string of space-separated relation types) that lists "next"
 * (case-insensitive), its URI goes to out (NUL-terminated) and 1 is
 * returned.  0, out "", when there is none, when the value does not parse,
 * or when the URI does not fit in outsz - 1 bytes or holds a control
 * character or a space.
 */
int clip_link_next(const char *value, char *out, size_t outsz);

#endif
