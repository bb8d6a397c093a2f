#ifndef GUESTD_NOTIFY_H
#define GUESTD_NOTIFY_H
/* Sends state ("READY=1", "STOPPING=1") to the service manager when NOTIFY_SOCKET is set.
 * Returns 0 (also when it is not set) or a negative errno. */
int notify_send(const char *state);
#endif
