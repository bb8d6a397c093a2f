/* Unit tests for the configuration (src/agent/config.c: config_defaults, config_load,
 * config_dump, config_free; docs/guestd.conf.5, docs/guestd.8). */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/agent.h"
#include "gd_config.h"
#include "guestd/limits.h"

static char g_dir[] = "/tmp/gd-unit-config-XXXXXX";
static char g_empty[256];          /* an empty config file: tests do not read the system's */
static struct config g_cfg;
static char *g_out, *g_err;        /* what the last load printed */

/* ---- helpers ---- */

static char *path_in_dir(const char *name)
{
	static char p[4][512];
	static int k;
	k = (k + 1) % 4;
	snprintf(p[k], sizeof p[k], "%s/%s", g_dir, name);
	return p[k];
}

static const char *write_file(const char *name, const char *content)
{
	char *p = path_in_dir(name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	assert_int_equal(fclose(f), 0);
	return p;
}

struct capture {
	FILE *stream, *tmp;
	int saved;
};

static void cap_begin(struct capture *c, FILE *stream)
{
	fflush(stream);
	c->stream = stream;
	c->tmp = tmpfile();
	assert_non_null(c->tmp);
	c->saved = dup(fileno(stream));
	assert_true(c->saved >= 0);
	assert_true(dup2(fileno(c->tmp), fileno(stream)) >= 0);
}

static char *cap_end(struct capture *c)
{
	fflush(c->stream);
	dup2(c->saved, fileno(c->stream));
	close(c->saved);
	long n = ftell(c->tmp);
	if (n < 0)
		n = 0;
	char *s = calloc(1, (size_t)n + 1);
	rewind(c->tmp);
	if (s && n > 0 && fread(s, 1, (size_t)n, c->tmp) != (size_t)n)
		s[0] = 0;
	fclose(c->tmp);
	return s;
}

/* Runs config_load on a fresh g_cfg with argv av (NULL-terminated, av[0] included), capturing
 * stdout and stderr into g_out and g_err. */
static enum config_action load_av(const char **av)
{
	int ac = 0;
	while (av[ac])
		ac++;
	free(g_out);
	free(g_err);
	config_free(&g_cfg);
	config_defaults(&g_cfg);
	struct capture co, ce;
	cap_begin(&co, stdout);
	cap_begin(&ce, stderr);
	optind = 0; /* glibc: a full reset of getopt's state */
	enum config_action a = config_load(&g_cfg, ac, (char **)av);
	g_err = cap_end(&ce);
	g_out = cap_end(&co);
	assert_non_null(g_out);
	assert_non_null(g_err);
	return a;
}

#define LOAD(...) load_av((const char *[]){ "guestd", __VA_ARGS__, NULL })

static void expect_err_has(const char *needle)
{
	if (!strstr(g_err, needle))
		fail_msg("stderr lacks \"%s\": %s", needle, g_err);
}

static char *dump_str(const struct config *cfg)
{
	char *s = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&s, &n);
	assert_non_null(f);
	config_dump(cfg, f);
	assert_int_equal(fclose(f), 0);
	return s;
}

/* The value of key in a dump ("key=value" lines), or NULL. */
static char *dump_get(const char *dump, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = dump; p && *p;) {
		const char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n > kl && strncmp(p, key, kl) == 0 && p[kl] == '=')
			return strndup(p + kl + 1, n - kl - 1);
		p = e ? e + 1 : NULL;
	}
	return NULL;
}

static int setup_group(void **state)
{
	if (!mkdtemp(g_dir))
		return -1;
	snprintf(g_empty, sizeof g_empty, "%s/empty.conf", g_dir);
	FILE *f = fopen(g_empty, "w");
	if (!f)
		return -1;
	fclose(f);
	return 0;
}

static int teardown_group(void **state)
{
	DIR *d = opendir(g_dir);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d))) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			char p[600];
			snprintf(p, sizeof p, "%s/%s", g_dir, de->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(g_dir);
	free(g_out);
	free(g_err);
	g_out = g_err = NULL;
	return 0;
}

