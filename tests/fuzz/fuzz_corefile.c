/*
 * libFuzzer target for reader/corefile.c: arbitrary bytes as an ELF core
 * (libelf's elf_memory over an exact-size copy), decoded, then every
 * invariant the core source relies on checked: segments in address
 * order, none overlapping or wrapping, file bytes within the file; regset
 * blobs and NT_FILE names within the input; auxv lookups bounded.
 */
#include <libelf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reader/corefile.h"

static void within(const void *p, size_t len, const unsigned char *buf, size_t size)
{
	const unsigned char *q = p;

	if (len && (q < buf || q > buf + size || len > (size_t)(buf + size - q)))
		abort();
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
				within(cf.threads[i].sets[k].data, cf.threads[i].sets[k].len, buf, size);
		for (size_t i = 0; i < cf.nfiles; i++) {
			within(cf.files[i].path, strlen(cf.files[i].path) + 1, buf, size);
			if (cf.files[i].end <= cf.files[i].start)
				abort();
		}
		within(cf.auxv, cf.auxv_len, buf, size);
		within(cf.xsave_layout, cf.xsave_layout_len, buf, size);
		(void)corefile_auxv(&cf, 33);
		(void)corefile_auxv(&cf, 31);
		corefile_free(&cf);
	}
	if (elf)
		elf_end(elf);
	free(buf);
	return 0;
}
