/* The command table, generated from schema/ by tools/gen-cmdtab.py (DESIGN.md rule 5). */
#ifndef GUESTD_CMDTAB_H
#define GUESTD_CMDTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "agent/call.h"
#include "guestd/error.h"

enum gd_type {
	GD_T_INT = 1 << 0,
	GD_T_NUMBER = 1 << 1,   /* an integer or a real */
	GD_T_STR = 1 << 2,
	GD_T_BOOL = 1 << 3,
	GD_T_OBJECT = 1 << 4,
	GD_T_ARRAY = 1 << 5,
	GD_T_NULL = 1 << 6,
	GD_T_ANY = 0x7f,
};

struct gd_argspec {
	const char *name;
	unsigned types;              /* enum gd_type bits */
	bool required;
	const char *const *choices;  /* NULL-terminated allowed strings, or NULL */
};

enum gd_runs {
	GD_RUN_LOOP = 0,   /* instant, or completes later from a loop callback (timers, processes) */
	GD_RUN_POOL,       /* touches the disk or the kernel: runs on the libuv threadpool */
	GD_RUN_STREAM,     /* threadpool, and the return value is produced in pieces (big reads) */
};

enum {
	GD_CMD_FREEZE_SAFE = 1 << 0,       /* allowed while filesystems are frozen */
	GD_CMD_NO_SUCCESS_REPLY = 1 << 1,  /* qemu-ga's success-response: false */
};

/* A loop handler completes c (now or later) with call_return/call_fail. args is borrowed and
 * valid until then; it has been checked against the schema. */
typedef void gd_loop_fn(struct call *c, json_t *args);
/* A pool handler runs on a worker thread and returns a new reference, or NULL with err set. It
 * must not touch loop state. */
typedef json_t *gd_pool_fn(json_t *args, struct gd_err *err);

/* A stream handler runs on a worker thread: it checks what it needs (handles, limits) and
 * either fills st and returns 0, or returns a negative errno with err set (an error reply). */
typedef int gd_stream_fn(json_t *args, struct gd_stream *st, struct gd_err *err);

struct gd_cmd {
	const char *name;
	const char *summary;
	enum gd_runs runs;
	unsigned flags;
	gd_loop_fn *loop_fn;
	gd_pool_fn *pool_fn;
	gd_stream_fn *stream_fn;
	const struct gd_argspec *args;
	size_t nargs;
};

/* Defined by the generated cmdtab.c, sorted by name. */
extern const struct gd_cmd cmdtab[];
extern const size_t cmdtab_len;

const struct gd_cmd *cmdtab_find(const char *name);

#include "cmdtab-proto.h"

#endif
