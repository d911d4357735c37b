/*
 * reader/state: the parsers of /proc text behind fds/<n> and signals --
 * fdinfo normalized to `key value`, a socket's line found in
 * /proc/PID/net/{tcp,tcp6,udp,udp6,unix} by inode and said in words, and
 * a value out of status text.
 *
 * Fixtures are written here in the layout a 6.x x86_64 kernel prints
 * (header padding, "%5lu" inodes, trailing blanks); every input is
 * copied to an exact-size heap block, so under ASan a read past len is
 * an error. Expected outputs are worked out by hand in the comments.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "reader/state.h"

/* The bytes [s, s + n) in a block of exactly n bytes: nothing after them. */
static char *exact(const char *s, size_t n)
{
	char *p = malloc(n ? n : 1);

	assert_non_null(p);
	memcpy(p, s, n);
	return p;
}

static void expect_bytes(const struct sbuf *sb, const char *want, size_t n)
{
	if (sb->len != n || (n && memcmp(sb->buf, want, n) != 0))
		fail_msg("got %zu bytes \"%.*s\", want %zu bytes \"%.*s\"",
			 sb->len, (int)sb->len, sb->buf ? sb->buf : "", n, (int)n, want);
}

/* lit: a string literal, NULs inside it included. */
#define EXPECT(sb, lit) expect_bytes((sb), (lit), sizeof(lit) - 1)

static void normalize_is(const char *in, size_t inlen, const char *want, size_t wantlen)
{
	struct sbuf sb = SBUF_INIT;
	char *buf = exact(in, inlen);

	assert_int_equal(state_fdinfo_normalize(buf, inlen, &sb), 0);
	free(buf);
	expect_bytes(&sb, want, wantlen);
	sbuf_free(&sb);
}

#define NORMALIZE(in, want) normalize_is((in), sizeof(in) - 1, (want), sizeof(want) - 1)

/* Looks inode ino up in table text (a literal); returns the rc, fills sb. */
static int lookup_n(const char *proto, const char *text, size_t len, uint64_t ino,
		    struct sbuf *sb)
{
	char *buf = exact(text, len);
	int rc = state_net_lookup(proto, buf, len, ino, sb);

	free(buf);
	return rc;
}

#define LOOKUP(proto, text, ino, sb) lookup_n((proto), (text), sizeof(text) - 1, (ino), (sb))

/* The addresses below are as a little-endian kernel prints them. */
static bool little_endian(void)
{
	const uint16_t one = 1;

	return *(const uint8_t *)&one == 1;
}

/* ---- fdinfo ---- */

static void test_fdinfo_regular_file_with_lock(void **state)
{
	(void)state;
	/* "lock:" splits at its first colon; the runs of blanks shrink. */
	NORMALIZE("pos:\t1234\n"
		  "flags:\t02100002\n"
		  "mnt_id:\t31\n"
		  "ino:\t1311297\n"
		  "lock:\t1: FLOCK  ADVISORY  WRITE 4242 fd:01:1311297 0 EOF\n",
		  "pos 1234\n"
		  "flags 02100002\n"
		  "mnt_id 31\n"
		  "ino 1311297\n"
		  "lock 1: FLOCK ADVISORY WRITE 4242 fd:01:1311297 0 EOF\n");
}

static void test_fdinfo_epoll(void **state)
{
	(void)state;
	/* tfd lines: key "tfd", the rest with single spaces. */
	NORMALIZE("pos:\t0\n"
		  "flags:\t02000002\n"
		  "mnt_id:\t17\n"
		  "ino:\t1038\n"
		  "tfd:        4 events:       19 data:                4  pos:0 ino:6699f sdev:f\n"
		  "tfd:       11 events: 80000019 data:        100000000b  pos:0 ino:42 sdev:e\n",
		  "pos 0\n"
		  "flags 02000002\n"
		  "mnt_id 17\n"
		  "ino 1038\n"
		  "tfd 4 events: 19 data: 4 pos:0 ino:6699f sdev:f\n"
		  "tfd 11 events: 80000019 data: 100000000b pos:0 ino:42 sdev:e\n");
}

