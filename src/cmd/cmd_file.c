/* qemu-ga's file handle commands: guest-file-open, -read, -write, -seek, -flush, -close.
 * Raw file descriptors (no stdio buffering to keep coherent), O_CLOEXEC always, handles in the
 * agent-wide table of filehandles.c. All run on the threadpool. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/cmdtab.h"
#include "cmd/args.h"
#include "cmd/filehandles.h"
#include "guestd/base64.h"

#define READ_MAX (48 * 1024 * 1024)   /* qemu-ga's QGA_READ_COUNT_MAX */
#define READ_DEFAULT 4096
#define PERMS_DEFAULT 0600

static json_t *bad_value(struct gd_err *err, const char *name, json_int_t v)
{
	gd_err_set(err, GD_ERR_GENERIC, EINVAL, "value '%" JSON_INTEGER_FORMAT
		   "' is invalid for argument %s", v, name);
	return NULL;
}

static json_t *no_handle(struct gd_err *err, json_int_t id)
{
	/* qemu-ga's text */
	gd_err_set(err, GD_ERR_GENERIC, EBADF, "handle '%" JSON_INTEGER_FORMAT "' has not been found",
		   id);
	return NULL;
}

static json_t *too_many(struct gd_err *err, size_t max)
{
	gd_err_set(err, GD_ERR_GENERIC, EMFILE,
		   "too many open file handles: the agent holds %zu, its limit (max-file-handles); "
		   "close some with guest-file-close", max);
	return NULL;
}

/* fopen-style mode (qemu-ga's accepted set: r w a, optional + and b in either order) to open
 * flags. Returns -1 when the mode is not one of them. */
static int mode_flags(const char *m)
{
	int acc;
	switch (m[0]) {
	case 'r': acc = 0; break;
	case 'w': acc = O_CREAT | O_TRUNC; break;
	case 'a': acc = O_CREAT | O_APPEND; break;
	default: return -1;
	}
	bool plus = false, bin = false;
	for (const char *p = m + 1; *p; p++) {
		if (*p == '+' && !plus)
			plus = true;
		else if (*p == 'b' && !bin)
			bin = true;
		else
			return -1;
	}
	if (plus)
		return acc | O_RDWR;
	return acc | (m[0] == 'r' ? O_RDONLY : O_WRONLY);
}

/* Opens path; a file it creates gets exactly perms (not masked by the agent's umask). */
static int open_file(const char *path, int flags, mode_t perms)
{
	/* O_NONBLOCK as qemu-ga: a FIFO or a device must not hold a worker thread forever */
	flags |= O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	if (!(flags & O_CREAT))
		return open(path, flags);
	for (int tries = 0; tries < 8; tries++) {
		int fd = open(path, flags | O_EXCL, perms);
		if (fd >= 0) {
			if (fchmod(fd, perms) < 0) {
				int e = errno;
				close(fd);
				errno = e;
				return -1;
			}
			return fd;
		}
		if (errno != EEXIST)
			return -1;
		/* it exists: open it without creating (it may vanish in between: try again) */
		fd = open(path, flags & ~O_CREAT);
		if (fd >= 0 || errno != ENOENT)
			return fd;
	}
	errno = EAGAIN;
	return -1;
}

json_t *cmd_guest_file_open(json_t *args, struct gd_err *err)
{
	const char *path = json_string_value(json_object_get(args, "path"));
	json_t *jm = json_object_get(args, "mode");
	const char *mode = jm ? json_string_value(jm) : "r";
	json_int_t perms = arg_int(args, "perms", PERMS_DEFAULT);
	int flags = mode_flags(mode);
	if (flags < 0) {
		gd_err_set(err, GD_ERR_GENERIC, EINVAL, "invalid file open mode '%s'", mode);
		return NULL;
	}
	if (perms < 0 || perms > 07777)
		return bad_value(err, "perms", perms);
	size_t max = (size_t)agent.cfg.max_file_handles;
	if (fh_count() >= max)   /* before opening, so that "w" does not truncate in vain */
		return too_many(err, max);
	int fd = open_file(path, flags, (mode_t)perms);
	if (fd < 0) {
		gd_err_errno(err, errno, "failed to open file '%s' (mode: '%s')", path, mode);
		return NULL;
	}
	int64_t id;
	int r = fh_add(fd, path, max, &id);
	if (r < 0) {
		close(fd);
		if (r == -EMFILE)
			return too_many(err, max);
		gd_err_errno(err, -r, "failed to open file '%s'", path);
		return NULL;
	}
	return json_integer(id);
}

json_t *cmd_guest_file_close(json_t *args, struct gd_err *err)
{
	json_int_t id = arg_int(args, "handle", -1);
	int r = fh_close(id);
	if (r == -ENOENT)
		return no_handle(err, id);
	if (r < 0) {
		gd_err_errno(err, -r, "failed to close handle '%" JSON_INTEGER_FORMAT "'", id);
		return NULL;
	}
	return json_object();
}

