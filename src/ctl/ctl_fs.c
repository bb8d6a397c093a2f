/* guestctl ls and stat, and the helpers the file subcommands share. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/ctl.h"

int ctl_call(struct gd_client *cl, const char *name, json_t *args, json_t **ret,
	     struct gd_err *err)
{
	if (!args && err) {
		/* json_pack failed */
		return gd_err_set(err, GD_ERR_GENERIC, ENOMEM, "out of memory");
	}
	int r = gd_client_call(cl, name, args, ret, err);
	json_decref(args);
	return r;
}

int ctl_fail(struct gd_err *err)
{
	fprintf(stderr, "guestctl: %s\n", err->desc ? err->desc : "error");
	gd_err_clear(err);
	return 1;
}

const char *ctl_guest_path(const char *arg)
{
	return arg[0] == ':' ? arg + 1 : NULL;
}

static json_int_t num(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

/* "drwxr-xr-x" from guest-file-stat's type and mode. */
static void mode_string(json_t *o, char out[11])
{
	const char *t = str(o, "type");
	json_int_t m = num(o, "mode");
	out[0] = strcmp(t, "directory") == 0 ? 'd' : strcmp(t, "symlink") == 0 ? 'l'
		 : strcmp(t, "fifo") == 0 ? 'p' : strcmp(t, "socket") == 0 ? 's'
		 : strcmp(t, "char-device") == 0 ? 'c' : strcmp(t, "block-device") == 0 ? 'b' : '-';
	const char *rwx = "rwxrwxrwx";
	for (int i = 0; i < 9; i++)
		out[1 + i] = (m & (0400 >> i)) ? rwx[i] : '-';
	if (m & 04000)
		out[3] = (m & 0100) ? 's' : 'S';
	if (m & 02000)
		out[6] = (m & 010) ? 's' : 'S';
	if (m & 01000)
		out[9] = (m & 01) ? 't' : 'T';
	out[10] = 0;
}

static void time_string(json_t *o, const char *k, char *out, size_t n)
{
	double t = json_number_value(json_object_get(o, k));
	time_t s = (time_t)t;
	struct tm tm;
	if (!localtime_r(&s, &tm) || !strftime(out, n, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(out, n, "%.0f", t);
}

static void print_entry(json_t *e, const char *name)
{
	if (json_object_get(e, "error")) {
		printf("?????????? %s (%s)\n", name, str(e, "error"));
		return;
	}
	char mode[11], when[32];
	mode_string(e, mode);
	time_string(e, "mtime", when, sizeof when);
	printf("%s %3" JSON_INTEGER_FORMAT " %5" JSON_INTEGER_FORMAT " %5" JSON_INTEGER_FORMAT
	       " %12" JSON_INTEGER_FORMAT " %s %s", mode, num(e, "nlink"), num(e, "uid"),
	       num(e, "gid"), num(e, "size"), when, name);
	if (json_object_get(e, "link-target"))
		printf(" -> %s", str(e, "link-target"));
	putchar('\n');
}

int ctl_ls(struct gd_client *cl, int argc, char **argv)
{
	const char *g = argc == 2 ? ctl_guest_path(argv[1]) : NULL;
	if (!g) {
		fprintf(stderr, "guestctl: usage: ls :GUESTPATH\n");
		return 2;
	}
	struct gd_err err = GD_ERR_INIT;
	json_int_t offset = 0;
	for (;;) {
		json_t *ret = NULL;
		int r = ctl_call(cl, "guest-file-list", json_pack("{s:s, s:I}", "path", g, "offset",
								   offset), &ret, &err);
		if (r == -ENOTDIR && offset == 0) {
			/* a file: list it alone, as ls does */
			gd_err_clear(&err);
			if (ctl_call(cl, "guest-file-stat", json_pack("{s:s}", "path", g), &ret,
				     &err) < 0)
				return ctl_fail(&err);
			print_entry(ret, g);
			json_decref(ret);
			return 0;
		}
		if (r < 0)
			return ctl_fail(&err);
		size_t i;
		json_t *e;
		json_array_foreach(json_object_get(ret, "entries"), i, e)
			print_entry(e, str(e, "name"));
		json_t *next = json_object_get(ret, "next");
		bool more = json_is_true(json_object_get(ret, "truncated")) && json_is_integer(next);
		offset = more ? json_integer_value(next) : 0;
		json_decref(ret);
		if (!more)
			return 0;
	}
}

int ctl_stat(struct gd_client *cl, int argc, char **argv)
{
	const char *g = argc == 2 ? ctl_guest_path(argv[1]) : NULL;
	if (!g) {
		fprintf(stderr, "guestctl: usage: stat :GUESTPATH\n");
		return 2;
	}
	struct gd_err err = GD_ERR_INIT;
	json_t *o = NULL;
	if (ctl_call(cl, "guest-file-stat", json_pack("{s:s}", "path", g), &o, &err) < 0)
		return ctl_fail(&err);
	char mode[11], a[32], m[32], c[32];
	mode_string(o, mode);
	time_string(o, "atime", a, sizeof a);
	time_string(o, "mtime", m, sizeof m);
	time_string(o, "ctime", c, sizeof c);
	printf("  File: %s", g);
	if (json_object_get(o, "link-target"))
		printf(" -> %s", str(o, "link-target"));
	printf("\n  Type: %s\n  Size: %" JSON_INTEGER_FORMAT "\n Links: %" JSON_INTEGER_FORMAT
	       "\n  Mode: %04llo (%s)\n   Uid: %" JSON_INTEGER_FORMAT
	       "\n   Gid: %" JSON_INTEGER_FORMAT "\nAccess: %s\nModify: %s\nChange: %s\n",
	       str(o, "type"), num(o, "size"), num(o, "nlink"), (unsigned long long)num(o, "mode"), mode, num(o, "uid"),
	       num(o, "gid"), a, m, c);
	json_decref(o);
	return 0;
}
