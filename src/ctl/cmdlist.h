/* guestctl's view of the command table, generated from schema/ (DESIGN.md rule 5). */
#ifndef GUESTD_CTL_CMDLIST_H
#define GUESTD_CTL_CMDLIST_H

#include <stddef.h>

struct ctl_cmdinfo {
	const char *name;
	const char *summary;
	const char *args;    /* "name:type [name:type]" */
};

extern const struct ctl_cmdinfo ctl_cmdlist[];
extern const size_t ctl_cmdlist_len;

#endif
