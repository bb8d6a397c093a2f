/* Fast JSON dump and parse for large texts (see jsonfast.h). Strings are scanned 8 bytes at a
 * time: a 64 MiB base64 string costs a few memcpy-speed passes instead of jansson's
 * per-character UTF-8 iteration. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guestd/jsonfast.h"

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull
#define MAX_DEPTH 2048   /* jansson's JSON_PARSER_MAX_DEPTH */

static inline uint64_t load8(const char *p)
{
	uint64_t w;
	memcpy(&w, p, sizeof w);
	return w;
}

/* Non-zero when a byte of w is below n (n <= 128), or equals c. Exact as to "any byte". */
static inline uint64_t has_below(uint64_t w, unsigned n)
{
	return (w - ONES * n) & ~w & HIGHS;
}

static inline uint64_t has_byte(uint64_t w, unsigned c)
{
	uint64_t x = w ^ (ONES * c);
	return (x - ONES) & ~x & HIGHS;
}

/* Bytes from s[0] before the first that needs escaping when dumped: '"', '\\', < 0x20. */
static size_t plain_run(const char *s, size_t n)
{
	size_t i = 0;
	while (i + 8 <= n) {
		uint64_t w = load8(s + i);
		if (has_below(w, 0x20) | has_byte(w, '"') | has_byte(w, '\\'))
			break;
		i += 8;
	}
	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == '"' || c == '\\')
			break;
		i++;
	}
	return i;
}

/* Appends without growing: the caller reserved. */
static inline void put(struct gd_buf *b, const void *p, size_t n)
{
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static int dump_string(struct gd_buf *b, const char *s, size_t n)
{
	if (gd_buf_reserve(b, n + 2) < 0)
		return -ENOMEM;
	put(b, "\"", 1);
	while (n > 0) {
		size_t k = plain_run(s, n);
		if (gd_buf_reserve(b, k + 7) < 0)
			return -ENOMEM;
		put(b, s, k);
		s += k;
		n -= k;
		if (n == 0)
			break;
		/* jansson's escapes */
		char seq[8];
		unsigned char c = (unsigned char)*s;
		switch (c) {
		case '"': put(b, "\\\"", 2); break;
		case '\\': put(b, "\\\\", 2); break;
		case '\b': put(b, "\\b", 2); break;
		case '\f': put(b, "\\f", 2); break;
		case '\n': put(b, "\\n", 2); break;
		case '\r': put(b, "\\r", 2); break;
		case '\t': put(b, "\\t", 2); break;
		default:
			snprintf(seq, sizeof seq, "\\u%04X", c);
			put(b, seq, 6);
		}
		s++;
		n--;
	}
	if (gd_buf_reserve(b, 1) < 0)
		return -ENOMEM;
	put(b, "\"", 1);
	return 0;
}

static int dump(json_t *v, struct gd_buf *b, unsigned depth)
{
	if (depth > MAX_DEPTH)
		return -ENOMEM;
	char tmp[32];
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		if (gd_buf_append(b, "{", 1) < 0)
			return -ENOMEM;
		const char *key;
		json_t *m;
		bool first = true;
		json_object_foreach(v, key, m) {
			if (!first && gd_buf_append(b, ", ", 2) < 0)
				return -ENOMEM;
			first = false;
			if (dump_string(b, key, strlen(key)) < 0 || gd_buf_append(b, ": ", 2) < 0 ||
			    dump(m, b, depth + 1) < 0)
				return -ENOMEM;
		}
		return gd_buf_append(b, "}", 1);
	}
	case JSON_ARRAY: {
		if (gd_buf_append(b, "[", 1) < 0)
			return -ENOMEM;
		for (size_t i = 0; i < json_array_size(v); i++) {
			if ((i > 0 && gd_buf_append(b, ", ", 2) < 0) ||
			    dump(json_array_get(v, i), b, depth + 1) < 0)
				return -ENOMEM;
		}
		return gd_buf_append(b, "]", 1);
	}
	case JSON_STRING:
		return dump_string(b, json_string_value(v), json_string_length(v));
	case JSON_INTEGER: {
		int n = snprintf(tmp, sizeof tmp, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return gd_buf_append(b, tmp, (size_t)n);
	}
	case JSON_REAL: {
		/* jansson's own formatting of reals (precision, ".0", exponent) */
		char *s = json_dumps(v, JSON_ENCODE_ANY);
		int r = s ? gd_buf_append(b, s, strlen(s)) : -ENOMEM;
		free(s);
		return r;
	}
	case JSON_TRUE:
		return gd_buf_append(b, "true", 4);
	case JSON_FALSE:
		return gd_buf_append(b, "false", 5);
	case JSON_NULL:
		return gd_buf_append(b, "null", 4);
	}
	return -ENOMEM;
}

