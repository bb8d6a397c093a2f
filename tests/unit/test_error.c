/* Unit tests for the error convention and its wire object (include/guestd/error.h,
 * src/common/error.c, src/common/errnames.c; PROTOCOL.md §3). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guestd/base64.h"
#include "guestd/error.h"

/* ---- gd_err_set and friends ---- */

static void test_set_returns_negative_code(void **state)
{
	struct gd_err err = GD_ERR_INIT;
	assert_int_equal(gd_err_set(&err, GD_ERR_GENERIC, ENOENT, "open %s", "/nope"), -ENOENT);
	assert_int_equal(err.code, ENOENT);
	assert_int_equal(err.cls, GD_ERR_GENERIC);
	assert_string_equal(err.desc, "open /nope");
	gd_err_clear(&err);

	assert_int_equal(gd_err_set(&err, GD_ERR_NOT_FOUND, -1, "cmd %d", 7), -EIO);
	assert_int_equal(err.code, -1);
	assert_int_equal(err.cls, GD_ERR_NOT_FOUND);
	assert_string_equal(err.desc, "cmd 7");
	gd_err_clear(&err);
}

static void test_set_null_err(void **state)
{
	assert_int_equal(gd_err_set(NULL, GD_ERR_GENERIC, EACCES, "x"), -EACCES);
	assert_int_equal(gd_err_set(NULL, GD_ERR_GENERIC, -1, "x"), -EIO);
	assert_int_equal(gd_err_errno(NULL, EPERM, "x"), -EPERM);
	assert_int_equal(gd_err_set_str(NULL, GD_ERR_GENERIC, E2BIG, "x"), -E2BIG);
}

static void test_set_replaces(void **state)
{
	struct gd_err err = GD_ERR_INIT;
	gd_err_set(&err, GD_ERR_NOT_FOUND, -1, "first");
	assert_int_equal(gd_err_set(&err, GD_ERR_GENERIC, EBADF, "second %s", "message"), -EBADF);
	assert_string_equal(err.desc, "second message");
	assert_int_equal(err.code, EBADF);
	assert_int_equal(err.cls, GD_ERR_GENERIC); /* the class is replaced too */
	gd_err_clear(&err); /* valgrind: the first message was freed */
}

static void test_set_str_is_not_a_format(void **state)
{
	struct gd_err err = GD_ERR_INIT;
	assert_int_equal(gd_err_set_str(&err, GD_ERR_GENERIC, EINVAL, "100% %s %n done"), -EINVAL);
	assert_string_equal(err.desc, "100% %s %n done");
	gd_err_clear(&err);
}

static void test_errno_appends_strerror(void **state)
{
	struct gd_err err = GD_ERR_INIT;
	char want[256];
	snprintf(want, sizeof want, "open /nope: %s", strerror(ENOENT));
	assert_int_equal(gd_err_errno(&err, ENOENT, "open %s", "/nope"), -ENOENT);
	assert_string_equal(err.desc, want);
	assert_int_equal(err.code, ENOENT);
	assert_int_equal(err.cls, GD_ERR_GENERIC);
	/* replaces an earlier message as well */
	snprintf(want, sizeof want, "read 3: %s", strerror(EIO));
	assert_int_equal(gd_err_errno(&err, EIO, "read %d", 3), -EIO);
	assert_string_equal(err.desc, want);
	gd_err_clear(&err);
}

static void test_clear_and_move(void **state)
{
	struct gd_err a = GD_ERR_INIT, b = GD_ERR_INIT;
	gd_err_clear(&a); /* safe on a cleared err */
	gd_err_clear(NULL);
	gd_err_set(&a, GD_ERR_NOT_FOUND, ENOSYS, "a");
	gd_err_set(&b, GD_ERR_GENERIC, EPERM, "b");
	gd_err_move(&b, &a); /* b's old message is freed */
	assert_string_equal(b.desc, "a");
	assert_int_equal(b.code, ENOSYS);
	assert_int_equal(b.cls, GD_ERR_NOT_FOUND);
	assert_null(a.desc);
	assert_int_equal(a.code, 0);
	assert_int_equal(a.cls, GD_ERR_GENERIC);
	gd_err_clear(&b);
	assert_null(b.desc);
	assert_int_equal(b.code, 0);
	gd_err_clear(&b);
}

/* ---- gd_err_to_json ---- */

static char *b64_decode_str(const char *s, size_t *n)
{
	size_t len = strlen(s);
	char *out = malloc(gd_b64_decoded_max(len) + 1);
	assert_non_null(out);
	long r = gd_b64_decode(out, s, len);
	assert_true(r >= 0);
	out[r] = 0;
	*n = (size_t)r;
	return out;
}

