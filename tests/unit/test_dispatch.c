/* Unit tests for the dispatcher's gates: dispatch_check_args (src/agent/dispatch.c) against
 * hand-made command tables, and agent_cmd_refusal (src/agent/state.c): allow/block lists and
 * the frozen gate (PROTOCOL.md §2, DESIGN.md rule 6). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/agent.h"
#include "agent/cmdtab.h"
#include "agent/dispatch.h"

/* ---- dispatch_check_args ---- */

static const char *const modes[] = { "r", "w", "a+", NULL };

static const struct gd_argspec file_args[] = {
	{ "path", GD_T_STR, true, NULL },
	{ "mode", GD_T_STR, false, modes },
	{ "count", GD_T_INT, false, NULL },
	{ "ratio", GD_T_NUMBER, false, NULL },
	{ "flag", GD_T_BOOL, false, NULL },
	{ "list", GD_T_ARRAY, false, NULL },
	{ "obj", GD_T_OBJECT, false, NULL },
	{ "id", GD_T_INT | GD_T_STR, false, NULL },
	{ "anything", GD_T_ANY, false, NULL },
};

static const struct gd_cmd cmd_file = {
	.name = "unit-file", .summary = "test", .runs = GD_RUN_LOOP,
	.args = file_args, .nargs = sizeof file_args / sizeof file_args[0],
};

static const struct gd_argspec opt_args[] = {
	{ "x", GD_T_INT, false, NULL },
};

static const struct gd_cmd cmd_opt = {
	.name = "unit-opt", .runs = GD_RUN_LOOP, .args = opt_args, .nargs = 1,
};

static const struct gd_cmd cmd_noargs = { .name = "unit-none", .runs = GD_RUN_LOOP };

static int check(const struct gd_cmd *cmd, const char *args_json, struct gd_err *err)
{
	json_t *args = NULL;
	if (args_json) {
		json_error_t je;
		args = json_loads(args_json, JSON_DECODE_ANY, &je);
		if (!args)
			fail_msg("bad test JSON %s: %s", args_json, je.text);
	}
	int r = dispatch_check_args(cmd, args, err);
	json_decref(args);
	return r;
}

static void expect_ok(const struct gd_cmd *cmd, const char *args_json)
{
	struct gd_err err = GD_ERR_INIT;
	int r = check(cmd, args_json, &err);
	if (r != 0)
		fail_msg("%s %s: %d %s", cmd->name, args_json ? args_json : "(null)", r,
			 err.desc ? err.desc : "");
	assert_null(err.desc);
}

static void expect_err(const struct gd_cmd *cmd, const char *args_json, const char *desc)
{
	struct gd_err err = GD_ERR_INIT;
	assert_int_equal(check(cmd, args_json, &err), -EINVAL);
	assert_int_equal(err.code, EINVAL);
	assert_int_equal(err.cls, GD_ERR_GENERIC);
	assert_non_null(err.desc);
	assert_string_equal(err.desc, desc);
	gd_err_clear(&err);
}

static void test_args_valid(void **state)
{
	expect_ok(&cmd_file, "{\"path\": \"/tmp/x\"}");
	expect_ok(&cmd_file, "{\"path\": \"/tmp/x\", \"mode\": \"a+\", \"count\": 5, \"ratio\": 0.5, "
			     "\"flag\": false, \"list\": [1], \"obj\": {}, \"id\": \"x\", "
			     "\"anything\": null}");
	expect_ok(&cmd_file, "{\"path\": \"\", \"id\": 3, \"anything\": [{}]}");
}

static void test_args_missing_required(void **state)
{
	expect_err(&cmd_file, "{}", "Parameter 'path' is missing");
	expect_err(&cmd_file, NULL, "Parameter 'path' is missing");
	expect_err(&cmd_file, "{\"mode\": \"r\"}", "Parameter 'path' is missing");
	/* a prefix of the name is another member */
	expect_err(&cmd_file, "{\"pat\": \"/x\"}", "Parameter 'path' is missing");
}

static void test_args_wrong_type(void **state)
{
	expect_err(&cmd_file, "{\"path\": 1}", "Invalid parameter type for 'path', expected: string");
	expect_err(&cmd_file, "{\"path\": \"/x\", \"count\": \"5\"}",
		   "Invalid parameter type for 'count', expected: integer");
	expect_err(&cmd_file, "{\"path\": \"/x\", \"count\": 5.0}",
		   "Invalid parameter type for 'count', expected: integer");
	expect_err(&cmd_file, "{\"path\": \"/x\", \"count\": null}",
		   "Invalid parameter type for 'count', expected: integer");
	expect_err(&cmd_file, "{\"path\": \"/x\", \"count\": true}",
		   "Invalid parameter type for 'count', expected: integer");
	expect_err(&cmd_file, "{\"path\": \"/x\", \"ratio\": \"1\"}",
		   "Invalid parameter type for 'ratio', expected: number");
	expect_err(&cmd_file, "{\"path\": \"/x\", \"flag\": 1}",
		   "Invalid parameter type for 'flag', expected: boolean");
	expect_err(&cmd_file, "{\"path\": \"/x\", \"list\": {}}",
		   "Invalid parameter type for 'list', expected: array");
	expect_err(&cmd_file, "{\"path\": \"/x\", \"obj\": []}",
		   "Invalid parameter type for 'obj', expected: object");
	expect_err(&cmd_file, "{\"path\": \"/x\", \"id\": 1.5}",
		   "Invalid parameter type for 'id', expected: integer or string");
}

