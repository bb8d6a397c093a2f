/* Test-only commands, compiled into guestd-test and never into guestd: a request that takes a
 * while on the loop (a timer) or on a threadpool worker, to prove the ordering rules. */
#include <stdlib.h>
#include <time.h>

#include "agent/cmdtab.h"

struct sleeper {
	uv_timer_t timer;
	uv_work_t work;
	struct call *call;
	json_int_t ms;
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

static void sleep_ms(json_int_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void on_work(uv_work_t *w)
{
	sleep_ms(((struct sleeper *)w->data)->ms);
}

static void on_work_done(uv_work_t *w, int status)
{
	struct sleeper *s = w->data;
	(void)status;
	call_return(s->call, json_object());
	free(s);
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
	const char *where = json_string_value(json_object_get(args, "where"));
	if (where && where[0] == 'p') {
		s->ms = ms > 0 ? ms : 0;
		s->work.data = s;
		uv_queue_work(call_loop(c), &s->work, on_work, on_work_done);
		return;
	}
	uv_timer_init(call_loop(c), &s->timer);
	uv_timer_start(&s->timer, on_timer, ms > 0 ? (uint64_t)ms : 0, 0);
}

json_t *cmd_guest_test_block(json_t *args, struct gd_err *err)
{
	(void)err;
	sleep_ms(json_integer_value(json_object_get(args, "ms")));
	return json_object();
}