static void test_to_json_members(void **state)
{
	struct gd_err err = GD_ERR_INIT;
	gd_err_set(&err, GD_ERR_GENERIC, ENOENT, "open /nope: No such file or directory");
	json_t *o = gd_err_to_json(&err);
	assert_non_null(o);
	assert_int_equal(json_object_size(o), 5);
	assert_string_equal(json_string_value(json_object_get(o, "class")), "GenericError");
	assert_string_equal(json_string_value(json_object_get(o, "desc")), err.desc);
	assert_string_equal(json_string_value(json_object_get(o, "bufb64")),
			    "b3BlbiAvbm9wZTogTm8gc3VjaCBmaWxlIG9yIGRpcmVjdG9yeQ==");
	assert_true(json_is_integer(json_object_get(o, "code")));
	assert_int_equal(json_integer_value(json_object_get(o, "code")), ENOENT);
	assert_string_equal(json_string_value(json_object_get(o, "errno")), "ENOENT");
	json_decref(o);
	gd_err_clear(&err);
}

static void test_to_json_bufb64_matches_desc(void **state)
{
	const char *descs[] = { "", "a", "ab", "abc", "Parameter 'path' is missing",
				"h\xc3\xa9llo \xe2\x9c\x93", "quote \" backslash \\ newline \n" };
	for (size_t i = 0; i < sizeof descs / sizeof descs[0]; i++) {
		struct gd_err err = GD_ERR_INIT;
		gd_err_set_str(&err, GD_ERR_GENERIC, EINVAL, descs[i]);
		json_t *o = gd_err_to_json(&err);
		size_t n;
		char *dec = b64_decode_str(json_string_value(json_object_get(o, "bufb64")), &n);
		assert_int_equal(n, strlen(descs[i]));
		assert_memory_equal(dec, descs[i], n);
		assert_string_equal(json_string_value(json_object_get(o, "desc")), descs[i]);
		free(dec);
		json_decref(o);
		gd_err_clear(&err);
	}
}

static void test_to_json_no_errno(void **state)
{
	struct gd_err err = GD_ERR_INIT;
	gd_err_set(&err, GD_ERR_NOT_FOUND, -1, "The command x has not been found");
	json_t *o = gd_err_to_json(&err);
	assert_int_equal(json_object_size(o), 4);
	assert_string_equal(json_string_value(json_object_get(o, "class")), "CommandNotFound");
	assert_int_equal(json_integer_value(json_object_get(o, "code")), -1);
	assert_null(json_object_get(o, "errno"));
	json_decref(o);
	gd_err_clear(&err);
}

