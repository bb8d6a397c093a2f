/* Configuration: one option table drives the command line, guestd.conf and --dump-conf. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "agent/agent.h"
#include "gd_config.h"
#include "guestd/limits.h"

enum opt_type {
	OT_STR,      /* char * */
	OT_LIST,     /* char *, comma-separated; given again (or continued on an indented line in
		      * the file) it adds to the list */
	OT_BOOL,     /* bool */
	OT_LONG,     /* long, decimal, >= 0 */
	OT_OCTAL,    /* long, octal */
	OT_METHOD,   /* the first listener's method */
	OT_PATH,     /* the first listener's path */
	OT_LISTEN,   /* extra listeners: "method:path, method:path" */
	OT_VERBOSE,  /* long: -v repeats, the file takes a bool or a level */
	OT_ACTION,   /* command line only */
};

struct opt {
	const char *key;    /* key in [general] and long option */
	const char *lopt;   /* the long option when it differs from key (qemu-ga's spelling) */
	int shortopt;       /* 0: none */
	enum opt_type type;
	size_t off;
	long min, max;
	const char *arg;    /* argument name in --help, NULL for flags */
	const char *help;
};

#define OFF(m) offsetof(struct config, m)

static const struct opt opts[] = {
	{ "method", NULL, 'm', OT_METHOD, 0, 0, 0, "METHOD",
	  "transport: virtio-serial (default), isa-serial, unix-listen, vsock-listen" },
	{ "path", NULL, 'p', OT_PATH, 0, 0, 0, "PATH",
	  "device, socket path or CID:PORT (default: " GD_DEFAULT_VIRTIO_PATH ")" },
	{ "logfile", NULL, 'l', OT_STR, OFF(logfile), 0, 0, "PATH", "log to PATH (reopened on SIGHUP)" },
	{ "pidfile", NULL, 'f', OT_STR, OFF(pidfile), 0, 0, "PATH", "write the pid to PATH" },
	{ "statedir", NULL, 't', OT_STR, OFF(statedir), 0, 0, "DIR",
	  "state directory (default: " GD_DEFAULT_STATEDIR ")" },
	{ "verbose", NULL, 'v', OT_VERBOSE, OFF(verbose), 0, 3, NULL, "log more (twice: debug)" },
	{ "daemon", "daemonize", 'd', OT_BOOL, OFF(daemonize), 0, 0, NULL, "run in the background" },
	{ "syslog", NULL, 0, OT_BOOL, OFF(syslog), 0, 0, NULL,
	  "log to syslog (the default when daemonized without --logfile)" },
	{ "allow-rpcs", NULL, 'a', OT_LIST, OFF(allow_rpcs), 0, 0, "LIST",
	  "allow only these commands (comma-separated)" },
	{ "block-rpcs", NULL, 'b', OT_LIST, OFF(block_rpcs), 0, 0, "LIST",
	  "disable these commands (comma-separated)" },
	{ "fsfreeze-hook", NULL, 'F', OT_STR, OFF(fsfreeze_hook), 0, 0, "PATH",
	  "script run around filesystem freeze and thaw" },
	{ "retry-path", NULL, 'r', OT_BOOL, OFF(retry_path), 0, 0, NULL,
	  "wait for a missing device at startup instead of failing" },
	{ "listen", NULL, 0, OT_LISTEN, 0, 0, 0, "METHOD:PATH,...", "more listeners" },
	{ "max-request-size", NULL, 0, OT_LONG, OFF(max_request_size), 1024, LONG_MAX, "BYTES",
	  "largest request accepted" },
	{ "max-depth", NULL, 0, OT_LONG, OFF(max_depth), 2, 1024, "N", "deepest nesting accepted" },
	{ "max-in-flight", NULL, 0, OT_LONG, OFF(max_in_flight), 1, 4096, "N",
	  "requests in flight per connection" },
	{ "max-file-handles", NULL, 0, OT_LONG, OFF(max_file_handles), 1, 65536, "N",
	  "open guest-file handles" },
	{ "plugin-dir", NULL, 0, OT_STR, OFF(plugin_dir), 0, 0, "DIR", "command.d plugin directory" },
	{ "plugin-timeout", NULL, 0, OT_LONG, OFF(plugin_timeout), 1, 86400, "SECONDS",
	  "longest plugin run" },
	{ "plugin-max-output", NULL, 0, OT_LONG, OFF(plugin_max_output), 1, LONG_MAX, "BYTES",
	  "largest plugin output" },
	{ "socket-mode", NULL, 0, OT_OCTAL, OFF(socket_mode), 0, 0777, "MODE", "unix-listen socket mode" },
	{ "socket-group", NULL, 0, OT_STR, OFF(socket_group), 0, 0, "GROUP", "unix-listen socket group" },
	{ "config", NULL, 'c', OT_ACTION, 0, 0, 0, "PATH",
	  "configuration file (default: " GD_CONFDIR "/guestd.conf)" },
	{ "check-config", NULL, 'n', OT_ACTION, 0, 0, 0, NULL, "check the configuration and exit" },
	{ "dump-conf", NULL, 'D', OT_ACTION, 0, 0, 0, NULL, "print the effective configuration and exit" },
	{ "version", NULL, 'V', OT_ACTION, 0, 0, 0, NULL, "print the version and exit" },
	{ "help", NULL, 'h', OT_ACTION, 0, 0, 0, NULL, "print this help and exit" },
};
#define NOPTS (sizeof opts / sizeof opts[0])

