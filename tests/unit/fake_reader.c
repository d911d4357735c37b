/*
 * A reader with canned data, so fs/ can be walked without a target: the
 * tree is linked against this instead of reader/.
 */
#include <errno.h>
#include <string.h>

#include "reader/reader.h"

struct reader {
	int unused;
};

static struct reader fake;
struct reader *fake_reader = &fake;

const char fake_maps_text[] =
	"00400000-00401000 r-xp 00000000 08:01 42         /bin/fake\n"
	"7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0          [stack]\n";
static struct map_entry fake_map_v[] = {
	{ .start = 0x400000, .end = 0x401000, .perms = PERM_R | PERM_X, .path = "/bin/fake" },
	{ .start = 0x7ffd00000000, .end = 0x7ffd00021000, .perms = PERM_R | PERM_W, .path = "[stack]" },
};
static struct maps fake_maps = { fake_map_v, 2 };
static const pid_t fake_tids[] = { 4242, 4243, 4250 };
/* x86_64 regs: slot i holds 0x1000 + i. */
static uint64_t fake_regs[27];

pid_t reader_pid(const struct reader *r) { (void)r; return 4242; }
const char *reader_comm(const struct reader *r) { (void)r; return "fake"; }
const char *reader_exe(const struct reader *r) { (void)r; return "/bin/fake"; }
const struct arch_desc *reader_arch(const struct reader *r) { (void)r; return &arch_x86_64; }
const char *reader_state(const struct reader *r) { (void)r; return "suspended"; }
bool reader_gone(const struct reader *r) { (void)r; return false; }
const struct maps *reader_maps(const struct reader *r) { (void)r; return &fake_maps; }

const char *reader_maps_text(const struct reader *r, size_t *len)
{
	(void)r;
	*len = sizeof(fake_maps_text) - 1;
	return fake_maps_text;
}

size_t reader_threads(const struct reader *r, pid_t *tids, size_t cap)
{
	(void)r;
	for (size_t i = 0; i < 3 && i < cap; i++)
		tids[i] = fake_tids[i];
	return 3;
}

int reader_thread_alive(const struct reader *r, pid_t tid)
{
	(void)r;
	for (size_t i = 0; i < 3; i++)
		if (fake_tids[i] == tid)
			return 0;
	return -ENOENT;
}

int reader_thread_regs(const struct reader *r, pid_t tid, const void **blob, size_t *len)
{
	if (reader_thread_alive(r, tid))
		return -ENOENT;
	for (size_t i = 0; i < 27; i++)
		fake_regs[i] = 0x1000 + i + (uint64_t)tid * 0x100000;
	*blob = fake_regs;
	*len = sizeof(fake_regs);
	return 0;
}

uint64_t reader_mem_size(const struct reader *r) { (void)r; return 0x7ffd00021000; }
uint64_t reader_mem_data_bytes(const struct reader *r) { (void)r; return 0x1000 + 0x21000; }

ssize_t reader_mem_read(struct reader *r, void *buf, size_t len, uint64_t addr)
{
	(void)r;
	(void)addr;
	memset(buf, 0xab, len);
	return (ssize_t)len;
}

int reader_mem_seek(struct reader *r, uint64_t off, int whence, uint64_t end, uint64_t *out)
{
	(void)r;
	(void)whence;
	(void)end;
	*out = off;
	return 0;
}
