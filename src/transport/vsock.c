/* vsock-listen: AF_VSOCK CID:PORT, several clients at once. libuv has no vsock type, so the
 * listening socket is polled and each accepted socket is driven as a uv_pipe. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/conn.h"
#include "guestd/log.h"
#include "platform/platform.h"
#include "transport/transport.h"

struct vsock_priv {
	uv_poll_t poll;
	int fd;
	unsigned serial;
};

static void on_readable(uv_poll_t *p, int status, int events)
{
	struct transport *t = p->data;
	struct vsock_priv *v = t->priv;
	(void)events;
	if (status < 0)
		return;
	for (;;) {
		int fd = accept4(v->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				gd_warn("vsock %s: accept: %s", t->path, uv_strerror(-errno));
			return;
		}
		uv_pipe_t *client = malloc(sizeof *client);
		if (!client) {
			close(fd);
			continue;
		}
		uv_pipe_init(t->loop, client, 0);
		if (uv_pipe_open(client, fd) < 0) {
			close(fd);
			uv_close((uv_handle_t *)client, (uv_close_cb)free);
			continue;
		}
		char name[64];
		snprintf(name, sizeof name, "vsock #%u", ++v->serial);
		conn_new((uv_stream_t *)client, name, CONN_LINGER, NULL, NULL);
	}
}

static int vsock_start(struct transport *t, struct gd_err *err)
{
	int fd = pf_vsock_listen(t->path, err);
	if (fd < 0)
		return fd;
	struct vsock_priv *v = calloc(1, sizeof *v);
	if (!v) {
		close(fd);
		return gd_err_set(err, GD_ERR_GENERIC, ENOMEM, "out of memory");
	}
	v->fd = fd;
	uv_poll_init(t->loop, &v->poll, fd);
	v->poll.data = t;
	t->priv = v;
	uv_poll_start(&v->poll, UV_READABLE, on_readable);
	gd_info("listening on vsock %s", t->path);
	return 0;
}

static void on_poll_closed(uv_handle_t *h)
{
	struct vsock_priv *v = (struct vsock_priv *)h; /* poll is the first member */
	close(v->fd);
	free(v);
}

static void vsock_stop(struct transport *t)
{
	struct vsock_priv *v = t->priv;
	uv_close((uv_handle_t *)&v->poll, on_poll_closed);
}

const struct transport_ops transport_vsock = {
	.method = "vsock-listen",
	.start = vsock_start,
	.stop = vsock_stop,
};