static void test_fdinfo_inotify_and_fanotify_keep_first_word(void **state)
{
	(void)state;
	NORMALIZE("pos:\t0\n"
		  "flags:\t00\n"
		  "inotify wd:1 ino:3c51a sdev:fe00000 mask:100 ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:1ac5030000000000\n",
		  "pos 0\n"
		  "flags 00\n"
		  "inotify wd:1 ino:3c51a sdev:fe00000 mask:100 ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:1ac5030000000000\n");
	NORMALIZE("fanotify flags:10 event-flags:0\n"
		  "fanotify mnt_id:12 mflags:40 mask:38 ignored_mask:40000003\n",
		  "fanotify flags:10 event-flags:0\n"
		  "fanotify mnt_id:12 mflags:40 mask:38 ignored_mask:40000003\n");
	/* Without the space the colon splits, as for any key. */
	NORMALIZE("inotify:x\nfanotify:1\n", "inotify x\nfanotify 1\n");
	/* The word, a space, no colon anywhere: not a line of fdinfo. */
	NORMALIZE("inotify wd\ninotify \nfanotify ", "");
}

static void test_fdinfo_timerfd_eventfd_signalfd(void **state)
{
	(void)state;
	/* "settime flags" has a blank in its key: it becomes '_'. */
	NORMALIZE("clockid: 0\n"
		  "ticks: 0\n"
		  "settime flags: 01\n"
		  "it_value: (0, 49406829)\n"
		  "it_interval: (1, 0)\n",
		  "clockid 0\n"
		  "ticks 0\n"
		  "settime_flags 01\n"
		  "it_value (0, 49406829)\n"
		  "it_interval (1, 0)\n");
	NORMALIZE("eventfd-count:                7\neventfd-id: 12\n",
		  "eventfd-count 7\neventfd-id 12\n");
	NORMALIZE("sigmask:\t0000000000000200\n", "sigmask 0000000000000200\n");
}

static void test_fdinfo_last_line_without_newline(void **state)
{
	(void)state;
	NORMALIZE("pos:\t0\nflags:\t02", "pos 0\nflags 02\n");
	NORMALIZE("k:", "k \n");
}

static void test_fdinfo_key_without_value(void **state)
{
	(void)state;
	/* The separator space stays, nothing follows it. */
	NORMALIZE("flags:\nmnt_id:\t \t\n", "flags \nmnt_id \n");
}

static void test_fdinfo_lines_without_key_are_dropped(void **state)
{
	(void)state;
	NORMALIZE("garbage\n:value\n\n\npos:\t1\n", "pos 1\n");
	NORMALIZE("", "");
	NORMALIZE("\n\n\n", "");
	NORMALIZE(":", "");
}

static void test_fdinfo_blanks(void **state)
{
	(void)state;
	/* Blanks in a key become '_' one for one; in a value, one space. */
	NORMALIZE("a\tb c:  x \t y  \t\n", "a_b_c x y\n");
}

static void test_fdinfo_nul_bytes_pass_through(void **state)
{
	(void)state;
	NORMALIZE("po\0s:\tv\0al\n\0:\0\n", "po\0s v\0al\n\0 \0\n");
}

static void test_fdinfo_huge_value(void **state)
{
	size_t n = 1 << 20;
	char *in = malloc(n + 3), *want = malloc(n + 3);
	struct sbuf sb = SBUF_INIT;

	(void)state;
	assert_non_null(in);
	assert_non_null(want);
	memcpy(in, "k:\t", 3);
	memset(in + 3, 'x', n);
	memcpy(want, "k ", 2);
	memset(want + 2, 'x', n);
	want[n + 2] = '\n';
	assert_int_equal(state_fdinfo_normalize(in, n + 3, &sb), 0);
	expect_bytes(&sb, want, n + 3);
	sbuf_free(&sb);
	free(in);
	free(want);
}

static void test_fdinfo_stops_at_len(void **state)
{
	static const char in[] = "pos:\t0\nflags:\t02\n";
	struct sbuf sb = SBUF_INIT;

	(void)state;
	/* 9 bytes: "pos:\t0\nfl" -- "fl" has no colon. */
	assert_int_equal(state_fdinfo_normalize(in, 9, &sb), 0);
	EXPECT(&sb, "pos 0\n");
	sbuf_free(&sb);
}

/* ---- /proc/net ---- */

