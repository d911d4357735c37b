/*
 * hostile: a target that makes life hard for whoever suspends it, for the
 * robustness suite (tests/robust). Each flag adds one difficulty; several
 * may be combined.
 *
 *   hostile [-s FILE] [-t N] [-b SIZE] [--zombie-leader] [--corrupt-elf KINDS]
 *           [--flip] [--uffd] [--uid UID] [--nondumpable] [--storm] [--reader-of MNT]
 *           [--fuse-server DIR [--fuse-lib LIB]]
 *
 * Always there, as in target.c: a buffer whose every 8-byte word holds its
 * own address, N sleeping workers (3 by default), and a ticker thread (the
 * main thread itself unless the leader exits) that bumps `counter` about
 * once a millisecond: it stands still while the process is suspended.
 *
 * --zombie-leader   the main thread pthread_exit()s once the rest runs: the
 *                   leader is a zombie and /proc/PID/mem of it is empty.
 * --corrupt-elf K   K is a comma list of none, phnum, phoff, filesz, note.
 *                   For each, a copy of our own executable is written next
 *                   to the status file as corrupt-K.elf, mapped MAP_PRIVATE
 *                   read-write, and its headers scribbled over in memory:
 *                   e_phnum = 0xffff, e_phoff past the mapping, the first
 *                   PT_LOAD's p_filesz = 2^62, or the build-id note's
 *                   n_descsz past its segment. "none" is the control.
 * --flip            with --corrupt-elf: a thread rewrites each scribbled
 *                   field between its good and its bad value in a tight
 *                   loop, so a reader may see either, or a mix (TOCTOU).
 * --uffd            a region registered with userfaultfd (MISSING mode),
 *                   faults served from a handler thread with 0xa5 bytes; its
 *                   first half is touched before "ready", the rest never.
 *                   Reading the untouched half of a suspended target through
 *                   the kernel would wait forever on the stopped handler.
 * --uid UID         setresuid/setresgid to UID once set up (from root); the
 *                   process then stays dumpable unless --nondumpable.
 * --nondumpable     prctl(PR_SET_DUMPABLE, 0).
 * --storm           8 chains of threads: each thread spins briefly, starts
 *                   its successor and exits, so threads are always being
 *                   created and exiting; `storm` counts threads started.
 * --reader-of MNT   a thread that opens and reads MNT/status in a loop,
 *                   counting successes, EDEADLK and other errors: the target
 *                   reading its own mount.
 * --fuse-server DIR a FUSE file system served by a thread of ours, mounted
 *                   on DIR (as root): one file, "data", of FUSE_LEN bytes
 *                   (byte i is fuse_byte(i)), mapped MAP_PRIVATE read-only
 *                   with only its first page touched. Reading the rest of
 *                   the mapping of a suspended target would wait forever on
 *                   the stopped server: the file cannot even be opened.
 * --fuse-lib LIB    with --fuse-server: the file system also serves a copy
 *                   of the shared library LIB (tests/targets/spinlib.c) as
 *                   "lib.so"; it is dlopen()ed from there and a thread
 *                   spins in spinlib_spin(): a backtrace of it must not
 *                   open the library's file.
 *
 * --status FILE gets "key value" lines (numbers; addresses in hex), "ready"
 * last, atomically. The process runs until killed.
 */
#define FUSE_USE_VERSION 31
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fuse.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "status.h"

#define STORM_CHAINS 8
#define UFFD_LEN (1u << 20)
#define FUSE_LEN (8u << 20)

static _Atomic uint64_t counter;	/* the ticker's progress */
static _Atomic uint64_t storm;		/* storm threads ever started */
static _Atomic uint64_t uffd_faults;	/* faults the handler served */
static _Atomic uint64_t reader_ok, reader_deadlk, reader_other;
static _Atomic int reader_errno;
static pthread_attr_t detached;
static const char *reader_mnt;
static long page;

