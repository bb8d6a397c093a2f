/* guestd's read-only file commands: guest-file-stat, guest-file-list, guest-file-checksum.
 * All run on the threadpool. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nettle/md5.h>
#include <nettle/nettle-meta.h>
#include <nettle/sha1.h>
#include <nettle/sha2.h>

#include "agent/cmdtab.h"
#include "cmd/args.h"
#include "guestd/base64.h"

#define LIST_DEFAULT 1000
#define LIST_MAX 10000
#define SUM_CHUNK (1024 * 1024)

/* Sets obj[key] to the string s (n bytes). File names are bytes, JSON strings are UTF-8: a name
 * that is not valid UTF-8 gets '?' for each bad byte in key, and its exact bytes in key-b64. */
static void set_name(json_t *obj, const char *key, const char *s, size_t n)
{
	json_t *v = json_stringn(s, n);
	if (v) {
		json_object_set_new(obj, key, v);
		return;
	}
	char *clean = malloc(n + 1);
	if (clean) {
		/* keep ASCII, replace everything else: lossy, the -b64 member is exact */
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)s[i];
			clean[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
		}
		json_object_set_new(obj, key, json_stringn(clean, n));
		free(clean);
	}
	char *b64 = gd_b64_encode_alloc(s, n);
	if (b64) {
		char k[64];
		snprintf(k, sizeof k, "%s-b64", key);
		json_object_set_new(obj, k, json_string(b64));
		free(b64);
	}
}

static const char *type_name(mode_t m)
{
	if (S_ISREG(m))
		return "file";
	if (S_ISDIR(m))
		return "directory";
	if (S_ISLNK(m))
		return "symlink";
	if (S_ISFIFO(m))
		return "fifo";
	if (S_ISSOCK(m))
		return "socket";
	if (S_ISCHR(m))
		return "char-device";
	if (S_ISBLK(m))
		return "block-device";
	return "unknown";
}