static int setup(void **state)
{
	config_defaults(&g_cfg);
	return 0;
}

static int teardown(void **state)
{
	config_free(&g_cfg);
	return 0;
}

/* ---- defaults and the command line ---- */

static void test_defaults(void **state)
{
	assert_int_equal(g_cfg.max_request_size, GD_MAX_REQUEST_SIZE);
	assert_int_equal(g_cfg.max_depth, GD_MAX_DEPTH);
	assert_int_equal(g_cfg.max_in_flight, GD_MAX_IN_FLIGHT);
	assert_int_equal(g_cfg.max_file_handles, GD_MAX_FILE_HANDLES);
	assert_int_equal(g_cfg.plugin_timeout, GD_PLUGIN_TIMEOUT_S);
	assert_int_equal(g_cfg.plugin_max_output, GD_PLUGIN_MAX_OUTPUT);
	assert_int_equal(g_cfg.socket_mode, GD_SOCKET_MODE);
	assert_string_equal(g_cfg.statedir, GD_DEFAULT_STATEDIR);
	assert_non_null(g_cfg.plugin_dir);
	assert_int_equal(LOAD("-c", g_empty), CONFIG_RUN);
	assert_string_equal(g_err, "");
	assert_int_equal(g_cfg.nlisteners, 1);
	assert_string_equal(g_cfg.listeners[0].method, "virtio-serial");
	assert_null(g_cfg.listeners[0].path);
	assert_string_equal(config_default_path("virtio-serial"), GD_DEFAULT_VIRTIO_PATH);
	assert_non_null(config_default_path("isa-serial"));
	assert_null(config_default_path("unix-listen"));
	assert_null(config_default_path("vsock-listen"));
	assert_int_equal(g_cfg.verbose, 0);
	assert_false(g_cfg.daemonize);
	assert_null(g_cfg.allow_rpcs);
	assert_null(g_cfg.block_rpcs);
}

static void test_method_path_pairs(void **state)
{
	assert_int_equal(LOAD("-c", g_empty, "-m", "unix-listen", "-p", "/tmp/a.sock", "-m",
			      "vsock-listen", "-p", "3:1234", "-m", "isa-serial"),
			 CONFIG_RUN);
	assert_int_equal(g_cfg.nlisteners, 3);
	assert_string_equal(g_cfg.listeners[0].method, "unix-listen");
	assert_string_equal(g_cfg.listeners[0].path, "/tmp/a.sock");
	assert_string_equal(g_cfg.listeners[1].method, "vsock-listen");
	assert_string_equal(g_cfg.listeners[1].path, "3:1234");
	assert_string_equal(g_cfg.listeners[2].method, "isa-serial");
	assert_null(g_cfg.listeners[2].path); /* the method's default */
}

static void test_path_alone(void **state)
{
	assert_int_equal(LOAD("-c", g_empty, "-p", "/dev/vport1p1"), CONFIG_RUN);
	assert_int_equal(g_cfg.nlisteners, 1);
	assert_string_equal(g_cfg.listeners[0].method, "virtio-serial");
	assert_string_equal(g_cfg.listeners[0].path, "/dev/vport1p1");
}

