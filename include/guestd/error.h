/* The one error convention (DESIGN.md rule 1) and its wire form (PROTOCOL.md §3). */
#ifndef GUESTD_ERROR_H
#define GUESTD_ERROR_H

#include <jansson.h>

enum gd_err_class {
	GD_ERR_GENERIC = 0,   /* "GenericError" */
	GD_ERR_NOT_FOUND,     /* "CommandNotFound": unknown, unsupported or disabled command */
};

struct gd_err {
	int code;                /* errno (> 0) on the guest, or -1 where none applies */
	enum gd_err_class cls;
	char *desc;              /* malloc'd, human readable, names what failed */
};

#define GD_ERR_INIT { .code = 0, .cls = GD_ERR_GENERIC, .desc = NULL }

/* Sets *err (if err is not NULL) and returns the negative errno to pass up
 * (-EIO when code is -1). An earlier message in err is replaced. */
int gd_err_set(struct gd_err *err, enum gd_err_class cls, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Same with desc taken as is (not a format), copied. */
int gd_err_set_str(struct gd_err *err, enum gd_err_class cls, int code, const char *desc);
/* gd_err_set with strerror(code) appended as ": <strerror>". code > 0. */
int gd_err_errno(struct gd_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Frees desc and resets err; safe on a cleared err. */
void gd_err_clear(struct gd_err *err);
/* Moves src into dst (dst cleared first, src left cleared). */
void gd_err_move(struct gd_err *dst, struct gd_err *src);

/* The wire object {"class", "desc", "bufb64", "code", "errno"?}. Returns a new reference. */
json_t *gd_err_to_json(const struct gd_err *err);
const char *gd_err_class_name(enum gd_err_class cls);

/* "ENOENT" for ENOENT, NULL when the platform has no name for it. */
const char *gd_errno_name(int code);
/* ENOENT for "ENOENT", -1 when unknown. */
int gd_errno_from_name(const char *name);

#endif