static json_t *seconds(struct timespec ts)
{
	return json_real((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/* The stat members shared by guest-file-stat and guest-file-list's entries, added to obj.
 * dirfd/name locate the file for readlinkat when it is a symlink. */
static void add_stat(json_t *obj, const struct stat *st, int dirfd, const char *name)
{
	json_object_set_new(obj, "type", json_string(type_name(st->st_mode)));
	json_object_set_new(obj, "size", json_integer((json_int_t)st->st_size));
	json_object_set_new(obj, "mode", json_integer((json_int_t)(st->st_mode & 07777)));
	json_object_set_new(obj, "uid", json_integer((json_int_t)st->st_uid));
	json_object_set_new(obj, "gid", json_integer((json_int_t)st->st_gid));
	json_object_set_new(obj, "nlink", json_integer((json_int_t)st->st_nlink));
	json_object_set_new(obj, "atime", seconds(st->st_atim));
	json_object_set_new(obj, "mtime", seconds(st->st_mtim));
	json_object_set_new(obj, "ctime", seconds(st->st_ctim));
	if (S_ISLNK(st->st_mode)) {
		char target[4096];
		ssize_t n = readlinkat(dirfd, name, target, sizeof target);
		if (n >= 0 && (size_t)n < sizeof target)
			set_name(obj, "link-target", target, (size_t)n);
	}
}

json_t *cmd_guest_file_stat(json_t *args, struct gd_err *err)
{
	const char *path = json_string_value(json_object_get(args, "path"));
	bool follow = arg_bool(args, "follow-symlinks", false);
	struct stat st;
	if (fstatat(AT_FDCWD, path, &st, follow ? 0 : AT_SYMLINK_NOFOLLOW) < 0) {
		gd_err_errno(err, errno, "cannot stat '%s'", path);
		return NULL;
	}
	json_t *ret = json_object();
	if (ret)
		add_stat(ret, &st, AT_FDCWD, path);
	return ret;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* All names in the directory dfd but . and .., sorted. Returns the count or a negative errno;
 * dfd is consumed (closed). */
static long read_names(int dfd, char ***out)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		int e = errno;
		close(dfd);
		return -e;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	int e = 0;
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			e = errno;
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			char **nn = realloc(names, nc * sizeof *nn);
			if (!nn) {
				e = ENOMEM;
				break;
			}
			names = nn;
			cap = nc;
		}
		if (!(names[n] = strdup(de->d_name))) {
			e = ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (e) {
		free_names(names, n);
		return -e;
	}
	if (n > 1)
		qsort(names, n, sizeof *names, cmp_names);
	*out = names;
	return (long)n;
}

json_t *cmd_guest_file_list(json_t *args, struct gd_err *err)
{
	const char *path = json_string_value(json_object_get(args, "path"));
	json_int_t offset = arg_int(args, "offset", 0);
	json_int_t limit = arg_int(args, "limit", LIST_DEFAULT);
	if (offset < 0) {
		gd_err_set(err, GD_ERR_GENERIC, EINVAL, "value '%" JSON_INTEGER_FORMAT
			   "' is invalid for argument offset", offset);
		return NULL;
	}
	if (limit < 1 || limit > LIST_MAX) {
		gd_err_set(err, GD_ERR_GENERIC, EINVAL, "value '%" JSON_INTEGER_FORMAT
			   "' is invalid for argument limit (1 to %d)", limit, LIST_MAX);
		return NULL;
	}
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		gd_err_errno(err, errno, "cannot open directory '%s'", path);
		return NULL;
	}
	int sfd = dup(dfd);   /* for fstatat: fdopendir takes dfd */
	if (sfd < 0) {
		gd_err_errno(err, errno, "cannot open directory '%s'", path);
		close(dfd);
		return NULL;
	}
	char **names = NULL;
	long n = read_names(dfd, &names);
	if (n < 0) {
		gd_err_errno(err, (int)-n, "cannot read directory '%s'", path);
		close(sfd);
		return NULL;
	}
	json_t *entries = json_array();
	size_t end = (size_t)n;
	if ((json_int_t)end > offset + limit)
		end = (size_t)(offset + limit);
	for (size_t i = (size_t)offset; i < end; i++) {
		json_t *e = json_object();
		set_name(e, "name", names[i], strlen(names[i]));
		struct stat st;
		if (fstatat(sfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
			add_stat(e, &st, sfd, names[i]);
		else
			json_object_set_new(e, "error", json_string(strerror(errno)));
		json_array_append_new(entries, e);
	}
	close(sfd);
	free_names(names, (size_t)n);
	bool truncated = (json_int_t)end < n;
	json_t *ret = json_pack("{s:o, s:I, s:b}", "entries", entries, "total", (json_int_t)n,
				"truncated", truncated);
	if (ret && truncated)
		json_object_set_new(ret, "next", json_integer((json_int_t)end));
	return ret;
}

static const struct nettle_hash *hash_by_name(const char *name)
{
	if (strcmp(name, "md5") == 0)
		return &nettle_md5;
	if (strcmp(name, "sha1") == 0)
		return &nettle_sha1;
	if (strcmp(name, "sha512") == 0)
		return &nettle_sha512;
	return &nettle_sha256;
}

json_t *cmd_guest_file_checksum(json_t *args, struct gd_err *err)
{
	const char *path = json_string_value(json_object_get(args, "path"));
	json_t *ja = json_object_get(args, "algorithm");
	const char *alg = ja ? json_string_value(ja) : "sha256";
	const struct nettle_hash *h = hash_by_name(alg);
	/* O_NONBLOCK so that opening a FIFO does not wait for a writer; refused below anyway */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		gd_err_errno(err, errno, "cannot open '%s'", path);
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		gd_err_errno(err, errno, "cannot stat '%s'", path);
		close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		if (S_ISDIR(st.st_mode))
			gd_err_errno(err, EISDIR, "cannot checksum '%s'", path);
		else
			gd_err_set(err, GD_ERR_GENERIC, EINVAL,
				   "cannot checksum '%s': not a regular file or block device", path);
		close(fd);
		return NULL;
	}
	void *ctx = malloc(h->context_size);
	unsigned char *buf = malloc(SUM_CHUNK);
	if (!ctx || !buf) {
		free(ctx);
		free(buf);
		close(fd);
		gd_err_errno(err, ENOMEM, "cannot checksum '%s'", path);
		return NULL;
	}
	h->init(ctx);
	json_int_t size = 0;
	bool failed = false;
	for (;;) {
		ssize_t r = read(fd, buf, SUM_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			gd_err_errno(err, errno, "cannot read '%s'", path);
			failed = true;
			break;
		}
		if (r == 0)
			break;
		h->update(ctx, (size_t)r, buf);
		size += r;
	}
	close(fd);
	json_t *ret = NULL;
	if (!failed) {
		unsigned char digest[SHA512_DIGEST_SIZE];
		char hex[2 * SHA512_DIGEST_SIZE + 1];
		h->digest(ctx, h->digest_size, digest);
		for (unsigned i = 0; i < h->digest_size; i++)
			snprintf(hex + 2 * i, 3, "%02x", digest[i]);
		ret = json_pack("{s:s, s:s, s:I}", "algorithm", alg, "digest", hex, "size", size);
	}
	free(ctx);
	free(buf);
	return ret;
}
