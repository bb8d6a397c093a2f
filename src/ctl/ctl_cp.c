/* guestctl cp and cat: streaming copies through guest-file-open/read/write, a few requests in
 * flight (untagged, so the agent runs them in order on the one handle), a progress bar on a
 * terminal, atomic replacement of the destination, optional sha256 verification. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "ctl/ctl.h"
#include "guestd/base64.h"

#define CHUNK (4u * 1024 * 1024)
#define WINDOW 3   /* requests in flight */

struct progress {
	bool on;
	unsigned long long total, done;   /* total 0: unknown */
	double start, last;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void progress_show(struct progress *p, bool final)
{
	if (!p->on)
		return;
	double t = now();
	if (!final && t - p->last < 0.1)
		return;
	p->last = t;
	double el = t - p->start > 1e-6 ? t - p->start : 1e-6;
	double rate = (double)p->done / el;
	char eta[32] = "";
	if (p->total && rate > 0 && !final) {
		long s = (long)((double)(p->total - p->done) / rate);
		snprintf(eta, sizeof eta, " ETA %ld:%02ld", s / 60, s % 60);
	}
	if (p->total)
		fprintf(stderr, "\r%8.1f / %.1f MiB %3d%% %8.1f MB/s%s   ", (double)p->done / 1048576,
			(double)p->total / 1048576, (int)(p->done * 100 / p->total), rate / 1e6, eta);
	else
		fprintf(stderr, "\r%8.1f MiB %8.1f MB/s   ", (double)p->done / 1048576, rate / 1e6);
	if (final)
		fputc('\n', stderr);
}

static void progress_init(struct progress *p, bool quiet, unsigned long long total)
{
	memset(p, 0, sizeof *p);
	p->on = !quiet && isatty(STDERR_FILENO);
	p->total = total;
	p->start = p->last = now();
}

/* A temp name next to path: "DIR/.BASE.guestctl-XXXXXXXX". malloc'd. */
static char *temp_name(const char *path)
{
	char *d = strdup(path), *b = strdup(path);
	unsigned r;
	if (getrandom(&r, sizeof r, 0) != sizeof r)
		r = (unsigned)getpid() ^ (unsigned)time(NULL);
	char *out = NULL;
	if (d && b && asprintf(&out, "%s/.%s.guestctl-%08x", dirname(d), basename(b), r) < 0)
		out = NULL;
	free(d);
	free(b);
	return out;
}

static json_t *path_args(const char *path)
{
	return json_pack("{s:s}", "path", path);
}

/* guest-file-stat PATH (following symlinks); NULL when it does not exist or fails. */
static json_t *guest_stat(struct gd_client *cl, const char *path)
{
	json_t *ret = NULL;
	struct gd_err e = GD_ERR_INIT;
	if (ctl_call(cl, "guest-file-stat", json_pack("{s:s, s:b}", "path", path,
							   "follow-symlinks", 1), &ret, &e) < 0)
		ret = NULL;
	gd_err_clear(&e);
	return ret;
}

static void guest_close(struct gd_client *cl, json_int_t h)
{
	json_t *ret = NULL;
	struct gd_err e = GD_ERR_INIT;
	if (ctl_call(cl, "guest-file-close", json_pack("{s:I}", "handle", h), &ret, &e) == 0)
		json_decref(ret);
	gd_err_clear(&e);
}

static void guest_remove(struct gd_client *cl, const char *path)
{
	json_t *ret = NULL;
	struct gd_err e = GD_ERR_INIT;
	if (ctl_call(cl, "guest-file-remove", path_args(path), &ret, &e) == 0)
		json_decref(ret);
	gd_err_clear(&e);
}

/* Waits for the reply to request id; on success *ret is its return (new reference). */
static int recv_reply(struct gd_client *cl, json_int_t id, json_t **ret, struct gd_err *err)
{
	for (;;) {
		json_t *reply;
		int r = gd_client_recv(cl, &reply, err);
		if (r < 0)
			return r;
		json_t *rid = json_object_get(reply, "id");
		if (!json_is_integer(rid) || json_integer_value(rid) != id) {
			json_decref(reply);   /* a stale reply */
			continue;
		}
		json_t *e = json_object_get(reply, "error");
		if (e)
			r = gd_client_reply_error(e, err);
		else
			*ret = json_incref(json_object_get(reply, "return"));
		json_decref(reply);
		return r;
	}
}

static int send_req(struct gd_client *cl, const char *name, json_t *args, json_int_t *id,
		    struct gd_err *err)
{
	*id = (json_int_t)cl->next_tag++;
	json_t *jid = json_integer(*id);
	int r = gd_client_send_request(cl, name, args, NULL, jid, err);
	json_decref(jid);
	json_decref(args);
	return r;
}

static int compare_digest(struct gd_client *cl, const char *gpath, const char *local_hex,
			  struct gd_err *err)
{
	json_t *ret = NULL;
	int r = ctl_call(cl, "guest-file-checksum", json_pack("{s:s, s:s}", "path", gpath,
							       "algorithm", "sha256"), &ret, err);
	if (r < 0)
		return r;
	const char *d = json_string_value(json_object_get(ret, "digest"));
	if (!d || strcmp(d, local_hex) != 0)
		r = gd_err_set(err, GD_ERR_GENERIC, EIO,
			       "sha256 mismatch: local %s, guest %s", local_hex, d ? d : "?");
	json_decref(ret);
	return r;
}

static void hex_digest(struct sha256_ctx *ctx, char hex[2 * SHA256_DIGEST_SIZE + 1])
{
	unsigned char dg[SHA256_DIGEST_SIZE];
	sha256_digest(ctx, sizeof dg, dg);
	for (size_t i = 0; i < sizeof dg; i++)
		snprintf(hex + 2 * i, 3, "%02x", dg[i]);
}

/* Local file -> guest path (atomic: written to a temp name, renamed at the end). */
static int upload(struct gd_client *cl, const char *local, const char *gdst, bool quiet,
		  bool verify, struct gd_err *err)
{
	int fd = open(local, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return gd_err_errno(err, e, "%s", local);
	}
	char *dst = NULL;
	json_t *gst = guest_stat(cl, gdst);
	if (gst && strcmp(json_string_value(json_object_get(gst, "type")), "directory") == 0) {
		char *b = strdup(local);
		if (!b || asprintf(&dst, "%s/%s", gdst, basename(b)) < 0)
			dst = NULL;
		free(b);
	} else {
		dst = strdup(gdst);
	}
	json_decref(gst);
	char *tmp = dst ? temp_name(dst) : NULL;
	unsigned char *buf = malloc(CHUNK);
	char *b64 = malloc(gd_b64_encoded_len(CHUNK) + 1);
	json_t *ret = NULL;
	json_int_t h = -1;
	int r = -ENOMEM;
	if (!tmp || !buf || !b64) {
		gd_err_errno(err, ENOMEM, "cp");
		goto out;
	}
	r = ctl_call(cl, "guest-file-open", json_pack("{s:s, s:s, s:I}", "path", tmp, "mode", "w",
						       "perms", (json_int_t)(st.st_mode & 0777)),
		     &ret, err);
	if (r < 0)
		goto out;
	h = json_integer_value(ret);
	json_decref(ret);
	struct progress pg;
	progress_init(&pg, quiet, (unsigned long long)st.st_size);
	struct sha256_ctx sha;
	sha256_init(&sha);
	json_int_t ids[WINDOW];
	int inflight = 0, head = 0;
	bool eof = false;
	while (!eof || inflight > 0) {
		if (!eof && inflight < WINDOW) {
			ssize_t n = read(fd, buf, CHUNK);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				r = gd_err_errno(err, errno, "read %s", local);
				break;
			}
			if (n == 0) {
				eof = true;
				continue;
			}
			if (verify)
				sha256_update(&sha, (size_t)n, buf);
			size_t len = gd_b64_encode(b64, buf, (size_t)n);
			json_t *args = json_pack("{s:I, s:o}", "handle", h, "buf-b64",
						 json_stringn_nocheck(b64, len));
			r = send_req(cl, "guest-file-write", args, &ids[(head + inflight) % WINDOW],
				     err);
			if (r < 0)
				break;
			inflight++;
			continue;
		}
		r = recv_reply(cl, ids[head], &ret, err);
		if (r < 0)
			break;
		pg.done += (unsigned long long)json_integer_value(json_object_get(ret, "count"));
		json_decref(ret);
		head = (head + 1) % WINDOW;
		inflight--;
		progress_show(&pg, false);
	}
	while (r < 0 && inflight-- > 0) {   /* drain what is still coming */
		struct gd_err e2 = GD_ERR_INIT;
		if (recv_reply(cl, ids[head], &ret, &e2) == 0)
			json_decref(ret);
		gd_err_clear(&e2);
		head = (head + 1) % WINDOW;
	}
	if (r == 0) {
		progress_show(&pg, true);
		r = ctl_call(cl, "guest-file-flush", json_pack("{s:I}", "handle", h), &ret, err);
		if (r == 0)
			json_decref(ret);
	}
	guest_close(cl, h);
	if (r == 0 && verify) {
		char hex[2 * SHA256_DIGEST_SIZE + 1];
		hex_digest(&sha, hex);
		r = compare_digest(cl, tmp, hex, err);
	}
	if (r == 0) {
		r = ctl_call(cl, "guest-file-rename", json_pack("{s:s, s:s}", "path", tmp,
							     "new-path", dst), &ret, err);
		if (r == 0)
			json_decref(ret);
	}
	if (r < 0)
		guest_remove(cl, tmp);
out:
	close(fd);
	free(buf);
	free(b64);
	free(tmp);
	free(dst);
	return r;
}

