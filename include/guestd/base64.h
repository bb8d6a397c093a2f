/* Base64 (RFC 4648, standard alphabet, padded) on top of nettle. */
#ifndef GUESTD_BASE64_H
#define GUESTD_BASE64_H

#include <stddef.h>

/* Bytes needed to encode n bytes, without the terminating NUL. */
size_t gd_b64_encoded_len(size_t n);
/* Encodes n bytes of src into dst (room for gd_b64_encoded_len(n) + 1); returns the length. */
size_t gd_b64_encode(char *dst, const void *src, size_t n);
/* Returns a malloc'd NUL-terminated encoding, or NULL on ENOMEM. */
char *gd_b64_encode_alloc(const void *src, size_t n);
/* Upper bound of decoded bytes for an encoding of len characters. */
size_t gd_b64_decoded_max(size_t len);
/* Decodes len characters into dst (room for gd_b64_decoded_max(len)); returns the byte count,
 * or -EINVAL when src is not valid padded base64. */
long gd_b64_decode(void *dst, const char *src, size_t len);

#endif
