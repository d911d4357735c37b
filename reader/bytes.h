/* Unsigned integers of n bytes (1..8) in either byte order: ELF, PE, cores. */
#ifndef PTRACEFS_BYTES_H
#define PTRACEFS_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* msb: the most significant byte first (ELFDATA2MSB). */
static inline uint64_t get_n(const unsigned char *p, size_t n, bool msb)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[msb ? i : n - 1 - i];
	return v;
}

static inline void put_n(unsigned char *p, size_t n, bool msb, uint64_t v)
{
	for (size_t i = 0; i < n; i++)
		p[msb ? n - 1 - i : i] = (unsigned char)(v >> (8 * i));
}

#endif
