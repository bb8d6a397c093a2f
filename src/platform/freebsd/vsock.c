/* FreeBSD has no AF_VSOCK for KVM guests in base: vsock-listen is refused with a clear error. */
#include <errno.h>

#include "platform/platform.h"

int pf_vsock_listen(const char *spec, struct gd_err *err)
{
	return gd_err_set(err, GD_ERR_GENERIC, EAFNOSUPPORT,
			  "vsock-listen %s: AF_VSOCK is not supported on FreeBSD", spec);
}