/* Guest path -> local fd (the caller makes it atomic). */
static int download_fd(struct gd_client *cl, const char *gsrc, int out, bool quiet,
		       unsigned long long size, struct sha256_ctx *sha, struct gd_err *err)
{
	json_t *ret = NULL;
	int r = ctl_call(cl, "guest-file-open", json_pack("{s:s, s:s}", "path", gsrc, "mode", "r"),
			 &ret, err);
	if (r < 0)
		return r;
	json_int_t h = json_integer_value(ret);
	json_decref(ret);
	unsigned char *buf = malloc(CHUNK);
	if (!buf) {
		guest_close(cl, h);
		return gd_err_errno(err, ENOMEM, "cp");
	}
	struct progress pg;
	progress_init(&pg, quiet, size);
	json_int_t ids[WINDOW];
	int inflight = 0, head = 0;
	bool eof = false;
	while (!eof || inflight > 0) {
		if (!eof && r == 0 && inflight < WINDOW) {
			r = send_req(cl, "guest-file-read", json_pack("{s:I, s:I}", "handle", h,
								      "count", (json_int_t)CHUNK),
				     &ids[(head + inflight) % WINDOW], err);
			if (r < 0)
				break;
			inflight++;
			continue;
		}
		struct gd_err e2 = GD_ERR_INIT;
		int rr = recv_reply(cl, ids[head], &ret, r == 0 ? err : &e2);
		gd_err_clear(&e2);
		head = (head + 1) % WINDOW;
		inflight--;
		if (rr < 0) {
			if (r == 0)
				r = rr;
			if (rr == -ECONNRESET || rr == -ETIMEDOUT || rr == -EPROTO)
				break;
			continue;
		}
		if (r == 0) {
			json_t *jb = json_object_get(ret, "buf-b64");
			long n = gd_b64_decode(buf, json_string_value(jb), json_string_length(jb));
			if (n < 0 || (size_t)n > CHUNK) {
				r = gd_err_set(err, GD_ERR_GENERIC, EPROTO, "bad base64 from the agent");
			} else {
				if (sha)
					sha256_update(sha, (size_t)n, buf);
				for (long off = 0; off < n && r == 0;) {
					ssize_t w = write(out, buf + off, (size_t)(n - off));
					if (w < 0 && errno == EINTR)
						continue;
					if (w < 0)
						r = gd_err_errno(err, errno, "write");
					else
						off += w;
				}
				pg.done += (unsigned long long)n;
				progress_show(&pg, false);
			}
			if (json_is_true(json_object_get(ret, "eof")) || n == 0)
				eof = true;
		}
		json_decref(ret);
		if (r < 0)
			eof = true;   /* stop sending; receive what is in flight */
	}
	if (r == 0)
		progress_show(&pg, true);
	free(buf);
	guest_close(cl, h);
	return r;
}

