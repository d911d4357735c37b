/* Placeholder until modules/ lands (issue 3): an empty directory. */
#include <errno.h>

#include "fs/tree.h"

static int modules_list(const struct node_ctx *c, node_fill_fn fill, void *cookie)
{
	(void)c;
	(void)fill;
	(void)cookie;
	return 0;
}

static int modules_bind(const struct node_ctx *c, const char *name, struct node_ctx *out)
{
	(void)c;
	(void)name;
	(void)out;
	return -ENOENT;
}

const struct node_ops modules_ops = { .list = modules_list, .bind = modules_bind };
