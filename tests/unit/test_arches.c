/*
 * arch/: the i386, aarch64, arm, riscv64 and loongarch64 rows, on fixed
 * blobs. Every layout is restated here from the kernel's uapi headers
 * (slot numbers) and gdb (names and order), not taken from arch/: a
 * regset whose slot i holds a value naming i must render, line for line,
 * as the restated table says. Then the FP formatters on blobs whose bytes
 * are known, the regsets captured, the syscall tables, and the core notes
 * core_build writes for each layout (ELFCLASS32 for the 32-bit ones).
 *
 * loongarch64 is verified only here: no kernel of it boots in Debian 12's
 * QEMU, so these fixtures, built from the uapi struct user_pt_regs and
 * user_fp_state, are its whole check.
 */
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/arch.h"
#include "reader/core.h"

struct row {
	const char *name;
	unsigned slot;
};

/* One architecture as the kernel and gdb define it. */
struct expect {
	const struct arch_desc *a;
	const char *name;
	uint16_t machine;
	uint8_t elf_class;
	unsigned word;			/* slot width */
	unsigned nslots;		/* NT_PRSTATUS = nslots * word bytes */
	const struct row *rows;
	unsigned nrows;
	const char *pc, *sp;
	unsigned fp_type;		/* the FP regset fpregs renders */
	size_t fp_size;			/* as the kernel returns it */
	size_t prstatus_size, prpsinfo_size, pr_reg;
	long read_nr;			/* the read(2) system call */
};

/* user_regs_struct (32-bit): ebx ecx edx esi edi ebp eax ds es fs gs orig_eax eip cs eflags esp ss */
static const struct row i386_rows[] = {
	{ "eax", 6 }, { "ecx", 1 }, { "edx", 2 }, { "ebx", 0 },
	{ "esp", 15 }, { "ebp", 5 }, { "esi", 3 }, { "edi", 4 },
	{ "eip", 12 }, { "eflags", 14 }, { "cs", 13 }, { "ss", 16 },
	{ "ds", 7 }, { "es", 8 }, { "fs", 9 }, { "gs", 10 }, { "orig_eax", 11 },
};

/* user_pt_regs: regs[31], sp, pc, pstate (gdb: cpsr) */
static struct row aarch64_rows[34];
/* pt_regs uregs[18]: r0..r12 sp lr pc cpsr orig_r0 */
static struct row arm_rows[18];
/* user_regs_struct: pc, then x1..x31 by ABI name */
static struct row riscv64_rows[32];
/* user_pt_regs: regs[32], orig_a0, csr_era (gdb: pc), csr_badv, reserved[10] */
static struct row loongarch64_rows[35];
static char names[256][8];

static const char *const riscv_abi[32] = {
	"pc", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "fp", "s1",
	"a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7",
	"s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11",
	"t3", "t4", "t5", "t6",
};

static struct expect arches[5];

static const char *numbered(unsigned *k, const char *prefix, unsigned i)
{
	snprintf(names[*k], sizeof(names[*k]), "%s%u", prefix, i);
	return names[(*k)++];
}

