/* Unit tests for the framer (include/guestd/frame.h, PROTOCOL.md §1).
 *
 * Most tests feed bytes and compare the events as a transcript, one line per event:
 *   O<bytes>   an object (its exact bytes)
 *   E<NAME>    an error (E2BIG, EINVAL, or the number)
 *   R          a reset (0xFF)
 * so that the expected behaviour reads like the protocol text. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guestd/frame.h"

#define BIG (1u << 20)

/* ---- transcript helpers ---- */

struct log {
	char *s;
	size_t len, cap;
};

static void log_add(struct log *l, const char *p, size_t n)
{
	if (l->len + n + 1 > l->cap) {
		size_t cap = l->cap ? l->cap : 256;
		while (cap < l->len + n + 1)
			cap *= 2;
		l->s = realloc(l->s, cap);
		assert_non_null(l->s);
		l->cap = cap;
	}
	memcpy(l->s + l->len, p, n);
	l->len += n;
	l->s[l->len] = 0;
}

static void log_str(struct log *l, const char *s)
{
	log_add(l, s, strlen(s));
}

static void log_event(struct log *l, const struct gd_frame_event *ev)
{
	char tmp[32];
	switch (ev->type) {
	case GD_FRAME_OBJECT:
		assert_non_null(ev->data);
		assert_true(ev->len >= 2);
		assert_int_equal(ev->data[0], '{');
		log_str(l, "O");
		log_add(l, ev->data, ev->len);
		log_str(l, "\n");
		break;
	case GD_FRAME_ERROR:
		assert_non_null(ev->msg);
		assert_true(strlen(ev->msg) > 0);
		if (ev->code == E2BIG)
			log_str(l, "EE2BIG\n");
		else if (ev->code == EINVAL)
			log_str(l, "EEINVAL\n");
		else {
			snprintf(tmp, sizeof tmp, "E%d\n", ev->code);
			log_str(l, tmp);
		}
		break;
	case GD_FRAME_RESET:
		log_str(l, "R\n");
		break;
	default:
		fail_msg("unexpected event type %d", ev->type);
	}
}

/* Feeds one chunk until the framer reports NONE, checking the feed contract on the way. */
static void feed_chunk(struct gd_frame *f, const char *data, size_t len, struct log *l)
{
	size_t off = 0, events = 0;
	for (;;) {
		struct gd_frame_event ev;
		size_t used = (size_t)-1;
		int r = gd_frame_feed(f, data + off, len - off, &used, &ev);
		assert_int_equal(r, ev.type);
		assert_true(used <= len - off);
		off += used;
		if (r == GD_FRAME_NONE) {
			assert_int_equal(off, len); /* NONE means everything was consumed */
			return;
		}
		/* progress: an event consumes input, except that the size error may be reported
		 * before the first byte past the cap (the skip then consumes it) */
		assert_true(used > 0 || ev.type == GD_FRAME_ERROR);
		assert_true(++events <= 2 * len + 2);
		log_event(l, &ev);
	}
}

/* Feeds in[0,len) cut at the given offsets (sorted, within [0,len]) through a new framer with
 * the given limits and returns the transcript (malloc'd). */
static char *run_cuts(size_t max_size, unsigned max_depth, const char *in, size_t len,
		      const size_t *cuts, size_t ncuts)
{
	struct gd_frame f;
	struct log l = { 0 };
	log_str(&l, "");
	gd_frame_init(&f, max_size, max_depth);
	size_t prev = 0;
	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		assert_true(end >= prev && end <= len);
		feed_chunk(&f, in + prev, end - prev, &l);
		prev = end;
	}
	gd_frame_free(&f);
	return l.s;
}

static char *run_chunked(size_t max_size, unsigned max_depth, const char *in, size_t len,
			 size_t chunk)
{
	struct gd_frame f;
	struct log l = { 0 };
	log_str(&l, "");
	gd_frame_init(&f, max_size, max_depth);
	for (size_t off = 0; off < len; off += chunk)
		feed_chunk(&f, in + off, len - off < chunk ? len - off : chunk, &l);
	gd_frame_free(&f);
	return l.s;
}

