/* guestd's file-changing commands: guest-file-mkdir, -chmod, -chown, -remove, -rename.
 * All run on the threadpool. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/cmdtab.h"
#include "cmd/args.h"

#define REMOVE_MAX_DEPTH 256

static json_t *bad_mode(struct gd_err *err, json_int_t mode)
{
	gd_err_set(err, GD_ERR_GENERIC, EINVAL, "value '%" JSON_INTEGER_FORMAT
		   "' is invalid for argument mode (0 to 4095, i.e. 07777)", mode);
	return NULL;
}

/* mkdir that sets exactly mode on the directory it creates (not masked by the umask). Returns 0,
 * or -1 with errno. */
static int mkdir_exact(const char *path, mode_t mode)
{
	if (mkdir(path, mode) < 0)
		return -1;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = fchmod(fd, mode);
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

json_t *cmd_guest_file_mkdir(json_t *args, struct gd_err *err)
{
	const char *path = arg_str(args, "path");
	json_int_t mode = arg_int(args, "mode", 0755);
	bool parents = arg_bool(args, "parents", false);
	if (mode < 0 || mode > 07777)
		return bad_mode(err, mode);
	if (parents) {
		/* like mkdir -p: missing parents get 0755 (less the umask), existing ones are fine */
		char *p = strdup(path);
		if (!p) {
			gd_err_errno(err, ENOMEM, "cannot create directory '%s'", path);
			return NULL;
		}
		for (char *s = p + 1; *s; s++) {
			if (*s != '/')
				continue;
			*s = 0;
			if (mkdir(p, 0755) < 0 && errno != EEXIST) {
				gd_err_errno(err, errno, "cannot create directory '%s'", p);
				free(p);
				return NULL;
			}
			*s = '/';
		}
		free(p);
	}
	if (mkdir_exact(path, (mode_t)mode) < 0) {
		if (!(parents && errno == EEXIST && is_dir(path))) {
			gd_err_errno(err, errno, "cannot create directory '%s'", path);
			return NULL;
		}
	}
	return json_object();
}

json_t *cmd_guest_file_chmod(json_t *args, struct gd_err *err)
{
	const char *path = arg_str(args, "path");
	json_int_t mode = arg_int(args, "mode", -1);
	if (mode < 0 || mode > 07777)
		return bad_mode(err, mode);
	if (chmod(path, (mode_t)mode) < 0) {
		gd_err_errno(err, errno, "cannot change the mode of '%s'", path);
		return NULL;
	}
	return json_object();
}

/* A uid from "uid" or "user" (-1: leave it). Returns 0 or a negative errno with err set. */
static int owner_arg(json_t *args, const char *num, const char *name, bool user, long *id,
		     struct gd_err *err)
{
	json_t *jn = json_object_get(args, num);
	const char *s = arg_str(args, name);
	*id = -1;
	if (jn && s)
		return gd_err_set(err, GD_ERR_GENERIC, EINVAL, "give '%s' or '%s', not both", num,
				  name);
	if (jn) {
		json_int_t v = json_integer_value(jn);
		if (v < -1 || v > 0x7fffffff)
			return gd_err_set(err, GD_ERR_GENERIC, EINVAL, "value '%" JSON_INTEGER_FORMAT
					  "' is invalid for argument %s", v, num);
		*id = (long)v;
		return 0;
	}
	if (!s)
		return 0;
	char buf[16384];
	int r;
	if (user) {
		struct passwd pw, *res = NULL;
		r = getpwnam_r(s, &pw, buf, sizeof buf, &res);
		if (r == 0 && res)
			*id = (long)pw.pw_uid;
	} else {
		struct group gr, *res = NULL;
		r = getgrnam_r(s, &gr, buf, sizeof buf, &res);
		if (r == 0 && res)
			*id = (long)gr.gr_gid;
	}
	if (r != 0)
		return gd_err_errno(err, r, "cannot look up %s '%s'", name, s);
	if (*id < 0)
		return gd_err_set(err, GD_ERR_GENERIC, ENOENT, "no such %s '%s'", name, s);
	return 0;
}

json_t *cmd_guest_file_chown(json_t *args, struct gd_err *err)
{
	const char *path = arg_str(args, "path");
	bool follow = arg_bool(args, "follow-symlinks", false);
	long uid, gid;
	if (owner_arg(args, "uid", "user", true, &uid, err) < 0 ||
	    owner_arg(args, "gid", "group", false, &gid, err) < 0)
		return NULL;
	if (uid < 0 && gid < 0) {
		gd_err_set(err, GD_ERR_GENERIC, EINVAL,
			   "give at least one of 'uid', 'user', 'gid', 'group'");
		return NULL;
	}
	if (fchownat(AT_FDCWD, path, (uid_t)uid, (gid_t)gid, follow ? 0 : AT_SYMLINK_NOFOLLOW) < 0) {
		gd_err_errno(err, errno, "cannot change the owner of '%s'", path);
		return NULL;
	}
	return json_object();
}

/* Recursive removal. Every directory is opened relative to its parent with O_NOFOLLOW, so a
 * symlink is removed itself, never followed, even if an entry is swapped for one meanwhile. */
struct rm {
	char *path;        /* of the entry being worked on, for messages */
	size_t len, cap;
	json_int_t removed;
	struct gd_err *err;
};

static int rm_push(struct rm *rm, const char *name)
{
	size_t n = strlen(name);
	if (rm->len + n + 2 > rm->cap) {
		size_t cap = (rm->len + n + 2) * 2;
		char *np = realloc(rm->path, cap);
		if (!np)
			return -ENOMEM;
		rm->path = np;
		rm->cap = cap;
	}
	rm->path[rm->len] = '/';
	memcpy(rm->path + rm->len + 1, name, n + 1);
	rm->len += n + 1;
	return 0;
}

static void rm_pop(struct rm *rm)
{
	while (rm->len > 0 && rm->path[rm->len - 1] != '/')
		rm->len--;
	if (rm->len > 0)
		rm->len--;
	rm->path[rm->len] = 0;
}

static int rm_fail(struct rm *rm, int e, const char *what)
{
	return gd_err_errno(rm->err, e, "cannot %s '%s'", what, rm->path);
}

static int rm_tree(struct rm *rm, int dfd, int depth);

/* Removes name in dfd (a directory with all its contents). */
static int rm_entry(struct rm *rm, int dfd, const char *name, int depth)
{
	if (rm_push(rm, name) < 0)
		return gd_err_errno(rm->err, ENOMEM, "cannot remove '%s'", rm->path);
	int r = 0;
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		r = errno == ENOENT ? 0 : rm_fail(rm, errno, "stat");
	} else if (S_ISDIR(st.st_mode)) {
		int cfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cfd < 0)
			r = rm_fail(rm, errno, "open directory");
		else if ((r = rm_tree(rm, cfd, depth + 1)) == 0) {
			if (unlinkat(dfd, name, AT_REMOVEDIR) < 0)
				r = rm_fail(rm, errno, "remove");
			else
				rm->removed++;
		}
	} else if (unlinkat(dfd, name, 0) < 0) {
		r = errno == ENOENT ? 0 : rm_fail(rm, errno, "remove");
	} else {
		rm->removed++;
	}
	rm_pop(rm);
	return r;
}

