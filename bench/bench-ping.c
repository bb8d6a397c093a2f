/*
 * bench-ping: client side of the guestd / qemu-ga benchmark.
 *
 *   bench-ping seq SOCKET N             sequential guest-ping round trips
 *   bench-ping pipe SOCKET N            N pipelined guest-pings (writer thread)
 *   bench-ping startup SOCKET RUNS LOG -- AGENT [ARGS...]
 *                                       spawn AGENT, time until the first
 *                                       guest-ping reply, kill it; RUNS times
 *   bench-ping busy SOCKET sleep MS [pool|loop|-]
 *                                       guestd-test: tagged guest-test-sleep
 *                                       (where: pool, the default, or loop;
 *                                       '-' omits it) then a tagged guest-ping
 *   bench-ping busy SOCKET file PATH COUNT tagged|untagged
 *                                       guest-file-open PATH, guest-file-read
 *                                       COUNT bytes then guest-ping at once
 *   In the tagged cases a tagged guest-ping is also sent every millisecond
 *   until the slow reply arrives (busy_probe_* lines: their p50 and worst;
 *   busy_probe_working_max_ms is the worst of those answered before the slow
 *   reply's first byte, i.e. while the slow request was still working, not
 *   waiting for its reply to stream out).
 *
 * Results are printed on stdout as key=value lines (times in microseconds
 * or milliseconds as the key says); errors go to stderr with exit status 1.
 * Replies are recognised by their terminating newline (every agent reply is
 * one JSON object followed by exactly one '\n').
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define PING "{\"execute\":\"guest-ping\"}\n"
#define PING_LEN (sizeof(PING) - 1)
#define LINE_KEEP 4096

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

__attribute__((format(printf, 1, 2), noreturn))
static void die(const char *fmt, ...)
{
	int e = errno;
	va_list ap;

	fprintf(stderr, "bench-ping: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (e)
		fprintf(stderr, ": %s", strerror(e));
	fputc('\n', stderr);
	exit(1);
}

static void nap_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int try_connect(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int connect_or_die(const char *path)
{
	int fd = try_connect(path);

	if (fd < 0)
		die("connect %s", path);
	return fd;
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			die("%s", "write");
		}
		buf += w;
		len -= (size_t)w;
	}
}

/* ---- reply reader: splits the stream into lines, keeps short ones ---- */

struct reader {
	int fd;
	char buf[1 << 16];
	size_t pos, len;
	char line[LINE_KEEP + 1];
	size_t line_len;   /* bytes of the current line (may exceed LINE_KEEP) */
	int complete;      /* line holds a whole line: start afresh next time */
	uint64_t line_t0;  /* when the first byte of the current line arrived */
};

/*
 * Reads one reply line, waiting at most timeout_ms (-1: forever).  Returns 1
 * when a line is complete: its full length (without '\n') is r->line_len and
 * its first LINE_KEEP bytes are in r->line, NUL-terminated.  Returns 0 on
 * timeout (a partial line is kept for the next call).  Dies on EOF.
 */
static int next_line(struct reader *r, int timeout_ms)
{
	if (r->complete) {
		r->line_len = 0;
		r->line[0] = '\0';
		r->complete = 0;
	}
	for (;;) {
		if (r->pos == r->len) {
			ssize_t n;

			if (timeout_ms >= 0) {
				struct pollfd p = { .fd = r->fd, .events = POLLIN };
				int k = poll(&p, 1, timeout_ms);

				if (k < 0 && errno != EINTR)
					die("%s", "poll");
				if (k <= 0)
					return 0;
			}
			n = read(r->fd, r->buf, sizeof(r->buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				if (n == 0)
					errno = 0;
				die("%s", "connection closed while waiting for a reply");
			}
			r->pos = 0;
			r->len = (size_t)n;
		}
		char *s = r->buf + r->pos;
		size_t avail = r->len - r->pos;
		char *nl = memchr(s, '\n', avail);
		size_t take = nl ? (size_t)(nl - s) : avail;

		if (r->line_len == 0)
			r->line_t0 = now_ns();
		if (r->line_len < LINE_KEEP) {
			size_t room = LINE_KEEP - r->line_len;
			size_t cp = take < room ? take : room;

			memcpy(r->line + r->line_len, s, cp);
			r->line[r->line_len + cp] = '\0';
		}
		r->line_len += take;
		r->pos += take;
		if (nl) {
			r->pos++;
			r->complete = 1;
			return 1;
		}
	}
}

static void read_line(struct reader *r)
{
	next_line(r, -1);
}

/* Counts newlines until n replies have arrived (contents ignored). */
static void read_n_replies(struct reader *r, size_t n)
{
	size_t seen = 0;

	while (seen < n) {
		if (r->pos == r->len) {
			ssize_t got = read(r->fd, r->buf, sizeof(r->buf));

			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				if (got == 0)
					errno = 0;
				die("%s", "connection closed while waiting for replies");
			}
			r->pos = 0;
			r->len = (size_t)got;
		}
		char *s = r->buf + r->pos;
		char *end = r->buf + r->len;

		while (seen < n && s < end) {
			char *nl = memchr(s, '\n', (size_t)(end - s));

			if (!nl) {
				s = end;
				break;
			}
			seen++;
			s = nl + 1;
		}
		r->pos = (size_t)(s - r->buf);
	}
}

