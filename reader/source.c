/*
 * The reader's facade over its source (source.h): what fs/ calls, sent
 * to the source that has it, and a plain answer where it has not (a core
 * file cannot be resumed, held or detached).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reader/reader_int.h"
#include "reader/source.h"

void reader_close(struct reader *r)
{
	if (!r)
		return;
	r->src->ops->close(r);
	free_snapshot(r);
	free(r);
}

const char *reader_source_kind(const struct reader *r)
{
	return r->src->ops->kind;
}

bool reader_controllable(const struct reader *r)
{
	return r->src->ops->set_live != NULL;
}

bool reader_has_proc_state(const struct reader *r)
{
	return r->src->ops->proc_state;
}

int reader_describe(struct reader *r, struct sbuf *out)
{
	return r->src->ops->describe ? r->src->ops->describe(r, out) : 0;
}

int reader_suspend(struct reader *r)
{
	return r->src->ops->set_live ? r->src->ops->set_live(r, false) : -EOPNOTSUPP;
}

int reader_resume(struct reader *r)
{
	return r->src->ops->set_live ? r->src->ops->set_live(r, true) : -EOPNOTSUPP;
}

int reader_refresh_all(struct reader *r)
{
	return r->src->ops->refresh ? r->src->ops->refresh(r) : -EOPNOTSUPP;
}

int reader_detach(struct reader *r)
{
	return r->src->ops->detach ? r->src->ops->detach(r) : 0;
}

int reader_refresh_if_changed(struct reader *r)
{
	return r->src->ops->refresh_if_changed ? r->src->ops->refresh_if_changed(r) : 0;
}

/* A source that never runs is always held. */
int reader_hold_suspend(struct reader *r)
{
	return r->src->ops->hold ? r->src->ops->hold(r) : 0;
}

void reader_release_suspend(struct reader *r)
{
	if (r->src->ops->release)
		r->src->ops->release(r);
}

int reader_thread_regset_copy(struct reader *r, pid_t tid, unsigned type,
			      void *buf, size_t cap)
{
	const void *blob;
	size_t len;
	int rc;

	if (r->src->ops->regset_now)
		return r->src->ops->regset_now(r, tid, type, buf, cap);
	rc = reader_thread_regset(r, tid, type, &blob, &len);
	if (rc)
		return rc;
	if (len > cap)
		len = cap;
	memcpy(buf, blob, len);
	return (int)len;
}
