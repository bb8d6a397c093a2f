/* One log API (DESIGN.md rule 9): stderr in the foreground, syslog when daemonised. */
#ifndef GUESTD_LOG_H
#define GUESTD_LOG_H

enum gd_log_level { GD_LOG_ERR = 0, GD_LOG_WARN, GD_LOG_INFO, GD_LOG_DEBUG };

enum gd_log_sink { GD_LOG_STDERR = 0, GD_LOG_SYSLOG, GD_LOG_FILE };

void gd_log_set_level(enum gd_log_level level);
enum gd_log_level gd_log_get_level(void);
/* Sends messages to sink; GD_LOG_FILE appends to path (reopened by gd_log_reopen).
 * Returns 0, or a negative errno when the file cannot be opened. */
int gd_log_open(enum gd_log_sink sink, const char *ident, const char *path);
/* Reopens the log file (SIGHUP, rotation); no-op for other sinks. */
int gd_log_reopen(void);
void gd_log_close(void);
void gd_log(enum gd_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define gd_err_log(...)   gd_log(GD_LOG_ERR, __VA_ARGS__)
#define gd_warn(...)      gd_log(GD_LOG_WARN, __VA_ARGS__)
#define gd_info(...)      gd_log(GD_LOG_INFO, __VA_ARGS__)
#define gd_debug(...)     do { if (gd_log_get_level() >= GD_LOG_DEBUG) gd_log(GD_LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