static const char tcp[] =
	"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     \n"
	"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 40211 1 0000000058e34f8a 100 0 0 10 0                      \n"
	"   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 40215 1 00000000aa11bb22 20 4 30 10 -1                    \n"
	"   2: 0100007F:D431 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 40214 1 00000000cc33dd44 20 4 30 10 -1                    \n"
	"   3: 0100007F:D3F0 0100007F:1F90 06 00000000:00000000 03:00000F9D 00000000     0        0 0 3 0000000000000000                                     \n";

static void test_net_tcp_listen(void **state)
{
	struct sbuf sb = SBUF_INIT;

	(void)state;
	if (!little_endian())
		skip();
	/* 0100007F: bytes 7f 00 00 01; 1F90 = 8080; st 0A = 10, LISTEN. */
	assert_int_equal(LOOKUP("tcp", tcp, 40211, &sb), 1);
	EXPECT(&sb, "protocol tcp\nstate LISTEN\nlocal 127.0.0.1:8080\npeer 0.0.0.0:0\n");
	sbuf_free(&sb);
}

static void test_net_tcp_established_both_ends(void **state)
{
	struct sbuf sb = SBUF_INIT;

	(void)state;
	if (!little_endian())
		skip();
	/* D431 = 13*4096 + 4*256 + 3*16 + 1 = 54321 */
	assert_int_equal(LOOKUP("tcp", tcp, 40215, &sb), 1);
	EXPECT(&sb, "protocol tcp\nstate ESTABLISHED\nlocal 127.0.0.1:8080\npeer 127.0.0.1:54321\n");
	sbuf_free(&sb);
	assert_int_equal(LOOKUP("tcp", tcp, 40214, &sb), 1);
	EXPECT(&sb, "protocol tcp\nstate ESTABLISHED\nlocal 127.0.0.1:54321\npeer 127.0.0.1:8080\n");
	sbuf_free(&sb);
}

static void test_net_tcp_not_found(void **state)
{
	struct sbuf sb = SBUF_INIT;

	(void)state;
	/* 0: the time-wait line's inode, no socket's. */
	assert_int_equal(LOOKUP("tcp", tcp, 0, &sb), 0);
	assert_int_equal(LOOKUP("tcp", tcp, 40212, &sb), 0);
	/* 1 is a field of the lines, not their inode. */
	assert_int_equal(LOOKUP("tcp", tcp, 1, &sb), 0);
	assert_int_equal(sb.len, 0);
	/* The same table is no unix table: its inode is another column. */
	assert_int_equal(LOOKUP("unix", tcp, 40211, &sb), 0);
	assert_int_equal(sb.len, 0);
}

static void test_net_unknown_protocol(void **state)
{
	struct sbuf sb = SBUF_INIT;

	(void)state;
	assert_int_equal(LOOKUP("raw", tcp, 40211, &sb), -EINVAL);
	assert_int_equal(LOOKUP("", tcp, 40211, &sb), -EINVAL);
	assert_int_equal(sb.len, 0);
}

static const char tcp6[] =
	"  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	"   0: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 21734 1 0000000000000000 100 0 0 10 0\n"
	"   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 51000 1 0000000000000000 20 4 30 10 -1\n"
	"   2: B80D0120000000000000000001000000:01BB 000080fe000000000000000001000000:E0F2 08 00000000:00000000 00:00000000 00000000  1000        0 51001 1 0000000000000000 20 4 30 10 -1";

static void test_net_tcp6(void **state)
{
	struct sbuf sb = SBUF_INIT;

	(void)state;
	if (!little_endian())
		skip();
	/* ::1 is 15 zero bytes and 01: its last word reads 0x01000000. */
	assert_int_equal(LOOKUP("tcp6", tcp6, 21734, &sb), 1);
	EXPECT(&sb, "protocol tcp6\nstate LISTEN\nlocal [::1]:22\npeer [::]:0\n");
	sbuf_free(&sb);
	/* words 0, 0, ffff0000 (00 00 ff ff), 0100007f: ::ffff:127.0.0.1; C350 = 50000 */
	assert_int_equal(LOOKUP("tcp6", tcp6, 51000, &sb), 1);
	EXPECT(&sb, "protocol tcp6\nstate ESTABLISHED\n"
		    "local [::ffff:127.0.0.1]:8080\npeer [::ffff:127.0.0.1]:50000\n");
	sbuf_free(&sb);
	/*
	 * The last line, no newline: B80D0120 is 20 01 0d b8 (2001:db8::1),
	 * 01BB = 443; 000080fe in lower case is fe 80 00 00 (fe80::1);
	 * E0F2 = 14*4096 + 15*16 + 2 = 57586; st 08, CLOSE_WAIT.
	 */
	assert_int_equal(LOOKUP("tcp6", tcp6, 51001, &sb), 1);
	EXPECT(&sb, "protocol tcp6\nstate CLOSE_WAIT\nlocal [2001:db8::1]:443\npeer [fe80::1]:57586\n");
	sbuf_free(&sb);
}

