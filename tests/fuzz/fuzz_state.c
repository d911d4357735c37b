/*
 * libFuzzer target for reader/state's parsers of /proc text. The first
 * byte picks one (its value mod 8, so the seeds start with an ASCII
 * digit); the rest is the text, copied to an exact-size heap block so
 * ASan reports any read past len (no parser may rely on a terminator).
 *
 *   0, 7  state_fdinfo_normalize: every output line ends in '\n' and has
 *         a space; at most one byte more per input line than it had.
 *   1..5  state_net_lookup on a tcp, tcp6, udp, udp6, unix table, for
 *         every run of digits in the text taken as an inode (so lines
 *         are found, not only missed) and for 0: 1 means the text begins
 *         "protocol <proto>\n" and ends in '\n', 0 means nothing added.
 *   6     state_status_value for the keys signals asks for, at several
 *         output sizes: always terminated within outlen, and the value
 *         is bytes of the input.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reader/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_fdinfo(const char *buf, size_t len)
{
	struct sbuf sb = SBUF_INIT;
	size_t lines = 1;

	for (size_t i = 0; i < len; i++)
		lines += buf[i] == '\n';
	if (state_fdinfo_normalize(buf, len, &sb) != 0)
		abort();
	if (sb.len > len + lines)
		abort();
	for (size_t i = 0, start = 0; i < sb.len; i++) {
		if (sb.buf[i] != '\n')
			continue;
		if (!memchr(sb.buf + start, ' ', i - start))
			abort();
		start = i + 1;
	}
	if (sb.len && sb.buf[sb.len - 1] != '\n')
		abort();
	sbuf_free(&sb);
}

static void lookup(const char *proto, const char *buf, size_t len, uint64_t ino)
{
	struct sbuf sb = SBUF_INIT;
	size_t plen = strlen(proto);
	int rc = state_net_lookup(proto, buf, len, ino, &sb);

	if (rc == 0 && sb.len != 0)
		abort();
	if (rc == 1 && (sb.len < 10 + plen || memcmp(sb.buf, "protocol ", 9) != 0 ||
			memcmp(sb.buf + 9, proto, plen) != 0 || sb.buf[9 + plen] != '\n' ||
			sb.buf[sb.len - 1] != '\n'))
		abort();
	if (rc != 0 && rc != 1)
		abort();
	sbuf_free(&sb);
}

static void fuzz_net(const char *proto, const char *buf, size_t len)
{
	unsigned runs = 0;

	lookup(proto, buf, len, 0);
	for (size_t i = 0; i < len && runs < 64;) {
		uint64_t v = 0;
		size_t j;

		if (buf[i] < '0' || buf[i] > '9') {
			i++;
			continue;
		}
		for (j = i; j < len && buf[j] >= '0' && buf[j] <= '9'; j++)
			v = v * 10 + (uint64_t)(buf[j] - '0');	/* wraps: fine, any number */
		lookup(proto, buf, len, v);
		runs++;
		i = j;
	}
}

static void fuzz_status(const char *buf, size_t len)
{
	static const char *const keys[] = { "SigQ", "SigPnd", "ShdPnd", "SigBlk", "SigIgn",
					     "SigCgt", "S", "" };
	static const size_t sizes[] = { 0, 1, 2, 5, 64 };

	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			char out[64];
			size_t n;

			memset(out, 0x55, sizeof(out));
			if (!state_status_value(buf, len, keys[k], sizes[s] ? out : NULL, sizes[s]))
				continue;
			if (!sizes[s])
				continue;
			n = strnlen(out, sizes[s]);
			if (n >= sizes[s])
				abort();	/* not terminated within outlen */
			if (n && !memmem(buf, len, out, n))
				abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const protos[] = { "tcp", "tcp6", "udp", "udp6", "unix" };
	unsigned mode;
	char *buf;

	if (size < 1)
		return 0;
	mode = data[0] % 8;
	size--;
	buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size);
	if (mode == 0 || mode == 7)
		fuzz_fdinfo(buf, size);
	else if (mode <= 5)
		fuzz_net(protos[mode - 1], buf, size);
	else
		fuzz_status(buf, size);
	free(buf);
	return 0;
}