static void test_long_options(void **state)
{
	assert_int_equal(LOAD("-c", g_empty, "--method=unix-listen", "--path", "/run/g.sock",
			      "--logfile=/var/log/g.log", "--pidfile", "/run/g.pid", "--statedir",
			      "/var/lib/g", "--verbose", "--verbose", "--daemon", "--allow-rpcs",
			      "guest-ping,guest-info", "--block-rpcs", "guest-exec", "--fsfreeze-hook",
			      "/etc/g/hook", "--retry-path", "--listen",
			      "vsock-listen:3:4000, unix-listen:/run/h.sock", "--max-request-size",
			      "2048", "--max-depth", "8", "--max-in-flight", "3",
			      "--max-file-handles", "9", "--plugin-dir", "/etc/g/cmd.d",
			      "--plugin-timeout", "5", "--plugin-max-output", "4096", "--socket-mode",
			      "0660", "--socket-group", "wheel"),
			 CONFIG_RUN);
	assert_string_equal(g_err, "");
	assert_int_equal(g_cfg.nlisteners, 3);
	assert_string_equal(g_cfg.listeners[0].method, "unix-listen");
	assert_string_equal(g_cfg.listeners[0].path, "/run/g.sock");
	assert_string_equal(g_cfg.listeners[1].method, "vsock-listen");
	assert_string_equal(g_cfg.listeners[1].path, "3:4000");
	assert_string_equal(g_cfg.listeners[2].method, "unix-listen");
	assert_string_equal(g_cfg.listeners[2].path, "/run/h.sock");
	assert_string_equal(g_cfg.logfile, "/var/log/g.log");
	assert_string_equal(g_cfg.pidfile, "/run/g.pid");
	assert_string_equal(g_cfg.statedir, "/var/lib/g");
	assert_int_equal(g_cfg.verbose, 2);
	assert_true(g_cfg.daemonize);
	assert_string_equal(g_cfg.allow_rpcs, "guest-ping,guest-info");
	assert_string_equal(g_cfg.block_rpcs, "guest-exec");
	assert_string_equal(g_cfg.fsfreeze_hook, "/etc/g/hook");
	assert_true(g_cfg.retry_path);
	assert_int_equal(g_cfg.max_request_size, 2048);
	assert_int_equal(g_cfg.max_depth, 8);
	assert_int_equal(g_cfg.max_in_flight, 3);
	assert_int_equal(g_cfg.max_file_handles, 9);
	assert_string_equal(g_cfg.plugin_dir, "/etc/g/cmd.d");
	assert_int_equal(g_cfg.plugin_timeout, 5);
	assert_int_equal(g_cfg.plugin_max_output, 4096);
	assert_int_equal(g_cfg.socket_mode, 0660);
	assert_string_equal(g_cfg.socket_group, "wheel");
}

static void test_short_options(void **state)
{
	assert_int_equal(LOAD("-c", g_empty, "-m", "unix-listen", "-p", "/run/s.sock", "-l",
			      "/log", "-f", "/pid", "-t", "/state", "-vvv", "-d", "-a", "guest-ping",
			      "-b", "guest-exec", "-F", "/hook", "-r"),
			 CONFIG_RUN);
	assert_string_equal(g_cfg.listeners[0].method, "unix-listen");
	assert_string_equal(g_cfg.listeners[0].path, "/run/s.sock");
	assert_string_equal(g_cfg.logfile, "/log");
	assert_string_equal(g_cfg.pidfile, "/pid");
	assert_string_equal(g_cfg.statedir, "/state");
	assert_int_equal(g_cfg.verbose, 3);
	assert_true(g_cfg.daemonize);
	assert_string_equal(g_cfg.allow_rpcs, "guest-ping");
	assert_string_equal(g_cfg.block_rpcs, "guest-exec");
	assert_string_equal(g_cfg.fsfreeze_hook, "/hook");
	assert_true(g_cfg.retry_path);
}

static void test_unknown_option(void **state)
{
	assert_int_equal(LOAD("-c", g_empty, "-Z"), CONFIG_EXIT_FAIL);
	expect_err_has("-Z");
	assert_int_equal(LOAD("-c", g_empty, "--bogus"), CONFIG_EXIT_FAIL);
	expect_err_has("--bogus");
	assert_int_equal(LOAD("-c", g_empty, "--daemon=yes"), CONFIG_EXIT_FAIL); /* a flag */
	assert_int_equal(LOAD("-c", g_empty, "stray"), CONFIG_EXIT_FAIL);
	expect_err_has("stray");
	assert_int_equal(LOAD("-c", g_empty, "-m", "carrier-pigeon"), CONFIG_EXIT_FAIL);
	expect_err_has("carrier-pigeon");
}

