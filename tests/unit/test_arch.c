/*
 * arch/: the x86_64 register layout and its text rendering, checked
 * against a regset blob whose slot i holds 0x1111111111111100 + i, so every
 * printed value names the slot it came from.
 */
#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/arch.h"

#define SLOTS 27
#define SLOT_VALUE(i) (0x1111111111111100ULL + (i))

/*
 * The kernel's struct user_regs_struct slots, restated here from
 * arch/x86/include/asm/user_64.h so the test does not trust arch/x86_64.c,
 * in the order gdb's "info registers" prints them.
 */
static const struct {
	const char *name;
	unsigned slot;
} gdb_order[SLOTS] = {
	{ "rax", 10 }, { "rbx", 5 }, { "rcx", 11 }, { "rdx", 12 },
	{ "rsi", 13 }, { "rdi", 14 }, { "rbp", 4 }, { "rsp", 19 },
	{ "r8", 9 }, { "r9", 8 }, { "r10", 7 }, { "r11", 6 },
	{ "r12", 3 }, { "r13", 2 }, { "r14", 1 }, { "r15", 0 },
	{ "rip", 16 }, { "eflags", 18 }, { "cs", 17 }, { "ss", 20 },
	{ "ds", 23 }, { "es", 24 }, { "fs", 25 }, { "gs", 26 },
	{ "fs_base", 21 }, { "gs_base", 22 }, { "orig_rax", 15 },
};

static uint64_t blob[SLOTS];

static int setup_blob(void **state)
{
	(void)state;
	for (unsigned i = 0; i < SLOTS; i++)
		blob[i] = SLOT_VALUE(i);
	return 0;
}

/* Renders the blob; the caller frees the text. */
static char *render(size_t len, int *rc)
{
	struct sbuf sb = SBUF_INIT;

	*rc = arch_format_regs(&arch_x86_64, blob, len, &sb);
	if (*rc) {
		sbuf_free(&sb);
		return NULL;
	}
	return sbuf_detach(&sb, NULL);
}

static void test_arch_x86_64_layout_is_the_kernel_regset(void **state)
{
	(void)state;
	assert_string_equal(arch_x86_64.name, "x86_64");
	assert_int_equal(arch_x86_64.regs_size, SLOTS * 8);
	assert_int_equal(arch_x86_64.nregs, SLOTS);
	assert_string_equal(arch_x86_64.regs[arch_x86_64.pc].name, "rip");
	assert_string_equal(arch_x86_64.regs[arch_x86_64.sp].name, "rsp");
}

/* Every line in gdb's order, with the value of the kernel's slot. */
static void test_arch_format_matches_gdb_order_and_slots(void **state)
{
	char want[SLOTS * 32], *p = want;
	int rc;
	char *text = render(sizeof(blob), &rc);

	(void)state;
	assert_int_equal(rc, 0);
	for (unsigned i = 0; i < SLOTS; i++)
		p += sprintf(p, "%s 0x%016llx\n", gdb_order[i].name,
			     (unsigned long long)SLOT_VALUE(gdb_order[i].slot));
	assert_string_equal(text, want);
	free(text);
}

static void test_arch_format_lines_are_well_formed(void **state)
{
	regex_t re;
	int rc, lines = 0;
	char *text = render(sizeof(blob), &rc), *save = NULL;

	(void)state;
	assert_int_equal(rc, 0);
	assert_int_equal(text[strlen(text) - 1], '\n');
	assert_int_equal(regcomp(&re, "^[a-z0-9_]+ 0x[0-9a-f]{16}$",
				 REG_EXTENDED | REG_NOSUB), 0);
	for (char *l = strtok_r(text, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save), lines++)
		if (regexec(&re, l, 0, NULL, 0) != 0)
			fail_msg("bad line: \"%s\"", l);
	assert_int_equal(lines, SLOTS);
	regfree(&re);
	free(text);
}

/* A truncated or foreign regset is an error, not half a file. */
static void test_arch_format_rejects_short_blob(void **state)
{
	int rc;

	(void)state;
	assert_null(render(sizeof(blob) - 1, &rc));
	assert_int_equal(rc, -EIO);
	assert_null(render(0, &rc));
	assert_int_equal(rc, -EIO);
}

static void test_arch_reg_value_reads_slots_and_bounds(void **state)
{
	int rip = arch_reg_index(&arch_x86_64, "rip");

	(void)state;
	assert_int_equal(arch_reg_value(&arch_x86_64, blob, sizeof(blob), (size_t)rip),
			 SLOT_VALUE(16));
	/* rip is slot 16: a blob that ends inside it reads as 0. */
	assert_int_equal(arch_reg_value(&arch_x86_64, blob, 16 * 8 + 7, (size_t)rip), 0);
	assert_int_equal(arch_reg_value(&arch_x86_64, blob, sizeof(blob), SLOTS), 0);
}

/* Each of the six rows by its e_machine and class; nothing else. */
static void test_arch_by_elf_matches_machine_and_class(void **state)
{
	(void)state;
	assert_ptr_equal(arch_by_elf(62, 2), &arch_x86_64);	/* EM_X86_64, ELFCLASS64 */
	assert_ptr_equal(arch_by_elf(3, 1), &arch_i386);	/* EM_386, ELFCLASS32 */
	assert_ptr_equal(arch_by_elf(183, 2), &arch_aarch64);	/* EM_AARCH64 */
	assert_ptr_equal(arch_by_elf(40, 1), &arch_arm);	/* EM_ARM */
	assert_ptr_equal(arch_by_elf(243, 2), &arch_riscv64);	/* EM_RISCV */
	assert_ptr_equal(arch_by_elf(258, 2), &arch_loongarch64);	/* EM_LOONGARCH */
	assert_null(arch_by_elf(62, 1));
	assert_null(arch_by_elf(3, 2));
	assert_null(arch_by_elf(243, 1));
	assert_null(arch_by_elf(0, 0));
	assert_null(arch_by_elf(0xffff, 2));
	assert_null(arch_by_elf(62, 0));
#if defined(__x86_64__)
	assert_ptr_equal(arch_host(), &arch_x86_64);
#endif
}

static void test_arch_reg_index_uses_gdb_names(void **state)
{
	(void)state;
	assert_int_equal(arch_reg_index(&arch_x86_64, "rax"), 0);
	assert_int_equal(arch_reg_index(&arch_x86_64, "rip"), arch_x86_64.pc);
	assert_int_equal(arch_reg_index(&arch_x86_64, "rsp"), arch_x86_64.sp);
	assert_int_equal(arch_reg_index(&arch_x86_64, "orig_rax"), SLOTS - 1);
	assert_int_equal(arch_reg_index(&arch_x86_64, "pc"), -1);
	assert_int_equal(arch_reg_index(&arch_x86_64, "RIP"), -1);
	assert_int_equal(arch_reg_index(&arch_x86_64, ""), -1);
	for (unsigned i = 0; i < SLOTS; i++)
		assert_int_equal(arch_reg_index(&arch_x86_64, gdb_order[i].name), i);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arch_x86_64_layout_is_the_kernel_regset),
		cmocka_unit_test(test_arch_format_matches_gdb_order_and_slots),
		cmocka_unit_test(test_arch_format_lines_are_well_formed),
		cmocka_unit_test(test_arch_format_rejects_short_blob),
		cmocka_unit_test(test_arch_reg_value_reads_slots_and_bounds),
		cmocka_unit_test(test_arch_by_elf_matches_machine_and_class),
		cmocka_unit_test(test_arch_reg_index_uses_gdb_names),
	};

	return cmocka_run_group_tests_name("arch", tests, setup_blob, NULL);
}
