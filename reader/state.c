/*
 * The rest of the process's state: descriptors, cwd, root, limits,
 * signals, cgroup, namespaces, smaps, personality, module files.
 *
 * Read lazily, not at suspension: a process with 100,000 descriptors
 * would otherwise make every mount pay for 100,000 fdinfo reads. While
 * suspended nothing the target owns can change, so the first read sees
 * what suspension left and is kept (struct state_cache) until the next
 * suspension or refresh drops it (state_free, from free_mm). Only what a
 * running process outside the target shares can move meanwhile: a file
 * position of a description it also holds, a socket's peer.
 *
 * Every path goes through a live thread (mem_pid): a zombie leader has
 * no files, no namespaces and no mm of its own any more.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "reader/reader_int.h"
#include "reader/state.h"

/* A socket inode and where /proc/PID/net/<proto> describes it. */
struct sock_ref {
	uint64_t ino;
	unsigned proto;		/* index into state_net_protos */
	size_t line;		/* offset of its line in that file's text */
};

struct state_cache {
	pthread_mutex_t mu;
	char *text[RS_COUNT];	/* kept answers; NULL: not read yet */
	size_t text_len[RS_COUNT];
	int text_rc[RS_COUNT];
	int *fds;		/* open descriptors, ascending */
	size_t nfds;
	bool fds_read;
	char *net[STATE_NET_PROTOS];	/* /proc/PID/net/<proto> text */
	size_t net_len[STATE_NET_PROTOS];
	struct sock_ref *socks;	/* sorted by inode */
	size_t nsocks;
	bool net_read;
	int *mod_fds;		/* per module: its file, -2 not opened yet */
	size_t nmod_fds;
};

static struct state_cache *cache(struct reader *r)
{
	struct state_cache *c;

	pthread_mutex_lock(&r->lazy_mu);
	c = r->state;
	if (!c && (c = calloc(1, sizeof(*c)))) {
		pthread_mutex_init(&c->mu, NULL);
		r->state = c;
	}
	pthread_mutex_unlock(&r->lazy_mu);
	return c;
}

void state_free(struct reader *r)
{
	struct state_cache *c = r->state;

	if (!c)
		return;
	for (int i = 0; i < RS_COUNT; i++)
		free(c->text[i]);
	for (int i = 0; i < STATE_NET_PROTOS; i++)
		free(c->net[i]);
	for (size_t i = 0; i < c->nmod_fds; i++)
		if (c->mod_fds[i] >= 0)
			close(c->mod_fds[i]);
	free(c->mod_fds);
	free(c->socks);
	free(c->fds);
	pthread_mutex_destroy(&c->mu);
	free(c);
	r->state = NULL;
}

static void task_path(const struct reader *r, char *out, size_t len, const char *what)
{
	/* -o snapshot: mem_pid is the clone; these are the target's. */
	snprintf(out, len, "/proc/%d/task/%d/%s", (int)r->pid, (int)snapshot_proc_tid(r), what);
}

static int read_link(const char *path, struct sbuf *out)
{
	char buf[4096];
	ssize_t n = readlink(path, buf, sizeof(buf));

	if (n < 0)
		return -errno;
	return sbuf_append(out, buf, (size_t)n);
}

static int append_file(const struct reader *r, const char *what, struct sbuf *out)
{
	char path[96], *buf;
	size_t len;
	int rc;

	task_path(r, path, sizeof(path), what);
	rc = proc_read_file(path, &buf, &len, (size_t)1 << 30);
	if (rc)
		return rc;
	rc = sbuf_append(out, buf, len);
	free(buf);
	return rc;
}

/*
 * signals: the process's (status: SigQ, ShdPnd, SigIgn, SigCgt) then one
 * line per thread (task status: SigPnd, SigBlk). A thread that was in a
 * job-control stop when we came says which signal stopped it: in such a
 * stop PTRACE_GETSIGINFO holds only a record the kernel makes up (signal
 * number, our own pid), not the sender's, so that is all there is.
 */
