/* The host side of the protocol: connect, synchronise, call. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "guestd/client.h"
#include "guestd/jsonfast.h"
#include "guestd/limits.h"
#include "guestd/proto.h"

#define CHUNK (64u * 1024)

void gd_client_init_fd(struct gd_client *c, int fd, int timeout_ms)
{
	memset(c, 0, sizeof *c);
	c->fd = fd;
	c->timeout_ms = timeout_ms;
	/* replies may be as large as the largest request the agent takes, and then some */
	gd_frame_init(&c->frame, (size_t)GD_MAX_REQUEST_SIZE * 2, 1024);
	c->next_tag = 1;
}

int gd_unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path)
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

int gd_client_connect(struct gd_client *c, const char *path, int timeout_ms, struct gd_err *err)
{
	int fd = gd_unix_connect(path);
	if (fd < 0)
		return gd_err_errno(err, -fd, "connect %s", path);
	gd_client_init_fd(c, fd, timeout_ms);
	return 0;
}

void gd_client_close(struct gd_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	gd_frame_free(&c->frame);
	free(c->rbuf);
	c->rbuf = NULL;
}

static int wait_fd(struct gd_client *c, short events, struct gd_err *err)
{
	struct pollfd p = { .fd = c->fd, .events = events };
	for (;;) {
		int r = poll(&p, 1, c->timeout_ms > 0 ? c->timeout_ms : -1);
		if (r > 0)
			return 0;
		if (r == 0)
			return gd_err_set(err, GD_ERR_GENERIC, ETIMEDOUT,
					  "no answer from the agent within %d ms", c->timeout_ms);
		if (errno != EINTR)
			return gd_err_errno(err, errno, "poll");
	}
}

int gd_client_send(struct gd_client *c, const void *buf, size_t len, struct gd_err *err)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL);
		if (w < 0 && errno == ENOTSOCK)
			w = write(c->fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				int r = wait_fd(c, POLLOUT, err);
				if (r < 0)
					return r;
				continue;
			}
			return gd_err_errno(err, errno, "write to the agent");
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int gd_client_send_request(struct gd_client *c, const char *name, json_t *args, json_t *tag,
			   json_t *id, struct gd_err *err)
{
	struct gd_buf b = { 0 };
	json_t *req = json_pack("{s:s}", "execute", name);
	if (req && args)
		json_object_set(req, "arguments", args);
	if (req && tag)
		json_object_set(req, "tag", tag);
	if (req && id)
		json_object_set(req, "id", id);
	int r = req ? gd_reply_dump(req, false, &b) : -ENOMEM;
	json_decref(req);
	if (r < 0)
		return gd_err_set(err, GD_ERR_GENERIC, ENOMEM, "out of memory");
	r = gd_client_send(c, b.data, b.len, err);
	gd_buf_free(&b);
	return r;
}

/* Next framer event from the stream (OBJECT or RESET), reading as needed. */
static int next_event(struct gd_client *c, struct gd_frame_event *ev, struct gd_err *err)
{
	for (;;) {
		size_t used = 0;
		int t = gd_frame_feed(&c->frame, c->rbuf + c->roff, c->rlen - c->roff, &used, ev);
		c->roff += used;
		if (t == GD_FRAME_OBJECT || t == GD_FRAME_RESET)
			return t;
		if (t == GD_FRAME_ERROR)
			return gd_err_set(err, GD_ERR_GENERIC, EPROTO, "bad reply from the agent: %s",
					  ev->msg);
		/* need more bytes */
		c->roff = c->rlen = 0;
		if (c->rcap < CHUNK) {
			char *nb = realloc(c->rbuf, CHUNK);
			if (!nb)
				return gd_err_set(err, GD_ERR_GENERIC, ENOMEM, "out of memory");
			c->rbuf = nb;
			c->rcap = CHUNK;
		}
		int r = wait_fd(c, POLLIN, err);
		if (r < 0)
			return r;
		ssize_t n = read(c->fd, c->rbuf, c->rcap);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return gd_err_errno(err, errno, "read from the agent");
		if (n == 0)
			return gd_err_set(err, GD_ERR_GENERIC, ECONNRESET,
					  "the agent closed the connection");
		c->rlen = (size_t)n;
	}
}

