/*
 * Module headers from target memory: ELF (build id, image size, version
 * string) and PE (TimeDateStamp, SizeOfImage).
 *
 * The bytes come from a process that may have rewritten its own headers, so
 * every value is hostile until checked. The ELF path runs in four steps:
 *
 *   1. read e_ident and the ELF header by hand, validate the program header
 *      table's place and size (the kernel's 64 KiB limit is ours too);
 *   2. copy header and table into a private buffer laid out as a tiny ELF
 *      with no sections, and let libelf decode it (elf_memory on the exact
 *      length: libelf bounds-checks only against what it is given);
 *   3. check every PT_LOAD and PT_NOTE with overflow-checked arithmetic, and
 *      the load layout a loader would insist on;
 *   4. copy each note segment into a second private ELF and iterate its
 *      notes with gelf_getnote, then scan the first writable PT_LOAD for
 *      "@(#)Version ".
 *
 * A check that fails marks the module corrupt and stops. Whatever the
 * input claims, a call holds under 2.5 MiB: the table (64 KiB) and its
 * GElf copy, 16 notes of 64 KiB (and libelf's byte-swapped copies), one
 * 64 KiB scan chunk.
 */
#include "reader/elfmod.h"
#include "reader/bytes.h"

#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PHDRS_CAP	(64u << 10)	/* fs/binfmt_elf.c refuses larger */
#define NOTE_CAP	(64u << 10)	/* per PT_NOTE; real ones are < 1 KiB */
#define NOTES_MAX	16
#define PAGE_MIN	4096u		/* smallest; PT_LOADs are congruent mod it */
#define SPAN_MAX	(1ull << 56)	/* no user address space is larger */
#define VERSION_SCAN	(1u << 20)
#define SCAN_CHUNK	(64u << 10)
#define PE_LFANEW_CAP	(64u << 10)

static const char version_mark[] = "@(#)Version ";
#define VERSION_MARK_LEN (sizeof(version_mark) - 1)

struct src {
	mod_read_fn rd;
	void *ctx;
	uint64_t len;		/* mapped_len: nothing at or past it is read */
};

/* [off, off + len) lies inside the mapping. */
static bool in_image(const struct src *s, uint64_t off, uint64_t len)
{
	uint64_t end;

	return !__builtin_add_overflow(off, len, &end) && end <= s->len;
}

/* Callers check in_image() first; a short read leaves zeros, as a hole. */
static int src_read(const struct src *s, uint64_t off, void *buf, size_t len)
{
	ssize_t n = s->rd(s->ctx, off, buf, len);

	if (n < 0)
		return (int)n;
	if ((size_t)n < len)
		memset((char *)buf + n, 0, len - (size_t)n);
	return 0;
}

/* Hostile headers are a result, not an error: marks out corrupt, returns 0. */
static int bad(struct mod_info *out, const char *why)
{
	out->corrupt = true;
	out->why = why;
	return 0;
}

/*
 * Where the fields we read or patch sit in each class's ELF header: we must
 * look at them before libelf may, and patch the private copy for it.
 */
struct ehdr_layout {
	size_t ehsize, phentsize, addr;		/* addr: width of an Off */
	size_t version, phoff, shoff;
	size_t f_ehsize, f_phentsize, phnum, shnum, shstrndx;
};

#define EHDR_LAYOUT(E, P, w) {						\
	sizeof(E), sizeof(P), w,					\
	offsetof(E, e_version),						\
	offsetof(E, e_phoff), offsetof(E, e_shoff),			\
	offsetof(E, e_ehsize), offsetof(E, e_phentsize),		\
	offsetof(E, e_phnum), offsetof(E, e_shnum),			\
	offsetof(E, e_shstrndx) }

static const struct ehdr_layout layout32 = EHDR_LAYOUT(Elf32_Ehdr, Elf32_Phdr, 4);
static const struct ehdr_layout layout64 = EHDR_LAYOUT(Elf64_Ehdr, Elf64_Phdr, 8);