static const char *const methods[] = { "virtio-serial", "isa-serial", "unix-listen",
				       "vsock-listen", NULL };

const char *config_default_path(const char *method)
{
	if (strcmp(method, "virtio-serial") == 0)
		return GD_DEFAULT_VIRTIO_PATH;
	if (strcmp(method, "isa-serial") == 0)
		return "/dev/ttyS0";
	return NULL;
}

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->max_request_size = GD_MAX_REQUEST_SIZE;
	cfg->max_depth = GD_MAX_DEPTH;
	cfg->max_in_flight = GD_MAX_IN_FLIGHT;
	cfg->max_file_handles = GD_MAX_FILE_HANDLES;
	cfg->plugin_timeout = GD_PLUGIN_TIMEOUT_S;
	cfg->plugin_max_output = GD_PLUGIN_MAX_OUTPUT;
	cfg->socket_mode = GD_SOCKET_MODE;
	cfg->statedir = strdup(GD_DEFAULT_STATEDIR);
	cfg->plugin_dir = strdup(GD_CONFDIR "/command.d");
}

static void listeners_free(struct config *cfg, size_t from)
{
	for (size_t i = from; i < cfg->nlisteners; i++) {
		free(cfg->listeners[i].method);
		free(cfg->listeners[i].path);
	}
	cfg->nlisteners = from;
	if (from == 0) {
		free(cfg->listeners);
		cfg->listeners = NULL;
	}
}

void config_free(struct config *cfg)
{
	listeners_free(cfg, 0);
	for (size_t i = 0; i < NOPTS; i++)
		if (opts[i].type == OT_STR || opts[i].type == OT_LIST)
			free(*(char **)((char *)cfg + opts[i].off));
	memset(cfg, 0, sizeof *cfg);
}

static struct listener_cfg *listener_at(struct config *cfg, size_t i)
{
	if (i >= cfg->nlisteners) {
		struct listener_cfg *l = realloc(cfg->listeners, (i + 1) * sizeof *l);
		if (!l)
			return NULL;
		cfg->listeners = l;
		for (size_t j = cfg->nlisteners; j <= i; j++)
			l[j] = (struct listener_cfg){ strdup("virtio-serial"), NULL };
		cfg->nlisteners = i + 1;
	}
	return &cfg->listeners[i];
}

