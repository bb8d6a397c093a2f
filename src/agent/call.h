/* A call: one request being served, from the moment it is framed to its reply. This is the API
 * handlers see (src/cmd/). */
#ifndef GUESTD_CALL_H
#define GUESTD_CALL_H

#include <stdbool.h>
#include <jansson.h>
#include <uv.h>

#include "guestd/error.h"
#include "guestd/proto.h"

struct conn;
struct gd_cmd;

struct call {
	struct conn *conn;          /* NULL once the connection has gone: the reply is dropped */
	struct call *next;          /* in the connection's untagged queue or its running list */
	struct call *prev;
	struct gd_request req;      /* owned */
	const struct gd_cmd *cmd;   /* set by the dispatcher */
	struct gd_err err;          /* a failure found before the handler ran (framing, envelope) */
	json_t *result;             /* pool handlers: their return value (new reference) */
	struct gd_buf wire;         /* pool handlers: the reply, serialised on the worker */
	bool tagged;                /* has a "tag": runs concurrently (§4) */
	bool started, done;
	bool delimited;             /* write 0xFF before the reply (guest-sync-delimited) */
	uv_work_t work;             /* pool handlers */
};

/* Completes c with a successful return value: steals ret (NULL means {}). Exactly once per call,
 * on the loop thread. */
void call_return(struct call *c, json_t *ret);
/* Completes c with an error: takes err's contents (err is left cleared). */
void call_fail(struct call *c, struct gd_err *err);
/* Completes c with the reply serialised in c->wire (the dispatcher, after a pool handler). */
void call_return_wire(struct call *c);
/* Asks for a 0xFF byte before the reply (guest-sync-delimited). */
void call_set_delimited(struct call *c);
/* The request's tag (borrowed), or NULL. */
json_t *call_tag(const struct call *c);
/* The command name as requested. */
const char *call_name(const struct call *c);
/* The event loop the call runs on. */
uv_loop_t *call_loop(const struct call *c);

#endif
