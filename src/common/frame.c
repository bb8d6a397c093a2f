/* The framer (PROTOCOL.md §1). A small state machine over bytes: it knows JSON strings and
 * escapes well enough to find where a top-level object ends, and nothing more; jansson parses
 * what it cuts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guestd/frame.h"

/* A buffer larger than this is given back once its object has been delivered, so a big request
 * does not pin its memory for the life of the connection. */
#define KEEP_BUF (256u * 1024)

void gd_frame_init(struct gd_frame *f, size_t max_size, unsigned max_depth)
{
	memset(f, 0, sizeof *f);
	f->max_size = max_size;
	f->max_depth = max_depth;
}

static void obj_clear(struct gd_frame *f)
{
	f->depth = 0;
	f->in_str = f->esc = false;
	f->objlen = 0;
	f->len = 0;
	if (f->cap > KEEP_BUF) {
		free(f->buf);
		f->buf = NULL;
		f->cap = 0;
	}
}

void gd_frame_reset(struct gd_frame *f)
{
	obj_clear(f);
	f->state = GD_FS_IDLE;
}

void gd_frame_free(struct gd_frame *f)
{
	free(f->buf);
	f->buf = NULL;
	f->cap = f->len = 0;
}

bool gd_frame_idle(const struct gd_frame *f)
{
	return f->state == GD_FS_IDLE;
}

static int buf_append(struct gd_frame *f, const char *p, size_t n)
{
	if (f->len + n > f->cap) {
		size_t cap = f->cap ? f->cap : 4096;
		while (cap < f->len + n)
			cap *= 2;
		char *nb = realloc(f->buf, cap);
		if (!nb)
			return -ENOMEM;
		f->buf = nb;
		f->cap = cap;
	}
	memcpy(f->buf + f->len, p, n);
	f->len += n;
	return 0;
}

static int ev_error(struct gd_frame_event *ev, int code, const char *msg)
{
	ev->type = GD_FRAME_ERROR;
	ev->code = code;
	ev->msg = msg;
	return GD_FRAME_ERROR;
}

/* Moves into SKIP_OBJECT after a limit was broken; the error is reported now, once. */
static int over_limit(struct gd_frame *f, struct gd_frame_event *ev, const char *what)
{
	unsigned long depth = f->depth;
	bool in_str = f->in_str, esc = f->esc;
	obj_clear(f);
	f->depth = depth;
	f->in_str = in_str;
	f->esc = esc;
	f->state = GD_FS_SKIP_OBJECT;
	if (strcmp(what, "size") == 0)
		snprintf(f->msg, sizeof f->msg, "request exceeds the maximum size of %zu bytes",
			 f->max_size);
	else if (strcmp(what, "depth") == 0)
		snprintf(f->msg, sizeof f->msg, "request exceeds the maximum nesting depth of %u",
			 f->max_depth);
	else
		snprintf(f->msg, sizeof f->msg, "out of memory buffering the request");
	return ev_error(ev, strcmp(what, "memory") == 0 ? ENOMEM : E2BIG, f->msg);
}

/* Scans an object's bytes from data[i]; returns the index after the last byte consumed. Sets
 * *done when the closing bracket of the top-level object was consumed, *limit when the depth cap
 * was crossed (at the byte returned), *reset on 0xFF (the byte is consumed). */
static size_t scan(struct gd_frame *f, const char *data, size_t i, size_t len, bool track,
		   bool *done, bool *limit, bool *reset)
{
	while (i < len) {
		unsigned char c = (unsigned char)data[i];
		if (c == 0xFF) {
			*reset = true;
			return i + 1;
		}
		if (f->in_str) {
			if (f->esc) {
				f->esc = false;
			} else if (c == '\\') {
				f->esc = true;
			} else if (c == '"') {
				f->in_str = false;
			} else {
				/* fast path through the body of a long string */
				size_t j = i + 1;
				while (j < len) {
					unsigned char d = (unsigned char)data[j];
					if (d == '"' || d == '\\' || d == 0xFF)
						break;
					j++;
				}
				i = j;
				continue;
			}
			i++;
			continue;
		}
		switch (c) {
		case '"':
			f->in_str = true;
			break;
		case '{':
		case '[':
			f->depth++;
			if (track && f->depth > f->max_depth) {
				*limit = true;
				return i + 1;
			}
			break;
		case '}':
		case ']':
			if (--f->depth == 0) {
				*done = true;
				return i + 1;
			}
			break;
		default:
			break;
		}
		i++;
	}
	return i;
}