/* Reads up to n bytes: stops at end of file, or when a non-blocking fd has nothing more. */
static ssize_t read_full(int fd, char *buf, size_t n, bool *eof)
{
	size_t got = 0;
	*eof = false;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r > 0) {
			got += (size_t)r;
		} else if (r == 0) {
			*eof = true;
			break;
		} else if (errno == EINTR) {
			continue;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			break;
		} else if (got == 0) {
			return -1;
		} else {
			break;   /* report what was read; the error comes back on the next read */
		}
	}
	return (ssize_t)got;
}

/* guest-file-read streams its reply: the bytes are read and base64-encoded a piece at a time
 * while earlier pieces are being written, so a 48 MiB read holds about 3 MiB, not 48 + 64.
 * The value is {"buf-b64": "...", "count": N, "eof": B}: qemu-ga's members, with count and eof
 * last because they are known only at the end (JSON objects are unordered). */
struct read_stream {
	struct fh *h;
	size_t want, got;       /* bytes asked for, bytes read so far */
	bool eof, end;          /* end: no more reads (count reached, EOF, short read, error) */
	bool head;              /* the opening text was written */
	size_t raw_cap, nraw;   /* raw: bytes read, not yet encoded (carried over: n % 3) */
	char raw[];
};

/* Room kept in each piece for the opening and closing text. */
#define FRAME_ROOM 96

static void read_more(struct read_stream *r)
{
	size_t ask = r->want - r->got;
	if (ask > r->raw_cap - r->nraw)
		ask = r->raw_cap - r->nraw;
	if (ask == 0) {
		r->end = r->got == r->want;
		return;
	}
	bool eof = false;
	ssize_t n = read_full(fh_fd(r->h), r->raw + r->nraw, ask, &eof);
	if (n < 0)
		n = 0; /* an error after data: the read ends short; the next read reports it */
	r->got += (size_t)n;
	r->nraw += (size_t)n;
	r->eof = eof;
	if (eof || (size_t)n < ask || r->got == r->want)
		r->end = true;
}

static size_t read_next(void *ctx, char *buf, size_t cap, bool *done)
{
	static const char open_text[] = "{\"buf-b64\": \"";
	struct read_stream *r = ctx;
	size_t n = 0;
	if (!r->head) {
		memcpy(buf, open_text, sizeof open_text - 1);
		n = sizeof open_text - 1;
		r->head = true;
	}
	if (!r->end)
		read_more(r);
	/* whole groups of 3 bytes now, the last 1-2 (padded) only at the end */
	size_t enc = r->end ? r->nraw : r->nraw / 3 * 3;
	if (gd_b64_encoded_len(enc) > cap - n - FRAME_ROOM)
		enc = (cap - n - FRAME_ROOM) / 4 * 3; /* cannot happen with raw_cap sized to cap */
	gd_b64_encode(buf + n, r->raw, enc);
	n += gd_b64_encoded_len(enc);
	memmove(r->raw, r->raw + enc, r->nraw - enc);
	r->nraw -= enc;
	if (r->end && r->nraw == 0) {
		n += (size_t)snprintf(buf + n, cap - n, "\", \"count\": %zu, \"eof\": %s}", r->got,
				      r->eof ? "true" : "false");
		*done = true;
	}
	return n;
}

static void read_release(void *ctx)
{
	struct read_stream *r = ctx;
	fh_release(r->h);
	free(r);
}

int cmd_guest_file_read(json_t *args, struct gd_stream *st, struct gd_err *err)
{
	json_int_t id = arg_int(args, "handle", -1);
	json_int_t count = arg_int(args, "count", READ_DEFAULT);
	if (count < 0 || count > READ_MAX) {
		bad_value(err, "count", count);
		return -EINVAL;
	}
	/* raw bytes per piece: their base64 and the framing text fit in one piece */
	size_t raw_cap = (GD_STREAM_PIECE - FRAME_ROOM - 16) / 4 * 3;
	if ((size_t)count + 2 < raw_cap)
		raw_cap = (size_t)count + 2;
	struct read_stream *r = calloc(1, sizeof *r + raw_cap);
	if (!r)
		return gd_err_errno(err, ENOMEM, "failed to read file");
	r->h = fh_acquire(id);
	if (!r->h) {
		free(r);
		no_handle(err, id);
		return -EBADF;
	}
	r->want = (size_t)count;
	r->raw_cap = raw_cap;
	/* the first read here, so that a failing read is an error reply, as in qemu-ga */
	bool eof = false;
	ssize_t n = count ? read_full(fh_fd(r->h), r->raw, raw_cap < (size_t)count ? raw_cap
									: (size_t)count, &eof)
			  : 0;
	if (n < 0) {
		int e = errno;
		gd_err_errno(err, e, "failed to read file '%s'", fh_path(r->h));
		read_release(r);
		return -e;
	}
	r->got = r->nraw = (size_t)n;
	r->eof = eof;
	r->end = eof || r->got == r->want || (size_t)n < (raw_cap < (size_t)count ? raw_cap
									       : (size_t)count);
	st->next = read_next;
	st->release = read_release;
	st->ctx = r;
	st->piece_max = gd_b64_encoded_len(raw_cap) + FRAME_ROOM + 16;
	return 0;
}

