/* guestctl's file subcommands (ctl_cp.c, ctl_fs.c). Each takes a connected, synchronised client
 * and its own arguments (argv[0] is the subcommand's name) and returns the exit status. */
#ifndef GUESTD_CTL_H
#define GUESTD_CTL_H

#include <stdbool.h>
#include <jansson.h>

#include "guestd/client.h"

/* cp [-q] [--sha256] SRC DST: one of SRC and DST is :GUESTPATH, the other a local path. */
int ctl_cp(struct gd_client *cl, int argc, char **argv);
/* cat :PATH... */
int ctl_cat(struct gd_client *cl, int argc, char **argv);
/* ls :PATH */
int ctl_ls(struct gd_client *cl, int argc, char **argv);
/* stat :PATH */
int ctl_stat(struct gd_client *cl, int argc, char **argv);

/* Helpers shared by the two files. */
/* gd_client_call that steals args (may be NULL); prints nothing. */
int ctl_call(struct gd_client *cl, const char *name, json_t *args, json_t **ret,
	     struct gd_err *err);
/* Prints "guestctl: <desc>" and clears err; returns 1. */
int ctl_fail(struct gd_err *err);
/* The guest path of ":PATH" (NULL when arg does not start with ':'). */
const char *ctl_guest_path(const char *arg);

#endif
