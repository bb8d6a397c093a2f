/* Linux (glibc) memory: a fixed mmap threshold, so buffers of large transfers are unmapped on
 * free instead of raising the dynamic threshold and staying in the heap; malloc_trim after. */
#include <malloc.h>

#include "platform/platform.h"

void pf_mem_init(void)
{
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
}

void pf_mem_trim(void)
{
	malloc_trim(0);
}