static int set_str(char **dst, const char *v)
{
	char *s = strdup(v);
	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

static int check_method(const char *v, char *why, size_t n)
{
	for (size_t i = 0; methods[i]; i++)
		if (strcmp(methods[i], v) == 0)
			return 0;
	snprintf(why, n, "unknown method '%s' (virtio-serial, isa-serial, unix-listen, vsock-listen)",
		 v);
	return -EINVAL;
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on") || !strcmp(v, "1"))
		*out = true;
	else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off") ||
		 !strcmp(v, "0"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

static int parse_long(const char *v, int base, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long x = strtol(v, &end, base);
	if (errno || end == v || *end || x < min || x > max)
		return -EINVAL;
	*out = x;
	return 0;
}

/* "method:path, method:path" appended after the first listener. */
static int add_listeners(struct config *cfg, const char *v, char *why, size_t n)
{
	char *copy = strdup(v), *save = NULL;
	if (!copy)
		return -ENOMEM;
	size_t base = cfg->nlisteners ? cfg->nlisteners : 1;
	int r = 0;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ' || *tok == '\t')
			tok++;
		char *e = tok + strlen(tok);
		while (e > tok && (e[-1] == ' ' || e[-1] == '\t'))
			*--e = 0;
		if (!*tok)
			continue;
		char *colon = strchr(tok, ':');
		if (colon)
			*colon = 0;
		if ((r = check_method(tok, why, n)) < 0)
			break;
		if (!colon && !config_default_path(tok)) {
			snprintf(why, n, "listener '%s' needs a path (METHOD:PATH)", tok);
			r = -EINVAL;
			break;
		}
		if (!listener_at(cfg, 0)) {
			r = -ENOMEM;
			break;
		}
		struct listener_cfg *l = listener_at(cfg, base++);
		if (!l || set_str(&l->method, tok) < 0 || (colon && set_str(&l->path, colon + 1) < 0)) {
			r = -ENOMEM;
			break;
		}
	}
	free(copy);
	return r;
}

/* Applies one option from either source; why gets a reason on failure. */
static int apply(struct config *cfg, const struct opt *o, const char *v, size_t *cur, char *why,
		 size_t n)
{
	void *field = (char *)cfg + o->off;
	bool b;
	long x;
	switch (o->type) {
	case OT_STR:
		return set_str(field, v);
	case OT_LIST: {
		char **list = field;
		if (!*list || !**list)
			return set_str(list, v);
		char *joined;
		if (asprintf(&joined, "%s,%s", *list, v) < 0)
			return -ENOMEM;
		free(*list);
		*list = joined;
		return 0;
	}
	case OT_BOOL:
		if (parse_bool(v, &b) < 0) {
			snprintf(why, n, "'%s' is not a boolean (true/false)", v);
			return -EINVAL;
		}
		*(bool *)field = b;
		return 0;
	case OT_VERBOSE:
		if (parse_bool(v, &b) == 0) {
			*(long *)field = b ? 1 : 0;
			return 0;
		}
		__attribute__((fallthrough)); /* a level */
	case OT_LONG:
	case OT_OCTAL:
		if (parse_long(v, o->type == OT_OCTAL ? 8 : 10, o->min, o->max, &x) < 0) {
			snprintf(why, n, "'%s' is not a%s number from %lo to %lo", v,
				 o->type == OT_OCTAL ? "n octal" : "", o->min, o->max);
			if (o->type != OT_OCTAL)
				snprintf(why, n, "'%s' is not a number from %ld to %ld", v, o->min, o->max);
			return -EINVAL;
		}
		*(long *)field = x;
		return 0;
	case OT_METHOD: {
		int r = check_method(v, why, n);
		if (r < 0)
			return r;
		struct listener_cfg *l = listener_at(cfg, *cur);
		return l ? set_str(&l->method, v) : -ENOMEM;
	}
	case OT_PATH: {
		struct listener_cfg *l = listener_at(cfg, *cur);
		return l ? set_str(&l->path, v) : -ENOMEM;
	}
	case OT_LISTEN:
		return add_listeners(cfg, v, why, n);
	case OT_ACTION:
		break;
	}
	return 0;
}

static const struct opt *find_key(const char *key)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (opts[i].key && opts[i].type != OT_ACTION && strcmp(opts[i].key, key) == 0)
			return &opts[i];
	return NULL;
}

struct ini_ctx {
	struct config *cfg;
	const char *path;
	char why[256];
};

static int ini_cb(void *user, const char *section, const char *name, const char *value)
{
	struct ini_ctx *ctx = user;
	if (ctx->why[0])
		return 0; /* inih goes on after an error and reports the first one's line */
	if (strcmp(section, "general") != 0) {
		snprintf(ctx->why, sizeof ctx->why, "unknown section [%s]", section);
		return 0;
	}
	const struct opt *o = find_key(name);
	if (!o) {
		snprintf(ctx->why, sizeof ctx->why, "unknown key '%s'", name);
		return 0;
	}
	char why[200] = "";
	size_t cur = 0;
	if (apply(ctx->cfg, o, value, &cur, why, sizeof why) < 0) {
		snprintf(ctx->why, sizeof ctx->why, "key '%s': %s", name, why[0] ? why : "bad value");
		return 0;
	}
	return 1;
}

/* The first line of f longer than inih takes (198 characters and the newline), or 0. inih
 * would read it in pieces and report a syntax error on a line number of its own counting. */
static int overlong_line(FILE *f)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t r;
	int n = 0, found = 0;
	while (!found && (r = getline(&line, &cap, f)) >= 0) {
		n++;
		if (r > 199 || (r == 199 && line[r - 1] != '\n'))
			found = n;
	}
	free(line);
	rewind(f);
	return found;
}