/* Checks the transcript of `in` against `want`, fed whole, byte by byte, cut once at every
 * offset and cut twice at every pair of offsets (short inputs). */
static void check_all_splits(size_t max_size, unsigned max_depth, const char *in, size_t len,
			     const char *want)
{
	char *got = run_cuts(max_size, max_depth, in, len, NULL, 0);
	assert_string_equal(got, want);
	free(got);

	got = run_chunked(max_size, max_depth, in, len, 1);
	assert_string_equal(got, want);
	free(got);

	for (size_t k = 0; k <= len; k++) {
		got = run_cuts(max_size, max_depth, in, len, &k, 1);
		if (strcmp(got, want) != 0)
			fail_msg("cut at %zu of %zu:\n got: %s\nwant: %s", k, len, got, want);
		free(got);
	}
	if (len <= 80) {
		for (size_t a = 0; a <= len; a++)
			for (size_t b = a; b <= len; b++) {
				size_t cuts[2] = { a, b };
				got = run_cuts(max_size, max_depth, in, len, cuts, 2);
				if (strcmp(got, want) != 0)
					fail_msg("cuts at %zu,%zu of %zu:\n got: %s\nwant: %s", a, b,
						 len, got, want);
				free(got);
			}
	}
}

#define CHECK(in, want) check_all_splits(BIG, 64, in, sizeof(in) - 1, want)
#define CHECK_LIM(max_size, max_depth, in, want) \
	check_all_splits(max_size, max_depth, in, sizeof(in) - 1, want)

/* ---- objects back to back ---- */

static void test_single_object(void **state)
{
	CHECK("{\"execute\":\"guest-ping\"}", "O{\"execute\":\"guest-ping\"}\n");
	CHECK("{}", "O{}\n");
}

static void test_back_to_back_no_separator(void **state)
{
	CHECK("{\"a\":1}{\"b\":[2]}{}", "O{\"a\":1}\nO{\"b\":[2]}\nO{}\n");
}

static void test_back_to_back_whitespace(void **state)
{
	CHECK(" \t{\"a\":1}\n\n{\"b\":2}\r\n  {\"c\":{\"d\":3}}\n",
	      "O{\"a\":1}\nO{\"b\":2}\nO{\"c\":{\"d\":3}}\n");
}

static void test_whitespace_only(void **state)
{
	CHECK(" \n\r\t\n", "");
	struct gd_frame f;
	gd_frame_init(&f, BIG, 64);
	struct log l = { 0 };
	log_str(&l, "");
	feed_chunk(&f, "  \n", 3, &l);
	assert_true(gd_frame_idle(&f));
	assert_string_equal(l.s, "");
	free(l.s);
	gd_frame_free(&f);
}

static void test_nested_object(void **state)
{
	CHECK("{\"a\":{\"b\":[1,{\"c\":[]},[[]]]},\"d\":{}}\n{\"e\":0}",
	      "O{\"a\":{\"b\":[1,{\"c\":[]},[[]]]},\"d\":{}}\nO{\"e\":0}\n");
}

/* ---- strings and escapes ---- */

static void test_brackets_in_strings(void **state)
{
	CHECK("{\"a\":\"}\"}{\"b\":\"{{[[\"}{\"c\":\"]]}}\"}",
	      "O{\"a\":\"}\"}\nO{\"b\":\"{{[[\"}\nO{\"c\":\"]]}}\"}\n");
}

static void test_escaped_quote(void **state)
{
	/* {"a":"\""} then {"b":"\"}"} : an escaped quote does not end the string */
	CHECK("{\"a\":\"\\\"\"}{\"b\":\"\\\"}\"}",
	      "O{\"a\":\"\\\"\"}\nO{\"b\":\"\\\"}\"}\n");
}

