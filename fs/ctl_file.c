/*
 * ctl: the control file, as Plan 9's /proc/n/ctl. Each write is one
 * command of ctl_cmds, carried out before the write returns. A read says
 * the mode, the commands, and why the last refused write was refused:
 * after daemonising the daemon's stderr is /dev/null, so the reason is
 * kept here for the user to read.
 */
#include <errno.h>
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
};

static const struct ctl_cmd ctl_cmds[] = {
	{ "suspend", reader_suspend, 0 },
	{ "resume", reader_resume, 1 },
	{ "refresh", reader_refresh_all, -1 },
	{ "detach", detach, -1 },
};
static const size_t ctl_ncmds = NODE_COUNT(ctl_cmds);

/* One mount, one ctl: its last refusal, until the next one. */
static pthread_mutex_t last_mu = PTHREAD_MUTEX_INITIALIZER;
static char last_error[128] = "none";

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
	char cmd[32];
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
	for (size_t i = 0; i < ctl_ncmds; i++)
		if (strcmp(cmd, ctl_cmds[i].name) == 0) {
			rc = c->r ? ctl_cmds[i].run(c->r) : run_tree(&ctl_cmds[i]);
			if (rc == 0)
				*want_live = ctl_cmds[i].want_live;
			return rc ? refuse(rc, "%s: %s", cmd, strerror(-rc)) : 0;
		}
	/* Shown on one line of ctl: no control characters. */
	for (char *q = cmd; *q; q++)
		if ((unsigned char)*q < ' ' || *q == 0x7f)
			*q = '?';
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