static pthread_once_t libelf_once = PTHREAD_ONCE_INIT;

static void libelf_init(void)
{
	elf_version(EV_CURRENT);
}

/*
 * A sectionless ELF for libelf: the header copied from the target with
 * e_phoff/e_phnum set to what the buffer really holds and the section
 * header fields cleared, so libelf never looks outside the buffer.
 */
static void patch_ehdr(unsigned char *h, const struct ehdr_layout *l, bool msb,
		       uint64_t phoff, uint64_t phnum)
{
	put_n(h + l->phoff, l->addr, msb, phoff);
	put_n(h + l->phnum, 2, msb, phnum);
	put_n(h + l->shoff, l->addr, msb, 0);
	put_n(h + l->shnum, 2, msb, 0);
	put_n(h + l->shstrndx, 2, msb, 0);
}

struct elf_ctx {
	const struct src *s;
	struct mod_info *out;
	const struct ehdr_layout *l;
	bool msb;
	unsigned char ehdr[sizeof(Elf64_Ehdr)];
	uint64_t phoff;
	size_t phnum;
	GElf_Phdr *ph;
	uint64_t link;		/* link-time address of image offset 0 */
};

/* Steps 1 and 2: the header and program headers, decoded by libelf. */
static int elf_read_phdrs(struct elf_ctx *c)
{
	const struct ehdr_layout *l = c->l;
	struct mod_info *out = c->out;
	unsigned char *buf;
	size_t tab, len;
	GElf_Ehdr eh;
	size_t n;
	Elf *e;
	int rc;

	if (!in_image(c->s, 0, l->ehsize))
		return bad(out, "ELF header truncated by the mapping");
	rc = src_read(c->s, 0, c->ehdr, l->ehsize);
	if (rc)
		return rc;
	if (get_n(c->ehdr + l->version, 4, c->msb) != EV_CURRENT)
		return bad(out, "e_version is not EV_CURRENT");
	if (get_n(c->ehdr + l->f_ehsize, 2, c->msb) != l->ehsize)
		return bad(out, "e_ehsize does not match the class");
	if (get_n(c->ehdr + l->f_phentsize, 2, c->msb) != l->phentsize)
		return bad(out, "e_phentsize does not match the class");
	c->phnum = get_n(c->ehdr + l->phnum, 2, c->msb);
	c->phoff = get_n(c->ehdr + l->phoff, l->addr, c->msb);
	/* The real count would be in section 0, which is never mapped. */
	if (c->phnum == PN_XNUM)
		return bad(out, "e_phnum is PN_XNUM");
	if (c->phnum == 0)
		return bad(out, "no program headers");
	tab = c->phnum * l->phentsize;
	if (tab > PHDRS_CAP)
		return bad(out, "program header table over 64 KiB");
	if (!in_image(c->s, c->phoff, tab))
		return bad(out, "program headers past the mapping");

	len = l->ehsize + tab;
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, c->ehdr, l->ehsize);
	rc = src_read(c->s, c->phoff, buf + l->ehsize, tab);
	if (rc)
		goto out_free_buf;
	patch_ehdr(buf, l, c->msb, l->ehsize, c->phnum);

	c->ph = calloc(c->phnum, sizeof(*c->ph));
	if (!c->ph) {
		rc = -ENOMEM;
		goto out_free_buf;
	}
	e = elf_memory((char *)buf, len);
	if (!e) {
		rc = bad(out, "libelf rejected the ELF header");
		goto out_free_buf;
	}
	if (!gelf_getehdr(e, &eh) || elf_getphdrnum(e, &n) || n != c->phnum) {
		rc = bad(out, "libelf rejected the ELF header");
		goto out_end;
	}
	out->elf_type = eh.e_type;
	out->elf_machine = eh.e_machine;
	for (size_t i = 0; i < n; i++) {
		if (!gelf_getphdr(e, (int)i, &c->ph[i])) {
			rc = bad(out, "libelf rejected a program header");
			goto out_end;
		}
	}
	rc = 0;
