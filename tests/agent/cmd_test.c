/* Test-only commands, compiled into guestd-test and never into guestd: a request that takes a
 * while on the loop (a timer) or on a threadpool worker, to prove the ordering rules. */
#include <stdlib.h>
#include <time.h>

#include "agent/cmdtab.h"

struct sleeper {
	uv_timer_t timer;
	struct call *call;
};

static void on_timer_closed(uv_handle_t *h)
{
	free(h);
}

static void on_timer(uv_timer_t *t)
{
	struct sleeper *s = (struct sleeper *)t;
	call_return(s->call, json_object());
	uv_close((uv_handle_t *)t, on_timer_closed);
}

void cmd_guest_test_sleep(struct call *c, json_t *args)
{
	struct sleeper *s = malloc(sizeof *s);
	if (!s) {
		struct gd_err err = GD_ERR_INIT;
		gd_err_set(&err, GD_ERR_GENERIC, 12, "out of memory");
		call_fail(c, &err);
		return;
	}
	s->call = c;
	json_int_t ms = json_integer_value(json_object_get(args, "ms"));
	uv_timer_init(call_loop(c), &s->timer);
	uv_timer_start(&s->timer, on_timer, ms > 0 ? (uint64_t)ms : 0, 0);
}

json_t *cmd_guest_test_block(json_t *args, struct gd_err *err)
{
	(void)err;
	json_int_t ms = json_integer_value(json_object_get(args, "ms"));
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
	return json_object();
}
