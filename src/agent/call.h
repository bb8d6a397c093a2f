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
struct outchunk;

/* The size of each piece of a streamed return value (the cap given to gd_stream.next). */
#define GD_STREAM_PIECE (1024u * 1024)

/* A streamed return value (guest-file-read): memory stays bounded by a few pieces however
 * large the value, and pieces are written while the next ones are produced. */
struct gd_stream {
	/* Worker thread: writes the next piece of the return value's JSON text into buf (room for
	 * cap bytes) and returns its length; sets *done once the value is complete. It must always
	 * complete the value: an I/O error ends the data early (as a short read would); it cannot
	 * turn the reply into an error any more. */
	size_t (*next)(void *ctx, char *buf, size_t cap, bool *done);
	/* Releases ctx; called once, on any thread, whether or not the value was completed. */
	void (*release)(void *ctx);
	void *ctx;
	/* The largest piece the value needs, when smaller than GD_STREAM_PIECE (a small read
	 * should not cost a 1 MiB buffer); 0: GD_STREAM_PIECE. */
	size_t piece_max;
};

struct call {
	struct conn *conn;          /* NULL once the connection has gone: the reply is dropped */
	struct call *next;          /* in the connection's untagged queue or its running list */
	struct call *prev;
	struct gd_request req;      /* owned */
	const struct gd_cmd *cmd;   /* set by the dispatcher */
	struct gd_err err;          /* a failure found before the handler ran (framing, envelope) */
	json_t *result;             /* pool handlers: their return value (new reference) */
	struct gd_buf wire;         /* pool handlers: the reply, serialised on the worker */
	struct gd_stream stream;    /* stream handlers: the value being produced */
	struct gd_buf piece;        /* stream handlers: the piece a worker produced */
	struct outchunk *marker;    /* stream handlers: the reply's place in the output */
	bool streaming;             /* the stream handler accepted: pieces follow */
	bool producing;             /* a piece is being produced on a worker */
	bool stream_done;           /* the last piece has been produced */
	bool piece_oom;             /* no memory for the piece: the stream cannot go on */
	bool tagged;                /* has a "tag": runs concurrently (§4) */
	bool started;
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
/* The event loop the call runs on. */
uv_loop_t *call_loop(const struct call *c);

#endif
