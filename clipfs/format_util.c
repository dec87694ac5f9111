/* format_util.c - printing index contents for people. */
#include "config.h"

#include <sys/stat.h>
#include <time.h>

#include "clipfs/format_util.h"

void
print_escaped(FILE *out, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f || c == '\\')
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
}

void
mode_string(uint32_t mode, char *b)
{
	static const char types[] = "?pc?d?b?-?l?s???";

	b[0] = types[(mode >> 12) & 15];
	b[1] = mode & S_IRUSR ? 'r' : '-';
	b[2] = mode & S_IWUSR ? 'w' : '-';
	b[3] = mode & S_ISUID ? (mode & S_IXUSR ? 's' : 'S') : (mode & S_IXUSR ? 'x' : '-');
	b[4] = mode & S_IRGRP ? 'r' : '-';
	b[5] = mode & S_IWGRP ? 'w' : '-';
	b[6] = mode & S_ISGID ? (mode & S_IXGRP ? 's' : 'S') : (mode & S_IXGRP ? 'x' : '-');
	b[7] = mode & S_IROTH ? 'r' : '-';
	b[8] = mode & S_IWOTH ? 'w' : '-';
	b[9] = mode & S_ISVTX ? (mode & S_IXOTH ? 't' : 'T') : (mode & S_IXOTH ? 'x' : '-');
	b[10] = '\0';
}

void
time_string(int64_t sec, uint32_t nsec, char *buf, size_t len)
{
	time_t t = (time_t)sec;
	struct tm tm;
	char day[32];

	if (gmtime_r(&t, &tm) == NULL || strftime(day, sizeof(day), "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, len, "@%lld.%09u", (long long)sec, nsec);
	else
		snprintf(buf, len, "%s.%09u", day, nsec);
}

void
size_string(uint64_t n, char *buf, size_t len)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
}
