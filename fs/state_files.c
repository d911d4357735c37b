/*
 * The rest of the process's state: fds/<n>, cwd, root, limits, signals,
 * cgroup, ns/<name>, smaps, personality (modules/<name>/file is in
 * fs/module_files.c). What each says, and when it is read, is reader/state.c's business.
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

int limits_show(const struct node_ctx *c, struct sbuf *sb) { return text_show(c, sb, RS_LIMITS); }
int cgroup_show(const struct node_ctx *c, struct sbuf *sb) { return text_show(c, sb, RS_CGROUP); }
int personality_show(const struct node_ctx *c, struct sbuf *sb) { return text_show(c, sb, RS_PERSONALITY); }
int smaps_show(const struct node_ctx *c, struct sbuf *sb) { return text_show(c, sb, RS_SMAPS); }
int signals_show(const struct node_ctx *c, struct sbuf *sb) { return text_show(c, sb, RS_SIGNALS); }

static int link_show(const struct node_ctx *c, struct sbuf *sb, enum reader_state_text which)
{
	int rc = reader_state_text(c->r, which, sb);

	return rc == -ENODATA ? -ENOENT : rc;
}

int cwd_link(const struct node_ctx *c, struct sbuf *sb) { return link_show(c, sb, RS_CWD); }
int root_link(const struct node_ctx *c, struct sbuf *sb) { return link_show(c, sb, RS_ROOT); }

/* ---- fds/<n> ---- */

static const struct node fd_file;

/* fds/: one entry a descriptor open at suspension, in ascending order. */
int fds_gen(const struct node_ctx *dir, const char *name, size_t i, struct node_ent *out)
{
	long fd;

	if (name) {
		char *end;

		/* Only the canonical spelling: "03" is not descriptor 3. */
		fd = strtol(name, &end, 10);
		if (*end || fd < 0 || fd > INT32_MAX || (name[0] == '0' && name[1]) ||
		    name[0] == '-' || name[0] == '+' || name[0] == ' ')
			return -ENOENT;
		if (reader_fd_exists(dir->r, (int)fd))
			return -ENOENT;
	} else {
		const int *v = NULL;
		size_t n = 0;
		int rc = reader_fds(dir->r, &v, &n);

		if (rc == 0 && i >= n)
			rc = -ENOENT;
		fd = rc == 0 ? v[i] : -1;
		if (v)
			reader_fds_put(dir->r, v);
		if (rc)
			return rc;
	}
	out->ctx = *dir;
	out->ctx.node = &fd_file;
	out->ctx.idx = (size_t)fd;
	snprintf(out->name, sizeof(out->name), "%ld", fd);
	return 0;
}

static int fd_show(const struct node_ctx *c, struct sbuf *sb)
{
	return reader_fd_show(c->r, (int)c->idx, sb);
}

static const struct node fd_file = TEXT("<fd>", 0400, fd_show);

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

static const struct node ns_link_node;

/* ns/: one symlink a namespace, as /proc/PID/ns lists them. */
int ns_gen(const struct node_ctx *dir, const char *name, size_t i, struct node_ent *out)
{
	struct ns_find f = { .want = name, .want_idx = i };

	if (reader_ns_list(dir->r, ns_find_one, &f) < 0 || !f.found)
		return -ENOENT;
	out->ctx = *dir;
	out->ctx.node = &ns_link_node;
	out->ctx.idx = f.idx;
	snprintf(out->name, sizeof(out->name), "%s", f.name);
	return 0;
}

static int ns_link(const struct node_ctx *c, struct sbuf *sb)
{
	struct ns_find f = { .want_idx = c->idx };

	if (reader_ns_list(c->r, ns_find_one, &f) < 0 || !f.found)
		return -ENOENT;
	return reader_ns_link(c->r, f.name, sb);
}

static const struct node ns_link_node = LINK("<name>", ns_link);
