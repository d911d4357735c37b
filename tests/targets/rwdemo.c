/*
 * rwdemo: a target for -o rw (tests/mount/test_rw.py), whose behaviour
 * after the unmount shows what a write changed.
 *
 *   rwdemo -s FILE
 *
 * Writes "key value" lines to FILE (pid, buf, marker, text, textlen),
 * "ready" last, then blocks its only thread in read(2) on a pipe nobody
 * writes. When that read returns (a regs write set its result register),
 * it writes FILE.result: "read N" (what read returned), "marker S" (a
 * string in read-only data, which only a write through mem can change)
 * and "buf S" (the start of a writable buffer), and exits 0.
 *   buf     64 bytes, "buf-initial" at first
 *   marker  a const string in .rodata, "marker-initial"
 *   text    the code of poke_me(), a function never called: bytes of
 *           read-only text a test may overwrite without harm
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "status.h"

static char buf[64] = "buf-initial";
static const char marker[32] = "marker-initial";

/* Never called: its bytes are the text a test pokes. */
__attribute__((noinline, used)) int poke_me(int x)
{
	return x * 3 + 1;
}

int main(int argc, char **argv)
{
	char status[512], path[4096], c;
	size_t len = 0;
	int fds[2];
	ssize_t n;
	FILE *f;

	if (argc != 3 || strcmp(argv[1], "-s") != 0) {
		fprintf(stderr, "usage: rwdemo -s FILE\n");
		return 2;
	}
	if (pipe(fds) != 0)
		return 1;
	if (status_add(status, sizeof(status), &len, "pid %d\n", (int)getpid()) ||
	    status_add(status, sizeof(status), &len, "buf %p\n", (void *)buf) ||
	    status_add(status, sizeof(status), &len, "marker %p\n", (const void *)marker) ||
	    status_add(status, sizeof(status), &len, "text %p\n", (void *)(uintptr_t)poke_me) ||
	    status_add(status, sizeof(status), &len, "textlen 16\n") ||
	    status_publish(argv[2], status, sizeof(status), len))
		return 1;
	n = read(fds[0], &c, 1);
	snprintf(path, sizeof(path), "%s.result", argv[2]);
	f = fopen(path, "w");
	if (!f)
		return 1;
	fprintf(f, "read %zd\nmarker %.31s\nbuf %.63s\n", n, marker, buf);
	return fclose(f) == 0 ? 0 : 1;
}
