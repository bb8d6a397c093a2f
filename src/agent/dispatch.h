/* The dispatcher: looks a call's command up, applies the gates (allow/block lists, frozen
 * state, schema validation) once, and runs the handler where the table says (DESIGN.md rule 6). */
#ifndef GUESTD_DISPATCH_H
#define GUESTD_DISPATCH_H

#include "agent/call.h"

/* Starts c. It completes now or later through call_return/call_fail. */
void dispatch_call(struct call *c);

/* Checks args (borrowed, may be NULL) against cmd's schema; returns 0 or -EINVAL with err set to
 * qemu-ga's message naming the member. */
struct gd_cmd;
int dispatch_check_args(const struct gd_cmd *cmd, json_t *args, struct gd_err *err);

#endif
