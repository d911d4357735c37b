/*
 * ctl: a write-only control file, one command per write, as Plan 9's
 * /proc/n/ctl. suspend, resume, refresh, detach; anything else EINVAL.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fs/tree.h"

static int ctl_size(const struct node_ctx *c, uint64_t *size, uint64_t *blocks)
{
	(void)c;
	*size = *blocks = 0;
	return 0;
}

static ssize_t ctl_read(const struct node_ctx *c, void *buf, size_t len, uint64_t off)
{
	(void)c;
	(void)buf;
	(void)len;
	(void)off;
	return -EACCES;
}

static int ctl_write(const struct node_ctx *c, const char *buf, size_t len)
{
	char cmd[32];
	size_t n = len;

	/* "echo resume > ctl" writes "resume\n". */
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		n--;
	if (n == 0 || n >= sizeof(cmd)) {
		fprintf(stderr, "ptracefs: ctl: bad command (%zu bytes)\n", len);
		return -EINVAL;
	}
	memcpy(cmd, buf, n);
	cmd[n] = '\0';
	if (strcmp(cmd, "suspend") == 0)
		return reader_suspend(c->r);
	if (strcmp(cmd, "resume") == 0)
		return reader_resume(c->r);
	if (strcmp(cmd, "refresh") == 0)
		return reader_refresh_all(c->r);
	if (strcmp(cmd, "detach") == 0) {
		int rc = reader_detach(c->r);

		if (rc == 0 && fs_on_detach)
			fs_on_detach();
		return rc;
	}
	fprintf(stderr, "ptracefs: ctl: unknown command '%s'\n", cmd);
	return -EINVAL;
}

const struct node_ops ctl_ops = { .size = ctl_size, .read = ctl_read, .write = ctl_write };
