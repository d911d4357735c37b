/*
 * Modules: mapped files grouped by path, and their headers parsed from the
 * target's memory through reader/elfmod.c. Built lazily: a mount that is
 * only copied for `mem` never pays for parsing every library.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "reader/reader_int.h"
#include "reader/state.h"

/* Files and the vDSO are modules; heap, stack and anonymous memory are not. */
static bool is_module_path(const char *path)
{
	return path[0] == '/' || strcmp(path, "[vdso]") == 0;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

#define DELETED " (deleted)"

/*
 * An unlinked file: maps adds " (deleted)" to its path. A file really
 * named so is told apart by being there, the inode that is mapped (not
 * asked of a file the target serves itself: stat(2) would wait on it).
 */
static bool is_deleted(struct reader *r, const struct map_entry *e)
{
	size_t n = strlen(e->path), k = sizeof(DELETED) - 1;
	struct stat st;

	if (n <= k || strcmp(e->path + n - k, DELETED) != 0)
		return false;
	if (mem_path_self_served(r, e->path))
		return true;
	return stat(e->path, &st) != 0 || st.st_ino != e->inode;
}

/* The basename, without " (deleted)" when it was unlinked. */
static void module_base(const struct reader_module *m, char *out, size_t len)
{
	const char *b = base_name(m->path);
	size_t n = strlen(b);

	if (m->deleted)
		n -= sizeof(DELETED) - 1;
	snprintf(out, len, "%.*s", (int)n, b);
}

static int build_modules(struct reader *r)
{
	const struct maps *m = &r->maps;
	struct reader_module *v = calloc(m->n ? m->n : 1, sizeof(*v));
	size_t n = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < m->n; i++) {
		const struct map_entry *e = &m->v[i];
		size_t k;

		if (!is_module_path(e->path))
			continue;
		for (k = 0; k < n; k++)
			if (strcmp(v[k].path, e->path) == 0)
				break;
		if (k == n) {
			v[n].path = e->path;
			v[n].base = e->start;
			v[n].end = e->end;
			v[n].first_map = i;
			v[n].deleted = is_deleted(r, e);
			n++;
		}
		/* maps is sorted: a later mapping only ever raises the end. */
		if (e->end > v[k].end)
			v[k].end = e->end;
		if (e->perms & PERM_X)
			v[k].executable = true;
	}
	for (size_t i = 0; i < n; i++) {
		char b[256], bk[256];
		bool shared = false;

		module_base(&v[i], b, sizeof(b));
		for (size_t k = 0; k < n; k++) {
			module_base(&v[k], bk, sizeof(bk));
			if (k != i && strcmp(bk, b) == 0)
				shared = true;
		}
		if (shared)
			snprintf(v[i].name, sizeof(v[i].name), "%.200s@%" PRIx64, b, v[i].base);
		else
			snprintf(v[i].name, sizeof(v[i].name), "%s", b);
		/* "." and ".." (or an empty name) cannot be directory entries. */
		if (!v[i].name[0] || strcmp(v[i].name, ".") == 0 || strcmp(v[i].name, "..") == 0)
			snprintf(v[i].name, sizeof(v[i].name), "module@%" PRIx64, v[i].base);
	}
	r->mod_infos = calloc(n ? n : 1, sizeof(*r->mod_infos));
	r->mod_parsed = calloc(n ? n : 1, sizeof(*r->mod_parsed));
	if (!r->mod_infos || !r->mod_parsed) {
		free(v);
		free(r->mod_infos);
		free(r->mod_parsed);
		r->mod_infos = NULL;
		r->mod_parsed = NULL;
		return -ENOMEM;
	}
	r->modules = v;
	r->nmodules = n;
	r->modules_built = true;
	return 0;
}

int reader_modules(struct reader *r, const struct reader_module **v, size_t *n)
{
	int rc = 0;

	pthread_mutex_lock(&r->lazy_mu);
	if (!r->modules_built)
		rc = build_modules(r);
	pthread_mutex_unlock(&r->lazy_mu);
	if (rc)
		return rc;
	*v = r->modules;
	*n = r->nmodules;
	return 0;
}

const struct reader_module *reader_module_by_name(struct reader *r, const char *name)
{
	const struct reader_module *v;
	size_t n;

	if (reader_modules(r, &v, &n))
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	return NULL;
}

const struct reader_module *reader_exe_module(struct reader *r)
{
	const struct reader_module *v;
	size_t n;

	if (!r->exe[0] || reader_modules(r, &v, &n))
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].path, r->exe) == 0)
			return &v[i];
	return NULL;
}

struct mod_read_ctx {
	struct reader *r;
	uint64_t base;
};

/* Image offsets are addresses relative to the module's base. */
static ssize_t mod_read(void *p, uint64_t off, void *buf, size_t len)
{
	struct mod_read_ctx *c = p;

	return reader_mem_read(c->r, buf, len, c->base + off);
}

int reader_module_info(struct reader *r, const struct reader_module *m,
		       struct mod_info *out)
{
	size_t i = (size_t)(m - r->modules);
	int rc = 0;

	if (!r->modules_built || i >= r->nmodules)
		return -EINVAL;
	/* Parsing is bounded (elfmod caps its copies); one at a time is fine. */
	pthread_mutex_lock(&r->lazy_mu);
	if (!r->mod_parsed[i]) {
		struct mod_read_ctx c = { r, m->base };

		rc = mod_parse(mod_read, &c, m->end - m->base, &r->mod_infos[i]);
		if (rc == 0)
			r->mod_parsed[i] = true;
	}
	if (rc == 0)
		*out = r->mod_infos[i];
	pthread_mutex_unlock(&r->lazy_mu);
	return rc;
}

int reader_module_file_size(struct reader *r, const struct reader_module *m,
			    uint64_t *size)
{
	/* The mapped file, even deleted (reader/state.c). */
	return reader_module_file(r, m, size);
}
