/* The host side of the protocol, shared by guestctl and the tests: connect, synchronise,
 * call. Blocking I/O with a timeout; not for the agent. */
#ifndef GUESTD_CLIENT_H
#define GUESTD_CLIENT_H

#include <jansson.h>

#include "guestd/error.h"
#include "guestd/frame.h"

struct gd_client {
	int fd;
	int timeout_ms;       /* per wait for bytes; <= 0: wait forever */
	struct gd_frame frame;
	char *rbuf;           /* bytes read, not framed yet */
	size_t roff, rlen, rcap;
	unsigned long next_tag;
};

/* A connected, blocking, close-on-exec unix stream socket, or a negative errno. */
int gd_unix_connect(const char *path);

/* Connects to the unix socket path. */
int gd_client_connect(struct gd_client *c, const char *path, int timeout_ms, struct gd_err *err);
/* Uses an open fd (a pty, a pipe pair is not supported: fd is read and written). */
void gd_client_init_fd(struct gd_client *c, int fd, int timeout_ms);
void gd_client_close(struct gd_client *c);

/* Sends 0xFF + guest-sync-delimited with a random id, skips everything up to the agent's 0xFF,
 * and checks the reply's id. */
int gd_client_sync(struct gd_client *c, struct gd_err *err);

/* Sends one request with a fresh "id" (QMP's member, so that qemu-ga answers it too) and waits
 * for the reply with that id. On success *ret is
 * the "return" value (new reference); on an error reply, err gets its class, code and desc and
 * the function returns -code (or -EIO). */
int gd_client_call(struct gd_client *c, const char *name, json_t *args, json_t **ret,
		   struct gd_err *err);

/* Lower level: write bytes; read the next reply object (new reference). */
int gd_client_send(struct gd_client *c, const void *buf, size_t len, struct gd_err *err);
/* {"execute": name, "arguments": args, "tag": tag, "id": id}; args, tag, id borrowed, may be
 * NULL. */
int gd_client_send_request(struct gd_client *c, const char *name, json_t *args, json_t *tag,
			   json_t *id, struct gd_err *err);
int gd_client_recv(struct gd_client *c, json_t **reply, struct gd_err *err);

/* Turns an error reply's "error" object into err; returns -code (or -EIO). */
int gd_client_reply_error(json_t *error, struct gd_err *err);

#endif
