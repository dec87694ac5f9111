/* error.c - error codes, their messages, and details kept on the handle. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "common/util/error.h"

const char *
clip_strerror(clip_err code)
{
	/* No default: -Wswitch flags a code without a message. */
	switch (code) {
	case CLIP_OK:              return "success";
	case CLIP_ERR_NOMEM:       return "out of memory";
	case CLIP_ERR_IO:          return "input/output error";
	case CLIP_ERR_INVALID:     return "invalid argument";
	case CLIP_ERR_FORMAT:      return "malformed index file";
	case CLIP_ERR_VERSION:     return "unsupported index format version";
	case CLIP_ERR_CHECKSUM:    return "checksum mismatch";
	case CLIP_ERR_NOTFOUND:    return "not found";
	case CLIP_ERR_UNSUPPORTED: return "not supported";
	case CLIP_ERR_TOOBIG:      return "size limit exceeded";
	case CLIP_ERR_NETWORK:     return "network error";
	case CLIP_ERR_TIMEOUT:     return "timed out";
	case CLIP_ERR_HTTP:        return "unexpected HTTP status";
	case CLIP_ERR_AUTH:        return "authentication failed";
	case CLIP_ERR_PROTOCOL:    return "malformed server response";
	case CLIP_ERR_GZIP:        return "corrupt gzip stream";
	case CLIP_ERR_TAR:         return "corrupt or hostile tar stream";
	case CLIP_ERR_IMAGE:       return "inconsistent image";
	case CLIP_ERR_CANCELLED:   return "cancelled";
	}
	return "unknown error";
}

clip_err
clip_error_setv(struct clip_error *e, clip_err code, const char *fmt, va_list ap)
{
	if (e == NULL)
		return code;
	e->code = code;
	if (fmt == NULL)
		snprintf(e->msg, sizeof(e->msg), "%s", clip_strerror(code));
	else
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	return code;
}

clip_err
clip_error_set(struct clip_error *e, clip_err code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	clip_error_setv(e, code, fmt, ap);
	va_end(ap);
	return code;
}

clip_err
clip_error_prefix(struct clip_error *e, const char *fmt, ...)
{
	char prefix[CLIP_ERROR_MSG_MAX];
	char old[CLIP_ERROR_MSG_MAX];
	va_list ap;

	if (e == NULL)
		return CLIP_OK;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof(old));
	old[sizeof(old) - 1] = '\0';
	/* Truncation is fine: the message is for people, and bounded. */
	if (snprintf(e->msg, sizeof(e->msg), "%s: %s", prefix,
	    old[0] ? old : clip_strerror(e->code)) < 0)
		e->msg[0] = '\0';
	return e->code;
}

void
clip_error_clear(struct clip_error *e)
{
	if (e == NULL)
		return;
	e->code = CLIP_OK;
	e->msg[0] = '\0';
}

const char *
clip_error_message(const struct clip_error *e)
{
	if (e == NULL)
		return clip_strerror(CLIP_ERR_INVALID);
	return e->msg[0] ? e->msg : clip_strerror(e->code);
}
