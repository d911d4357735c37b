/*
 * Backtraces with elfutils' libdwfl, unwinding from the registers and
 * memory of our snapshot. libdwfl's own Linux backend would ptrace the
 * threads itself (from whatever thread calls it); our callbacks hand it the
 * registers captured at suspension and read memory the way `mem` does, so
 * unwinding makes no ptrace request at all and runs on any FUSE worker.
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reader/reader_int.h"

#define MAX_FRAMES 256

struct unwind;

/* What set_initial_registers gets: it has no other way back to us. */
struct uthread {
	struct unwind *u;
	struct rthread *t;
};

struct unwind {
	struct reader *r;
	size_t next;		/* next_thread's cursor into r->threads */
	struct uthread *ut;	/* one per r->threads[i] */
};

static void *thread_arg(struct unwind *u, struct rthread *t)
{
	struct uthread *ut = &u->ut[t - u->r->threads];

	ut->u = u;
	ut->t = t;
	return ut;
}

/* Registers captured and standing still: stopped, or frozen by -o snapshot. */
static bool unwindable(struct rthread *t)
{
	int st = atomic_load(&t->state);

	return st == RT_STOPPED || st == RT_FROZEN;
}

static pid_t next_thread_cb(Dwfl *dwfl, void *arg, void **thread_argp)
{
	struct unwind *u = arg;

	(void)dwfl;
	while (u->next < u->r->nthreads) {
		struct rthread *t = &u->r->threads[u->next++];

		if (unwindable(t)) {
			*thread_argp = thread_arg(u, t);
			return t->tid;
		}
	}
	return 0;
}

static bool get_thread_cb(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
	struct unwind *u = arg;
	struct rthread *t = reader_find_thread(u->r, tid);

	(void)dwfl;
	if (!t || !unwindable(t))
		return false;
	*thread_argp = thread_arg(u, t);
	return true;
}

/* Stack words: only from data mappings, so a wild CFA ends the unwind. */
static bool memory_read_cb(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
	struct unwind *u = arg;
	uint64_t v;

	(void)dwfl;
	if (maps_data_span(&u->r->maps, addr, 8) < 8 ||
	    reader_mem_read(u->r, &v, 8, addr) != 8)
		return false;
	*result = v;
	return true;
}

static bool set_initial_registers_cb(Dwfl_Thread *thread, void *arg)
{
	struct uthread *ut = arg;
	struct rthread *t = ut->t;
	const struct arch_desc *a = ut->u->r->arch;
	Dwarf_Word regs[64];
	unsigned char blob[1024];	/* NT_PRSTATUS: 272 bytes at most */
	size_t len = 0;

	/* A copy, under the lock a capture replaces the sets under. */
	pthread_mutex_lock(&t->sets_mu);
	for (size_t k = 0; k < t->nsets; k++)
		if (t->sets[k].type == 1 /* NT_PRSTATUS */) {
			len = t->sets[k].len < sizeof(blob) ? t->sets[k].len : sizeof(blob);
			memcpy(blob, t->sets[k].data, len);
			break;
		}
	pthread_mutex_unlock(&t->sets_mu);
	if (!len || !a || !a->dwarf_regs || a->ndwarf_regs > 64)
		return false;
	for (size_t i = 0; i < a->ndwarf_regs; i++) {
		int idx = arch_reg_index(a, a->dwarf_regs[i]);

		regs[i] = idx < 0 ? 0 : arch_reg_value(a, blob, len, (size_t)idx);
	}
	if (!dwfl_thread_state_registers(thread, 0, (unsigned)a->ndwarf_regs, regs))
		return false;
	/*
	 * The pc explicitly: only on x86 is it a DWARF register; elsewhere
	 * (aarch64, arm's r15 aside, riscv64) the unwinder would otherwise
	 * start from the return-address column, the caller's pc.
	 */
	dwfl_thread_state_register_pc(thread, arch_reg_value(a, blob, len, (size_t)a->pc));
	return true;
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
	.next_thread = next_thread_cb,
	.get_thread = get_thread_cb,
	.memory_read = memory_read_cb,
	.set_initial_registers = set_initial_registers_cb,
};

