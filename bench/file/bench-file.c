/*
 * bench-file: the client side of the file-transfer benchmark, the same for guestd and qemu-ga.
 *
 *   bench-file read  SOCKET PATH COUNT          guest-file-read PATH to its end, COUNT bytes a call
 *   bench-file write SOCKET PATH TOTAL CHUNK    guest-file-write TOTAL bytes, CHUNK bytes a call
 *   bench-file ping  SOCKET PATH COUNT tag|id   one guest-file-read of COUNT bytes in flight and
 *                                               meanwhile guest-pings one after the other (with a
 *                                               "tag" for guestd, an "id" for qemu-ga): how long
 *                                               they wait (median, max)
 *
 * Results go to stdout as key=value lines (bytes, seconds, MB/s = 10^6 bytes a second, ms).
 * Replies are recognised by their terminating newline; the client parses only what it needs
 * (count, eof, a base64 length), so that it costs both agents the same and little.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <nettle/base64.h>

struct conn {
	int fd;
	char *buf;
	size_t len, cap, scanned;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Prints "bench-file: WHAT DETAIL" (at most 300 bytes of detail) and exits 1. */
static void die(const char *what, const char *detail)
{
	fprintf(stderr, "bench-file: %s%.300s\n", what, detail);
	exit(1);
}

static void conn_open(struct conn *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path)
		die("socket path too long: ", path);
	strcpy(sa.sun_path, path);
	memset(c, 0, sizeof *c);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("cannot connect to ", path);
}

static void send_all(struct conn *c, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("send: ", strerror(errno));
		p += w;
		n -= (size_t)w;
	}
}

/* The next reply line, NUL-terminated in place (valid until the next call); its length in *n. */
static char *recv_line(struct conn *c, size_t *n)
{
	static size_t consumed;
	if (consumed) {
		memmove(c->buf, c->buf + consumed, c->len - consumed);
		c->len -= consumed;
		c->scanned = 0;
		consumed = 0;
	}
	for (;;) {
		char *nl = c->len > c->scanned ? memchr(c->buf + c->scanned, '\n', c->len - c->scanned)
					       : NULL;
		if (nl) {
			*nl = 0;
			*n = (size_t)(nl - c->buf);
			consumed = *n + 1;
			char *line = c->buf;
			/* skip a 0xFF (guest-sync-delimited) */
			if (*line == (char)0xff) {
				line++;
				(*n)--;
			}
			return line;
		}
		c->scanned = c->len;
		if (c->cap - c->len < 1024 * 1024) {
			size_t cap = c->cap ? c->cap * 2 : 4 * 1024 * 1024;
			char *nb = realloc(c->buf, cap);
			if (!nb)
				die("out of memory", "");
			c->buf = nb;
			c->cap = cap;
		}
		ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("", r == 0 ? "the agent closed the connection" : strerror(errno));
		c->len += (size_t)r;
	}
}

static char *call(struct conn *c, const char *req, size_t *n)
{
	send_all(c, req, strlen(req));
	char *line = recv_line(c, n);
	if (strstr(line, "\"error\""))
		die("error reply: ", line);
	return line;
}

static long long num_after(const char *line, const char *key)
{
	const char *p = strstr(line, key);
	if (!p)
		die("no member in reply: ", key);
	p += strlen(key);
	while (*p == ' ' || *p == ':' || *p == '"')
		p++;
	return strtoll(p, NULL, 10);
}

static long long open_file(struct conn *c, const char *path, const char *mode)
{
	char req[4200];
	size_t n;
	snprintf(req, sizeof req,
		 "{\"execute\":\"guest-file-open\",\"arguments\":{\"path\":\"%s\",\"mode\":\"%s\"}}\n",
		 path, mode);
	char *line = call(c, req, &n);
	return num_after(line, "\"return\"");
}

static void close_file(struct conn *c, long long h)
{
	char req[200];
	size_t n;
	snprintf(req, sizeof req, "{\"execute\":\"guest-file-close\",\"arguments\":{\"handle\":%lld}}\n",
		 h);
	call(c, req, &n);
}

static void report(const char *what, unsigned long long bytes, double secs)
{
	printf("%s_bytes=%llu\n%s_seconds=%.3f\n%s_mbps=%.1f\n", what, bytes, what, secs, what,
	       (double)bytes / secs / 1e6);
}