static void test_missing_argument(void **state)
{
	assert_int_equal(LOAD("-c", g_empty, "-p"), CONFIG_EXIT_FAIL);
	assert_int_equal(LOAD("-c", g_empty, "--max-depth"), CONFIG_EXIT_FAIL);
	assert_int_equal(LOAD("-c", g_empty, "-m"), CONFIG_EXIT_FAIL);
	assert_int_equal(LOAD("-c"), CONFIG_EXIT_FAIL);
}

/* Regression (was a bug in src/agent/config.c:386-397, config_load first pass): the option string starts with ':',
 * so getopt returns ':' for a missing argument; ':' matches no option, so the `c == '?' || !o`
 * branch reports "unknown option '-p'" and the "needs an argument" branch is dead code. */
static void test_missing_argument_message(void **state)
{
	assert_int_equal(LOAD("-c", g_empty, "-p"), CONFIG_EXIT_FAIL);
	expect_err_has("needs an argument");
	assert_int_equal(LOAD("-c", g_empty, "--max-depth"), CONFIG_EXIT_FAIL);
	expect_err_has("needs an argument");
}

static void test_listener_needs_path(void **state)
{
	assert_int_equal(LOAD("-c", g_empty, "-m", "unix-listen"), CONFIG_EXIT_FAIL);
	expect_err_has("unix-listen");
	expect_err_has("needs a path");
	assert_int_equal(LOAD("-c", g_empty, "-m", "vsock-listen"), CONFIG_EXIT_FAIL);
	expect_err_has("needs a path");
	/* the first pair is complete, the second is not */
	assert_int_equal(LOAD("-c", g_empty, "-m", "unix-listen", "-p", "/a", "-m", "unix-listen"),
			 CONFIG_EXIT_FAIL);
	assert_int_equal(LOAD("-c", g_empty, "--listen", "unix-listen"), CONFIG_EXIT_FAIL);
	assert_int_equal(LOAD("-c", g_empty, "--listen", "virtio-serial"), CONFIG_RUN);
}

static void test_bad_numbers(void **state)
{
	const char *bad[] = { "abc", "0", "4097", "12x", "", "-1", "99999999999999999999",
			      "0x10" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		config_free(&g_cfg);
		config_defaults(&g_cfg);
		if (LOAD("-c", g_empty, "--max-in-flight", bad[i]) != CONFIG_EXIT_FAIL)
			fail_msg("--max-in-flight '%s' was accepted", bad[i]);
		expect_err_has("max-in-flight");
		assert_int_equal(g_cfg.max_in_flight, GD_MAX_IN_FLIGHT);
	}
	assert_int_equal(LOAD("-c", g_empty, "--max-in-flight", "4096"), CONFIG_RUN);
	assert_int_equal(g_cfg.max_in_flight, 4096);
	assert_int_equal(LOAD("-c", g_empty, "--max-in-flight", "1"), CONFIG_RUN);
	assert_int_equal(g_cfg.max_in_flight, 1);
	assert_int_equal(LOAD("-c", g_empty, "--max-depth", "1"), CONFIG_EXIT_FAIL);
	assert_int_equal(LOAD("-c", g_empty, "--max-request-size", "1023"), CONFIG_EXIT_FAIL);
	assert_int_equal(LOAD("-c", g_empty, "--socket-mode", "0999"), CONFIG_EXIT_FAIL);
	assert_int_equal(LOAD("-c", g_empty, "--socket-mode", "1777"), CONFIG_EXIT_FAIL);
	assert_int_equal(LOAD("-c", g_empty, "--socket-mode", "660"), CONFIG_RUN);
	assert_int_equal(g_cfg.socket_mode, 0660); /* octal with or without the 0 */
}

