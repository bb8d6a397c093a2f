/* The platform interface: everything that differs between Linux and FreeBSD sits behind these
 * functions, one file per concern in src/platform/<os>/ (DESIGN.md rule 4). */
#ifndef GUESTD_PLATFORM_H
#define GUESTD_PLATFORM_H

#include <stdbool.h>

#include "guestd/error.h"

/* Memory: make large buffers go back to the system when freed (pf_mem_init at startup), and
 * give freed memory back after a large transfer. */
void pf_mem_init(void);
void pf_mem_trim(void);

/* Character devices (virtio-serial ports): ask the kernel to raise SIGIO on fd when the host
 * side connects or disconnects. Returns 0, or -ENOTSUP where the platform cannot tell. */
int pf_chardev_watch_host(int fd);
/* Whether the host side of fd is connected now (true where the platform cannot tell). */
bool pf_chardev_host_connected(int fd);

/* vsock: a listening, non-blocking, close-on-exec AF_VSOCK stream socket for "CID:PORT" (CID
 * may be -1 for any). Returns the fd, or a negative errno with err set. */
int pf_vsock_listen(const char *spec, struct gd_err *err);

/* The shutdown command for mode "powerdown", "halt" or "reboot": a NULL-terminated argv. */
char *const *pf_shutdown_argv(const char *mode);

#endif