static void die(const char *what)
{
	fprintf(stderr, "hostile: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000L, us % 1000000L * 1000L };

	nanosleep(&ts, NULL);
}

static void *ticker(void *arg)
{
	(void)arg;
	for (;;) {
		atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed);
		sleep_us(1000);
	}
	return NULL;
}

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		sleep_us(100000);
	return NULL;
}

/* ---- --storm ---- */

static void *storm_thread(void *arg)
{
	pthread_t t;

	atomic_fetch_add(&storm, 1);
	for (volatile int i = 0; i < 20000; i++)
		;
	/* The successor comes from a thread about to die, as in thread-bomb. */
	while (pthread_create(&t, &detached, storm_thread, arg) != 0)
		sleep_us(100);
	return NULL;
}

/* ---- --reader-of ---- */

static void *reader(void *arg)
{
	char path[4096], buf[4096];

	(void)arg;
	snprintf(path, sizeof(path), "%s/status", reader_mnt);
	for (;;) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);

		if (fd >= 0 && read(fd, buf, sizeof(buf)) >= 0)
			atomic_fetch_add(&reader_ok, 1);
		else if (errno == EDEADLK)
			atomic_fetch_add(&reader_deadlk, 1);
		else {
			atomic_store(&reader_errno, errno);
			atomic_fetch_add(&reader_other, 1);
		}
		if (fd >= 0)
			close(fd);
		sleep_us(1000);
	}
	return NULL;
}

/* ---- --fuse-server ---- */

static char *lib_bytes;		/* --fuse-lib: the library served as lib.so */
static size_t lib_len;
static _Atomic int spin_tid;
static volatile unsigned long spin_count;

static unsigned char fuse_byte(uint64_t i)
{
	return (unsigned char)((i >> 12) * 13 + (i & 0xff));
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	(void)fi;
	memset(st, 0, sizeof(*st));
	if (strcmp(path, "/") == 0) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else if (strcmp(path, "/data") == 0) {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = FUSE_LEN;
	} else if (lib_bytes && strcmp(path, "/lib.so") == 0) {
		st->st_mode = S_IFREG | 0555;
		st->st_nlink = 1;
		st->st_size = (off_t)lib_len;
	} else {
		return -ENOENT;
	}
	return 0;
}

static int fs_read(const char *path, char *out, size_t len, off_t off,
		   struct fuse_file_info *fi)
{
	(void)fi;
	if (lib_bytes && strcmp(path, "/lib.so") == 0) {
		if (off < 0 || (size_t)off >= lib_len)
			return 0;
		if (len > lib_len - (size_t)off)
			len = lib_len - (size_t)off;
		memcpy(out, lib_bytes + off, len);
		return (int)len;
	}
	if (off < 0 || (uint64_t)off >= FUSE_LEN)
		return 0;
	if (len > FUSE_LEN - (uint64_t)off)
		len = FUSE_LEN - (size_t)off;
	for (size_t i = 0; i < len; i++)
		out[i] = (char)fuse_byte((uint64_t)off + i);
	return (int)len;
}

static const struct fuse_operations fs_ops = { .getattr = fs_getattr, .read = fs_read };

static void *fuse_server(void *arg)
{
	fuse_loop(arg);
	return NULL;
}

static void *lib_spinner(void *fn)
{
	atomic_store(&spin_tid, (int)syscall(SYS_gettid));
	((void (*)(volatile unsigned long *))fn)(&spin_count);
	return NULL;
}

/* Reads LIB whole, to serve it as DIR/lib.so. */
static void read_lib(const char *lib)
{
	int fd = open(lib, O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) != 0)
		die("--fuse-lib");
	lib_len = (size_t)st.st_size;
	lib_bytes = malloc(lib_len ? lib_len : 1);
	if (!lib_bytes || read(fd, lib_bytes, lib_len) != (ssize_t)lib_len)
		die("read --fuse-lib");
	close(fd);
}

