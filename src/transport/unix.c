/* unix-listen: a listening unix socket, several clients at once, each its own connection. */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/conn.h"
#include "guestd/client.h"
#include "guestd/log.h"
#include "transport/transport.h"

struct unix_priv {
	uv_pipe_t server;
	dev_t dev;          /* the socket file we made, so stop only removes ours */
	ino_t ino;
	unsigned serial;
};

/* A group name, or a number when no group has that name (as chown(1)): numbers work where
 * names cannot be looked up, as in a fully static build without the NSS libraries. */
static int group_id(const char *name, gid_t *gid)
{
	struct group *g = getgrnam(name);
	if (g) {
		*gid = g->gr_gid;
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long n = strtoul(name, &end, 10);
	if (errno || end == name || *end || name[0] == '-' || n >= (gid_t)-1)
		return -ENOENT;
	*gid = (gid_t)n;
	return 0;
}

/* A socket file left by a dead agent is replaced; a live one, or a file that is not a socket,
 * is an error. */
static int check_stale(const char *path, struct gd_err *err)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : gd_err_errno(err, errno, "%s", path);
	if (!S_ISSOCK(st.st_mode))
		return gd_err_set(err, GD_ERR_GENERIC, EEXIST, "%s exists and is not a socket", path);
	int fd = gd_unix_connect(path);
	if (fd >= 0) {
		close(fd);
		return gd_err_set(err, GD_ERR_GENERIC, EADDRINUSE,
				  "%s: another agent is listening on it", path);
	}
	if (fd != -ECONNREFUSED)
		return gd_err_errno(err, -fd, "%s", path);
	gd_info("removing stale socket %s", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return gd_err_errno(err, errno, "unlink %s", path);
	return 0;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct transport *t = server->data;
	struct unix_priv *u = t->priv;
	if (status < 0) {
		gd_warn("unix %s: accept: %s", t->path, uv_strerror(status));
		return;
	}
	uv_pipe_t *client = malloc(sizeof *client);
	if (!client)
		return;
	uv_pipe_init(t->loop, client, 0);
	if (uv_accept(server, (uv_stream_t *)client) < 0) {
		uv_close((uv_handle_t *)client, (uv_close_cb)free);
		return;
	}
	char name[64];
	snprintf(name, sizeof name, "unix #%u", ++u->serial);
	conn_new((uv_stream_t *)client, name, CONN_LINGER, NULL, NULL);
}

static int unix_start(struct transport *t, struct gd_err *err)
{
	int r = check_stale(t->path, err);
	if (r < 0)
		return r;
	struct unix_priv *u = calloc(1, sizeof *u);
	if (!u)
		return gd_err_set(err, GD_ERR_GENERIC, ENOMEM, "out of memory");
	uv_pipe_init(t->loop, &u->server, 0);
	u->server.data = t;
	/* created private, then opened up to the configured mode: never wider in between */
	mode_t old = umask(0177);
	r = uv_pipe_bind(&u->server, t->path);
	umask(old);
	if (r < 0)
		goto fail;
	if (chmod(t->path, (mode_t)agent.cfg.socket_mode) < 0) {
		r = -errno;
		goto fail_unlink;
	}
	if (agent.cfg.socket_group) {
		gid_t gid;
		if (group_id(agent.cfg.socket_group, &gid) < 0) {
			unlink(t->path);
			uv_close((uv_handle_t *)&u->server, (uv_close_cb)free);
			return gd_err_set(err, GD_ERR_GENERIC, ENOENT, "socket group '%s' not found",
					  agent.cfg.socket_group);
		}
		if (chown(t->path, (uid_t)-1, gid) < 0) {
			r = -errno;
			goto fail_unlink;
		}
	}
	struct stat st;
	if (stat(t->path, &st) == 0) {
		u->dev = st.st_dev;
		u->ino = st.st_ino;
	}
	r = uv_listen((uv_stream_t *)&u->server, 64, on_connection);
	if (r < 0)
		goto fail_unlink;
	t->priv = u;
	gd_info("listening on unix socket %s", t->path);
	return 0;
fail_unlink:
	unlink(t->path);
fail:
	uv_close((uv_handle_t *)&u->server, (uv_close_cb)free);
	return gd_err_set(err, GD_ERR_GENERIC, -r, "unix-listen %s: %s", t->path, uv_strerror(r));
}

static void unix_stop(struct transport *t)
{
	struct unix_priv *u = t->priv;
	struct stat st;
	if (stat(t->path, &st) == 0 && st.st_dev == u->dev && st.st_ino == u->ino)
		unlink(t->path);
	uv_close((uv_handle_t *)&u->server, (uv_close_cb)free);
}

const struct transport_ops transport_unix = {
	.method = "unix-listen",
	.start = unix_start,
	.stop = unix_stop,
};