out_end:
	elf_end(e);
out_free_buf:
	free(buf);
	return rc;
}

/*
 * Step 3: the program headers a loader would accept. PT_LOADs ascend and do
 * not overlap (gABI), hold no more file than memory, and keep p_vaddr and
 * p_offset congruent modulo any page size (mmap needs it). The lowest one
 * maps the ELF header at the base, which fixes c->link.
 */
static int elf_check_phdrs(struct elf_ctx *c)
{
	struct mod_info *out = c->out;
	uint64_t limit = c->l == &layout32 ? 1ull << 32 : UINT64_MAX;
	const GElf_Phdr *lo = NULL;
	uint64_t prev_end = 0, hi_end = 0, end, tab_end;
	unsigned notes = 0;

	for (size_t i = 0; i < c->phnum; i++) {
		const GElf_Phdr *p = &c->ph[i];

		if (p->p_type == PT_NOTE) {
			if (__builtin_add_overflow(p->p_offset, p->p_filesz, &end) ||
			    __builtin_add_overflow(p->p_vaddr, p->p_filesz, &end) ||
			    end > limit)
				return bad(out, "PT_NOTE offset or size overflows");
			if (p->p_filesz > NOTE_CAP)
				return bad(out, "PT_NOTE over 64 KiB");
			if (++notes > NOTES_MAX)
				return bad(out, "more than 16 PT_NOTE");
			continue;
		}
		if (p->p_type != PT_LOAD)
			continue;
		if (__builtin_add_overflow(p->p_offset, p->p_filesz, &end))
			return bad(out, "PT_LOAD p_offset + p_filesz overflows");
		if (__builtin_add_overflow(p->p_vaddr, p->p_memsz, &end) ||
		    end > limit)
			return bad(out, "PT_LOAD p_vaddr + p_memsz overflows");
		if (p->p_filesz > p->p_memsz)
			return bad(out, "PT_LOAD p_filesz exceeds p_memsz");
		if ((p->p_vaddr - p->p_offset) % PAGE_MIN)
			return bad(out, "PT_LOAD p_vaddr and p_offset not congruent");
		if (lo && p->p_vaddr < prev_end)
			return bad(out, "PT_LOADs unsorted or overlapping");
		if (!lo)
			lo = p;
		prev_end = end;
		if (end > hi_end)
			hi_end = end;
	}
	if (!lo)
		return bad(out, "no PT_LOAD");
	/*
	 * Below 4 KiB, lo's first page holds file offset 0 whatever the page
	 * size: the header we read at the base is really this file's.
	 */
	if (lo->p_offset >= PAGE_MIN || lo->p_offset > lo->p_vaddr)
		return bad(out, "lowest PT_LOAD does not map the ELF header");
	c->link = lo->p_vaddr - lo->p_offset;
	/* In lo's file part image offsets equal file offsets: the table is there. */
	tab_end = c->phoff + c->phnum * c->l->phentsize;
	if (tab_end < c->l->ehsize)
		tab_end = c->l->ehsize;
	if (tab_end > lo->p_offset + lo->p_filesz)
		return bad(out, "program headers outside the lowest PT_LOAD");
	out->image_size = hi_end - c->link;
	if (out->image_size > SPAN_MAX)
		return bad(out, "PT_LOADs span more than an address space");
	return 0;
}

/* The PT_LOAD whose file bytes hold [vaddr, vaddr + len), or NULL. */
static const GElf_Phdr *load_holding(const struct elf_ctx *c, uint64_t vaddr,
				     uint64_t len)
{
	for (size_t i = 0; i < c->phnum; i++) {
		const GElf_Phdr *p = &c->ph[i];

		/* Both sums were overflow-checked in elf_check_phdrs. */
		if (p->p_type == PT_LOAD && p->p_vaddr <= vaddr &&
		    vaddr + len <= p->p_vaddr + p->p_filesz)
			return p;
	}
	return NULL;
}