static void test_version_help(void **state)
{
	assert_int_equal(LOAD("-V"), CONFIG_EXIT_OK);
	assert_string_equal(g_out, "guestd " GD_VERSION "\n");
	assert_int_equal(LOAD("--version"), CONFIG_EXIT_OK);
	assert_string_equal(g_out, "guestd " GD_VERSION "\n");
	assert_int_equal(LOAD("-h"), CONFIG_EXIT_OK);
	const char *longs[] = { "--method", "--path", "--listen", "--max-in-flight",
				"--socket-mode", "--config", "--dump-conf", "--help" };
	for (size_t i = 0; i < sizeof longs / sizeof longs[0]; i++)
		if (!strstr(g_out, longs[i]))
			fail_msg("--help lacks %s", longs[i]);
	assert_non_null(strstr(g_out, "Usage:"));
	assert_string_equal(g_err, "");
}

static void test_check_and_dump_flags(void **state)
{
	assert_int_equal(LOAD("-c", g_empty, "-n"), CONFIG_EXIT_OK);
	assert_non_null(strstr(g_out, "OK"));
	/* a bad configuration is still refused with -n */
	assert_int_equal(LOAD("-c", g_empty, "-n", "-m", "unix-listen"), CONFIG_EXIT_FAIL);
	config_free(&g_cfg);
	config_defaults(&g_cfg);
	assert_int_equal(LOAD("-c", g_empty, "-D", "--max-depth", "9"), CONFIG_EXIT_OK);
	assert_memory_equal(g_out, "[general]\n", 10);
	assert_non_null(strstr(g_out, "\nmax-depth=9\n"));
	char *d = dump_str(&g_cfg);
	assert_string_equal(g_out, d); /* -D prints config_dump of what was loaded */
	free(d);
}

/* ---- the config file ---- */

static void test_file_sets_values(void **state)
{
	const char *p = write_file("set.conf", "# a comment\n"
					       "\n"
					       "[general]\n"
					       "; another comment\n"
					       "method = unix-listen\n"
					       "path=/run/f.sock\n"
					       "max-depth = 10\n"
					       "allow-rpcs=guest-ping,guest-info\n"
					       "daemon=yes\n"
					       "retry-path=off\n"
					       "verbose=2\n"
					       "socket-mode=0640\n"
					       "listen=vsock-listen:-1:4000, isa-serial\n");
	assert_int_equal(LOAD("-c", p), CONFIG_RUN);
	assert_string_equal(g_err, "");
	assert_int_equal(g_cfg.nlisteners, 3);
	assert_string_equal(g_cfg.listeners[0].method, "unix-listen");
	assert_string_equal(g_cfg.listeners[0].path, "/run/f.sock");
	assert_string_equal(g_cfg.listeners[1].method, "vsock-listen");
	assert_string_equal(g_cfg.listeners[1].path, "-1:4000");
	assert_string_equal(g_cfg.listeners[2].method, "isa-serial");
	assert_null(g_cfg.listeners[2].path);
	assert_int_equal(g_cfg.max_depth, 10);
	assert_string_equal(g_cfg.allow_rpcs, "guest-ping,guest-info");
	assert_true(g_cfg.daemonize);
	assert_false(g_cfg.retry_path);
	assert_int_equal(g_cfg.verbose, 2);
	assert_int_equal(g_cfg.socket_mode, 0640);
}

static void test_file_verbose_bool(void **state)
{
	const char *p = write_file("v.conf", "[general]\nverbose=true\n");
	assert_int_equal(LOAD("-c", p), CONFIG_RUN);
	assert_int_equal(g_cfg.verbose, 1);
	p = write_file("v.conf", "[general]\nverbose=false\n");
	assert_int_equal(LOAD("-c", p), CONFIG_RUN);
	assert_int_equal(g_cfg.verbose, 0);
}

static void test_file_unknown_key(void **state)
{
	const char *p = write_file("key.conf", "[general]\nlogfile=/x\nbogus=1\n");
	assert_int_equal(LOAD("-c", p), CONFIG_EXIT_FAIL);
	char want[600];
	snprintf(want, sizeof want, "%s:3:", p);
	expect_err_has(want);
	expect_err_has("'bogus'");
}