static void test_escaped_backslash(void **state)
{
	/* {"a":"\\"} : the backslash is escaped, the quote after it ends the string */
	CHECK("{\"a\":\"\\\\\"}{\"b\":1}", "O{\"a\":\"\\\\\"}\nO{\"b\":1}\n");
	/* {"a":"\\\"}"} : backslash, then an escaped quote, then a brace inside the string */
	CHECK("{\"a\":\"\\\\\\\"}\"}{\"b\":1}", "O{\"a\":\"\\\\\\\"}\"}\nO{\"b\":1}\n");
	/* other escapes: \n \u007d (a '}' spelled as an escape) */
	CHECK("{\"a\":\"x\\n\\u007d\\/\"}\n", "O{\"a\":\"x\\n\\u007d\\/\"}\n");
}

static void test_keys_with_brackets(void **state)
{
	CHECK("{\"}\":{\"]\":\"[\"},\"{\":[\"}\",\"]\"]}",
	      "O{\"}\":{\"]\":\"[\"},\"{\":[\"}\",\"]\"]}\n");
}

static void test_long_string_with_braces(void **state)
{
	/* the fast path through string bodies must still stop at quotes and backslashes */
	char in[4096];
	size_t n = 0;
	n += (size_t)sprintf(in + n, "{\"s\":\"");
	for (int i = 0; i < 500; i++)
		n += (size_t)sprintf(in + n, "%s", i % 7 == 0 ? "\\\"}" : i % 5 == 0 ? "\\\\" : "x{]");
	n += (size_t)sprintf(in + n, "\"}");
	size_t objlen = n;
	n += (size_t)sprintf(in + n, "{\"t\":1}");
	char *want = malloc(objlen + 32);
	assert_non_null(want);
	sprintf(want, "O%.*s\nO{\"t\":1}\n", (int)objlen, in);
	for (size_t chunk = 1; chunk <= 64; chunk *= 2) {
		char *got = run_chunked(BIG, 64, in, n, chunk);
		assert_string_equal(got, want);
		free(got);
	}
	char *got = run_cuts(BIG, 64, in, n, NULL, 0);
	assert_string_equal(got, want);
	free(got);
	for (size_t k = 0; k <= n; k++) {
		got = run_cuts(BIG, 64, in, n, &k, 1);
		assert_string_equal(got, want);
		free(got);
	}
	free(want);
}

/* ---- 0xFF ---- */

static void test_ff_idle(void **state)
{
	CHECK("\xff", "R\n");
	CHECK("{\"a\":1}\xff{\"b\":2}", "O{\"a\":1}\nR\nO{\"b\":2}\n");
	CHECK("\xff\xff\n\xff", "R\nR\nR\n");
}

static void test_ff_mid_object(void **state)
{
	CHECK("{\"execute\":\"guest-pi\xff{\"execute\":\"guest-ping\"}",
	      "R\nO{\"execute\":\"guest-ping\"}\n");
	CHECK("{\"a\":[1,{\"b\":\xff{\"c\":1}\n", "R\nO{\"c\":1}\n");
	/* right after the opening brace, and right before the closing one */
	CHECK("{\xff{}", "R\nO{}\n");
	CHECK("{\"a\":1\xff}{\"b\":1}", "R\nEEINVAL\n");
}

static void test_ff_in_string(void **state)
{
	CHECK("{\"a\":\"abc\xff{\"b\":\"x\"}", "R\nO{\"b\":\"x\"}\n");
	/* after a backslash: 0xFF is never an escaped character */
	CHECK("{\"a\":\"\\\xff{\"b\":1}", "R\nO{\"b\":1}\n");
}

static void test_ff_state_after_reset(void **state)
{
	/* after the reset the framer is idle: a quote is top-level garbage, not the end of the
	 * string that was interrupted */
	CHECK("{\"a\":\"x\xff\"}\n{\"b\":1}", "R\nEEINVAL\nO{\"b\":1}\n");
}

/* ---- size cap ---- */

