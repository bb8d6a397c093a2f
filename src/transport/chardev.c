/* Character devices: virtio-serial ports and serial lines (isa-serial). One stream, one
 * connection at a time. While the host is away guestd waits without waking up: for SIGIO from
 * the port where the platform gives one (Linux virtio_console), or for the device node to
 * change (inotify/kqueue through uv_fs_event) when the device itself went away. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/conn.h"
#include "guestd/log.h"
#include "platform/platform.h"
#include "transport/transport.h"

enum cd_state { CD_SESSION, CD_WAIT_HOST, CD_WAIT_PATH, CD_STOPPED };

struct chardev {
	struct transport *t;
	bool serial;              /* isa-serial: a tty at a fixed speed */
	enum cd_state state;
	int fd;                   /* the device, kept open while it exists; -1 otherwise */
	bool host_events;         /* the platform raises SIGIO on host connect/disconnect */
	struct conn *conn;
	uv_fs_event_t *watch;     /* while CD_WAIT_PATH */
	char watch_dir[PATH_MAX]; /* the directory watched while CD_WAIT_PATH */
	ino_t node_ino;           /* the node (or udev's symlink) last opened, to see it replaced */
	struct timespec node_ctime;
	struct chardev *next;     /* all chardevs, for SIGIO */
};

static struct chardev *chardevs;
static uv_signal_t *sigio;

static void wait_path(struct chardev *cd);

static int tty_raw(int fd, bool serial)
{
	struct termios tio;
	if (!isatty(fd))
		return 0;
	if (tcgetattr(fd, &tio) < 0)
		return -errno;
	cfmakeraw(&tio);
	tio.c_cflag |= CLOCAL | CREAD;
	tio.c_cc[VMIN] = 1;
	tio.c_cc[VTIME] = 0;
	if (serial) {
		cfsetispeed(&tio, B38400);
		cfsetospeed(&tio, B38400);
	}
	return tcsetattr(fd, TCSANOW, &tio) < 0 ? -errno : 0;
}

static void on_conn_end(struct conn *cn, int err, void *data);