static int render_signals(struct reader *r, struct sbuf *out)
{
	static const char *const keys[][2] = {
		{ "SigQ", "queued" }, { "ShdPnd", "shared_pending" },
		{ "SigIgn", "ignored" }, { "SigCgt", "caught" },
	};
	char path[96], v[64], *buf;
	size_t len, n = reader_threads(r, NULL, 0), got;
	pid_t *tids;
	int rc;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)r->pid);
	if ((rc = proc_read_file(path, &buf, &len, 1 << 20)))
		return rc;
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
		if (state_status_value(buf, len, keys[k][0], v, sizeof(v)))
			sbuf_printf(out, "%s %s\n", keys[k][1], v);
	free(buf);
	tids = calloc(n ? n : 1, sizeof(*tids));
	if (!tids)
		return -ENOMEM;
	got = reader_threads(r, tids, n);
	for (size_t i = 0; i < got && i < n; i++) {
		struct rthread *t = reader_find_thread(r, tids[i]);
		char pnd[64] = "?", blk[64] = "?";

		snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)r->pid, (int)tids[i]);
		if (proc_read_file(path, &buf, &len, 1 << 20) != 0)
			continue;	/* exited since */
		state_status_value(buf, len, "SigPnd", pnd, sizeof(pnd));
		state_status_value(buf, len, "SigBlk", blk, sizeof(blk));
		free(buf);
		sbuf_printf(out, "thread %d pending %s blocked %s", (int)tids[i], pnd, blk);
		if (t && t->group_stop_sig) {
			const char *name = sigabbrev_np(t->group_stop_sig);

			if (name)
				sbuf_printf(out, " stopped_by SIG%s", name);
			else
				sbuf_printf(out, " stopped_by %d", t->group_stop_sig);
		}
		sbuf_puts(out, "\n");
	}
	free(tids);
	return out->err;
}