static int setup(void **state)
{
	unsigned k = 0;

	(void)state;
	for (unsigned i = 0; i < 31; i++)
		aarch64_rows[i] = (struct row){ numbered(&k, "x", i), i };
	aarch64_rows[31] = (struct row){ "sp", 31 };
	aarch64_rows[32] = (struct row){ "pc", 32 };
	aarch64_rows[33] = (struct row){ "cpsr", 33 };
	for (unsigned i = 0; i < 13; i++)
		arm_rows[i] = (struct row){ numbered(&k, "r", i), i };
	arm_rows[13] = (struct row){ "sp", 13 };
	arm_rows[14] = (struct row){ "lr", 14 };
	arm_rows[15] = (struct row){ "pc", 15 };
	arm_rows[16] = (struct row){ "cpsr", 16 };
	arm_rows[17] = (struct row){ "orig_r0", 17 };
	for (unsigned i = 0; i < 32; i++)
		riscv64_rows[i] = (struct row){ riscv_abi[i], i };
	for (unsigned i = 0; i < 32; i++)
		loongarch64_rows[i] = (struct row){ numbered(&k, "r", i), i };
	loongarch64_rows[32] = (struct row){ "orig_a0", 32 };
	loongarch64_rows[33] = (struct row){ "pc", 33 };
	loongarch64_rows[34] = (struct row){ "badv", 34 };

	/*
	 * Core note sizes: the 64-bit elf_prstatus is 112 bytes of header,
	 * pr_reg, an int, padded to 8; the 32-bit one (i386, arm) 72 + pr_reg
	 * + 4. elf_prpsinfo: 136 bytes, or 124 with 16-bit uid/gid.
	 */
	arches[0] = (struct expect){ &arch_i386, "i386", 3, ELFCLASS32, 4, 17, i386_rows, 17,
				     "eip", "esp", 0x46e62b7f, 512, 144, 124, 72, 3 };
	arches[1] = (struct expect){ &arch_aarch64, "aarch64", 183, ELFCLASS64, 8, 34,
				     aarch64_rows, 34, "pc", "sp", 2, 528, 392, 136, 112, 63 };
	arches[2] = (struct expect){ &arch_arm, "arm", 40, ELFCLASS32, 4, 18, arm_rows, 18,
				     "pc", "sp", 0x400, 260, 148, 124, 72, 3 };
	arches[3] = (struct expect){ &arch_riscv64, "riscv64", 243, ELFCLASS64, 8, 32,
				     riscv64_rows, 32, "pc", "sp", 2, 264, 376, 136, 112, 63 };
	arches[4] = (struct expect){ &arch_loongarch64, "loongarch64", 258, ELFCLASS64, 8, 45,
				     loongarch64_rows, 35, "pc", "r3", 2, 272, 480, 136, 112, 63 };
	return 0;
}

#define NARCHES (sizeof(arches) / sizeof(arches[0]))

static uint64_t slot_value(const struct expect *e, unsigned i)
{
	return e->word == 4 ? 0x11110000u + i : 0x1111111111111100ull + i;
}

/* The regset blob: slot i holds slot_value(i), little-endian. */
static void fill(const struct expect *e, unsigned char *blob)
{
	for (unsigned i = 0; i < e->nslots; i++) {
		uint64_t v = slot_value(e, i);

		for (unsigned b = 0; b < e->word; b++)
			blob[i * e->word + b] = (unsigned char)(v >> (8 * b));
	}
}

static void test_arches_identity_and_sizes(void **state)
{
	(void)state;
	for (size_t i = 0; i < NARCHES; i++) {
		const struct expect *e = &arches[i];

		assert_string_equal(e->a->name, e->name);
		assert_int_equal(e->a->elf_machine, e->machine);
		assert_int_equal(e->a->elf_class, e->elf_class);
		assert_int_equal(e->a->regs_size, e->nslots * e->word);
		assert_int_equal(e->a->nregs, e->nrows);
		assert_string_equal(e->a->regs[e->a->pc].name, e->pc);
		assert_string_equal(e->a->regs[e->a->sp].name, e->sp);
		assert_ptr_equal(arch_by_elf(e->machine, e->elf_class), e->a);
	}
	/* The class matters: a 64-bit i386 or a 32-bit aarch64 is no layout. */
	assert_null(arch_by_elf(3, ELFCLASS64));
	assert_null(arch_by_elf(183, ELFCLASS32));
	assert_null(arch_by_elf(62, ELFCLASS32));
}

