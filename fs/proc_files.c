/* Files about the whole process, and the root table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/tree.h"

/* The value of "Key:" in the /proc/PID/status captured at suspension. */
static void status_field(const struct node_ctx *c, const char *key, char *out,
			 size_t outlen)
{
	const char *text, *p;
	size_t len, klen = strlen(key);

	snprintf(out, outlen, "?");
	if (reader_file(c->r, RB_STATUS, &text, &len))
		return;
	for (p = text; p && p < text + len; p = memchr(p, '\n', (size_t)(text + len - p)), p = p ? p + 1 : NULL) {
		if ((size_t)(text + len - p) > klen && memcmp(p, key, klen) == 0 && p[klen] == ':') {
			const char *v = p + klen + 1, *end;

			while (v < text + len && (*v == ' ' || *v == '\t'))
				v++;
			end = memchr(v, '\n', (size_t)(text + len - v));
			if (!end)
				end = text + len;
			snprintf(out, outlen, "%.*s", (int)(end - v), v);
			/* Uid/Gid lines are tab separated: real, effective, saved, fs. */
			for (char *q = out; *q; q++)
				if (*q == '\t')
					*q = ' ';
			return;
		}
	}
}

/* "build-id <hex>" of the module mapped from the executable, if it has one. */
static void exe_build_id(const struct node_ctx *c, struct sbuf *sb)
{
	const struct reader_module *v;
	struct mod_info mi;
	char hex[2 * MOD_BUILD_ID_MAX + 1];
	size_t n;

	if (reader_modules(c->r, &v, &n))
		return;
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].path, reader_exe(c->r)) == 0 &&
		    reader_module_info(c->r, &v[i], &mi) == 0 &&
		    mod_build_id_hex(&mi, hex, sizeof(hex)) > 0) {
			sbuf_printf(sb, "build-id %s\n", hex);
			return;
		}
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
	sbuf_printf(sb, "threads %zu\n", reader_threads(c->r, NULL, 0));
	sbuf_printf(sb, "mappings %zu\n", reader_maps(c->r)->n);
	{
		const char *f;
		size_t len;

		/* /proc gives "00000033\n": its newline is not ours to print. */
		if (reader_file(c->r, RB_COREDUMP_FILTER, &f, &len) == 0 && len)
			sbuf_printf(sb, "coredump_filter 0x%llx\n", strtoull(f, NULL, 16));
	}
	return sb->err;
}

/* cmdline, environ, auxv: the target's bytes as /proc gave them. */
static int file_show(const struct node_ctx *c, struct sbuf *sb, enum reader_file which)
{
	const char *data;
	size_t len;
	int rc = reader_file(c->r, which, &data, &len);

	if (rc)
		return rc == -ENODATA ? 0 : rc;	/* unreadable at suspension: empty */
	return sbuf_append(sb, data, len);
}

static int cmdline_show(const struct node_ctx *c, struct sbuf *sb) { return file_show(c, sb, RB_CMDLINE); }
static int environ_show(const struct node_ctx *c, struct sbuf *sb) { return file_show(c, sb, RB_ENVIRON); }
static int auxv_show(const struct node_ctx *c, struct sbuf *sb) { return file_show(c, sb, RB_AUXV); }

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

/* Every thread's backtrace, as eu-stack prints a process. */
static int stack_show(const struct node_ctx *c, struct sbuf *sb)
{
	return reader_stack(c->r, 0, sb);
}

static const struct node_ops status_ops = { .show = status_show };
static const struct node_ops stack_ops = { .show = stack_show };
static const struct node_ops cmdline_ops = { .show = cmdline_show };
static const struct node_ops environ_ops = { .show = environ_show };
static const struct node_ops auxv_ops = { .show = auxv_show };
static const struct node_ops exe_ops = { .link = exe_link };
static const struct node_ops maps_ops = { .show = maps_show };
static const struct node_ops mem_ops = {
	.size = mem_size, .read = mem_read, .seek = mem_seek,
};

/*
 * The root directory, one row a file. A 1 MiB st_blksize makes cp and cat
 * ask for 1 MiB at a time: each request is a round trip to the daemon.
 */
static const struct node root_entries[] = {
	NODE_TEXT_("status", 0400, status_ops),
	NODE_TEXT_("maps", 0400, maps_ops),
	NODE_TEXT_("cmdline", 0400, cmdline_ops),
	NODE_TEXT_("environ", 0400, environ_ops),
	NODE_TEXT_("auxv", 0400, auxv_ops),
	/* Unwinding needs the threads still: a live mount stops them for it. */
	{ .name = "stack", .mode = 0400, .kind = NODE_TEXT, .ops = &stack_ops, .hold = true },
	NODE_LINK_("exe", exe_ops),
	NODE_BLOB_("mem", 0400, mem_ops, 1 << 20),
	NODE_INST("threads", 0500, threads_ops),
	NODE_INST("regions", 0500, regions_ops),
	NODE_INST("modules", 0500, modules_ops),
	/* The rest of the process's state (fs/state_files.c). */
	NODE_INST("fds", 0500, fds_ops),
	NODE_LINK_("cwd", cwd_ops),
	NODE_LINK_("root", root_ops),
	NODE_TEXT_("limits", 0400, limits_ops),
	NODE_TEXT_("signals", 0400, signals_ops),
	NODE_TEXT_("cgroup", 0400, cgroup_ops),
	NODE_INST("ns", 0500, ns_ops),
	NODE_TEXT_("smaps", 0400, smaps_ops),
	NODE_TEXT_("personality", 0400, personality_ops),
	/* One consistent core per open: a live mount stops while it is open. */
	{ .name = "core", .mode = 0400, .kind = NODE_BLOB, .ops = &core_ops,
	  .blksize = 1 << 20, .hold = true },
	/* The only file that takes writes: one command each (fs/ctl_file.c). */
	{ .name = "ctl", .mode = 0200, .kind = NODE_BLOB, .ops = &ctl_ops },
};

const struct node fs_root = NODE_TABLE("/", 0500, root_entries);