static void take_build_id(struct mod_info *out, const GElf_Nhdr *nh,
			  const unsigned char *desc)
{
	if (out->build_id_len)
		return;		/* the first one counts */
	if (nh->n_descsz == 0 || nh->n_descsz > MOD_BUILD_ID_MAX) {
		bad(out, "build-id note size out of range");
		return;
	}
	memcpy(out->build_id, desc, nh->n_descsz);
	out->build_id_len = nh->n_descsz;
}

/* Walks one note segment copied at buf offset pos. */
static int walk_notes(struct elf_ctx *c, Elf *e, size_t pos, size_t size,
		      bool align8)
{
	Elf_Data *d = elf_getdata_rawchunk(e, (int64_t)pos, size,
					   align8 ? ELF_T_NHDR8 : ELF_T_NHDR);
	size_t off = 0, next, name_off, desc_off;
	GElf_Nhdr nh;

	if (!d)
		return bad(c->out, "libelf rejected a note segment");
	while (off < d->d_size) {
		next = gelf_getnote(d, off, &nh, &name_off, &desc_off);
		/* 0: a header, name or descriptor runs past the segment. */
		if (next == 0)
			return bad(c->out, "truncated note");
		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == sizeof(ELF_NOTE_GNU) &&
		    !memcmp((char *)d->d_buf + name_off, ELF_NOTE_GNU, sizeof(ELF_NOTE_GNU))) {
			take_build_id(c->out, &nh, (unsigned char *)d->d_buf + desc_off);
			if (c->out->corrupt)
				return 0;
		}
		off = next;
	}
	return 0;
}

/* Step 4a: every PT_NOTE, copied into a sectionless private ELF. */
static int elf_read_notes(struct elf_ctx *c)
{
	struct mod_info *out = c->out;
	size_t pos[NOTES_MAX], len = c->l->ehsize, k = 0;
	const GElf_Phdr *np[NOTES_MAX];
	unsigned char *buf;
	Elf *e;
	int rc = 0;

	for (size_t i = 0; i < c->phnum; i++) {
		const GElf_Phdr *p = &c->ph[i];

		if (p->p_type != PT_NOTE || p->p_filesz == 0)
			continue;
		if (p->p_vaddr < c->link || !load_holding(c, p->p_vaddr, p->p_filesz))
			return bad(out, "PT_NOTE outside every PT_LOAD");
		if (!in_image(c->s, p->p_vaddr - c->link, p->p_filesz))
			return bad(out, "PT_NOTE past the mapping");
		len = (len + 7) & ~(size_t)7;	/* rawchunk then needs no copy */
		np[k] = p;
		pos[k++] = len;
		len += p->p_filesz;
	}
	if (k == 0)
		return 0;

	buf = calloc(1, len);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, c->ehdr, c->l->ehsize);
	patch_ehdr(buf, c->l, c->msb, 0, 0);
	for (size_t i = 0; i < k; i++) {
		rc = src_read(c->s, np[i]->p_vaddr - c->link, buf + pos[i],
			      np[i]->p_filesz);
		if (rc)
			goto out_free_buf;
	}
	e = elf_memory((char *)buf, len);
	if (!e) {
		rc = bad(out, "libelf rejected the ELF header");
		goto out_free_buf;
	}
	for (size_t i = 0; i < k && !out->corrupt; i++) {
		rc = walk_notes(c, e, pos[i], np[i]->p_filesz, np[i]->p_align == 8);
		if (rc)
			break;
	}
	elf_end(e);
out_free_buf:
	free(buf);
	return rc;
}

