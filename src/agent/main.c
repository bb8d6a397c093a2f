/* guestd: wiring only. Configuration, daemon and pidfile, signals, transports, the loop. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "agent/agent.h"
#include "agent/conn.h"
#include "agent/notify.h"
#include "gd_config.h"
#include "guestd/log.h"
#include "platform/platform.h"
#include "transport/transport.h"

#define GD_DEFAULT_PIDFILE GD_DEFAULT_STATEDIR "/guestd.pid"

static struct transport *transports;
static uv_signal_t sig_term, sig_int, sig_hup;
static uv_timer_t grace;
static int pidfile_fd = -1;
static int ready_fd = -1; /* daemonize: tells the waiting parent how startup went */

static void on_grace(uv_timer_t *t)
{
	gd_warn("requests still running at shutdown; exiting anyway");
	uv_stop(t->loop);
}

static void shutdown_agent(void)
{
	if (agent.stopping)
		return;
	agent.stopping = true;
	notify_send("STOPPING=1");
	while (transports) {
		struct transport *t = transports;
		transports = t->next;
		transport_close(t);
	}
	conn_close_all();
	uv_close((uv_handle_t *)&sig_term, NULL);
	uv_close((uv_handle_t *)&sig_int, NULL);
	uv_close((uv_handle_t *)&sig_hup, NULL);
	/* threadpool work cannot be cancelled once it runs: give it a moment, not forever */
	uv_timer_init(agent.loop, &grace);
	uv_timer_start(&grace, on_grace, 2000, 0);
	uv_unref((uv_handle_t *)&grace);
}

static void on_signal(uv_signal_t *s, int sig)
{
	if (sig == SIGHUP) {
		int r = gd_log_reopen();
		if (r < 0)
			gd_err_log("cannot reopen the log file: %s", strerror(-r));
		return;
	}
	(void)s;
	gd_info("signal %d: shutting down", sig);
	shutdown_agent();
}

static int write_pidfile(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "guestd: cannot open pidfile %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (lockf(fd, F_TLOCK, 0) < 0) {
		fprintf(stderr, "guestd: %s is locked: another guestd is running\n", path);
		close(fd);
		return -1;
	}
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || write(fd, buf, (size_t)n) != n) {
		fprintf(stderr, "guestd: cannot write pidfile %s: %s\n", path, strerror(errno));
		close(fd);
		return -1;
	}
	pidfile_fd = fd;
	return 0;
}

/* Forks into the background; the parent exits with the child's startup status. */
static int daemonize(void)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		close(p[1]);
		char st = 1;
		if (read(p[0], &st, 1) != 1)
			st = 1;
		_exit(st);
	}
	close(p[0]);
	setsid();
	pid = fork();
	if (pid < 0)
		_exit(1);
	if (pid > 0)
		_exit(0);
	ready_fd = p[1];
	if (chdir("/") < 0)
		return -1;
	umask(0022);
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		if (null > 2)
			close(null);
	}
	return 0;
}

/* Tells the daemonize parent how startup went. Until then stderr stays the caller's, so that
 * a startup error (pidfile locked, channel missing) is seen where guestd -d was typed; after a
 * good start it goes to /dev/null unless debugging. */
static void report_ready(char status)
{
	if (ready_fd >= 0) {
		if (status == 0 && gd_log_get_level() < GD_LOG_DEBUG) {
			int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
			if (null >= 0) {
				dup2(null, STDERR_FILENO);
				close(null);
			}
		}
		ssize_t w = write(ready_fd, &status, 1);
		(void)w;
		close(ready_fd);
		ready_fd = -1;
	}
}

static int start_transports(void)
{
	for (size_t i = 0; i < agent.cfg.nlisteners; i++) {
		const struct listener_cfg *l = &agent.cfg.listeners[i];
		const char *path = l->path ? l->path : config_default_path(l->method);
		struct transport *t;
		struct gd_err err = GD_ERR_INIT;
		if (transport_open(agent.loop, l->method, path, &t, &err) < 0) {
			gd_err_log("%s", err.desc);
			gd_err_clear(&err);
			return -1;
		}
		t->next = transports;
		transports = t;
	}
	return 0;
}

