/*
 * error.h - the one error type of libclipcommon.
 *
 * Library code never prints and never exits.  A function that can fail
 * returns a clip_err and, when the caller passes a struct clip_error,
 * leaves a human-readable detail there ("layer 2: span 7: sha256
 * mismatch").  A NULL struct clip_error is allowed everywhere: the code
 * is still returned, only the detail is dropped.
 */
#ifndef CLIP_ERROR_H
#define CLIP_ERROR_H

#include <stdarg.h>

typedef enum clip_err {
	CLIP_OK = 0,
	CLIP_ERR_NOMEM,       /* allocation failed */
	CLIP_ERR_IO,          /* a system call on a local file failed */
	CLIP_ERR_INVALID,     /* bad argument or bad user input */
	CLIP_ERR_FORMAT,      /* an index file is damaged or malformed */
	CLIP_ERR_VERSION,     /* an index file of a version we cannot read */
	CLIP_ERR_CHECKSUM,    /* a digest did not match */
	CLIP_ERR_NOTFOUND,    /* a name, tag, blob or platform does not exist */
	CLIP_ERR_UNSUPPORTED, /* valid input that clipfs does not handle */
	CLIP_ERR_TOOBIG,      /* input exceeds a size limit */
	CLIP_ERR_NETWORK,     /* connection, DNS or TLS failure */
	CLIP_ERR_TIMEOUT,     /* an operation ran out of time */
	CLIP_ERR_HTTP,        /* the server answered with an unexpected status */
	CLIP_ERR_AUTH,        /* authentication was refused */
	CLIP_ERR_PROTOCOL,    /* the server's answer does not parse */
	CLIP_ERR_GZIP,        /* a compressed stream is corrupt */
	CLIP_ERR_TAR,         /* a tar stream is corrupt or hostile */
	CLIP_ERR_IMAGE,       /* the image is inconsistent (bad link, bad config) */
	CLIP_ERR_CANCELLED,   /* stopped on request */
} clip_err;

#define CLIP_ERROR_MSG_MAX 512

struct clip_error {
	clip_err code;
	char msg[CLIP_ERROR_MSG_MAX];
};

/* A static, one-line description of code; never NULL. */
const char *clip_strerror(clip_err code);

/*
 * Records code and a printf-style detail in e (if e is not NULL) and
 * returns code, so that a failing path can say
 *     return clip_error_set(err, CLIP_ERR_FORMAT, "bad magic");
 */
clip_err clip_error_set(struct clip_error *e, clip_err code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
clip_err clip_error_setv(struct clip_error *e, clip_err code, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/*
 * Puts "what: " in front of the detail already in e, so that an outer
 * layer can add context ("layer 3: ...") without losing the inner cause.
 * Returns e->code (CLIP_OK if e is NULL).
 */
clip_err clip_error_prefix(struct clip_error *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Clears e (no-op for NULL). */
void clip_error_clear(struct clip_error *e);

/* The detail if there is one, else clip_strerror(e->code). */
const char *clip_error_message(const struct clip_error *e);

#endif
