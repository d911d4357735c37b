/*
 * Fault injection for the test suite (compiled only with -Dfault_injection).
 * PTRACEFS_FAULT=point[:nth] makes the nth hit (default 1st) of that point
 * fail; PTRACEFS_FAULT=kill:point[:nth] makes the daemon SIGKILL itself
 * there instead, as a user's kill -9 at that moment would. Points: seize,
 * read (a memory read fails with EFAULT), snapshot (the post-attach
 * snapshot fails), sleep-attach (sleeps 2 s mid-attach), putsets (one
 * SETREGSET of a batch is refused, as the kernel may: restore), and in -o
 * snapshot (reader/snapshot.c): snap-clone-before (before the clone()
 * is injected), snap-clone-after (the clone made, the target's thread
 * still set up for it), snap-restore (putting that thread back),
 * snap-setup (the clone's own set-up, the target running again),
 * snap-reap (before the clone's zombie is reaped in the target), and
 * inject-loaded (reader/inject.c: any injected call, its registers loaded
 * in the thread, before it runs; in a fresh -o snapshot the first is the
 * clone()).
 * Two -o snapshot points make the freeze slow instead of failing, so that
 * a small -o freeze_timeout passes: snap-slow sleeps 1 s after the attach,
 * before the capture and the clone (the deadline is found passed between
 * the steps); snap-slow-clone sleeps 1 s in fork_fn, the target's thread
 * set up for the clone(), which then starts past the deadline (the
 * injected call times out under way, is let finish, and its clone undone).
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reader/reader_int.h"

#ifdef PTRACEFS_FAULTS
static _Atomic unsigned hits;

bool fault_hit(const char *point)
{
	const char *spec = getenv("PTRACEFS_FAULT");
	size_t n = strlen(point);
	unsigned nth = 1;
	bool die = false;

	if (spec && strncmp(spec, "kill:", 5) == 0) {
		spec += 5;
		die = true;
	}
	if (!spec || strncmp(spec, point, n) != 0 || (spec[n] && spec[n] != ':'))
		return false;
	if (spec[n] == ':')
		nth = (unsigned)strtoul(spec + n + 1, NULL, 10);
	if (atomic_fetch_add(&hits, 1) + 1 != nth)
		return false;
	if (die)
		kill(getpid(), SIGKILL);
	return true;
}
#endif
