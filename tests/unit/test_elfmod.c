/*
 * reader/elfmod: module headers parsed from bytes as a loader laid them out.
 *
 * Real modules come two ways: straight from this process's memory (libc and
 * the test executable, read with process_vm_readv as the reader would) and
 * from files laid out by PT_LOAD the way the kernel maps them. Their build
 * ids are checked against eu-readelf (or binutils readelf), image sizes
 * against dl_iterate_phdr. Synthetic images cover ELFCLASS32, big-endian
 * and 8-byte-aligned notes; hostile variants are patched copies of a real
 * header, and each must come back corrupt, never crash, and read a bounded
 * number of bytes.
 */
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "reader/elfmod.h"

/* Whatever a hostile header says, a parse reads about this much at most. */
#define READ_BOUND (3u << 20)

/* ---- read callbacks ---------------------------------------------------- */

/* A byte buffer as the image; past its end reads zeros, as a hole. */
struct buf_src {
	const unsigned char *p;
	size_t len;
	uint64_t requested;	/* bytes asked for, to check memory bounds */
};

static ssize_t buf_read(void *ctx, uint64_t off, void *buf, size_t len)
{
	struct buf_src *b = ctx;

	b->requested += len;
	memset(buf, 0, len);
	if (off < b->len)
		memcpy(buf, b->p + off, b->len - off < len ? b->len - off : len);
	return (ssize_t)len;
}

static int parse_buf(const void *p, size_t len, uint64_t mapped_len,
		     struct mod_info *mi)
{
	struct buf_src b = { p, len, 0 };
	int rc = mod_parse(buf_read, &b, mapped_len, mi);

	assert_true(b.requested <= READ_BOUND);
	return rc;
}

/* One module of this process, as /proc/self/maps groups it by path. */
struct self_mod {
	char path[PATH_MAX];
	uint64_t base, end;
	struct {
		uint64_t start, end;
		bool readable;
	} map[64];
	int n;
};

/* Finds the mappings whose path is want, or ends in "/" want. */
static int self_mod_find(const char *want, struct self_mod *m)
{
	char line[PATH_MAX + 128];
	FILE *f = fopen("/proc/self/maps", "r");
	size_t wl = strlen(want);

	memset(m, 0, sizeof(*m));
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long s, e;
		char perms[5], path[PATH_MAX];
		size_t pl;

		path[0] = '\0';
		if (sscanf(line, "%llx-%llx %4s %*s %*s %*s %4095[^\n]", &s, &e,
			   perms, path) < 3)
			continue;
		pl = strlen(path);
		if (strcmp(path, want) &&
		    (pl <= wl || path[pl - wl - 1] != '/' ||
		     strcmp(path + pl - wl, want)))
			continue;
		if (m->n == 0) {
			snprintf(m->path, sizeof(m->path), "%s", path);
			m->base = s;
		} else if (strcmp(m->path, path)) {
			continue;
		}
		if (m->n == 64)
			break;
		m->map[m->n].start = s;
		m->map[m->n].end = e;
		m->map[m->n].readable = perms[0] == 'r';
		m->n++;
		if (e > m->end)
			m->end = e;
	}
	fclose(f);
	return m->n ? 0 : -1;
}

/*
 * Reads our own memory with process_vm_readv, as the reader reads a
 * target's: an ASan build poisons redzones between globals, which a plain
 * memcpy of the data segment would trip over.
 */
static ssize_t self_read(void *ctx, uint64_t off, void *buf, size_t len)
{
	const struct self_mod *m = ctx;
	uint64_t a = m->base + off, z = a + len;

	memset(buf, 0, len);
	for (int i = 0; i < m->n; i++) {
		uint64_t s = m->map[i].start > a ? m->map[i].start : a;
		uint64_t e = m->map[i].end < z ? m->map[i].end : z;
		struct iovec local, remote;

		if (!m->map[i].readable || s >= e)
			continue;
		local.iov_base = (char *)buf + (s - a);
		local.iov_len = e - s;
		remote.iov_base = (void *)(uintptr_t)s;
		remote.iov_len = e - s;
		if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) !=
		    (ssize_t)(e - s))
			return -EIO;
	}
	return (ssize_t)len;
}

/*
 * A file laid out the way binfmt_elf and ld.so map it: each PT_LOAD's file
 * pages at its page-aligned p_vaddr, the rest zeros. The headers are read
 * with libelf from the (trusted) file, independently of the parser.
 */
static unsigned char *file_layout(const char *path, size_t *len)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	unsigned char *img = NULL, *file = NULL;
	size_t n, flen;
	GElf_Phdr ph;
	Elf *e;
	FILE *f;
	int fd;

	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	f = fdopen(dup(fd), "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	flen = (size_t)ftell(f);
	rewind(f);
	file = malloc(flen);
	assert_non_null(file);
	assert_int_equal(fread(file, 1, flen, f), flen);
	fclose(f);

	elf_version(EV_CURRENT);
	e = elf_begin(fd, ELF_C_READ, NULL);
	assert_non_null(e);
	assert_int_equal(elf_getphdrnum(e, &n), 0);
	for (size_t i = 0; i < n; i++) {
		assert_non_null(gelf_getphdr(e, (int)i, &ph));
		if (ph.p_type != PT_LOAD)
			continue;
		if ((ph.p_vaddr & ~0xfffull) < lo)
			lo = ph.p_vaddr & ~0xfffull;
		if (((ph.p_vaddr + ph.p_memsz + 0xfff) & ~0xfffull) > hi)
			hi = (ph.p_vaddr + ph.p_memsz + 0xfff) & ~0xfffull;
	}
	assert_true(lo < hi);
	*len = hi - lo;
	img = calloc(1, *len);
	assert_non_null(img);
	for (size_t i = 0; i < n; i++) {
		uint64_t pv, po, sz;

		assert_non_null(gelf_getphdr(e, (int)i, &ph));
		if (ph.p_type != PT_LOAD)
			continue;
		pv = ph.p_vaddr & ~0xfffull;
		po = ph.p_offset & ~0xfffull;
		sz = ph.p_offset + ph.p_filesz - po;
		assert_true(po + sz <= flen);
		memcpy(img + (pv - lo), file + po, sz);
	}
	elf_end(e);
	close(fd);
	free(file);
	return img;
}