/* dlopen()s DIR/lib.so and starts a thread spinning in it. */
static void run_lib(const char *dir)
{
	char path[4096];
	void *h, *fn;
	pthread_t t;

	snprintf(path, sizeof(path), "%s/lib.so", dir);
	h = dlopen(path, RTLD_NOW);
	fn = h ? dlsym(h, "spinlib_spin") : NULL;
	if (!fn) {
		fprintf(stderr, "hostile: %s\n", dlerror());
		exit(1);
	}
	if (pthread_create(&t, &detached, lib_spinner, fn))
		die("lib spinner thread");
	while (!atomic_load(&spin_tid))
		sleep_us(1000);
}

static char *setup_fuse(const char *dir)
{
	char *argv[] = { "hostile", NULL }, path[4096];
	struct fuse_args args = FUSE_ARGS_INIT(1, argv);
	struct fuse *f = fuse_new(&args, &fs_ops, sizeof(fs_ops), NULL);
	pthread_t t;
	char *m;
	int fd;

	if (!f || fuse_mount(f, dir) != 0)
		die("fuse mount");
	if (pthread_create(&t, &detached, fuse_server, f))
		die("fuse server thread");
	snprintf(path, sizeof(path), "%s/data", dir);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		die("open fuse data");
	m = mmap(NULL, FUSE_LEN, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED)
		die("mmap fuse data");
	close(fd);
	if ((unsigned char)m[0] != fuse_byte(0))
		die("fuse data");
	return m;
}

/* ---- --uffd ---- */

static void *uffd_handler(void *arg)
{
	int uffd = (int)(intptr_t)arg;
	char *src = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (src == MAP_FAILED)
		die("uffd source page");
	memset(src, 0xa5, (size_t)page);
	for (;;) {
		struct pollfd pf = { .fd = uffd, .events = POLLIN };
		struct uffd_msg msg;
		struct uffdio_copy copy;

		if (poll(&pf, 1, -1) < 0 || read(uffd, &msg, sizeof(msg)) != sizeof(msg))
			continue;
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		copy.dst = msg.arg.pagefault.address & ~(uint64_t)(page - 1);
		copy.src = (uint64_t)(uintptr_t)src;
		copy.len = (uint64_t)page;
		copy.mode = 0;
		copy.copy = 0;
		if (ioctl(uffd, UFFDIO_COPY, &copy) == 0)
			atomic_fetch_add(&uffd_faults, 1);
	}
	return NULL;
}

static char *setup_uffd(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg;
	pthread_t t;
	char *region;
	int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (uffd < 0)
		die("userfaultfd");
	if (ioctl(uffd, UFFDIO_API, &api) < 0)
		die("UFFDIO_API");
	region = mmap(NULL, UFFD_LEN, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (region == MAP_FAILED)
		die("uffd region");
	reg.range.start = (uint64_t)(uintptr_t)region;
	reg.range.len = UFFD_LEN;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0)
		die("UFFDIO_REGISTER");
	if (pthread_create(&t, &detached, uffd_handler, (void *)(intptr_t)uffd))
		die("uffd handler thread");
	/* The first half faults in through the handler; the rest never does. */
	for (size_t off = 0; off < UFFD_LEN / 2; off += (size_t)page)
		(void)*(volatile char *)(region + off);
	return region;
}

/* ---- --corrupt-elf ---- */

static const char *const elf_kinds[] = { "none", "phnum", "phoff", "filesz", "note" };
#define NKINDS (sizeof(elf_kinds) / sizeof(elf_kinds[0]))

