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
	const void *blob;
	size_t len;
	int rc = reader_thread_regs(c->r, c->tid, &blob, &len);

	if (rc)
		return rc == -ENOENT ? -ENOENT : -EIO;
	if (!a)
		return -EIO;
	return arch_format_regs(a, blob, len, sb);
}

const struct node_ops threads_ops = { .list = threads_list, .bind = threads_bind };
static const struct node_ops regs_ops = { .show = regs_show };

/* threads/<tid>/: one row a file. */
static const struct node thread_entries[] = {
	NODE_TEXT_("regs", 0400, regs_ops),
};

const struct node thread_dir = NODE_TABLE("<tid>", 0500, thread_entries);