/* The first "Build ID: " that eu-readelf (or readelf) prints; "" if none. */
static int readelf_build_id(const char *path, char hex[128])
{
	static const char *const tools[] = { "eu-readelf", "readelf" };

	for (size_t t = 0; t < 2; t++) {
		char cmd[PATH_MAX + 64], line[512];
		bool ran = false;
		FILE *p;

		snprintf(cmd, sizeof(cmd), "%s -n '%s' 2>/dev/null", tools[t], path);
		p = popen(cmd, "r");
		if (!p)
			continue;
		hex[0] = '\0';
		while (fgets(line, sizeof(line), p)) {
			char *b = strstr(line, "Build ID: ");

			ran = true;
			if (b && !hex[0])
				sscanf(b + 10, "%127[0-9a-f]", hex);
		}
		if (pclose(p) == 0 && ran)
			return 0;
	}
	return -1;
}

/* ---- real modules ------------------------------------------------------ */

static void check_against_readelf(const char *path, const struct mod_info *mi)
{
	char want[128], got[2 * MOD_BUILD_ID_MAX + 1] = "";

	if (readelf_build_id(path, want))
		skip();
	mod_build_id_hex(mi, got, sizeof(got));
	assert_string_equal(got, want);
}

/* The host's e_machine, to check the parser read the real one. */
static uint16_t host_machine(void)
{
#if defined(__x86_64__)
	return EM_X86_64;
#elif defined(__aarch64__)
	return EM_AARCH64;
#elif defined(__i386__)
	return EM_386;
#else
	return EM_NONE;
#endif
}

static void parse_self(const char *want, struct self_mod *m, struct mod_info *mi)
{
	assert_int_equal(self_mod_find(want, m), 0);
	assert_int_equal(mod_parse(self_read, m, m->end - m->base, mi), 0);
	assert_int_equal(mi->type, MOD_ELF);
	assert_false(mi->corrupt);
	assert_null(mi->why);
	if (host_machine() != EM_NONE)
		assert_int_equal(mi->elf_machine, host_machine());
}

static void test_elfmod_libc_in_memory_matches_readelf(void **state)
{
	struct self_mod m;
	struct mod_info mi;

	(void)state;
	parse_self("libc.so.6", &m, &mi);
	assert_int_equal(mi.elf_type, ET_DYN);
	assert_int_equal(mi.elf_class, sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32);
	assert_true(mi.build_id_len > 0);
	check_against_readelf(m.path, &mi);
}

static void test_elfmod_exe_in_memory_matches_readelf(void **state)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	struct self_mod m;
	struct mod_info mi;

	(void)state;
	assert_true(n > 0);
	exe[n] = '\0';
	parse_self(exe, &m, &mi);
	check_against_readelf(m.path, &mi);
}

struct phdr_want {
	const char *name;	/* dlpi_name suffix; "" for the executable */
	uint64_t addr, size;
	bool found;
};

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct phdr_want *w = data;
	size_t nl = strlen(info->dlpi_name), wl = strlen(w->name);
	uint64_t lo = UINT64_MAX, hi = 0;

	(void)size;
	if (w->found || nl < wl || strcmp(info->dlpi_name + nl - wl, w->name) ||
	    (wl == 0 && nl != 0))
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *p = &info->dlpi_phdr[i];

		if (p->p_type != PT_LOAD)
			continue;
		if ((p->p_vaddr & ~(uint64_t)0xfff) < lo)
			lo = p->p_vaddr & ~(uint64_t)0xfff;
		if (p->p_vaddr + p->p_memsz > hi)
			hi = p->p_vaddr + p->p_memsz;
	}
	w->addr = info->dlpi_addr + lo;
	w->size = hi - lo;
	w->found = true;
	return 1;
}