/* The build-id note of a mapped ELF64 file, or NULL. */
static Elf64_Nhdr *find_build_id(char *img, size_t len, Elf64_Phdr **seg)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;

	for (unsigned i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr *ph = (Elf64_Phdr *)(img + eh->e_phoff) + i;
		size_t off = 0, align = ph->p_align == 8 ? 8 : 4;

		if (ph->p_type != PT_NOTE || ph->p_offset + ph->p_filesz > len)
			continue;
		while (off + sizeof(Elf64_Nhdr) <= ph->p_filesz) {
			Elf64_Nhdr *nh = (Elf64_Nhdr *)(img + ph->p_offset + off);
			const char *name = (const char *)(nh + 1);

			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    memcmp(name, "GNU", 4) == 0) {
				*seg = ph;
				return nh;
			}
			off += sizeof(*nh) + ((nh->n_namesz + align - 1) & ~(align - 1)) +
			       ((nh->n_descsz + align - 1) & ~(align - 1));
		}
	}
	return NULL;
}

/* Copies our executable to dir/corrupt-KIND.elf, maps it, scribbles. */
/* --flip: the fields map_corrupt scribbled, with both their values. */
static struct flip {
	void *at;
	uint64_t good, bad;
	size_t size;
} flips[8];
static size_t nflips;

static void flip_add(void *at, size_t size, uint64_t bad)
{
	struct flip *f = &flips[nflips++];

	f->at = at;
	f->size = size;
	memcpy(&f->good, at, size);
	f->bad = bad;
	memcpy(at, &f->bad, size);
}

static void *flipper(void *arg)
{
	(void)arg;
	for (unsigned long i = 0;; i++)
		for (size_t k = 0; k < nflips; k++)
			memcpy(flips[k].at, (i & 1) ? &flips[k].good : &flips[k].bad, flips[k].size);
	return NULL;
}

static char *map_corrupt(const char *dir, const char *kind)
{
	char path[4200], buf[65536];
	int in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC), out;
	ssize_t n;
	struct stat st;
	char *img;
	Elf64_Ehdr *eh;

	snprintf(path, sizeof(path), "%s/corrupt-%s.elf", dir, kind);
	out = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (in < 0 || out < 0)
		die(path);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			die(path);
	close(in);
	if (fstat(out, &st) < 0)
		die(path);
	img = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, out, 0);
	close(out);
	if (img == MAP_FAILED)
		die(path);
	eh = (Elf64_Ehdr *)img;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64) {
		fprintf(stderr, "hostile: %s is not ELF64\n", path);
		exit(1);
	}
	if (strcmp(kind, "phnum") == 0) {
		flip_add(&eh->e_phnum, sizeof(eh->e_phnum), 0xffff);
	} else if (strcmp(kind, "phoff") == 0) {
		flip_add(&eh->e_phoff, sizeof(eh->e_phoff), (uint64_t)st.st_size + (1u << 20));
	} else if (strcmp(kind, "filesz") == 0) {
		for (unsigned i = 0; i < eh->e_phnum; i++) {
			Elf64_Phdr *ph = (Elf64_Phdr *)(img + eh->e_phoff) + i;

			if (ph->p_type == PT_LOAD) {
				flip_add(&ph->p_filesz, sizeof(ph->p_filesz), UINT64_C(1) << 62);
				break;
			}
		}
	} else if (strcmp(kind, "note") == 0) {
		Elf64_Phdr *seg = NULL;
		Elf64_Nhdr *nh = find_build_id(img, (size_t)st.st_size, &seg);

		if (!nh) {
			fprintf(stderr, "hostile: %s has no build-id note to truncate\n", path);
			exit(1);
		}
		/* The descriptor now runs past the end of its segment. */
		flip_add(&nh->n_descsz, sizeof(nh->n_descsz), seg->p_filesz + 4096);
	}
	return img;
}

static int kind_index(const char *k, size_t len)
{
	for (size_t i = 0; i < NKINDS; i++)
		if (strlen(elf_kinds[i]) == len && memcmp(elf_kinds[i], k, len) == 0)
			return (int)i;
	return -1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hostile [-s FILE] [-t N] [-b SIZE] [--zombie-leader]\n"
		"               [--corrupt-elf none,phnum,phoff,filesz,note] [--flip] [--uffd]\n"
		"               [--uid UID] [--nondumpable] [--storm] [--reader-of MNT]\n"
		"               [--fuse-server DIR [--fuse-lib LIB]]\n");
}