/* Empties the directory dfd (consumed) whose path is rm->path. */
static int rm_tree(struct rm *rm, int dfd, int depth)
{
	if (depth > REMOVE_MAX_DEPTH) {
		close(dfd);
		return gd_err_set(rm->err, GD_ERR_GENERIC, ELOOP,
				  "cannot remove '%s': more than %d levels deep", rm->path,
				  REMOVE_MAX_DEPTH);
	}
	DIR *d = fdopendir(dfd);   /* takes dfd: the *at calls use it through the stream */
	if (!d) {
		int e = errno;
		close(dfd);
		return rm_fail(rm, e, "read directory");
	}
	int r = 0;
	json_int_t before;
	do {
		/* a pass over what is left; entries removed under an open stream may make readdir
		 * skip some, so passes repeat until one removes nothing */
		before = rm->removed;
		rewinddir(d);
		while (r == 0) {
			errno = 0;
			struct dirent *de = readdir(d);
			if (!de) {
				if (errno)
					r = rm_fail(rm, errno, "read directory");
				break;
			}
			if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
				r = rm_entry(rm, dfd, de->d_name, depth);
		}
	} while (r == 0 && rm->removed != before);
	closedir(d);
	return r;
}

json_t *cmd_guest_file_remove(json_t *args, struct gd_err *err)
{
	const char *path = arg_str(args, "path");
	bool recursive = arg_bool(args, "recursive", false);
	struct stat st, root;
	if (lstat(path, &st) < 0) {
		gd_err_errno(err, errno, "cannot remove '%s'", path);
		return NULL;
	}
	if (!S_ISDIR(st.st_mode)) {
		if (unlink(path) < 0) {
			gd_err_errno(err, errno, "cannot remove '%s'", path);
			return NULL;
		}
		return json_pack("{s:I}", "removed", (json_int_t)1);
	}
	struct rm rm = { .err = err };
	if (recursive) {
		if (stat("/", &root) == 0 && root.st_dev == st.st_dev && root.st_ino == st.st_ino) {
			gd_err_set(err, GD_ERR_GENERIC, EPERM, "refusing to remove '/' recursively");
			return NULL;
		}
		int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0) {
			gd_err_errno(err, errno, "cannot open directory '%s'", path);
			return NULL;
		}
		rm.path = strdup(path);
		if (!rm.path) {
			close(dfd);
			gd_err_errno(err, ENOMEM, "cannot remove '%s'", path);
			return NULL;
		}
		rm.len = strlen(path);
		rm.cap = rm.len + 1;
		int r = rm_tree(&rm, dfd, 1);
		free(rm.path);
		if (r < 0)
			return NULL;
	}
	if (rmdir(path) < 0) {
		if (errno == EEXIST)
			errno = ENOTEMPTY;   /* the same condition; some systems say EEXIST */
		gd_err_errno(err, errno, "cannot remove '%s'", path);
		return NULL;
	}
	return json_pack("{s:I}", "removed", rm.removed + 1);
}

json_t *cmd_guest_file_rename(json_t *args, struct gd_err *err)
{
	const char *path = arg_str(args, "path");
	const char *to = arg_str(args, "new-path");
	if (rename(path, to) < 0) {
		gd_err_errno(err, errno, "cannot rename '%s' to '%s'", path, to);
		return NULL;
	}
	return json_object();
}