static void start_session(struct chardev *cd)
{
	/* the connection owns a duplicate: closing it (and cancelling its pending writes) leaves
	 * the device open, so host events keep coming and the port is not reopened */
	int dfd = fcntl(cd->fd, F_DUPFD_CLOEXEC, 3);
	uv_pipe_t *p = malloc(sizeof *p);
	if (dfd < 0 || !p) {
		gd_err_log("%s: cannot start a session: %s", cd->t->path, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		free(p);
		return;
	}
	uv_pipe_init(cd->t->loop, p, 0);
	int r = uv_pipe_open(p, dfd);
	if (r < 0) {
		gd_err_log("%s: %s", cd->t->path, uv_strerror(r));
		close(dfd);
		uv_close((uv_handle_t *)p, (uv_close_cb)free);
		return;
	}
	cd->state = CD_SESSION;
	cd->conn = conn_new((uv_stream_t *)p, cd->t->ops->method, 0, on_conn_end, cd);
}

static void close_fd(struct chardev *cd)
{
	if (cd->fd >= 0)
		close(cd->fd);
	cd->fd = -1;
}

/* Opens the device and serves it. Returns 0, or a negative errno when it cannot be opened. */
static int open_device(struct chardev *cd)
{
	int fd = open(cd->t->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = tty_raw(fd, cd->serial);
	if (r < 0)
		gd_warn("%s: cannot set raw mode: %s", cd->t->path, strerror(-r));
	cd->fd = fd;
	struct stat st;
	if (lstat(cd->t->path, &st) == 0) {
		cd->node_ino = st.st_ino;
		cd->node_ctime = st.st_ctim;
	}
	/* ttys (serial lines, and ptys in tests) hang up instead: only ports get host events */
	cd->host_events = !cd->serial && !isatty(fd) && pf_chardev_watch_host(fd) == 0;
	gd_info("serving %s on %s", cd->t->ops->method, cd->t->path);
	start_session(cd);
	return 0;
}

static void on_conn_end(struct conn *cn, int err, void *data)
{
	struct chardev *cd = data;
	(void)cn;
	cd->conn = NULL;
	if (cd->state == CD_STOPPED)
		return;
	if (err == 0 && cd->host_events) {
		/* the host closed its end; the port stays. Wait for SIGIO, unless the host is
		 * already back. Partial input went with the connection. */
		if (pf_chardev_host_connected(cd->fd)) {
			start_session(cd);
			return;
		}
		gd_debug("%s: host disconnected, waiting", cd->t->path);
		cd->state = CD_WAIT_HOST;
		return;
	}
	/* the device failed or went away (hot unplug, a hung-up tty): reopen when its node
	 * changes, never in a loop */
	gd_info("%s: device closed (%s), waiting for it", cd->t->path,
		err ? uv_strerror(err) : "end of file");
	close_fd(cd);
	wait_path(cd);
}

static void on_sigio(uv_signal_t *s, int sig)
{
	(void)s;
	(void)sig;
	for (struct chardev *cd = chardevs; cd; cd = cd->next)
		if (cd->state == CD_WAIT_HOST && pf_chardev_host_connected(cd->fd)) {
			gd_debug("%s: host connected", cd->t->path);
			start_session(cd);
		}
}

/* Whether the device node is there and is not the one that hung up. */
static bool node_new(const struct chardev *cd)
{
	struct stat st;
	if (lstat(cd->t->path, &st) < 0)
		return false;
	return st.st_ino != cd->node_ino || st.st_ctim.tv_sec != cd->node_ctime.tv_sec ||
	       st.st_ctim.tv_nsec != cd->node_ctime.tv_nsec;
}

/* The deepest existing directory on the way to path (udev makes /dev/virtio-ports itself only
 * when the first port appears). */
static void deepest_dir(const char *path, char *dir, size_t n)
{
	struct stat st;
	snprintf(dir, n, "%s", path);
	do {
		char *slash = strrchr(dir, '/');
		if (!slash || slash == dir) {
			snprintf(dir, n, slash ? "/" : "."); /* a relative name: the working directory */
			return;
		}
		*slash = 0;
	} while (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode));
}

static void stop_watch(struct chardev *cd)
{
	if (cd->watch)
		uv_close((uv_handle_t *)cd->watch, (uv_close_cb)free);
	cd->watch = NULL;
}

static void on_path_event(uv_fs_event_t *h, const char *name, int events, int status)
{
	struct chardev *cd = h->data;
	(void)name;
	(void)events;
	(void)status;
	if (cd->state != CD_WAIT_PATH)
		return;
	char dir[PATH_MAX];
	deepest_dir(cd->t->path, dir, sizeof dir);
	if (node_new(cd) || strcmp(dir, cd->watch_dir) != 0) {
		/* the node appeared, or a directory on the way did (or went): look again */
		stop_watch(cd);
		wait_path(cd);
	}
}

/* Opens the device if a new node is there; otherwise watches the deepest existing directory on
 * the way to it, without waking up until something in it changes. */
static void wait_path(struct chardev *cd)
{
	cd->state = CD_WAIT_PATH;
	for (int tries = 0; tries < 16; tries++) {
		/* the same node is not reopened, or a dead device would be reopened in a loop */
		bool fresh = node_new(cd);
		if (fresh) {
			int r = open_device(cd);
			if (r == 0)
				return;
			gd_warn("%s: %s; waiting for it to change", cd->t->path, strerror(-r));
		}
		deepest_dir(cd->t->path, cd->watch_dir, sizeof cd->watch_dir);
		cd->watch = malloc(sizeof *cd->watch);
		if (!cd->watch)
			return;
		uv_fs_event_init(cd->t->loop, cd->watch);
		cd->watch->data = cd;
		int r = uv_fs_event_start(cd->watch, on_path_event, cd->watch_dir, 0);
		if (r < 0) {
			gd_err_log("%s: cannot watch %s: %s", cd->t->path, cd->watch_dir,
				   uv_strerror(r));
			stop_watch(cd);
			return;
		}
		/* what appeared between the look and the watch is seen now, or by the watch */
		char dir[PATH_MAX];
		deepest_dir(cd->t->path, dir, sizeof dir);
		if ((fresh || !node_new(cd)) && strcmp(dir, cd->watch_dir) == 0)
			return;
		stop_watch(cd);
	}
	gd_err_log("%s: the path keeps changing; not watching it any more", cd->t->path);
}

static int cd_start(struct transport *t, bool serial, struct gd_err *err)
{
	struct chardev *cd = calloc(1, sizeof *cd);
	if (!cd)
		return gd_err_set(err, GD_ERR_GENERIC, ENOMEM, "out of memory");
	cd->t = t;
	cd->serial = serial;
	cd->fd = -1;
	if (!sigio && !serial) {
		sigio = malloc(sizeof *sigio);
		if (sigio) {
			uv_signal_init(t->loop, sigio);
			uv_signal_start(sigio, on_sigio, SIGIO);
			uv_unref((uv_handle_t *)sigio); /* never the reason the loop runs on */
		}
	}
	int r = open_device(cd);
	if (r < 0) {
		bool missing = r == -ENOENT || r == -ENXIO || r == -ENODEV;
		if (!missing || !agent.cfg.retry_path) {
			free(cd);
			if (!chardevs && sigio) {
				uv_close((uv_handle_t *)sigio, (uv_close_cb)free);
				sigio = NULL;
			}
			return gd_err_set(err, GD_ERR_GENERIC, -r, "%s %s: %s%s", t->ops->method, t->path,
					  strerror(-r), missing ? " (use --retry-path to wait for it)" : "");
		}
		gd_info("%s does not exist yet, waiting for it", t->path);
		wait_path(cd);
	}
	cd->next = chardevs;
	chardevs = cd;
	t->priv = cd;
	return 0;
}

static int virtio_start(struct transport *t, struct gd_err *err)
{
	return cd_start(t, false, err);
}

static int serial_start(struct transport *t, struct gd_err *err)
{
	return cd_start(t, true, err);
}

static void cd_stop(struct transport *t)
{
	struct chardev *cd = t->priv;
	cd->state = CD_STOPPED;
	for (struct chardev **pp = &chardevs; *pp; pp = &(*pp)->next)
		if (*pp == cd) {
			*pp = cd->next;
			break;
		}
	if (cd->conn) {
		cd->conn->on_end = NULL; /* cd is gone by the time the close completes */
		conn_close(cd->conn);
	}
	stop_watch(cd);
	close_fd(cd);
	free(cd);
	if (!chardevs && sigio) {
		uv_close((uv_handle_t *)sigio, (uv_close_cb)free);
		sigio = NULL;
	}
}

const struct transport_ops transport_virtio = {
	.method = "virtio-serial",
	.start = virtio_start,
	.stop = cd_stop,
};

const struct transport_ops transport_serial = {
	.method = "isa-serial",
	.start = serial_start,
	.stop = cd_stop,
};
