/* Files about the whole process, and the root table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/tree.h"
#include "reader/procstat.h"

/* The value of "Key:" in the /proc/PID/status captured at suspension. */
static void status_field(const struct node_ctx *c, const char *key, char *out,
			 size_t outlen)
{
	const char *text, *v;
	size_t len, n;

	snprintf(out, outlen, "?");
	if (reader_file(c->r, RB_STATUS, &text, &len) ||
	    procstat_status_field(text, len, key, &v, &n))
		return;
	snprintf(out, outlen, "%.*s", (int)n, v);
	/* Uid/Gid lines are tab separated: real, effective, saved, fs. */
	for (char *q = out; *q; q++)
		if (*q == '\t')
			*q = ' ';
}

/* "build-id <hex>" of the module mapped from the executable, if it has one. */
static void exe_build_id(const struct node_ctx *c, struct sbuf *sb)
{
	const struct reader_module *m = reader_exe_module(c->r);
	struct mod_info mi;
	char hex[2 * MOD_BUILD_ID_MAX + 1];

	if (m && reader_module_info(c->r, m, &mi) == 0 &&
	    mod_build_id_hex(&mi, hex, sizeof(hex)) > 0)
		sbuf_printf(sb, "build-id %s\n", hex);
}

/*
 * -o snapshot: how long the target stood still (the fork's share of it),
 * the clone served, and what only the clone holds now (reader.h).
 */
static void snapshot_status(const struct node_ctx *c, struct sbuf *sb)
{
	struct reader_snapshot_info si;

	if (reader_snapshot_info(c->r, &si))
		return;
	sbuf_printf(sb, "freeze_ms %.3f\n", si.freeze_ms);
	sbuf_printf(sb, "fork_ms %.3f\n", si.fork_ms);
	sbuf_printf(sb, "kill_safe %s\n", si.net ? "yes" : "no");
	sbuf_printf(sb, "clone %d\n", (int)si.clone);
	sbuf_printf(sb, "cow %llu\n", (unsigned long long)si.cow_bytes);
	sbuf_printf(sb, "snapshots %u\n", si.count);
	sbuf_printf(sb, "target %s\n", si.held ? "suspended" : "running");
	if (si.notes)
		sbuf_puts(sb, si.notes);
}

static int status_show(const struct node_ctx *c, struct sbuf *sb)
{
	const struct arch_desc *a = reader_arch(c->r);
	char v[256];

	sbuf_printf(sb, "pid %d\n", (int)reader_pid(c->r));
	status_field(c, "PPid", v, sizeof(v));
	sbuf_printf(sb, "ppid %s\n", v);
	status_field(c, "Uid", v, sizeof(v));
	sbuf_printf(sb, "uid %s\n", v);
	status_field(c, "Gid", v, sizeof(v));
	sbuf_printf(sb, "gid %s\n", v);
	sbuf_printf(sb, "comm %s\n", reader_comm(c->r));
	sbuf_printf(sb, "exe %s\n", reader_exe(c->r));
	sbuf_printf(sb, "arch %s\n", a ? a->name : "unknown");
	exe_build_id(c, sb);
	sbuf_printf(sb, "state %s\n", reader_state(c->r));
	snapshot_status(c, sb);
	sbuf_printf(sb, "threads %zu\n", reader_threads(c->r, NULL, 0));
	sbuf_printf(sb, "mappings %zu\n", reader_maps(c->r)->n);
	reader_describe(c->r, sb);	/* a core: which file, what kind, the signal */
	{
		const char *f;
		size_t len;

		/* /proc gives "00000033\n": its newline is not ours to print. */
		if (reader_file(c->r, RB_COREDUMP_FILTER, &f, &len) == 0 && len)
			sbuf_printf(sb, "coredump_filter 0x%llx\n", strtoull(f, NULL, 16));
	}
	return sb->err;
}

/* PROC rows (cmdline, environ, auxv): the target's bytes as /proc gave them. */
int fs_proc_show(const struct node_ctx *c, struct sbuf *sb)
{
	const char *data;
	size_t len;
	int rc = reader_file(c->r, (enum reader_file)c->node->arg, &data, &len);

	if (rc)
		return rc == -ENODATA ? 0 : rc;	/* unreadable at suspension: empty */
	return sbuf_append(sb, data, len);
}

