/*
 * A library for hostile --fuse-lib, which loads it from the FUSE file
 * system it serves itself and runs a thread in it: a backtrace of that
 * thread must not open the file (the server is stopped with the rest).
 */
void spinlib_spin(volatile unsigned long *n);

void spinlib_spin(volatile unsigned long *n)
{
	for (;;)
		(*n)++;
}