static char *make_object(size_t total, const char *key)
{
	/* {"key":"xxxx...x"} of exactly total bytes */
	size_t head = strlen(key) + 5, tail = 2;
	assert_true(total >= head + tail);
	char *s = malloc(total + 1);
	if (!s)
		abort();
	sprintf(s, "{\"%s\":\"", key);
	memset(s + head, 'x', total - head - tail);
	memcpy(s + total - tail, "\"}", 3);
	assert_int_equal(strlen(s), total);
	return s;
}

static void test_size_cap_boundary(void **state)
{
	char *ok = make_object(64, "a"), *over = make_object(65, "a");
	char want[128];
	snprintf(want, sizeof want, "O%s\n", ok);
	check_all_splits(64, 64, ok, 64, want);
	check_all_splits(64, 64, over, 65, "EE2BIG\n");
	free(ok);
	free(over);
}

static void test_size_cap_then_next_object(void **state)
{
	char *big = make_object(200, "a");
	char in[512];
	int n = snprintf(in, sizeof in, "%s\n{\"b\":2}", big);
	check_all_splits(64, 64, in, (size_t)n, "EE2BIG\nO{\"b\":2}\n");
	free(big);
}

static void test_size_cap_skip_tracks_strings(void **state)
{
	/* after the error the rest of the object is skipped; braces in its strings must not end
	 * the skip early (that would make garbage of the remainder and a second error) */
	const char in[] = "{\"a\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\","
			  "\"b\":\"}}]]\\\"}}\",\"c\":{\"d\":[1,2]}}\n{\"e\":1}";
	CHECK_LIM(64, 64, in, "EE2BIG\nO{\"e\":1}\n");
}

static void test_size_cap_no_buffering(void **state)
{
	/* a 1 MiB object against a 64-byte cap: one error, nothing buffered beyond the first
	 * chunk, whatever the chunk size */
	size_t total = BIG;
	char *big = make_object(total, "a");
	const size_t chunks[] = { total, 4096, 1000, 7 };
	for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
		struct gd_frame f;
		gd_frame_init(&f, 64, 64);
		struct log l = { 0 };
		log_str(&l, "");
		size_t maxcap = 0;
		for (size_t off = 0; off < total; off += chunks[c]) {
			size_t n = total - off < chunks[c] ? total - off : chunks[c];
			feed_chunk(&f, big + off, n, &l);
			if (f.cap > maxcap)
				maxcap = f.cap;
			if (off > 64)
				assert_int_equal(f.len, 0); /* skipping, not buffering */
		}
		feed_chunk(&f, "{\"b\":2}", 7, &l);
		assert_string_equal(l.s, "EE2BIG\nO{\"b\":2}\n");
		assert_true(maxcap <= 4096);
		if (chunks[c] == total)
			assert_int_equal(maxcap, 0); /* seen whole: not even the start was copied */
		assert_true(gd_frame_idle(&f));
		free(l.s);
		gd_frame_free(&f);
	}
	free(big);
}

static void test_size_cap_one_error_many_feeds(void **state)
{
	char *big = make_object(5000, "a");
	for (size_t chunk = 1; chunk <= 128; chunk *= 2) {
		char *got = run_chunked(64, 64, big, 5000, chunk);
		assert_string_equal(got, "EE2BIG\n");
		free(got);
	}
	free(big);
}

static void test_size_cap_ff_while_skipping(void **state)
{
	char *big = make_object(200, "a");
	char in[512];
	/* cut the oversize object short with 0xFF: reset, then the next object is delivered */
	int n = snprintf(in, sizeof in, "%.*s\xff{\"b\":2}", 150, big);
	check_all_splits(64, 64, in, (size_t)n, "EE2BIG\nR\nO{\"b\":2}\n");
	free(big);
}

static void test_size_cap_ff_right_after_cap(void **state)
{
	/* 64 bytes of an unfinished object, then 0xFF as the 65th byte: the object never went
	 * over the cap, so only the reset is reported, wherever the reads fall */
	char *big = make_object(200, "a");
	char in[256];
	int n = snprintf(in, sizeof in, "%.*s\xff{}", 64, big);
	assert_int_equal(n, 67);
	check_all_splits(64, 64, in, (size_t)n, "R\nO{}\n");
	/* one byte more and it did */
	n = snprintf(in, sizeof in, "%.*s\xff{}", 65, big);
	check_all_splits(64, 64, in, (size_t)n, "EE2BIG\nR\nO{}\n");
	free(big);
}

