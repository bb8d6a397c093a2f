/* Default limits; they match PROTOCOL.md and are overridable by configuration. */
#ifndef GUESTD_LIMITS_H
#define GUESTD_LIMITS_H

#define GD_MAX_REQUEST_SIZE   (64u * 1024 * 1024) /* bytes in one request (§1) */
#define GD_MAX_DEPTH          64                  /* nesting levels in one request (§1) */
#define GD_MAX_IN_FLIGHT      64                  /* requests in flight per connection (§4) */
#define GD_MAX_FILE_HANDLES   256                 /* guest-file-open handles, agent-wide (§6) */
#define GD_PLUGIN_TIMEOUT_S   30                  /* plugin run time (§7) */
#define GD_PLUGIN_MAX_OUTPUT  (16u * 1024 * 1024) /* plugin output bytes (§7) */
#define GD_PLUGIN_MAX_STDERR  (64u * 1024)        /* plugin stderr kept in desc (§7) */
#define GD_SOCKET_MODE        0600                /* unix-listen socket mode */

#endif
