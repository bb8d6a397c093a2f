/* Streamed replies (GD_RUN_STREAM): the value is produced piece by piece on the threadpool and
 * written while the next piece is produced, never more than a few pieces ahead of the peer. */
#ifndef GUESTD_STREAM_H
#define GUESTD_STREAM_H

#include "agent/call.h"

/* Runs c's stream handler on a worker, then produces its pieces (dispatcher). */
void stream_start(struct call *c);
/* Produces the next piece unless one is being produced or the last one was (conn, when the
 * output has drained). */
void stream_resume(struct call *c);

#endif