static void test_size_cap_counts_whole_object(void **state)
{
	/* the cap is on the object, not on one feed: 40 + 40 bytes of one object is over 64 */
	char *obj = make_object(80, "a");
	size_t cut = 40;
	char *got = run_cuts(64, 64, obj, 80, &cut, 1);
	assert_string_equal(got, "EE2BIG\n");
	free(got);
	free(obj);
	/* and it restarts at each object: two 60-byte objects back to back are both fine */
	char *a = make_object(60, "a"), *b = make_object(60, "b");
	char in[256], want[256];
	int n = snprintf(in, sizeof in, "%s%s", a, b);
	snprintf(want, sizeof want, "O%s\nO%s\n", a, b);
	check_all_splits(64, 64, in, (size_t)n, want);
	free(a);
	free(b);
}

/* ---- depth cap ---- */

static void test_depth_cap(void **state)
{
	CHECK_LIM(BIG, 4, "{\"a\":[[[[1]]]]}\n{\"b\":1}", "EE2BIG\nO{\"b\":1}\n");
	CHECK_LIM(BIG, 4, "{\"a\":[[[[1]]]]}{\"b\":1}", "EE2BIG\nO{\"b\":1}\n");
	/* objects count as much as arrays */
	CHECK_LIM(BIG, 4, "{\"a\":{\"b\":{\"c\":{\"d\":{}}}}}{\"e\":1}", "EE2BIG\nO{\"e\":1}\n");
}

static void test_depth_exactly_at_limit(void **state)
{
	CHECK_LIM(BIG, 4, "{\"a\":[[[1]]]}", "O{\"a\":[[[1]]]}\n");
	CHECK_LIM(BIG, 4, "{\"a\":[[[1]],[[2]]],\"b\":{\"c\":[{}]}}",
		  "O{\"a\":[[[1]],[[2]]],\"b\":{\"c\":[{}]}}\n");
}

static void test_depth_in_strings_not_counted(void **state)
{
	CHECK_LIM(BIG, 4, "{\"a\":\"[[[[[[{{{{\"}", "O{\"a\":\"[[[[[[{{{{\"}\n");
}

static void test_depth_skip_tracks_strings(void **state)
{
	CHECK_LIM(BIG, 4, "{\"a\":[[[[\"]]]]}}\"]]]],\"b\":\"\\\"]\"}\n{\"c\":1}",
		  "EE2BIG\nO{\"c\":1}\n");
}

static void test_depth_cap_deep_input(void **state)
{
	/* 100000 levels against a cap of 64: one error, the rest skipped, no buffering */
	size_t depth = 100000, n = 0;
	char *in = malloc(2 * depth + 32);
	assert_non_null(in);
	in[n++] = '{';
	memcpy(in + n, "\"a\":", 4);
	n += 4;
	for (size_t i = 1; i < depth; i++)
		in[n++] = '[';
	for (size_t i = 1; i < depth; i++)
		in[n++] = ']';
	in[n++] = '}';
	memcpy(in + n, "{\"b\":1}", 7);
	n += 7;
	for (size_t chunk = 1000; chunk <= 2 * depth + 32; chunk *= 10) {
		char *got = run_chunked(BIG, 64, in, n, chunk);
		assert_string_equal(got, "EE2BIG\nO{\"b\":1}\n");
		free(got);
	}
	free(in);
}

/* ---- top-level garbage ---- */

