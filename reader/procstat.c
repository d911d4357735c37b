/* Parsers of /proc stat, status and cmdline text: see procstat.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "reader/procstat.h"
#include "reader/textcur.h"

/* Fields of a stat line we keep: up to 39 (processor), proc(5) numbering. */
#define STAT_KEPT 40

/* One decimal field, optionally signed, kept in 64-bit two's complement. */
static int stat_field(struct cur *c, uint64_t *out)
{
	bool neg = c->p < c->end && *c->p == '-';
	uint64_t v;

	if (neg)
		c->p++;
	if (cur_num(c, 10, neg ? (uint64_t)INT64_MAX + 1 : UINT64_MAX, &v))
		return -EINVAL;
	*out = neg ? -v : v;
	return 0;
}

static bool is_letter(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
}

int procstat_parse(const char *text, size_t len, struct procstat *out)
{
	const char *open = memchr(text, '(', len), *close = NULL;
	struct cur c = { text, text + len };
	uint64_t f[STAT_KEPT] = { 0 };
	unsigned n = 3;
	size_t clen;

	memset(out, 0, sizeof(*out));
	/* The comm may hold ')' itself; the fields after it never do. */
	for (const char *p = text; p < c.end; p++)
		if (*p == ')')
			close = p;
	if (!open || !close || close < open)
		return -EINVAL;
	if (cur_num(&c, 10, INT32_MAX, &f[1]) || f[1] == 0 || cur_char(&c, ' ') ||
	    c.p != open)
		return -EINVAL;
	clen = (size_t)(close - open - 1);
	if (clen >= sizeof(out->comm))
		clen = sizeof(out->comm) - 1;
	memcpy(out->comm, open + 1, clen);

	c.p = close + 1;
	if (cur_char(&c, ' ') || c.p == c.end || !is_letter(*c.p))
		return -EINVAL;
	out->state = *c.p++;
	/* " N" fields up to a final newline or the end of the text. */
	while (c.p < c.end && *c.p == ' ') {
		uint64_t v;

		c.p++;
		if (stat_field(&c, &v))
			return -EINVAL;
		if (++n < STAT_KEPT)
			f[n] = v;
	}
	if (n < 19 || (c.p < c.end && (*c.p != '\n' || c.p + 1 != c.end)))
		return -EINVAL;

	out->pid = (pid_t)f[1];
	out->ppid = (pid_t)f[4];
	out->pgrp = (pid_t)f[5];
	out->session = (pid_t)f[6];
	out->tty_nr = (int)f[7];
	out->tpgid = (pid_t)f[8];
	out->flags = (unsigned)f[9];
	out->utime = f[14];
	out->stime = f[15];
	out->cutime = (int64_t)f[16];
	out->cstime = (int64_t)f[17];
	out->priority = (long)f[18];
	out->nice = (long)f[19];
	out->num_threads = (long)f[20];
	out->starttime = f[22];
	out->processor = n >= 39 ? (int)f[39] : -1;
	out->nfields = n;
	return 0;
}

int procstat_status_field(const char *text, size_t len, const char *key,
			  const char **val, size_t *vlen)
{
	size_t klen = strlen(key);
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;

		if ((size_t)(le - p) > klen && memcmp(p, key, klen) == 0 && p[klen] == ':') {
			struct cur c = { p + klen + 1, le };

			cur_skip_blanks(&c);
			*val = c.p;
			*vlen = (size_t)(le - c.p);
			return 0;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	return -ENOENT;
}

static int status_num(const char *text, size_t len, const char *key,
		      unsigned base, uint64_t *out)
{
	struct cur c;
	size_t vlen;
	int rc = procstat_status_field(text, len, key, &c.p, &vlen);

	if (rc)
		return rc;
	c.end = c.p + vlen;
	return cur_num(&c, base, UINT64_MAX, out);
}

int procstat_status_u64(const char *text, size_t len, const char *key,
			uint64_t *out)
{
	return status_num(text, len, key, 10, out);
}

int procstat_status_mask(const char *text, size_t len, const char *key,
			 uint64_t *out)
{
	return status_num(text, len, key, 16, out);
}

void procstat_cmdline(const char *cmdline, size_t len, char *out, size_t cap)
{
	if (cap == 0)
		return;
	/* The terminating NUL of the last argument is not a separator. */
	while (len && cmdline[len - 1] == '\0')
		len--;
	if (len > cap - 1)
		len = cap - 1;
	memset(out, 0, cap);
	for (size_t i = 0; i < len; i++)
		out[i] = cmdline[i] ? cmdline[i] : ' ';
}

int procstat_syscall(const char *text, size_t len, long *nr, uint64_t args[6],
		     uint64_t *sp, uint64_t *pc)
{
	unsigned long long v[8];
	char line[256];
	long n;

	/* Nine numbers at most: a longer line is not one. */
	if (len >= sizeof(line))
		return -EINVAL;
	memcpy(line, text, len);
	line[len] = '\0';
	if (sscanf(line, "%ld %llx %llx %llx %llx %llx %llx %llx %llx", &n, &v[0], &v[1],
		   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 9) {
		for (int k = 0; k < 6; k++)
			args[k] = v[k];
		*sp = v[6];
		*pc = v[7];
	} else if (sscanf(line, "%ld %llx %llx", &n, &v[0], &v[1]) == 3 && n == -1) {
		*sp = v[0];
		*pc = v[1];
	} else {
		return -EINVAL;
	}
	*nr = n;
	return 0;
}
