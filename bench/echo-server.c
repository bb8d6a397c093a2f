/*
 * echo-server: the physical limit for one request in flight over a unix
 * socket on this machine.  It listens on a unix socket, cuts the input into
 * JSON objects (a brace/string scanner, no parsing) and answers each one with
 * a fixed {"return": {}}\n, like a guest agent that does no work at all.
 *
 * usage: echo-server SOCKET
 *
 * Single-threaded, poll(2) with no timeout: when idle it makes no syscalls.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_CLIENTS 64
#define REPLY "{\"return\": {}}\n"
#define REPLY_LEN (sizeof(REPLY) - 1)

struct scanner {
	int depth;
	int in_string;
	int escape;
};

#define OUT_REPLIES 1024

static char inbuf[1 << 16];
static char outbuf[OUT_REPLIES * REPLY_LEN];

/* Returns the number of whole top-level objects completed in buf. */
static size_t scan(struct scanner *s, const char *buf, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c == 0xff) {
			s->depth = 0;
			s->in_string = 0;
			s->escape = 0;
			continue;
		}
		if (s->in_string) {
			if (s->escape)
				s->escape = 0;
			else if (c == '\\')
				s->escape = 1;
			else if (c == '"')
				s->in_string = 0;
			continue;
		}
		if (c == '"' && s->depth > 0) {
			s->in_string = 1;
		} else if (c == '{' || c == '[') {
			s->depth++;
		} else if ((c == '}' || c == ']') && s->depth > 0) {
			if (--s->depth == 0)
				n++;
		}
	}
	return n;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct pollfd pfd[MAX_CLIENTS + 1];
	struct scanner sc[MAX_CLIENTS + 1];
	struct sockaddr_un sa;
	int nfds = 1;
	int lfd;

	if (argc != 2) {
		fprintf(stderr, "usage: %s SOCKET\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < OUT_REPLIES; i++)
		memcpy(outbuf + i * REPLY_LEN, REPLY, REPLY_LEN);

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "echo-server: socket path too long\n");
		return 2;
	}
	strcpy(sa.sun_path, argv[1]);
	unlink(argv[1]);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 16) < 0) {
		perror("echo-server: listen");
		return 1;
	}
	pfd[0].fd = lfd;
	pfd[0].events = POLLIN;

	for (;;) {
		if (poll(pfd, (nfds_t)nfds, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("echo-server: poll");
			return 1;
		}
		for (int i = 1; i < nfds; i++) {
			ssize_t r;
			size_t n;

			if (!pfd[i].revents)
				continue;
			r = read(pfd[i].fd, inbuf, sizeof(inbuf));
			if (r < 0 && errno == EINTR)
				continue;
			n = r > 0 ? scan(&sc[i], inbuf, (size_t)r) : 0;
			while (r > 0 && n > 0) {
				size_t k = n < OUT_REPLIES ? n : OUT_REPLIES;

				if (write_all(pfd[i].fd, outbuf, k * REPLY_LEN) < 0)
					r = -1;
				n -= k;
			}
			if (r <= 0) {
				close(pfd[i].fd);
				nfds--;
				pfd[i] = pfd[nfds];
				sc[i] = sc[nfds];
				i--;
			}
		}
		if (pfd[0].revents & POLLIN) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			if (fd >= 0 && nfds <= MAX_CLIENTS) {
				pfd[nfds].fd = fd;
				pfd[nfds].events = POLLIN;
				pfd[nfds].revents = 0;
				memset(&sc[nfds], 0, sizeof(sc[nfds]));
				nfds++;
			} else if (fd >= 0) {
				close(fd);
			}
		}
	}
}
