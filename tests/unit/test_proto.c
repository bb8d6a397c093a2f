/* Unit tests for requests and replies (include/guestd/proto.h, PROTOCOL.md §2, §3). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guestd/proto.h"

/* Parses s (without its NUL: the framer hands out bytes, not strings). */
static int parse(const char *s, struct gd_request *req, struct gd_err *err)
{
	size_t n = strlen(s);
	char *copy = malloc(n ? n : 1);
	assert_non_null(copy);
	memcpy(copy, s, n);
	int r = gd_request_parse(copy, n, req, err);
	free(copy); /* the request must not point into the input */
	return r;
}

static void expect_fail(const char *in, const char *desc)
{
	struct gd_request req;
	struct gd_err err = GD_ERR_INIT;
	assert_int_equal(parse(in, &req, &err), -EINVAL);
	assert_int_equal(err.code, EINVAL);
	assert_int_equal(err.cls, GD_ERR_GENERIC);
	assert_non_null(err.desc);
	assert_string_equal(err.desc, desc);
	gd_request_free(&req);
	gd_err_clear(&err);
}

/* ---- gd_request_parse ---- */

static void test_parse_valid(void **state)
{
	struct gd_request req;
	struct gd_err err = GD_ERR_INIT;
	assert_int_equal(parse("{\"execute\": \"guest-file-read\", \"arguments\": {\"handle\": 1000, "
			       "\"count\": 65536}, \"tag\": \"r17\", \"id\": 5}",
			       &req, &err),
			 0);
	assert_null(err.desc);
	assert_string_equal(req.execute, "guest-file-read");
	assert_true(json_is_object(req.args));
	assert_int_equal(json_integer_value(json_object_get(req.args, "handle")), 1000);
	assert_int_equal(json_integer_value(json_object_get(req.args, "count")), 65536);
	assert_string_equal(json_string_value(req.tag), "r17");
	assert_int_equal(json_integer_value(req.id), 5);
	gd_request_free(&req);
	assert_null(req.root);
	assert_null(req.execute);
}

static void test_parse_minimal(void **state)
{
	struct gd_request req;
	struct gd_err err = GD_ERR_INIT;
	assert_int_equal(parse("{\"execute\":\"guest-ping\"}", &req, &err), 0);
	assert_string_equal(req.execute, "guest-ping");
	assert_null(req.args);
	assert_null(req.tag);
	assert_null(req.id);
	gd_request_free(&req);
}

static void test_parse_uses_len(void **state)
{
	/* the framer's objects are not NUL-terminated: only len bytes count */
	const char in[] = "{\"execute\":\"guest-ping\"}{\"execute\":\"other\"}";
	struct gd_request req;
	struct gd_err err = GD_ERR_INIT;
	assert_int_equal(gd_request_parse(in, 24, &req, &err), 0);
	assert_string_equal(req.execute, "guest-ping");
	gd_request_free(&req);
}

static void test_parse_missing_execute(void **state)
{
	expect_fail("{}", "QMP input lacks member 'execute'");
	expect_fail("{\"arguments\": {}}", "QMP input lacks member 'execute'");
}

static void test_parse_execute_not_string(void **state)
{
	expect_fail("{\"execute\": 1}", "QMP input member 'execute' must be a string");
	expect_fail("{\"execute\": null}", "QMP input member 'execute' must be a string");
	expect_fail("{\"execute\": [\"guest-ping\"]}", "QMP input member 'execute' must be a string");
}

static void test_parse_arguments_type(void **state)
{
	const char *bad[] = { "[]", "1", "null", "true", "1.5" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char in[128];
		snprintf(in, sizeof in, "{\"execute\": \"guest-ping\", \"arguments\": %s}", bad[i]);
		expect_fail(in, "QMP input member 'arguments' must be an object");
	}
}

static void test_parse_arguments_string(void **state)
{
	/* plugins take a string (§7) */
	struct gd_request req;
	struct gd_err err = GD_ERR_INIT;
	assert_int_equal(parse("{\"execute\":\"my-plugin\",\"arguments\":\"raw text\"}", &req, &err),
			 0);
	assert_true(json_is_string(req.args));
	assert_string_equal(json_string_value(req.args), "raw text");
	gd_request_free(&req);
}

static void test_parse_unknown_member(void **state)
{
	expect_fail("{\"execute\": \"guest-ping\", \"zz\": 1}", "QMP input member 'zz' is unexpected");
	expect_fail("{\"zz\": 1, \"execute\": \"guest-ping\"}", "QMP input member 'zz' is unexpected");
	/* names are exact: a prefix or a different case is another member */
	expect_fail("{\"execute\": \"guest-ping\", \"Tag\": 1}", "QMP input member 'Tag' is unexpected");
	expect_fail("{\"execute\": \"guest-ping\", \"argument\": {}}",
		    "QMP input member 'argument' is unexpected");
}

