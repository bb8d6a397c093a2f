/* The framer: cuts whole JSON objects out of a byte stream (PROTOCOL.md §1), incrementally,
 * never blocking and never buffering more than one request (capped). Shared by guestd and
 * guestctl. */
#ifndef GUESTD_FRAME_H
#define GUESTD_FRAME_H

#include <stdbool.h>
#include <stddef.h>

enum gd_frame_ev_type {
	GD_FRAME_NONE = 0,  /* all input consumed, nothing to report */
	GD_FRAME_OBJECT,    /* a bracket-balanced top-level object: data/len */
	GD_FRAME_ERROR,     /* input rejected: code (E2BIG, EINVAL) and msg; reply once */
	GD_FRAME_RESET,     /* a 0xFF byte: partial input (if any) was discarded */
};

struct gd_frame_event {
	enum gd_frame_ev_type type;
	const char *data;   /* OBJECT: the object's bytes; valid until the next gd_frame_feed */
	size_t len;
	int code;           /* ERROR: positive errno */
	const char *msg;    /* ERROR: static or framer-owned message */
};

enum gd_frame_state {
	GD_FS_IDLE = 0,     /* between objects */
	GD_FS_OBJECT,       /* inside an object, buffering */
	GD_FS_SKIP_OBJECT,  /* inside an object over a limit, skipping to its end */
	GD_FS_SKIP_LINE,    /* after top-level garbage, skipping to '\n' or 0xFF */
};

struct gd_frame {
	size_t max_size;
	unsigned max_depth;
	enum gd_frame_state state;
	unsigned long depth;   /* open brackets in the current object */
	bool in_str, esc;
	size_t objlen;         /* bytes of the current object seen so far */
	char *buf;             /* partial object carried across feeds */
	size_t len, cap;
	char msg[96];
};

void gd_frame_init(struct gd_frame *f, size_t max_size, unsigned max_depth);
/* Discards any partial input (peer went away). Keeps the limits. */
void gd_frame_reset(struct gd_frame *f);
void gd_frame_free(struct gd_frame *f);
/* True when no partial request is held. */
bool gd_frame_idle(const struct gd_frame *f);

/* Consumes bytes of data[0, len) up to and including the first event, sets *used to the number
 * consumed and fills *ev. Returns ev->type. Call again with the rest until GD_FRAME_NONE.
 * Returns a negative errno (-ENOMEM) if a partial object cannot be buffered; the framer then
 * skips that object as if it were over the size limit. */
int gd_frame_feed(struct gd_frame *f, const char *data, size_t len, size_t *used,
		  struct gd_frame_event *ev);

#endif
