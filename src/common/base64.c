/* Base64 glue over nettle (RFC 4648 standard alphabet, padded). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <nettle/base64.h>

#include "guestd/base64.h"

size_t gd_b64_encoded_len(size_t n)
{
	return BASE64_ENCODE_RAW_LENGTH(n);
}

size_t gd_b64_encode(char *dst, const void *src, size_t n)
{
	base64_encode_raw(dst, n, src);
	size_t len = BASE64_ENCODE_RAW_LENGTH(n);
	dst[len] = 0;
	return len;
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

long gd_b64_decode(void *dst, const char *src, size_t len)
{
	/* nettle ignores whitespace and accepts missing padding; the wire format is strict */
	if (len % 4 != 0)
		return -EINVAL;
	struct base64_decode_ctx ctx;
	base64_decode_init(&ctx);
	size_t out = BASE64_DECODE_LENGTH(len);
	for (size_t i = 0; i < len; i++) {
		char c = src[i];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			return -EINVAL;
	}
	if (!base64_decode_update(&ctx, &out, dst, len, src) || !base64_decode_final(&ctx))
		return -EINVAL;
	return (long)out;
}