int gd_frame_feed(struct gd_frame *f, const char *data, size_t len, size_t *used,
		  struct gd_frame_event *ev)
{
	size_t i = 0;
	memset(ev, 0, sizeof *ev);
	if (f->state == GD_FS_IDLE && f->cap > KEEP_BUF)
		obj_clear(f); /* the last object was delivered: give its large buffer back */
	while (i < len) {
		unsigned char c = (unsigned char)data[i];
		switch (f->state) {
		case GD_FS_IDLE:
			if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
				i++;
				continue;
			}
			if (c == 0xFF) {
				*used = i + 1;
				ev->type = GD_FRAME_RESET;
				return GD_FRAME_RESET;
			}
			if (c != '{') {
				f->state = GD_FS_SKIP_LINE;
				*used = i + 1;
				return ev_error(ev, EINVAL, "QMP input must be a JSON object");
			}
			obj_clear(f);
			f->state = GD_FS_OBJECT;
			continue;
		case GD_FS_SKIP_LINE: {
			size_t j = i;
			while (j < len && data[j] != '\n' && (unsigned char)data[j] != 0xFF)
				j++;
			if (j == len) {
				i = j;
				continue;
			}
			f->state = GD_FS_IDLE;
			if ((unsigned char)data[j] == 0xFF) {
				*used = j + 1;
				ev->type = GD_FRAME_RESET;
				return GD_FRAME_RESET;
			}
			i = j + 1;
			continue;
		}
		case GD_FS_SKIP_OBJECT: {
			bool done = false, limit = false, reset = false;
			i = scan(f, data, i, len, false, &done, &limit, &reset);
			if (reset) {
				gd_frame_reset(f);
				*used = i;
				ev->type = GD_FRAME_RESET;
				return GD_FRAME_RESET;
			}
			if (done)
				gd_frame_reset(f);
			continue;
		}
		case GD_FS_OBJECT: {
			/* scan no further than the size cap, so that where the reads fall never
			 * changes whether a request is over it */
			size_t start = i;
			size_t room = f->max_size - f->objlen;
			size_t lim = len - i > room ? i + room : len;
			bool done = false, limit = false, reset = false;
			size_t end = scan(f, data, i, lim, true, &done, &limit, &reset);
			if (reset) {
				gd_frame_reset(f);
				*used = end;
				ev->type = GD_FRAME_RESET;
				return GD_FRAME_RESET;
			}
			size_t n = end - start;
			if (!done && !limit && end == lim && lim < len) {
				/* one byte more than the cap is here */
				if ((unsigned char)data[lim] == 0xFF) {
					gd_frame_reset(f);
					*used = lim + 1;
					ev->type = GD_FRAME_RESET;
					return GD_FRAME_RESET;
				}
				*used = end;
				return over_limit(f, ev, "size");
			}
			if (limit) {
				*used = end;
				return over_limit(f, ev, "depth");
			}
			f->objlen += n;
			if (done && f->len == 0) {
				/* the whole object is in this input: no copy */
				*used = end;
				f->state = GD_FS_IDLE;
				f->depth = 0;
				f->objlen = 0;
				ev->type = GD_FRAME_OBJECT;
				ev->data = data + start;
				ev->len = n;
				return GD_FRAME_OBJECT;
			}
			if (buf_append(f, data + start, n) < 0) {
				*used = end;
				if (done) {
					gd_frame_reset(f);
					return ev_error(ev, ENOMEM, "out of memory buffering the request");
				}
				return over_limit(f, ev, "memory");
			}
			i = end;
			if (done) {
				*used = end;
				f->state = GD_FS_IDLE;
				f->depth = 0;
				f->objlen = 0;
				ev->type = GD_FRAME_OBJECT;
				ev->data = f->buf;
				ev->len = f->len;
				/* ev->data stays valid until the next object starts; obj_clear then empties
				 * the buffer and gives a large one back */
				f->len = 0;
				return GD_FRAME_OBJECT;
			}
			continue;
		}
		}
	}
	*used = len;
	ev->type = GD_FRAME_NONE;
	return GD_FRAME_NONE;
}
