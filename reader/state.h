/*
 * The rest of the process's state (reader/state.c): open descriptors,
 * cwd and root, limits, signals, cgroup, namespaces, smaps, personality,
 * and the file behind each module.
 *
 * All of it is read from /proc when first asked for. While the target is
 * suspended nothing it owns can change, so a later read sees what was
 * there at suspension: each answer is then kept until the next
 * suspension or refresh (per-descriptor text excepted, which is cheap to
 * make again and would not fit a daemon's memory for 100,000 of them).
 * In live mode every answer is read afresh.
 */
#ifndef PTRACEFS_READER_STATE_H
#define PTRACEFS_READER_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "arch/sbuf.h"
#include "reader/reader.h"

/* Text files: /proc/PID/<name> as it was, or a rendering of it. */
enum reader_state_text {
	RS_LIMITS,	/* /proc/PID/limits, verbatim */
	RS_CGROUP,	/* /proc/PID/cgroup, verbatim */
	RS_PERSONALITY,	/* /proc/PID/personality, verbatim */
	RS_SMAPS,	/* /proc/PID/smaps, verbatim */
	RS_SIGNALS,	/* signal state of the process and of each thread */
	RS_CWD,		/* readlink /proc/PID/cwd */
	RS_ROOT,	/* readlink /proc/PID/root */
	RS_NS,		/* "name target\n" per /proc/PID/ns entry */
	RS_COUNT
};

/* Appends the text to out; -ENODATA when /proc would not give it. */
int reader_state_text(struct reader *r, enum reader_state_text which,
		      struct sbuf *out);

/* Namespaces: their names in /proc order, and one's link target. */
int reader_ns_list(struct reader *r, int (*fill)(void *, const char *), void *cookie);
int reader_ns_link(struct reader *r, const char *name, struct sbuf *out);

/*
 * Open descriptors, ascending. *fds stays valid while the snapshot is
 * held (reader_rdlock); free it with reader_fds_put.
 */
int reader_fds(struct reader *r, const int **fds, size_t *n);
void reader_fds_put(struct reader *r, const int *fds);
/* 0 when fd is open in the target (as listed), else -ENOENT. */
int reader_fd_exists(struct reader *r, int fd);
/*
 * One descriptor as `key value` lines: fd, target (its /proc/PID/fd
 * link), fdinfo's lines normalized (`pos 0`, `flags 02`, ...), and for a
 * socket what /proc/PID/net says of it. What cannot be read is left out.
 */
int reader_fd_show(struct reader *r, int fd, struct sbuf *out);

/*
 * The file a module is mapped from, through /proc/PID/map_files (so a
 * deleted file still opens). -ENOENT: no file (the vDSO, or it cannot be
 * opened); -EIO: it lives on a FUSE file system the target serves.
 */
int reader_module_file(struct reader *r, const struct reader_module *m,
		       uint64_t *size);
ssize_t reader_module_file_read(struct reader *r, const struct reader_module *m,
				void *buf, size_t len, uint64_t off);

/*
 * Parsers of /proc text, taking bytes and a length, no terminator needed
 * (unit tests feed them fixtures, tests/fuzz/fuzz_state.c anything).
 * state_fdinfo_normalize: fdinfo's "key:\tvalue" lines as "key value".
 * state_net_lookup: the `key value` lines /proc/net/<proto> text says of
 * socket inode ino (proto: tcp, tcp6, udp, udp6 or unix); 1 found, 0 not
 * (or on two lines: ambiguous), -EINVAL for another proto, -ENOMEM.
 * state_status_value: the value of "Key:\tvalue" in status text, cut to
 * outlen - 1 bytes and terminated; false when no line has the key.
 */
int state_fdinfo_normalize(const char *text, size_t len, struct sbuf *out);
int state_net_lookup(const char *proto, const char *text, size_t len,
		     uint64_t ino, struct sbuf *out);
bool state_status_value(const char *text, size_t len, const char *key,
			char *out, size_t outlen);

/*
 * Shared by state.c (which indexes the tables once per suspension) and
 * state_parse.c. A table's lines: [line, eol), eol at its '\n' or the
 * end. proto indexes state_net_protos. line_inode: 0 when the line has
 * no inode column holding a number.
 */
#define STATE_NET_PROTOS 5
extern const char *const state_net_protos[STATE_NET_PROTOS];
uint64_t state_net_line_inode(unsigned proto, const char *line, const char *eol);
int state_net_format_line(unsigned proto, const char *line, const char *eol,
			  struct sbuf *out);

#endif
