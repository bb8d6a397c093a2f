/* Streamed replies: the worker side. The handler runs first (it may refuse, which is an ordinary
 * error reply), then each piece is produced by one work item; conn.c places the pieces in the
 * output and asks for the next one when the peer has taken enough. */
#include <errno.h>

#include "agent/cmdtab.h"
#include "agent/conn.h"
#include "agent/stream.h"

static void produce_work(uv_work_t *w)
{
	struct call *c = w->data;
	if (!c->streaming) {
		if (c->cmd->stream_fn(c->req.args, &c->stream, &c->err) < 0)
			return;
		c->streaming = true;
	}
	size_t cap = c->stream.piece_max && c->stream.piece_max < GD_STREAM_PIECE
			     ? c->stream.piece_max : GD_STREAM_PIECE;
	if (gd_buf_reserve(&c->piece, cap) < 0) {
		c->piece.len = 0;
		c->piece_oom = true; /* conn.c ends the connection: a value cut short is no reply */
		return;
	}
	c->piece.len = c->stream.next(c->stream.ctx, c->piece.data, cap, &c->stream_done);
}

static void produce_done(uv_work_t *w, int status)
{
	struct call *c = w->data;
	c->producing = false;
	if (!c->streaming) {
		if (status < 0)
			gd_err_set(&c->err, GD_ERR_GENERIC, ECANCELED, "%s was cancelled", c->cmd->name);
		call_fail(c, &c->err);
		return;
	}
	conn_stream_piece(c->conn, c);
}

static void produce(struct call *c)
{
	c->producing = true;
	c->work.data = c;
	int r = uv_queue_work(call_loop(c), &c->work, produce_work, produce_done);
	if (r < 0) {
		c->producing = false;
		struct gd_err err = GD_ERR_INIT;
		if (!c->streaming) {
			gd_err_set(&err, GD_ERR_GENERIC, -r, "cannot queue %s: %s", c->cmd->name,
				   uv_strerror(r));
			call_fail(c, &err);
		} else {
			conn_stream_abort(c->conn, c);
		}
	}
}

void stream_start(struct call *c)
{
	produce(c);
}

void stream_resume(struct call *c)
{
	if (c->streaming && !c->producing && !c->stream_done)
		produce(c);
}
