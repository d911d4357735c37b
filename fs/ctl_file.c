/*
 * ctl: the control file, as Plan 9's /proc/n/ctl. Each write is one
 * command of ctl_cmds, carried out before the write returns. A read says
 * the mode, the commands, and why the last refused write was refused:
 * after daemonising the daemon's stderr is /dev/null, so the reason is
 * kept here for the user to read.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fs/tree.h"

static int detach(struct reader *r)
{
	int rc = reader_detach(r);

	if (rc == 0 && fs_on_detach)
		fs_on_detach();
	return rc;
}

/*
 * The commands, after Plan 9's Cmdtab: what to write, what it runs. The
 * man page documents each under ctl (doc/check_man.py checks that it does).
 */
struct ctl_cmd {
	const char *name;
	int (*run)(struct reader *r);
	int want_live;		/* the mode it asks for; -1: leaves it */
	/* A command with an argument (a path) runs this instead. */
	int (*run_arg)(struct reader *r, const char *arg, char *why, size_t whylen);
};

/*
 * restore PATH (-o rw): a core file written back, the whole process at
 * once; see reader_restore. The daemon opens PATH itself, so it must be
 * absolute: the daemon's working directory is not the writer's.
 */
static int restore(struct reader *r, const char *path, char *why, size_t whylen)
{
	int rc;

	if (path[0] != '/') {
		snprintf(why, whylen, "'%s' is not an absolute path", path);
		return -EINVAL;
	}
	rc = reader_restore(r, path, why, whylen);
	/* The daemon's log (stderr under -f): one line either way. */
	if (rc)
		fprintf(stderr, "ptracefs: restore %s refused: %s\n", path, why);
	else
		fprintf(stderr, "ptracefs: restored %s into process %d\n", path,
			(int)reader_pid(r));
	return rc;
}

static const struct ctl_cmd ctl_cmds[] = {
	{ "suspend", reader_suspend, 0, NULL },
	{ "resume", reader_resume, 1, NULL },
	{ "refresh", reader_refresh_all, -1, NULL },
	{ "detach", detach, -1, NULL },
	{ "restore", NULL, -1, restore },
};
static const size_t ctl_ncmds = NODE_COUNT(ctl_cmds);

/* One mount, one ctl: its last refusal, until the next one. */
static pthread_mutex_t last_mu = PTHREAD_MUTEX_INITIALIZER;
static char last_error[PATH_MAX + 256] = "none";

__attribute__((format(printf, 2, 3)))
static int refuse(int rc, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&last_mu);
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&last_mu);
	return rc;
}

/*
 * -o tree: the root's ctl (no reader) runs the command on every member
 * still attached, all of them even when one refuses (the first refusal
 * is the answer). Its detach releases them all, then ends the mount.
 */
static int run_tree(const struct ctl_cmd *cmd)
{
	int rc = 0;

	for (size_t i = 0; i < reader_tree_count(fs_ptree); i++) {
		struct reader *r = reader_tree_member(fs_ptree, i)->r;
		int one;

		if (!r || reader_gone(r))
			continue;
		one = cmd->run(r);
		if (rc == 0)
			rc = one;
	}
	if (rc == 0 && cmd->run == detach && fs_on_exit)
		fs_on_exit();
	return rc;
}

int ctl_show(const struct node_ctx *c, struct sbuf *sb)
{
	sbuf_printf(sb, "mode %s\n", c->r ? reader_state(c->r) : "tree");
	sbuf_puts(sb, "commands");
	for (size_t i = 0; i < ctl_ncmds; i++)
		sbuf_printf(sb, " %s", ctl_cmds[i].name);
	sbuf_puts(sb, "\n");
	pthread_mutex_lock(&last_mu);
	sbuf_printf(sb, "last_error %s\n", last_error);
	pthread_mutex_unlock(&last_mu);
	return sb->err;
}

static int ctl_run(const struct node_ctx *c, const char *buf, size_t len, int *want_live)
{
	char cmd[PATH_MAX + 16], why[PATH_MAX + 128] = "";
	const char *arg = NULL;
	size_t n = len;
	int rc;

	/* "echo resume > ctl" writes "resume\n". */
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		n--;
	if (n == 0)
		return refuse(-EINVAL, "empty command");
	if (n >= sizeof(cmd))
		return refuse(-EINVAL, "command too long (%zu bytes)", len);
	memcpy(cmd, buf, n);
	cmd[n] = '\0';
	/* Shown on one line of ctl: no control characters. */
	for (char *q = cmd; *q; q++)
		if ((unsigned char)*q < ' ' || *q == 0x7f)
			*q = '?';
	/* "restore /path": the name, one space, the rest is the argument. */
	for (char *q = cmd; *q; q++)
		if (*q == ' ' || *q == '\t') {
			*q = '\0';
			arg = q + 1;
			while (*arg == ' ' || *arg == '\t')
				arg++;
			break;
		}
	for (size_t i = 0; i < ctl_ncmds; i++) {
		const struct ctl_cmd *k = &ctl_cmds[i];

		if (strcmp(cmd, k->name) != 0)
			continue;
		if (!k->run_arg != !arg)
			return refuse(-EINVAL, "%s %s", cmd,
				      arg ? "takes no argument" : "needs an argument");
		/* -o tree: a restore names one process's core, so a member's ctl. */
		if (k->run_arg && !c->r)
			return refuse(-EINVAL, "%s: write it to a member's ctl (MOUNTPOINT/PID/ctl)", cmd);
		rc = k->run_arg ? k->run_arg(c->r, arg, why, sizeof(why)) :
		     c->r ? k->run(c->r) : run_tree(k);
		if (rc == 0)
			*want_live = k->want_live;
		else if (why[0])
			return refuse(rc, "%s: %s", cmd, why);
		return rc ? refuse(rc, "%s: %s", cmd, strerror(-rc)) : 0;
	}
	return refuse(-EINVAL, "unknown command '%s'", cmd);
}

int ctl_write(const struct node_ctx *c, const char *buf, size_t len)
{
	int want_live = -1;
	int rc = ctl_run(c, buf, len, &want_live);

	/* Before the write returns: its writer may look at once. */
	if (fs_on_ctl)
		fs_on_ctl(want_live);
	return rc;
}
