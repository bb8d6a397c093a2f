/* Linux AF_VSOCK listener. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "platform/platform.h"

int pf_vsock_listen(const char *spec, struct gd_err *err)
{
	char *end;
	errno = 0;
	long cid = strtol(spec, &end, 10);
	if (errno || end == spec || *end != ':' || cid < -1 || cid > (long)0xFFFFFFFFu)
		return gd_err_set(err, GD_ERR_GENERIC, EINVAL, "bad vsock address '%s' (CID:PORT)", spec);
	const char *ps = end + 1;
	long port = strtol(ps, &end, 10);
	if (errno || end == ps || *end || port < 0 || port > (long)0xFFFFFFFFu)
		return gd_err_set(err, GD_ERR_GENERIC, EINVAL, "bad vsock port in '%s' (CID:PORT)", spec);
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return gd_err_errno(err, errno, "vsock socket");
	struct sockaddr_vm sa;
	memset(&sa, 0, sizeof sa);
	sa.svm_family = AF_VSOCK;
	sa.svm_cid = cid == -1 ? VMADDR_CID_ANY : (unsigned)cid;
	sa.svm_port = (unsigned)port;
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 16) < 0) {
		int e = errno;
		close(fd);
		return gd_err_errno(err, e, "vsock %s", spec);
	}
	return fd;
}
