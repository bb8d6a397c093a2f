/* The one log API: stderr, syslog or an append-only file reopened on SIGHUP. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "guestd/log.h"

static enum gd_log_level log_level = GD_LOG_WARN;
static enum gd_log_sink log_sink = GD_LOG_STDERR;
static int log_fd = -1;
static char *log_path;
static const char *log_ident = "guestd";

void gd_log_set_level(enum gd_log_level level)
{
	log_level = level;
}

enum gd_log_level gd_log_get_level(void)
{
	return log_level;
}

static int open_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	return fd < 0 ? -errno : fd;
}

int gd_log_open(enum gd_log_sink sink, const char *ident, const char *path)
{
	if (ident)
		log_ident = ident;
	if (sink == GD_LOG_FILE) {
		int fd = open_file(path);
		if (fd < 0)
			return fd;
		gd_log_close();
		log_fd = fd;
		log_path = strdup(path);
	} else {
		gd_log_close();
		if (sink == GD_LOG_SYSLOG)
			openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	}
	log_sink = sink;
	return 0;
}

int gd_log_reopen(void)
{
	if (log_sink != GD_LOG_FILE || !log_path)
		return 0;
	int fd = open_file(log_path);
	if (fd < 0)
		return fd;
	dup2(fd, log_fd);
	close(fd);
	return 0;
}

void gd_log_close(void)
{
	if (log_sink == GD_LOG_SYSLOG)
		closelog();
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
	free(log_path);
	log_path = NULL;
	log_sink = GD_LOG_STDERR;
}

void gd_log(enum gd_log_level level, const char *fmt, ...)
{
	static const char *const tags[] = { "error", "warning", "info", "debug" };
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	if (level > log_level)
		return;
	int saved = errno;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (log_sink == GD_LOG_SYSLOG) {
		syslog(prio[level], "%s", msg);
	} else {
		char line[1200];
		int n;
		if (log_sink == GD_LOG_FILE) {
			char ts[32];
			time_t now = time(NULL);
			struct tm tm;
			strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", localtime_r(&now, &tm));
			n = snprintf(line, sizeof line, "%s %s[%ld]: %s: %s\n", ts, log_ident,
				     (long)getpid(), tags[level], msg);
		} else {
			n = snprintf(line, sizeof line, "%s: %s: %s\n", log_ident, tags[level], msg);
		}
		if (n > (int)sizeof line - 1)
			n = sizeof line - 1;
		ssize_t w = write(log_sink == GD_LOG_FILE ? log_fd : STDERR_FILENO, line, (size_t)n);
		(void)w;
	}
	errno = saved;
}
