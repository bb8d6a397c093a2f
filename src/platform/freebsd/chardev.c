/* FreeBSD virtio_console ports (/dev/vtcon/NAME) are ttys; the driver does not tell the guest
 * when the host opens or closes its end, so the port is simply kept open in raw mode. */
#include <errno.h>

#include "platform/platform.h"

int pf_chardev_watch_host(int fd)
{
	(void)fd;
	return -ENOTSUP;
}

bool pf_chardev_host_connected(int fd)
{
	(void)fd;
	return true;
}