static const char udp[] =
	"   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            \n"
	"  214: 00000000:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000   104        0 17766 2 0000000000000000 0       \n"
	"  530: 0100007F:0035 0100007F:A2C4 01 00000000:00000000 00:00000000 00000000  1000        0 61001 2 0000000000000000 0       \n";

static void test_net_udp_states(void **state)
{
	struct sbuf sb = SBUF_INIT;

	(void)state;
	if (!little_endian())
		skip();
	/* 14E9 = 4096 + 4*256 + 14*16 + 9 = 5353; st 07: unconnected */
	assert_int_equal(LOOKUP("udp", udp, 17766, &sb), 1);
	EXPECT(&sb, "protocol udp\nstate unconnected\nlocal 0.0.0.0:5353\npeer 0.0.0.0:0\n");
	sbuf_free(&sb);
	/* A2C4 = 10*4096 + 2*256 + 12*16 + 4 = 41668; st 01: connected */
	assert_int_equal(LOOKUP("udp", udp, 61001, &sb), 1);
	EXPECT(&sb, "protocol udp\nstate connected\nlocal 127.0.0.1:53\npeer 127.0.0.1:41668\n");
	sbuf_free(&sb);
}

static void test_net_udp6(void **state)
{
	static const char udp6[] =
		"  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
		" 1010: 00000000000000000000000000000000:14E9 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000   104        0 17767 2 0000000000000000 0\n";
	struct sbuf sb = SBUF_INIT;

	(void)state;
	assert_int_equal(LOOKUP("udp6", udp6, 17767, &sb), 1);
	EXPECT(&sb, "protocol udp6\nstate unconnected\nlocal [::]:5353\npeer [::]:0\n");
	sbuf_free(&sb);
}

static const char unix_table[] =
	"Num       RefCount Protocol Flags    Type St Inode Path\n"
	"0000000000000000: 00000002 00000000 00010000 0001 01 27417 /run/systemd/private\n"
	"0000000000000000: 00000002 00000000 00010000 0005 01 15011 /run/udev/control\n"
	"0000000000000000: 00000003 00000000 00000000 0001 03  1083\n"
	"0000000000000000: 00000002 00000000 00000000 0002 01 30520 @/tmp/.X11-unix/X0\n"
	"0000000000000000: 00000003 00000000 00000000 0001 03 40001 /tmp/dir with  spaces/sock \n"
	"0000000000000000: 00000002 00000000 00000000 0001 02 40002 @\n"
	"0000000000000000: 00000003 00000000 00000000 0001 03  1084";