json_t *cmd_guest_file_write(json_t *args, struct gd_err *err)
{
	json_int_t id = arg_int(args, "handle", -1);
	json_t *jb = json_object_get(args, "buf-b64");
	const char *b64 = json_string_value(jb);
	size_t b64len = json_string_length(jb);
	char *buf = malloc(gd_b64_decoded_max(b64len) + 1);
	if (!buf) {
		gd_err_errno(err, ENOMEM, "failed to write to file");
		return NULL;
	}
	long n = gd_b64_decode(buf, b64, b64len);
	if (n < 0) {
		free(buf);
		gd_err_set(err, GD_ERR_GENERIC, EINVAL,
			   "argument buf-b64 is not valid base64 (RFC 4648, standard alphabet, padded)");
		return NULL;
	}
	json_int_t count = arg_int(args, "count", n);
	if (count < 0 || count > n) {
		free(buf);
		return bad_value(err, "count", count);
	}
	struct fh *h = fh_acquire(id);
	if (!h) {
		free(buf);
		return no_handle(err, id);
	}
	size_t done = 0;
	while (done < (size_t)count) {
		ssize_t w = write(fh_fd(h), buf + done, (size_t)count - done);
		if (w > 0) {
			done += (size_t)w;
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else if (done > 0 && w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			break;   /* a pipe that is full: report the short count, as write(2) does */
		} else {
			gd_err_errno(err, w < 0 ? errno : EIO, "failed to write to file '%s'",
				     fh_path(h));
			fh_release(h);
			free(buf);
			return NULL;
		}
	}
	fh_release(h);
	free(buf);
	return json_pack("{s:I, s:b}", "count", (json_int_t)done, "eof", false);
}

json_t *cmd_guest_file_seek(json_t *args, struct gd_err *err)
{
	json_int_t id = arg_int(args, "handle", -1);
	json_int_t offset = arg_int(args, "offset", 0);
	json_t *jw = json_object_get(args, "whence");
	int whence;
	if (json_is_string(jw)) {
		const char *w = json_string_value(jw);
		if (strcmp(w, "set") == 0) {
			whence = SEEK_SET;
		} else if (strcmp(w, "cur") == 0) {
			whence = SEEK_CUR;
		} else if (strcmp(w, "end") == 0) {
			whence = SEEK_END;
		} else {
			gd_err_set(err, GD_ERR_GENERIC, EINVAL,
				   "Parameter 'whence' does not accept value '%s'", w);
			return NULL;
		}
	} else {
		json_int_t w = json_integer_value(jw);
		if (w < 0 || w > 2) {
			gd_err_set(err, GD_ERR_GENERIC, EINVAL,
				   "invalid whence code %" JSON_INTEGER_FORMAT, w);
			return NULL;
		}
		whence = w == 0 ? SEEK_SET : w == 1 ? SEEK_CUR : SEEK_END;
	}
	struct fh *h = fh_acquire(id);
	if (!h)
		return no_handle(err, id);
	off_t pos = lseek(fh_fd(h), (off_t)offset, whence);
	if (pos < 0) {
		gd_err_errno(err, errno, "failed to seek file '%s'", fh_path(h));
		fh_release(h);
		return NULL;
	}
	fh_release(h);
	/* eof is false after a seek, as in qemu-ga (fseek clears the end-of-file state) */
	return json_pack("{s:I, s:b}", "position", (json_int_t)pos, "eof", false);
}

json_t *cmd_guest_file_flush(json_t *args, struct gd_err *err)
{
	json_int_t id = arg_int(args, "handle", -1);
	struct fh *h = fh_acquire(id);
	if (!h)
		return no_handle(err, id);
	/* nothing is buffered in the agent: flushing means making the data durable. Pipes and
	 * devices cannot be synced, which is no error for them. */
	if (fsync(fh_fd(h)) < 0 && errno != EINVAL && errno != EROFS && errno != ENOTSUP) {
		gd_err_errno(err, errno, "failed to flush file '%s'", fh_path(h));
		fh_release(h);
		return NULL;
	}
	fh_release(h);
	return json_object();
}