static int load_file(struct config *cfg, const char *path, bool must_exist)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT && !must_exist)
			return 0;
		fprintf(stderr, "guestd: cannot read config %s: %s\n", path, strerror(errno));
		return -1;
	}
	struct ini_ctx ctx = { .cfg = cfg, .path = path };
	int line = overlong_line(f);
	if (line)
		snprintf(ctx.why, sizeof ctx.why, "line longer than 198 characters (continue a "
			 "list on indented lines)");
	else
		line = ini_parse_file(f, ini_cb, &ctx);
	fclose(f);
	if (line != 0) {
		fprintf(stderr, "guestd: %s:%d: %s\n", path, line,
			ctx.why[0] ? ctx.why : "syntax error");
		return -1;
	}
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out, "Usage: guestd [OPTION]...\nThe guestd guest agent (qemu-ga compatible).\n\n");
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt *o = &opts[i];
		char left[64];
		const char *lo = o->lopt ? o->lopt : o->key;
		if (o->shortopt)
			snprintf(left, sizeof left, "-%c, --%s%s%s", o->shortopt, lo,
				 o->arg ? " " : "", o->arg ? o->arg : "");
		else
			snprintf(left, sizeof left, "    --%s%s%s", lo, o->arg ? " " : "",
				 o->arg ? o->arg : "");
		fprintf(out, "  %-34s %s\n", left, o->help);
	}
	fprintf(out, "\n-m/-p may be given several times to listen on several channels.\n");
}

/* The option getopt_long returned c for (long options return 0x100 + index), or NULL. */
static const struct opt *opt_of(int c)
{
	if (c >= 0x100 && c < 0x100 + (int)NOPTS)
		return &opts[c - 0x100];
	for (size_t i = 0; i < NOPTS; i++)
		if (opts[i].shortopt && opts[i].shortopt == c)
			return &opts[i];
	return NULL;
}

enum config_action config_load(struct config *cfg, int argc, char **argv)
{
	struct option lopts[NOPTS + 1];
	char sopts[NOPTS * 2 + 2];
	size_t s = 0;
	sopts[s++] = ':';
	for (size_t i = 0; i < NOPTS; i++) {
		lopts[i] = (struct option){ opts[i].lopt ? opts[i].lopt : opts[i].key,
					    opts[i].arg ? required_argument : no_argument, NULL,
					    0x100 + (int)i };
		if (opts[i].shortopt) {
			sopts[s++] = (char)opts[i].shortopt;
			if (opts[i].arg)
				sopts[s++] = ':';
		}
	}
	sopts[s] = 0;
	lopts[NOPTS] = (struct option){ 0 };

	/* first pass: actions and the config file; the file is read before the flags that
	 * override it */
	const char *cfgpath = NULL;
	bool check = false, dump = false, cli_listeners = false;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, sopts, lopts, NULL)) != -1) {
		const struct opt *o = opt_of(c);
		if (c == ':') {
			fprintf(stderr, "guestd: option '%s' needs an argument\n", argv[optind - 1]);
			return CONFIG_EXIT_FAIL;
		}
		if (c == '?' || !o) {
			if (optopt && optopt < 0x100)
				fprintf(stderr, "guestd: unknown option '-%c' (see --help)\n", optopt);
			else
				fprintf(stderr, "guestd: unknown option '%s' (see --help)\n",
					argv[optind - 1]);
			return CONFIG_EXIT_FAIL;
		}
		if (o->type == OT_METHOD || o->type == OT_PATH)
			cli_listeners = true;
		if (o->type != OT_ACTION)
			continue;
		switch (o->shortopt) {
		case 'h':
			usage(stdout);
			return CONFIG_EXIT_OK;
		case 'V':
			printf("guestd %s\n", GD_VERSION);
			return CONFIG_EXIT_OK;
		case 'c':
			cfgpath = optarg;
			break;
		case 'n':
			check = true;
			break;
		case 'D':
			dump = true;
			break;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "guestd: unexpected argument '%s' (see --help)\n", argv[optind]);
		return CONFIG_EXIT_FAIL;
	}
	if (load_file(cfg, cfgpath ? cfgpath : GD_CONFDIR "/guestd.conf", cfgpath != NULL) < 0)
		return CONFIG_EXIT_FAIL;

	/* second pass: flags override the file. -m/-p on the command line say where to listen:
	 * the file's method, path and listen are dropped, and each further -m/-p pair (after the
	 * first) adds a listener, as --listen does */
	if (cli_listeners)
		listeners_free(cfg, 0);
	size_t cur = 0;
	bool have_m = false, have_p = false;
	bool cli_seen[NOPTS] = { false };
	optind = 1;
	while ((c = getopt_long(argc, argv, sopts, lopts, NULL)) != -1) {
		const struct opt *o = opt_of(c);
		if (!o || o->type == OT_ACTION)
			continue;
		if (o->type == OT_METHOD || o->type == OT_PATH) {
			bool is_m = o->type == OT_METHOD;
			if ((is_m && have_m) || (!is_m && have_p)) {
				cur = cfg->nlisteners ? cfg->nlisteners : 1; /* a new pair */
				have_m = have_p = false;
			}
			if (is_m)
				have_m = true;
			else
				have_p = true;
		}
		if (o->type == OT_VERBOSE) {
			if (cfg->verbose < o->max)
				cfg->verbose++;
			continue;
		}
		if (o->type == OT_BOOL && !o->arg) {
			*(bool *)((char *)cfg + o->off) = true;
			continue;
		}
		if (o->type == OT_LIST && !cli_seen[o - opts]) {
			/* the command line's list replaces the file's; repeated flags add up */
			char **list = (char **)((char *)cfg + o->off);
			free(*list);
			*list = NULL;
		}
		cli_seen[o - opts] = true;
		char why[200] = "";
		if (apply(cfg, o, optarg, &cur, why, sizeof why) < 0) {
			fprintf(stderr, "guestd: --%s: %s\n", o->lopt ? o->lopt : o->key,
				why[0] ? why : strerror(ENOMEM));
			return CONFIG_EXIT_FAIL;
		}
	}
	if (!listener_at(cfg, 0))
		return CONFIG_EXIT_FAIL;
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		struct listener_cfg *l = &cfg->listeners[i];
		if (!l->path && !config_default_path(l->method)) {
			fprintf(stderr, "guestd: method %s needs a path (-p)\n", l->method);
			return CONFIG_EXIT_FAIL;
		}
	}
	if (dump) {
		config_dump(cfg, stdout);
		return CONFIG_EXIT_OK;
	}
	if (check) {
		printf("guestd: configuration OK\n");
		return CONFIG_EXIT_OK;
	}
	return CONFIG_RUN;
}