static void test_net_unix(void **state)
{
	struct sbuf sb = SBUF_INIT;

	(void)state;
	/* flags 00010000: __SO_ACCEPTCON, listening whatever St says */
	assert_int_equal(LOOKUP("unix", unix_table, 27417, &sb), 1);
	EXPECT(&sb, "protocol unix\ntype stream\nstate listening\nlocal /run/systemd/private\n");
	sbuf_free(&sb);
	assert_int_equal(LOOKUP("unix", unix_table, 15011, &sb), 1);
	EXPECT(&sb, "protocol unix\ntype seqpacket\nstate listening\nlocal /run/udev/control\n");
	sbuf_free(&sb);
	/* "%5lu": a blank before a short inode; no path, no local line */
	assert_int_equal(LOOKUP("unix", unix_table, 1083, &sb), 1);
	EXPECT(&sb, "protocol unix\ntype stream\nstate connected\n");
	sbuf_free(&sb);
	assert_int_equal(LOOKUP("unix", unix_table, 30520, &sb), 1);
	EXPECT(&sb, "protocol unix\ntype dgram\nstate unconnected\nlocal @/tmp/.X11-unix/X0\n");
	sbuf_free(&sb);
	/* The path is the rest of the line, its blanks as they are. */
	assert_int_equal(LOOKUP("unix", unix_table, 40001, &sb), 1);
	EXPECT(&sb, "protocol unix\ntype stream\nstate connected\nlocal /tmp/dir with  spaces/sock \n");
	sbuf_free(&sb);
	assert_int_equal(LOOKUP("unix", unix_table, 40002, &sb), 1);
	EXPECT(&sb, "protocol unix\ntype stream\nstate connecting\nlocal @\n");
	sbuf_free(&sb);
	/* The last line, its inode the last bytes of the block. */
	assert_int_equal(LOOKUP("unix", unix_table, 1084, &sb), 1);
	EXPECT(&sb, "protocol unix\ntype stream\nstate connected\n");
	sbuf_free(&sb);
	/* 108 is a prefix of 1083's digits, not an inode here. */
	assert_int_equal(LOOKUP("unix", unix_table, 108, &sb), 0);
	assert_int_equal(sb.len, 0);
}

static void test_net_unix_unknown_type_and_state(void **state)
{
	static const char t[] =
		"Num       RefCount Protocol Flags    Type St Inode Path\n"
		"0000000000000000: 00000002 00000000 0000000G 0009 07 501 /a\n"
		"0000000000000000: 00000002 00000000 00000000 zz 1x 502\n";
	struct sbuf sb = SBUF_INIT;

	(void)state;
	/* flags not hex: not listening; type 9 and state 7 are no names */
	assert_int_equal(LOOKUP("unix", t, 501, &sb), 1);
	EXPECT(&sb, "protocol unix\ntype ?\nstate ?\nlocal /a\n");
	sbuf_free(&sb);
	assert_int_equal(LOOKUP("unix", t, 502, &sb), 1);
	EXPECT(&sb, "protocol unix\ntype ?\nstate ?\n");
	sbuf_free(&sb);
}

/*
 * A path is printed raw, so a bound name holding "\n" can forge a line
 * giving another socket's inode: an inode on two lines says nothing.
 */
static void test_net_unix_forged_line_is_ambiguous(void **state)
{
	static const char t[] =
		"Num       RefCount Protocol Flags    Type St Inode Path\n"
		"0000000000000000: 00000002 00000000 00000000 0001 01 700 @x\n"
		"0000000000000000: 00000002 00000000 00010000 0001 01 27417 /fake\n"
		"0000000000000000: 00000002 00000000 00010000 0001 01 27417 /run/systemd/private\n";
	struct sbuf sb = SBUF_INIT;

	(void)state;
	assert_int_equal(LOOKUP("unix", t, 27417, &sb), 0);
	assert_int_equal(sb.len, 0);
	assert_int_equal(LOOKUP("unix", t, 700, &sb), 1);
	EXPECT(&sb, "protocol unix\ntype stream\nstate unconnected\nlocal @x\n");
	sbuf_free(&sb);
}

static void test_net_header_only_and_empty(void **state)
{
	struct sbuf sb = SBUF_INIT;
	size_t head = (size_t)(strchr(tcp, '\n') - tcp);

	(void)state;
	assert_int_equal(lookup_n("tcp", tcp, 0, 40211, &sb), 0);
	/* the header alone, with and without its newline */
	assert_int_equal(lookup_n("tcp", tcp, head + 1, 40211, &sb), 0);
	assert_int_equal(lookup_n("tcp", tcp, head, 40211, &sb), 0);
	/* a table of one line is a header: a data line needs one before it */
	assert_int_equal(LOOKUP("unix", "0000000000000000: 00000002 00000000 00000000 0001 01 9 /a", 9, &sb), 0);
	assert_int_equal(LOOKUP("tcp", "\n\n\n", 0, &sb), 0);
	assert_int_equal(sb.len, 0);
}

