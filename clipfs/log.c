/* log.c - stderr or syslog, filtered by level. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "clipfs/log.h"

static int current_level = LOG_LVL_WARN;
static int to_syslog;

int
log_level_parse(const char *s)
{
	static const char *names[] = { "error", "warn", "info", "debug" };
	int i;

	for (i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	if (strcmp(s, "warning") == 0)
		return LOG_LVL_WARN;
	return -1;
}

void
log_set_level(int level)
{
	current_level = level;
}

void
log_use_syslog(void)
{
	openlog("clipfs", LOG_PID, LOG_DAEMON);
	to_syslog = 1;
}

void
log_msg(int level, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	static const char *tag[] = { "error", "warning", "info", "debug" };
	char line[1024];
	va_list ap;

	if (level > current_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (to_syslog)
		syslog(prio[level], "%s", line);
	else
		fprintf(stderr, "clipfs: %s: %s\n", tag[level], line);
}
