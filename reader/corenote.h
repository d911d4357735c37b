/*
 * ELF notes as bytes: a bounded iterator over any note segment, and the
 * PTRACEFS notes that make ptracefs' own cores lossless (their writer and
 * their parser). Pure: no syscalls, no allocation but the parsed thread
 * array and the written segment, so tests and fuzzers drive it directly.
 *
 * A `core` carries the PTRACEFS notes in its own PT_NOTE segment, the last
 * program header, its bytes right after the standard notes. Every note
 * is owner "PTRACEFS" (namesz 9, NUL included) and, like the standard
 * notes, is in the core's byte order. Types are 'P' 'T' 'F' + n: they
 * collide with no NT_* number gdb (BFD), elfutils, lldb or illumos key
 * on regardless of owner.
 *
 *   CORENOTE_VERSION  u32 format (CORENOTE_FORMAT), u32 pid, then the
 *                     producer ("ptracefs 0.1"), NUL terminated. First.
 *   CORENOTE_MAPS     /proc/PID/maps at suspension, the text as read
 *   CORENOTE_STATUS   /proc/PID/status at suspension
 *   CORENOTE_CMDLINE  /proc/PID/cmdline (NUL separated, as read)
 *   CORENOTE_ENVIRON  /proc/PID/environ
 *   CORENOTE_THREAD   one per thread, in the order of the NT_PRSTATUS
 *                     notes: u32 tid, u32 n, then n bytes of the
 *                     thread's /proc stat line (state: the letter before
 *                     suspension, not 't'), then its /proc syscall line
 *                     (the rest of the descriptor).
 *
 * A file that could not be read at suspension has no note; an empty one
 * has an empty note. Readers ignore PTRACEFS types they do not know;
 * CORENOTE_FORMAT changes only when old readers would misread a note.
 */
#ifndef PTRACEFS_CORENOTE_H
#define PTRACEFS_CORENOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CORENOTE_OWNER "PTRACEFS"
#define CORENOTE_FORMAT 1u

enum {
	CORENOTE_VERSION = 0x50544601,
	CORENOTE_MAPS = 0x50544602,
	CORENOTE_STATUS = 0x50544603,
	CORENOTE_CMDLINE = 0x50544604,
	CORENOTE_ENVIRON = 0x50544605,
	CORENOTE_THREAD = 0x50544606,
};

/*
 * One note, pointing into the iterated bytes. name is namesz bytes and
 * need not hold a NUL (hostile input): compare with elfnote_owner_is.
 */
struct elfnote {
	const char *name;
	uint32_t namesz;
	uint32_t type;
	const unsigned char *desc;
	uint32_t descsz;
};

/*
 * Notes as the ELF gABI lays them out for 32- and 64-bit files alike: a
 * 12-byte header {namesz, descsz, type} in the file's byte order, the
 * name and the descriptor each padded to 4 bytes. The last descriptor's
 * padding may be missing (elfutils accepts that too).
 */
struct elfnote_iter {
	const unsigned char *p;
	size_t len, off;
	bool msb;
};

void elfnote_iter_init(struct elfnote_iter *it, const void *buf, size_t len, bool msb);
/*
 * 1 and the next note in *n; 0 at the end; -EINVAL for a truncated
 * header, or a name or descriptor running past the end (then every later
 * call says -EINVAL too: nothing after a broken note can be trusted).
 */
int elfnote_next(struct elfnote_iter *it, struct elfnote *n);
/* The note's owner is exactly owner, NUL terminated within namesz. */
bool elfnote_owner_is(const struct elfnote *n, const char *owner);

/* Bytes of one /proc file; p NULL: no note (unreadable at suspension). */
struct corenote_text {
	const char *p;
	size_t len;
};

struct corenote_thread {
	pid_t tid;
	struct corenote_text stat;	/* the /proc/PID/task/TID/stat line */
	struct corenote_text syscall;	/* its /proc/PID/task/TID/syscall line */
};

/*
 * What the PTRACEFS notes hold. Parsed, every text points into the
 * parsed bytes (keep them), and threads is allocated (corenote_free).
 */
struct corenote_set {
	uint32_t format;		/* parsed: the VERSION note's; written: ignored */
	pid_t pid;
	struct corenote_text producer;	/* without its NUL */
	struct corenote_text maps, status, cmdline, environ;
	struct corenote_thread *threads;
	size_t nthreads;
};

/*
 * The PTRACEFS notes of a note segment (others are skipped, so the whole
 * standard segment may be passed too). 0, or -ENOENT when there is no
 * VERSION note, -ENOTSUP for a format this parser does not read, -EINVAL
 * for malformed notes (bad framing, a short VERSION or THREAD note, a
 * file note twice, two threads with one tid), -ENOMEM.
 */
int corenote_parse(const void *seg, size_t len, bool msb, struct corenote_set *out);
void corenote_free(struct corenote_set *s);

/*
 * The PTRACEFS note segment for s in one allocation (*len a multiple of
 * 4). 0, -ENOMEM, or -EFBIG when a note would pass 4 GiB.
 */
int corenote_build(const struct corenote_set *s, bool msb, unsigned char **out,
		   size_t *len);

/*
 * A /proc stat line with its state (the field after the last ')') set to
 * state, in place: /proc says 't' of a thread ptracefs stopped. False
 * when the line has no such field.
 */
bool corenote_stat_set_state(char *line, size_t len, char state);

#endif