int gd_json_dump(json_t *v, struct gd_buf *out)
{
	size_t mark = out->len;
	if (dump(v, out, 0) < 0) {
		out->len = mark;
		return -ENOMEM;
	}
	return 0;
}

/* The parser: NULL means "not in the subset, or invalid": the caller asks jansson. */
struct parser {
	const char *p, *end;
	unsigned depth, max_depth;
	char *tmp;          /* unescaping buffer */
	size_t tmpcap;
};

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\t' || *ps->p == '\r'))
		ps->p++;
}

/* Bytes from s before the first '"', '\\', control or non-ASCII byte. */
static size_t str_run(const char *s, size_t n)
{
	size_t i = 0;
	while (i + 8 <= n) {
		uint64_t w = load8(s + i);
		if ((w & HIGHS) | has_below(w, 0x20) | has_byte(w, '"') | has_byte(w, '\\'))
			break;
		i += 8;
	}
	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\')
			break;
		i++;
	}
	return i;
}

/* A string at ps->p (just past the opening quote); *len gets its length. The result points into
 * the input (no escapes) or into ps->tmp, and is valid until the next call. */
static const char *parse_str(struct parser *ps, size_t *len)
{
	const char *s = ps->p;
	size_t k = str_run(s, (size_t)(ps->end - s));
	if (s + k < ps->end && s[k] == '"') {
		ps->p = s + k + 1;
		*len = k;
		return s;
	}
	/* escapes: unescape into tmp */
	size_t n = 0;
	for (;;) {
		size_t run = str_run(ps->p, (size_t)(ps->end - ps->p));
		if (n + run + 1 > ps->tmpcap) {
			size_t cap = (n + run + 1) * 2;
			char *nt = realloc(ps->tmp, cap);
			if (!nt)
				return NULL;
			ps->tmp = nt;
			ps->tmpcap = cap;
		}
		memcpy(ps->tmp + n, ps->p, run);
		n += run;
		ps->p += run;
		if (ps->p >= ps->end)
			return NULL;
		char c = *ps->p++;
		if (c == '"')
			break;
		if (c != '\\' || ps->p >= ps->end)
			return NULL;   /* control or non-ASCII byte: jansson checks those */
		switch (*ps->p++) {
		case '"': c = '"'; break;
		case '\\': c = '\\'; break;
		case '/': c = '/'; break;
		case 'b': c = '\b'; break;
		case 'f': c = '\f'; break;
		case 'n': c = '\n'; break;
		case 'r': c = '\r'; break;
		case 't': c = '\t'; break;
		default: return NULL;   /* \u and invalid escapes */
		}
		ps->tmp[n++] = c;
	}
	*len = n;
	return ps->tmp;
}

static json_t *parse_value(struct parser *ps);

