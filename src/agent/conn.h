/* A connection: one byte stream from the host (a socket client, or a character device while the
 * host is attached). It frames requests, keeps the ordering rule and writes replies whole. */
#ifndef GUESTD_CONN_H
#define GUESTD_CONN_H

#include <stdbool.h>
#include <uv.h>

#include "agent/call.h"
#include "guestd/frame.h"
#include "guestd/proto.h"

struct conn;
/* Called once when the connection has ended (peer gone, read error, or conn_close); err is 0 on
 * a clean EOF or close, else a negative libuv error. The stream is closed by then. */
typedef void conn_end_fn(struct conn *cn, int err, void *data);

struct conn {
	uv_stream_t *stream;          /* owned; NULL once closed */
	struct gd_frame frame;
	char *inbuf;                  /* bytes read but not framed yet (kept under backpressure) */
	size_t in_off, in_len, in_cap;
	struct call *queue_head;      /* untagged calls, FIFO; the head may be running */
	struct call *queue_tail;
	struct call *running;         /* tagged calls not yet done (untagged ones stay queued) */
	unsigned in_flight;           /* calls not yet answered + replies not yet written */
	unsigned max_in_flight;
	struct outchunk *out_head;    /* replies waiting to be written, in order */
	struct outchunk *out_tail;
	struct outchunk *writing;     /* chunks handed to uv_write */
	struct outchunk *spare;       /* a written small chunk kept for the next reply */
	unsigned writing_replies;
	size_t out_bytes;             /* bytes queued and not yet written (streams pace on it) */
	size_t writing_bytes;         /* of which handed to uv_write */
	uv_write_t wreq;
	bool reading, closing, pumping, repump;
	bool linger;                  /* sockets: after the peer's EOF, answer what it sent */
	bool eof;
	unsigned refs;                /* the stream + one per live call */
	int end_err;                  /* passed to on_end */
	struct conn *all_next, *all_prev; /* every open connection, for shutdown */
	conn_end_fn *on_end;
	void *data;
	char name[64];                /* for logs: "unix #3", "virtio-serial" */
};

enum {
	CONN_LINGER = 1 << 0,   /* a half-close (EOF) still gets its replies (sockets); without it
				 * EOF means the peer is gone (a character device's host) */
};

/* Takes ownership of stream (already initialised, e.g. uv_pipe_open/accept) and starts reading.
 * Returns NULL if it could not start; the stream is then closed and on_end called. */
struct conn *conn_new(uv_stream_t *stream, const char *name, unsigned flags, conn_end_fn *on_end,
		      void *data);
/* Stops serving: closes the stream, drops queued calls; running calls finish and their replies
 * are dropped. on_end is called. */
void conn_close(struct conn *cn);

/* Closes every open connection (shutdown). */
void conn_close_all(void);

/* call.c → conn.c: a call of cn has completed with reply (stolen; NULL when none is sent). */
void conn_call_done(struct conn *cn, struct call *c, json_t *reply);
/* A successful call: its return value ret (stolen; NULL is {}) is written without building a
 * reply object. */
void conn_call_return(struct conn *cn, struct call *c, json_t *ret);
/* The same with the reply already serialised (by a worker thread): wire's buffer is taken. */
void conn_call_done_wire(struct conn *cn, struct call *c, struct gd_buf *wire);
/* stream.c → conn.c: c's worker produced c->piece (and maybe the last one): place it in the
 * output. */
void conn_stream_piece(struct conn *cn, struct call *c);
/* Ends a streamed reply that cannot be completed, and with it the connection. */
void conn_stream_abort(struct conn *cn, struct call *c);
/* Drops one reference (a call that outlived its connection). */
void conn_unref(struct conn *cn);

#endif
