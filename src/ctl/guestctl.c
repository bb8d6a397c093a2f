/* guestctl: the host-side client. Every session starts with 0xFF + guest-sync-delimited. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/cmdlist.h"
#include "ctl/ctl.h"
#include "gd_config.h"
#include "guestd/client.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: guestctl [-s SOCKET] [-t SECONDS] COMMAND [ARG]...\n"
		"Talk to a guestd (or qemu-ga) agent.\n\n"
		"Options:\n"
		"  -s, --socket PATH   the agent's socket (default: $GUESTD_SOCKET)\n"
		"  -t, --timeout SECS  give up waiting for a reply after SECS (default 30; 0: never)\n"
		"  -V, --version       print the version\n"
		"  -h, --help          this help\n\n"
		"Commands:\n"
		"  ping                check that the agent answers\n"
		"  info                print the agent's version and commands\n"
		"  call NAME [JSON]    run command NAME with arguments JSON; print its return\n"
		"  commands            list the agent commands this guestctl knows\n"
		"  cp [-q] [--sha256] LOCAL :GUESTPATH\n"
		"  cp [-q] [--sha256] :GUESTPATH LOCAL\n"
		"                      copy a file into or out of the guest (LOCAL may be -), in\n"
		"                      4 MiB chunks, replacing the destination atomically; --sha256\n"
		"                      checks the copy against guest-file-checksum\n"
		"  cat :GUESTPATH...   print guest files\n"
		"  ls :GUESTPATH       list a guest directory\n"
		"  stat :GUESTPATH     describe a guest file\n");
}

static void list_commands(void)
{
	for (size_t i = 0; i < ctl_cmdlist_len; i++)
		printf("%-34s %s\n%-34s   %s\n", ctl_cmdlist[i].name, ctl_cmdlist[i].summary, "",
		       ctl_cmdlist[i].args[0] ? ctl_cmdlist[i].args : "(no arguments)");
}

static int fail(struct gd_err *err)
{
	fprintf(stderr, "guestctl: %s\n", err->desc ? err->desc : "error");
	gd_err_clear(err);
	return 1;
}

static int print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
	if (!s)
		return 1;
	puts(s);
	free(s);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = getenv("GUESTD_SOCKET");
	long timeout = 30;
	int c;
	while ((c = getopt_long(argc, argv, "+s:t:Vh", lopts, NULL)) != -1) {
		switch (c) {
		case 's':
			sock = optarg;
			break;
		case 't': {
			char *end;
			timeout = strtol(optarg, &end, 10);
			if (*end || timeout < 0) {
				fprintf(stderr, "guestctl: bad timeout '%s'\n", optarg);
				return 2;
			}
			break;
		}
		case 'V':
			printf("guestctl %s\n", GD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[optind++];
	if (strcmp(cmd, "commands") == 0) {
		list_commands();
		return 0;
	}
	static const struct {
		const char *name;
		int (*fn)(struct gd_client *, int, char **);
	} filecmds[] = {
		{ "cp", ctl_cp }, { "cat", ctl_cat }, { "ls", ctl_ls }, { "stat", ctl_stat },
	};
	for (size_t i = 0; i < sizeof filecmds / sizeof filecmds[0]; i++) {
		if (strcmp(cmd, filecmds[i].name) != 0)
			continue;
		if (!sock) {
			fprintf(stderr, "guestctl: no socket: use -s PATH or set GUESTD_SOCKET\n");
			return 2;
		}
		struct gd_client fcl;
		struct gd_err ferr = GD_ERR_INIT;
		if (gd_client_connect(&fcl, sock, (int)timeout * 1000, &ferr) < 0 ||
		    gd_client_sync(&fcl, &ferr) < 0)
			return fail(&ferr);
		int st = filecmds[i].fn(&fcl, argc - optind + 1, argv + optind - 1);
		gd_client_close(&fcl);
		return st;
	}
	const char *name = NULL;
	json_t *args = NULL;
	if (strcmp(cmd, "ping") == 0) {
		name = "guest-ping";
	} else if (strcmp(cmd, "info") == 0) {
		name = "guest-info";
	} else if (strcmp(cmd, "call") == 0) {
		if (optind >= argc) {
			fprintf(stderr, "guestctl: call needs a command name\n");
			return 2;
		}
		name = argv[optind++];
		if (optind < argc) {
			json_error_t je;
			args = json_loads(argv[optind++], 0, &je);
			if (!json_is_object(args)) {
				fprintf(stderr, "guestctl: arguments must be a JSON object: %s\n",
					args ? "not an object" : je.text);
				json_decref(args);
				return 2;
			}
		}
	} else {
		fprintf(stderr, "guestctl: unknown command '%s' (see --help)\n", cmd);
		return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "guestctl: unexpected argument '%s'\n", argv[optind]);
		json_decref(args);
		return 2;
	}
	if (!sock) {
		fprintf(stderr, "guestctl: no socket: use -s PATH or set GUESTD_SOCKET\n");
		json_decref(args);
		return 2;
	}

	struct gd_client cl;
	struct gd_err err = GD_ERR_INIT;
	if (gd_client_connect(&cl, sock, (int)timeout * 1000, &err) < 0) {
		json_decref(args);
		return fail(&err);
	}
	int status = 0;
	json_t *ret = NULL;
	if (gd_client_sync(&cl, &err) < 0 || gd_client_call(&cl, name, args, &ret, &err) < 0) {
		status = fail(&err);
	} else if (strcmp(cmd, "ping") == 0) {
		printf("pong\n");
	} else {
		status = print_json(ret);
	}
	json_decref(ret);
	json_decref(args);
	gd_client_close(&cl);
	return status;
}
