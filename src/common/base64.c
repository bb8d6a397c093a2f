/* Base64 (RFC 4648 standard alphabet, padded). Both directions are table-driven here: nettle's
 * encoder, one character per step, was half of a 48 MiB guest-file-read's CPU time (perf), and
 * its decoder is lenient where the protocol is strict. nettle still defines the lengths. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/base64.h>

#include "guestd/base64.h"

size_t gd_b64_encoded_len(size_t n)
{
	return BASE64_ENCODE_RAW_LENGTH(n);
}

static const char alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Every 12-bit value as its two characters: three bytes become two table loads. */
static uint16_t pairs[4096];
static pthread_once_t pairs_once = PTHREAD_ONCE_INIT;

static void pairs_init(void)
{
	for (unsigned i = 0; i < 4096; i++) {
		char two[2] = { alphabet[i >> 6], alphabet[i & 63] };
		memcpy(&pairs[i], two, 2);
	}
}

size_t gd_b64_encode(char *dst, const void *src, size_t n)
{
	pthread_once(&pairs_once, pairs_init);
	const unsigned char *s = src;
	char *d = dst;
	size_t i = 0;
	for (; i + 3 <= n; i += 3, d += 4) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		memcpy(d, &pairs[v >> 12], 2);
		memcpy(d + 2, &pairs[v & 0xfff], 2);
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)s[i] << 16;
		d[0] = alphabet[v >> 18];
		d[1] = alphabet[(v >> 12) & 63];
		d[2] = d[3] = '=';
		d += 4;
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
		d[0] = alphabet[v >> 18];
		d[1] = alphabet[(v >> 12) & 63];
		d[2] = alphabet[(v >> 6) & 63];
		d[3] = '=';
		d += 4;
	}
	*d = 0;
	return (size_t)(d - dst);
}

char *gd_b64_encode_alloc(const void *src, size_t n)
{
	char *dst = malloc(gd_b64_encoded_len(n) + 1);
	if (dst)
		gd_b64_encode(dst, src, n);
	return dst;
}

size_t gd_b64_decoded_max(size_t len)
{
	return BASE64_DECODE_LENGTH(len);
}

/* Character values of the standard alphabet; -1 for everything else ('=' included). */
static const int16_t dtab[256] = {
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
	-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
	-1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

/* A strict decoder of its own (RFC 4648 §3.3 and §3.5): nettle's accepts whitespace, missing
 * padding, and a last quantum with three '=', and it goes one character at a time through a
 * function call, which made it the bottleneck of guest-file-write. This one takes four
 * characters a step. */
long gd_b64_decode(void *dst, const char *src, size_t len)
{
	if (len % 4 != 0)
		return -EINVAL;
	if (len == 0)
		return 0;
	const unsigned char *s = (const unsigned char *)src;
	unsigned char *d = dst;
	size_t body = len - 4;   /* every quantum but the last has no padding */
	for (size_t i = 0; i < body; i += 4) {
		int32_t a = dtab[s[i]], b = dtab[s[i + 1]], c = dtab[s[i + 2]], e = dtab[s[i + 3]];
		if ((a | b | c | e) < 0)
			return -EINVAL;
		uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)e;
		d[0] = (unsigned char)(v >> 16);
		d[1] = (unsigned char)(v >> 8);
		d[2] = (unsigned char)v;
		d += 3;
	}
	s += body;
	int32_t a = dtab[s[0]], b = dtab[s[1]];
	if ((a | b) < 0)
		return -EINVAL;
	*d++ = (unsigned char)(a << 2 | b >> 4);
	if (s[2] == '=') {
		/* one byte: "xx==", and the bits past it must be zero (canonical) */
		if (s[3] != '=' || (b & 0xf) != 0)
			return -EINVAL;
		return (long)(body / 4 * 3 + 1);
	}
	int32_t c = dtab[s[2]];
	if (c < 0)
		return -EINVAL;
	*d++ = (unsigned char)((b & 0xf) << 4 | c >> 2);
	if (s[3] == '=') {
		if ((c & 3) != 0)
			return -EINVAL;
		return (long)(body / 4 * 3 + 2);
	}
	int32_t e = dtab[s[3]];
	if (e < 0)
		return -EINVAL;
	*d = (unsigned char)((c & 3) << 6 | e);
	return (long)(body / 4 * 3 + 3);
}
