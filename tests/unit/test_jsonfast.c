/* Unit tests for the fast JSON paths (include/guestd/jsonfast.h): the dumper must write exactly
 * what jansson writes, and the parser must agree with jansson on everything it accepts and
 * decline what it does not handle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guestd/jsonfast.h"

static int dump_cb(const char *p, size_t n, void *data)
{
	return gd_buf_append(data, p, n) < 0 ? -1 : 0;
}

/* gd_json_dump(v) == json_dump_callback(v, 0), byte for byte */
static void same_dump(json_t *v)
{
	struct gd_buf a = { 0 }, b = { 0 };
	assert_int_equal(gd_json_dump(v, &a), 0);
	assert_int_equal(json_dump_callback(v, dump_cb, &b, JSON_ENCODE_ANY), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	gd_buf_free(&a);
	gd_buf_free(&b);
}

static void test_dump_matches_jansson(void **state)
{
	(void)state;
	const char *texts[] = {
		"{}", "[]", "{\"return\": {}}", "[1, 2, [3, {}], []]",
		"{\"return\": {\"count\": 3, \"buf-b64\": \"dm0K\", \"eof\": true}, \"tag\": \"r1\"}",
		"{\"error\": {\"class\": \"GenericError\", \"desc\": \"a \\\"quoted\\\" \\\\ thing\\n\\t\\r\\b\\f\\u0001\\u001f\", \"code\": -1}}",
		"{\"s\": \"caf\\u00e9 \\u2028 \\ud83d\\ude00 /slash/ \\u007f\", \"n\": null, \"f\": false}",
		"{\"i\": -9223372036854775807, \"j\": 9223372036854775807, \"z\": 0}",
		"{\"r\": 1.5, \"e\": 1e300, \"t\": 1732233600.123456, \"neg\": -0.0, \"int-like\": 2.0}",
		"{\"b\": \"x\", \"a\": \"y\", \"c\": {\"z\": 1, \"y\": 2}}",
	};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		json_error_t je;
		json_t *v = json_loads(texts[i], 0, &je);
		assert_non_null(v);
		same_dump(v);
		json_decref(v);
	}
	/* strings with NUL and every byte value below 0x80, and a long base64-like run with an
	 * escape at every alignment */
	char all[128];
	for (int i = 0; i < 128; i++)
		all[i] = (char)i;
	json_t *v = json_stringn(all, sizeof all);
	same_dump(v);
	json_decref(v);
	for (size_t at = 0; at < 17; at++) {
		char s[40];
		memset(s, 'A', sizeof s);
		s[at] = '"';
		s[at + 9] = '\\';
		s[at + 20] = '\n';
		v = json_stringn(s, sizeof s);
		same_dump(v);
		json_decref(v);
	}
}

