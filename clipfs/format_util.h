/*
 * format_util.h - printing index contents for people: escaped names,
 * ls-style mode strings, timestamps.
 */
#ifndef CLIPFS_FORMAT_UTIL_H
#define CLIPFS_FORMAT_UTIL_H

#include <stdint.h>
#include <stdio.h>

/* Writes bytes with anything unprintable (and backslash) as \xHH. */
void print_escaped(FILE *out, const char *s, size_t len);

/* "drwxr-xr-x" with s/S, t/T; buf must hold 11 bytes. */
void mode_string(uint32_t mode, char *buf);

/* "2024-01-31 12:00:00.123456789" in UTC; buf must hold 40 bytes. */
void time_string(int64_t sec, uint32_t nsec, char *buf, size_t len);

/* "1.5 MiB"; buf must hold 32 bytes. */
void size_string(uint64_t n, char *buf, size_t len);

#endif