static void test_parse_tag_id_on_failure(void **state)
{
	/* tag and id come after the faulty member: they must still be read */
	struct gd_request req;
	struct gd_err err = GD_ERR_INIT;
	assert_int_equal(parse("{\"zz\": 1, \"execute\": \"x\", \"tag\": {\"t\": [1, \"a\"]}, "
			       "\"id\": [1, 2]}",
			       &req, &err),
			 -EINVAL);
	assert_string_equal(err.desc, "QMP input member 'zz' is unexpected");
	json_t *tag = json_pack("{s:[i,s]}", "t", 1, "a"), *id = json_pack("[i,i]", 1, 2);
	assert_true(json_equal(req.tag, tag));
	assert_true(json_equal(req.id, id));
	json_decref(tag);
	json_decref(id);
	gd_request_free(&req);
	gd_err_clear(&err);

	assert_int_equal(parse("{\"arguments\": 5, \"tag\": \"t1\"}", &req, &err), -EINVAL);
	assert_string_equal(json_string_value(req.tag), "t1");
	assert_null(req.id);
	gd_request_free(&req);
	gd_err_clear(&err);

	assert_int_equal(parse("{\"id\": 7}", &req, &err), -EINVAL);
	assert_string_equal(err.desc, "QMP input lacks member 'execute'");
	assert_int_equal(json_integer_value(req.id), 7);
	assert_null(req.tag);
	gd_request_free(&req);
	gd_err_clear(&err);
}

static void test_parse_invalid_json(void **state)
{
	const char *bad[] = { "{\"a\" 1}", "{\"execute\":\"x\",\"tag\":\"t\"", "{,,,}", "",
			      "{\"execute\":\"x\"} junk", "{\"execute\":\"\\u0000\"}" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct gd_request req;
		struct gd_err err = GD_ERR_INIT;
		assert_int_equal(parse(bad[i], &req, &err), -EINVAL);
		assert_int_equal(err.code, EINVAL);
		assert_non_null(err.desc);
		if (strncmp(err.desc, "JSON parse error: ", 18) != 0)
			fail_msg("input %s: desc '%s'", bad[i], err.desc);
		assert_true(strlen(err.desc) > 18);
		assert_null(req.root);
		assert_null(req.tag);
		gd_request_free(&req); /* safe on a failed parse */
		gd_err_clear(&err);
	}
}

static void test_parse_not_object(void **state)
{
	expect_fail("[1, 2]", "QMP input must be a JSON object");
	expect_fail("[{\"execute\": \"guest-ping\"}]", "QMP input must be a JSON object");
}

static void test_parse_err_null(void **state)
{
	/* err is optional */
	struct gd_request req;
	assert_int_equal(parse("{\"zz\":1}", &req, NULL), -EINVAL);
	gd_request_free(&req);
}

/* ---- replies ---- */

static char *dump(json_t *reply, bool ff)
{
	struct gd_buf b = { 0 };
	assert_int_equal(gd_reply_dump(reply, ff, &b), 0);
	char *s = malloc(b.len + 1);
	assert_non_null(s);
	memcpy(s, b.data, b.len);
	s[b.len] = 0;
	assert_int_equal(strlen(s), b.len); /* no NUL inside */
	gd_buf_free(&b);
	return s;
}

static void expect_dump(json_t *reply, const char *want)
{
	char *got = dump(reply, false);
	assert_string_equal(got, want);
	free(got);
}

static void test_reply_return_shape(void **state)
{
	json_t *r = gd_reply_return(json_object(), NULL, NULL);
	expect_dump(r, "{\"return\": {}}\n");
	json_decref(r);

	r = gd_reply_return(NULL, NULL, NULL); /* NULL means {} */
	expect_dump(r, "{\"return\": {}}\n");
	json_decref(r);

	r = gd_reply_return(json_pack("{s:i,s:[s,b]}", "a", 1, "b", "x", 1), NULL, NULL);
	expect_dump(r, "{\"return\": {\"a\": 1, \"b\": [\"x\", true]}}\n");
	json_decref(r);

	r = gd_reply_return(json_integer(42), NULL, NULL);
	expect_dump(r, "{\"return\": 42}\n");
	json_decref(r);
}

static void test_reply_return_steals(void **state)
{
	json_t *ret = json_object();
	json_t *r = gd_reply_return(ret, NULL, NULL);
	assert_ptr_equal(json_object_get(r, "return"), ret);
	assert_int_equal(ret->refcount, 1); /* owned by the reply only */
	json_decref(r);
}

