/*
 * A reader with canned data, so fs/ can be walked without a target: the
 * real reader library, but its snapshot is filled in here by hand instead
 * of by attaching. No tracer thread, no /proc.
 */
#include <elf.h>
#include <stdlib.h>
#include <string.h>

#include "reader/reader_int.h"
#include "reader/source.h"

struct reader *fake_reader;

const char fake_maps_text[] =
	"00400000-00401000 r-xp 00000000 08:01 42         /bin/fake\n"
	"7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0          [stack]\n";
static const pid_t fake_tids[] = { 4242, 4243, 4250 };
static const char fake_cmdline[] = "fake\0--flag\0";

__attribute__((constructor)) static void fake_reader_init(void)
{
	struct reader *r = calloc(1, sizeof(*r));

	r->src = &source_ptrace;
	r->pid = 4242;
	/* Memory reads must never reach a real process that happens to be 4242. */
	r->mem_pid = 0x7ffffff0;
	/* Every lock the real attach would set up: zeros are not a promise. */
	pthread_mutex_init(&r->lazy_mu, NULL);
	pthread_mutex_init(&r->mode_mu, NULL);
	pthread_rwlock_init(&r->snap_lock, NULL);
	atomic_init(&r->mode, MODE_SUSPENDED);
	r->arch = &arch_x86_64;
	strcpy(r->comm, "fake");
	strcpy(r->exe, "/bin/fake");
	r->maps_text = strdup(fake_maps_text);
	r->maps_len = strlen(fake_maps_text);
	maps_parse(r->maps_text, r->maps_len, &r->maps);
	r->mem_size = 0x7ffd00021000;
	r->mem_data_bytes = 0x1000 + 0x21000;
	r->mem_fd = r->pagemap_fd = -1;
	r->files[RB_CMDLINE] = malloc(sizeof(fake_cmdline));
	memcpy(r->files[RB_CMDLINE], fake_cmdline, sizeof(fake_cmdline));
	r->files_len[RB_CMDLINE] = sizeof(fake_cmdline) - 1;

	r->threads = calloc(3, sizeof(*r->threads));
	r->nthreads = r->threads_cap = 3;
	atomic_init(&r->nalive, 3);
	for (size_t i = 0; i < 3; i++) {
		struct rthread *t = &r->threads[i];
		uint64_t *regs = calloc(27, 8);

		/* x86_64 regs: slot k holds 0x1000 + k + tid * 0x100000. */
		for (size_t k = 0; k < 27; k++)
			regs[k] = 0x1000 + k + (uint64_t)fake_tids[i] * 0x100000;
		t->tid = fake_tids[i];
		pthread_mutex_init(&t->sets_mu, NULL);
		atomic_init(&t->state, RT_STOPPED);
		t->sets[0] = (struct regset){ NT_PRSTATUS, 27 * 8, (unsigned char *)regs };
		t->nsets = 1;
		t->info.tid = t->tid;
		t->info.main = t->tid == r->pid;
		t->info.state = 'S';
		t->info.syscall = 7;	/* poll */
		strcpy(t->info.name, "fake");
	}
	fake_reader = r;
}

/* Marks one thread exited (or alive again), as the tracer would. */
void fake_thread_set_exited(pid_t tid, bool exited)
{
	for (size_t i = 0; i < fake_reader->nthreads; i++)
		if (fake_reader->threads[i].tid == tid)
			atomic_store(&fake_reader->threads[i].state, exited ? RT_DEAD : RT_STOPPED);
}
