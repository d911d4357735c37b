/*
 * -o tree: the root of a mount of several processes. Two files of the
 * tree's own (processes, ctl) and one directory per member with a reader,
 * named by its pid, which is the whole single-process tree (fs_root) with
 * that member's reader in its context: below it nothing knows there are
 * others.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/tree.h"

struct reader_tree *fs_ptree;

/*
 * One line a member, parents first: pid ppid pgid sid comm state mount,
 * where state is the /proc letter before the freeze and mount is the
 * member's state (suspended, exited, detached...) or "untraced" and the
 * reason it has no directory. A comm's blanks and backslashes are
 * written \ooo, as mountinfo does, so a line splits on blanks.
 */
static int processes_show(const struct node_ctx *c, struct sbuf *sb)
{
	(void)c;
	for (size_t i = 0; i < reader_tree_count(fs_ptree); i++) {
		const struct reader_tree_member *m = reader_tree_member(fs_ptree, i);

		sbuf_printf(sb, "%d %d %d %d ", (int)m->pid, (int)m->ppid, (int)m->pgid,
			    (int)m->sid);
		for (const char *p = m->comm; *p; p++)
			if (*p == '\\' || (unsigned char)*p <= ' ' || *p == 0x7f)
				sbuf_printf(sb, "\\%03o", (unsigned char)*p);
			else
				sbuf_printf(sb, "%c", *p);
		if (m->r)
			sbuf_printf(sb, " %c %s\n", m->state, reader_state(m->r));
		else
			sbuf_printf(sb, " %c untraced %s\n", m->state, m->why);
	}
	return sb->err;
}

/* The tree's own files, before the members. */
static const struct node tree_entries[] = {
	TEXT("processes", 0400, processes_show),
	/* Its commands go to every member (fs/ctl_file.c). */
	TEXT("ctl", 0600, ctl_show, .write = ctl_write),
};
static const struct node tree_files = TABLE("/", 0500, tree_entries);

/* A member directory's name: its pid, as printed (no sign, no zeros ahead). */
static pid_t member_pid(const char *name)
{
	char *end;
	long v;

	if (name[0] < '1' || name[0] > '9')
		return 0;
	v = strtol(name, &end, 10);
	return *end || v <= 0 || v > 0x7fffffff ? 0 : (pid_t)v;
}

static int tree_root_gen(const struct node_ctx *dir, const char *name, size_t i,
			 struct node_ent *out)
{
	struct node_ctx files = *dir;
	struct reader *r;
	pid_t pid;

	files.node = &tree_files;
	if (fs_table_gen(&files, name, i, out) == 0)
		return 0;
	if (name) {
		pid = member_pid(name);
		if (!pid || !(r = reader_tree_reader(fs_ptree, pid)))
			return -ENOENT;
	} else {
		const struct reader_tree_member *m =
			reader_tree_member(fs_ptree, i - NODE_COUNT(tree_entries));

		if (!m)
			return -ENOENT;
		if (!m->r)
			return -ENODATA;	/* listed in processes only */
		pid = m->pid;
		r = m->r;
	}
	out->ctx = (struct node_ctx){ .node = &fs_root, .r = r, .gen = reader_generation(r) };
	snprintf(out->name, sizeof(out->name), "%d", (int)pid);
	return 0;
}

const struct node fs_tree_root = INST("/", 0500, tree_root_gen);