/* Regression (was a bug in src/agent/config.c:298-313 ini_cb with the system inih, built without
 * INI_STOP_ON_FIRST_ERROR): inih keeps parsing after an error and returns the FIRST error's
 * line, but ini_cb overwrites ctx->why at every error, so the message names the first bad
 * line with the LAST bad key ("two.conf:2: unknown key 'second'"). */
static void test_file_two_bad_keys(void **state)
{
	const char *p = write_file("two.conf", "[general]\nfirst=1\nsecond=2\n");
	assert_int_equal(LOAD("-c", p), CONFIG_EXIT_FAIL);
	char want[600];
	snprintf(want, sizeof want, "%s:2: unknown key 'first'", p);
	expect_err_has(want);
}

static void test_file_unknown_section(void **state)
{
	const char *p = write_file("sec.conf", "[general]\nlogfile=/x\n\n[other]\nkey=1\n");
	assert_int_equal(LOAD("-c", p), CONFIG_EXIT_FAIL);
	expect_err_has("[other]");
	char want[600];
	snprintf(want, sizeof want, "%s:5:", p);
	expect_err_has(want);
	/* keys before any section belong to no known section either */
	p = write_file("nosec.conf", "logfile=/x\n");
	assert_int_equal(LOAD("-c", p), CONFIG_EXIT_FAIL);
}

static void test_file_bad_values(void **state)
{
	const char *cases[] = { "max-depth=abc\n", "max-depth=2000\n", "daemon=maybe\n",
				"method=carrier-pigeon\n", "socket-mode=9\n",
				"listen=unix-listen\n", "verbose=7\n", "this is not ini\n" };
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char content[256];
		snprintf(content, sizeof content, "[general]\n%s", cases[i]);
		const char *p = write_file("bad.conf", content);
		config_free(&g_cfg);
		config_defaults(&g_cfg);
		if (LOAD("-c", p) != CONFIG_EXIT_FAIL)
			fail_msg("accepted: %s", cases[i]);
		char want[600];
		snprintf(want, sizeof want, "%s:2:", p);
		expect_err_has(want);
	}
}

static void test_file_missing(void **state)
{
	assert_int_equal(LOAD("-c", path_in_dir("does-not-exist.conf")), CONFIG_EXIT_FAIL);
	expect_err_has("does-not-exist.conf");
}

static void test_flags_override_file(void **state)
{
	const char *p = write_file("ovr.conf", "[general]\n"
					       "method=unix-listen\n"
					       "path=/run/file.sock\n"
					       "max-depth=10\n"
					       "logfile=/file.log\n"
					       "pidfile=/file.pid\n"
					       "allow-rpcs=guest-ping\n");
	/* flags before and after -c: the file is read first either way */
	assert_int_equal(LOAD("--max-depth", "20", "-c", p, "-l", "/cli.log", "-m", "unix-listen",
			      "-p", "/run/cli.sock", "--allow-rpcs", "guest-info"),
			 CONFIG_RUN);
	assert_int_equal(g_cfg.max_depth, 20);
	assert_string_equal(g_cfg.logfile, "/cli.log");
	assert_string_equal(g_cfg.allow_rpcs, "guest-info");
	assert_string_equal(g_cfg.pidfile, "/file.pid"); /* not overridden: the file's */
	assert_int_equal(g_cfg.nlisteners, 1);
	assert_string_equal(g_cfg.listeners[0].method, "unix-listen");
	assert_string_equal(g_cfg.listeners[0].path, "/run/cli.sock");
}

/* Every key, each set to something other than its default, in config_dump's own format. */
static const char full_conf[] =
	"[general]\n"
	"method=unix-listen\n"
	"path=/tmp/gd-a.sock\n"
	"logfile=/var/log/gd.log\n"
	"pidfile=/run/gd.pid\n"
	"statedir=/var/lib/gd\n"
	"verbose=2\n"
	"daemon=true\n"
	"syslog=true\n"
	"allow-rpcs=guest-ping,guest-info,guest-sync\n"
	"block-rpcs=guest-exec\n"
	"fsfreeze-hook=/etc/gd/hook\n"
	"retry-path=true\n"
	"listen=vsock-listen:3:1234,isa-serial:/dev/ttyS1,unix-listen:/tmp/gd-b.sock\n"
	"max-request-size=2048\n"
	"max-depth=7\n"
	"max-in-flight=5\n"
	"max-file-handles=11\n"
	"plugin-dir=/etc/gd/cmd.d\n"
	"plugin-timeout=9\n"
	"plugin-max-output=12345\n"
	"socket-mode=0640\n"
	"socket-group=wheel\n";

