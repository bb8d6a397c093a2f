/* Fast paths for large JSON texts (file transfers: tens of MiB of base64 in one string), where
 * jansson's per-character dump and parse are the bottleneck. Output and accepted input are
 * exactly jansson's: the dumper writes what json_dump_callback(v, 0) writes; the parser accepts
 * a subset of JSON and says "not mine" for anything else, so the caller falls back to jansson
 * (and gets jansson's error messages). */
#ifndef GUESTD_JSONFAST_H
#define GUESTD_JSONFAST_H

#include <stddef.h>
#include <jansson.h>

#include "guestd/proto.h"

/* Appends v (borrowed) serialised as json_dump_callback(v, 0) would (qemu-ga's spacing) to out.
 * Returns 0 or -ENOMEM (out->len is then unchanged). */
int gd_json_dump(json_t *v, struct gd_buf *out);

/* Parses buf[0, len) when it is one JSON value within the fast subset: objects, arrays, strings
 * of printable ASCII with simple escapes (no \u), integers, true, false, null, and whitespace.
 * Returns a new reference, or NULL when the text is outside the subset, invalid or too deep
 * (parse it with jansson then). */
json_t *gd_json_load_fast(const char *buf, size_t len, unsigned max_depth);

#endif