/*
 * The reader being unwound on this thread, for the file callbacks, which
 * libdwfl gives no argument of ours.
 */
static _Thread_local struct reader *unwinding;

/*
 * libdwfl opens a module's file to read its ELF and CFI. Not one on a FUSE
 * file system the stopped target may serve itself: that open would wait
 * forever. Such a module is unwound without its file (-1: no ELF).
 */
static int find_elf_cb(Dwfl_Module *mod, void **userdata, const char *modname,
		       Dwarf_Addr base, char **file_name, Elf **elfp)
{
	if (unwinding && modname && mem_path_self_served(unwinding, modname))
		return -1;
	return dwfl_linux_proc_find_elf(mod, userdata, modname, base, file_name, elfp);
}

static int find_debuginfo_cb(Dwfl_Module *mod, void **userdata, const char *modname,
			     Dwarf_Addr base, const char *file_name,
			     const char *debuglink_file, GElf_Word debuglink_crc,
			     char **debuginfo_file_name)
{
	if (unwinding && modname && mem_path_self_served(unwinding, modname))
		return -1;
	return dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name,
					    debuglink_file, debuglink_crc, debuginfo_file_name);
}

static char *debuginfo_path;
static const Dwfl_Callbacks proc_callbacks = {
	.find_elf = find_elf_cb,
	.find_debuginfo = find_debuginfo_cb,
	.debuginfo_path = &debuginfo_path,
};

struct frame_out {
	struct sbuf *sb;
	int n;
	int width;		/* hex digits of an address: 8 or 16, as gdb */
};

/* A DIE's name, through DW_AT_abstract_origin for inlined instances. */
static const char *die_name(Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	const char *name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &attr));

	return name;
}

/* The call site of an inlined instance: where its caller's code was. */
static void call_site(Dwarf_Die *cu, Dwarf_Die *inl, const char **file, int *line)
{
	Dwarf_Attribute attr;
	Dwarf_Word n;
	Dwarf_Files *files;

	*file = NULL;
	*line = 0;
	if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_file, &attr), &n) == 0 &&
	    dwarf_getsrcfiles(cu, &files, NULL) == 0)
		*file = dwarf_filesrc(files, n, NULL, NULL);
	if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_line, &attr), &n) == 0)
		*line = (int)n;
}

static void put_frame(struct frame_out *fo, Dwarf_Addr pc, const char *fn,
		      uint64_t off, bool inlined, const char *modname,
		      const char *file, int line)
{
	sbuf_printf(fo->sb, "#%-2d 0x%0*" PRIx64 " %s", fo->n, fo->width, (uint64_t)pc,
		    fn ? fn : "??");
	if (fn && !inlined)
		sbuf_printf(fo->sb, "+0x%" PRIx64, off);
	if (inlined)
		sbuf_puts(fo->sb, " (inlined)");
	if (modname)
		sbuf_printf(fo->sb, " %s", modname);
	if (file)
		sbuf_printf(fo->sb, " at %s:%d", file, line);
	sbuf_puts(fo->sb, "\n");
	fo->n++;
}

/*
 * One physical frame, as gdb shows it: first the functions inlined at pc,
 * innermost first, each at the source line it was executing, then the
 * function they were inlined into. Names come from DWARF when there is
 * debug info (what the source calls them), else from the symbol table.
 * "#N  0xPC function+0xOFF module [at file:line]".
 */