/* Every line, in gdb's order, with the value of the kernel's slot. */
static void test_arches_format_matches_kernel_slots(void **state)
{
	(void)state;
	for (size_t i = 0; i < NARCHES; i++) {
		const struct expect *e = &arches[i];
		unsigned char blob[512];
		char want[4096], *p = want;
		struct sbuf sb = SBUF_INIT;

		fill(e, blob);
		for (unsigned r = 0; r < e->nrows; r++)
			p += sprintf(p, "%s 0x%0*llx\n", e->rows[r].name, (int)e->word * 2,
				     (unsigned long long)slot_value(e, e->rows[r].slot));
		assert_int_equal(arch_format_regs(e->a, blob, e->nslots * e->word, &sb), 0);
		sbuf_append(&sb, "", 1);
		assert_string_equal(sb.buf, want);
		sbuf_free(&sb);

		/* A truncated regset is an error, not half a file. */
		assert_int_equal(arch_format_regs(e->a, blob, e->nslots * e->word - 1, &sb),
				 -EIO);
		sbuf_free(&sb);
	}
}

/* The unwinder is seeded by name: every name must be a row (riscv's x0 aside). */
static void test_arches_dwarf_names_are_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < NARCHES; i++) {
		const struct arch_desc *a = arches[i].a;

		assert_true(a->ndwarf_regs >= 9 && a->ndwarf_regs <= 64);
		for (size_t k = 0; k < a->ndwarf_regs; k++)
			if (strcmp(a->dwarf_regs[k], "zero") != 0)
				assert_true(arch_reg_index(a, a->dwarf_regs[k]) >= 0);
	}
	/* DWARF 4 is esp on i386, 31 sp on aarch64, 13 sp on arm, 2 sp on riscv. */
	assert_string_equal(arch_i386.dwarf_regs[4], "esp");
	assert_string_equal(arch_aarch64.dwarf_regs[31], "sp");
	assert_string_equal(arch_arm.dwarf_regs[13], "sp");
	assert_string_equal(arch_riscv64.dwarf_regs[2], "sp");
	assert_string_equal(arch_loongarch64.dwarf_regs[3], "r3");
}

static size_t regset_cap(const struct arch_desc *a, unsigned type)
{
	for (size_t k = 0; k < a->nregsets; k++)
		if (a->regsets[k].type == type)
			return a->regsets[k].max;
	return 0;
}

/* What is captured: NT_PRSTATUS whole, and the FP set at its kernel size. */
static void test_arches_regsets_hold_the_kernel_sizes(void **state)
{
	(void)state;
	for (size_t i = 0; i < NARCHES; i++) {
		const struct expect *e = &arches[i];

		assert_int_equal(regset_cap(e->a, NT_PRSTATUS), e->nslots * e->word);
		assert_int_equal(e->a->fp_regset, e->fp_type);
		assert_int_equal(regset_cap(e->a, e->fp_type), e->fp_size);
		assert_non_null(e->a->format_fp);
	}
	/* pr_fpvalid is about NT_PRFPREG: i386 and arm capture it too. */
	assert_int_equal(regset_cap(&arch_i386, NT_PRFPREG), 108);
	assert_int_equal(regset_cap(&arch_arm, NT_PRFPREG), 116);
}

static void test_arches_syscall_tables(void **state)
{
	(void)state;
	for (size_t i = 0; i < NARCHES; i++)
		assert_string_equal(arch_syscall_name(arches[i].a, arches[i].read_nr), "read");
	assert_string_equal(arch_syscall_name(&arch_i386, 11), "execve");
	assert_string_equal(arch_syscall_name(&arch_arm, 11), "execve");
	assert_string_equal(arch_syscall_name(&arch_aarch64, 221), "execve");
	assert_string_equal(arch_syscall_name(&arch_riscv64, 259), "riscv_flush_icache");
	assert_string_equal(arch_syscall_name(&arch_loongarch64, 435), "clone3");
	/* The shared asm-generic table, and where each departs from it. */
	assert_string_equal(arch_syscall_name(&arch_aarch64, 38), "renameat");
	assert_null(arch_syscall_name(&arch_riscv64, 38));
	assert_null(arch_syscall_name(&arch_aarch64, 259));
	assert_string_equal(arch_syscall_name(&arch_riscv64, 80), "fstat");
	assert_null(arch_syscall_name(&arch_loongarch64, 80));
	assert_string_equal(arch_syscall_name(&arch_loongarch64, 56), "openat");
	/* asm-generic has no open(2), only openat. */
	assert_null(arch_syscall_name(&arch_aarch64, 1024));
	assert_string_equal(arch_syscall_name(&arch_aarch64, 56), "openat");
}

