/* The transport registry. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "transport/transport.h"

static const struct transport_ops *const all[] = {
	&transport_virtio, &transport_serial, &transport_unix, &transport_vsock,
};

int transport_open(uv_loop_t *loop, const char *method, const char *path, struct transport **out,
		   struct gd_err *err)
{
	const struct transport_ops *ops = NULL;
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		if (strcmp(all[i]->method, method) == 0)
			ops = all[i];
	if (!ops)
		return gd_err_set(err, GD_ERR_GENERIC, EINVAL, "unknown method '%s'", method);
	struct transport *t = calloc(1, sizeof *t);
	if (!t || !(t->path = strdup(path))) {
		free(t);
		return gd_err_set(err, GD_ERR_GENERIC, ENOMEM, "out of memory");
	}
	t->ops = ops;
	t->loop = loop;
	int r = ops->start(t, err);
	if (r < 0) {
		free(t->path);
		free(t);
		return r;
	}
	*out = t;
	return 0;
}

void transport_close(struct transport *t)
{
	t->ops->stop(t);
	free(t->path);
	free(t);
}