static void test_dump_round_trip(void **state)
{
	/* the defaults' dump, to check the file changes every key */
	assert_int_equal(LOAD("-c", g_empty), CONFIG_RUN);
	char *defaults = dump_str(&g_cfg);
	config_free(&g_cfg);
	config_defaults(&g_cfg);

	const char *p1 = write_file("full.conf", full_conf);
	assert_int_equal(LOAD("-c", p1, "-D"), CONFIG_EXIT_OK);
	assert_string_equal(g_err, "");
	char *dump1 = strdup(g_out);
	assert_non_null(dump1);

	/* every line of the file is in the dump as written: every key was read */
	char *copy = strdup(full_conf), *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char l[300];
		snprintf(l, sizeof l, "\n%s\n", line);
		if (line[0] != '[' && !strstr(dump1, l))
			fail_msg("dump lacks %s:\n%s", line, dump1);
	}
	free(copy);
	/* and every key of the defaults' dump has a different value */
	copy = strdup(defaults);
	save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = 0;
		char *v = dump_get(dump1, line);
		if (!v || strcmp(v, eq + 1) == 0)
			fail_msg("key %s is not set to a non-default value by the test file", line);
		free(v);
	}
	free(copy);

	/* read the dump back: the same dump */
	config_free(&g_cfg);
	config_defaults(&g_cfg);
	const char *p2 = write_file("dump1.conf", dump1);
	assert_int_equal(LOAD("-c", p2, "-D"), CONFIG_EXIT_OK);
	assert_string_equal(g_err, "");
	assert_string_equal(g_out, dump1);
	char *direct = dump_str(&g_cfg);
	assert_string_equal(direct, dump1);
	free(direct);
	free(dump1);
	free(defaults);
}

static void test_dump_round_trip_defaults(void **state)
{
	assert_int_equal(LOAD("-c", g_empty, "-D"), CONFIG_EXIT_OK);
	char *dump1 = strdup(g_out);
	config_free(&g_cfg);
	config_defaults(&g_cfg);
	assert_int_equal(LOAD("-c", write_file("dflt.conf", dump1), "-D"), CONFIG_EXIT_OK);
	assert_string_equal(g_err, "");
	assert_string_equal(g_out, dump1);
	free(dump1);
}

/* Regression (was a bug in src/agent/config.c, config_load second pass, OT_VERBOSE): -v is counted without the
 * option's max (3), so "-vvvv -D" dumps verbose=4, which the file parser refuses ("'4' is
 * not a number from 0 to 3"): the dump does not read back (agent.h: "Writes cfg as a config
 * file that reads back to the same settings"). */
static void test_dump_round_trip_many_v(void **state)
{
	assert_int_equal(LOAD("-c", g_empty, "-vvvv", "-D"), CONFIG_EXIT_OK);
	char *dump1 = strdup(g_out);
	config_free(&g_cfg);
	config_defaults(&g_cfg);
	enum config_action a = LOAD("-c", write_file("vvvv.conf", dump1), "-D");
	int same = strcmp(g_out, dump1) == 0;
	free(dump1);
	if (a != CONFIG_EXIT_OK || !same)
		fail_msg("the dump of -vvvv does not read back: %s", g_err);
}

/* Lines are limited to what the system inih reads (198 characters): Debian builds it with
 * INI_MAX_LINE 200, which guestd cannot change. A longer line is a clear error naming the real
 * line (inih alone reported "syntax error" on a line number of its own counting); a long list
 * is written on indented continuation lines, which add up, and config_dump writes it so. */
