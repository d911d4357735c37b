/*
 * Helpers shared by the nets' frame builders (arch/x86_64_sigframe.c,
 * arch/sigframe.c): little-endian stores into a frame being built and
 * the value of a named register in an NT_PRSTATUS blob.
 */
#ifndef PTRACEFS_ARCH_SIGFRAME_H
#define PTRACEFS_ARCH_SIGFRAME_H

#include <stdint.h>
#include <string.h>

#include "arch/inject.h"

static inline void put64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static inline void put32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static inline void put16(unsigned char *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

/* name's value in regs (zero-extended from a 4-byte register), 0 if unknown. */
static inline uint64_t frame_reg(const struct arch_inject *abi, const unsigned char *regs,
				 const char *name)
{
	int i = arch_reg_index(abi->arch, name);
	uint64_t v = 0;
	uint32_t v32;

	if (i < 0)
		return 0;
	if (abi->arch->regs[i].size == 4) {
		memcpy(&v32, regs + abi->arch->regs[i].offset, 4);
		return v32;
	}
	memcpy(&v, regs + abi->arch->regs[i].offset, 8);
	return v;
}

/* Sets name in regs (truncated to its width); no-op if unknown. */
static inline void frame_set_reg(const struct arch_inject *abi, unsigned char *regs,
				 const char *name, uint64_t v)
{
	int i = arch_reg_index(abi->arch, name);
	uint32_t v32 = (uint32_t)v;

	if (i >= 0)
		memcpy(regs + abi->arch->regs[i].offset,
		       abi->arch->regs[i].size == 4 ? (void *)&v32 : (void *)&v,
		       abi->arch->regs[i].size);
}

#endif
