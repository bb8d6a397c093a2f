/* FreeBSD (jemalloc) returns freed memory by itself: nothing to tune. */
#include "platform/platform.h"

void pf_mem_init(void)
{
}

void pf_mem_trim(void)
{
}
