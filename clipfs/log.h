/*
 * log.h - the daemon's log: stderr in the foreground, syslog once
 * detached, filtered by --log-level.
 */
#ifndef CLIPFS_LOG_H
#define CLIPFS_LOG_H

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* "error", "warn", "info", "debug"; -1 if unknown. */
int log_level_parse(const char *s);
void log_set_level(int level);
/* Switches to syslog (after daemonizing). */
void log_use_syslog(void);

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
