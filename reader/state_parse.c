/*
 * reader/state's parsers of /proc text: pure functions over (bytes, len),
 * no terminator needed, no I/O -- apart so that tests/unit/test_state.c
 * and tests/fuzz/fuzz_state.c can take them without the reader.
 *
 * All of this text is the target's to shape in part (a unix socket's
 * path, a file name in a lock line), so nothing here reads past len nor
 * trusts a field to be what its column says: numbers are taken only
 * when every byte of their field is a digit.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>

#include "reader/state.h"

const char *const state_net_protos[STATE_NET_PROTOS] = { "tcp", "tcp6", "udp", "udp6", "unix" };

/*
 * The value after "Key:" in /proc status text (bytes, len: no terminator
 * needed), blanks after the colon skipped, cut to outlen - 1 bytes and
 * terminated. A NUL in the value ends it there. False: no such line.
 */
bool state_status_value(const char *text, size_t len, const char *key,
			char *out, size_t outlen)
{
	const char *p = text, *end = text + len;
	size_t klen = strlen(key);

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end, *v;

		if ((size_t)(eol - p) > klen && memcmp(p, key, klen) == 0 && p[klen] == ':') {
			size_t n;

			for (v = p + klen + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
				;
			n = (size_t)(eol - v);
			if (outlen) {
				if (n >= outlen)
					n = outlen - 1;
				memcpy(out, v, n);
				out[n] = '\0';
			}
			return true;
		}
		p = nl ? nl + 1 : end;
	}
	return false;
}

/*
 * fdinfo's lines as `key value`: "pos:\t0" -> "pos 0", "settime flags: 01"
 * -> "settime_flags 01"; runs of blanks in the value become one space.
 * inotify and fanotify watch lines ("inotify wd:1 ino:...") keep their
 * first word as the key. Lines without a colon, or with nothing before
 * it, are left out; "key:" alone gives "key " (as the mount test's own
 * normalizer does). Other bytes, NULs included, pass through.
 */
int state_fdinfo_normalize(const char *text, size_t len, struct sbuf *out)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end, *colon, *v;
		size_t ll = (size_t)(eol - p);
		bool blank = false;

		colon = memchr(p, ':', ll);
		if (colon && colon != p &&
		    ((ll >= 8 && memcmp(p, "inotify ", 8) == 0) ||
		     (ll >= 9 && memcmp(p, "fanotify ", 9) == 0)))
			colon = memchr(p, ' ', ll);	/* "inotify wd:1 ...": before the ':' */
		if (!colon || colon == p) {
			p = nl ? nl + 1 : end;
			continue;
		}
		for (const char *k = p; k < colon; k++) {
			char ch = *k == ' ' || *k == '\t' ? '_' : *k;

			sbuf_append(out, &ch, 1);
		}
		v = colon + 1;
		while (v < eol && (*v == ' ' || *v == '\t'))
			v++;
		sbuf_puts(out, " ");
		for (; v < eol; v++) {
			if (*v == ' ' || *v == '\t') {
				blank = true;
				continue;
			}
			if (blank)
				sbuf_puts(out, " ");
			blank = false;
			sbuf_append(out, v, 1);
		}
		sbuf_puts(out, "\n");
		p = nl ? nl + 1 : end;
	}
	return out->err;
}

static const char *tcp_state(uint64_t st)
{
	static const char *const names[] = {
		"?", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
		"TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING",
		"NEW_SYN_RECV",
	};

	return st < sizeof(names) / sizeof(names[0]) ? names[st] : "?";
}

/*
 * The number written in [s, s + n), all of it digits of base 10 or 16
 * (either case), without overflow. The text is not terminated, so no
 * strtoul: it would read on past the field, past the buffer.
 */
static bool parse_num(const char *s, size_t n, unsigned base, uint64_t *v)
{
	uint64_t x = 0;

	if (!n)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned d;

		if (s[i] >= '0' && s[i] <= '9')
			d = (unsigned)(s[i] - '0');
		else if (base == 16 && s[i] >= 'a' && s[i] <= 'f')
			d = (unsigned)(s[i] - 'a') + 10;
		else if (base == 16 && s[i] >= 'A' && s[i] <= 'F')
			d = (unsigned)(s[i] - 'A') + 10;
		else
			return false;
		if (x > (UINT64_MAX - d) / base)
			return false;
		x = x * base + d;
	}
	*v = x;
	return true;
}

/*
 * "0100007F:1F90" (v4) or 32 hex digits:port (v6), as the kernel prints
 * them; anything else is copied as it stands.
 */
static void net_addr(const char *tok, size_t n, struct sbuf *out)
{
	char buf[INET6_ADDRSTRLEN];
	const char *colon = memchr(tok, ':', n);
	size_t alen = colon ? (size_t)(colon - tok) : 0;
	uint64_t port, word;
	uint32_t w[4];

	if (!colon || (alen != 8 && alen != 32) ||
	    !parse_num(colon + 1, n - alen - 1, 16, &port) || port > 0xffff)
		goto raw;
	/* Each 32-bit word is printed as the host reads the network bytes. */
	for (size_t i = 0; i < alen / 8; i++) {
		if (!parse_num(tok + 8 * i, 8, 16, &word))
			goto raw;
		w[i] = (uint32_t)word;
	}
	if (!inet_ntop(alen == 8 ? AF_INET : AF_INET6, w, buf, sizeof(buf)))
		goto raw;
	sbuf_printf(out, alen == 8 ? "%s:%u" : "[%s]:%u", buf, (unsigned)port);
	return;
raw:
	sbuf_append(out, tok, n);
}