int main(int argc, char **argv)
{
	config_defaults(&agent.cfg);
	enum config_action act = config_load(&agent.cfg, argc, argv);
	if (act != CONFIG_RUN) {
		config_free(&agent.cfg);
		return act == CONFIG_EXIT_OK ? 0 : 1;
	}
	gd_log_set_level(agent.cfg.verbose >= 2 ? GD_LOG_DEBUG
			 : agent.cfg.verbose == 1 ? GD_LOG_INFO : GD_LOG_WARN);
	/* under systemd Type=notify the service manager tracks this process: forking away from
	 * it would lose READY=1, so daemon=true / -d are ignored there (the log stays on stderr,
	 * which is the journal) */
	const char *notify = getenv("NOTIFY_SOCKET");
	bool notify_ignored_daemon = false;
	if (agent.cfg.daemonize && notify && *notify) {
		agent.cfg.daemonize = false;
		notify_ignored_daemon = true;
	}
	/* daemonized without -f: the default pidfile, as qemu-ga's /var/run/qemu-ga.pid */
	if (agent.cfg.daemonize && !agent.cfg.pidfile) {
		agent.cfg.pidfile = strdup(GD_DEFAULT_PIDFILE);
		if (!agent.cfg.pidfile) {
			fprintf(stderr, "guestd: out of memory\n");
			config_free(&agent.cfg);
			return 1;
		}
	}
	if (agent.cfg.logfile) {
		int r = gd_log_open(GD_LOG_FILE, "guestd", agent.cfg.logfile);
		if (r < 0) {
			fprintf(stderr, "guestd: cannot open log file %s: %s\n", agent.cfg.logfile,
				strerror(-r));
			config_free(&agent.cfg);
			return 1;
		}
	} else if (agent.cfg.daemonize || agent.cfg.syslog) {
		gd_log_open(GD_LOG_SYSLOG, "guestd", NULL);
	}
	if (notify_ignored_daemon)
		gd_warn("NOTIFY_SOCKET is set (systemd Type=notify): not daemonizing");
	if (agent.cfg.daemonize && daemonize() < 0) {
		fprintf(stderr, "guestd: cannot daemonize: %s\n", strerror(errno));
		report_ready(1);
		config_free(&agent.cfg);
		return 1;
	}
	if (agent.cfg.pidfile && write_pidfile(agent.cfg.pidfile) < 0) {
		report_ready(1);
		config_free(&agent.cfg);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	pf_mem_init();
	agent.loop = uv_default_loop();
	uv_signal_init(agent.loop, &sig_term);
	uv_signal_init(agent.loop, &sig_int);
	uv_signal_init(agent.loop, &sig_hup);
	uv_signal_start(&sig_term, on_signal, SIGTERM);
	uv_signal_start(&sig_int, on_signal, SIGINT);
	uv_signal_start(&sig_hup, on_signal, SIGHUP);

	int status = 0;
	if (start_transports() < 0) {
		status = 1;
		report_ready(1);
		shutdown_agent();
	} else {
		gd_info("guestd %s ready", GD_VERSION);
		notify_send("READY=1");
		report_ready(0);
	}
	uv_run(agent.loop, UV_RUN_DEFAULT);

	uv_close((uv_handle_t *)&grace, NULL);
	uv_run(agent.loop, UV_RUN_NOWAIT);
	if (uv_loop_close(agent.loop) == 0 && status == 0)
		gd_info("stopped");
	if (pidfile_fd >= 0) {
		unlink(agent.cfg.pidfile);
		close(pidfile_fd);
	}
	gd_log_close();
	config_free(&agent.cfg);
	return status;
}
