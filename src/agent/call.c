/* Completing calls: the handler-facing half of a call's life. */
#include <stdlib.h>

#include "agent/call.h"
#include "agent/cmdtab.h"
#include "agent/conn.h"
#include "guestd/log.h"

void call_return(struct call *c, json_t *ret)
{
	if (c->cmd && (c->cmd->flags & GD_CMD_NO_SUCCESS_REPLY)) {
		json_decref(ret);
		conn_call_done(c->conn, c, NULL);
		return;
	}
	conn_call_return(c->conn, c, ret);
}

void call_return_wire(struct call *c)
{
	conn_call_done_wire(c->conn, c, &c->wire);
}

void call_fail(struct call *c, struct gd_err *err)
{
	gd_debug("%s: %s failed: %s", c->conn->name, c->req.execute ? c->req.execute : "request",
		 err->desc ? err->desc : "?");
	json_t *reply = gd_reply_error(err, c->req.tag, c->req.id);
	gd_err_clear(err);
	conn_call_done(c->conn, c, reply);
}

void call_set_delimited(struct call *c)
{
	c->delimited = true;
}

uv_loop_t *call_loop(const struct call *c)
{
	return c->conn->stream ? c->conn->stream->loop : uv_default_loop();
}