int gd_client_recv(struct gd_client *c, json_t **reply, struct gd_err *err)
{
	struct gd_frame_event ev;
	int t;
	while ((t = next_event(c, &ev, err)) == GD_FRAME_RESET)
		;
	if (t < 0)
		return t;
	json_error_t je;
	/* large replies (file reads) take the fast parser; jansson does the rest */
	json_t *v = ev.len >= 64 * 1024 ? gd_json_load_fast(ev.data, ev.len, 0) : NULL;
	if (!v)
		v = json_loadb(ev.data, ev.len, 0, &je);
	if (!v)
		return gd_err_set(err, GD_ERR_GENERIC, EPROTO, "bad reply from the agent: %s", je.text);
	*reply = v;
	return 0;
}

int gd_client_reply_error(json_t *error, struct gd_err *err)
{
	const char *cls = json_string_value(json_object_get(error, "class"));
	const char *desc = json_string_value(json_object_get(error, "desc"));
	json_t *code = json_object_get(error, "code");
	int n = json_is_integer(code) ? (int)json_integer_value(code) : -1;
	const char *name = json_string_value(json_object_get(error, "errno"));
	if (name && gd_errno_from_name(name) > 0)
		n = gd_errno_from_name(name); /* the guest's numbers may differ from ours */
	return gd_err_set(err, cls && strcmp(cls, "CommandNotFound") == 0 ? GD_ERR_NOT_FOUND
				: GD_ERR_GENERIC, n > 0 ? n : -1, "%s", desc ? desc : "unknown error");
}

/* Consumes reply (steals it): its "return" into *ret (new reference), or its error into err. */
static int reply_take(json_t *reply, json_t **ret, struct gd_err *err)
{
	json_t *e = json_object_get(reply, "error");
	int r = 0;
	if (e)
		r = gd_client_reply_error(e, err);
	else
		*ret = json_incref(json_object_get(reply, "return"));
	json_decref(reply);
	return r;
}

int gd_client_sync(struct gd_client *c, struct gd_err *err)
{
	unsigned int id;
	if (getrandom(&id, sizeof id, 0) != sizeof id)
		id = (unsigned)time(NULL) ^ (unsigned)getpid();
	id &= 0x7fffffff;
	if (gd_client_send(c, "\xff", 1, err) < 0)
		return -EIO;
	json_t *args = json_pack("{s:I}", "id", (json_int_t)id);
	int r = gd_client_send_request(c, "guest-sync-delimited", args, NULL, NULL, err);
	json_decref(args);
	if (r < 0)
		return r;
	/* everything before the agent's 0xFF is stale output of an earlier session */
	gd_frame_reset(&c->frame);
	for (;;) {
		struct gd_frame_event ev;
		int t = next_event(c, &ev, err);
		if (t < 0)
			return t;
		if (t != GD_FRAME_RESET)
			continue;
		json_t *reply;
		if ((r = gd_client_recv(c, &reply, err)) < 0)
			return r;
		json_t *ret;
		if ((r = reply_take(reply, &ret, err)) < 0)
			return r;
		bool ok = json_is_integer(ret) && json_integer_value(ret) == (json_int_t)id;
		json_decref(ret);
		if (ok)
			return 0;
		/* a reply to an older sync: keep looking */
	}
}

int gd_client_call(struct gd_client *c, const char *name, json_t *args, json_t **ret,
		   struct gd_err *err)
{
	json_int_t idv = (json_int_t)c->next_tag++;
	json_t *id = json_integer(idv);
	int r = gd_client_send_request(c, name, args, NULL, id, err);
	json_decref(id);
	if (r < 0)
		return r;
	for (;;) {
		json_t *reply;
		if ((r = gd_client_recv(c, &reply, err)) < 0)
			return r;
		json_t *t = json_object_get(reply, "id");
		if (!json_is_integer(t) || json_integer_value(t) != idv) {
			json_decref(reply); /* not ours (a late reply of an abandoned call) */
			continue;
		}
		return reply_take(reply, ret, err);
	}
}
