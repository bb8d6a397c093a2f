/* Linux shutdown command lines, as qemu-ga runs them. */
#include <string.h>

#include "platform/platform.h"

char *const *pf_shutdown_argv(const char *mode)
{
	static char *const powerdown[] = { "/sbin/shutdown", "-h", "-P", "+0",
					   "hypervisor initiated shutdown", NULL };
	static char *const halt[] = { "/sbin/shutdown", "-h", "-H", "+0",
				      "hypervisor initiated shutdown", NULL };
	static char *const reboot[] = { "/sbin/shutdown", "-r", "+0",
					"hypervisor initiated reboot", NULL };
	if (strcmp(mode, "halt") == 0)
		return halt;
	if (strcmp(mode, "reboot") == 0)
		return reboot;
	return powerdown;
}
