/* Unit tests for base64 (include/guestd/base64.h: RFC 4648, standard alphabet, padded, strict). */
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

/* Decodes into a buffer of exactly gd_b64_decoded_max(len) bytes (ASan and valgrind see any
 * write past the bound). */
static long decode(const char *src, size_t len, unsigned char **out)
{
	size_t max = gd_b64_decoded_max(len);
	*out = malloc(max ? max : 1);
	assert_non_null(*out);
	long r = gd_b64_decode(*out, src, len);
	if (r >= 0)
		assert_true((size_t)r <= max);
	return r;
}

static void test_rfc4648_vectors(void **state)
{
	const struct { const char *plain, *enc; } v[] = {
		{ "", "" },         { "f", "Zg==" },         { "fo", "Zm8=" },
		{ "foo", "Zm9v" },  { "foob", "Zm9vYg==" },  { "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		size_t n = strlen(v[i].plain);
		assert_int_equal(gd_b64_encoded_len(n), strlen(v[i].enc));
		char enc[32];
		memset(enc, '#', sizeof enc);
		assert_int_equal(gd_b64_encode(enc, v[i].plain, n), strlen(v[i].enc));
		assert_string_equal(enc, v[i].enc); /* NUL-terminated */

		char *a = gd_b64_encode_alloc(v[i].plain, n);
		assert_non_null(a);
		assert_string_equal(a, v[i].enc);
		free(a);

		unsigned char *dec;
		long r = decode(v[i].enc, strlen(v[i].enc), &dec);
		assert_int_equal(r, (long)n);
		assert_memory_equal(dec, v[i].plain, n);
		free(dec);
	}
}

static void test_standard_alphabet(void **state)
{
	/* '+' and '/' (not the URL-safe '-' and '_') */
	const unsigned char raw[] = { 0xfb, 0xff, 0xbf };
	char enc[8];
	gd_b64_encode(enc, raw, 3);
	assert_string_equal(enc, "+/+/");
	unsigned char *dec;
	assert_int_equal(decode("+/+/", 4, &dec), 3);
	assert_memory_equal(dec, raw, 3);
	free(dec);
	assert_int_equal(decode("-_-_", 4, &dec), -EINVAL);
	free(dec);
}

static void test_all_bytes_round_trip(void **state)
{
	unsigned char raw[256];
	for (int i = 0; i < 256; i++)
		raw[i] = (unsigned char)i;
	char *enc = gd_b64_encode_alloc(raw, sizeof raw);
	assert_non_null(enc);
	assert_int_equal(strlen(enc), gd_b64_encoded_len(256));
	assert_int_equal(strlen(enc), 344);
	unsigned char *dec;
	assert_int_equal(decode(enc, strlen(enc), &dec), 256);
	assert_memory_equal(dec, raw, 256);
	free(dec);
	free(enc);
	/* and each byte value alone */
	for (int i = 0; i < 256; i++) {
		unsigned char b = (unsigned char)i;
		char e[8];
		assert_int_equal(gd_b64_encode(e, &b, 1), 4);
		assert_int_equal(decode(e, 4, &dec), 1);
		assert_int_equal(dec[0], b);
		free(dec);
	}
}

static void test_every_length_round_trip(void **state)
{
	unsigned char raw[101];
	unsigned seed = 12345;
	for (size_t i = 0; i < sizeof raw; i++) {
		seed = seed * 1103515245u + 12345u;
		raw[i] = (unsigned char)(seed >> 16);
	}
	for (size_t n = 0; n <= 100; n++) {
		size_t elen = gd_b64_encoded_len(n);
		assert_int_equal(elen, (n + 2) / 3 * 4);
		char *enc = malloc(elen + 1); /* exactly the documented room */
		assert_non_null(enc);
		assert_int_equal(gd_b64_encode(enc, raw, n), elen);
		assert_int_equal(enc[elen], 0);
		/* padding: only at the end, as many as the last group lacks */
		size_t pad = (3 - n % 3) % 3;
		for (size_t i = 0; i < elen; i++)
			assert_true((enc[i] == '=') == (i >= elen - pad));
		unsigned char *dec;
		assert_int_equal(decode(enc, elen, &dec), (long)n);
		assert_memory_equal(dec, raw, n);
		free(dec);
		free(enc);
	}
}

static void expect_reject(const char *s)
{
	unsigned char *dec;
	long r = decode(s, strlen(s), &dec);
	free(dec);
	if (r != -EINVAL)
		fail_msg("'%s' decoded to %ld, want -EINVAL", s, r);
}

static void test_reject_bad_length(void **state)
{
	expect_reject("Z");
	expect_reject("Zg");
	expect_reject("Zg=");
	expect_reject("Zm9");       /* missing padding is not accepted */
	expect_reject("Zm9vY");
	expect_reject("Zm9vYg==Z");
}

static void test_reject_bad_chars(void **state)
{
	expect_reject("Zm9*");
	expect_reject("Zm.v");
	expect_reject("Zm9v!A==");
	expect_reject("Zg=\x80");
	expect_reject("\xc3\xa9" "AA");
	/* an embedded NUL is a bad character, not the end */
	unsigned char *dec;
	assert_int_equal(decode("Zm\0v", 4, &dec), -EINVAL);
	free(dec);
}

static void test_reject_whitespace(void **state)
{
	expect_reject("Zm9v Zm9v");
	expect_reject("Zm9v\nZm9v   ");
	expect_reject("Zm9\nv");
	expect_reject("Zm9v\r\n");
	expect_reject("\tZm9");
	expect_reject("    ");
	expect_reject("Zm 9");
}

static void test_reject_misplaced_padding(void **state)
{
	expect_reject("Zg==Zg==");
	expect_reject("Z===");
	expect_reject("====");
	expect_reject("=Zm9");
	expect_reject("Zm=v");
	expect_reject("Zg=a");
	expect_reject("Zm9v====");
	expect_reject("Zm8=Zm9v");
}

/* Regression (was a bug in src/common/base64.c, gd_b64_decode; nettle's decoder counts padding per group of bits,
 * not per 4-character quantum): a quantum with three '=' is not valid base64 (RFC 4648 §3.5:
 * a final quantum has at least two data characters), but when its one data character has
 * zero low bits nettle accepts it and it decodes to 0 bytes. */
static void test_reject_three_pad(void **state)
{
	expect_reject("A===");
	expect_reject("Zm9vA===");
	expect_reject("Q===");
}

static void test_reject_noncanonical_bits(void **state)
{
	/* "Zh==" would carry bits past the last byte */
	expect_reject("Zh==");
	expect_reject("Zm9=");
}

static void test_decoded_max_bound(void **state)
{
	for (size_t len = 0; len <= 400; len += 4) {
		size_t max = gd_b64_decoded_max(len);
		assert_true(max >= len / 4 * 3);
		/* a full-length valid encoding of that size fits */
		size_t n = len / 4 * 3;
		unsigned char *raw = malloc(n ? n : 1);
		assert_non_null(raw);
		memset(raw, 0xa5, n);
		char *enc = gd_b64_encode_alloc(raw, n);
		assert_int_equal(strlen(enc), len);
		unsigned char *dec;
		assert_int_equal(decode(enc, len, &dec), (long)n);
		assert_memory_equal(dec, raw, n);
		free(dec);
		free(enc);
		free(raw);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4648_vectors),
		cmocka_unit_test(test_standard_alphabet),
		cmocka_unit_test(test_all_bytes_round_trip),
		cmocka_unit_test(test_every_length_round_trip),
		cmocka_unit_test(test_reject_bad_length),
		cmocka_unit_test(test_reject_bad_chars),
		cmocka_unit_test(test_reject_whitespace),
		cmocka_unit_test(test_reject_misplaced_padding),
		cmocka_unit_test(test_reject_three_pad),
		cmocka_unit_test(test_reject_noncanonical_bits),
		cmocka_unit_test(test_decoded_max_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
