/*
 * libFuzzer target for reader/corefile.c: arbitrary bytes as an ELF core
 * (libelf's elf_memory over an exact-size copy), decoded, then every
 * invariant the core source relies on checked: segments in address
 * order, none overlapping or wrapping, file bytes within the file; regset
 * blobs, NT_FILE names, auxv and the xsave layout readable for their
 * length; auxv lookups bounded.
 */
#include <libelf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reader/corefile.h"

/*
 * A blob the parser hands out must be readable for its whole length while
 * the Elf lives.  It need not lie inside the input: elf_getdata_rawchunk
 * copies a note segment whose offset is not aligned for its type, so the
 * pointer is then libelf's.  Read every byte (ASan reports a read past the
 * copy or of freed memory) and bound the length by the input's size, since
 * no blob is longer than the file it came from.
 */
static volatile unsigned char sink;

static void readable(const void *p, size_t len, size_t size)
{
	const unsigned char *q = p;
	unsigned char x = 0;

	if (len > size || (len && !q))
		abort();
	for (size_t i = 0; i < len; i++)
		x ^= q[i];
	sink = x;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *buf = malloc(size ? size : 1);
	struct corefile cf;
	char why[256];
	Elf *elf;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	elf_version(EV_CURRENT);
	elf = elf_memory((char *)buf, size);
	if (elf && corefile_parse(elf, size, &cf, why, sizeof(why)) == 0) {
		for (size_t i = 0; i < cf.nsegs; i++) {
			const struct corefile_seg *s = &cf.segs[i];

			if (s->vaddr + s->memsz < s->vaddr || s->filesz > s->memsz ||
			    s->avail > s->filesz || (s->avail && s->offset + s->avail > size))
				abort();
			if (i && s->vaddr < cf.segs[i - 1].vaddr + cf.segs[i - 1].memsz)
				abort();
		}
		for (size_t i = 0; i < cf.nthreads; i++)
			for (size_t k = 0; k < cf.threads[i].nsets; k++)
				readable(cf.threads[i].sets[k].data, cf.threads[i].sets[k].len, size);
		for (size_t i = 0; i < cf.nfiles; i++) {
			readable(cf.files[i].path, strlen(cf.files[i].path) + 1, size);
			if (cf.files[i].end <= cf.files[i].start)
				abort();
		}
		readable(cf.auxv, cf.auxv_len, size);
		readable(cf.xsave_layout, cf.xsave_layout_len, size);
		(void)corefile_auxv(&cf, 33);
		(void)corefile_auxv(&cf, 31);
		corefile_free(&cf);
	}
	if (elf)
		elf_end(elf);
	free(buf);
	return 0;
}