static void expect_return(struct reader *r, const char *what)
{
	read_line(r);
	if (!strstr(r->line, "\"return\"")) {
		errno = 0;
		fprintf(stderr, "bench-ping: %s: unexpected reply: %.300s\n", what, r->line);
		exit(1);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t pct(const uint64_t *sorted, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);

	return sorted[i < n ? i : n - 1];
}

static long parse_count(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*end || v <= 0) {
		errno = 0;
		die("bad number: %s", s);
	}
	return v;
}

/* ---- seq ---- */

static int cmd_seq(const char *path, size_t n)
{
	static struct reader r;
	uint64_t *lat = calloc(n, sizeof(*lat));
	uint64_t t0, t1;

	if (!lat)
		die("%s", "calloc");
	r.fd = connect_or_die(path);
	write_all(r.fd, PING, PING_LEN);
	expect_return(&r, "first guest-ping");
	for (size_t i = 0; i < n / 10 + 1; i++) {   /* warm-up */
		write_all(r.fd, PING, PING_LEN);
		read_n_replies(&r, 1);
	}
	t0 = now_ns();
	for (size_t i = 0; i < n; i++) {
		uint64_t a = now_ns();

		write_all(r.fd, PING, PING_LEN);
		read_n_replies(&r, 1);
		lat[i] = now_ns() - a;
	}
	t1 = now_ns();
	close(r.fd);
	qsort(lat, n, sizeof(*lat), cmp_u64);
	printf("seq_n=%zu\n", n);
	printf("seq_rate=%.0f\n", (double)n * 1e9 / (double)(t1 - t0));
	printf("seq_p50_us=%.1f\n", (double)pct(lat, n, 0.50) / 1e3);
	printf("seq_p99_us=%.1f\n", (double)pct(lat, n, 0.99) / 1e3);
	printf("seq_max_us=%.1f\n", (double)lat[n - 1] / 1e3);
	free(lat);
	return 0;
}

/* ---- pipe ---- */

struct pipe_job {
	int fd;
	size_t n;
};

static void *pipe_writer(void *arg)
{
	struct pipe_job *job = arg;
	enum { BATCH = 256 };
	static char batch[BATCH * PING_LEN];
	size_t left = job->n;

	for (size_t i = 0; i < BATCH; i++)
		memcpy(batch + i * PING_LEN, PING, PING_LEN);
	while (left > 0) {
		size_t k = left < BATCH ? left : BATCH;

		write_all(job->fd, batch, k * PING_LEN);
		left -= k;
	}
	return NULL;
}

static int cmd_pipe(const char *path, size_t n)
{
	static struct reader r;
	struct pipe_job job;
	pthread_t th;
	uint64_t t0, t1;

	r.fd = connect_or_die(path);
	write_all(r.fd, PING, PING_LEN);
	expect_return(&r, "first guest-ping");
	job.fd = r.fd;
	job.n = n;
	t0 = now_ns();
	if (pthread_create(&th, NULL, pipe_writer, &job) != 0)
		die("%s", "pthread_create");
	read_n_replies(&r, n);
	t1 = now_ns();
	pthread_join(th, NULL);
	/* one more to be sure the stream is still in step */
	write_all(r.fd, PING, PING_LEN);
	expect_return(&r, "guest-ping after the pipeline");
	close(r.fd);
	printf("pipe_n=%zu\n", n);
	printf("pipe_rate=%.0f\n", (double)n * 1e9 / (double)(t1 - t0));
	printf("pipe_total_ms=%.1f\n", (double)(t1 - t0) / 1e6);
	return 0;
}

/* ---- startup ---- */

static int child_gone(pid_t pid)
{
	int st;

	return waitpid(pid, &st, WNOHANG) == pid;
}