static void test_garbage(void **state)
{
	CHECK("abc\n{\"a\":1}", "EEINVAL\nO{\"a\":1}\n");
	CHECK("]\n{\"a\":1}", "EEINVAL\nO{\"a\":1}\n");
	CHECK("}\n{\"a\":1}", "EEINVAL\nO{\"a\":1}\n");
	CHECK("\"str\"\n{\"a\":1}", "EEINVAL\nO{\"a\":1}\n");
	CHECK("123\n{\"a\":1}", "EEINVAL\nO{\"a\":1}\n");
	CHECK("[1,2]\n{\"a\":1}", "EEINVAL\nO{\"a\":1}\n");
	CHECK("  null  \n\n{\"a\":1}\n", "EEINVAL\nO{\"a\":1}\n");
}

static void test_garbage_skips_to_newline(void **state)
{
	/* everything up to the newline goes, objects included; one error per line */
	CHECK("[1,{\"a\":1}] {\"b\":2}\n{\"c\":3}", "EEINVAL\nO{\"c\":3}\n");
	CHECK("x\ny\n{\"c\":3}", "EEINVAL\nEEINVAL\nO{\"c\":3}\n");
	/* a quote in the garbage does not start a string that hides the newline */
	CHECK("\"abc\n{\"c\":3}", "EEINVAL\nO{\"c\":3}\n");
}

static void test_garbage_until_ff(void **state)
{
	CHECK("abc\xff{\"a\":1}", "EEINVAL\nR\nO{\"a\":1}\n");
}

static void test_garbage_across_feeds(void **state)
{
	struct gd_frame f;
	gd_frame_init(&f, BIG, 64);
	struct log l = { 0 };
	log_str(&l, "");
	feed_chunk(&f, "abc", 3, &l);
	assert_false(gd_frame_idle(&f));
	feed_chunk(&f, "def}]{", 6, &l);
	feed_chunk(&f, "ghi", 3, &l);
	feed_chunk(&f, "\n{\"a\":1}", 8, &l);
	assert_string_equal(l.s, "EEINVAL\nO{\"a\":1}\n");
	assert_true(gd_frame_idle(&f));
	free(l.s);
	gd_frame_free(&f);
}

static void test_balanced_invalid_object_delivered(void **state)
{
	/* parsing is proto's job: the framer delivers it as an object */
	CHECK("{\"a\" 1}{\"b\":2}", "O{\"a\" 1}\nO{\"b\":2}\n");
	CHECK("{,,,}\n", "O{,,,}\n");
}

/* ---- reset, zero-copy, buffers ---- */

static void test_reset_drops_partial(void **state)
{
	struct gd_frame f;
	gd_frame_init(&f, 64, 4);
	struct log l = { 0 };
	log_str(&l, "");
	feed_chunk(&f, "{\"a\":", 5, &l);
	assert_false(gd_frame_idle(&f));
	gd_frame_reset(&f);
	assert_true(gd_frame_idle(&f));
	assert_int_equal(f.len, 0);
	/* without the reset this would complete {"a":"x"} */
	feed_chunk(&f, "\"x\"}\n", 5, &l);
	assert_string_equal(l.s, "EEINVAL\n");
	/* the limits are kept */
	assert_int_equal(f.max_size, 64);
	assert_int_equal(f.max_depth, 4);
	feed_chunk(&f, "{\"a\":[[[[1]]]]}{\"b\":1}", 22, &l);
	assert_string_equal(l.s, "EEINVAL\nEE2BIG\nO{\"b\":1}\n");
	free(l.s);
	gd_frame_free(&f);
}

static void test_reset_inside_string(void **state)
{
	struct gd_frame f;
	gd_frame_init(&f, BIG, 64);
	struct log l = { 0 };
	log_str(&l, "");
	feed_chunk(&f, "{\"a\":\"ab\\", 9, &l);
	gd_frame_reset(&f);
	feed_chunk(&f, "{\"b\":\"}\"}", 9, &l);
	assert_string_equal(l.s, "O{\"b\":\"}\"}\n");
	/* reset while skipping garbage and while skipping an oversize object */
	feed_chunk(&f, "garbage", 7, &l);
	gd_frame_reset(&f);
	feed_chunk(&f, "{}", 2, &l);
	assert_string_equal(l.s, "O{\"b\":\"}\"}\nEEINVAL\nO{}\n");
	free(l.s);
	gd_frame_free(&f);
}

