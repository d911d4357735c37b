/*
 * libFuzzer target for reader/elfmod: the input is a module image as
 * mapped (image offset 0 = the module's base). It is parsed twice: with
 * the mapping ending where the input does, and with 64 KiB of zero-filled
 * hole after it, as when .bss or an unreadable gap follows the file pages.
 *
 * The read callback aborts if the parser asks for anything at or past
 * mapped_len (it promises not to) or for more bytes in total than the
 * caps allow; results are checked for internal consistency. Run with
 * -malloc_limit_mb=8 to hold the parser to its memory bound too.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reader/elfmod.h"

/* Headers, 16 notes and the version scan, with room to spare. */
#define READ_BOUND (3u << 20)

struct img {
	const uint8_t *p;
	size_t len;
	uint64_t mapped_len;
	uint64_t requested;
};

static ssize_t img_read(void *ctx, uint64_t off, void *buf, size_t len)
{
	struct img *m = ctx;

	if (off >= m->mapped_len || len > m->mapped_len - off)
		abort();
	m->requested += len;
	if (m->requested > READ_BOUND)
		abort();
	memset(buf, 0, len);
	if (off < m->len)
		memcpy(buf, m->p + off, m->len - off < len ? m->len - off : len);
	return (ssize_t)len;
}

static void parse(const uint8_t *data, size_t size, uint64_t mapped_len)
{
	struct img m = { data, size, mapped_len, 0 };
	struct mod_info mi;
	char hex[2 * MOD_BUILD_ID_MAX + 1];
	int rc = mod_parse(img_read, &m, mapped_len, &mi);

	if (rc != 0 && rc != -ENOMEM)
		abort();
	if (rc)
		return;
	if (mi.type != MOD_UNKNOWN && mi.type != MOD_ELF && mi.type != MOD_PE)
		abort();
	if (mi.corrupt && (!mi.why || mi.type == MOD_UNKNOWN))
		abort();
	if (mi.build_id_len > MOD_BUILD_ID_MAX ||
	    memchr(mi.version, '\0', sizeof(mi.version)) == NULL)
		abort();
	if (mi.build_id_len &&
	    mod_build_id_hex(&mi, hex, sizeof(hex)) != (int)(2 * mi.build_id_len))
		abort();
	if (mi.type == MOD_PE && !mi.corrupt && mi.image_size != mi.pe_size_of_image)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);

	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);
	parse(buf, size, size);
	parse(buf, size, (uint64_t)size + 0x10000);
	free(buf);
	return 0;
}