static int frame_cb(Dwfl_Frame *frame, void *arg)
{
	struct frame_out *fo = arg;
	Dwfl *dwfl = dwfl_thread_dwfl(dwfl_frame_thread(frame));
	Dwarf_Addr pc, lookup, bias = 0;
	bool activation;
	Dwfl_Module *mod;
	Dwarf_Die *cu = NULL, *scopes = NULL;
	const char *sym = NULL, *modname = NULL, *file = NULL;
	GElf_Off off = 0;
	GElf_Sym esym;
	int nscopes = 0, line = 0;

	if (!dwfl_frame_pc(frame, &pc, &activation))
		return DWARF_CB_ABORT;
	/* A return address points past the call: look up the call itself. */
	lookup = activation ? pc : pc - 1;
	mod = dwfl_addrmodule(dwfl, lookup);
	if (mod) {
		Dwfl_Line *l;

		/* addrinfo first: it makes libdwfl find the module's file. */
		sym = dwfl_module_addrinfo(mod, lookup, &off, &esym, NULL, NULL, NULL);
		modname = dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
		if (modname && strrchr(modname, '/'))
			modname = strrchr(modname, '/') + 1;
		l = dwfl_module_getsrc(mod, lookup);
		if (l)
			file = dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL);
		cu = dwfl_module_addrdie(mod, lookup, &bias);
		if (cu)
			nscopes = dwarf_getscopes(cu, lookup - bias, &scopes);
	}
	for (int i = 0; i < nscopes; i++) {
		int tag = dwarf_tag(&scopes[i]);

		if (tag == DW_TAG_inlined_subroutine) {
			Dwarf_Die inl = scopes[i], *outer = NULL;
			int nouter;

			put_frame(fo, pc, die_name(&inl), 0, true, modname, file, line);
			/* Its caller was at the call site... */
			call_site(cu, &inl, &file, &line);
			/* ...and its caller's scopes are the concrete ones around
			 * this instance (getscopes would continue in the abstract
			 * definition instead). */
			nouter = dwarf_getscopes_die(&inl, &outer);
			free(scopes);
			scopes = outer;
			nscopes = nouter;
			i = 0;	/* outer[0] is inl itself */
		} else if (tag == DW_TAG_subprogram) {
			const char *name = die_name(&scopes[i]);

			if (name)
				sym = name;
			break;
		}
	}
	free(scopes);
	put_frame(fo, pc, sym, off, false, modname, file, line);
	return fo->n >= MAX_FRAMES ? DWARF_CB_ABORT : DWARF_CB_OK;
}

/*
 * The snapshot's maps as libdwfl reads them: it takes a line for a file
 * mapping only when it has a device or an inode, and groups lines by
 * them, which a core does not record; such lines get an inode per run of
 * one path (libdwfl opens files by path).
 */
static int report_maps(Dwfl *dwfl, const struct maps *m)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	uint64_t fake = 0;
	int rc;

	if (!f)
		return -1;
	for (size_t i = 0; i < m->n; i++) {
		const struct map_entry *e = &m->v[i];
		uint64_t ino = e->inode;

		if (!ino && !e->dev_major && !e->dev_minor && e->path[0] == '/') {
			if (!fake || strcmp(m->v[i - 1].path, e->path) != 0)
				fake++;
			ino = fake;
		}

		fprintf(f, "%" PRIx64 "-%" PRIx64 " %c%c%c%c %08" PRIx64 " %02x:%02x %" PRIu64 " %s\n",
			e->start, e->end, e->perms & PERM_R ? 'r' : '-', e->perms & PERM_W ? 'w' : '-',
			e->perms & PERM_X ? 'x' : '-', e->perms & PERM_SHARED ? 's' : 'p',
			e->offset, e->dev_major, e->dev_minor, ino, e->path);
	}
	if (fclose(f) != 0) {
		free(text);
		return -1;
	}
	f = fmemopen(text, len ? len : 1, "r");
	rc = f ? dwfl_linux_proc_maps_report(dwfl, f) : -1;
	if (f)
		fclose(f);
	free(text);
	return rc;
}

static Dwfl *open_dwfl(struct reader *r, struct unwind *u)
{
	Dwfl *dwfl = dwfl_begin(&proc_callbacks);

	if (!dwfl)
		return NULL;
	/* The snapshot's module list, whatever the source (no /proc read). */
	if (report_maps(dwfl, &r->maps) != 0 ||
	    dwfl_report_end(dwfl, NULL, NULL) != 0 ||
	    !dwfl_attach_state(dwfl, NULL, r->pid, &thread_callbacks, u)) {
		dwfl_end(dwfl);
		return NULL;
	}
	return dwfl;
}

static void thread_stack(const struct reader *r, Dwfl *dwfl, pid_t tid, struct sbuf *sb)
{
	struct frame_out fo = { sb, 0, r->arch && r->arch->elf_class == ELFCLASS32 ? 8 : 16 };

	if (dwfl_getthread_frames(dwfl, tid, frame_cb, &fo) != 0 && fo.n == 0)
		sbuf_printf(sb, "# no frames: %s\n", dwfl_errmsg(-1));
}