/* Blank-separated field k of [line, eol) (pointer and length), or NULL. */
static const char *field(const char *line, const char *eol, int k, size_t *n)
{
	const char *p = line, *q;

	for (int i = 0;; i++) {
		while (p < eol && (*p == ' ' || *p == '\t'))
			p++;
		if (p >= eol)
			return NULL;
		for (q = p; q < eol && *q != ' ' && *q != '\t'; q++)
			;
		*n = (size_t)(q - p);
		if (i == k)
			return p;
		p = q;
	}
}

/* A field as a number; UINT64_MAX when missing or not one. */
static uint64_t field_num(const char *line, const char *eol, int k, unsigned base)
{
	size_t n;
	const char *f = field(line, eol, k, &n);
	uint64_t v;

	return f && parse_num(f, n, base, &v) ? v : UINT64_MAX;
}

/* The inode column: 10th of tcp/udp lines, 7th of unix lines; 0: none. */
uint64_t state_net_line_inode(unsigned proto, const char *line, const char *eol)
{
	uint64_t ino = field_num(line, eol, proto == 4 ? 6 : 9, 10);

	return ino == UINT64_MAX ? 0 : ino;
}

int state_net_format_line(unsigned proto, const char *line, const char *eol, struct sbuf *out)
{
	size_t n;
	const char *f;

	sbuf_printf(out, "protocol %s\n", state_net_protos[proto]);
	if (proto == 4) {
		/*
		 * "Num RefCount Protocol Flags Type St Inode Path": the path,
		 * if bound, is the rest of the line after one space (it may
		 * hold blanks of its own).
		 */
		static const char *const types[] = { "?", "stream", "dgram", "raw", "rdm", "seqpacket" };
		static const char *const states[] = { "free", "unconnected", "connecting",
						      "connected", "disconnecting" };
		uint64_t flags = field_num(line, eol, 3, 16);
		uint64_t type = field_num(line, eol, 4, 16);
		uint64_t st = field_num(line, eol, 5, 16);

		sbuf_printf(out, "type %s\n", type < 6 ? types[type] : "?");
		/* __SO_ACCEPTCON: listen(2) was called */
		sbuf_printf(out, "state %s\n", flags != UINT64_MAX && flags & 0x10000 ? "listening" :
			    st < 5 ? states[st] : "?");
		if ((f = field(line, eol, 6, &n)) && f + n + 1 < eol) {
			sbuf_puts(out, "local ");
			sbuf_append(out, f + n + 1, (size_t)(eol - f - n - 1));
			sbuf_puts(out, "\n");
		}
		return out->err;
	}
	/* "sl local_address rem_address st ..." */
	if ((f = field(line, eol, 3, &n))) {
		uint64_t st = field_num(line, eol, 3, 16);

		/* UDP borrows TCP's numbers: 1 connected, 7 not. */
		if (proto >= 2)
			sbuf_printf(out, "state %s\n", st == 1 ? "connected" : st == 7 ? "unconnected" : tcp_state(st));
		else
			sbuf_printf(out, "state %s\n", tcp_state(st));
	}
	if ((f = field(line, eol, 1, &n))) {
		sbuf_puts(out, "local ");
		net_addr(f, n, out);
		sbuf_puts(out, "\n");
	}
	if ((f = field(line, eol, 2, &n))) {
		sbuf_puts(out, "peer ");
		net_addr(f, n, out);
		sbuf_puts(out, "\n");
	}
	return out->err;
}

static unsigned proto_index(const char *proto)
{
	for (unsigned i = 0; i < STATE_NET_PROTOS; i++)
		if (strcmp(proto, state_net_protos[i]) == 0)
			return i;
	return STATE_NET_PROTOS;
}

/*
 * A unix socket's path is printed as it is, newlines and all, so a
 * process can bind a name that reads as a line of its own with another
 * socket's inode. An inode on more than one line is therefore ambiguous
 * and said nothing of: a forger can hide a socket's details, not replace
 * them. Inode 0 (time-wait, request sockets) is no socket's.
 */
int state_net_lookup(const char *proto, const char *text, size_t len,
		     uint64_t ino, struct sbuf *out)
{
	unsigned pi = proto_index(proto);
	const char *p, *end = text + len, *nl, *hit = NULL, *hit_eol = NULL;

	if (pi == STATE_NET_PROTOS)
		return -EINVAL;
	if (ino == 0 || !len)
		return 0;
	/* The first line is the header. */
	nl = memchr(text, '\n', len);
	for (p = nl ? nl + 1 : end; p < end; p = nl ? nl + 1 : end) {
		const char *eol;

		nl = memchr(p, '\n', (size_t)(end - p));
		eol = nl ? nl : end;
		if (state_net_line_inode(pi, p, eol) != ino)
			continue;
		if (hit)
			return 0;
		hit = p;
		hit_eol = eol;
	}
	if (!hit)
		return 0;
	return state_net_format_line(pi, hit, hit_eol, out) ? -ENOMEM : 1;
}
