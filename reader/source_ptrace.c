/*
 * The ptrace source: a process seized and (by default) stopped, its
 * snapshot read from /proc (reader.c), its memory through
 * process_vm_readv and pagemap (mem.c), its threads on the tracer thread
 * (tracer.c, attach.c), its modes in live.c. This file is the table that
 * puts them behind struct source_ops, and the facts only a live process
 * has: smaps, per-thread signal masks, the CPU's XSAVE layout.
 */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reader/core.h"
#include "reader/procstat.h"
#include "reader/reader_int.h"
#include "reader/smaps.h"
#include "reader/source.h"

/* The thread is stopped: its masks are those of the snapshot. */
static int ptrace_sigmasks(struct reader *r, pid_t tid, uint64_t *pend, uint64_t *blk)
{
	char path[96], *status;
	size_t len;
	int rc;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)r->pid, (int)tid);
	rc = proc_read_file(path, &status, &len, 1 << 20);
	if (rc)
		return rc;
	procstat_status_mask(status, len, "SigPnd", pend);
	procstat_status_mask(status, len, "SigBlk", blk);
	free(status);
	return 0;
}

static int ptrace_smaps(struct reader *r, struct smaps *out)
{
	char path[64], *text;
	size_t len;
	int rc;

	/* /proc/TID/: mem_pid may be a clone (-o snapshot), not a task of pid. */
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)r->mem_pid);
	rc = proc_read_file(path, &text, &len, (size_t)1 << 30);
	if (rc)
		return rc;
	rc = smaps_parse(text, len, out);
	free(text);
	return rc;
}

/*
 * x86: the XSAVE components of the target's NT_X86_XSTATE, for
 * NT_X86_XSAVE_LAYOUT. Which ones: the mask ptrace puts in the regset's
 * software-reserved bytes 464..471 (the XCR0 the kernel enabled for user
 * state, asm/user.h); where and how large: CPUID leaf 0xd, which describes
 * the non-compacted layout ptrace and cores use. This machine's CPU is the
 * target's.
 */
static size_t ptrace_xsave_layout(struct reader *r, const void *xstate, size_t len,
				  struct core_xfeat *out, size_t max)
{
	size_t n = 0;
#if defined(__x86_64__) || defined(__i386__)
	const unsigned char *x = xstate;
	uint64_t features;

	(void)r;
	if (len < 512 + 64)
		return 0;
	memcpy(&features, x + 464, 8);
	if ((features & 3) != 3)	/* x87 and SSE are always there */
		return 0;
	for (unsigned type = 2; type < 64 && n < max; type++) {
		unsigned eax, ebx, ecx, edx;

		if (!(features >> type & 1))
			continue;
		__asm__ volatile("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx)
				 : "a"(0xd), "c"(type));
		if (eax == 0)
			continue;
		out[n++] = (struct core_xfeat){ type, eax, ebx, 0 };
	}
#else
	(void)r;
	(void)xstate;
	(void)len;
	(void)out;
	(void)max;
#endif
	return n;
}

static int ptrace_set_live(struct reader *r, bool live)
{
	return live ? ptrace_resume(r) : ptrace_suspend(r);
}

static const struct source_ops ptrace_ops = {
	.kind = "ptrace",
	.close = ptrace_close,
	.read = ptrace_mem_read,
	.scan = ptrace_mem_scan,
	.read_raw = mem_read_raw,
	.proc_state = true,
	.smaps = ptrace_smaps,
	.sigmasks = ptrace_sigmasks,
	.xsave_layout = ptrace_xsave_layout,
	.set_live = ptrace_set_live,
	.refresh = ptrace_refresh_all,
	.refresh_if_changed = ptrace_refresh_if_changed,
	.hold = ptrace_hold,
	.release = ptrace_release,
	.detach = ptrace_detach,
	.regset_now = ptrace_regset_now,
	.write = ptrace_mem_write,
	.set_regs = ptrace_set_regs,
	.put_regsets = ptrace_put_regsets,
};

const struct source source_ptrace = { &ptrace_ops };