/* The loader's own view: base = bias + first page, size = highest end. */
static void test_elfmod_image_size_matches_dl_iterate_phdr(void **state)
{
	struct phdr_want w = { "/libc.so.6", 0, 0, false };
	struct self_mod m;
	struct mod_info mi;

	(void)state;
	parse_self("libc.so.6", &m, &mi);
	dl_iterate_phdr(phdr_cb, &w);
	assert_true(w.found);
	assert_int_equal(w.addr, m.base);
	assert_int_equal(mi.image_size, w.size);

	w = (struct phdr_want){ "", 0, 0, false };
	dl_iterate_phdr(phdr_cb, &w);
	assert_true(w.found);
	{
		char exe[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

		assert_true(n > 0);
		exe[n] = '\0';
		parse_self(exe, &m, &mi);
	}
	assert_int_equal(w.addr, m.base);
	assert_int_equal(mi.image_size, w.size);
}

/* The file laid out by hand parses as the loader's mapping does. */
static void test_elfmod_file_layout_matches_memory(void **state)
{
	struct mod_info mem, file;
	struct self_mod m;
	unsigned char *img;
	size_t len;

	(void)state;
	parse_self("libc.so.6", &m, &mem);
	img = file_layout(m.path, &len);
	assert_int_equal(parse_buf(img, len, len, &file), 0);
	assert_false(file.corrupt);
	assert_int_equal(file.build_id_len, mem.build_id_len);
	assert_memory_equal(file.build_id, mem.build_id, mem.build_id_len);
	assert_int_equal(file.image_size, mem.image_size);
	assert_string_equal(file.version, mem.version);
	free(img);
}

static void test_elfmod_bin_true_file_matches_readelf(void **state)
{
	const char *path = access("/usr/bin/true", R_OK) == 0 ? "/usr/bin/true" : "/bin/true";
	struct mod_info mi;
	unsigned char *img;
	size_t len;

	(void)state;
	if (access(path, R_OK))
		skip();
	img = file_layout(path, &len);
	assert_int_equal(parse_buf(img, len, len, &mi), 0);
	assert_int_equal(mi.type, MOD_ELF);
	assert_false(mi.corrupt);
	free(img);
	check_against_readelf(path, &mi);
}

/* ---- synthetic images: other classes and byte orders ------------------- */

#define SYN_LEN 0x30000

struct synth {
	unsigned char *img;
	bool is64, msb;
	size_t nph;
};

static void put(unsigned char *p, size_t n, bool msb, uint64_t v)
{
	for (size_t i = 0; i < n; i++)
		p[msb ? n - 1 - i : i] = (unsigned char)(v >> (8 * i));
}

#define EH(s, f) ((s)->is64 ? offsetof(Elf64_Ehdr, f) : offsetof(Elf32_Ehdr, f))
#define PH(s, f) ((s)->is64 ? offsetof(Elf64_Phdr, f) : offsetof(Elf32_Phdr, f))
#define PUT_EH(s, f, v) put((s)->img + EH(s, f), sizeof(((Elf64_Ehdr *)0)->f) == 8 && !(s)->is64 ? 4 : sizeof(((Elf64_Ehdr *)0)->f), (s)->msb, v)

static size_t syn_ehsize(const struct synth *s)
{
	return s->is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
}

static size_t syn_phentsize(const struct synth *s)
{
	return s->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
}

static void syn_init(struct synth *s, bool is64, bool msb, uint16_t type,
		     uint16_t machine)
{
	s->img = calloc(1, SYN_LEN);
	assert_non_null(s->img);
	s->is64 = is64;
	s->msb = msb;
	s->nph = 0;
	memcpy(s->img, ELFMAG, SELFMAG);
	s->img[EI_CLASS] = is64 ? ELFCLASS64 : ELFCLASS32;
	s->img[EI_DATA] = msb ? ELFDATA2MSB : ELFDATA2LSB;
	s->img[EI_VERSION] = EV_CURRENT;
	PUT_EH(s, e_type, type);
	PUT_EH(s, e_machine, machine);
	PUT_EH(s, e_version, EV_CURRENT);
	PUT_EH(s, e_phoff, syn_ehsize(s));
	PUT_EH(s, e_ehsize, syn_ehsize(s));
	PUT_EH(s, e_phentsize, syn_phentsize(s));
}

static void syn_phdr(struct synth *s, uint32_t type, uint32_t flags, uint64_t off,
		     uint64_t vaddr, uint64_t filesz, uint64_t memsz, uint64_t align)
{
	unsigned char *p = s->img + syn_ehsize(s) + s->nph * syn_phentsize(s);
	size_t w = s->is64 ? 8 : 4;

	put(p + PH(s, p_type), 4, s->msb, type);
	put(p + PH(s, p_flags), 4, s->msb, flags);
	put(p + PH(s, p_offset), w, s->msb, off);
	put(p + PH(s, p_vaddr), w, s->msb, vaddr);
	put(p + PH(s, p_paddr), w, s->msb, vaddr);
	put(p + PH(s, p_filesz), w, s->msb, filesz);
	put(p + PH(s, p_memsz), w, s->msb, memsz);
	put(p + PH(s, p_align), w, s->msb, align);
	s->nph++;
	PUT_EH(s, e_phnum, s->nph);
}

/* Writes a note at image offset at; returns its padded length. */
static size_t syn_note(struct synth *s, size_t at, uint32_t type, const char *name,
		       const void *desc, uint32_t descsz, size_t align)
{
	size_t nl = strlen(name) + 1, pos = at + 12;

	put(s->img + at, 4, s->msb, nl);
	put(s->img + at + 4, 4, s->msb, descsz);
	put(s->img + at + 8, 4, s->msb, type);
	memcpy(s->img + pos, name, nl);
	pos = at + ((12 + nl + align - 1) & ~(align - 1));
	memcpy(s->img + pos, desc, descsz);
	pos += descsz;
	return ((pos - at) + align - 1) & ~(align - 1);
}

static const unsigned char some_id[20] = {
	0xde, 0xad, 0xbe, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
	0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
};

/*
 * Text R-X at [0, 0x2000) holding the headers and a build-id note at
 * 0x400; data RW- at [0x10000, 0x21000) file-backed, .bss to 0x22000.
 * Image offsets equal file offsets; link is the link-time base.
 */
static void syn_module(struct synth *s, bool is64, bool msb, uint16_t type,
		       uint64_t link)
{
	size_t nl;

	syn_init(s, is64, msb, type, is64 ? EM_AARCH64 : EM_386);
	syn_phdr(s, PT_LOAD, PF_R | PF_X, 0, link, 0x2000, 0x2000, 0x1000);
	syn_phdr(s, PT_LOAD, PF_R | PF_W, 0x10000, link + 0x10000, 0x11000,
		 0x12000, 0x1000);
	nl = syn_note(s, 0x400, NT_GNU_BUILD_ID, "GNU", some_id, sizeof(some_id), 4);
	syn_phdr(s, PT_NOTE, PF_R, 0x400, link + 0x400, nl, nl, 4);
}

static void check_synthetic(bool is64, bool msb, uint16_t type, uint64_t link)
{
	static const char ver[] = "9.8.7 @Commit: 0123abcd";
	struct synth s;
	struct mod_info mi;
	char hex[41];

	syn_module(&s, is64, msb, type, link);
	memcpy(s.img + 0x18000, "@(#)Version ", 12);
	memcpy(s.img + 0x18000 + 12, ver, sizeof(ver));
	assert_int_equal(parse_buf(s.img, SYN_LEN, SYN_LEN, &mi), 0);
	assert_int_equal(mi.type, MOD_ELF);
	assert_false(mi.corrupt);
	assert_int_equal(mi.elf_class, is64 ? ELFCLASS64 : ELFCLASS32);
	assert_int_equal(mi.elf_data, msb ? ELFDATA2MSB : ELFDATA2LSB);
	assert_int_equal(mi.elf_type, type);
	assert_int_equal(mi.elf_machine, is64 ? EM_AARCH64 : EM_386);
	assert_int_equal(mi.image_size, 0x22000);
	assert_int_equal(mod_build_id_hex(&mi, hex, sizeof(hex)), 40);
	assert_string_equal(hex, "deadbeef0123456789abcdeffedcba9876543210");
	assert_string_equal(mi.version, ver);
	free(s.img);
}

static void test_elfmod_elf32_msb_exec_parses(void **state)
{
	(void)state;
	check_synthetic(false, true, ET_EXEC, 0x8048000);
}

static void test_elfmod_elf32_lsb_dyn_parses(void **state)
{
	(void)state;
	check_synthetic(false, false, ET_DYN, 0);
}

static void test_elfmod_elf64_msb_dyn_parses(void **state)
{
	(void)state;
	check_synthetic(true, true, ET_DYN, 0);
}

static void test_elfmod_elf64_lsb_exec_parses(void **state)
{
	(void)state;
	check_synthetic(true, false, ET_EXEC, 0x400000);
}

/* A PT_NOTE with p_align 8 (GNU properties) before the build id. */
static void test_elfmod_note_align8_then_build_id(void **state)
{
	static const unsigned char prop[16] = { 2, 0, 0, 0xc0, 4, 0, 0, 0, 3 };
	struct synth s;
	struct mod_info mi;
	size_t nl;

	(void)state;
	syn_init(&s, true, false, ET_DYN, EM_X86_64);
	syn_phdr(&s, PT_LOAD, PF_R, 0, 0, 0x2000, 0x2000, 0x1000);
	nl = syn_note(&s, 0x300, NT_GNU_PROPERTY_TYPE_0, "GNU", prop, sizeof(prop), 8);
	syn_phdr(&s, PT_NOTE, PF_R, 0x300, 0x300, nl, nl, 8);
	nl = syn_note(&s, 0x400, NT_GNU_BUILD_ID, "GNU", some_id, 16, 4);
	syn_phdr(&s, PT_NOTE, PF_R, 0x400, 0x400, nl, nl, 4);
	assert_int_equal(parse_buf(s.img, 0x2000, 0x2000, &mi), 0);
	assert_false(mi.corrupt);
	assert_int_equal(mi.build_id_len, 16);
	assert_memory_equal(mi.build_id, some_id, 16);
	assert_string_equal(mi.version, "");
	free(s.img);
}

/* The marker straddles the parser's 64 KiB read chunks. */
static void test_elfmod_version_across_chunk_edge(void **state)
{
	struct synth s;
	struct mod_info mi;

	(void)state;
	syn_module(&s, true, false, ET_DYN, 0);
	memcpy(s.img + 0x10000 + 0x10000 - 5, "@(#)Version 1.2.3", 18);
	assert_int_equal(parse_buf(s.img, SYN_LEN, SYN_LEN, &mi), 0);
	assert_false(mi.corrupt);
	assert_string_equal(mi.version, "1.2.3");
	free(s.img);
}

/* 300 printable bytes with no NUL: 256 kept; a control byte ends it. */
static void test_elfmod_version_capped_and_printable(void **state)
{
	struct synth s;
	struct mod_info mi;

	(void)state;
	syn_module(&s, true, false, ET_DYN, 0);
	memcpy(s.img + 0x12000, "@(#)Version ", 12);
	memset(s.img + 0x12000 + 12, 'v', 300);
	assert_int_equal(parse_buf(s.img, SYN_LEN, SYN_LEN, &mi), 0);
	assert_int_equal(strlen(mi.version), MOD_VERSION_MAX);
	s.img[0x12000 + 12 + 7] = '\n';
	assert_int_equal(parse_buf(s.img, SYN_LEN, SYN_LEN, &mi), 0);
	assert_string_equal(mi.version, "vvvvvvv");
	free(s.img);
}

/* Only the first writable PT_LOAD is searched, as ClrMD does. */
static void test_elfmod_version_outside_data_ignored(void **state)
{
	struct synth s;
	struct mod_info mi;

	(void)state;
	syn_module(&s, true, false, ET_DYN, 0);
	memcpy(s.img + 0x1000, "@(#)Version text\0", 17);
	assert_int_equal(parse_buf(s.img, SYN_LEN, SYN_LEN, &mi), 0);
	assert_false(mi.corrupt);
	assert_string_equal(mi.version, "");
	free(s.img);
}

static void test_elfmod_build_id_too_long_is_corrupt(void **state)
{
	unsigned char big[80] = { 1 };
	struct synth s;
	struct mod_info mi;
	size_t nl;

	(void)state;
	syn_init(&s, true, false, ET_DYN, EM_X86_64);
	syn_phdr(&s, PT_LOAD, PF_R, 0, 0, 0x2000, 0x2000, 0x1000);
	nl = syn_note(&s, 0x400, NT_GNU_BUILD_ID, "GNU", big, sizeof(big), 4);
	syn_phdr(&s, PT_NOTE, PF_R, 0x400, 0x400, nl, nl, 4);
	assert_int_equal(parse_buf(s.img, 0x2000, 0x2000, &mi), 0);
	assert_true(mi.corrupt);
	assert_non_null(strstr(mi.why, "build-id"));
	free(s.img);
}

static void test_elfmod_too_many_notes_is_corrupt(void **state)
{
	struct synth s;
	struct mod_info mi;

	(void)state;
	syn_init(&s, true, false, ET_DYN, EM_X86_64);
	syn_phdr(&s, PT_LOAD, PF_R, 0, 0, 0x2000, 0x2000, 0x1000);
	for (int i = 0; i < 17; i++)
		syn_phdr(&s, PT_NOTE, PF_R, 0x1000, 0x1000, 12, 12, 4);
	assert_int_equal(parse_buf(s.img, 0x2000, 0x2000, &mi), 0);
	assert_true(mi.corrupt);
	assert_non_null(strstr(mi.why, "PT_NOTE"));
	free(s.img);
}

/* ---- hostile variants of a real header ---------------------------------- */

/* The test executable laid out by PT_LOAD: a native 64-bit image to patch. */
struct real {
	unsigned char *img;
	size_t len;
	Elf64_Ehdr *eh;
	Elf64_Phdr *ph;
};

static int real_setup(void **state)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	struct real *r = calloc(1, sizeof(*r));

	if (n <= 0 || !r)
		return -1;
	exe[n] = '\0';
	r->img = file_layout(exe, &r->len);
	r->eh = (Elf64_Ehdr *)r->img;
	r->ph = (Elf64_Phdr *)(r->img + r->eh->e_phoff);
	*state = r;
	return 0;
}