/* Copies the printable, NUL-terminated text at image offset off. */
static int take_version(const struct src *s, uint64_t off, struct mod_info *out)
{
	unsigned char tmp[MOD_VERSION_MAX];
	size_t n = MOD_VERSION_MAX, i;
	int rc;

	if (s->len <= off)
		return 0;
	if (s->len - off < n)
		n = s->len - off;
	rc = src_read(s, off, tmp, n);
	if (rc)
		return rc;
	for (i = 0; i < n && tmp[i] >= 0x20 && tmp[i] < 0x7f; i++)
		out->version[i] = (char)tmp[i];
	out->version[i] = '\0';
	return 0;
}

/*
 * Step 4b: "@(#)Version " in the file bytes of the first writable PT_LOAD,
 * at most 1 MiB of it, read in chunks that overlap by the marker's length
 * less one so a marker across a chunk edge is still seen.
 */
static int elf_find_version(struct elf_ctx *c)
{
	const GElf_Phdr *w = NULL;
	uint64_t off, end, span;
	unsigned char *buf;
	int rc = 0;

	for (size_t i = 0; i < c->phnum && !w; i++)
		if (c->ph[i].p_type == PT_LOAD && (c->ph[i].p_flags & PF_W))
			w = &c->ph[i];
	if (!w || w->p_vaddr < c->link)
		return 0;
	off = w->p_vaddr - c->link;
	span = w->p_filesz < VERSION_SCAN ? w->p_filesz : VERSION_SCAN;
	if (off >= c->s->len)
		return 0;
	end = c->s->len - off < span ? c->s->len : off + span;

	buf = malloc(SCAN_CHUNK);
	if (!buf)
		return -ENOMEM;
	while (end - off >= VERSION_MARK_LEN) {
		size_t n = end - off < SCAN_CHUNK ? end - off : SCAN_CHUNK;
		unsigned char *hit;

		rc = src_read(c->s, off, buf, n);
		if (rc)
			break;
		hit = memmem(buf, n, version_mark, VERSION_MARK_LEN);
		if (hit) {
			rc = take_version(c->s, off + (uint64_t)(hit - buf) +
					  VERSION_MARK_LEN, c->out);
			break;
		}
		if (off + n == end)
			break;
		off += n - (VERSION_MARK_LEN - 1);
	}
	free(buf);
	return rc;
}

static int elf_parse(const struct src *s, const unsigned char *id,
		     struct mod_info *out)
{
	struct elf_ctx c = { .s = s, .out = out };
	int rc;

	out->type = MOD_ELF;
	out->elf_class = id[EI_CLASS];
	out->elf_data = id[EI_DATA];
	if (id[EI_CLASS] == ELFCLASS32)
		c.l = &layout32;
	else if (id[EI_CLASS] == ELFCLASS64)
		c.l = &layout64;
	else
		return bad(out, "bad EI_CLASS");
	if (id[EI_DATA] != ELFDATA2LSB && id[EI_DATA] != ELFDATA2MSB)
		return bad(out, "bad EI_DATA");
	if (id[EI_VERSION] != EV_CURRENT)
		return bad(out, "bad EI_VERSION");
	c.msb = id[EI_DATA] == ELFDATA2MSB;

	pthread_once(&libelf_once, libelf_init);
	rc = elf_read_phdrs(&c);
	if (rc || out->corrupt)
		goto out_free;
	if (out->elf_type != ET_EXEC && out->elf_type != ET_DYN) {
		rc = bad(out, "e_type is not ET_EXEC or ET_DYN");
		goto out_free;
	}
	rc = elf_check_phdrs(&c);
	if (rc || out->corrupt)
		goto out_free;
	rc = elf_read_notes(&c);
	if (rc || out->corrupt)
		goto out_free;
	rc = elf_find_version(&c);
out_free:
	free(c.ph);
	return rc;
}

/*
 * PE, as CoreCLR maps managed assemblies: the DOS header's e_lfanew points
 * at "PE\0\0", the COFF header (Machine, NumberOfSections, TimeDateStamp,
 * ...) and the optional header, whose SizeOfImage sits at offset 56 in
 * PE32 and PE32+ alike. All fields are little-endian.
 */
