/* The dispatcher: lookup, gates, schema validation, then the handler where the table says. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/cmdtab.h"
#include "agent/conn.h"
#include "agent/dispatch.h"
#include "agent/stream.h"
#include "guestd/log.h"

static int cmp_name(const void *key, const void *elem)
{
	return strcmp(key, ((const struct gd_cmd *)elem)->name);
}

const struct gd_cmd *cmdtab_find(const char *name)
{
	return bsearch(name, cmdtab, cmdtab_len, sizeof cmdtab[0], cmp_name);
}

static const char *type_name(unsigned types)
{
	switch (types) {
	case GD_T_INT: return "integer";
	case GD_T_NUMBER: return "number";
	case GD_T_STR: return "string";
	case GD_T_BOOL: return "boolean";
	case GD_T_OBJECT: return "object";
	case GD_T_ARRAY: return "array";
	case GD_T_NULL: return "null";
	case GD_T_INT | GD_T_STR: return "integer or string";
	default: return "another type";
	}
}

static bool type_ok(unsigned types, json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_INTEGER: return types & (GD_T_INT | GD_T_NUMBER);
	case JSON_REAL: return types & GD_T_NUMBER;
	case JSON_STRING: return types & GD_T_STR;
	case JSON_TRUE:
	case JSON_FALSE: return types & GD_T_BOOL;
	case JSON_OBJECT: return types & GD_T_OBJECT;
	case JSON_ARRAY: return types & GD_T_ARRAY;
	case JSON_NULL: return types & GD_T_NULL;
	}
	return false;
}

int dispatch_check_args(const struct gd_cmd *cmd, json_t *args, struct gd_err *err)
{
	if (args && !json_is_object(args))
		return gd_err_set(err, GD_ERR_GENERIC, EINVAL,
				  "QMP input member 'arguments' must be an object");
	for (size_t i = 0; i < cmd->nargs; i++) {
		const struct gd_argspec *a = &cmd->args[i];
		json_t *v = args ? json_object_get(args, a->name) : NULL;
		if (!v) {
			if (a->required)
				return gd_err_set(err, GD_ERR_GENERIC, EINVAL,
						  "Parameter '%s' is missing", a->name);
			continue;
		}
		if (!type_ok(a->types, v))
			return gd_err_set(err, GD_ERR_GENERIC, EINVAL,
					  "Invalid parameter type for '%s', expected: %s", a->name,
					  type_name(a->types));
		if (a->choices && json_is_string(v)) {
			const char *s = json_string_value(v);
			size_t k = 0;
			while (a->choices[k] && strcmp(a->choices[k], s) != 0)
				k++;
			if (!a->choices[k])
				return gd_err_set(err, GD_ERR_GENERIC, EINVAL,
						  "Parameter '%s' does not accept value '%s'", a->name, s);
		}
	}
	if (args) {
		const char *key;
		json_t *v;
		json_object_foreach(args, key, v) {
			size_t i = 0;
			while (i < cmd->nargs && strcmp(cmd->args[i].name, key) != 0)
				i++;
			if (i == cmd->nargs)
				return gd_err_set(err, GD_ERR_GENERIC, EINVAL,
						  "Parameter '%s' is unexpected", key);
		}
	}
	return 0;
}

static void pool_work(uv_work_t *w)
{
	struct call *c = w->data;
	json_t *r = c->cmd->pool_fn(c->req.args, &c->err);
	if (!r || (c->cmd->flags & GD_CMD_NO_SUCCESS_REPLY)) {
		c->result = r;
		return;
	}
	/* serialise here, off the loop: a large value is freed here too, so it never sits beside
	 * its serialised copy on the loop */
	if (gd_reply_dump_return(r, c->req.tag, c->req.id, c->delimited, &c->wire) < 0) {
		gd_buf_free(&c->wire);
		gd_err_set(&c->err, GD_ERR_GENERIC, ENOMEM, "out of memory for the reply of %s",
			   c->cmd->name);
	}
	json_decref(r);
}

static void pool_done(uv_work_t *w, int status)
{
	struct call *c = w->data;
	if (status < 0) {
		gd_err_set(&c->err, GD_ERR_GENERIC, ECANCELED, "%s was cancelled", c->cmd->name);
		json_decref(c->result);
		c->result = NULL;
	}
	json_t *r = c->result;
	c->result = NULL;
	if (c->wire.data)
		call_return_wire(c);
	else if (r || (!c->err.desc && (c->cmd->flags & GD_CMD_NO_SUCCESS_REPLY)))
		call_return(c, r);
	else
		call_fail(c, &c->err);
}

void dispatch_call(struct call *c)
{
	struct gd_err err = GD_ERR_INIT;
	c->started = true;
	if (c->err.desc) {
		call_fail(c, &c->err);
		return;
	}
	const char *name = c->req.execute;
	const struct gd_cmd *cmd = cmdtab_find(name);
	if (!cmd) {
		gd_err_set(&err, GD_ERR_NOT_FOUND, -1, "The command %s has not been found", name);
		call_fail(c, &err);
		return;
	}
	const char *why = agent_cmd_refusal(name, cmd->flags & GD_CMD_FREEZE_SAFE);
	if (why) {
		if (strcmp(why, "frozen") == 0)
			gd_err_set(&err, GD_ERR_NOT_FOUND, -1,
				   "Command %s has been disabled: the agent is in frozen state", name);
		else
			gd_err_set(&err, GD_ERR_NOT_FOUND, -1, "Command %s has been disabled", name);
		call_fail(c, &err);
		return;
	}
	if (dispatch_check_args(cmd, c->req.args, &err) < 0) {
		call_fail(c, &err);
		return;
	}
	if (!c->req.args) {
		/* handlers always see an object; an absent one is a shared empty one (read only) */
		static json_t *none;
		if (!none)
			none = json_object();
		c->req.args = none;
	}
	c->cmd = cmd;
	gd_debug("%s: run %s", c->conn->name, name);
	if (cmd->runs == GD_RUN_STREAM) {
		stream_start(c);
		return;
	}
	if (cmd->runs == GD_RUN_POOL) {
		c->work.data = c;
		int r = uv_queue_work(call_loop(c), &c->work, pool_work, pool_done);
		if (r < 0) {
			gd_err_set(&err, GD_ERR_GENERIC, -r, "cannot queue %s: %s", name, uv_strerror(r));
			call_fail(c, &err);
		}
		return;
	}
	cmd->loop_fn(c, c->req.args);
}
