/* FreeBSD shutdown(8) command lines. */
#include <string.h>

#include "platform/platform.h"

char *const *pf_shutdown_argv(const char *mode)
{
	static char *const powerdown[] = { "/sbin/shutdown", "-p", "now",
					   "hypervisor initiated shutdown", NULL };
	static char *const halt[] = { "/sbin/shutdown", "-h", "now",
				      "hypervisor initiated shutdown", NULL };
	static char *const reboot[] = { "/sbin/shutdown", "-r", "now",
					"hypervisor initiated reboot", NULL };
	if (strcmp(mode, "halt") == 0)
		return halt;
	if (strcmp(mode, "reboot") == 0)
		return reboot;
	return powerdown;
}
