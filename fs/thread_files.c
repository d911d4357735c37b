/* threads/ and threads/<tid>/. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "fs/tree.h"

static int threads_list(const struct node_ctx *c, node_fill_fn fill, void *cookie)
{
	size_t n = reader_threads(c->r, NULL, 0), got;
	pid_t *tids = calloc(n ? n : 1, sizeof(*tids));
	int rc = 0;

	if (!tids)
		return -ENOMEM;
	got = reader_threads(c->r, tids, n);
	for (size_t i = 0; i < got && i < n && !rc; i++) {
		char name[16];

		snprintf(name, sizeof(name), "%d", (int)tids[i]);
		rc = fill(cookie, name);
	}
	free(tids);
	return rc;
}

static int threads_bind(const struct node_ctx *c, const char *name, struct node_ctx *out)
{
	char *end;
	long tid = strtol(name, &end, 10);

	/* Only the canonical spelling: "0123" is not thread 123. */
	if (*end || tid <= 0 || name[0] == '0' || tid > INT32_MAX)
		return -ENOENT;
	if (reader_thread_alive(c->r, (pid_t)tid))
		return -ENOENT;
	*out = *c;
	out->node = &thread_dir;
	out->tid = (pid_t)tid;
	return 0;
}

static int regs_show(const struct node_ctx *c, struct sbuf *sb)
{
	const struct arch_desc *a = reader_arch(c->r);
	unsigned char blob[1024];	/* NT_PRSTATUS: 272 bytes at most */
	int len = reader_thread_regset_copy(c->r, c->tid, 1 /* NT_PRSTATUS */,
					    blob, sizeof(blob));

	if (len < 0)
		return len == -ENOENT ? -ENOENT : -EIO;
	if (!a)
		return -EIO;
	return arch_format_regs(a, blob, (size_t)len, sb);
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

const struct node_ops threads_ops = { .list = threads_list, .bind = threads_bind };
static const struct node_ops stack_ops = { .show = stack_show };
static const struct node_ops regs_ops = { .show = regs_show };
static const struct node_ops stat_ops = { .show = stat_show };

/* threads/<tid>/: one row a file. */
static const struct node thread_entries[] = {
	NODE_TEXT_("regs", 0400, regs_ops),
	NODE_TEXT_("fpregs", 0400, fpregs_ops),
	NODE_TEXT_("stat", 0400, stat_ops),
	{ .name = "stack", .mode = 0400, .kind = NODE_TEXT, .ops = &stack_ops, .hold = true },
};

const struct node thread_dir = NODE_TABLE("<tid>", 0500, thread_entries);
