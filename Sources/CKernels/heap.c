#include "kernels.h"

#include <stdlib.h> /* defines __GLIBC__ on glibc */

#if defined(__GLIBC__)
#include <malloc.h>
#endif

void segserve_keep_large_blocks(void) {
#if defined(__GLIBC__)
    /* M_MMAP_THRESHOLD cannot go above 32 MiB, so turn mmap-backed blocks off altogether. */
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, 0x7fffffff);
#endif
}