#define PE_COFF_LEN	20
#define PE_OPT_MIN	60	/* through SizeOfImage */
#define PE_MAGIC_PE32	0x10b	/* optional header magics */
#define PE_MAGIC_PE32P	0x20b

static int pe_parse(const struct src *s, struct mod_info *out)
{
	unsigned char b[4 + PE_COFF_LEN + PE_OPT_MIN];
	uint64_t lfanew;
	int rc;

	out->type = MOD_PE;
	if (!in_image(s, 0x3c, 4))
		return bad(out, "DOS header truncated by the mapping");
	rc = src_read(s, 0x3c, b, 4);
	if (rc)
		return rc;
	lfanew = get_n(b, 4, false);
	if (lfanew >= PE_LFANEW_CAP)
		return bad(out, "e_lfanew over 64 KiB");
	if (!in_image(s, lfanew, 4 + PE_COFF_LEN))
		return bad(out, "PE header past the mapping");
	rc = src_read(s, lfanew, b, 4 + PE_COFF_LEN);
	if (rc)
		return rc;
	if (memcmp(b, "PE\0\0", 4))
		return bad(out, "no PE signature at e_lfanew");
	out->pe_machine = (uint16_t)get_n(b + 4, 2, false);
	out->pe_timestamp = (uint32_t)get_n(b + 8, 4, false);
	if (get_n(b + 20, 2, false) < PE_OPT_MIN)
		return bad(out, "optional header too small for SizeOfImage");
	if (!in_image(s, lfanew + 4 + PE_COFF_LEN, PE_OPT_MIN))
		return bad(out, "optional header past the mapping");
	rc = src_read(s, lfanew + 4 + PE_COFF_LEN, b, PE_OPT_MIN);
	if (rc)
		return rc;
	out->pe_magic = (uint16_t)get_n(b, 2, false);
	if (out->pe_magic != PE_MAGIC_PE32 && out->pe_magic != PE_MAGIC_PE32P)
		return bad(out, "optional header magic is not PE32 or PE32+");
	out->pe_size_of_image = (uint32_t)get_n(b + 56, 4, false);
	out->image_size = out->pe_size_of_image;
	if (out->pe_size_of_image == 0)
		return bad(out, "SizeOfImage is 0");
	return 0;
}

int mod_parse(mod_read_fn rd, void *ctx, uint64_t mapped_len,
	      struct mod_info *out)
{
	const struct src s = { rd, ctx, mapped_len };
	unsigned char id[EI_NIDENT];
	size_t n = mapped_len < EI_NIDENT ? (size_t)mapped_len : EI_NIDENT;
	int rc;

	memset(out, 0, sizeof(*out));
	out->why = "no ELF or PE magic";
	if (n == 0)
		return 0;
	rc = src_read(&s, 0, id, n);
	if (rc)
		return rc;
	if (n >= SELFMAG && !memcmp(id, ELFMAG, SELFMAG)) {
		out->why = NULL;
		out->type = MOD_ELF;
		if (n < EI_NIDENT)
			return bad(out, "ELF header truncated by the mapping");
		return elf_parse(&s, id, out);
	}
	if (n >= 2 && id[0] == 'M' && id[1] == 'Z') {
		out->why = NULL;
		return pe_parse(&s, out);
	}
	return 0;
}

int mod_build_id_hex(const struct mod_info *mi, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t len = mi->build_id_len;

	if (len == 0 || len > MOD_BUILD_ID_MAX)
		return -ENOENT;
	if (outlen < 2 * len + 1)
		return -ERANGE;
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hex[mi->build_id[i] >> 4];
		out[2 * i + 1] = hex[mi->build_id[i] & 15];
	}
	out[2 * len] = '\0';
	return (int)(2 * len);
}