static void test_zero_copy_whole(void **state)
{
	struct gd_frame f;
	gd_frame_init(&f, BIG, 64);
	const char in[] = "  {\"a\":1}{\"b\":2}";
	struct gd_frame_event ev;
	size_t used;
	assert_int_equal(gd_frame_feed(&f, in, sizeof in - 1, &used, &ev), GD_FRAME_OBJECT);
	assert_ptr_equal(ev.data, in + 2);
	assert_int_equal(ev.len, 7);
	assert_int_equal(used, 9);
	assert_int_equal(gd_frame_feed(&f, in + used, sizeof in - 1 - used, &used, &ev),
			 GD_FRAME_OBJECT);
	assert_ptr_equal(ev.data, in + 9);
	assert_int_equal(ev.len, 7);
	assert_int_equal(f.cap, 0); /* nothing was copied */
	gd_frame_free(&f);
}

static void test_zero_copy_split(void **state)
{
	struct gd_frame f;
	gd_frame_init(&f, BIG, 64);
	const char a[] = "{\"a\":", b[] = "1}{\"c\":3}";
	struct gd_frame_event ev;
	size_t used;
	assert_int_equal(gd_frame_feed(&f, a, 5, &used, &ev), GD_FRAME_NONE);
	assert_int_equal(used, 5);
	assert_int_equal(gd_frame_feed(&f, b, 9, &used, &ev), GD_FRAME_OBJECT);
	assert_int_equal(used, 2);
	assert_int_equal(ev.len, 7);
	assert_memory_equal(ev.data, "{\"a\":1}", 7);
	assert_ptr_equal(ev.data, f.buf); /* the framer's copy */
	assert_true(ev.data < b || ev.data >= b + sizeof b);
	/* the next object, whole in the rest of this input, is not copied */
	assert_int_equal(gd_frame_feed(&f, b + 2, 7, &used, &ev), GD_FRAME_OBJECT);
	assert_ptr_equal(ev.data, b + 2);
	assert_int_equal(ev.len, 7);
	gd_frame_free(&f);
}

static void test_large_buffer_given_back(void **state)
{
	size_t total = 600 * 1024;
	char *obj = make_object(total, "a");
	struct gd_frame f;
	gd_frame_init(&f, BIG, 64);
	struct gd_frame_event ev;
	size_t used;
	assert_int_equal(gd_frame_feed(&f, obj, total / 2, &used, &ev), GD_FRAME_NONE);
	assert_int_equal(gd_frame_feed(&f, obj + total / 2, total - total / 2, &used, &ev),
			 GD_FRAME_OBJECT);
	assert_int_equal(ev.len, total);
	assert_memory_equal(ev.data, obj, total);
	assert_true(f.cap >= total);
	/* the next feed gives the large buffer back */
	assert_int_equal(gd_frame_feed(&f, "\n", 1, &used, &ev), GD_FRAME_NONE);
	assert_true(f.cap <= 4096);
	/* a small buffer is kept for the next split object */
	assert_int_equal(gd_frame_feed(&f, "{\"a\"", 4, &used, &ev), GD_FRAME_NONE);
	assert_int_equal(gd_frame_feed(&f, ":1}", 3, &used, &ev), GD_FRAME_OBJECT);
	assert_memory_equal(ev.data, "{\"a\":1}", 7);
	size_t small = f.cap;
	assert_true(small > 0 && small <= 256 * 1024);
	assert_int_equal(gd_frame_feed(&f, " ", 1, &used, &ev), GD_FRAME_NONE);
	assert_int_equal(f.cap, small);
	gd_frame_free(&f);
	free(obj);
}