static int download(struct gd_client *cl, const char *gsrc, const char *local, bool quiet,
		    bool verify, struct gd_err *err)
{
	json_t *gst = guest_stat(cl, gsrc);
	unsigned long long size = gst ? (unsigned long long)json_integer_value(
						 json_object_get(gst, "size")) : 0;
	mode_t mode = gst ? (mode_t)(json_integer_value(json_object_get(gst, "mode")) & 0777)
			  : 0600;
	json_decref(gst);
	struct sha256_ctx sha;
	sha256_init(&sha);
	if (strcmp(local, "-") == 0) {
		int r = download_fd(cl, gsrc, STDOUT_FILENO, quiet, size, verify ? &sha : NULL, err);
		if (r == 0 && verify) {
			char hex[2 * SHA256_DIGEST_SIZE + 1];
			hex_digest(&sha, hex);
			r = compare_digest(cl, gsrc, hex, err);
		}
		return r;
	}
	char *dst = NULL;
	struct stat lst;
	if (stat(local, &lst) == 0 && S_ISDIR(lst.st_mode)) {
		char *b = strdup(gsrc);
		if (!b || asprintf(&dst, "%s/%s", local, basename(b)) < 0)
			dst = NULL;
		free(b);
	} else {
		dst = strdup(local);
	}
	char *tmp = dst ? temp_name(dst) : NULL;
	if (!tmp) {
		free(dst);
		return gd_err_errno(err, ENOMEM, "cp");
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int r = fd < 0 ? gd_err_errno(err, errno, "%s", tmp) : 0;
	if (r == 0)
		r = download_fd(cl, gsrc, fd, quiet, size, verify ? &sha : NULL, err);
	if (r == 0 && verify) {
		char hex[2 * SHA256_DIGEST_SIZE + 1];
		hex_digest(&sha, hex);
		r = compare_digest(cl, gsrc, hex, err);
	}
	if (r == 0 && fchmod(fd, mode) < 0)
		r = gd_err_errno(err, errno, "chmod %s", tmp);
	if (r == 0 && fsync(fd) < 0)
		r = gd_err_errno(err, errno, "fsync %s", tmp);
	if (fd >= 0 && close(fd) < 0 && r == 0)
		r = gd_err_errno(err, errno, "close %s", tmp);
	if (r == 0 && rename(tmp, dst) < 0)
		r = gd_err_errno(err, errno, "rename %s to %s", tmp, dst);
	if (r < 0 && fd >= 0)
		unlink(tmp);
	free(tmp);
	free(dst);
	return r;
}

int ctl_cp(struct gd_client *cl, int argc, char **argv)
{
	bool quiet = false, verify = false;
	const char *paths[2];
	int np = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0)
			quiet = true;
		else if (strcmp(argv[i], "--sha256") == 0)
			verify = true;
		else if (np < 2 && (argv[i][0] != '-' || strcmp(argv[i], "-") == 0))
			paths[np++] = argv[i];
		else {
			fprintf(stderr, "guestctl: cp: unexpected argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (np != 2 || !ctl_guest_path(paths[0]) == !ctl_guest_path(paths[1])) {
		fprintf(stderr, "guestctl: usage: cp [-q] [--sha256] LOCAL :GUESTPATH | "
				"cp [-q] [--sha256] :GUESTPATH LOCAL\n");
		return 2;
	}
	struct gd_err err = GD_ERR_INIT;
	int r = ctl_guest_path(paths[1])
			? upload(cl, paths[0], ctl_guest_path(paths[1]), quiet, verify, &err)
			: download(cl, ctl_guest_path(paths[0]), paths[1], quiet, verify, &err);
	return r < 0 ? ctl_fail(&err) : 0;
}

int ctl_cat(struct gd_client *cl, int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "guestctl: usage: cat :GUESTPATH...\n");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		const char *g = ctl_guest_path(argv[i]);
		if (!g) {
			fprintf(stderr, "guestctl: cat: '%s' is not a guest path (:PATH)\n", argv[i]);
			return 2;
		}
		struct gd_err err = GD_ERR_INIT;
		if (download_fd(cl, g, STDOUT_FILENO, true, 0, NULL, &err) < 0)
			return ctl_fail(&err);
	}
	return 0;
}