static void test_reply_echoes_tag_and_id(void **state)
{
	json_t *values[] = { json_pack("{s:[i,s,n]}", "a", 1, "x"), json_pack("[i,{}]", 1),
			     json_string("r17"), json_integer(-3), json_real(1.5), json_true(),
			     json_null() };
	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
		json_t *tag = values[i];
		json_t *id = json_pack("{s:s}", "k", "v");
		size_t tag_rc = tag->refcount, id_rc = id->refcount;
		json_t *r = gd_reply_return(json_object(), tag, id);
		assert_true(json_equal(json_object_get(r, "tag"), tag));
		assert_true(json_equal(json_object_get(r, "id"), id));
		/* borrowed: the caller still owns its references */
		assert_int_equal(id->refcount, id_rc + 1);
		json_decref(r);
		assert_int_equal(id->refcount, id_rc);
		if (tag->refcount != (size_t)-1) /* true/null are static */
			assert_int_equal(tag->refcount, tag_rc);

		struct gd_err err = GD_ERR_INIT;
		gd_err_set(&err, GD_ERR_GENERIC, ENOENT, "nope");
		r = gd_reply_error(&err, tag, id);
		assert_true(json_equal(json_object_get(r, "tag"), tag));
		assert_true(json_equal(json_object_get(r, "id"), id));
		assert_non_null(err.desc); /* borrowed, not moved */
		json_decref(r);
		gd_err_clear(&err);
		json_decref(id);
		json_decref(tag);
	}
}

static void test_reply_member_order(void **state)
{
	json_t *tag = json_pack("{s:[i,s]}", "a", 1, "x"), *id = json_pack("[i,i]", 1, 2);
	json_t *r = gd_reply_return(json_object(), tag, id);
	expect_dump(r, "{\"return\": {}, \"tag\": {\"a\": [1, \"x\"]}, \"id\": [1, 2]}\n");
	json_decref(r);
	r = gd_reply_return(json_string("ok"), NULL, id);
	expect_dump(r, "{\"return\": \"ok\", \"id\": [1, 2]}\n");
	json_decref(r);
	json_decref(tag);
	json_decref(id);
}

static void test_reply_error_shape(void **state)
{
	struct gd_err err = GD_ERR_INIT;
	gd_err_set(&err, GD_ERR_GENERIC, ENOENT, "open /nope: No such file or directory");
	json_t *tag = json_string("t");
	json_t *r = gd_reply_error(&err, tag, NULL);
	char want[512];
	snprintf(want, sizeof want,
		 "{\"error\": {\"class\": \"GenericError\", \"desc\": \"open /nope: No such file or "
		 "directory\", \"bufb64\": \"b3BlbiAvbm9wZTogTm8gc3VjaCBmaWxlIG9yIGRpcmVjdG9yeQ==\", "
		 "\"code\": %d, \"errno\": \"ENOENT\"}, \"tag\": \"t\"}\n",
		 ENOENT);
	expect_dump(r, want);
	json_decref(r);
	json_decref(tag);
	gd_err_clear(&err);

	gd_err_set(&err, GD_ERR_NOT_FOUND, -1, "The command x has not been found");
	r = gd_reply_error(&err, NULL, NULL);
	expect_dump(r, "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command x has "
		       "not been found\", \"bufb64\": \"VGhlIGNvbW1hbmQgeCBoYXMgbm90IGJlZW4gZm91bmQ=\", "
		       "\"code\": -1}}\n");
	assert_null(json_object_get(r, "tag"));
	assert_null(json_object_get(r, "id"));
	json_decref(r);
	gd_err_clear(&err);
}

static void test_dump_one_newline(void **state)
{
	/* a newline inside a value is escaped: the only raw '\n' is the last byte */
	json_t *tag = json_string("a\nb");
	json_t *r = gd_reply_return(json_string("line1\nline2\r\n"), tag, NULL);
	json_decref(tag);
	char *s = dump(r, false);
	size_t n = strlen(s);
	assert_true(n > 1);
	assert_int_equal(s[n - 1], '\n');
	assert_null(memchr(s, '\n', n - 1));
	assert_null(memchr(s, '\r', n));
	assert_string_equal(s, "{\"return\": \"line1\\nline2\\r\\n\", \"tag\": \"a\\nb\"}\n");
	free(s);
	json_decref(r);
}

static void test_dump_ff(void **state)
{
	json_t *r = gd_reply_return(json_integer(7), NULL, NULL);
	char *s = dump(r, true);
	assert_string_equal(s, "\xff{\"return\": 7}\n");
	free(s);
	s = dump(r, false);
	assert_string_equal(s, "{\"return\": 7}\n");
	free(s);
	json_decref(r);
}