static int exe_link(const struct node_ctx *c, struct sbuf *sb)
{
	const char *exe = reader_exe(c->r);

	if (!exe[0])
		return -ENOENT;
	return sbuf_puts(sb, exe);
}

static int maps_show(const struct node_ctx *c, struct sbuf *sb)
{
	size_t len;
	const char *text = reader_maps_text(c->r, &len);

	return sbuf_append(sb, text, len);
}

static int mem_size(const struct node_ctx *c, uint64_t *size, uint64_t *blocks)
{
	*size = reader_mem_size(c->r);
	*blocks = reader_mem_data_bytes(c->r) / 512;
	return 0;
}

static ssize_t mem_read(const struct node_ctx *c, void *buf, size_t len, uint64_t off)
{
	uint64_t size = reader_mem_size(c->r);

	if (off >= size)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	return reader_mem_read(c->r, buf, len, off);
}

static int mem_seek(const struct node_ctx *c, uint64_t off, int whence, uint64_t *out)
{
	uint64_t size = reader_mem_size(c->r);

	if (off >= size)
		return -ENXIO;
	return reader_mem_seek(c->r, off, whence, size, out);
}

/*
 * -o rw: pwrite at offset == address. Past the last mapping is a hole
 * like any other: EIO, nothing written.
 */
static ssize_t mem_write(const struct node_ctx *c, const void *buf, size_t len, uint64_t off)
{
	if (off >= reader_mem_size(c->r))
		return -EIO;
	return reader_mem_write(c->r, buf, len, off);
}

/* Every thread's backtrace, as eu-stack prints a process. */
static int stack_show(const struct node_ctx *c, struct sbuf *sb)
{
	return reader_stack(c->r, 0, sb);
}

/* A process that runs on takes commands; a core file does not. */
static bool controllable(const struct node_ctx *c)
{
	return reader_controllable(c->r);
}

/* What only /proc/PID of a running process tells (a core carries none of it). */
static bool has_proc_state(const struct node_ctx *c)
{
	return reader_has_proc_state(c->r);
}

static const struct blob_ops mem_blob = { .size = mem_size, .read = mem_read, .seek = mem_seek,
					   .write = mem_write };

/*
 * The root directory, one row a file: name, mode, what makes it. The
 * rows other files define are declared in fs/tree.h.
 */
static const struct node root_entries[] = {
	TEXT("status", 0400, status_show),
	TEXT("maps", 0400, maps_show),
	PROC("cmdline", RB_CMDLINE),
	PROC("environ", RB_ENVIRON),
	PROC("auxv", RB_AUXV),
	/* Unwinding needs the threads still: a live mount stops them for it. */
	TEXT("stack", 0400, stack_show, .flags = NF_HOLD),
	LINK("exe", exe_link),
	BLOB("mem", 0400, &mem_blob, .flags = NF_RW),
	INST("threads", 0500, threads_gen),
	INST("regions", 0500, regions_gen),
	INST("modules", 0500, modules_gen),
	/* The rest of the process's state (fs/state_files.c). */
	INST("fds", 0500, fds_gen, .present = has_proc_state),
	LINK("cwd", cwd_link, .present = has_proc_state),
	LINK("root", root_link, .present = has_proc_state),
	TEXT("limits", 0400, limits_show, .present = has_proc_state),
	TEXT("signals", 0400, signals_show, .present = has_proc_state),
	TEXT("cgroup", 0400, cgroup_show, .present = has_proc_state),
	INST("ns", 0500, ns_gen, .present = has_proc_state),
	TEXT("smaps", 0400, smaps_show, .present = has_proc_state),
	TEXT("personality", 0400, personality_show, .present = has_proc_state),
	/* One consistent core per open: a live mount stops while it is open. */
	BLOB("core", 0400, &core_blob, .flags = NF_HOLD),
	/* The one file that takes writes, a command each (fs/ctl_file.c). */
	TEXT("ctl", 0600, ctl_show, .write = ctl_write, .present = controllable),
};

const struct node fs_root = TABLE("/", 0500, root_entries);
