/* Agent-wide state and configuration. */
#ifndef GUESTD_AGENT_H
#define GUESTD_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <uv.h>

#include "guestd/error.h"

struct listener_cfg {
	char *method;   /* virtio-serial, isa-serial, unix-listen, vsock-listen */
	char *path;     /* device, socket path or CID:PORT; NULL: the method's default */
};

struct config {
	struct listener_cfg *listeners;
	size_t nlisteners;
	char *logfile, *pidfile, *statedir, *fsfreeze_hook, *plugin_dir, *socket_group;
	char *allow_rpcs, *block_rpcs;   /* comma-separated command names */
	long verbose;
	bool daemonize, retry_path, syslog;
	long max_request_size, max_depth, max_in_flight, max_file_handles;
	long plugin_timeout, plugin_max_output;
	long socket_mode;
};

struct agent {
	uv_loop_t *loop;
	struct config cfg;
	bool frozen;        /* filesystems frozen by guest-fsfreeze-freeze: the frozen gate is on */
	bool stopping;
};

extern struct agent agent;

/* Why name may not run now: NULL when it may, else a static reason such as "disabled" (allow and
 * block lists) or "frozen". */
const char *agent_cmd_refusal(const char *name, bool freeze_safe);

/* config.c: one option table drives the command line, the file and --dump-conf. */
enum config_action { CONFIG_RUN = 0, CONFIG_EXIT_OK, CONFIG_EXIT_FAIL };
void config_defaults(struct config *cfg);
/* Parses argv (and the config file it names or the default one) into cfg. Prints one-line
 * errors to stderr. */
enum config_action config_load(struct config *cfg, int argc, char **argv);
/* Writes cfg as a config file that reads back to the same settings. */
void config_dump(const struct config *cfg, FILE *out);
void config_free(struct config *cfg);
/* The default path of a listener method, or NULL when it needs an explicit one. */
const char *config_default_path(const char *method);

#endif