static void test_dump_utf8_kept(void **state)
{
	json_t *r = gd_reply_return(json_string("h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80"), NULL,
				    NULL);
	expect_dump(r, "{\"return\": \"h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80\"}\n");
	json_decref(r);
}

static void test_dump_appends(void **state)
{
	struct gd_buf b = { 0 };
	json_t *r1 = gd_reply_return(json_integer(1), NULL, NULL);
	json_t *r2 = gd_reply_return(json_integer(2), NULL, NULL);
	assert_int_equal(gd_reply_dump(r1, false, &b), 0);
	assert_int_equal(gd_reply_dump(r2, true, &b), 0);
	const char want[] = "{\"return\": 1}\n\xff{\"return\": 2}\n";
	assert_int_equal(b.len, sizeof want - 1);
	assert_memory_equal(b.data, want, b.len);
	gd_buf_free(&b);
	json_decref(r1);
	json_decref(r2);
}

static void test_dump_large(void **state)
{
	/* a reply much larger than the buffer's first allocation */
	size_t n = 3 * 1024 * 1024 + 17;
	char *big = malloc(n + 1);
	assert_non_null(big);
	for (size_t i = 0; i < n; i++)
		big[i] = (char)('a' + i % 26);
	big[n] = 0;
	json_t *r = gd_reply_return(json_string(big), NULL, NULL);
	struct gd_buf b = { 0 };
	assert_int_equal(gd_reply_dump(r, false, &b), 0);
	assert_int_equal(b.len, n + strlen("{\"return\": \"\"}\n"));
	assert_memory_equal(b.data, "{\"return\": \"", 12);
	assert_memory_equal(b.data + 12, big, n);
	assert_memory_equal(b.data + 12 + n, "\"}\n", 3);
	gd_buf_free(&b);
	json_decref(r);
	free(big);
}

/* ---- gd_buf ---- */

static void test_buf_growth(void **state)
{
	struct gd_buf b = { 0 };
	for (size_t i = 0; i < 10000; i++) {
		char c = (char)(i % 251);
		assert_int_equal(gd_buf_append(&b, &c, 1), 0);
		assert_int_equal(b.len, i + 1);
		assert_true(b.cap >= b.len);
	}
	for (size_t i = 0; i < 10000; i++)
		assert_int_equal((unsigned char)b.data[i], i % 251);
	/* reserve guarantees room without changing the length */
	assert_int_equal(gd_buf_reserve(&b, 1 << 20), 0);
	assert_int_equal(b.len, 10000);
	assert_true(b.cap >= 10000 + (1 << 20));
	size_t cap = b.cap;
	char *more = calloc(1, 1 << 20);
	assert_non_null(more);
	assert_int_equal(gd_buf_append(&b, more, 1 << 20), 0); /* fits: no realloc */
	free(more);
	assert_int_equal(b.cap, cap);
	assert_int_equal(b.len, 10000 + (1 << 20));
	assert_int_equal(gd_buf_append(&b, "", 0), 0);
	gd_buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	gd_buf_free(&b); /* twice is safe */
}

static void test_buf_big_append(void **state)
{
	struct gd_buf b = { 0 };
	size_t n = 100000;
	char *p = malloc(n);
	assert_non_null(p);
	memset(p, 'z', n);
	assert_int_equal(gd_buf_append(&b, "ab", 2), 0);
	assert_int_equal(gd_buf_append(&b, p, n), 0);
	assert_int_equal(b.len, n + 2);
	assert_memory_equal(b.data, "ab", 2);
	assert_memory_equal(b.data + 2, p, n);
	free(p);
	gd_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_minimal),
		cmocka_unit_test(test_parse_uses_len),
		cmocka_unit_test(test_parse_missing_execute),
		cmocka_unit_test(test_parse_execute_not_string),
		cmocka_unit_test(test_parse_arguments_type),
		cmocka_unit_test(test_parse_arguments_string),
		cmocka_unit_test(test_parse_unknown_member),
		cmocka_unit_test(test_parse_tag_id_on_failure),
		cmocka_unit_test(test_parse_invalid_json),
		cmocka_unit_test(test_parse_not_object),
		cmocka_unit_test(test_parse_err_null),
		cmocka_unit_test(test_reply_return_shape),
		cmocka_unit_test(test_reply_return_steals),
		cmocka_unit_test(test_reply_echoes_tag_and_id),
		cmocka_unit_test(test_reply_member_order),
		cmocka_unit_test(test_reply_error_shape),
		cmocka_unit_test(test_dump_one_newline),
		cmocka_unit_test(test_dump_ff),
		cmocka_unit_test(test_dump_utf8_kept),
		cmocka_unit_test(test_dump_appends),
		cmocka_unit_test(test_dump_large),
		cmocka_unit_test(test_buf_growth),
		cmocka_unit_test(test_buf_big_append),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