static void stop_child(pid_t pid)
{
	int st;

	kill(pid, SIGTERM);
	for (int i = 0; i < 2000; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return;
		nap_us(1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

static int cmd_startup(const char *path, size_t runs, const char *log, char **argv)
{
	static struct reader r;
	uint64_t *t = calloc(runs, sizeof(*t));
	posix_spawn_file_actions_t fa;

	if (!t)
		die("%s", "calloc");
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);

	/* run 0 is a warm-up (page cache, dynamic loader) and is not counted */
	for (size_t i = 0; i <= runs; i++) {
		pid_t pid;
		uint64_t t0, deadline;
		int fd;

		unlink(path);
		t0 = now_ns();
		deadline = t0 + 10000000000u;
		errno = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
		if (errno)
			die("spawn %s", argv[0]);
		for (;;) {
			fd = try_connect(path);
			if (fd >= 0)
				break;
			if (errno != ENOENT && errno != ECONNREFUSED)
				die("connect %s", path);
			if (child_gone(pid)) {
				errno = 0;
				die("%s exited before listening (see the log)", argv[0]);
			}
			if (now_ns() > deadline) {
				errno = 0;
				stop_child(pid);
				die("%s did not listen within 10 s", argv[0]);
			}
			nap_us(20);
		}
		r.fd = fd;
		r.pos = r.len = 0;
		write_all(fd, PING, PING_LEN);
		expect_return(&r, "startup guest-ping");
		if (i > 0)
			t[i - 1] = now_ns() - t0;
		close(fd);
		stop_child(pid);
	}
	unlink(path);
	posix_spawn_file_actions_destroy(&fa);
	qsort(t, runs, sizeof(*t), cmp_u64);
	printf("startup_runs=%zu\n", runs);
	printf("startup_median_ms=%.2f\n", (double)pct(t, runs, 0.5) / 1e6);
	printf("startup_min_ms=%.2f\n", (double)t[0] / 1e6);
	printf("startup_max_ms=%.2f\n", (double)t[runs - 1] / 1e6);
	printf("startup_all_ms=");
	for (size_t i = 0; i < runs; i++)
		printf("%s%.3f", i ? "," : "", (double)t[i] / 1e6);
	printf("\n");
	free(t);
	return 0;
}

/* ---- busy ---- */

#define MAX_PROBES 100000

/* The number N of a reply tagged "pN", or -1. */
static long probe_tag(const char *line)
{
	const char *t = strstr(line, "\"tag\"");
	char *end;
	long v;

	if (!t)
		return -1;
	t = strchr(t + 5, '"');
	if (!t || t[1] != 'p')
		return -1;
	v = strtol(t + 2, &end, 10);
	return *end == '"' ? v : -1;
}

static int is_error(const struct reader *r)
{
	return r->line_len < LINE_KEEP && !strstr(r->line, "\"return\"");
}

/*
 * Sends `slow` and a guest-ping at once (the ping tagged "p0" if tagged) and
 * times the ping's reply.  When tagged, it then keeps sending a tagged ping
 * ("p1", "p2", ...) every millisecond until the slow reply has arrived, and
 * reports the worst of those latencies too: nothing may stall the loop.
 */
static int busy_run(struct reader *r, const char *slow, int tagged)
{
	static uint64_t sent[MAX_PROBES], lat[MAX_PROBES];
	char req[8192];
	uint64_t t0, t_slow = 0, t_slow_start = 0, work_max = 0;
	long nsent = 1, nrecv = 0, nwork = 0;
	int ping_first = 0, slow_seen = 0;

	snprintf(req, sizeof(req), "%s{\"execute\":\"guest-ping\"%s}\n", slow,
		 tagged ? ",\"tag\":\"p0\"" : "");
	t0 = now_ns();
	sent[0] = t0;
	write_all(r->fd, req, strlen(req));
	while (!slow_seen || nrecv < nsent) {
		uint64_t t;

		if (tagged && !slow_seen && nsent < MAX_PROBES &&
		    now_ns() >= sent[nsent - 1] + 1000000) {
			int len = snprintf(req, sizeof(req),
					   "{\"execute\":\"guest-ping\",\"tag\":\"p%ld\"}\n", nsent);

			sent[nsent++] = now_ns();
			write_all(r->fd, req, (size_t)len);
		}
		if (!next_line(r, tagged && !slow_seen ? 1 : -1))
			continue;
		t = now_ns();
		if (is_error(r)) {
			fprintf(stderr, "bench-ping: busy: error reply: %.300s\n", r->line);
			return 1;
		}
		if (r->line_len >= LINE_KEEP || strstr(r->line, "\"slow\"")) {
			slow_seen = 1;
			t_slow = t;
			t_slow_start = r->line_t0;
			continue;
		}
		long n = tagged ? probe_tag(r->line) : 0;

		if (n < 0 || n >= nsent) {
			fprintf(stderr, "bench-ping: busy: unexpected reply: %.300s\n", r->line);
			return 1;
		}
		if (n == 0)
			ping_first = !slow_seen;
		lat[n] = t - sent[n];
		nrecv++;
		if (!slow_seen) {   /* answered while the slow request was working */
			nwork++;
			if (lat[n] > work_max)
				work_max = lat[n];
		}
	}
	printf("busy_ping_ms=%.3f\n", (double)lat[0] / 1e6);
	printf("busy_slow_ms=%.3f\n", (double)(t_slow - t0) / 1e6);
	printf("busy_slow_first_byte_ms=%.3f\n", (double)(t_slow_start - t0) / 1e6);
	printf("busy_ping_first=%d\n", ping_first);
	if (tagged) {
		qsort(lat, (size_t)nsent, sizeof(*lat), cmp_u64);
		printf("busy_probes=%ld\n", nsent);
		printf("busy_probe_p50_ms=%.3f\n", (double)pct(lat, (size_t)nsent, 0.5) / 1e6);
		printf("busy_probe_max_ms=%.3f\n", (double)lat[nsent - 1] / 1e6);
		printf("busy_probes_working=%ld\n", nwork);
		printf("busy_probe_working_max_ms=%.3f\n", (double)work_max / 1e6);
	}
	return 0;
}

static int cmd_busy(const char *path, int argc, char **argv)
{
	static struct reader r;
	char req[8192];
	int rc;

	if (argc < 1)
		goto usage;
	r.fd = connect_or_die(path);
	write_all(r.fd, PING, PING_LEN);
	expect_return(&r, "first guest-ping");

	if (!strcmp(argv[0], "sleep") && (argc == 2 || argc == 3)) {
		const char *where = argc == 3 ? argv[2] : "pool";
		char wherearg[64] = "";

		if (strcmp(where, "-") != 0) {
			if (strlen(where) > 16 || strchr(where, '"'))
				goto usage;
			snprintf(wherearg, sizeof(wherearg), ",\"where\":\"%s\"", where);
		}
		snprintf(req, sizeof(req),
			 "{\"execute\":\"guest-test-sleep\",\"arguments\":{\"ms\":%ld%s},\"tag\":\"slow\"}\n",
			 parse_count(argv[1]), wherearg);
		rc = busy_run(&r, req, 1);
	} else if (!strcmp(argv[0], "file") && argc == 4) {
		int tagged = !strcmp(argv[3], "tagged");
		long handle;

		if (strlen(argv[1]) > 2048 || strchr(argv[1], '"') || strchr(argv[1], '\\')) {
			errno = 0;
			die("unsupported path: %s", argv[1]);
		}
		snprintf(req, sizeof(req),
			 "{\"execute\":\"guest-file-open\",\"arguments\":{\"path\":\"%s\",\"mode\":\"r\"}}\n",
			 argv[1]);
		write_all(r.fd, req, strlen(req));
		read_line(&r);
		if (sscanf(r.line, "{\"return\": %ld", &handle) != 1 &&
		    sscanf(r.line, "{\"return\":%ld", &handle) != 1) {
			fprintf(stderr, "bench-ping: guest-file-open: unexpected reply: %.300s\n", r.line);
			return 1;
		}
		snprintf(req, sizeof(req),
			 "{\"execute\":\"guest-file-read\",\"arguments\":{\"handle\":%ld,\"count\":%ld}%s}\n",
			 handle, parse_count(argv[2]), tagged ? ",\"tag\":\"slow\"" : "");
		rc = busy_run(&r, req, tagged);
		if (rc == 0) {
			snprintf(req, sizeof(req),
				 "{\"execute\":\"guest-file-close\",\"arguments\":{\"handle\":%ld}}\n", handle);
			write_all(r.fd, req, strlen(req));
			expect_return(&r, "guest-file-close");
		}
	} else {
		goto usage;
	}
	close(r.fd);
	return rc;
usage:
	errno = 0;
	die("%s", "busy: expected 'sleep MS [pool|loop|-]' or 'file PATH COUNT tagged|untagged'");
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench-ping seq SOCKET N\n"
		"       bench-ping pipe SOCKET N\n"
		"       bench-ping startup SOCKET RUNS LOGFILE -- AGENT [ARGS...]\n"
		"       bench-ping busy SOCKET sleep MS [pool|loop|-]\n"
		"       bench-ping busy SOCKET file PATH COUNT tagged|untagged\n");
	exit(2);
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3)
		usage();
	if (!strcmp(argv[1], "seq") && argc == 4)
		return cmd_seq(argv[2], (size_t)parse_count(argv[3]));
	if (!strcmp(argv[1], "pipe") && argc == 4)
		return cmd_pipe(argv[2], (size_t)parse_count(argv[3]));
	if (!strcmp(argv[1], "startup") && argc >= 7 && !strcmp(argv[5], "--"))
		return cmd_startup(argv[2], (size_t)parse_count(argv[3]), argv[4], argv + 6);
	if (!strcmp(argv[1], "busy"))
		return cmd_busy(argv[2], argc - 3, argv + 3);
	usage();
	return 2;
}