static int real_teardown(void **state)
{
	struct real *r = *state;

	free(r->img);
	free(r);
	return 0;
}

static Elf64_Phdr *real_last_load(struct real *r)
{
	Elf64_Phdr *last = NULL;

	for (unsigned i = 0; i < r->eh->e_phnum; i++)
		if (r->ph[i].p_type == PT_LOAD)
			last = &r->ph[i];
	assert_non_null(last);
	return last;
}

static Elf64_Phdr *real_phdr(struct real *r, uint32_t type, unsigned nth)
{
	for (unsigned i = 0; i < r->eh->e_phnum; i++)
		if (r->ph[i].p_type == type && nth-- == 0)
			return &r->ph[i];
	fail_msg("no program header of type %u", type);
	return NULL;
}

/* The PT_NOTE holding the build id, and the note's header in the image. */
static Elf64_Phdr *real_build_id_note(struct real *r, Elf64_Nhdr **nh)
{
	for (unsigned i = 0; i < r->eh->e_phnum; i++) {
		Elf64_Phdr *p = &r->ph[i];
		size_t off = 0;

		if (p->p_type != PT_NOTE)
			continue;
		while (off + sizeof(**nh) <= p->p_filesz) {
			Elf64_Nhdr *n = (Elf64_Nhdr *)(r->img + p->p_vaddr + off);

			if (n->n_type == NT_GNU_BUILD_ID) {
				*nh = n;
				return p;
			}
			off += sizeof(*n) + ((n->n_namesz + 3) & ~3u) +
			       ((n->n_descsz + 3) & ~3u);
		}
	}
	return NULL;
}

