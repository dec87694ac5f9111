/* cli_args.c - parsing the values of command-line options (cli.h). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clipfs/cli.h"

int
clipfs_parse_size(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	/* strtoull takes "-1" as a huge number; a size is never negative. */
	if (errno != 0 || end == s || s[strspn(s, " \t")] == '-')
		return -1;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	}
	if (*end != '\0' || v > (UINT64_MAX >> shift) || (v << shift) > max)
		return -1;
	*out = v << shift;
	return 0;
}

int
clipfs_parse_bool(const char *s, int *out)
{
	if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0 || strcmp(s, "yes") == 0)
		*out = 1;
	else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0 || strcmp(s, "no") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

int
clipfs_parse_count(const char *s, unsigned max, unsigned *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (end == s || *end != '\0' || errno != 0 || n < 0 || (unsigned long)n > max)
		return -1;
	*out = (unsigned)n;
	return 0;
}
