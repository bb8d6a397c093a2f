/* Connections: framing, the ordering rule (§4), the in-flight cap and whole-reply writes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/conn.h"
#include "agent/dispatch.h"
#include "agent/stream.h"
#include "guestd/log.h"
#include "platform/platform.h"

#define READ_CHUNK (64u * 1024)
#define SMALL_CHUNK (64u * 1024)   /* small replies share a chunk up to this size */
#define BIG_OUT (1024u * 1024)     /* after writing a chunk this big, give memory back */
#define MAX_IOV 64
#define STREAM_AHEAD (4u * GD_STREAM_PIECE) /* streams pause while this much waits unwritten */

/* A piece of output: one big serialised reply, or several small ones back to back, or the
 * place of a streamed reply still being produced (stream set: output stops there; its pieces
 * are moved out in front of it as they come). */
struct outchunk {
	struct outchunk *next;
	struct gd_buf buf;
	size_t off;         /* bytes of buf already written */
	unsigned replies;
	struct call *stream;
};

static void pump(struct conn *cn);
static void maybe_finish(struct conn *cn);
static void close_with(struct conn *cn, int err);

static struct conn *all_conns;

static void list_unlink(struct call **head, struct call **tail, struct call *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		*head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else if (tail)
		*tail = c->prev;
	c->next = c->prev = NULL;
}

/* Frees a list of chunks; returns whether a big one was among them. */
static bool chunks_free(struct outchunk *ch)
{
	bool big = false;
	while (ch) {
		struct outchunk *next = ch->next;
		big |= ch->buf.cap > BIG_OUT;
		gd_buf_free(&ch->buf);
		free(ch);
		ch = next;
	}
	return big;
}

static void conn_free(struct conn *cn)
{
	gd_frame_free(&cn->frame);
	free(cn->inbuf);
	chunks_free(cn->out_head);
	chunks_free(cn->writing);
	chunks_free(cn->spare);
	free(cn);
}

void conn_unref(struct conn *cn)
{
	if (--cn->refs == 0)
		conn_free(cn);
}

static void call_free(struct call *c)
{
	if (c->stream.release)
		c->stream.release(c->stream.ctx);
	gd_buf_free(&c->piece);
	gd_request_free(&c->req);
	gd_err_clear(&c->err);
	json_decref(c->result);
	gd_buf_free(&c->wire);
	free(c);
}

static void on_close(uv_handle_t *h)
{
	struct conn *cn = h->data;
	free(h);
	cn->stream = NULL;
	if (cn->on_end)
		cn->on_end(cn, cn->end_err, cn->data);
	conn_unref(cn);
}

static void close_with(struct conn *cn, int err)
{
	if (cn->closing)
		return;
	cn->closing = true;
	cn->end_err = err == UV_EOF ? 0 : err;
	if (cn->all_prev)
		cn->all_prev->all_next = cn->all_next;
	else
		all_conns = cn->all_next;
	if (cn->all_next)
		cn->all_next->all_prev = cn->all_prev;
	cn->all_next = cn->all_prev = NULL;
	if (err && err != UV_EOF)
		gd_info("%s: connection ended: %s", cn->name, uv_strerror(err));
	else
		gd_debug("%s: connection ended", cn->name);
	/* queued calls that never started are dropped; started ones finish and drop their reply */
	struct call *c = cn->queue_head;
	while (c) {
		struct call *next = c->next;
		if (!c->started) {
			list_unlink(&cn->queue_head, &cn->queue_tail, c);
			cn->in_flight--;
			call_free(c);
			cn->refs--; /* the stream's reference keeps cn alive */
		}
		c = next;
	}
	/* streams waiting for the peer to read will not be asked for more: end them */
	for (int pass = 0; pass < 2; pass++) {
		c = pass ? cn->running : cn->queue_head;
		while (c) {
			struct call *next = c->next;
			if (c->streaming && !c->producing)
				conn_stream_abort(cn, c);
			c = next;
		}
	}
	gd_frame_reset(&cn->frame);
	cn->in_off = cn->in_len = 0;
	uv_close((uv_handle_t *)cn->stream, on_close);
}