static void test_to_json_errno_names(void **state)
{
	const struct { int code; const char *name; } cases[] = {
		{ EPERM, "EPERM" }, { EACCES, "EACCES" }, { EAGAIN, "EAGAIN" },
		{ E2BIG, "E2BIG" }, { EINVAL, "EINVAL" }, { ETIMEDOUT, "ETIMEDOUT" },
		{ EFBIG, "EFBIG" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct gd_err err = GD_ERR_INIT;
		gd_err_set(&err, GD_ERR_GENERIC, cases[i].code, "x");
		json_t *o = gd_err_to_json(&err);
		assert_int_equal(json_integer_value(json_object_get(o, "code")), cases[i].code);
		assert_string_equal(json_string_value(json_object_get(o, "errno")), cases[i].name);
		json_decref(o);
		gd_err_clear(&err);
	}
}

static void test_to_json_no_desc(void **state)
{
	struct gd_err err = GD_ERR_INIT; /* desc NULL: still a complete wire object */
	json_t *o = gd_err_to_json(&err);
	const char *desc = json_string_value(json_object_get(o, "desc"));
	assert_non_null(desc);
	assert_true(strlen(desc) > 0);
	size_t n;
	char *dec = b64_decode_str(json_string_value(json_object_get(o, "bufb64")), &n);
	assert_string_equal(dec, desc);
	free(dec);
	json_decref(o);
}

static void check_sanitised(const char *raw, const char *want_desc)
{
	struct gd_err err = GD_ERR_INIT;
	gd_err_set_str(&err, GD_ERR_GENERIC, EIO, raw);
	json_t *o = gd_err_to_json(&err);
	assert_non_null(o);
	const char *desc = json_string_value(json_object_get(o, "desc"));
	if (!desc || strcmp(desc, want_desc) != 0) {
		char got[256];
		snprintf(got, sizeof got, "%s", desc ? desc : "(no desc member)");
		json_decref(o);
		gd_err_clear(&err);
		fail_msg("desc of %zu raw bytes: got '%s', want '%s'", strlen(raw), got, want_desc);
	}
	/* bufb64 keeps the exact original bytes */
	size_t n;
	char *dec = b64_decode_str(json_string_value(json_object_get(o, "bufb64")), &n);
	assert_int_equal(n, strlen(raw));
	assert_memory_equal(dec, raw, n);
	free(dec);
	/* and the whole object serialises (valid UTF-8 everywhere) */
	char *s = json_dumps(o, 0);
	assert_non_null(s);
	free(s);
	json_decref(o);
	gd_err_clear(&err);
}

static void test_to_json_invalid_utf8(void **state)
{
	check_sanitised("bad \xff\xfe byte", "bad ?? byte");
	check_sanitised("trunc \xc3", "trunc ?");
	check_sanitised("\xc3\xa9\xff\xc3\xa9", "\xc3\xa9?\xc3\xa9");    /* valid parts kept */
	check_sanitised("lone \x80 cont", "lone ? cont");
	check_sanitised("overlong \xc0\xaf", "overlong ??");
	check_sanitised("\xe2\x9c", "??");                                 /* cut 3-byte sequence */
	check_sanitised("\xf5\x80\x80\x80", "????");                       /* beyond U+10FFFF lead */
}

/* Regression (was a bug in src/common/error.c:82 utf8_sanitize and :127-130 gd_err_to_json): sequences that
 * have the right shape but are not UTF-8 (UTF-16 surrogates ED A0..BF xx, 3-byte overlongs
 * E0 80..9F xx, 4-byte overlongs F0 80..8F xx xx, code points above U+10FFFF F4 90..BF xx xx)
 * pass utf8_sanitize, jansson then refuses the "clean" copy too, json_string(clean) returns
 * NULL and the wire error has NO "desc" member at all (PROTOCOL.md §3 requires it); the
 * fallback text is only used when the sanitiser itself fails to allocate. */
static void test_to_json_invalid_utf8_shaped(void **state)
{
	check_sanitised("surrogate \xed\xa0\x80 end", "surrogate ??? end");
	check_sanitised("overlong3 \xe0\x80\xaf end", "overlong3 ??? end");
	check_sanitised("overlong4 \xf0\x80\x80\xaf end", "overlong4 ???? end");
	check_sanitised("big \xf4\x90\x80\x80 end", "big ???? end");
}

/* ---- errno names ---- */

static void test_errno_name_basic(void **state)
{
	assert_string_equal(gd_errno_name(ENOENT), "ENOENT");
	assert_string_equal(gd_errno_name(EAGAIN), "EAGAIN");
	/* aliases give the canonical name */
	assert_string_equal(gd_errno_name(EWOULDBLOCK), "EAGAIN");
	assert_int_equal(gd_errno_from_name("EWOULDBLOCK"), EWOULDBLOCK);
	assert_int_equal(gd_errno_from_name("ENOENT"), ENOENT);
	assert_int_equal(gd_errno_from_name("EAGAIN"), EAGAIN);
#if defined(EDEADLOCK) && EDEADLOCK == EDEADLK
	assert_string_equal(gd_errno_name(EDEADLOCK), "EDEADLK");
#endif
#if defined(ENOTSUP) && ENOTSUP == EOPNOTSUPP
	assert_string_equal(gd_errno_name(ENOTSUP), "EOPNOTSUPP");
#endif
}

static void test_errno_name_unknown(void **state)
{
	assert_null(gd_errno_name(0));
	assert_null(gd_errno_name(-1));
	assert_null(gd_errno_name(-ENOENT));
	assert_null(gd_errno_name(100000));
	assert_int_equal(gd_errno_from_name("ENOPE"), -1);
	assert_int_equal(gd_errno_from_name(""), -1);
	assert_int_equal(gd_errno_from_name("enoent"), -1); /* names are case-sensitive */
	assert_int_equal(gd_errno_from_name("ENOENTX"), -1);
	assert_int_equal(gd_errno_from_name("ENOEN"), -1);
}

static void test_errno_round_trip(void **state)
{
	int named = 0;
	for (int e = 1; e <= 200; e++) {
		const char *name = gd_errno_name(e);
		if (!name)
			continue;
		named++;
		assert_true(name[0] == 'E');
		if (gd_errno_from_name(name) != e)
			fail_msg("errno %d: name %s reads back as %d", e, name,
				 gd_errno_from_name(name));
	}
	/* every platform guestd runs on names about a hundred errnos */
	assert_true(named >= 90);
}

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
static void test_errno_names_match_libc(void **state)
{
	/* glibc knows the names too: every errno it names, we name the same way */
	for (int e = 1; e <= 200; e++) {
		const char *libc = strerrorname_np(e);
		if (!libc)
			continue;
		const char *ours = gd_errno_name(e);
		if (!ours || strcmp(ours, libc) != 0)
			fail_msg("errno %d: libc says %s, guestd says %s", e, libc,
				 ours ? ours : "(none)");
	}
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_returns_negative_code),
		cmocka_unit_test(test_set_null_err),
		cmocka_unit_test(test_set_replaces),
		cmocka_unit_test(test_set_str_is_not_a_format),
		cmocka_unit_test(test_errno_appends_strerror),
		cmocka_unit_test(test_clear_and_move),
		cmocka_unit_test(test_to_json_members),
		cmocka_unit_test(test_to_json_bufb64_matches_desc),
		cmocka_unit_test(test_to_json_no_errno),
		cmocka_unit_test(test_to_json_errno_names),
		cmocka_unit_test(test_to_json_no_desc),
		cmocka_unit_test(test_to_json_invalid_utf8),
		cmocka_unit_test(test_to_json_invalid_utf8_shaped),
		cmocka_unit_test(test_errno_name_basic),
		cmocka_unit_test(test_errno_name_unknown),
		cmocka_unit_test(test_errno_round_trip),
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
		cmocka_unit_test(test_errno_names_match_libc),
#endif
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
