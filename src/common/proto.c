/* Requests and replies (PROTOCOL.md §2, §3). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "guestd/jsonfast.h"
#include "guestd/proto.h"


int gd_request_parse(const char *buf, size_t len, struct gd_request *req, struct gd_err *err)
{
	memset(req, 0, sizeof *req);
	json_error_t jerr;
	/* the fast subset parser first (a third of jansson's cost on a ping, a fraction on a big
	 * write), jansson for what it declines, with jansson's error messages */
	json_t *root = gd_json_load_fast(buf, len, 0);
	if (!root)
		root = json_loadb(buf, len, 0, &jerr);
	if (!root)
		return gd_err_set(err, GD_ERR_GENERIC, EINVAL, "JSON parse error: %s (line %d, column %d)",
				  jerr.text, jerr.line, jerr.column);
	req->root = root;
	if (!json_is_object(root))
		return gd_err_set(err, GD_ERR_GENERIC, EINVAL, "QMP input must be a JSON object");
	/* tag and id first, so that every later error can echo them */
	req->tag = json_object_get(root, "tag");
	req->id = json_object_get(root, "id");

	const char *key;
	json_t *val;
	json_object_foreach(root, key, val) {
		if (strcmp(key, "execute") == 0) {
			if (!json_is_string(val))
				return gd_err_set(err, GD_ERR_GENERIC, EINVAL,
						  "QMP input member 'execute' must be a string");
			req->execute = json_string_value(val);
		} else if (strcmp(key, "arguments") == 0) {
			/* objects for every command; plugins also take a string (§7) */
			if (!json_is_object(val) && !json_is_string(val))
				return gd_err_set(err, GD_ERR_GENERIC, EINVAL,
						  "QMP input member 'arguments' must be an object");
			req->args = val;
		} else if (strcmp(key, "tag") != 0 && strcmp(key, "id") != 0) {
			return gd_err_set(err, GD_ERR_GENERIC, EINVAL,
					  "QMP input member '%s' is unexpected", key);
		}
	}
	if (!req->execute)
		return gd_err_set(err, GD_ERR_GENERIC, EINVAL, "QMP input lacks member 'execute'");
	return 0;
}

void gd_request_free(struct gd_request *req)
{
	json_decref(req->root);
	memset(req, 0, sizeof *req);
}

static json_t *with_ids(json_t *reply, json_t *tag, json_t *id)
{
	if (reply && tag)
		json_object_set(reply, "tag", tag);
	if (reply && id)
		json_object_set(reply, "id", id);
	return reply;
}

json_t *gd_reply_return(json_t *ret, json_t *tag, json_t *id)
{
	json_t *reply = json_object();
	if (!reply) {
		json_decref(ret);
		return NULL;
	}
	json_object_set_new(reply, "return", ret ? ret : json_object());
	return with_ids(reply, tag, id);
}

json_t *gd_reply_error(const struct gd_err *err, json_t *tag, json_t *id)
{
	json_t *reply = json_object();
	if (!reply)
		return NULL;
	json_object_set_new(reply, "error", gd_err_to_json(err));
	return with_ids(reply, tag, id);
}

int gd_buf_reserve(struct gd_buf *b, size_t more)
{
	if (b->len + more <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + more)
		cap *= 2;
	char *nd = realloc(b->data, cap);
	if (!nd)
		return -ENOMEM;
	b->data = nd;
	b->cap = cap;
	return 0;
}

int gd_buf_append(struct gd_buf *b, const void *p, size_t n)
{
	int r = gd_buf_reserve(b, n);
	if (r < 0)
		return r;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

void gd_buf_free(struct gd_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

int gd_reply_dump_tail(json_t *tag, json_t *id, struct gd_buf *out)
{
	static const char *const names[] = { ", \"tag\": ", ", \"id\": " };
	json_t *vals[] = { tag, id };
	for (int i = 0; i < 2; i++)
		if (vals[i] && (gd_buf_append(out, names[i], strlen(names[i])) < 0 ||
				gd_json_dump(vals[i], out) < 0))
			return -ENOMEM;
	return gd_buf_append(out, "}\n", 2);
}

int gd_reply_dump_return(json_t *ret, json_t *tag, json_t *id, bool ff, struct gd_buf *out)
{
	size_t mark = out->len;
	int r = 0;
	if (ff)
		r = gd_buf_append(out, "\xff", 1);
	if (r == 0)
		r = gd_buf_append(out, "{\"return\": ", 11);
	if (r == 0)
		r = ret ? gd_json_dump(ret, out) : gd_buf_append(out, "{}", 2);
	if (r == 0)
		r = gd_reply_dump_tail(tag, id, out);
	if (r < 0) {
		out->len = mark;
		return -ENOMEM;
	}
	return 0;
}

int gd_reply_dump(json_t *reply, bool ff, struct gd_buf *out)
{
	size_t mark = out->len;
	if (ff && gd_buf_append(out, "\xff", 1) < 0)
		return -ENOMEM;
	/* what json_dump_callback(reply, 0) writes, many times faster on large strings */
	if (gd_json_dump(reply, out) < 0 || gd_buf_append(out, "\n", 1) < 0) {
		out->len = mark;
		return -ENOMEM;
	}
	return 0;
}