/* ---- FP ---------------------------------------------------------------- */

static char *render_fp(const struct arch_desc *a, const void *fp, size_t len,
		       const void *xs, size_t xslen, int *rc)
{
	struct sbuf sb = SBUF_INIT;

	*rc = a->format_fp(fp, len, xs, xslen, &sb);
	if (*rc) {
		sbuf_free(&sb);
		return NULL;
	}
	sbuf_append(&sb, "", 1);
	return sbuf_detach(&sb, NULL);
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

/* user_fpsimd_state: byte j of v[i] is 16 i + j; fpsr, fpcr after. */
static void test_arches_aarch64_fp(void **state)
{
	unsigned char fp[528] = { 0 };
	char *t;
	int rc;

	(void)state;
	for (int i = 0; i < 512; i++)
		fp[i] = (unsigned char)i;
	fp[512] = 0x10; fp[515] = 0x08;		/* fpsr 0x08000010 */
	fp[518] = 0xc0; fp[519] = 0x03;		/* fpcr 0x03c00000 */
	t = render_fp(&arch_aarch64, fp, sizeof(fp), NULL, 0, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(count_lines(t), 34);
	assert_true(has_line(t, "v0 0x0f0e0d0c0b0a09080706050403020100"));
	assert_true(has_line(t, "v31 0xfffefdfcfbfaf9f8f7f6f5f4f3f2f1f0"));
	assert_true(has_line(t, "fpsr 0x08000010"));
	assert_true(has_line(t, "fpcr 0x03c00000"));
	free(t);
	assert_null(render_fp(&arch_aarch64, fp, 519, NULL, 0, &rc));
	assert_int_equal(rc, -EIO);
}

/* user_vfp: d0..d31 (8 bytes), fpscr at 256. */
static void test_arches_arm_fp(void **state)
{
	unsigned char fp[260] = { 0 };
	char *t;
	int rc;

	(void)state;
	for (int i = 0; i < 256; i++)
		fp[i] = (unsigned char)i;
	fp[256] = 0x9f; fp[259] = 0x03;
	t = render_fp(&arch_arm, fp, sizeof(fp), NULL, 0, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(count_lines(t), 33);
	assert_true(has_line(t, "d0 0x0706050403020100"));
	assert_true(has_line(t, "d31 0xfffefdfcfbfaf9f8"));
	assert_true(has_line(t, "fpscr 0x0300009f"));
	free(t);
	assert_null(render_fp(&arch_arm, fp, 259, NULL, 0, &rc));
}

/* __riscv_d_ext_state: f[32], fcsr at 256; gdb's ABI names. */
static void test_arches_riscv64_fp(void **state)
{
	unsigned char fp[264] = { 0 };
	char *t;
	int rc;

	(void)state;
	for (int i = 0; i < 256; i++)
		fp[i] = (unsigned char)i;
	fp[256] = 0xe1;
	t = render_fp(&arch_riscv64, fp, sizeof(fp), NULL, 0, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(count_lines(t), 33);
	assert_true(has_line(t, "ft0 0x0706050403020100"));
	assert_true(has_line(t, "fs0 0x4746454443424140"));		/* f8 */
	assert_true(has_line(t, "fa0 0x5756555453525150"));		/* f10 */
	assert_true(has_line(t, "ft11 0xfffefdfcfbfaf9f8"));	/* f31 */
	assert_true(has_line(t, "fcsr 0x000000e1"));
	free(t);
}

/* user_fp_state: fpr[32], fcc (8 one-byte flags), fcsr at 264. */
static void test_arches_loongarch64_fp(void **state)
{
	unsigned char fp[272] = { 0 };
	char *t;
	int rc;

	(void)state;
	for (int i = 0; i < 256; i++)
		fp[i] = (unsigned char)i;
	fp[256] = 1; fp[263] = 1;
	fp[264] = 0x1f; fp[266] = 0x04;
	t = render_fp(&arch_loongarch64, fp, sizeof(fp), NULL, 0, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(count_lines(t), 32 + 8 + 1);
	assert_true(has_line(t, "f0 0x0706050403020100"));
	assert_true(has_line(t, "f31 0xfffefdfcfbfaf9f8"));
	assert_true(has_line(t, "fcc0 0x01"));
	assert_true(has_line(t, "fcc1 0x00"));
	assert_true(has_line(t, "fcc7 0x01"));
	assert_true(has_line(t, "fcsr 0x0004001f"));
	free(t);
}

/*
 * The 32-bit FXSAVE image: fip at 8 with fcs at 12, fdp at 16 with fds at
 * 20, eight xmm registers; the XSAVE AVX halves of ymm0..7 only.
 */
static void test_arches_i386_fp(void **state)
{
	static unsigned char fx[512], xs[576 + 256];
	char *t;
	int rc;

	(void)state;
	memset(fx, 0, sizeof(fx));
	fx[0] = 0x7f; fx[1] = 0x03;				/* fcw */
	fx[8] = 0x78; fx[9] = 0x56; fx[10] = 0x34; fx[11] = 0x12;	/* fip */
	fx[12] = 0x23;						/* fcs */
	fx[16] = 0xef; fx[17] = 0xbe; fx[18] = 0xad; fx[19] = 0xde;	/* fdp */
	fx[20] = 0x2b;						/* fds */
	for (int i = 0; i < 16; i++)
		for (int j = 0; j < 16; j++)
			fx[160 + 16 * i + j] = (unsigned char)(16 * i + j);
	t = render_fp(&arch_i386, fx, sizeof(fx), NULL, 0, &rc);
	assert_int_equal(rc, 0);
	assert_true(has_line(t, "fcw 0x037f"));
	assert_true(has_line(t, "fip 0x12345678"));
	assert_true(has_line(t, "fcs 0x0023"));
	assert_true(has_line(t, "fdp 0xdeadbeef"));
	assert_true(has_line(t, "fds 0x002b"));
	assert_true(has_line(t, "xmm7 0x7f7e7d7c7b7a79787776757473727170"));
	assert_null(strstr(t, "xmm8 "));
	assert_null(strstr(t, "ymm"));
	/* fcw fsw ftw fop fip fcs fdp fds mxcsr, st0..7, xmm0..7 */
	assert_int_equal(count_lines(t), 9 + 8 + 8);
	free(t);

	memcpy(xs, fx, sizeof(fx));
	xs[464] = 0x7;		/* XCR0: x87, SSE, AVX */
	xs[512] = 0x4;		/* XSTATE_BV: AVX live */
	memset(xs + 576, 0xaa, 128);
	t = render_fp(&arch_i386, fx, sizeof(fx), xs, 576 + 128, &rc);
	assert_int_equal(rc, 0);
	assert_true(has_line(t, "ymm7 0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa7f7e7d7c7b7a79787776757473727170"));
	assert_null(strstr(t, "ymm8 "));
	free(t);
	/* Eight upper halves need 576 + 128 bytes, not the x86_64 256. */
	assert_null(render_fp(&arch_i386, fx, sizeof(fx), xs, 576 + 127, &rc));
	assert_int_equal(rc, -EIO);
}

/* ---- core notes ---------------------------------------------------------- */

static uint64_t get_le(const unsigned char *p, unsigned n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

/*
 * One thread's core, built by core_build with no mappings: the header's
 * class and machine, then the NT_PRSTATUS and NT_PRPSINFO descriptors at
 * the kernel's sizes, with pr_pid, pr_reg (the blob, byte for byte),
 * pr_fpvalid and pr_uid where the restated layout puts them.
 */
static void test_arches_core_notes(void **state)
{
	(void)state;
	for (size_t i = 0; i < NARCHES; i++) {
		const struct expect *e = &arches[i];
		unsigned char blob[512], fp[528] = { 0 };
		struct core_regset sets[2] = {
			{ NT_PRSTATUS, blob, e->nslots * e->word },
			{ NT_PRFPREG, fp, 64 },
		};
		struct core_thread th = { .tid = 4242, .sets = sets, .nsets = 2 };
		struct core_proc pr = { .pid = 4242, .ppid = 1, .uid = 1000, .gid = 1000,
					.state = 'S', .fname = "t" };
		struct maps maps = { NULL, 0 };
		struct core_input in = {
			.arch = e->a, .proc = &pr, .threads = &th, .nthreads = 1,
			.maps = &maps, .page_size = 4096, .clk_tck = 100,
		};
		struct core_layout *l;
		const unsigned char *h, *n;
		unsigned ehsize = e->elf_class == ELFCLASS64 ? 64 : 52;
		unsigned phsize = e->elf_class == ELFCLASS64 ? 56 : 32;

		fill(e, blob);
		assert_int_equal(core_build(&in, &l), 0);
		h = l->head;
		assert_int_equal(h[EI_CLASS], e->elf_class);
		assert_int_equal(get_le(h + 16, 2), ET_CORE);
		assert_int_equal(get_le(h + 18, 2), e->machine);
		assert_int_equal(get_le(h + (e->elf_class == ELFCLASS64 ? 52 : 40), 2), ehsize);

		/* The notes follow the one program header. */
		n = h + ehsize + phsize;
		assert_int_equal(get_le(n, 4), 5);			/* "CORE\0" */
		assert_int_equal(get_le(n + 4, 4), e->prstatus_size);
		assert_int_equal(get_le(n + 8, 4), NT_PRSTATUS);
		n += 12 + 8;
		assert_int_equal(get_le(n + (e->word == 8 ? 32 : 24), 4), 4242);	/* pr_pid */
		assert_memory_equal(n + e->pr_reg, blob, e->nslots * e->word);
		assert_int_equal(get_le(n + e->pr_reg + e->nslots * e->word, 4), 1);
		n += (e->prstatus_size + 3) / 4 * 4;

		assert_int_equal(get_le(n + 4, 4), e->prpsinfo_size);
		assert_int_equal(get_le(n + 8, 4), NT_PRPSINFO);
		n += 12 + 8;
		/* pr_uid: 16 bits after pr_flag on the 32-bit ABIs, 32 at 16 on 64. */
		if (e->word == 4) {
			assert_int_equal(get_le(n + 8, 2), 1000);
			assert_int_equal(get_le(n + 12, 4), 4242);	/* pr_pid */
			assert_string_equal((const char *)n + 28, "t");
		} else {
			assert_int_equal(get_le(n + 16, 4), 1000);
			assert_int_equal(get_le(n + 24, 4), 4242);
			assert_string_equal((const char *)n + 40, "t");
		}
		core_layout_free(l);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arches_identity_and_sizes),
		cmocka_unit_test(test_arches_format_matches_kernel_slots),
		cmocka_unit_test(test_arches_dwarf_names_are_rows),
		cmocka_unit_test(test_arches_regsets_hold_the_kernel_sizes),
		cmocka_unit_test(test_arches_syscall_tables),
		cmocka_unit_test(test_arches_aarch64_fp),
		cmocka_unit_test(test_arches_arm_fp),
		cmocka_unit_test(test_arches_riscv64_fp),
		cmocka_unit_test(test_arches_loongarch64_fp),
		cmocka_unit_test(test_arches_i386_fp),
		cmocka_unit_test(test_arches_core_notes),
	};

	return cmocka_run_group_tests_name("arches", tests, setup, NULL);
}