static void expect_corrupt(struct real *r, const char *why)
{
	struct mod_info mi;

	assert_int_equal(parse_buf(r->img, r->len, r->len, &mi), 0);
	assert_int_equal(mi.type, MOD_ELF);
	assert_true(mi.corrupt);
	assert_non_null(mi.why);
	if (why && !strstr(mi.why, why))
		fail_msg("why \"%s\" lacks \"%s\"", mi.why, why);
}

/* Each hostile test patches the real image and restores it after. */
#define HOSTILE(name, why, field, value)				\
static void test_elfmod_##name##_is_corrupt(void **state)		\
{									\
	struct real *r = *state;					\
	__typeof__(field) saved = field;				\
	struct mod_info mi;						\
									\
	assert_int_equal(parse_buf(r->img, r->len, r->len, &mi), 0);	\
	assert_false(mi.corrupt);					\
	field = value;							\
	expect_corrupt(r, why);						\
	field = saved;							\
}

HOSTILE(phnum_xnum, "PN_XNUM", r->eh->e_phnum, PN_XNUM)
HOSTILE(phnum_zero, "no program headers", r->eh->e_phnum, 0)
HOSTILE(phoff_past_mapping, "past the mapping", r->eh->e_phoff, r->len - 8)
HOSTILE(phoff_huge, "past the mapping", r->eh->e_phoff, UINT64_MAX - 16)
HOSTILE(phentsize_wrong, "e_phentsize", r->eh->e_phentsize, sizeof(Elf32_Phdr))
HOSTILE(phentsize_zero, "e_phentsize", r->eh->e_phentsize, 0)
HOSTILE(ehsize_wrong, "e_ehsize", r->eh->e_ehsize, 0x1000)
HOSTILE(bad_class, "EI_CLASS", r->eh->e_ident[EI_CLASS], 7)
HOSTILE(bad_data, "EI_DATA", r->eh->e_ident[EI_DATA], 0)
HOSTILE(bad_type, "e_type", r->eh->e_type, ET_CORE)
HOSTILE(load_filesz_2_62, "p_filesz", real_phdr(r, PT_LOAD, 1)->p_filesz, 1ull << 62)
HOSTILE(load_memsz_2_62, "address space", real_last_load(r)->p_memsz, 1ull << 62)
HOSTILE(load_offset_filesz_overflow, "p_offset + p_filesz",
	real_phdr(r, PT_LOAD, 1)->p_offset, UINT64_MAX - 8)
