/*
 * A reader over a source that lives outside reader/ (the unit tests'
 * canned process): the snapshot comes in as data (source.h, struct
 * source_snapshot) and is copied into the reader, so such a source never
 * sees struct reader's fields. The two sources in reader/ fill it
 * themselves, as they read it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reader/reader_int.h"
#include "reader/source.h"

static int copy_threads(struct reader *r, const struct source_snapshot *s)
{
	size_t n = s->nthreads;

	r->threads = calloc(n ? n : 1, sizeof(*r->threads));
	if (!r->threads)
		return -ENOMEM;
	r->threads_cap = n ? n : 1;
	for (size_t i = 0; i < n; i++) {
		const struct source_thread *st = &s->threads[i];
		struct rthread *t = &r->threads[i];

		if (st->nsets > ARCH_MAX_REGSETS)
			return -EINVAL;
		t->tid = st->info.tid;
		atomic_init(&t->state, RT_STOPPED);
		t->state_before = st->info.state;
		pthread_mutex_init(&t->sets_mu, NULL);
		atomic_store(&r->nthreads, i + 1);	/* free_snapshot frees what is counted */
		for (size_t k = 0; k < st->nsets; k++) {
			size_t len = st->sets[k].len;

			t->sets[k].data = malloc(len ? len : 1);
			if (!t->sets[k].data)
				return -ENOMEM;
			memcpy(t->sets[k].data, st->sets[k].data, len);
			t->sets[k] = (struct regset){ st->sets[k].type, len, t->sets[k].data };
			t->nsets = k + 1;
		}
		t->info = st->info;
		t->info.main = t->tid == r->pid;
	}
	atomic_init(&r->nalive, (int)n);
	return 0;
}

static int copy_mm(struct reader *r, const struct source_snapshot *s)
{
	int rc;

	r->maps_text = malloc(s->maps_len + 1);
	if (!r->maps_text)
		return -ENOMEM;
	memcpy(r->maps_text, s->maps_text, s->maps_len);
	r->maps_text[s->maps_len] = '\0';
	r->maps_len = s->maps_len;
	rc = maps_parse(r->maps_text, r->maps_len, &r->maps);
	if (rc)
		return rc;
	r->mem_data_bytes = maps_data_bytes(&r->maps, &r->mem_size);
	for (int f = 0; f < RB_COUNT; f++) {
		if (!s->files[f].data)
			continue;
		r->files[f] = malloc(s->files[f].len + 1);
		if (!r->files[f])
			return -ENOMEM;
		memcpy(r->files[f], s->files[f].data, s->files[f].len);
		r->files[f][s->files[f].len] = '\0';
		r->files_len[f] = s->files[f].len;
	}
	return 0;
}

int reader_open_source(struct source *src, const struct source_snapshot *s,
		       const struct reader_opts *opts, struct reader **out)
{
	struct reader *r = calloc(1, sizeof(*r));
	int rc;

	if (!r)
		return -ENOMEM;
	r->src = src;
	if (opts)
		r->opts = *opts;
	r->mem_fd = r->pagemap_fd = -1;
	pthread_mutex_init(&r->lazy_mu, NULL);
	pthread_mutex_init(&r->mode_mu, NULL);
	pthread_mutex_init(&r->regs_mu, NULL);
	pthread_rwlock_init(&r->snap_lock, NULL);
	atomic_init(&r->mode, MODE_SUSPENDED);
	r->pid = s->pid;
	r->arch = s->arch;
	snprintf(r->comm, sizeof(r->comm), "%s", s->comm ? s->comm : "?");
	snprintf(r->exe, sizeof(r->exe), "%s", s->exe ? s->exe : "");
	rc = copy_threads(r, s);
	if (rc == 0)
		rc = copy_mm(r, s);
	if (rc) {
		free_snapshot(r);	/* not the source: it stays the caller's */
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}

const struct source *reader_source(const struct reader *r)
{
	return r->src;
}

void reader_thread_exited(struct reader *r, pid_t tid)
{
	struct rthread *t = reader_find_thread(r, tid);

	if (t && atomic_exchange(&t->state, RT_DEAD) != RT_DEAD)
		atomic_fetch_sub(&r->nalive, 1);
}