static void test_feed_zero_bytes(void **state)
{
	struct gd_frame f;
	gd_frame_init(&f, BIG, 64);
	struct gd_frame_event ev;
	size_t used = 99;
	assert_int_equal(gd_frame_feed(&f, "", 0, &used, &ev), GD_FRAME_NONE);
	assert_int_equal(ev.type, GD_FRAME_NONE);
	assert_int_equal(used, 0);
	/* also in the middle of an object */
	assert_int_equal(gd_frame_feed(&f, "{\"a\"", 4, &used, &ev), GD_FRAME_NONE);
	used = 99;
	assert_int_equal(gd_frame_feed(&f, "", 0, &used, &ev), GD_FRAME_NONE);
	assert_int_equal(used, 0);
	assert_int_equal(gd_frame_feed(&f, ":2}", 3, &used, &ev), GD_FRAME_OBJECT);
	assert_memory_equal(ev.data, "{\"a\":2}", 7);
	gd_frame_free(&f);
}

static void test_error_messages(void **state)
{
	struct gd_frame f;
	gd_frame_init(&f, 64, 4);
	struct gd_frame_event ev;
	size_t used;
	char *big = make_object(100, "a");
	assert_int_equal(gd_frame_feed(&f, big, 100, &used, &ev), GD_FRAME_ERROR);
	assert_int_equal(ev.code, E2BIG);
	assert_non_null(strstr(ev.msg, "64"));
	assert_true(used <= 100);
	assert_int_equal(gd_frame_feed(&f, big + used, 100 - used, &used, &ev), GD_FRAME_NONE);
	assert_true(gd_frame_idle(&f));
	assert_int_equal(gd_frame_feed(&f, "{[[[[", 5, &used, &ev), GD_FRAME_ERROR);
	assert_int_equal(ev.code, E2BIG);
	assert_non_null(strstr(ev.msg, "depth"));
	gd_frame_reset(&f);
	assert_int_equal(gd_frame_feed(&f, "x", 1, &used, &ev), GD_FRAME_ERROR);
	assert_int_equal(ev.code, EINVAL);
	assert_non_null(strstr(ev.msg, "object"));
	free(big);
	gd_frame_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_object),
		cmocka_unit_test(test_back_to_back_no_separator),
		cmocka_unit_test(test_back_to_back_whitespace),
		cmocka_unit_test(test_whitespace_only),
		cmocka_unit_test(test_nested_object),
		cmocka_unit_test(test_brackets_in_strings),
		cmocka_unit_test(test_escaped_quote),
		cmocka_unit_test(test_escaped_backslash),
		cmocka_unit_test(test_keys_with_brackets),
		cmocka_unit_test(test_long_string_with_braces),
		cmocka_unit_test(test_ff_idle),
		cmocka_unit_test(test_ff_mid_object),
		cmocka_unit_test(test_ff_in_string),
		cmocka_unit_test(test_ff_state_after_reset),
		cmocka_unit_test(test_size_cap_boundary),
		cmocka_unit_test(test_size_cap_then_next_object),
		cmocka_unit_test(test_size_cap_skip_tracks_strings),
		cmocka_unit_test(test_size_cap_no_buffering),
		cmocka_unit_test(test_size_cap_one_error_many_feeds),
		cmocka_unit_test(test_size_cap_ff_while_skipping),
		cmocka_unit_test(test_size_cap_ff_right_after_cap),
		cmocka_unit_test(test_size_cap_counts_whole_object),
		cmocka_unit_test(test_depth_cap),
		cmocka_unit_test(test_depth_exactly_at_limit),
		cmocka_unit_test(test_depth_in_strings_not_counted),
		cmocka_unit_test(test_depth_skip_tracks_strings),
		cmocka_unit_test(test_depth_cap_deep_input),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_garbage_skips_to_newline),
		cmocka_unit_test(test_garbage_until_ff),
		cmocka_unit_test(test_garbage_across_feeds),
		cmocka_unit_test(test_balanced_invalid_object_delivered),
		cmocka_unit_test(test_reset_drops_partial),
		cmocka_unit_test(test_reset_inside_string),
		cmocka_unit_test(test_zero_copy_whole),
		cmocka_unit_test(test_zero_copy_split),
		cmocka_unit_test(test_large_buffer_given_back),
		cmocka_unit_test(test_feed_zero_bytes),
		cmocka_unit_test(test_error_messages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
