#include "arch/arch.h"

#include <errno.h>
#include <string.h>

/* Every layout ptracefs knows; arch_by_elf picks by the target's ELF header. */
static const struct arch_desc *const arch_table[] = {
	&arch_x86_64,
	&arch_i386,
	&arch_aarch64,
	&arch_arm,
	&arch_riscv64,
	&arch_loongarch64,
};

const struct arch_desc *arch_by_elf(uint16_t machine, uint8_t elf_class)
{
	for (size_t i = 0; i < sizeof(arch_table) / sizeof(arch_table[0]); i++)
		if (arch_table[i]->elf_machine == machine &&
		    arch_table[i]->elf_class == elf_class)
			return arch_table[i];
	return NULL;
}

const struct arch_desc *arch_host(void)
{
#if defined(__x86_64__)
	return &arch_x86_64;
#elif defined(__i386__)
	return &arch_i386;
#elif defined(__aarch64__)
	return &arch_aarch64;
#elif defined(__arm__)
	return &arch_arm;
#elif defined(__riscv) && __riscv_xlen == 64
	return &arch_riscv64;
#elif defined(__loongarch64)
	return &arch_loongarch64;
#else
	return NULL;
#endif
}

uint64_t arch_reg_value(const struct arch_desc *a, const void *blob, size_t len,
			size_t idx)
{
	const struct arch_reg *r;
	const unsigned char *p = blob;

	if (idx >= a->nregs)
		return 0;
	r = &a->regs[idx];
	if ((size_t)r->offset + r->size > len)
		return 0;
	if (r->size == 4) {
		uint32_t v;

		memcpy(&v, p + r->offset, 4);
		return v;
	} else {
		uint64_t v;

		memcpy(&v, p + r->offset, 8);
		return v;
	}
}

const char *arch_syscall_name(const struct arch_desc *a, long nr)
{
	if (!a || nr < 0)
		return NULL;
	for (size_t i = 0; i < a->nsyscall_delta; i++)
		if (a->syscall_delta[i].nr == nr)
			return a->syscall_delta[i].name;
	if ((size_t)nr >= a->nsyscalls)
		return NULL;
	return a->syscall_names[nr];
}

int arch_reg_index(const struct arch_desc *a, const char *name)
{
	for (size_t i = 0; i < a->nregs; i++)
		if (strcmp(a->regs[i].name, name) == 0)
			return (int)i;
	return -1;
}

int arch_format_regs(const struct arch_desc *a, const void *blob, size_t len,
		     struct sbuf *out)
{
	if (len < a->regs_size)
		return -EIO;
	for (size_t i = 0; i < a->nregs; i++) {
		const struct arch_reg *r = &a->regs[i];
		int rc = sbuf_printf(out, "%s 0x%0*llx\n", r->name, r->size * 2,
				     (unsigned long long)arch_reg_value(a, blob, len, i));
		if (rc)
			return rc;
	}
	return 0;
}