static json_t *parse_object(struct parser *ps)
{
	json_t *o = json_object();
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '}') {
		ps->p++;
		return o;
	}
	while (o) {
		skip_ws(ps);
		if (ps->p >= ps->end || *ps->p != '"')
			break;
		ps->p++;
		size_t klen;
		const char *k = parse_str(ps, &klen);
		char *key = k ? strndup(k, klen) : NULL;
		if (!key)
			break;
		skip_ws(ps);
		json_t *v = NULL;
		if (ps->p < ps->end && *ps->p == ':') {
			ps->p++;
			v = parse_value(ps);
		}
		/* a repeated key replaces the earlier value, as in jansson */
		int r = v ? json_object_set_new_nocheck(o, key, v) : -1;
		free(key);
		if (r < 0)
			break;
		skip_ws(ps);
		if (ps->p >= ps->end)
			break;
		char c = *ps->p++;
		if (c == '}')
			return o;
		if (c != ',')
			break;
	}
	json_decref(o);
	return NULL;
}

static json_t *parse_array(struct parser *ps)
{
	json_t *a = json_array();
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == ']') {
		ps->p++;
		return a;
	}
	while (a) {
		json_t *v = parse_value(ps);
		if (!v || json_array_append_new(a, v) < 0)
			break;
		skip_ws(ps);
		if (ps->p >= ps->end)
			break;
		char c = *ps->p++;
		if (c == ']')
			return a;
		if (c != ',')
			break;
	}
	json_decref(a);
	return NULL;
}

static json_t *parse_int(struct parser *ps)
{
	const char *p = ps->p;
	bool neg = false;
	if (p < ps->end && *p == '-') {
		neg = true;
		p++;
	}
	if (p >= ps->end || *p < '0' || *p > '9')
		return NULL;
	if (*p == '0' && p + 1 < ps->end && p[1] >= '0' && p[1] <= '9')
		return NULL;   /* leading zero: invalid, jansson says so */
	uint64_t v = 0;
	int digits = 0;
	while (p < ps->end && *p >= '0' && *p <= '9') {
		if (++digits > 18)
			return NULL;   /* may not fit: jansson decides */
		v = v * 10 + (uint64_t)(*p - '0');
		p++;
	}
	if (p < ps->end && (*p == '.' || *p == 'e' || *p == 'E'))
		return NULL;   /* a real: jansson formats and rounds those */
	ps->p = p;
	return json_integer(neg ? -(json_int_t)v : (json_int_t)v);
}

static json_t *parse_word(struct parser *ps, const char *w, json_t *v)
{
	size_t n = strlen(w);
	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, w, n) != 0)
		return NULL;
	ps->p += n;
	return v;
}

static json_t *parse_value(struct parser *ps)
{
	skip_ws(ps);
	if (ps->p >= ps->end)
		return NULL;
	char c = *ps->p;
	json_t *v = NULL;
	switch (c) {
	case '{':
	case '[':
		if (++ps->depth > ps->max_depth)
			return NULL;
		ps->p++;
		v = c == '{' ? parse_object(ps) : parse_array(ps);
		ps->depth--;
		return v;
	case '"': {
		ps->p++;
		size_t n;
		const char *s = parse_str(ps, &n);
		return s ? json_stringn_nocheck(s, n) : NULL;   /* ASCII, no NUL: valid */
	}
	case 't':
		return parse_word(ps, "true", json_true());
	case 'f':
		return parse_word(ps, "false", json_false());
	case 'n':
		return parse_word(ps, "null", json_null());
	default:
		return parse_int(ps);
	}
}

json_t *gd_json_load_fast(const char *buf, size_t len, unsigned max_depth)
{
	struct parser ps = { .p = buf, .end = buf + len,
			     .max_depth = max_depth && max_depth < MAX_DEPTH ? max_depth : MAX_DEPTH };
	skip_ws(&ps);
	if (ps.p >= ps.end || (*ps.p != '{' && *ps.p != '['))
		return NULL;   /* jansson takes only an object or an array at top level */
	json_t *v = parse_value(&ps);
	free(ps.tmp);
	if (v) {
		skip_ws(&ps);
		if (ps.p != ps.end) {
			json_decref(v);
			v = NULL;
		}
	}
	return v;
}