static void test_args_integer_is_a_number(void **state)
{
	expect_ok(&cmd_file, "{\"path\": \"/x\", \"ratio\": 3}");
	expect_ok(&cmd_file, "{\"path\": \"/x\", \"ratio\": -3.25e2}");
}

static void test_args_unknown_member(void **state)
{
	expect_err(&cmd_file, "{\"path\": \"/x\", \"zz\": 1}", "Parameter 'zz' is unexpected");
	expect_err(&cmd_noargs, "{\"zz\": 1}", "Parameter 'zz' is unexpected");
	expect_err(&cmd_opt, "{\"X\": 1}", "Parameter 'X' is unexpected");
	expect_err(&cmd_opt, "{\"xx\": 1}", "Parameter 'xx' is unexpected");
}

static void test_args_enum(void **state)
{
	expect_ok(&cmd_file, "{\"path\": \"/x\", \"mode\": \"r\"}");
	expect_ok(&cmd_file, "{\"path\": \"/x\", \"mode\": \"w\"}");
	expect_err(&cmd_file, "{\"path\": \"/x\", \"mode\": \"rw\"}",
		   "Parameter 'mode' does not accept value 'rw'");
	expect_err(&cmd_file, "{\"path\": \"/x\", \"mode\": \"a\"}",
		   "Parameter 'mode' does not accept value 'a'");
	expect_err(&cmd_file, "{\"path\": \"/x\", \"mode\": \"\"}",
		   "Parameter 'mode' does not accept value ''");
	expect_err(&cmd_file, "{\"path\": \"/x\", \"mode\": 1}",
		   "Invalid parameter type for 'mode', expected: string");
}

static void test_args_null_or_empty(void **state)
{
	expect_ok(&cmd_noargs, NULL);
	expect_ok(&cmd_noargs, "{}");
	expect_ok(&cmd_opt, NULL);
	expect_ok(&cmd_opt, "{}");
	expect_ok(&cmd_opt, "{\"x\": -1}");
}

static void test_args_not_object(void **state)
{
	/* a string 'arguments' is for plugins only */
	expect_err(&cmd_noargs, "\"raw\"", "QMP input member 'arguments' must be an object");
	expect_err(&cmd_opt, "[1]", "QMP input member 'arguments' must be an object");
}

static void test_args_real_table(void **state)
{
	/* the generated table is sorted (bsearch) and every entry's argspecs are well formed */
	assert_true(cmdtab_len > 0);
	for (size_t i = 0; i < cmdtab_len; i++) {
		if (i > 0)
			assert_true(strcmp(cmdtab[i - 1].name, cmdtab[i].name) < 0);
		assert_ptr_equal(cmdtab_find(cmdtab[i].name), &cmdtab[i]);
		for (size_t j = 0; j < cmdtab[i].nargs; j++) {
			assert_non_null(cmdtab[i].args[j].name);
			assert_true(cmdtab[i].args[j].types != 0);
		}
		/* exactly the handler its kind runs */
		const struct gd_cmd *c = &cmdtab[i];
		int handlers = !!c->loop_fn + !!c->pool_fn + !!c->stream_fn;
		assert_int_equal(handlers, 1);
		assert_true(c->runs == GD_RUN_POOL     ? c->pool_fn != NULL
			    : c->runs == GD_RUN_STREAM ? c->stream_fn != NULL
						       : c->loop_fn != NULL);
	}
	assert_null(cmdtab_find("guest-no-such-command"));
	assert_null(cmdtab_find(""));
	const struct gd_cmd *ping = cmdtab_find("guest-ping");
	assert_non_null(ping);
	expect_ok(ping, NULL);
	expect_err(ping, "{\"zz\": 1}", "Parameter 'zz' is unexpected");
	const struct gd_cmd *sync = cmdtab_find("guest-sync");
	assert_non_null(sync);
	expect_err(sync, "{}", "Parameter 'id' is missing");
	expect_ok(sync, "{\"id\": 12345}");
}

/* ---- agent_cmd_refusal ---- */

static int reset_agent(void **state)
{
	agent.cfg.allow_rpcs = NULL;
	agent.cfg.block_rpcs = NULL;
	agent.frozen = false;
	return 0;
}

static void test_refusal_none(void **state)
{
	assert_null(agent_cmd_refusal("guest-ping", false));
	assert_null(agent_cmd_refusal("guest-exec", true));
	agent.cfg.allow_rpcs = (char *)"";
	agent.cfg.block_rpcs = (char *)"";
	assert_null(agent_cmd_refusal("guest-ping", false)); /* an empty allow list allows all */
}

