/* Transports turn a listener configuration into connections (DESIGN.md: the model). */
#ifndef GUESTD_TRANSPORT_H
#define GUESTD_TRANSPORT_H

#include <uv.h>

#include "guestd/error.h"

struct transport;

struct transport_ops {
	const char *method;
	/* Starts listening on t->path; returns 0 or a negative errno with err set. */
	int (*start)(struct transport *t, struct gd_err *err);
	/* Stops: closes handles, removes what start created (a socket file). Connections are
	 * closed by conn_close_all. */
	void (*stop)(struct transport *t);
};

struct transport {
	const struct transport_ops *ops;
	uv_loop_t *loop;
	char *path;
	void *priv;              /* the transport's own state */
	struct transport *next;
};

extern const struct transport_ops transport_unix, transport_vsock, transport_virtio,
	transport_serial;

/* Creates and starts a transport for method on path. */
int transport_open(uv_loop_t *loop, const char *method, const char *path, struct transport **out,
		   struct gd_err *err);
/* Stops and frees t. */
void transport_close(struct transport *t);

#endif