int main(int argc, char **argv)
{
	enum { O_ZOMBIE = 256, O_CORRUPT, O_UFFD, O_UID, O_NONDUMP, O_STORM, O_READER, O_FUSE,
	       O_FUSELIB, O_FLIP };
	static const struct option longopts[] = {
		{ "status", required_argument, NULL, 's' },
		{ "threads", required_argument, NULL, 't' },
		{ "buf-size", required_argument, NULL, 'b' },
		{ "zombie-leader", no_argument, NULL, O_ZOMBIE },
		{ "corrupt-elf", required_argument, NULL, O_CORRUPT },
		{ "uffd", no_argument, NULL, O_UFFD },
		{ "uid", required_argument, NULL, O_UID },
		{ "nondumpable", no_argument, NULL, O_NONDUMP },
		{ "storm", no_argument, NULL, O_STORM },
		{ "reader-of", required_argument, NULL, O_READER },
		{ "fuse-server", required_argument, NULL, O_FUSE },
		{ "fuse-lib", required_argument, NULL, O_FUSELIB },
		{ "flip", no_argument, NULL, O_FLIP },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *status_path = NULL, *corrupt = NULL, *fuse_dir = NULL, *fuse_lib = NULL;
	bool zombie = false, uffd = false, nondump = false, do_storm = false, flip = false;
	long nworkers = 3, uid = -1;
	size_t buflen = 1 << 20;
	char *elf_img[NKINDS] = { NULL }, *uffd_region = NULL, *fuse_map = NULL;
	char status[4096], dir[4096];
	size_t slen = 0;
	uint64_t *buf;
	pthread_t t;
	int opt;

	while ((opt = getopt_long(argc, argv, "s:t:b:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's': status_path = optarg; break;
		case 't': nworkers = strtol(optarg, NULL, 10); break;
		case 'b': buflen = (size_t)strtoull(optarg, NULL, 0); break;
		case O_ZOMBIE: zombie = true; break;
		case O_CORRUPT: corrupt = optarg; break;
		case O_UFFD: uffd = true; break;
		case O_UID: uid = strtol(optarg, NULL, 10); break;
		case O_NONDUMP: nondump = true; break;
		case O_STORM: do_storm = true; break;
		case O_READER: reader_mnt = optarg; break;
		case O_FUSE: fuse_dir = optarg; break;
		case O_FUSELIB: fuse_lib = optarg; break;
		case O_FLIP: flip = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || nworkers < 0 || nworkers > 1000 || buflen == 0) {
		usage(stderr);
		return 2;
	}
	page = sysconf(_SC_PAGESIZE);
	buflen = (buflen + (size_t)page - 1) / (size_t)page * (size_t)page;
	pthread_attr_init(&detached);
	pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);

	buf = mmap(NULL, buflen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		die("buffer");
	for (size_t i = 0; i < buflen / 8; i++)
		buf[i] = (uint64_t)(uintptr_t)&buf[i];

	/* Copies of the ELF go next to the status file (the test's own dir). */
	snprintf(dir, sizeof(dir), "%s", status_path ? status_path : "./x");
	*(strrchr(dir, '/') ? strrchr(dir, '/') : dir) = '\0';
	if (!dir[0])
		snprintf(dir, sizeof(dir), ".");
	while (corrupt && *corrupt) {
		size_t len = strcspn(corrupt, ",");
		int k = kind_index(corrupt, len);

		if (k < 0) {
			fprintf(stderr, "hostile: unknown --corrupt-elf kind '%.*s'\n", (int)len, corrupt);
			return 2;
		}
		elf_img[k] = map_corrupt(dir, elf_kinds[k]);
		corrupt += len + (corrupt[len] == ',');
	}
	if (flip && pthread_create(&t, &detached, flipper, NULL))
		die("flip thread");
	if (uffd)
		uffd_region = setup_uffd();
	if (fuse_lib && !fuse_dir) {
		usage(stderr);
		return 2;
	}
	if (fuse_lib)
		read_lib(fuse_lib);
	if (fuse_dir)
		fuse_map = setup_fuse(fuse_dir);
	if (fuse_lib)
		run_lib(fuse_dir);

	for (long i = 0; i < nworkers; i++)
		if (pthread_create(&t, &detached, sleeper, NULL))
			die("worker thread");
	if (zombie && pthread_create(&t, &detached, ticker, NULL))
		die("ticker thread");
	for (int i = 0; do_storm && i < STORM_CHAINS; i++)
		if (pthread_create(&t, &detached, storm_thread, NULL))
			die("storm thread");
	if (reader_mnt && pthread_create(&t, &detached, reader, NULL))
		die("reader thread");

	if (uid >= 0 && (setresgid((gid_t)uid, (gid_t)uid, (gid_t)uid) ||
			 setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid)))
		die("setresuid");
	/* A change of uid has just cleared it: say what we want explicitly. */
	if ((uid >= 0 || nondump) && prctl(PR_SET_DUMPABLE, nondump ? 0 : 1, 0, 0, 0))
		die("PR_SET_DUMPABLE");

	status_add(status, sizeof(status), &slen, "pid %d\n", (int)getpid());
	status_add(status, sizeof(status), &slen, "threads %ld\n",
		   nworkers + 1 + (zombie ? 1 : 0) + (uffd ? 1 : 0) + (reader_mnt ? 1 : 0) +
		   (fuse_dir ? 1 : 0) + (fuse_lib ? 1 : 0) + (flip ? 1 : 0));
	status_add(status, sizeof(status), &slen, "buf %p\n", (void *)buf);
	status_add(status, sizeof(status), &slen, "buflen %zu\n", buflen);
	status_add(status, sizeof(status), &slen, "counter %p\n", (void *)&counter);
	if (do_storm)
		status_add(status, sizeof(status), &slen, "storm %p\n", (void *)&storm);
	for (size_t k = 0; k < NKINDS; k++)
		if (elf_img[k])
			status_add(status, sizeof(status), &slen, "elf_%s %p\n", elf_kinds[k],
				   (void *)elf_img[k]);
	if (uffd_region) {
		status_add(status, sizeof(status), &slen, "uffd %p\n", (void *)uffd_region);
		status_add(status, sizeof(status), &slen, "uffdlen %u\n", UFFD_LEN);
		status_add(status, sizeof(status), &slen, "uffd_touched %u\n", UFFD_LEN / 2);
		status_add(status, sizeof(status), &slen, "uffd_faults %p\n", (void *)&uffd_faults);
	}
	if (fuse_map) {
		status_add(status, sizeof(status), &slen, "fuse %p\n", (void *)fuse_map);
		status_add(status, sizeof(status), &slen, "fuselen %u\n", FUSE_LEN);
	}
	if (fuse_lib)
		status_add(status, sizeof(status), &slen, "spintid %d\n", atomic_load(&spin_tid));
	if (reader_mnt) {
		status_add(status, sizeof(status), &slen, "reader_ok %p\n", (void *)&reader_ok);
		status_add(status, sizeof(status), &slen, "reader_deadlk %p\n", (void *)&reader_deadlk);
		status_add(status, sizeof(status), &slen, "reader_other %p\n", (void *)&reader_other);
		status_add(status, sizeof(status), &slen, "reader_errno %p\n", (void *)&reader_errno);
	}
	if (status_path && status_publish(status_path, status, sizeof(status), slen))
		die("status file");

	if (zombie)
		pthread_exit(NULL);
	ticker(NULL);
	return 0;
}