static void test_file_long_line(void **state)
{
	char list[1024] = "";
	for (int i = 0; i < 25; i++)
		snprintf(list + strlen(list), sizeof list - strlen(list), "%sguest-command-%02d",
			 i ? "," : "", i);
	assert_true(strlen(list) > 300);
	char content[1200];
	snprintf(content, sizeof content, "[general]\nverbose=1\nallow-rpcs=%s\n", list);
	assert_int_equal(LOAD("-c", write_file("long.conf", content)), CONFIG_EXIT_FAIL);
	expect_err_has("long.conf:3: line longer than 198 characters");

	/* the same list over continuation lines */
	char wrapped[1200];
	size_t half = strlen("guest-command-00,") * 8;
	snprintf(wrapped, sizeof wrapped, "[general]\nallow-rpcs=%.*s\n  %.*s\n  %s\n",
		 (int)(half - 1), list, (int)(half - 1), list + half, list + 2 * half);
	config_free(&g_cfg);
	config_defaults(&g_cfg);
	assert_int_equal(LOAD("-c", write_file("wrapped.conf", wrapped)), CONFIG_RUN);
	assert_string_equal(g_cfg.allow_rpcs, list);

	/* and the dump of it reads back to the same */
	assert_int_equal(LOAD("-c", write_file("wrapped.conf", wrapped), "-D"), CONFIG_EXIT_OK);
	char *dump1 = strdup(g_out);
	config_free(&g_cfg);
	config_defaults(&g_cfg);
	assert_int_equal(LOAD("-c", write_file("dump.conf", dump1), "-D"), CONFIG_EXIT_OK);
	assert_string_equal(g_out, dump1);
	free(dump1);
}

/* Regression (was a bug in src/agent/config.c:440-444, config_load second pass): the first -m/-p drops every
 * listener seen so far ("-m/-p pairs replace the file's listeners"), including those that
 * --listen added earlier on the same command line; so the result depends on the order of the
 * flags: "--listen X -m M -p P" serves 1 channel, "-m M -p P --listen X" serves 2. */
static void test_listen_flag_order(void **state)
{
	assert_int_equal(LOAD("-c", g_empty, "--listen", "unix-listen:/run/b.sock", "-m",
			      "unix-listen", "-p", "/run/a.sock"),
			 CONFIG_RUN);
	assert_int_equal(g_cfg.nlisteners, 2);
	assert_string_equal(g_cfg.listeners[0].path, "/run/a.sock");
	assert_string_equal(g_cfg.listeners[1].path, "/run/b.sock");
}

static void test_listen_after_pairs(void **state)
{
	assert_int_equal(LOAD("-c", g_empty, "-m", "unix-listen", "-p", "/run/a.sock", "--listen",
			      "unix-listen:/run/b.sock"),
			 CONFIG_RUN);
	assert_int_equal(g_cfg.nlisteners, 2);
	assert_string_equal(g_cfg.listeners[0].path, "/run/a.sock");
	assert_string_equal(g_cfg.listeners[1].path, "/run/b.sock");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_defaults),
		T(test_method_path_pairs),
		T(test_path_alone),
		T(test_long_options),
		T(test_short_options),
		T(test_unknown_option),
		T(test_missing_argument),
		T(test_missing_argument_message),
		T(test_listener_needs_path),
		T(test_bad_numbers),
		T(test_version_help),
		T(test_check_and_dump_flags),
		T(test_file_sets_values),
		T(test_file_verbose_bool),
		T(test_file_unknown_key),
		T(test_file_two_bad_keys),
		T(test_file_unknown_section),
		T(test_file_bad_values),
		T(test_file_missing),
		T(test_flags_override_file),
		T(test_dump_round_trip),
		T(test_dump_round_trip_defaults),
		T(test_dump_round_trip_many_v),
		T(test_file_long_line),
		T(test_listen_flag_order),
		T(test_listen_after_pairs),
	};
	return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