void conn_close(struct conn *cn)
{
	close_with(cn, 0);
}

void conn_close_all(void)
{
	while (all_conns)
		close_with(all_conns, 0);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *cn = h->data;
	(void)hint;
	if (cn->in_off > 0) {
		memmove(cn->inbuf, cn->inbuf + cn->in_off, cn->in_len - cn->in_off);
		cn->in_len -= cn->in_off;
		cn->in_off = 0;
	}
	if (cn->in_cap - cn->in_len < READ_CHUNK / 2) {
		size_t cap = cn->in_len + READ_CHUNK;
		char *nb = realloc(cn->inbuf, cap);
		if (nb) {
			cn->inbuf = nb;
			cn->in_cap = cap;
		}
	}
	*buf = uv_buf_init(cn->inbuf + cn->in_len, (unsigned)(cn->in_cap - cn->in_len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct conn *cn = s->data;
	(void)buf;
	if (n == UV_EOF && cn->linger) {
		/* the peer shut down its sending side: answer what it sent, then close */
		cn->eof = true;
		uv_read_stop(s);
		cn->reading = false;
		pump(cn);
		maybe_finish(cn);
		return;
	}
	if (n < 0) {
		close_with(cn, (int)n);
		return;
	}
	cn->in_len += (size_t)n;
	pump(cn);
}

static void maybe_finish(struct conn *cn)
{
	/* a half-closed socket peer: once everything it sent is answered and written, close */
	if (cn->eof && !cn->closing && cn->in_flight == 0 && !cn->writing && !cn->out_head)
		close_with(cn, 0);
}

static void on_write(uv_write_t *w, int status)
{
	struct conn *cn = w->data;
	cn->in_flight -= cn->writing_replies;
	cn->writing_replies = 0;
	cn->out_bytes -= cn->writing_bytes;
	cn->writing_bytes = 0;
	if (chunks_free(cn->writing))
		pf_mem_trim();
	cn->writing = NULL;
	if (status < 0) {
		close_with(cn, status);
		return;
	}
	if (!cn->closing)
		pump(cn);
}

/* Moves the bytes produced so far for the first streamed reply out in front of its place, so
 * that they are written like any chunk; the place itself stays and output stops there. */
static void detach_stream_bytes(struct conn *cn)
{
	struct outchunk *prev = NULL;
	for (struct outchunk *ch = cn->out_head; ch; prev = ch, ch = ch->next) {
		if (!ch->stream)
			continue;
		if (ch->buf.len > ch->off) {
			struct outchunk *d = calloc(1, sizeof *d);
			if (!d)
				return;
			d->buf = ch->buf;
			d->off = ch->off;
			memset(&ch->buf, 0, sizeof ch->buf);
			ch->off = 0;
			d->next = ch;
			if (prev)
				prev->next = d;
			else
				cn->out_head = d;
		}
		return;
	}
}

/* Writes what it can now (uv_try_write: no request, no extra epoll_ctl per reply, which is what
 * uv_write costs even when the write completes at once), then hands the rest to one uv_write.
 * Output stops at a streamed reply still being produced. */
static void flush(struct conn *cn)
{
	if (cn->closing || cn->writing || !cn->out_head)
		return;
	detach_stream_bytes(cn);
	uv_buf_t bufs[MAX_IOV];
	unsigned n = 0;
	for (struct outchunk *ch = cn->out_head; ch && !ch->stream && n < MAX_IOV; ch = ch->next)
		bufs[n++] = uv_buf_init(ch->buf.data + ch->off, (unsigned)(ch->buf.len - ch->off));
	if (n == 0)
		return;
	int w = uv_try_write(cn->stream, bufs, n);
	if (w == UV_EAGAIN || w == UV_ENOSYS)
		w = 0;
	if (w < 0) {
		close_with(cn, w);
		return;
	}
	cn->out_bytes -= (size_t)w;
	size_t left = (size_t)w;
	bool big = false;
	while (cn->out_head && !cn->out_head->stream &&
	       left >= cn->out_head->buf.len - cn->out_head->off) {
		struct outchunk *ch = cn->out_head;
		left -= ch->buf.len - ch->off;
		cn->in_flight -= ch->replies;
		cn->out_head = ch->next;
		ch->next = NULL;
		if (!cn->spare && ch->buf.cap <= SMALL_CHUNK * 2)
			cn->spare = ch; /* one reply after another: no malloc/free per reply */
		else
			big |= chunks_free(ch);
	}
	if (big)
		pf_mem_trim();
	if (!cn->out_head) {
		cn->out_tail = NULL;
		return;
	}
	cn->out_head->off += left;
	if (cn->out_head->stream)
		return;

	/* the rest waits for the peer: one uv_write of up to MAX_IOV chunks */
	struct outchunk *last = NULL;
	n = 0;
	cn->writing_replies = 0;
	cn->writing_bytes = 0;
	for (struct outchunk *ch = cn->out_head; ch && !ch->stream && n < MAX_IOV; ch = ch->next) {
		bufs[n++] = uv_buf_init(ch->buf.data + ch->off, (unsigned)(ch->buf.len - ch->off));
		cn->writing_replies += ch->replies;
		cn->writing_bytes += ch->buf.len - ch->off;
		last = ch;
	}
	cn->writing = cn->out_head;
	cn->out_head = last->next;
	if (!cn->out_head)
		cn->out_tail = NULL;
	last->next = NULL;
	cn->wreq.data = cn;
	int r = uv_write(&cn->wreq, cn->stream, bufs, n, on_write);
	if (r < 0) {
		cn->in_flight -= cn->writing_replies;
		cn->writing_replies = 0;
		cn->out_bytes -= cn->writing_bytes;
		cn->writing_bytes = 0;
		chunks_free(cn->writing);
		cn->writing = NULL;
		close_with(cn, r);
	}
}

static struct outchunk *chunk_append(struct conn *cn)
{
	struct outchunk *ch = cn->spare;
	if (ch) {
		cn->spare = NULL;
		ch->buf.len = ch->off = 0;
		ch->replies = 0;
	} else if (!(ch = calloc(1, sizeof *ch))) {
		return NULL;
	}
	if (cn->out_tail)
		cn->out_tail->next = ch;
	else
		cn->out_head = ch;
	cn->out_tail = ch;
	return ch;
}

/* Unlinks c from its list; returns whether its reply should be written. */
static bool call_unlink(struct conn *cn, struct call *c)
{
	if (c->tagged)
		list_unlink(&cn->running, NULL, c);
	else
		list_unlink(&cn->queue_head, &cn->queue_tail, c);
	return !cn->closing;
}

static void call_finish(struct conn *cn, struct call *c, bool queued)
{
	if (!queued)
		cn->in_flight--;
	call_free(c);
	if (!cn->closing) {
		pump(cn);
		maybe_finish(cn);
	}
	conn_unref(cn);
}

/* The chunk small replies are added to: the last one, unless it is big or a stream's place. */
static struct outchunk *small_chunk(struct conn *cn)
{
	struct outchunk *ch = cn->out_tail;
	if (!ch || ch->stream || ch->buf.len >= SMALL_CHUNK)
		ch = chunk_append(cn);
	return ch;
}

/* Writes c's reply (an object, or the return value ret) into the output and finishes c. */
static void reply_done(struct conn *cn, struct call *c, json_t *reply, json_t *ret, bool is_ret)
{
	bool queued = false;
	if (call_unlink(cn, c) && (reply || is_ret)) {
		struct outchunk *ch = small_chunk(cn);
		size_t before = ch ? ch->buf.len : 0;
		int r = !ch ? -ENOMEM
			: is_ret ? gd_reply_dump_return(ret, c->req.tag, c->req.id, c->delimited,
							&ch->buf)
				 : gd_reply_dump(reply, c->delimited, &ch->buf);
		if (r == 0) {
			ch->replies++;
			cn->out_bytes += ch->buf.len - before;
			queued = true;
		}
	}
	json_decref(reply);
	json_decref(ret);
	call_finish(cn, c, queued);
}

void conn_call_done(struct conn *cn, struct call *c, json_t *reply)
{
	reply_done(cn, c, reply, NULL, false);
}

void conn_call_return(struct conn *cn, struct call *c, json_t *ret)
{
	reply_done(cn, c, NULL, ret, true);
}

void conn_call_done_wire(struct conn *cn, struct call *c, struct gd_buf *wire)
{
	bool queued = false;
	if (call_unlink(cn, c)) {
		struct outchunk *ch = cn->out_tail;
		size_t len = wire->len;
		if (wire->len < SMALL_CHUNK && ch && !ch->stream && ch->buf.len < SMALL_CHUNK) {
			queued = gd_buf_append(&ch->buf, wire->data, wire->len) == 0;
		} else if ((ch = chunk_append(cn))) {
			gd_buf_free(&ch->buf); /* a reused chunk's own buffer */
			ch->buf = *wire; /* a big reply is written from the worker's buffer */
			memset(wire, 0, sizeof *wire);
			queued = true;
		}
		if (queued) {
			ch->replies++;
			cn->out_bytes += len;
		}
	}
	gd_buf_free(wire);
	call_finish(cn, c, queued);
}

void conn_stream_abort(struct conn *cn, struct call *c)
{
	/* a value cut short cannot be mended: the connection ends (the peer sees EOF, not a
	 * truncated reply followed by others). Close first: finishing the call may drop the last
	 * reference to cn once it is closing. */
	c->streaming = false; /* close_with must not abort it a second time */
	if (c->marker) {
		c->marker->stream = NULL; /* dropped with the output when the connection closes */
		c->marker = NULL;
	}
	close_with(cn, UV_ENOMEM);
	call_unlink(cn, c);
	call_finish(cn, c, false);
}

void conn_stream_piece(struct conn *cn, struct call *c)
{
	if (cn->closing || c->piece_oom) {
		if (!cn->closing)
			gd_err_log("%s: %s: out of memory in a streamed reply", cn->name,
				   c->req.execute);
		conn_stream_abort(cn, c);
		return;
	}
	struct outchunk *m = c->marker;
	if (!m) {
		/* the reply takes its place in the output now; what comes after waits for it */
		if (!(m = chunk_append(cn)) ||
		    gd_buf_append(&m->buf, "{\"return\": ", 11) < 0) {
			conn_stream_abort(cn, c);
			return;
		}
		m->stream = c;
		c->marker = m;
		cn->out_bytes += 11;
	}
	size_t before = m->buf.len;
	if (m->buf.len == m->off) {
		/* nothing of the place's own waits: take the worker's buffer as it is */
		gd_buf_free(&m->buf);
		m->buf = c->piece;
		m->off = 0;
		memset(&c->piece, 0, sizeof c->piece);
		before = 0;
	} else if (gd_buf_append(&m->buf, c->piece.data, c->piece.len) < 0) {
		conn_stream_abort(cn, c);
		return;
	}
	if (c->stream_done && gd_reply_dump_tail(c->req.tag, c->req.id, &m->buf) < 0) {
		conn_stream_abort(cn, c);
		return;
	}
	cn->out_bytes += m->buf.len - before;
	if (!c->stream_done) {
		flush(cn);
		if (cn->out_bytes < STREAM_AHEAD)
			stream_resume(c);
		return;
	}
	/* complete: the place becomes an ordinary chunk holding the end of one reply */
	m->stream = NULL;
	m->replies = 1;
	c->marker = NULL;
	call_unlink(cn, c);
	call_finish(cn, c, true);
}

/* Streams paused because the peer had not read enough go on once it has. */
static void resume_streams(struct conn *cn)
{
	if (cn->out_bytes >= STREAM_AHEAD)
		return;
	for (int pass = 0; pass < 2; pass++)
		for (struct call *c = pass ? cn->running : cn->queue_head; c; c = c->next)
			if (c->marker && !c->producing && !c->stream_done)
				stream_resume(c);
}

static void start_head(struct conn *cn)
{
	struct call *c = cn->queue_head;
	if (c && !c->started)
		dispatch_call(c);
}

static void new_call(struct conn *cn, const struct gd_frame_event *ev)
{
	struct call *c = calloc(1, sizeof *c);
	if (!c) {
		gd_err_log("%s: out of memory: request dropped", cn->name);
		return;
	}
	c->conn = cn;
	cn->refs++;
	cn->in_flight++;
	if (ev->type == GD_FRAME_OBJECT) {
		if (gd_request_parse(ev->data, ev->len, &c->req, &c->err) < 0)
			gd_debug("%s: bad request: %s", cn->name, c->err.desc);
		c->tagged = c->req.tag != NULL;
	} else {
		gd_err_set(&c->err, GD_ERR_GENERIC, ev->code, "%s", ev->msg);
	}
	if (c->tagged) {
		c->next = cn->running;
		if (cn->running)
			cn->running->prev = c;
		cn->running = c;
		dispatch_call(c);
		return;
	}
	c->prev = cn->queue_tail;
	if (cn->queue_tail)
		cn->queue_tail->next = c;
	else
		cn->queue_head = c;
	cn->queue_tail = c;
	start_head(cn);
}

static void pump(struct conn *cn)
{
	if (cn->pumping) {
		cn->repump = true;
		return;
	}
	cn->pumping = true;
	cn->refs++; /* a handler may end the connection under us */
	do {
		cn->repump = false;
		start_head(cn);
		while (!cn->closing && cn->in_flight < cn->max_in_flight) {
			size_t used = 0;
			struct gd_frame_event ev;
			int t = gd_frame_feed(&cn->frame, cn->inbuf + cn->in_off, cn->in_len - cn->in_off,
					      &used, &ev);
			cn->in_off += used;
			if (t == GD_FRAME_NONE)
				break;
			if (t == GD_FRAME_OBJECT || t == GD_FRAME_ERROR)
				new_call(cn, &ev);
		}
		if (cn->in_off == cn->in_len)
			cn->in_off = cn->in_len = 0;
		/* writing may complete replies at once, lowering in_flight: frame on if input waits */
		unsigned before = cn->in_flight;
		if (!cn->closing)
			flush(cn);
		if (cn->in_flight < before && cn->in_off < cn->in_len)
			cn->repump = true;
	} while (cn->repump && !cn->closing);
	cn->pumping = false;
	if (!cn->closing) {
		bool want = cn->in_flight < cn->max_in_flight && !cn->eof;
		if (want && !cn->reading) {
			if (uv_read_start(cn->stream, on_alloc, on_read) == 0)
				cn->reading = true;
		} else if (!want && cn->reading) {
			uv_read_stop(cn->stream);
			cn->reading = false;
		}
		resume_streams(cn);
		maybe_finish(cn);
	}
	conn_unref(cn);
}

struct conn *conn_new(uv_stream_t *stream, const char *name, unsigned flags, conn_end_fn *on_end,
		      void *data)
{
	struct conn *cn = calloc(1, sizeof *cn);
	if (!cn) {
		uv_close((uv_handle_t *)stream, (uv_close_cb)free);
		return NULL;
	}
	cn->stream = stream;
	stream->data = cn;
	cn->refs = 1;
	cn->all_next = all_conns;
	if (all_conns)
		all_conns->all_prev = cn;
	all_conns = cn;
	cn->on_end = on_end;
	cn->data = data;
	cn->linger = flags & CONN_LINGER;
	cn->max_in_flight = (unsigned)agent.cfg.max_in_flight;
	snprintf(cn->name, sizeof cn->name, "%s", name);
	gd_frame_init(&cn->frame, (size_t)agent.cfg.max_request_size, (unsigned)agent.cfg.max_depth);
	int r = uv_read_start(stream, on_alloc, on_read);
	if (r < 0) {
		gd_warn("%s: cannot read: %s", name, uv_strerror(r));
		close_with(cn, r);
		return NULL;
	}
	cn->reading = true;
	gd_debug("%s: connected", name);
	return cn;
}