/* key=a,b,c with long lists continued on indented lines (inih reads lines of up to 199
 * characters and hands continuation lines to the same key, which lists add up). */
static void dump_list(FILE *out, const char *key, const char *list)
{
	int col = fprintf(out, "%s=", key);
	bool first = true;
	for (const char *p = list; *p;) {
		while (*p == ',' || *p == ' ')
			p++;
		size_t n = strcspn(p, ",");
		while (n > 0 && p[n - 1] == ' ')
			n--;
		if (n == 0)
			break;
		if (!first && col + (int)n + 1 > 150) {
			fputs("\n ", out);
			col = 1;
			first = true;
		}
		col += fprintf(out, "%s%.*s", first ? "" : ",", (int)n, p);
		first = false;
		p += n;
		while (*p == ' ')
			p++;
	}
	fputc('\n', out);
}

void config_dump(const struct config *cfg, FILE *out)
{
	fprintf(out, "[general]\n");
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt *o = &opts[i];
		const void *field = (const char *)cfg + o->off;
		switch (o->type) {
		case OT_STR:
			if (*(char *const *)field)
				fprintf(out, "%s=%s\n", o->key, *(char *const *)field);
			break;
		case OT_LIST:
			if (*(char *const *)field && **(char *const *)field)
				dump_list(out, o->key, *(char *const *)field);
			break;
		case OT_BOOL:
			fprintf(out, "%s=%s\n", o->key, *(const bool *)field ? "true" : "false");
			break;
		case OT_LONG:
		case OT_VERBOSE:
			fprintf(out, "%s=%ld\n", o->key, *(const long *)field);
			break;
		case OT_OCTAL:
			fprintf(out, "%s=0%lo\n", o->key, *(const long *)field);
			break;
		case OT_METHOD:
			fprintf(out, "method=%s\n", cfg->listeners[0].method);
			break;
		case OT_PATH: {
			const char *p = cfg->listeners[0].path;
			p = p ? p : config_default_path(cfg->listeners[0].method);
			if (p)
				fprintf(out, "path=%s\n", p);
			break;
		}
		case OT_LISTEN:
			if (cfg->nlisteners > 1) {
				char *all = NULL;
				size_t len = 0;
				FILE *m = open_memstream(&all, &len);
				for (size_t j = 1; m && j < cfg->nlisteners; j++) {
					const struct listener_cfg *l = &cfg->listeners[j];
					const char *p = l->path ? l->path : config_default_path(l->method);
					fprintf(m, "%s%s:%s", j > 1 ? "," : "", l->method, p);
				}
				if (m && fclose(m) == 0)
					dump_list(out, o->key, all);
				free(all);
			}
			break;
		case OT_ACTION:
			break;
		}
	}
}