static int do_read(const char *sock, const char *path, long long count)
{
	struct conn c;
	conn_open(&c, sock);
	long long h = open_file(&c, path, "r");
	char req[200];
	snprintf(req, sizeof req,
		 "{\"execute\":\"guest-file-read\",\"arguments\":{\"handle\":%lld,\"count\":%lld}}\n", h,
		 count);
	unsigned long long total = 0;
	double t0 = now();
	for (;;) {
		size_t n;
		char *line = call(&c, req, &n);
		long long got = num_after(line, "\"count\"");
		/* check the payload is there: its base64 length must match the count */
		const char *b = strstr(line, "\"buf-b64\"");
		if (!b)
			die("no buf-b64 in reply", "");
		b = strchr(b + 9, '"');
		const char *e = b ? strchr(b + 1, '"') : NULL;
		if (!e || (size_t)(e - b - 1) != BASE64_ENCODE_RAW_LENGTH((size_t)got))
			die("buf-b64 length does not match count", "");
		total += (unsigned long long)got;
		if (strstr(e, "\"eof\": true") || got == 0)
			break;
	}
	double t = now() - t0;
	close_file(&c, h);
	report("read", total, t);
	return 0;
}

static int do_write(const char *sock, const char *path, long long total, long long chunk)
{
	struct conn c;
	conn_open(&c, sock);
	long long h = open_file(&c, path, "w");
	unsigned char *data = malloc((size_t)chunk);
	size_t b64len = BASE64_ENCODE_RAW_LENGTH((size_t)chunk);
	char *req = malloc(b64len + 200);
	if (!data || !req)
		die("out of memory", "");
	uint32_t x = 2463534242u;
	for (long long i = 0; i < chunk; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		data[i] = (unsigned char)x;
	}
	int hl = sprintf(req, "{\"execute\":\"guest-file-write\",\"arguments\":{\"handle\":%lld,"
			      "\"buf-b64\":\"", h);
	base64_encode_raw(req + hl, (size_t)chunk, data);
	strcpy(req + hl + b64len, "\"}}\n");
	unsigned long long done = 0;
	double t0 = now();
	while ((long long)done < total) {
		size_t n;
		char *line = call(&c, req, &n);
		done += (unsigned long long)num_after(line, "\"count\"");
	}
	double t = now() - t0;
	close_file(&c, h);
	report("write", done, t);
	free(data);
	free(req);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* One COUNT-byte read in flight; meanwhile a ping every millisecond or so, each sent when the
 * previous one is answered. Reports how long pings waited. */
static int do_ping(const char *sock, const char *path, long long count, bool tag)
{
	struct conn c;
	conn_open(&c, sock);
	long long h = open_file(&c, path, "r");
	const char *k = tag ? "tag" : "id";
	char req[300], ping[100];
	snprintf(req, sizeof req,
		 "{\"execute\":\"guest-file-read\",\"arguments\":{\"handle\":%lld,\"count\":%lld},"
		 "\"%s\":\"read\"}\n", h, count, k);
	snprintf(ping, sizeof ping, "{\"execute\":\"guest-ping\",\"%s\":\"ping\"}\n", k);
	double lat[4096];
	int n = 0;
	double t0 = now(), tread = 0;
	send_all(&c, req, strlen(req));
	bool read_done = false;
	while (!read_done) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
		double tp = now();
		send_all(&c, ping, strlen(ping));
		for (;;) {   /* until the ping's reply; the read's may come first */
			size_t len;
			char *line = recv_line(&c, &len);
			if (strstr(line, "\"ping\"")) {
				if (n < 4096)
					lat[n++] = now() - tp;
				break;
			}
			read_done = true;
			tread = now() - t0;
		}
	}
	close_file(&c, h);
	double first = n ? lat[0] : 0;
	qsort(lat, (size_t)n, sizeof lat[0], cmp_double);
	printf("ping_first_ms=%.2f\nping_count=%d\nping_median_ms=%.2f\nping_max_ms=%.2f\n"
	       "read_ms=%.1f\n", first * 1e3, n, n ? lat[n / 2] * 1e3 : 0, n ? lat[n - 1] * 1e3 : 0,
	       tread * 1e3);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "read") == 0)
		return do_read(argv[2], argv[3], atoll(argv[4]));
	if (argc == 6 && strcmp(argv[1], "write") == 0)
		return do_write(argv[2], argv[3], atoll(argv[4]), atoll(argv[5]));
	if (argc == 6 && strcmp(argv[1], "ping") == 0)
		return do_ping(argv[2], argv[3], atoll(argv[4]), strcmp(argv[5], "tag") == 0);
	fprintf(stderr, "usage: bench-file read SOCKET PATH COUNT\n"
			"       bench-file write SOCKET PATH TOTAL CHUNK\n"
			"       bench-file ping SOCKET PATH COUNT tag|id\n");
	return 2;
}
