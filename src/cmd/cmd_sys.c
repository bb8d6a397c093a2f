/* System commands: guest-shutdown. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cmdtab.h"
#include "guestd/log.h"
#include "platform/platform.h"

struct shutdown_run {
	uv_process_t proc;
	struct call *call;
};

static void on_closed(uv_handle_t *h)
{
	free(h);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
	struct shutdown_run *r = (struct shutdown_run *)p;
	struct gd_err err = GD_ERR_INIT;
	if (status == 0 && sig == 0) {
		call_return(r->call, NULL);  /* success-response: false, nothing is sent */
	} else {
		if (sig)
			gd_err_set(&err, GD_ERR_GENERIC, -1, "shutdown was killed by signal %d", sig);
		else
			gd_err_set(&err, GD_ERR_GENERIC, -1, "shutdown exited with status %lld",
				   (long long)status);
		call_fail(r->call, &err);
	}
	uv_close((uv_handle_t *)p, on_closed);
}

void cmd_guest_shutdown(struct call *c, json_t *args)
{
	const char *mode = json_string_value(json_object_get(args, "mode"));
	char *const *argv = pf_shutdown_argv(mode ? mode : "powerdown");
	struct gd_err err = GD_ERR_INIT;
	struct shutdown_run *r = calloc(1, sizeof *r);
	if (!r) {
		gd_err_set(&err, GD_ERR_GENERIC, ENOMEM, "out of memory");
		call_fail(c, &err);
		return;
	}
	r->call = c;
	uv_stdio_container_t stdio[3] = {
		{ .flags = UV_IGNORE }, { .flags = UV_IGNORE }, { .flags = UV_INHERIT_FD, .data.fd = 2 },
	};
	uv_process_options_t opt = {
		.exit_cb = on_exit_cb,
		.file = argv[0],
		.args = (char **)argv,
		.stdio_count = 3,
		.stdio = stdio,
	};
	gd_info("guest-shutdown: running %s %s", argv[0], argv[1]);
	int rc = uv_spawn(call_loop(c), &r->proc, &opt);
	if (rc < 0) {
		gd_err_set(&err, GD_ERR_GENERIC, -rc, "cannot run %s: %s", argv[0], uv_strerror(rc));
		call_fail(c, &err);
		uv_close((uv_handle_t *)&r->proc, on_closed);
	}
}