static void test_dump_large_string(void **state)
{
	(void)state;
	size_t n = 3 * 1024 * 1024 + 5;
	char *s = malloc(n);
	assert_non_null(s);
	for (size_t i = 0; i < n; i++)
		s[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[i % 64];
	json_t *v = json_pack("{s:I, s:s%, s:b}", "count", (json_int_t)n, "buf-b64", s, n, "eof",
			      true);
	free(s);
	same_dump(v);
	json_decref(v);
}

/* gd_json_load_fast(t) is NULL or equal to json_loads(t) */
static void agrees(const char *t, int accepted)
{
	json_error_t je;
	json_t *fast = gd_json_load_fast(t, strlen(t), 0);
	json_t *slow = json_loadb(t, strlen(t), 0, &je);
	if (accepted) {
		assert_non_null(fast);
		assert_non_null(slow);
		assert_true(json_equal(fast, slow));
	} else {
		assert_null(fast);
	}
	json_decref(fast);
	json_decref(slow);
}

static void test_parse_subset(void **state)
{
	(void)state;
	agrees("{\"execute\":\"guest-file-write\",\"arguments\":{\"handle\":1000,\"buf-b64\":\"aGVsbG8=\"}}", 1);
	agrees(" { \"a\" : [ 1 , -2 , 0 , true , false , null , { } , [ ] ] } \n", 1);
	agrees("{\"esc\": \"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t\"}", 1);
	agrees("{\"dup\": 1, \"dup\": 2}", 1);
	agrees("[\"x\"]", 1);
	agrees("{\"big\": 999999999999999999, \"neg\": -999999999999999999}", 1);
	/* outside the subset or invalid: declined (jansson decides) */
	agrees("{\"u\": \"\\u00e9\"}", 0);
	agrees("{\"utf8\": \"caf\xc3\xa9\"}", 0);
	agrees("{\"bad\": \"\xff\"}", 0);
	agrees("{\"ctl\": \"a\tb\"}", 0);
	agrees("{\"r\": 1.5}", 0);
	agrees("{\"e\": 1e5}", 0);
	agrees("{\"huge\": 9223372036854775808}", 0);
	agrees("{\"lz\": 01}", 0);
	agrees("{\"a\": 1,}", 0);
	agrees("{\"a\" 1}", 0);
	agrees("{\"a\": 1} x", 0);
	agrees("{\"a\": 1", 0);
	agrees("\"top\"", 0);
	agrees("17", 0);
	agrees("{\"a\": tru}", 0);
	agrees("{\"a\": \"unterminated}", 0);
	agrees("{\"a\": \"bad \\x escape\"}", 0);
	agrees("", 0);
}

static void test_parse_depth(void **state)
{
	(void)state;
	char deep[300];
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	deep[200] = 0;
	json_t *v = gd_json_load_fast(deep, 200, 64);
	assert_null(v);
	v = gd_json_load_fast(deep, 200, 100);
	assert_non_null(v);
	json_decref(v);
}

/* A deterministic generator (xorshift), so failures reproduce. */
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static json_t *random_value(int depth)
{
	static const char *const strs[] = { "", "a", "buf-b64", "h\xc3\xa9", "q\"uote", "back\\slash",
					    "tab\tnl\n", "ctl\x01", "\xe2\x98\x83", "/" };
	switch (depth > 3 ? rnd(5) : rnd(7)) {
	case 0: return json_integer((json_int_t)rnd(2000000) - 1000000);
	case 1: return json_string(strs[rnd(10)]);
	case 2: return rnd(2) ? json_true() : json_false();
	case 3: return json_null();
	case 4: return json_real((double)rnd(1000) / 7.0);
	case 5: {
		json_t *a = json_array();
		for (unsigned i = rnd(4); i > 0; i--)
			json_array_append_new(a, random_value(depth + 1));
		return a;
	}
	default: {
		json_t *o = json_object();
		for (unsigned i = rnd(4); i > 0; i--)
			json_object_set_new(o, strs[rnd(10)], random_value(depth + 1));
		return o;
	}
	}
}

/* Differential: random values dump alike, and random texts (valid ones and their mutations)
 * are either declined by the fast parser or parsed to what jansson parses. */
static void test_differential_random(void **state)
{
	static const char alphabet[] = "{}[]\":,\\ \t\nabtrufelnu0123456789-+.eE\x01\x7f\xc3\xff";
	unsigned accepted = 0, mutants_accepted = 0;
	for (int iter = 0; iter < 20000; iter++) {
		json_t *v = random_value(0);
		same_dump(v);
		char *text = json_dumps(v, JSON_ENCODE_ANY);
		size_t len = strlen(text);
		for (int m = 0; m < 4; m++) {
			char buf[4096];
			size_t n = len < sizeof buf ? len : sizeof buf - 1;
			memcpy(buf, text, n);
			if (m > 0 && n > 0) {
				for (unsigned k = rnd(3) + 1; k > 0 && n > 0; k--) {
					unsigned op = rnd(3), at = rnd((unsigned)n);
					if (op == 0)
						buf[at] = alphabet[rnd(sizeof alphabet - 1)];
					else if (op == 1)
						n = at; /* truncate */
					else if (n + 1 < sizeof buf) {
						memmove(buf + at + 1, buf + at, n - at);
						buf[at] = alphabet[rnd(sizeof alphabet - 1)];
						n++;
					}
				}
			}
			json_t *fast = gd_json_load_fast(buf, n, 0);
			json_error_t je;
			json_t *slow = json_loadb(buf, n, JSON_DECODE_ANY, &je);
			if (fast) {
				accepted++;
				mutants_accepted += m > 0;
				if (!slow || !json_equal(fast, slow))
					fail_msg("fast parser accepted what jansson %s: %.*s",
						 slow ? "parses differently" : "refuses", (int)n, buf);
			}
			if (m == 0 && slow && !json_equal(slow, v) && !json_is_real(v))
				fail_msg("round trip changed the value: %s", text);
			json_decref(fast);
			json_decref(slow);
		}
		free(text);
		json_decref(v);
	}
	/* the comparison means something only if the fast parser took many texts, mutants too */
	print_message("fast parser took %u texts, %u of them mutants\n", accepted, mutants_accepted);
	assert_true(accepted > 2000);
	assert_true(mutants_accepted > 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dump_matches_jansson),
		cmocka_unit_test(test_dump_large_string),
		cmocka_unit_test(test_parse_subset),
		cmocka_unit_test(test_parse_depth),
		cmocka_unit_test(test_differential_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
