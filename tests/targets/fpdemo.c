/*
 * fpdemo: a process whose x87, SSE and AVX registers hold known values
 * while it waits, for the fpregs checks of the mount suite (x86_64 only).
 *
 *   fpdemo -s FILE
 *
 * writes "pid N" and "avx 0|1" (whether the ymm upper halves were loaded)
 * to the status file, then loads
 *   xmm i        byte j = 16 i + j (j = 0..15), so xmm0 holds 00..0f;
 *   ymm i        bytes 16..31 (with AVX) = ~(16 i + j), the complement;
 *   mxcsr        0x9fc0: all exceptions masked, FZ and DAZ set;
 *   x87          fcw 0x027f (53-bit precision), then st3 = pi (the 80-bit
 *                value 0x4000c90fdaa22168c235), st2 = -2, st1 = 1.5, st0 = 0
 * and calls pause(2) forever. Loads and pause loop are one asm statement:
 * no compiled code, which might use xmm registers, runs after the loads,
 * and the syscall instruction leaves every vector register alone. It is
 * blocked in syscall 34 once /proc/PID/syscall says so. SIGTERM ends it
 * (the default action).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "status.h"

#if !defined(__x86_64__)
#error "fpdemo loads x86_64 registers"
#endif

/* What the asm loads from; the offsets are spelled out in it. */
struct fpdemo {
	uint16_t fcw;
	uint16_t pad;
	uint32_t mxcsr;
	uint8_t pad2[8];
	uint8_t st[3][16];		/* 80-bit values, pushed in this order */
	uint8_t ymm[16][32];		/* little-endian, low half first */
};

_Static_assert(offsetof(struct fpdemo, mxcsr) == 4, "asm offsets");
_Static_assert(offsetof(struct fpdemo, st) == 16, "asm offsets");
_Static_assert(offsetof(struct fpdemo, ymm) == 64, "asm offsets");

static struct fpdemo demo;

/* An 80-bit value: the 64-bit significand, then sign and exponent. */
static void put_ext(uint8_t *p, unsigned sign_exp, uint64_t significand)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(significand >> (8 * i));
	p[8] = (uint8_t)sign_exp;
	p[9] = (uint8_t)(sign_exp >> 8);
}

#define X87_AND_MXCSR \
	"fninit\n\t" \
	"fldcw 0(%0)\n\t" \
	"ldmxcsr 4(%0)\n\t" \
	"fldt 16(%0)\n\t" \
	"fldt 32(%0)\n\t" \
	"fldt 48(%0)\n\t" \
	"fldz\n\t"

/* pause(2) is syscall 34 on x86_64; it returns only to a signal handler. */
#define PAUSE_FOREVER \
	"1: movl $34, %%eax\n\t" \
	"syscall\n\t" \
	"jmp 1b\n\t"

#define V(insn, i, reg) insn " " #i "(%0), %%" #reg "\n\t"

__attribute__((noreturn)) static void load_avx_and_wait(const struct fpdemo *d)
{
	__asm__ volatile(X87_AND_MXCSR
		V("vmovdqu", 64, ymm0)  V("vmovdqu", 96, ymm1)
		V("vmovdqu", 128, ymm2) V("vmovdqu", 160, ymm3)
		V("vmovdqu", 192, ymm4) V("vmovdqu", 224, ymm5)
		V("vmovdqu", 256, ymm6) V("vmovdqu", 288, ymm7)
		V("vmovdqu", 320, ymm8) V("vmovdqu", 352, ymm9)
		V("vmovdqu", 384, ymm10) V("vmovdqu", 416, ymm11)
		V("vmovdqu", 448, ymm12) V("vmovdqu", 480, ymm13)
		V("vmovdqu", 512, ymm14) V("vmovdqu", 544, ymm15)
		PAUSE_FOREVER
		: : "S"(d) : "memory");
	__builtin_unreachable();
}

/* Without AVX: the low 16 bytes of each row into xmm i. */
__attribute__((noreturn)) static void load_sse_and_wait(const struct fpdemo *d)
{
	__asm__ volatile(X87_AND_MXCSR
		V("movdqu", 64, xmm0)  V("movdqu", 96, xmm1)
		V("movdqu", 128, xmm2) V("movdqu", 160, xmm3)
		V("movdqu", 192, xmm4) V("movdqu", 224, xmm5)
		V("movdqu", 256, xmm6) V("movdqu", 288, xmm7)
		V("movdqu", 320, xmm8) V("movdqu", 352, xmm9)
		V("movdqu", 384, xmm10) V("movdqu", 416, xmm11)
		V("movdqu", 448, xmm12) V("movdqu", 480, xmm13)
		V("movdqu", 512, xmm14) V("movdqu", 544, xmm15)
		PAUSE_FOREVER
		: : "S"(d) : "memory");
	__builtin_unreachable();
}

int main(int argc, char **argv)
{
	char buf[256];
	size_t len = 0;
	int avx, opt;
	const char *status = NULL;

	while ((opt = getopt(argc, argv, "s:")) != -1) {
		if (opt != 's') {
			fprintf(stderr, "usage: fpdemo -s STATUSFILE\n");
			return 2;
		}
		status = optarg;
	}
	if (!status) {
		fprintf(stderr, "usage: fpdemo -s STATUSFILE\n");
		return 2;
	}

	/* __builtin_cpu_supports also checks that the OS enabled AVX state. */
	avx = __builtin_cpu_supports("avx") ? 1 : 0;
	demo.fcw = 0x027f;
	demo.mxcsr = 0x9fc0;
	put_ext(demo.st[0], 0x4000, 0xc90fdaa22168c235ULL);	/* pi */
	put_ext(demo.st[1], 0xc000, 0x8000000000000000ULL);	/* -2 */
	put_ext(demo.st[2], 0x3fff, 0xc000000000000000ULL);	/* 1.5 */
	for (int i = 0; i < 16; i++)
		for (int j = 0; j < 16; j++) {
			demo.ymm[i][j] = (uint8_t)(16 * i + j);
			demo.ymm[i][16 + j] = (uint8_t)~(16 * i + j);
		}

	if (status_add(buf, sizeof(buf), &len, "pid %d\navx %d\n", (int)getpid(), avx) ||
	    status_publish(status, buf, sizeof(buf), len)) {
		perror(status);
		return 1;
	}
	if (avx)
		load_avx_and_wait(&demo);
	load_sse_and_wait(&demo);
}
