/*
 * A canned process behind the reader's source interface (reader/source.h):
 * the fs/ and reader/ unit tests open a real reader over it, with no
 * target and no /proc, and never touch reader_int.h.
 */
#ifndef PTRACEFS_TESTS_CANNED_SOURCE_H
#define PTRACEFS_TESTS_CANNED_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reader/source.h"

struct canned_proc {
	struct source_snapshot snap;	/* identity, maps, /proc files, threads */
	/*
	 * Memory: [mem_base, mem_base + mem_len) reads from mem; a page is
	 * populated when its bit (LSB first, one per reader_page_size() page
	 * from mem_base) is set in populated, or always when populated is
	 * NULL. Everything else is a hole and reads as zeros.
	 */
	uint64_t mem_base;
	const void *mem;
	size_t mem_len;
	const uint8_t *populated;
	/* Instead: this process's own memory, read in place (an unwind of
	 * the test itself); only the maps' readable ranges are ever read. */
	bool own_memory;
	/* Signal masks the source knows (a core writer's NT_PRSTATUS). */
	uint64_t sigpend, sighold;
};

/* What the reader asked of the source, for the tests to check. */
struct canned_calls {
	size_t reads, scans, read_raws, set_lives;
	uint64_t read_lo, read_hi;	/* lowest and highest address read */
};

/* A reader over p (copied; mem and populated are borrowed). */
int canned_open(const struct canned_proc *p, struct reader **out);
const struct canned_calls *canned_calls(const struct reader *r);

/*
 * The fs tests' process: pid 4242 "fake", threads 4242, 4243 and 4250
 * (NT_PRSTATUS slot k = 0x1000 + k + tid * 0x100000, asleep in poll),
 * /bin/fake at 0x400000 and a [stack], cmdline "fake\0--flag\0", no
 * environ; no memory. extra: regsets to add per thread (NULL: none).
 */
extern const char fake_maps_text[];
struct fake_extra {
	pid_t tid;
	struct source_regset set;
};
struct reader *fake_open(const struct fake_extra *extra, size_t nextra);

#endif
