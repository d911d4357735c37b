/*
 * /proc/PID/smaps, parsed from a buffer: per mapping, the few facts `core`
 * needs that /proc/PID/maps does not show. VmFlags tells which mappings
 * the kernel's dumper never writes (dd, io, pf), which are really shared
 * (sh: a read-only MAP_SHARED file mapping shows 's' in maps but is not
 * VM_SHARED), hugetlb (ht) and userfaultfd-registered (um, uw: reading
 * them while the target is stopped can block forever). Anonymous and Swap
 * stand in for the kernel's vma->anon_vma test ("has this mapping ever
 * been written"), and Rss sizes the sparse file.
 */
#ifndef PTRACEFS_SMAPS_H
#define PTRACEFS_SMAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* VmFlags codes that matter to a core dump, or to a fork (proc(5)). */
enum {
	VMF_SH = 1 << 0,	/* VM_SHARED */
	VMF_IO = 1 << 1,	/* VM_IO: device memory */
	VMF_PF = 1 << 2,	/* VM_PFNMAP: raw page frames */
	VMF_DD = 1 << 3,	/* VM_DONTDUMP: madvise(MADV_DONTDUMP) */
	VMF_HT = 1 << 4,	/* hugetlb */
	VMF_UM = 1 << 5,	/* userfaultfd missing-page tracking */
	VMF_UW = 1 << 6,	/* userfaultfd write-protect tracking */
	VMF_DC = 1 << 7,	/* VM_DONTCOPY: madvise(MADV_DONTFORK) */
	VMF_WF = 1 << 8,	/* VM_WIPEONFORK: madvise(MADV_WIPEONFORK) */
};

struct smaps_entry {
	uint64_t start, end;		/* [start, end), as in maps */
	uint64_t rss_kb, anon_kb, swap_kb;
	unsigned vmflags;		/* VMF_* */
	bool has_vmflags;		/* a VmFlags line was seen (Linux 3.8+) */
};

struct smaps {
	struct smaps_entry *v;
	size_t n;
};

/*
 * Parses smaps text. Returns 0, -EINVAL on a malformed line (all or
 * nothing, as maps_parse), -ENOMEM. Header lines must ascend without
 * overlap; unknown "Key: value" lines and VmFlags codes are skipped, so a
 * newer kernel's additions parse.
 */
int smaps_parse(const char *buf, size_t len, struct smaps *out);
void smaps_free(struct smaps *s);
/* The entry for exactly [start, end), or NULL. */
const struct smaps_entry *smaps_find(const struct smaps *s, uint64_t start,
				     uint64_t end);

#endif
