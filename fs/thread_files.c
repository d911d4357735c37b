/* threads/ and threads/<tid>/. */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "fs/tree.h"

/*
 * threads/: one entry per thread record the reader keeps, in the order
 * met. An exited record is skipped, not just absent: a later record may
 * have its tid. thread_dir's present() hides an exited thread from walks.
 */
int threads_gen(const struct node_ctx *dir, const char *name, size_t i,
		struct node_ent *out)
{
	pid_t tid;

	if (name) {
		char *end;
		long v = strtol(name, &end, 10);

		/* Only the canonical spelling: "0123" is not thread 123. */
		if (*end || v <= 0 || name[0] == '0' || v > INT32_MAX)
			return -ENOENT;
		tid = (pid_t)v;
	} else {
		int rc = reader_thread_at(dir->r, i, &tid);

		if (rc)
			return rc == -ESRCH ? -ENODATA : rc;
	}
	out->ctx = *dir;
	out->ctx.node = &thread_dir;
	out->ctx.tid = tid;
	snprintf(out->name, sizeof(out->name), "%d", (int)tid);
	return 0;
}

static bool thread_present(const struct node_ctx *c)
{
	return reader_thread_alive(c->r, c->tid) == 0;
}

static int regs_show(const struct node_ctx *c, struct sbuf *sb)
{
	const struct arch_desc *a = reader_arch(c->r);
	unsigned char blob[1024];	/* NT_PRSTATUS: 360 bytes at most (loongarch64) */
	int len = reader_thread_regset_copy(c->r, c->tid, NT_PRSTATUS, blob, sizeof(blob));

	if (len < 0)
		return len == -ENOENT ? -ENOENT : -EIO;
	if (!a)
		return -EIO;
	return arch_format_regs(a, blob, (size_t)len, sb);
}

/*
 * -o rw: one write is a set of `name value` lines, in the format read
 * (any subset, any order), parsed whole before the thread's registers are
 * set at once; a bad line changes nothing (EINVAL).
 */
static int regs_write(const struct node_ctx *c, const char *buf, size_t len)
{
	const struct arch_desc *a = reader_arch(c->r);
	struct arch_reg_set v[128];
	int n;

	if (!a)
		return -EIO;
	n = arch_parse_regs(a, buf, len, v, NODE_COUNT(v), NULL, 0);
	if (n <= 0)
		return -EINVAL;	/* nothing to set is a mistake too */
	return reader_thread_set_regs(c->r, c->tid, v, (size_t)n);
}

static const char *state_name(char s)
{
	switch (s) {
	case 'R': return "running";
	case 'S': return "sleeping";
	case 'D': return "disk sleep";
	case 'T': return "stopped";
	case 't': return "tracing stop";
	case 'Z': return "zombie";
	case 'X': return "dead";
	case 'I': return "idle";
	case 'P': return "parked";
	default: return "unknown";
	}
}

/*
 * threads/<tid>/stat: what /proc/PID/task/TID says that matters, at
 * suspension, as `key value` lines. The state is the one the thread had
 * before we stopped it (/proc would now say "t (tracing stop)").
 */
static int stat_show(const struct node_ctx *c, struct sbuf *sb)
{
	struct reader_thread_info ti;
	const char *sc;
	int rc = reader_thread_info(c->r, c->tid, &ti);

	if (rc)
		return rc;
	sbuf_printf(sb, "tid %d\n", (int)ti.tid);
	sbuf_printf(sb, "name %s\n", ti.name);
	sbuf_printf(sb, "main %s\n", ti.main ? "yes" : "no");
	sbuf_printf(sb, "state %c (%s)\n", ti.state, state_name(ti.state));
	if (ti.syscall >= 0) {
		sc = arch_syscall_name(reader_arch(c->r), ti.syscall);
		sbuf_printf(sb, "syscall %ld %s\n", ti.syscall, sc ? sc : "?");
		sbuf_printf(sb, "syscall_args 0x%llx 0x%llx 0x%llx 0x%llx 0x%llx 0x%llx\n",
			    (unsigned long long)ti.syscall_args[0],
			    (unsigned long long)ti.syscall_args[1],
			    (unsigned long long)ti.syscall_args[2],
			    (unsigned long long)ti.syscall_args[3],
			    (unsigned long long)ti.syscall_args[4],
			    (unsigned long long)ti.syscall_args[5]);
	} else {
		sbuf_puts(sb, "syscall none\n");
	}
	sbuf_printf(sb, "sp 0x%016llx\n", (unsigned long long)ti.sp);
	sbuf_printf(sb, "pc 0x%016llx\n", (unsigned long long)ti.pc);
	sbuf_printf(sb, "utime_ticks %llu\n", (unsigned long long)ti.utime);
	sbuf_printf(sb, "stime_ticks %llu\n", (unsigned long long)ti.stime);
	sbuf_printf(sb, "priority %ld\n", ti.priority);
	sbuf_printf(sb, "nice %ld\n", ti.nice);
	sbuf_printf(sb, "processor %d\n", ti.processor);
	return sb->err;
}

static int stack_show(const struct node_ctx *c, struct sbuf *sb)
{
	return reader_stack(c->r, c->tid, sb);
}

/* threads/<tid>/: one row a file. */
static const struct node thread_entries[] = {
	TEXT("regs", 0400, regs_show, .write = regs_write, .flags = NF_RW),
	TEXT("fpregs", 0400, fpregs_show, .present = fpregs_present, .write = fpregs_write,
	     .flags = NF_RW, .can_write = fpregs_writable),
	TEXT("stat", 0400, stat_show),
	TEXT("stack", 0400, stack_show, .flags = NF_HOLD),
};

const struct node thread_dir = {
	.name = "<tid>", .mode = 0500, .kind = NODE_DIR, .present = thread_present,
	.children = thread_entries, .nchildren = NODE_COUNT(thread_entries),
};
