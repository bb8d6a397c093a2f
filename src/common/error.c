/* The error convention: struct gd_err and its wire object. */
#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guestd/base64.h"
#include "guestd/error.h"

static int err_ret(int code)
{
	return code > 0 ? -code : -EIO;
}

__attribute__((format(printf, 5, 0)))
static int err_vset(struct gd_err *err, enum gd_err_class cls, int code, const char *suffix,
		    const char *fmt, va_list ap)
{
	if (!err)
		return err_ret(code);
	char *desc = NULL;
	if (vasprintf(&desc, fmt, ap) < 0)
		desc = NULL;
	if (desc && suffix) {
		char *full = NULL;
		if (asprintf(&full, "%s: %s", desc, suffix) >= 0) {
			free(desc);
			desc = full;
		}
	}
	gd_err_clear(err);
	err->cls = cls;
	err->code = code;
	err->desc = desc ? desc : strdup("out of memory");
	return err_ret(code);
}

int gd_err_set(struct gd_err *err, enum gd_err_class cls, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = err_vset(err, cls, code, NULL, fmt, ap);
	va_end(ap);
	return r;
}

int gd_err_set_str(struct gd_err *err, enum gd_err_class cls, int code, const char *desc)
{
	return gd_err_set(err, cls, code, "%s", desc);
}

int gd_err_errno(struct gd_err *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = err_vset(err, GD_ERR_GENERIC, code, strerror(code), fmt, ap);
	va_end(ap);
	return r;
}

void gd_err_clear(struct gd_err *err)
{
	if (!err)
		return;
	free(err->desc);
	err->desc = NULL;
	err->code = 0;
	err->cls = GD_ERR_GENERIC;
}

void gd_err_move(struct gd_err *dst, struct gd_err *src)
{
	gd_err_clear(dst);
	*dst = *src;
	src->desc = NULL;
	src->code = 0;
	src->cls = GD_ERR_GENERIC;
}

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates, nothing
 * above U+10FFFF), or 0. n bytes are available. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	size_t k;
	unsigned lo = 0x80, hi = 0xBF;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		k = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		k = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		k = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else {
		return 0;
	}
	if (n < k || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t j = 2; j < k; j++)
		if ((p[j] & 0xC0) != 0x80)
			return 0;
	return k;
}

/* A copy of s with every byte that does not start a valid UTF-8 sequence replaced by '?'. */
static char *utf8_sanitize(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0;
	while (i < n) {
		size_t k = utf8_seq(p + i, n - i);
		if (k) {
			memcpy(out + o, p + i, k);
			o += k;
			i += k;
		} else {
			out[o++] = '?';
			i++;
		}
	}
	out[o] = 0;
	return out;
}

const char *gd_err_class_name(enum gd_err_class cls)
{
	return cls == GD_ERR_NOT_FOUND ? "CommandNotFound" : "GenericError";
}

json_t *gd_err_to_json(const struct gd_err *err)
{
	const char *desc = err->desc ? err->desc : "unknown error";
	int code = err->code > 0 ? err->code : -1;
	char *b64 = gd_b64_encode_alloc(desc, strlen(desc));
	json_t *o = json_object();
	if (!o) {
		free(b64);
		return NULL;
	}
	json_object_set_new(o, "class", json_string(gd_err_class_name(err->cls)));
	/* desc may hold bytes that are not UTF-8 (a plugin's stderr): bufb64 keeps them exactly,
	 * desc gets '?' in their place */
	json_t *d = json_string(desc);
	if (!d) {
		char *clean = utf8_sanitize(desc);
		d = clean ? json_string(clean) : NULL;
		free(clean);
		if (!d)
			d = json_string("(message is not valid UTF-8; see bufb64)");
	}
	json_object_set_new(o, "desc", d);
	json_object_set_new(o, "bufb64", json_string(b64 ? b64 : ""));
	json_object_set_new(o, "code", json_integer(code));
	const char *name = code > 0 ? gd_errno_name(code) : NULL;
	if (name)
		json_object_set_new(o, "errno", json_string(name));
	free(b64);
	return o;
}