HOSTILE(load_vaddr_memsz_overflow, "p_vaddr + p_memsz",
	real_phdr(r, PT_LOAD, 1)->p_vaddr, UINT64_MAX - 8)
HOSTILE(load_incongruent, "congruent", real_phdr(r, PT_LOAD, 1)->p_offset,
	real_phdr(r, PT_LOAD, 1)->p_offset + 8)
HOSTILE(loads_overlapping, "overlapping", real_phdr(r, PT_LOAD, 1)->p_vaddr,
	real_phdr(r, PT_LOAD, 0)->p_vaddr + (real_phdr(r, PT_LOAD, 1)->p_offset & 0xfff))
HOSTILE(first_load_dropped, "lowest PT_LOAD",
	real_phdr(r, PT_LOAD, 0)->p_type, PT_NULL)
HOSTILE(note_filesz_2_62, "PT_NOTE", real_phdr(r, PT_NOTE, 0)->p_filesz, 1ull << 62)
HOSTILE(note_past_mapping, "PT_NOTE", real_phdr(r, PT_NOTE, 0)->p_vaddr, r->len + 0x100)

static void test_elfmod_no_load_is_corrupt(void **state)
{
	struct real *r = *state;
	unsigned char *saved = malloc(r->len);

	assert_non_null(saved);
	memcpy(saved, r->img, r->len);
	for (unsigned i = 0; i < r->eh->e_phnum; i++)
		if (r->ph[i].p_type == PT_LOAD)
			r->ph[i].p_type = PT_NULL;
	expect_corrupt(r, "no PT_LOAD");
	memcpy(r->img, saved, r->len);
	free(saved);
}

/* A build-id note whose descsz runs past its segment. */
static void test_elfmod_truncated_build_id_note_is_corrupt(void **state)
{
	struct real *r = *state;
	Elf64_Nhdr *nh = NULL;
	Elf64_Phdr *p = real_build_id_note(r, &nh);
	Elf64_Word saved;

	if (!p || !nh)
		skip();
	saved = nh->n_descsz;
	nh->n_descsz = 0x10000;
	expect_corrupt(r, "truncated note");
	nh->n_descsz = saved;
	saved = nh->n_namesz;
	nh->n_namesz = 0xfffffff0;
	expect_corrupt(r, "truncated note");
	nh->n_namesz = saved;
}

/* The segment ends inside the build-id note. */
static void test_elfmod_note_segment_cut_is_corrupt(void **state)
{
	struct real *r = *state;
	Elf64_Nhdr *nh;
	Elf64_Phdr *p = real_build_id_note(r, &nh);
	Elf64_Xword saved;

	if (!p)
		skip();
	saved = p->p_filesz;
	p->p_filesz = (uint64_t)((unsigned char *)nh - r->img) - p->p_vaddr + 20;
	expect_corrupt(r, "truncated note");
	p->p_filesz = saved;
}

