/*
 * libFuzzer target for reader/procstat: every parser on the same bytes,
 * as a stat line, as status text and as a cmdline. The input is copied to
 * an exact-size heap block so ASan reports any read past len.
 *
 * Checked: an accepted stat line has a positive pid, a letter for state,
 * a NUL-terminated comm that is the text between the first '(' and the
 * last ')' (or its start), and at least 19 fields; a status value lies in
 * the text, on the line that starts with its key; the joined cmdline is
 * NUL-terminated within its buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reader/procstat.h"

static void check_stat(const char *buf, size_t size)
{
	struct procstat ps;
	const char *open, *close = NULL;
	size_t clen;

	if (procstat_parse(buf, size, &ps) != 0)
		return;
	open = memchr(buf, '(', size);
	for (size_t i = 0; i < size; i++)
		if (buf[i] == ')')
			close = buf + i;
	if (!open || !close || ps.pid <= 0 || ps.nfields < 19 ||
	    !((ps.state >= 'A' && ps.state <= 'Z') || (ps.state >= 'a' && ps.state <= 'z')))
		abort();
	clen = strnlen(ps.comm, sizeof(ps.comm));
	if (clen == sizeof(ps.comm) || clen > (size_t)(close - open - 1) ||
	    memcmp(ps.comm, open + 1, clen) != 0)
		abort();
}

static void check_status(const char *buf, size_t size, const char *key)
{
	const char *v;
	size_t n, klen = strlen(key);
	uint64_t x;

	if (procstat_status_field(buf, size, key, &v, &n) == 0) {
		const char *line = v;

		if (v < buf || n > size || v + n > buf + size || memchr(v, '\n', n))
			abort();
		while (line > buf && line[-1] != '\n')
			line--;
		if ((size_t)(v - line) <= klen || memcmp(line, key, klen) != 0 || line[klen] != ':')
			abort();
	}
	procstat_status_u64(buf, size, key, &x);
	procstat_status_mask(buf, size, key, &x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1), ps[80];

	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);
	check_stat(buf, size);
	check_status(buf, size, "Uid");
	check_status(buf, size, "SigBlk");
	check_status(buf, size, "Name");
	procstat_cmdline(buf, size, ps, sizeof(ps));
	if (memchr(ps, '\0', sizeof(ps)) == NULL)
		abort();
	free(buf);
	return 0;
}
