/*
 * A process that spends its time in uninterruptible sleep ('D'): it vforks
 * in a loop, and a vfork parent waits in a killable, not interruptible,
 * sleep until its child exits. Each child sleeps 3 s first, so a
 * mount that found the parent in 'D' meets it there, not as it wakes. The mount
 * suite checks that threads/<tid>/stat tells 'D' as the state before
 * suspension. Prints "ready" once the loop runs.
 */
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(void)
{
	const struct timespec nap = { 3, 0 };

	printf("ready\n");
	fflush(stdout);
	for (;;) {
		pid_t child = vfork();

		if (child == 0) {
			nanosleep(&nap, NULL);
			_exit(0);
		}
		if (child < 0)
			return 1;
		waitpid(child, NULL, 0);
	}
}