/* Every prefix of the image as the whole mapping: never a crash. */
static void test_elfmod_every_prefix_is_safe(void **state)
{
	struct real *r = *state;
	struct mod_info mi;

	for (size_t len = 0; len <= 0x1200 && len <= r->len; len++) {
		assert_int_equal(parse_buf(r->img, len, len, &mi), 0);
		if (len == 0) {
			assert_int_equal(mi.type, MOD_UNKNOWN);
			continue;
		}
		if (len < SELFMAG)
			continue;
		assert_int_equal(mi.type, MOD_ELF);
		if (len < sizeof(Elf64_Ehdr))
			assert_true(mi.corrupt);
	}
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t xorshift(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/*
 * Random byte changes in the first 4 KiB (headers, phdrs, notes): the
 * result is whatever it is, but never a crash and always self-consistent.
 */
static void test_elfmod_random_flips_never_crash(void **state)
{
	struct real *r = *state;
	unsigned char *copy = malloc(r->len);
	struct mod_info mi;

	assert_non_null(copy);
	for (int round = 0; round < 3000; round++) {
		memcpy(copy, r->img, r->len);
		for (int k = 1 + (int)(xorshift() % 4); k > 0; k--)
			copy[xorshift() % 0x1000] = (unsigned char)xorshift();
		assert_int_equal(parse_buf(copy, r->len, r->len, &mi), 0);
		assert_true(mi.build_id_len <= MOD_BUILD_ID_MAX);
		assert_true(strlen(mi.version) <= MOD_VERSION_MAX);
		if (mi.corrupt)
			assert_non_null(mi.why);
	}
	free(copy);
}

/* ---- no magic ------------------------------------------------------------ */

static void test_elfmod_zero_length_is_unknown(void **state)
{
	struct mod_info mi;

	(void)state;
	assert_int_equal(parse_buf("", 0, 0, &mi), 0);
	assert_int_equal(mi.type, MOD_UNKNOWN);
	assert_false(mi.corrupt);
	assert_int_equal(mi.build_id_len, 0);
}

static void test_elfmod_garbage_is_unknown(void **state)
{
	unsigned char g[4096];
	struct mod_info mi;

	(void)state;
	for (int round = 0; round < 200; round++) {
		for (size_t i = 0; i < sizeof(g); i++)
			g[i] = (unsigned char)xorshift();
		if (g[0] == 0x7f || g[0] == 'M')
			g[0] = 0;
		assert_int_equal(parse_buf(g, sizeof(g), sizeof(g), &mi), 0);
		assert_int_equal(mi.type, MOD_UNKNOWN);
		assert_false(mi.corrupt);
	}
}

/* ELF magic followed by noise: ELF, corrupt. */
static void test_elfmod_noise_after_magic_is_corrupt(void **state)
{
	unsigned char g[4096];
	struct mod_info mi;

	(void)state;
	for (int round = 0; round < 500; round++) {
		for (size_t i = 0; i < sizeof(g); i++)
			g[i] = (unsigned char)xorshift();
		memcpy(g, ELFMAG, SELFMAG);
		assert_int_equal(parse_buf(g, sizeof(g), sizeof(g), &mi), 0);
		assert_int_equal(mi.type, MOD_ELF);
		assert_true(mi.corrupt);
	}
}

/* ---- PE ------------------------------------------------------------------ */

/* MZ stub, "PE\0\0" at 0x80, COFF header, optional header. */
static void pe_fixture(unsigned char *b, size_t len, uint16_t magic,
		       uint16_t machine)
{
	memset(b, 0, len);
	b[0] = 'M';
	b[1] = 'Z';
	put(b + 0x3c, 4, false, 0x80);
	memcpy(b + 0x80, "PE\0\0", 4);
	put(b + 0x84, 2, false, machine);
	put(b + 0x86, 2, false, 3);			/* NumberOfSections */
	put(b + 0x88, 4, false, 0x5f3a1b2c);		/* TimeDateStamp */
	put(b + 0x94, 2, false, magic == 0x20b ? 0xf0 : 0xe0);
	put(b + 0x98, 2, false, magic);
	put(b + 0x98 + 56, 4, false, 0x12000);		/* SizeOfImage */
	put(b + 0x98 + 60, 4, false, 0x200);		/* SizeOfHeaders */
}

static void test_elfmod_pe32plus_fixture_parses(void **state)
{
	unsigned char b[512];
	struct mod_info mi;

	(void)state;
	pe_fixture(b, sizeof(b), 0x20b, 0x8664);
	assert_int_equal(parse_buf(b, sizeof(b), sizeof(b), &mi), 0);
	assert_int_equal(mi.type, MOD_PE);
	assert_false(mi.corrupt);
	assert_null(mi.why);
	assert_int_equal(mi.pe_machine, 0x8664);
	assert_int_equal(mi.pe_magic, 0x20b);
	assert_int_equal(mi.pe_timestamp, 0x5f3a1b2c);
	assert_int_equal(mi.pe_size_of_image, 0x12000);
	assert_int_equal(mi.image_size, 0x12000);
	assert_int_equal(mi.build_id_len, 0);
}

static void test_elfmod_pe32_fixture_parses(void **state)
{
	unsigned char b[512];
	struct mod_info mi;

	(void)state;
	pe_fixture(b, sizeof(b), 0x10b, 0x14c);
	assert_int_equal(parse_buf(b, sizeof(b), sizeof(b), &mi), 0);
	assert_int_equal(mi.type, MOD_PE);
	assert_false(mi.corrupt);
	assert_int_equal(mi.pe_machine, 0x14c);
	assert_int_equal(mi.pe_magic, 0x10b);
	assert_int_equal(mi.pe_size_of_image, 0x12000);
}

static void pe_expect_corrupt(const unsigned char *b, size_t len, const char *why)
{
	struct mod_info mi;

	assert_int_equal(parse_buf(b, len, len, &mi), 0);
	assert_int_equal(mi.type, MOD_PE);
	assert_true(mi.corrupt);
	if (!strstr(mi.why, why))
		fail_msg("why \"%s\" lacks \"%s\"", mi.why, why);
}

static void test_elfmod_pe_hostile_headers_are_corrupt(void **state)
{
	unsigned char b[512];

	(void)state;
	pe_fixture(b, sizeof(b), 0x20b, 0x8664);
	put(b + 0x3c, 4, false, 0x1f0);
	pe_expect_corrupt(b, sizeof(b), "past the mapping");
	put(b + 0x3c, 4, false, 0xffffffff);
	pe_expect_corrupt(b, sizeof(b), "e_lfanew");

	pe_fixture(b, sizeof(b), 0x20b, 0x8664);
	b[0x82] = 'X';
	pe_expect_corrupt(b, sizeof(b), "signature");

	pe_fixture(b, sizeof(b), 0x107, 0x8664);
	pe_expect_corrupt(b, sizeof(b), "magic");

	pe_fixture(b, sizeof(b), 0x20b, 0x8664);
	put(b + 0x94, 2, false, 8);
	pe_expect_corrupt(b, sizeof(b), "optional header");

	pe_fixture(b, sizeof(b), 0x20b, 0x8664);
	put(b + 0x98 + 56, 4, false, 0);
	pe_expect_corrupt(b, sizeof(b), "SizeOfImage");
}

static void test_elfmod_pe_every_prefix_is_safe(void **state)
{
	unsigned char b[512];
	struct mod_info mi;

	(void)state;
	pe_fixture(b, sizeof(b), 0x20b, 0x8664);
	for (size_t len = 2; len < 0x98 + 60; len++) {
		assert_int_equal(parse_buf(b, len, len, &mi), 0);
		assert_int_equal(mi.type, MOD_PE);
		assert_true(mi.corrupt);
	}
	assert_int_equal(parse_buf(b, 0x98 + 60, 0x98 + 60, &mi), 0);
	assert_false(mi.corrupt);
}

/* ---- errors and the hex helper ----------------------------------------- */

static unsigned char mock_img[4096];

/* Serves mock_img, failing when the test says so. */
static ssize_t mock_read(void *ctx, uint64_t off, void *buf, size_t len)
{
	ssize_t rc = mock_type(ssize_t);

	(void)ctx;
	if (rc > 0)
		memcpy(buf, mock_img + off, len);
	return rc;
}

static void test_elfmod_read_error_is_returned(void **state)
{
	struct real *r = *state;
	struct mod_info mi;

	memcpy(mock_img, r->img, sizeof(mock_img));
	will_return(mock_read, -EIO);
	assert_int_equal(mod_parse(mock_read, NULL, sizeof(mock_img), &mi), -EIO);

	/* e_ident, the header, then the program headers fail. */
	will_return(mock_read, EI_NIDENT);
	will_return(mock_read, sizeof(Elf64_Ehdr));
	will_return(mock_read, -ESRCH);
	assert_int_equal(mod_parse(mock_read, NULL, sizeof(mock_img), &mi), -ESRCH);
}

/* A short read leaves zeros: here the header's tail, so no phdrs. */
static void test_elfmod_short_read_reads_as_zeros(void **state)
{
	struct real *r = *state;
	struct mod_info mi;

	memcpy(mock_img, r->img, sizeof(mock_img));
	will_return(mock_read, EI_NIDENT);
	will_return(mock_read, 20);
	assert_int_equal(mod_parse(mock_read, NULL, sizeof(mock_img), &mi), 0);
	assert_true(mi.corrupt);
}

static void test_elfmod_build_id_hex_formats(void **state)
{
	struct mod_info mi;
	char out[41];

	(void)state;
	memset(&mi, 0, sizeof(mi));
	assert_int_equal(mod_build_id_hex(&mi, out, sizeof(out)), -ENOENT);
	memcpy(mi.build_id, some_id, sizeof(some_id));
	mi.build_id_len = sizeof(some_id);
	assert_int_equal(mod_build_id_hex(&mi, out, 40), -ERANGE);
	assert_int_equal(mod_build_id_hex(&mi, out, sizeof(out)), 40);
	assert_string_equal(out, "deadbeef0123456789abcdeffedcba9876543210");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elfmod_libc_in_memory_matches_readelf),
		cmocka_unit_test(test_elfmod_exe_in_memory_matches_readelf),
		cmocka_unit_test(test_elfmod_image_size_matches_dl_iterate_phdr),
		cmocka_unit_test(test_elfmod_file_layout_matches_memory),
		cmocka_unit_test(test_elfmod_bin_true_file_matches_readelf),
		cmocka_unit_test(test_elfmod_elf32_msb_exec_parses),
		cmocka_unit_test(test_elfmod_elf32_lsb_dyn_parses),
		cmocka_unit_test(test_elfmod_elf64_msb_dyn_parses),
		cmocka_unit_test(test_elfmod_elf64_lsb_exec_parses),
		cmocka_unit_test(test_elfmod_note_align8_then_build_id),
		cmocka_unit_test(test_elfmod_version_across_chunk_edge),
		cmocka_unit_test(test_elfmod_version_capped_and_printable),
		cmocka_unit_test(test_elfmod_version_outside_data_ignored),
		cmocka_unit_test(test_elfmod_build_id_too_long_is_corrupt),
		cmocka_unit_test(test_elfmod_too_many_notes_is_corrupt),
#define REAL(t) cmocka_unit_test_setup_teardown(t, real_setup, real_teardown)
		REAL(test_elfmod_phnum_xnum_is_corrupt),
		REAL(test_elfmod_phnum_zero_is_corrupt),
		REAL(test_elfmod_phoff_past_mapping_is_corrupt),
		REAL(test_elfmod_phoff_huge_is_corrupt),
		REAL(test_elfmod_phentsize_wrong_is_corrupt),
		REAL(test_elfmod_phentsize_zero_is_corrupt),
		REAL(test_elfmod_ehsize_wrong_is_corrupt),
		REAL(test_elfmod_bad_class_is_corrupt),
		REAL(test_elfmod_bad_data_is_corrupt),
		REAL(test_elfmod_bad_type_is_corrupt),
		REAL(test_elfmod_load_filesz_2_62_is_corrupt),
		REAL(test_elfmod_load_memsz_2_62_is_corrupt),
		REAL(test_elfmod_load_offset_filesz_overflow_is_corrupt),
		REAL(test_elfmod_load_vaddr_memsz_overflow_is_corrupt),
		REAL(test_elfmod_load_incongruent_is_corrupt),
		REAL(test_elfmod_loads_overlapping_is_corrupt),
		REAL(test_elfmod_first_load_dropped_is_corrupt),
		REAL(test_elfmod_no_load_is_corrupt),
		REAL(test_elfmod_note_filesz_2_62_is_corrupt),
		REAL(test_elfmod_note_past_mapping_is_corrupt),
		REAL(test_elfmod_truncated_build_id_note_is_corrupt),
		REAL(test_elfmod_note_segment_cut_is_corrupt),
		REAL(test_elfmod_every_prefix_is_safe),
		REAL(test_elfmod_random_flips_never_crash),
		REAL(test_elfmod_read_error_is_returned),
		REAL(test_elfmod_short_read_reads_as_zeros),
#undef REAL
		cmocka_unit_test(test_elfmod_zero_length_is_unknown),
		cmocka_unit_test(test_elfmod_garbage_is_unknown),
		cmocka_unit_test(test_elfmod_noise_after_magic_is_corrupt),
		cmocka_unit_test(test_elfmod_pe32plus_fixture_parses),
		cmocka_unit_test(test_elfmod_pe32_fixture_parses),
		cmocka_unit_test(test_elfmod_pe_hostile_headers_are_corrupt),
		cmocka_unit_test(test_elfmod_pe_every_prefix_is_safe),
		cmocka_unit_test(test_elfmod_build_id_hex_formats),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
