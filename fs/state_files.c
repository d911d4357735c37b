/*
 * The rest of the process's state: fds/<n>, cwd, root, limits, signals,
 * cgroup, ns/<name>, smaps, personality, and modules/<name>/file. What
 * each says, and when it is read, is reader/state.c's business.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/tree.h"
#include "reader/state.h"

static int text_show(const struct node_ctx *c, struct sbuf *sb, enum reader_state_text which)
{
	int rc = reader_state_text(c->r, which, sb);

	return rc == -ENODATA ? 0 : rc;	/* unreadable: empty, as cmdline is */
}

static int limits_show(const struct node_ctx *c, struct sbuf *sb) { return text_show(c, sb, RS_LIMITS); }
static int cgroup_show(const struct node_ctx *c, struct sbuf *sb) { return text_show(c, sb, RS_CGROUP); }
static int personality_show(const struct node_ctx *c, struct sbuf *sb) { return text_show(c, sb, RS_PERSONALITY); }
static int smaps_show(const struct node_ctx *c, struct sbuf *sb) { return text_show(c, sb, RS_SMAPS); }
static int signals_show(const struct node_ctx *c, struct sbuf *sb) { return text_show(c, sb, RS_SIGNALS); }

static int link_show(const struct node_ctx *c, struct sbuf *sb, enum reader_state_text which)
{
	int rc = reader_state_text(c->r, which, sb);

	return rc == -ENODATA ? -ENOENT : rc;
}

static int cwd_link(const struct node_ctx *c, struct sbuf *sb) { return link_show(c, sb, RS_CWD); }
static int root_link(const struct node_ctx *c, struct sbuf *sb) { return link_show(c, sb, RS_ROOT); }

const struct node_ops limits_ops = { .show = limits_show };
const struct node_ops cgroup_ops = { .show = cgroup_show };
const struct node_ops personality_ops = { .show = personality_show };
const struct node_ops smaps_ops = { .show = smaps_show };
const struct node_ops signals_ops = { .show = signals_show };
const struct node_ops cwd_ops = { .link = cwd_link };
const struct node_ops root_ops = { .link = root_link };

/* ---- fds/<n> ---- */

static int fds_list(const struct node_ctx *c, node_fill_fn fill, void *cookie)
{
	const int *v = NULL;
	size_t n = 0;
	int rc = reader_fds(c->r, &v, &n);

	for (size_t i = 0; i < n && !rc; i++) {
		char name[16];

		snprintf(name, sizeof(name), "%d", v[i]);
		rc = fill(cookie, name);
	}
	if (v)
		reader_fds_put(c->r, v);
	return rc;
}

static const struct node fd_file;

static int fds_bind(const struct node_ctx *c, const char *name, struct node_ctx *out)
{
	char *end;
	long fd = strtol(name, &end, 10);

	/* Only the canonical spelling: "03" is not descriptor 3. */
	if (*end || fd < 0 || fd > INT32_MAX || (name[0] == '0' && name[1]) || name[0] == '-' ||
	    name[0] == '+' || name[0] == ' ')
		return -ENOENT;
	if (reader_fd_exists(c->r, (int)fd))
		return -ENOENT;
	*out = *c;
	out->node = &fd_file;
	out->idx = (size_t)fd;
	return 0;
}

static int fd_show(const struct node_ctx *c, struct sbuf *sb)
{
	return reader_fd_show(c->r, (int)c->idx, sb);
}

const struct node_ops fds_ops = { .list = fds_list, .bind = fds_bind };
static const struct node_ops fd_ops = { .show = fd_show };
static const struct node fd_file = NODE_TEXT_("<fd>", 0400, fd_ops);

/* ---- ns/<name>: symlinks, as /proc/PID/ns has them ---- */

struct ns_find {
	const char *want;	/* by name: sets idx */
	size_t want_idx;	/* by index: copies the name */
	size_t i, idx;
	char name[64];
	bool found;
};

static int ns_find_one(void *cookie, const char *name)
{
	struct ns_find *f = cookie;

	if (f->want ? strcmp(name, f->want) == 0 : f->i == f->want_idx) {
		f->found = true;
		f->idx = f->i;
		snprintf(f->name, sizeof(f->name), "%s", name);
		return 1;	/* stop the walk */
	}
	f->i++;
	return 0;
}

static int ns_list(const struct node_ctx *c, node_fill_fn fill, void *cookie)
{
	return reader_ns_list(c->r, fill, cookie);
}

static const struct node ns_link_node;

static int ns_bind(const struct node_ctx *c, const char *name, struct node_ctx *out)
{
	struct ns_find f = { .want = name };

	if (reader_ns_list(c->r, ns_find_one, &f) < 0 || !f.found)
		return -ENOENT;
	*out = *c;
	out->node = &ns_link_node;
	out->idx = f.idx;
	return 0;
}

static int ns_link(const struct node_ctx *c, struct sbuf *sb)
{
	struct ns_find f = { .want_idx = c->idx };

	if (reader_ns_list(c->r, ns_find_one, &f) < 0 || !f.found)
		return -ENOENT;
	return reader_ns_link(c->r, f.name, sb);
}

const struct node_ops ns_ops = { .list = ns_list, .bind = ns_bind };
static const struct node_ops ns_link_ops = { .link = ns_link };
static const struct node ns_link_node = NODE_LINK_("<name>", ns_link_ops);

/* ---- modules/<name>/file: the mapped file's bytes ---- */

static const struct reader_module *module_at(const struct node_ctx *c)
{
	const struct reader_module *v;
	size_t n;

	if (reader_modules(c->r, &v, &n) || c->idx >= n)
		return NULL;
	return &v[c->idx];
}

static int file_size(const struct node_ctx *c, uint64_t *size, uint64_t *blocks)
{
	const struct reader_module *m = module_at(c);
	int rc = m ? reader_module_file(c->r, m, size) : -ENOENT;

	if (rc == 0)
		*blocks = (*size + 511) / 512;
	return rc;
}

static ssize_t file_read(const struct node_ctx *c, void *buf, size_t len, uint64_t off)
{
	const struct reader_module *m = module_at(c);

	return m ? reader_module_file_read(c->r, m, buf, len, off) : -EIO;
}

const struct node_ops module_file_ops = { .size = file_size, .read = file_read };
