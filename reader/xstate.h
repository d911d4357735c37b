/*
 * x86 XSAVE images between ptrace, signal frames and backups. The layout
 * of each feature (offset and size in the standard format, whether it is
 * a dynamic one) comes from CPUID leaf 0xD of the CPU we run on, which is
 * the target's; on other hosts these do nothing.
 */
#ifndef PTRACEFS_READER_XSTATE_H
#define PTRACEFS_READER_XSTATE_H

#include <stddef.h>
#include <stdint.h>

/*
 * ptrace's image holds every feature the kernel offers, AMX's 8 KiB of
 * tile data included; rt_sigreturn takes no more than the task's own
 * buffer and restores a larger image as SSE only. *len is cut to the end
 * of the last feature kept and *drop says the features left out: the
 * dynamic ones (XFD: AMX tile data) not in use in img.
 */
void xstate_fit(const unsigned char *img, size_t *len, uint64_t *drop);

/*
 * An image of the kernel's size (cur_len, cur the thread's image now)
 * holding a backup's image of another size (a core written where fewer
 * features were on, or by gdb, which leaves out PKRU): the x87/SSE area
 * and each feature the backup has, from it; the others as they are now.
 * 0, or -EINVAL (not an image, or not an x86 host).
 */
int xstate_merge(const unsigned char *cur, size_t cur_len, const unsigned char *bak,
		 size_t bak_len, unsigned char *out);

#endif