static void test_net_truncated_lines(void **state)
{
	struct sbuf sb = SBUF_INIT;

	(void)state;
	/*
	 * The table cut at every length: the inode 40211 is on the second
	 * line's 10th field; until its five digits are all there it is not
	 * found (a prefix such as "4021" is another number), after them the
	 * answer is whole whatever follows.
	 */
	const char *line = strstr(tcp, "40211");
	size_t full = (size_t)(line - tcp) + 5;

	for (size_t len = 0; len <= sizeof(tcp) - 1; len++) {
		int rc = lookup_n("tcp", tcp, len, 40211, &sb);

		if (len < full)
			assert_int_equal(rc, 0);
		else
			assert_int_equal(rc, 1);
		if (rc == 1 && little_endian())
			EXPECT(&sb, "protocol tcp\nstate LISTEN\nlocal 127.0.0.1:8080\npeer 0.0.0.0:0\n");
		sbuf_free(&sb);
	}
	/* Fewer columns: the number stands where no inode is. */
	assert_int_equal(LOOKUP("tcp", "h\n   0: 0100007F:1F90 00000000:0000 0A 40211", 40211, &sb), 0);
	assert_int_equal(sb.len, 0);
}

static void test_net_malformed_addresses_are_copied(void **state)
{
	/*
	 * fields: 0 "0:", 1 local, 2 peer, 3 st, then 4..8 and the inode 9.
	 * A port missing, one past 0xffff, a non-hex digit, a wrong length,
	 * no colon: each copied as printed.
	 */
	static const char t[] =
		"header\n"
		"   0: 0100007F: 0100007G:0050 0A 0 0 0 0 0 801\n"
		"   1: 0100007F:10000 7F:0050 0D 0 0 0 0 0 802\n"
		"   2: 0100007F 0000000000000000000000000000000:0 XY 0 0 0 0 0 803\n"
		"   3: 0100007F:-050 0100007F:+050 01 0 0 0 0 0 804\n";
	struct sbuf sb = SBUF_INIT;

	(void)state;
	assert_int_equal(LOOKUP("tcp", t, 801, &sb), 1);
	EXPECT(&sb, "protocol tcp\nstate LISTEN\nlocal 0100007F:\npeer 0100007G:0050\n");
	sbuf_free(&sb);
	/* st 0D = 13: past NEW_SYN_RECV */
	assert_int_equal(LOOKUP("tcp", t, 802, &sb), 1);
	EXPECT(&sb, "protocol tcp\nstate ?\nlocal 0100007F:10000\npeer 7F:0050\n");
	sbuf_free(&sb);
	/* 31 hex digits is no IPv6 address; "XY" is no state */
	assert_int_equal(LOOKUP("tcp", t, 803, &sb), 1);
	EXPECT(&sb, "protocol tcp\nstate ?\nlocal 0100007F\npeer 0000000000000000000000000000000:0\n");
	sbuf_free(&sb);
	/* signs are not hex digits (strtoul would take them) */
	assert_int_equal(LOOKUP("tcp", t, 804, &sb), 1);
	EXPECT(&sb, "protocol tcp\nstate ESTABLISHED\nlocal 0100007F:-050\npeer 0100007F:+050\n");
	sbuf_free(&sb);
}

static void test_net_inode_must_be_all_digits(void **state)
{
	static const char t[] =
		"header\n"
		"   0: 00000000:0000 00000000:0000 0A 0 0 0 0 0 123abc\n"
		"   1: 00000000:0000 00000000:0000 0A 0 0 0 0 0 +124\n"
		"   2: 00000000:0000 00000000:0000 0A 0 0 0 0 0 99999999999999999999999\n"
		"   3: 00000000:0000 00000000:0000 0A 0 0 0 0 0 18446744073709551614\n";
	struct sbuf sb = SBUF_INIT;

	(void)state;
	assert_int_equal(LOOKUP("tcp", t, 123, &sb), 0);
	assert_int_equal(LOOKUP("tcp", t, 124, &sb), 0);
	/* 10^23 - 1 overflows: no inode, not strtoull's saturated 2^64 - 1 */
	assert_int_equal(LOOKUP("tcp", t, UINT64_MAX, &sb), 0);
	assert_int_equal(sb.len, 0);
	/* 2^64 - 2 is still a number */
	assert_int_equal(LOOKUP("tcp", t, UINT64_MAX - 1, &sb), 1);
	EXPECT(&sb, "protocol tcp\nstate LISTEN\nlocal 0.0.0.0:0\npeer 0.0.0.0:0\n");
	sbuf_free(&sb);
}