/* ns: "name target" lines, in the order /proc lists them. */
static int render_ns(struct reader *r, struct sbuf *out)
{
	char path[96], link[320], target[256];
	struct dirent *d;
	DIR *dir;

	task_path(r, path, sizeof(path), "ns");
	if (!(dir = opendir(path)))
		return -errno;
	while ((d = readdir(dir))) {
		ssize_t n;

		if (d->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%.200s", path, d->d_name);
		n = readlink(link, target, sizeof(target));
		if (n <= 0)
			continue;
		sbuf_printf(out, "%s %.*s\n", d->d_name, (int)n, target);
	}
	closedir(dir);
	return out->err;
}

static int render(struct reader *r, enum reader_state_text which, struct sbuf *out)
{
	char path[96];

	switch (which) {
	case RS_LIMITS: return append_file(r, "limits", out);
	case RS_CGROUP: return append_file(r, "cgroup", out);
	case RS_PERSONALITY: return append_file(r, "personality", out);
	case RS_SMAPS: return append_file(r, "smaps", out);
	case RS_SIGNALS: return render_signals(r, out);
	case RS_NS: return render_ns(r, out);
	case RS_CWD:
	case RS_ROOT:
		task_path(r, path, sizeof(path), which == RS_CWD ? "cwd" : "root");
		return read_link(path, out);
	default:
		return -EINVAL;
	}
}

int reader_state_text(struct reader *r, enum reader_state_text which, struct sbuf *out)
{
	struct state_cache *c;
	int rc;

	if ((unsigned)which >= RS_COUNT)
		return -EINVAL;
	if (!reader_has_proc_state(r))
		return -ENODATA;	/* a core: /proc/PID is not its */
	if (reader_is_live(r))
		return render(r, which, out);
	if (!(c = cache(r)))
		return -ENOMEM;
	pthread_mutex_lock(&c->mu);
	if (!c->text[which] && !c->text_rc[which]) {
		struct sbuf sb = SBUF_INIT;

		rc = render(r, which, &sb);
		if (rc == 0) {
			c->text[which] = sbuf_detach(&sb, &c->text_len[which]);
			if (!c->text[which])
				c->text[which] = calloc(1, 1);	/* read, and empty */
		} else if (rc != -ENOMEM) {
			c->text_rc[which] = -ENODATA;	/* /proc refused: so it stays */
		}
		sbuf_free(&sb);
	}
	rc = c->text_rc[which];
	if (rc == 0 && !c->text[which])
		rc = -ENOMEM;
	if (rc == 0)
		rc = sbuf_append(out, c->text[which], c->text_len[which]);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

/* ---- namespaces ---- */

int reader_ns_list(struct reader *r, int (*fill)(void *, const char *), void *cookie)
{
	struct sbuf sb = SBUF_INIT;
	int rc = reader_state_text(r, RS_NS, &sb);

	for (char *p = sb.buf, *e; rc == 0 && p && p < sb.buf + sb.len; p = e + 1) {
		char *sp = memchr(p, ' ', (size_t)(sb.buf + sb.len - p));

		e = memchr(p, '\n', (size_t)(sb.buf + sb.len - p));
		if (!e || !sp || sp > e)
			break;
		*sp = '\0';
		rc = fill(cookie, p);
	}
	sbuf_free(&sb);
	return rc == -ENODATA ? 0 : rc;
}

int reader_ns_link(struct reader *r, const char *name, struct sbuf *out)
{
	struct sbuf sb = SBUF_INIT;
	size_t nlen = strlen(name);
	int rc = reader_state_text(r, RS_NS, &sb);

	if (rc == 0)
		rc = -ENOENT;
	for (char *p = sb.buf, *e; rc == -ENOENT && p && p < sb.buf + sb.len; p = e + 1) {
		e = memchr(p, '\n', (size_t)(sb.buf + sb.len - p));
		if (!e)
			break;
		if ((size_t)(e - p) > nlen && memcmp(p, name, nlen) == 0 && p[nlen] == ' ')
			rc = sbuf_append(out, p + nlen + 1, (size_t)(e - p) - nlen - 1);
	}
	sbuf_free(&sb);
	return rc == -ENODATA ? -ENOENT : rc;
}

/* ---- descriptors ---- */

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* /proc/PID/fd's numbers, ascending: 4 bytes a descriptor. */
static int list_fds(const struct reader *r, int **out, size_t *nout)
{
	char path[96];
	struct dirent *d;
	DIR *dir;
	int *v = NULL;
	size_t n = 0, cap = 0;

	task_path(r, path, sizeof(path), "fd");
	if (!(dir = opendir(path)))
		return -errno;
	while ((d = readdir(dir))) {
		char *end;
		long fd = strtol(d->d_name, &end, 10);

		if (d->d_name[0] < '0' || d->d_name[0] > '9' || *end || fd < 0 || fd > INT32_MAX)
			continue;
		if (n == cap) {
			int *w = realloc(v, (cap = cap ? 2 * cap : 64) * sizeof(*v));

			if (!w) {
				free(v);
				closedir(dir);
				return -ENOMEM;
			}
			v = w;
		}
		v[n++] = (int)fd;
	}
	closedir(dir);
	if (n)
		qsort(v, n, sizeof(*v), cmp_int);
	*out = v;
	*nout = n;
	return 0;
}

int reader_fds(struct reader *r, const int **fds, size_t *n)
{
	struct state_cache *c;
	int *v;
	int rc = 0;

	if (!reader_has_proc_state(r))
		return -ENOENT;
	if (reader_is_live(r)) {
		rc = list_fds(r, &v, n);
		*fds = rc ? NULL : v;
		return rc;
	}
	if (!(c = cache(r)))
		return -ENOMEM;
	pthread_mutex_lock(&c->mu);
	if (!c->fds_read) {
		rc = list_fds(r, &c->fds, &c->nfds);
		c->fds_read = rc == 0;
	}
	*fds = c->fds;
	*n = c->nfds;
	pthread_mutex_unlock(&c->mu);
	return rc;
}

void reader_fds_put(struct reader *r, const int *fds)
{
	struct state_cache *c = r->state;

	if (!c || fds != c->fds)
		free((void *)fds);
}

int reader_fd_exists(struct reader *r, int fd)
{
	const int *v;
	size_t n;
	int rc;

	if (fd < 0 || !reader_has_proc_state(r))
		return -ENOENT;
	if (reader_is_live(r)) {
		char path[96], name[16];

		snprintf(name, sizeof(name), "fd/%d", fd);
		task_path(r, path, sizeof(path), name);
		return access(path, F_OK) == 0 || errno != ENOENT ? 0 : -ENOENT;
	}
	if ((rc = reader_fds(r, &v, &n)))
		return rc;
	rc = n && bsearch(&fd, v, n, sizeof(*v), cmp_int) ? 0 : -ENOENT;
	reader_fds_put(r, v);
	return rc;
}

static int cmp_sock(const void *a, const void *b)
{
	const struct sock_ref *x = a, *y = b;

	return (x->ino > y->ino) - (x->ino < y->ino);
}

/* Suspended: the target's net namespace's sockets, indexed by inode once. */
static void index_net(struct reader *r, struct state_cache *c)
{
	size_t cap = 0, kept = 0;

	c->net_read = true;
	for (unsigned pi = 0; pi < STATE_NET_PROTOS; pi++) {
		char what[16], path[96];
		const char *p, *nl, *end;

		snprintf(what, sizeof(what), "net/%s", state_net_protos[pi]);
		task_path(r, path, sizeof(path), what);
		if (proc_read_file(path, &c->net[pi], &c->net_len[pi], (size_t)1 << 30))
			continue;
		end = c->net[pi] + c->net_len[pi];
		nl = memchr(c->net[pi], '\n', c->net_len[pi]);
		for (p = nl ? nl + 1 : end; p < end; p = nl ? nl + 1 : end) {
			uint64_t ino;

			nl = memchr(p, '\n', (size_t)(end - p));
			if (!(ino = state_net_line_inode(pi, p, nl ? nl : end)))
				continue;	/* time-wait, or not yet bound to a socket */
			if (c->nsocks == cap) {
				struct sock_ref *v = realloc(c->socks, (cap = cap ? 2 * cap : 256) *
							     sizeof(*v));

				if (!v)
					goto sort;	/* what was indexed, at least */
				c->socks = v;
			}
			c->socks[c->nsocks++] = (struct sock_ref){ ino, pi, (size_t)(p - c->net[pi]) };
		}
	}
sort:
	if (c->nsocks)
		qsort(c->socks, c->nsocks, sizeof(*c->socks), cmp_sock);
	/* An inode on two lines is ambiguous (state_net_lookup): neither counts. */
	for (size_t i = 0, j; i < c->nsocks; i = j) {
		for (j = i + 1; j < c->nsocks && c->socks[j].ino == c->socks[i].ino; j++)
			;
		if (j - i == 1)
			c->socks[kept++] = c->socks[i];
	}
	c->nsocks = kept;
}

static int socket_details(struct reader *r, uint64_t ino, const char *fdpath,
			  struct sbuf *out)
{
	struct state_cache *c;
	int found = 0;

	if (reader_is_live(r)) {
		/* Every table: an inode that two of them claim is ambiguous too. */
		struct sbuf one = SBUF_INIT;
		int hits = 0;

		for (unsigned pi = 0; pi < STATE_NET_PROTOS && found >= 0; pi++) {
			char what[16], path[96], *text;
			size_t len;

			snprintf(what, sizeof(what), "net/%s", state_net_protos[pi]);
			task_path(r, path, sizeof(path), what);
			if (proc_read_file(path, &text, &len, (size_t)1 << 30))
				continue;
			found = state_net_lookup(state_net_protos[pi], text, len, ino, &one);
			hits += found > 0;
			free(text);
		}
		if (found >= 0)
			found = hits == 1 ? (sbuf_append(out, one.buf, one.len) ? -ENOMEM : 1) : 0;
		sbuf_free(&one);
	} else if ((c = cache(r))) {
		struct sock_ref key = { .ino = ino }, *s;

		pthread_mutex_lock(&c->mu);
		if (!c->net_read)
			index_net(r, c);
		s = c->nsocks ? bsearch(&key, c->socks, c->nsocks, sizeof(key), cmp_sock) : NULL;
		if (s) {
			const char *line = c->net[s->proto] + s->line;
			const char *nl = memchr(line, '\n', c->net_len[s->proto] - s->line);

			found = state_net_format_line(s->proto, line, nl ? nl : c->net[s->proto] +
						      c->net_len[s->proto], out) ? -ENOMEM : 1;
		}
		pthread_mutex_unlock(&c->mu);
	}
	if (found == 0) {
		/* Not inet nor unix (netlink, packet...): sockfs names it. */
		char name[64];
		ssize_t n = getxattr(fdpath, "system.sockprotoname", name, sizeof(name) - 1);

		if (n > 0) {
			name[n] = '\0';
			for (char *q = name; *q; q++)
				*q = (char)(*q >= 'A' && *q <= 'Z' ? *q - 'A' + 'a' : *q);
			sbuf_printf(out, "protocol %s\n", name);
		}
	}
	return found < 0 ? found : out->err;
}

int reader_fd_show(struct reader *r, int fd, struct sbuf *out)
{
	char name[32], path[96], link[4096], *info;
	size_t len;
	ssize_t n;
	unsigned long long ino;
	int rc;

	if ((rc = reader_fd_exists(r, fd)))
		return rc;
	sbuf_printf(out, "fd %d\n", fd);
	snprintf(name, sizeof(name), "fd/%d", fd);
	task_path(r, path, sizeof(path), name);
	n = readlink(path, link, sizeof(link) - 1);
	if (n >= 0) {
		link[n] = '\0';
		sbuf_printf(out, "target %s\n", link);
	}
	snprintf(name, sizeof(name), "fdinfo/%d", fd);
	task_path(r, path, sizeof(path), name);
	/* Closed since we listed it (a live target, or a sharer of its table). */
	if (!fault_hit("fdinfo") && proc_read_file(path, &info, &len, 16 << 20) == 0) {
		state_fdinfo_normalize(info, len, out);
		free(info);
	}
	if (n >= 0 && sscanf(link, "socket:[%llu]", &ino) == 1) {
		snprintf(name, sizeof(name), "fd/%d", fd);
		task_path(r, path, sizeof(path), name);
		if ((rc = socket_details(r, ino, path, out)))
			return rc;
	}
	return out->err;
}

/* ---- the file behind a module ---- */

/*
 * Opened once per snapshot: through map_files (a deleted file, a file
 * replaced on disk), else by path; either way only if it is the inode
 * that is mapped. Never for a file the target itself serves over FUSE:
 * even open(2) would wait on the stopped server.
 */
static int module_fd(struct reader *r, const struct reader_module *m)
{
	const struct reader_module *v;
	const struct map_entry *e;
	struct state_cache *c;
	size_t nmod, idx;
	char path[128];
	struct stat st;
	int fd;

	if (!reader_has_proc_state(r))
		return -ENOENT;	/* a core's files are not opened (yet) */
	if (m->path[0] != '/' || reader_modules(r, &v, &nmod) || m < v || m >= v + nmod)
		return -ENOENT;
	if (mem_path_self_served(r, m->path))
		return -EIO;
	if (!(c = cache(r)))
		return -ENOMEM;
	idx = (size_t)(m - v);
	pthread_mutex_lock(&c->mu);
	if (!c->mod_fds && (c->mod_fds = malloc(nmod * sizeof(int)))) {
		c->nmod_fds = nmod;
		for (size_t i = 0; i < nmod; i++)
			c->mod_fds[i] = -2;
	}
	fd = c->mod_fds && idx < c->nmod_fds ? c->mod_fds[idx] : -ENOMEM;
	if (fd == -2) {
		e = &r->maps.v[m->first_map];
		snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64,
			 (int)r->mem_pid, e->start, e->end);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 && !m->deleted)
			fd = open(m->path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0 && (fstat(fd, &st) != 0 || st.st_ino != e->inode ||
				!S_ISREG(st.st_mode))) {
			close(fd);
			fd = -1;
		}
		c->mod_fds[idx] = fd < 0 ? -ENOENT : fd;
		fd = c->mod_fds[idx];
	}
	pthread_mutex_unlock(&c->mu);
	return fd;
}

int reader_module_file(struct reader *r, const struct reader_module *m, uint64_t *size)
{
	struct stat st;
	int fd = module_fd(r, m);

	if (fd < 0)
		return fd;
	if (fstat(fd, &st) != 0)
		return -errno;
	*size = (uint64_t)st.st_size;
	return 0;
}

ssize_t reader_module_file_read(struct reader *r, const struct reader_module *m,
				void *buf, size_t len, uint64_t off)
{
	int fd = module_fd(r, m);
	size_t done = 0;

	if (fd < 0)
		return fd == -ENOENT ? -EIO : fd;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return done ? (ssize_t)done : -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}
