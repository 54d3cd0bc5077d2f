#ifndef SEGSERVE_LANES_H
#define SEGSERVE_LANES_H
#include <immintrin.h>

/* The mask of the first n of 16 lanes (none for n <= 0, all for n >= 16): the valid lanes of a
 * vector that starts n elements before the end of a row. */
static inline __mmask16 lanes(long n) { return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1u); }

#endif
