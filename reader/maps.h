/*
 * /proc/PID/maps, parsed from a buffer (so fixtures and fuzzers can feed it).
 */
#ifndef PTRACEFS_MAPS_H
#define PTRACEFS_MAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	PERM_R = 1,
	PERM_W = 2,
	PERM_X = 4,
	PERM_SHARED = 8,		/* 's' in the fourth column; else private */
};

struct map_entry {
	uint64_t start, end;	/* [start, end) */
	uint64_t offset;
	uint64_t inode;
	uint32_t dev_major, dev_minor;
	unsigned perms;		/* PERM_* bits */
	bool file_note;		/* a core's NT_FILE names its file (no inode there) */
	const char *path;	/* as printed, "" when none; owned by struct maps */
};

struct maps {
	struct map_entry *v;
	size_t n;
};

/*
 * Parses maps text. Returns 0, -EINVAL on a malformed line (the whole parse
 * fails: a snapshot is all or nothing), -ENOMEM. Entries are in file order,
 * which the kernel keeps sorted by address; the parser checks that too.
 */
int maps_parse(const char *buf, size_t len, struct maps *out);
void maps_free(struct maps *m);

/* Backed by a file: an inode in /proc's maps, an NT_FILE entry in a core's. */
static inline bool map_is_file(const struct map_entry *e)
{
	return e->inode != 0 || e->file_note;
}
/* Anonymous memory: no path, [heap], [stack], [anon:...]. */
bool map_is_anon(const struct map_entry *e);
/*
 * Data of `mem`: readable, and not a special mapping the kernel refuses to
 * read ([vvar], [vvar_vclock], [vsyscall]).
 */
bool map_is_data(const struct map_entry *e);

/* Index of the first entry with end > addr, or m->n. */
size_t maps_lower_bound(const struct maps *m, uint64_t addr);
/* The entry containing addr, or NULL. */
const struct map_entry *maps_find(const struct maps *m, uint64_t addr);
/*
 * How many of the len bytes at addr lie in contiguous data mappings: 0
 * when addr itself is not data.
 */
uint64_t maps_data_span(const struct maps *m, uint64_t addr, uint64_t len);
/*
 * `mem`'s extent: bytes of its data mappings, and (*end) where the last
 * ends; mappings past 2^63 (where FUSE offsets end) do not count.
 */
uint64_t maps_data_bytes(const struct maps *m, uint64_t *end);

#endif
