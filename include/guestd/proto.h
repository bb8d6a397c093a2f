/* Requests and replies (PROTOCOL.md §2, §3). Built with jansson, never by string formatting. */
#ifndef GUESTD_PROTO_H
#define GUESTD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "guestd/error.h"

struct gd_request {
	json_t *root;         /* owned: the whole request object */
	const char *execute;  /* borrowed from root */
	json_t *args;         /* borrowed from root; NULL when absent */
	json_t *tag;          /* borrowed from root; NULL when absent */
	json_t *id;           /* borrowed from root; NULL when absent */
};

/* Parses one framed object into req. On failure returns a negative errno and sets err; req->tag
 * and req->id are still set when they could be read, so the error can echo them, and the caller
 * must gd_request_free(req) in both cases. */
int gd_request_parse(const char *buf, size_t len, struct gd_request *req, struct gd_err *err);
void gd_request_free(struct gd_request *req);

/* {"return": ret, "tag": tag, "id": id}: steals ret, borrows tag and id (may be NULL).
 * Returns a new reference. */
json_t *gd_reply_return(json_t *ret, json_t *tag, json_t *id);
/* {"error": {...}, "tag": tag, "id": id}: borrows all. Returns a new reference. */
json_t *gd_reply_error(const struct gd_err *err, json_t *tag, json_t *id);

/* A growable byte buffer for serialised replies. */
struct gd_buf {
	char *data;
	size_t len, cap;
};
int gd_buf_reserve(struct gd_buf *b, size_t more);
int gd_buf_append(struct gd_buf *b, const void *p, size_t n);
void gd_buf_free(struct gd_buf *b);

/* Appends what gd_reply_dump(gd_reply_return(ret, tag, id), ff) would, without building the
 * reply object (all borrowed; NULL ret is {}). */
int gd_reply_dump_return(json_t *ret, json_t *tag, json_t *id, bool ff, struct gd_buf *out);
/* The end of a reply after its return value: ', "tag": T, "id": I}' and '\n' (tag and id
 * borrowed, may be NULL), for values written in pieces. */
int gd_reply_dump_tail(json_t *tag, json_t *id, struct gd_buf *out);

/* Appends the wire form of reply (borrowed) to out: an optional 0xFF, the JSON text in qemu-ga's
 * spacing, and one '\n'. Returns 0 or -ENOMEM. */
int gd_reply_dump(json_t *reply, bool ff, struct gd_buf *out);

#endif