static void test_net_more_columns_tabs_and_nuls(void **state)
{
	/* tabs separate too; extra columns after the inode are ignored; a
	 * NUL is part of the field it is in. */
	static const char t[] =
		"header\n"
		"\t0:\t00000000:0016\t00000000:0000\t0A\t0\t0\t0\t0\t0\t901\textra cols here 1 2 3 4 5 6\n"
		"   1: 00000000:0016 0000\0" "000:0000 0A 0 0 0 0 0 902 \0\n";
	struct sbuf sb = SBUF_INIT;

	(void)state;
	assert_int_equal(LOOKUP("tcp", t, 901, &sb), 1);
	EXPECT(&sb, "protocol tcp\nstate LISTEN\nlocal 0.0.0.0:22\npeer 0.0.0.0:0\n");
	sbuf_free(&sb);
	assert_int_equal(LOOKUP("tcp", t, 902, &sb), 1);
	EXPECT(&sb, "protocol tcp\nstate LISTEN\nlocal 0.0.0.0:22\npeer 0000\0" "000:0000\n");
	sbuf_free(&sb);
}

static void test_net_huge_field(void **state)
{
	/* a local address of 1 MiB of 'A': no address, copied whole */
	static const char head[] = "h\n0: ", tail[] = " 00000000:0000 01 0 0 0 0 0 77\n";
	size_t n = 1 << 20, len = sizeof(head) - 1 + n + sizeof(tail) - 1;
	static const char pre[] = "protocol tcp\nstate ESTABLISHED\nlocal ";
	static const char post[] = "\npeer 0.0.0.0:0\n";
	char *t = malloc(len), *want = malloc(sizeof(pre) - 1 + n + sizeof(post) - 1);
	struct sbuf sb = SBUF_INIT;

	(void)state;
	assert_non_null(t);
	assert_non_null(want);
	memcpy(t, head, sizeof(head) - 1);
	memset(t + sizeof(head) - 1, 'A', n);
	memcpy(t + sizeof(head) - 1 + n, tail, sizeof(tail) - 1);
	memcpy(want, pre, sizeof(pre) - 1);
	memset(want + sizeof(pre) - 1, 'A', n);
	memcpy(want + sizeof(pre) - 1 + n, post, sizeof(post) - 1);
	assert_int_equal(state_net_lookup("tcp", t, len, 77, &sb), 1);
	expect_bytes(&sb, want, sizeof(pre) - 1 + n + sizeof(post) - 1);
	sbuf_free(&sb);
	free(t);
	free(want);
}

/* ---- status ---- */

static const char status[] =
	"Name:\tcat\n"
	"Umask:\t0022\n"
	"State:\tt (tracing stop)\n"
	"Threads:\t1\n"
	"SigQ:\t1/96367\n"
	"SigPnd:\t0000000000000000\n"
	"ShdPnd:\t0000000000000100\n"
	"SigBlk:\t0000000000010000\n"
	"SigIgn:\t0000000000001000\n"
	"SigCgt:\t0000000180000400";

static bool value_n(const char *text, size_t len, const char *key, char *out, size_t outlen)
{
	char *buf = exact(text, len);
	bool ok = state_status_value(buf, len, key, out, outlen);

	free(buf);
	return ok;
}

#define VALUE(text, key, out) value_n((text), sizeof(text) - 1, (key), (out), sizeof(out))

static void test_status_signal_masks(void **state)
{
	char v[64];

	(void)state;
	assert_true(VALUE(status, "SigQ", v));
	assert_string_equal(v, "1/96367");
	assert_true(VALUE(status, "ShdPnd", v));
	assert_string_equal(v, "0000000000000100");
	assert_true(VALUE(status, "SigBlk", v));
	assert_string_equal(v, "0000000000010000");
	assert_true(VALUE(status, "SigIgn", v));
	assert_string_equal(v, "0000000000001000");
	/* the last line, no newline, the end of the block */
	assert_true(VALUE(status, "SigCgt", v));
	assert_string_equal(v, "0000000180000400");
	/* blanks inside a value stay */
	assert_true(VALUE(status, "State", v));
	assert_string_equal(v, "t (tracing stop)");
}

