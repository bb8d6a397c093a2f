/* Linux virtio-serial ports: virtio_console raises SIGIO on an O_ASYNC port when the host opens
 * or closes its end, and poll() reports POLLHUP while the host is away. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "platform/platform.h"

int pf_chardev_watch_host(int fd)
{
	if (fcntl(fd, F_SETOWN, getpid()) < 0)
		return -errno;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_ASYNC) < 0)
		return -errno;
	return 0;
}

bool pf_chardev_host_connected(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 0) < 0)
		return true;
	return !(p.revents & POLLHUP);
}