static void test_refusal_block_list(void **state)
{
	agent.cfg.block_rpcs = (char *)"guest-exec,guest-file-open";
	assert_string_equal(agent_cmd_refusal("guest-exec", false), "disabled");
	assert_string_equal(agent_cmd_refusal("guest-file-open", true), "disabled");
	assert_null(agent_cmd_refusal("guest-ping", false));
	/* whole names only: neither a prefix nor an extension of a listed name */
	assert_null(agent_cmd_refusal("guest-exec-status", false));
	assert_null(agent_cmd_refusal("guest-exe", false));
	assert_null(agent_cmd_refusal("guest-file-ope", false));
	assert_null(agent_cmd_refusal("guest-file-open2", false));
	assert_null(agent_cmd_refusal("", false));
}

static void test_refusal_allow_list(void **state)
{
	agent.cfg.allow_rpcs = (char *)"guest-ping,guest-info,guest-sync";
	assert_null(agent_cmd_refusal("guest-ping", false));
	assert_null(agent_cmd_refusal("guest-info", false));
	assert_null(agent_cmd_refusal("guest-sync", false));
	assert_string_equal(agent_cmd_refusal("guest-exec", false), "disabled");
	assert_string_equal(agent_cmd_refusal("guest-pin", false), "disabled");
	assert_string_equal(agent_cmd_refusal("guest-ping2", false), "disabled");
	assert_string_equal(agent_cmd_refusal("guest-sync-delimited", false), "disabled");
	assert_string_equal(agent_cmd_refusal("guest", false), "disabled");
}

static void test_refusal_spaces(void **state)
{
	agent.cfg.allow_rpcs = (char *)"  guest-ping ,guest-info,  guest-sync  ";
	assert_null(agent_cmd_refusal("guest-ping", false));
	assert_null(agent_cmd_refusal("guest-info", false));
	assert_null(agent_cmd_refusal("guest-sync", false));
	assert_string_equal(agent_cmd_refusal("guest-pin", false), "disabled");
	assert_string_equal(agent_cmd_refusal(" guest-ping", false), "disabled");
	agent.cfg.allow_rpcs = NULL;

	agent.cfg.block_rpcs = (char *)", guest-exec , ,guest-shutdown,";
	assert_string_equal(agent_cmd_refusal("guest-exec", false), "disabled");
	assert_string_equal(agent_cmd_refusal("guest-shutdown", false), "disabled");
	assert_null(agent_cmd_refusal("guest-ping", false));
	assert_null(agent_cmd_refusal("guest-exe", false));
}

static void test_refusal_single_entry(void **state)
{
	agent.cfg.block_rpcs = (char *)"guest-ping";
	assert_string_equal(agent_cmd_refusal("guest-ping", false), "disabled");
	assert_null(agent_cmd_refusal("guest-pin", false));
	assert_null(agent_cmd_refusal("guest-pingg", false));
}

static void test_refusal_block_beats_allow(void **state)
{
	agent.cfg.allow_rpcs = (char *)"guest-ping,guest-exec";
	agent.cfg.block_rpcs = (char *)"guest-exec";
	assert_null(agent_cmd_refusal("guest-ping", false));
	assert_string_equal(agent_cmd_refusal("guest-exec", false), "disabled");
}

static void test_refusal_frozen(void **state)
{
	agent.frozen = true;
	assert_string_equal(agent_cmd_refusal("guest-file-write", false), "frozen");
	assert_null(agent_cmd_refusal("guest-fsfreeze-thaw", true));
	/* a disabled command says so, frozen or not */
	agent.cfg.block_rpcs = (char *)"guest-fsfreeze-thaw";
	assert_string_equal(agent_cmd_refusal("guest-fsfreeze-thaw", true), "disabled");
	agent.frozen = false;
	assert_null(agent_cmd_refusal("guest-file-write", false));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_args_valid),
		cmocka_unit_test(test_args_missing_required),
		cmocka_unit_test(test_args_wrong_type),
		cmocka_unit_test(test_args_integer_is_a_number),
		cmocka_unit_test(test_args_unknown_member),
		cmocka_unit_test(test_args_enum),
		cmocka_unit_test(test_args_null_or_empty),
		cmocka_unit_test(test_args_not_object),
		cmocka_unit_test(test_args_real_table),
		cmocka_unit_test_setup_teardown(test_refusal_none, reset_agent, reset_agent),
		cmocka_unit_test_setup_teardown(test_refusal_block_list, reset_agent, reset_agent),
		cmocka_unit_test_setup_teardown(test_refusal_allow_list, reset_agent, reset_agent),
		cmocka_unit_test_setup_teardown(test_refusal_spaces, reset_agent, reset_agent),
		cmocka_unit_test_setup_teardown(test_refusal_single_entry, reset_agent, reset_agent),
		cmocka_unit_test_setup_teardown(test_refusal_block_beats_allow, reset_agent,
						reset_agent),
		cmocka_unit_test_setup_teardown(test_refusal_frozen, reset_agent, reset_agent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