static void test_status_key_must_be_whole(void **state)
{
	char v[64] = "untouched";

	(void)state;
	/* "Sig" is a prefix of keys, never a key; nor is "Q" a suffix */
	assert_false(VALUE(status, "Sig", v));
	assert_false(VALUE(status, "Q", v));
	assert_false(VALUE(status, "SigCgt:", v));
	assert_false(VALUE(" SigQ:\t1\n", "SigQ", v));
	assert_false(VALUE(status, "Missing", v));
	assert_string_equal(v, "untouched");
	/* cut short inside the key, or right after it */
	assert_false(value_n(status, 3, "Name", v, sizeof(v)));
	assert_false(value_n(status, 4, "Name", v, sizeof(v)));
	assert_true(value_n(status, 5, "Name", v, sizeof(v)));
	assert_string_equal(v, "");
}

static void test_status_empty_and_truncated_values(void **state)
{
	char v[64], small[5], one[1] = { 'x' };

	(void)state;
	assert_true(VALUE("SigBlk:", "SigBlk", v));
	assert_string_equal(v, "");
	assert_true(VALUE("SigBlk:\t \t\nSigIgn:\t1\n", "SigBlk", v));
	assert_string_equal(v, "");
	/* outlen 5: four bytes and the terminator */
	assert_true(VALUE(status, "SigQ", small));
	assert_string_equal(small, "1/96");
	assert_true(VALUE(status, "SigQ", one));
	assert_int_equal(one[0], '\0');
	assert_true(value_n(status, sizeof(status) - 1, "SigQ", NULL, 0));
}

static void test_status_nul_ends_value(void **state)
{
	char v[8];

	(void)state;
	memset(v, 'z', sizeof(v));
	assert_true(VALUE("SigQ:\t1\0/2\nSigPnd:\t0\n", "SigQ", v));
	assert_memory_equal(v, "1\0/2", 5);
	/* a NUL inside the key is no match */
	assert_false(VALUE("Si\0gQ:\t1\n", "SigQ", v));
	/* ...and does not stop the search either */
	assert_true(VALUE("\0\nSigQ:\t3\n", "SigQ", v));
	assert_string_equal(v, "3");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fdinfo_regular_file_with_lock),
		cmocka_unit_test(test_fdinfo_epoll),
		cmocka_unit_test(test_fdinfo_inotify_and_fanotify_keep_first_word),
		cmocka_unit_test(test_fdinfo_timerfd_eventfd_signalfd),
		cmocka_unit_test(test_fdinfo_last_line_without_newline),
		cmocka_unit_test(test_fdinfo_key_without_value),
		cmocka_unit_test(test_fdinfo_lines_without_key_are_dropped),
		cmocka_unit_test(test_fdinfo_blanks),
		cmocka_unit_test(test_fdinfo_nul_bytes_pass_through),
		cmocka_unit_test(test_fdinfo_huge_value),
		cmocka_unit_test(test_fdinfo_stops_at_len),
		cmocka_unit_test(test_net_tcp_listen),
		cmocka_unit_test(test_net_tcp_established_both_ends),
		cmocka_unit_test(test_net_tcp_not_found),
		cmocka_unit_test(test_net_unknown_protocol),
		cmocka_unit_test(test_net_tcp6),
		cmocka_unit_test(test_net_udp_states),
		cmocka_unit_test(test_net_udp6),
		cmocka_unit_test(test_net_unix),
		cmocka_unit_test(test_net_unix_unknown_type_and_state),
		cmocka_unit_test(test_net_unix_forged_line_is_ambiguous),
		cmocka_unit_test(test_net_header_only_and_empty),
		cmocka_unit_test(test_net_truncated_lines),
		cmocka_unit_test(test_net_malformed_addresses_are_copied),
		cmocka_unit_test(test_net_inode_must_be_all_digits),
		cmocka_unit_test(test_net_more_columns_tabs_and_nuls),
		cmocka_unit_test(test_net_huge_field),
		cmocka_unit_test(test_status_signal_masks),
		cmocka_unit_test(test_status_key_must_be_whole),
		cmocka_unit_test(test_status_empty_and_truncated_values),
		cmocka_unit_test(test_status_nul_ends_value),
	};

	return cmocka_run_group_tests_name("state", tests, NULL, NULL);
}