/* A Dwfl over r's snapshot for an unwind u (its arrays made here), or NULL. */
static Dwfl *unwind_begin(struct reader *r, struct unwind *u)
{
	Dwfl *dwfl;

	*u = (struct unwind){ r, 0, calloc(r->nthreads ? r->nthreads : 1, sizeof(*u->ut)) };
	if (!u->ut)
		return NULL;
	unwinding = r;
	dwfl = open_dwfl(r, u);
	if (!dwfl) {
		unwinding = NULL;
		free(u->ut);
	}
	return dwfl;
}

static void unwind_end(Dwfl *dwfl, struct unwind *u)
{
	dwfl_end(dwfl);
	unwinding = NULL;
	free(u->ut);
}

/* The process's stack file: every thread's, as eu-stack prints them. */
static int render(struct reader *r, struct sbuf *sb)
{
	struct unwind u;
	Dwfl *dwfl = unwind_begin(r, &u);

	if (!dwfl)
		return -EIO;
	sbuf_printf(sb, "PID %d - process\n", (int)r->pid);
	for (size_t i = 0; i < r->nthreads; i++) {
		if (!unwindable(&r->threads[i]))
			continue;
		sbuf_printf(sb, "TID %d:\n", (int)r->threads[i].tid);
		thread_stack(r, dwfl, r->threads[i].tid, sb);
	}
	unwind_end(dwfl, &u);
	return sb->err;
}

/*
 * One Dwfl for thread tid's stack and every other stopped thread's not
 * made yet: setting it up (every module's symbols and unwind tables) is
 * most of the cost, ~65 ms here against well under a millisecond to
 * unwind one more thread, so a cat of every thread's stack file pays it
 * once, not once a thread. Each goes to its thread's cache.
 */
static int render_threads(struct reader *r, pid_t tid)
{
	struct unwind u;
	Dwfl *dwfl = unwind_begin(r, &u);
	int rc = 0;

	if (!dwfl)
		return -EIO;
	for (size_t i = 0; i < r->nthreads && rc == 0; i++) {
		struct rthread *t = &r->threads[i];
		struct sbuf out = SBUF_INIT;

		if (t->tid != tid && (t->stack || !unwindable(t)))
			continue;
		thread_stack(r, dwfl, t->tid, &out);
		rc = out.err;
		if (rc == 0 && !out.buf)
			rc = sbuf_puts(&out, "");
		if (rc == 0)
			t->stack = sbuf_detach(&out, &t->stack_len);
		sbuf_free(&out);
	}
	unwind_end(dwfl, &u);
	return rc;
}

/*
 * Unwinding reads every module's symbols and debug info: a few hundred
 * milliseconds. The threads do not move while suspended, so each stack is
 * made once and kept (getattr needs it too, for the exact size).
 */
int reader_stack(struct reader *r, pid_t tid, struct sbuf *sb)
{
	struct rthread *t = NULL;
	char **cache = &r->stack;
	size_t *cache_len = &r->stack_len;
	int rc = 0;

	if (reader_gone(r))
		return -EIO;
	if ((rc = regs_owed_pay(r)) != 0)
		return rc;
	if (tid) {
		if (reader_thread_alive(r, tid))
			return -ENOENT;
		t = reader_find_thread(r, tid);
		cache = &t->stack;
		cache_len = &t->stack_len;
	}
	/* One Dwfl at a time: libdwfl is not thread-safe. */
	pthread_mutex_lock(&r->lazy_mu);
	if (!*cache && tid) {
		rc = render_threads(r, tid);
		if (rc == 0 && !*cache)
			rc = -EIO;
	} else if (!*cache) {
		struct sbuf out = SBUF_INIT;

		rc = render(r, &out);
		if (rc == 0 && !out.buf)
			rc = sbuf_puts(&out, "");
		if (rc == 0)
			*cache = sbuf_detach(&out, cache_len);
		sbuf_free(&out);
	}
	if (rc == 0)
		rc = sbuf_append(sb, *cache, *cache_len);
	pthread_mutex_unlock(&r->lazy_mu);
	return rc;
}
