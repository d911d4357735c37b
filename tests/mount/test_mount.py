#!/usr/bin/env python3
"""mount suite: the real ptracefs binary against real targets, checked from
outside against what /proc says about the same process. Prints TAP, one
line per check.

Environment (meson test sets it): PTRACEFS_BIN, PTRACEFS_TARGET and
PTRACEFS_CHURN name the programs. Without /dev/fuse, fusermount3 or
ptrace the whole plan is skipped, or fails with PTRACEFS_NO_SKIP=1.

Every check starts its own target and mounts it on a fresh directory;
whatever happens, its finally block unmounts (fusermount3 -uz) and kills
what it started. A watchdog kills the daemon of a check that hangs, which
aborts a read stuck in the mount. This process is a child subreaper, so
daemons that fork into the background stay our children and their exit
status can be checked.
"""
import ctypes
import errno
import os
import re
import select
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

PTRACEFS = os.environ.get('PTRACEFS_BIN', '')
TARGET = os.environ.get('PTRACEFS_TARGET', '')
CHURN = os.environ.get('PTRACEFS_CHURN', '')
NO_SKIP = os.environ.get('PTRACEFS_NO_SKIP') == '1'

PAGE = os.sysconf('SC_PAGE_SIZE')
SAMPLE = 64 << 10            # bytes compared at each end of a mapping
SPECIAL = ('[vvar]', '[vvar_vclock]', '[vsyscall]')   # never data in mem
CHECK_TIMEOUT = 120          # seconds before the watchdog kills the daemon
LIBC = ctypes.CDLL(None, use_errno=True)
PR_SET_CHILD_SUBREAPER = 36
PTRACE_SEIZE = 0x4206


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def wait_until(pred, timeout, step=0.01):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


# ---- /proc, read independently of the code under test ----

def proc_status(pid):
    out = {}
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            k, _, v = line.partition(':')
            out[k] = v.strip()
    return out


def tracer_pid(pid):
    return int(proc_status(pid)['TracerPid'])


def task_states(pid):
    """{tid: state letter} from task/TID/stat; vanished threads are left out."""
    out = {}
    for t in os.listdir(f'/proc/{pid}/task'):
        try:
            with open(f'/proc/{pid}/task/{t}/stat') as f:
                out[int(t)] = f.read().rsplit(')', 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out


def all_states(pid, letters):
    st = task_states(pid)
    return bool(st) and all(s in letters for s in st.values())


def none_stopped(pid):
    st = task_states(pid)
    return bool(st) and not any(s in 'tT' for s in st.values())


def proc_gone(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] in 'ZX'
    except (FileNotFoundError, ProcessLookupError):
        return True


def parse_maps(text):
    """[(start, end, perms, path)] of /proc/PID/maps text."""
    out = []
    for line in text.splitlines():
        parts = line.split(None, 5)
        s, e = parts[0].split('-')
        out.append((int(s, 16), int(e, 16), parts[1], parts[5] if len(parts) > 5 else ''))
    return out


def read_maps(pid):
    with open(f'/proc/{pid}/maps', 'rb') as f:
        return f.read()


def is_data(m):
    return m[2][0] == 'r' and m[3] not in SPECIAL


def is_anon(m):
    """Anonymous memory: its never-populated pages are holes in mem."""
    return m[3] in ('', '[heap]', '[stack]') or m[3].startswith('[anon:')


def pagemap(pid, start, end):
    """Per page of [start, end): present (bit 63) or swapped (bit 62)."""
    n = (end - start) // PAGE
    with open(f'/proc/{pid}/pagemap', 'rb') as f:
        raw = os.pread(f.fileno(), n * 8, start // PAGE * 8)
    return [v >> 62 != 0 for v in struct.unpack(f'<{n}Q', raw)]


def expected_extents(pid, maps, end):
    """Data of mem per maps + pagemap, merged, clipped to end."""
    out = []

    def add(s, e):
        s, e = min(s, end), min(e, end)
        if s >= e:
            return
        if out and out[-1][1] == s:
            out[-1][1] = e
        else:
            out.append([s, e])

    for m in maps:
        if not is_data(m):
            continue
        if not is_anon(m):
            add(m[0], m[1])
            continue
        for i, res in enumerate(pagemap(pid, m[0], m[1])):
            if res:
                add(m[0] + i * PAGE, m[0] + (i + 1) * PAGE)
    return [tuple(x) for x in out]


def seek_extents(fd, end):
    """Data extents of fd by a SEEK_DATA/SEEK_HOLE walk."""
    out, off = [], 0
    while off < end:
        try:
            d = os.lseek(fd, off, os.SEEK_DATA)
        except OSError as e:
            if e.errno == errno.ENXIO:
                break
            raise
        h = os.lseek(fd, d, os.SEEK_HOLE)
        check(off <= d < h <= end, f'seek walk: data at {d:#x}, hole at {h:#x}, from {off:#x}')
        if out and out[-1][1] == d:
            out[-1] = (out[-1][0], h)
        else:
            out.append((d, h))
        off = h
    return out


def syscall_sp_pc(pid, tid):
    """sp and pc of task/TID/syscall ("nr a1..a6 sp pc" or "-1 sp pc")."""
    with open(f'/proc/{pid}/task/{tid}/syscall') as f:
        tok = f.read().split()
    check(len(tok) in (3, 9), f'thread {tid}: syscall file says {" ".join(tok)!r}')
    return int(tok[-2], 16), int(tok[-1], 16)


def mounted(mnt):
    with open('/proc/self/mountinfo') as f:
        for line in f:
            point = re.sub(r'\\([0-7]{3})', lambda m: chr(int(m.group(1), 8)),
                           line.split()[4])
            if point == mnt:
                return True
    return False


def pread_full(fd, n, off):
    out = b''
    while len(out) < n:
        chunk = os.pread(fd, n - len(out), off + len(out))
        if not chunk:
            break
        out += chunk
    return out


# ---- processes this suite starts ----

class Target:
    """A test target (tests/targets) with its status file parsed."""

    def __init__(self, tmp, prog=None, args=()):
        prog = prog or TARGET
        self.statusfile = os.path.join(tempfile.mkdtemp(dir=tmp), 'status')
        self.proc = subprocess.Popen([prog, '-s', self.statusfile, *args],
                                     stdout=subprocess.DEVNULL)
        self.pid = self.proc.pid
        self.info = {}

        def ready():
            if self.proc.poll() is not None:
                raise Fail(f'{prog} exited with {self.proc.returncode}')
            try:
                with open(self.statusfile) as f:
                    text = f.read()
            except FileNotFoundError:
                return False
            return text.endswith('ready\n') and text
        text = wait_until(ready, 5)
        check(text, f'{prog} wrote no status file in 5 s')
        for line in text.splitlines():
            k, _, v = line.partition(' ')
            self.info[k] = int(v, 0) if v else None
        check(self.info['pid'] == self.pid, 'status file names another pid')

    def counter(self):
        with open(f'/proc/{self.pid}/mem', 'rb') as f:
            return struct.unpack('<Q', os.pread(f.fileno(), 8, self.info['counter']))[0]

    def counter_moves(self, timeout=2.0):
        c0 = self.counter()
        return wait_until(lambda: self.counter() != c0, timeout, 0.005)

    def stop(self):
        """SIGTERM (after SIGCONT); SIGKILL after 3 s. The exit status."""
        if self.proc.poll() is None:
            for sig in (signal.SIGCONT, signal.SIGTERM):
                try:
                    os.kill(self.pid, sig)
                except ProcessLookupError:
                    pass
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class Sleeper:
    """A real program: python blocked in time.sleep."""

    def __init__(self):
        self.proc = subprocess.Popen(
            [sys.executable, '-c',
             'import sys, time; print("ready", flush=True); time.sleep(1000)'],
            stdout=subprocess.PIPE)
        self.pid = self.proc.pid
        r, _, _ = select.select([self.proc.stdout], [], [], 10)
        check(r and self.proc.stdout.readline() == b'ready\n', 'python sleeper did not start')
        # past the print, into the sleep
        check(wait_until(lambda: all_states(self.pid, 'S'), 5), 'python sleeper never slept')

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def reap(pid, timeout):
    """Waits for our child pid to exit; its status, or None if still running.
    Not our child (no subreaper): polls /proc and returns 0 when gone."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            p, st = os.waitpid(pid, os.WNOHANG)
            if p == pid:
                return os.waitstatus_to_exitcode(st)
        except ChildProcessError:
            if proc_gone(pid):
                return 0
        if time.monotonic() > deadline:
            return None
        time.sleep(0.01)


LIVE_DAEMONS = set()   # what the watchdog kills
LIVE_MOUNTS = set()


class Mount:
    def __init__(self, tmp, pid):
        self.pid = pid
        self.mnt = tempfile.mkdtemp(dir=tmp)
        self.daemon = None
        self.stderr = ''
        LIVE_MOUNTS.add(self.mnt)

    def start(self, extra=()):
        r = subprocess.run([PTRACEFS, *extra, str(self.pid), self.mnt],
                           capture_output=True, timeout=60)
        self.stderr = r.stderr.decode(errors='replace')
        check(r.returncode == 0,
              f'ptracefs {self.pid} exited {r.returncode}: {self.stderr.strip()}')
        check(wait_until(lambda: mounted(self.mnt), 2), 'no mount after ptracefs returned')
        tracer = wait_until(lambda: tracer_pid(self.pid), 2)
        check(tracer, f'mounted, but nothing traces {self.pid}')
        # TracerPid names the tracing thread; the daemon is its process
        self.daemon = int(proc_status(tracer)['Tgid'])
        LIVE_DAEMONS.add(self.daemon)

    def path(self, *p):
        return os.path.join(self.mnt, *p)

    def read(self, *p):
        with open(self.path(*p), 'rb') as f:
            return f.read()

    def unmount(self):
        """fusermount3 -u; the daemon's exit status (None: still running)."""
        r = subprocess.run(['fusermount3', '-u', self.mnt], capture_output=True, timeout=30)
        check(r.returncode == 0, f'fusermount3 -u: {r.stderr.decode().strip()}')
        st = reap(self.daemon, 10)
        if st is not None:
            LIVE_DAEMONS.discard(self.daemon)
        return st

    def cleanup(self):
        if mounted(self.mnt):
            subprocess.run(['fusermount3', '-uz', self.mnt], capture_output=True, timeout=30)
        if self.daemon and reap(self.daemon, 0) is None:
            kill_daemon(self.daemon)
        LIVE_DAEMONS.discard(self.daemon)
        LIVE_MOUNTS.discard(self.mnt)
        try:
            os.rmdir(self.mnt)
        except OSError:
            pass


def kill_daemon(pid):
    for sig, wait in ((signal.SIGTERM, 3), (signal.SIGKILL, 3)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        if reap(pid, wait) is not None:
            return


def reap_strays(keep):
    """Zombie children we did not start ourselves (auto_unmount helpers
    reparented to us): reap them so they do not pile up."""
    me = os.getpid()
    for d in os.listdir('/proc'):
        if not d.isdigit() or int(d) in keep:
            continue
        try:
            with open(f'/proc/{d}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if fields[0] == 'Z' and int(fields[1]) == me:
            try:
                os.waitpid(int(d), os.WNOHANG)
            except ChildProcessError:
                pass


# An external watchdog for checks that could stop this very process (a
# refusal that fails to refuse): no thread of ours would run then.
WATCHDOG = r'''
import os, signal, subprocess, sys, time
victim, mnt, secs = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
time.sleep(secs)
try:
    with open(f"/proc/{victim}/status") as f:
        tracer = int([l for l in f if l.startswith("TracerPid:")][0].split()[1])
except OSError:
    sys.exit(0)
if tracer:
    os.kill(tracer, signal.SIGKILL)
    subprocess.run(["fusermount3", "-uz", mnt], capture_output=True)
    sys.exit(3)
'''


# ---- the checks ----

CHECKS = []


def tap_check(name):
    def reg(fn):
        CHECKS.append((name, fn))
        return fn
    return reg


class Ctx:
    """What one check started, cleaned up in reverse order."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.undo = []

    def target(self, *a, **kw):
        t = Target(self.tmp, *a, **kw)
        self.undo.append(t.stop)
        return t

    def sleeper(self):
        s = Sleeper()
        self.undo.append(s.stop)
        return s

    def mount(self, pid, extra=()):
        m = Mount(self.tmp, pid)
        self.undo.append(m.cleanup)
        m.start(extra)
        return m

    def close(self):
        for fn in reversed(self.undo):
            try:
                fn()
            except Exception:
                for line in traceback.format_exc().splitlines():
                    print(f'# cleanup: {line}')


def assert_undisturbed(t):
    check(wait_until(lambda: tracer_pid(t.pid) == 0, 2),
          f'TracerPid is {tracer_pid(t.pid)} after the daemon went')
    check(wait_until(lambda: none_stopped(t.pid), 2), f'threads still stopped: {task_states(t.pid)}')
    check(t.counter_moves(), 'progress counter stands still')


@tap_check('ptracefs returns once the mount is ready')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    # no waiting here: the command line promises a usable mount on return
    check(stat.S_ISREG(os.stat(m.path('status')).st_mode), 'status is not there')
    check(m.stderr == '', f'ptracefs printed: {m.stderr.strip()}')


@tap_check('ls of the root shows status maps mem threads')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    names = set(os.listdir(m.mnt))
    check({'status', 'maps', 'mem', 'threads'} <= names, f'root lists {sorted(names)}')


@tap_check('maps is byte-identical to /proc/PID/maps')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    got, want = m.read('maps'), read_maps(t.pid)
    check(got == want, f'maps differs: {len(got)} bytes vs {len(want)} in /proc')
    check(os.stat(m.path('maps')).st_size == len(want), 'st_size of maps is not its length')


@tap_check('status fields match /proc')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    text = m.read('status').decode()
    st = dict(line.split(None, 1) if ' ' in line else (line, '')
              for line in text.splitlines())
    with open(f'/proc/{t.pid}/comm') as f:
        comm = f.read().rstrip('\n')
    want = {
        'pid': str(t.pid),
        'comm': comm,
        'exe': os.readlink(f'/proc/{t.pid}/exe'),
        'arch': os.uname().machine,
        'state': 'suspended',
        'threads': str(len(task_states(t.pid))),
        'mappings': str(len(read_maps(t.pid).splitlines())),
    }
    bad = [f'{k}: {st.get(k)!r}, want {v!r}' for k, v in want.items() if st.get(k) != v]
    check(not bad, '; '.join(bad))
    check(os.stat(m.path('status')).st_size == len(text.encode()), 'st_size of status is not its length')


@tap_check('mem: st_size ends at the highest data mapping, st_blocks and st_blksize')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    maps = parse_maps(read_maps(t.pid).decode())
    st = os.stat(m.path('mem'))
    end = max(x[1] for x in maps if is_data(x))
    check(st.st_size == end, f'st_size {st.st_size:#x}, want {end:#x}')
    data = sum(x[1] - x[0] for x in maps if is_data(x))
    check(0 < st.st_blocks * 512 <= data,
          f'st_blocks {st.st_blocks} for {data} bytes of data mappings')
    check(st.st_blksize == 1 << 20, f'st_blksize {st.st_blksize}, want 1 MiB')


def compare_mem(pid, memfd, procfd, m, start, end):
    """mem vs /proc/PID/mem over [start, end) of mapping m, page by page.
    An absent anonymous page only has to read as zeros from mem (through
    /proc it would be created). Returns how many pages were compared."""
    res = pagemap(pid, start, end)
    for i, present in enumerate(res):
        a = start + i * PAGE
        got = pread_full(memfd, PAGE, a)
        check(len(got) == PAGE, f'short read of mem at {a:#x}: {len(got)}')
        if present or not is_anon(m):
            try:
                want = os.pread(procfd, PAGE, a)
            except OSError as e:
                if e.errno != errno.EIO:
                    raise
                want = bytes(PAGE)    # past the end of a mapped file
        else:
            want = bytes(PAGE)
        check(got == want, f'{"present" if present else "absent"} page {a:#x} of '
              f'{m[3] or "anonymous memory"} differs from /proc/PID/mem')
    return len(res)


@tap_check('mem bytes match /proc/PID/mem in every readable mapping')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    maps = parse_maps(read_maps(t.pid).decode())
    memfd = os.open(m.path('mem'), os.O_RDONLY)
    procfd = os.open(f'/proc/{t.pid}/mem', os.O_RDONLY)
    try:
        pages = 0
        buf, buflen = t.info['buf'], t.info['buflen']
        for x in maps:
            if not is_data(x):
                continue
            head_end = min(x[1], x[0] + SAMPLE)
            pages += compare_mem(t.pid, memfd, procfd, x, x[0], head_end)
            tail = max(head_end, x[1] - SAMPLE)
            pages += compare_mem(t.pid, memfd, procfd, x, tail, x[1])
            if x[0] <= buf < x[1]:
                pages += compare_mem(t.pid, memfd, procfd, x, buf, buf + buflen)
        # the buffer's own encoding, and what is not data reads as zeros
        words = struct.unpack(f'<{buflen // 8}Q', pread_full(memfd, buflen, buf))
        bad = [i for i, w in enumerate(words) if w != buf + 8 * i]
        check(not bad, f'{len(bad)} buffer words wrong, first at {buf + 8 * bad[0]:#x}' if bad else '')
        check(pread_full(memfd, PAGE, t.info['guard']) == bytes(PAGE), 'guard page is not zeros')
        for x in maps:
            if x[3] in ('[vvar]', '[vvar_vclock]'):
                check(pread_full(memfd, PAGE, x[0]) == bytes(PAGE), f'{x[3]} is not zeros')
        check(pages > 100, f'only {pages} pages compared')
    finally:
        os.close(memfd)
        os.close(procfd)


@tap_check('mem: the untouched mapping reads as zeros and stays unpopulated')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    u, ulen = t.info['untouched'], t.info['untouchedlen']
    check(not any(pagemap(t.pid, u, u + ulen)), 'untouched mapping populated before the read')
    with open(m.path('mem'), 'rb', buffering=0) as f:
        for off in range(0, ulen, 1 << 20):
            check(pread_full(f.fileno(), 1 << 20, u + off) == bytes(1 << 20),
                  f'untouched bytes at {u + off:#x} are not zeros')
    n = sum(pagemap(t.pid, u, u + ulen))
    check(n == 0, f'reading it faulted in {n} pages of the target')


@tap_check('SEEK_DATA/SEEK_HOLE walk of mem matches maps and pagemap')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    maps = parse_maps(read_maps(t.pid).decode())
    fd = os.open(m.path('mem'), os.O_RDONLY)
    try:
        end = os.fstat(fd).st_size
        want = expected_extents(t.pid, maps, end)
        got = seek_extents(fd, end)
        if got != want:
            diff = [f'{i}: got {g[0]:#x}-{g[1]:#x} want {w[0]:#x}-{w[1]:#x}'
                    for i, (g, w) in enumerate(zip(got, want)) if g != w][:3]
            raise Fail(f'{len(got)} extents, want {len(want)}; ' + '; '.join(diff))
        for s, e in want:
            mid = s + (e - s) // 2 // PAGE * PAGE
            check(os.lseek(fd, mid, os.SEEK_DATA) == mid, f'SEEK_DATA from {mid:#x} moved')
            if e < end:
                check(os.lseek(fd, e, os.SEEK_HOLE) == e, f'SEEK_HOLE from {e:#x} moved')
    finally:
        os.close(fd)


def shm_path(name):
    return f'/dev/shm/ptracefs-test-{os.getpid()}-{name}'


@tap_check('cp --sparse=always copies mem, readable parts intact')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    dst = shm_path('mem')
    c.undo.append(lambda: os.path.exists(dst) and os.unlink(dst))
    r = subprocess.run(['cp', '--sparse=always', m.path('mem'), dst],
                       capture_output=True, timeout=120)
    check(r.returncode == 0, f'cp: {r.stderr.decode().strip()}')
    src_st, dst_st = os.stat(m.path('mem')), os.stat(dst)
    check(dst_st.st_size == src_st.st_size, f'copy is {dst_st.st_size:#x} bytes')
    maps = parse_maps(read_maps(t.pid).decode())
    data = sum(x[1] - x[0] for x in maps if is_data(x))
    check(dst_st.st_blocks * 512 <= data, f'copy allocates {dst_st.st_blocks * 512} bytes')
    sfd, dfd = os.open(m.path('mem'), os.O_RDONLY), os.open(dst, os.O_RDONLY)
    try:
        for s, e in expected_extents(t.pid, maps, src_st.st_size):
            for a in {s, max(s, e - SAMPLE)}:
                n = min(SAMPLE, e - a)
                check(pread_full(dfd, n, a) == pread_full(sfd, n, a), f'copy differs at {a:#x}')
        buf, buflen = t.info['buf'], t.info['buflen']
        words = struct.unpack(f'<{buflen // 8}Q', pread_full(dfd, buflen, buf))
        check(all(w == buf + 8 * i for i, w in enumerate(words)), 'buffer differs in the copy')
    finally:
        os.close(sfd)
        os.close(dfd)


@tap_check('tar --sparse archives mem')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    dst = shm_path('mem.tar')
    c.undo.append(lambda: os.path.exists(dst) and os.unlink(dst))
    r = subprocess.run(['tar', '--sparse', '-cf', dst, '-C', m.mnt, 'mem'],
                       capture_output=True, timeout=120)
    check(r.returncode == 0, f'tar: {r.stderr.decode().strip()}')
    r = subprocess.run(['tar', '-tvf', dst], capture_output=True, timeout=60)
    size = os.stat(m.path('mem')).st_size
    check(r.returncode == 0 and str(size) in r.stdout.decode(),
          f'tar -tv says {r.stdout.decode().strip()!r}, mem is {size} bytes')
    maps = parse_maps(read_maps(t.pid).decode())
    data = sum(x[1] - x[0] for x in maps if is_data(x))
    check(os.stat(dst).st_size <= data + (1 << 20), f'archive is {os.stat(dst).st_size} bytes')


@tap_check('copying all of mem populates no anonymous page; VmRSS within 4 pages')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    maps = parse_maps(read_maps(t.pid).decode())
    anon = [x for x in maps if is_data(x) and is_anon(x)]
    before = [pagemap(t.pid, x[0], x[1]) for x in anon]
    st0 = proc_status(t.pid)
    dst = shm_path('rss')
    c.undo.append(lambda: os.path.exists(dst) and os.unlink(dst))
    r = subprocess.run(['cp', '--sparse=always', m.path('mem'), dst],
                       capture_output=True, timeout=120)
    check(r.returncode == 0, f'cp: {r.stderr.decode().strip()}')
    st1 = proc_status(t.pid)
    grew = sum(sum(1 for a, b in zip(pagemap(t.pid, x[0], x[1]), was) if a and not b)
               for x, was in zip(anon, before))
    kb = {k: (int(st0[k].split()[0]), int(st1[k].split()[0]))
          for k in ('VmRSS', 'RssAnon', 'RssFile')}
    check(grew == 0, f'{grew} anonymous pages populated by the copy; {kb}')
    check(kb['VmRSS'][1] - kb['VmRSS'][0] <= 4 * PAGE // 1024, f'kB before/after: {kb}')


@tap_check('threads/ lists /proc/PID/task; regs rip/rsp equal task syscall pc/sp')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    tids = sorted(task_states(t.pid))
    listed = sorted(int(x) for x in os.listdir(m.path('threads')))
    check(listed == tids, f'threads/ has {listed}, /proc {tids}')
    for tid in tids:
        text = m.read('threads', str(tid), 'regs').decode()
        regs = {}
        for line in text.splitlines():
            name, val = line.split()
            check(re.fullmatch(r'0x[0-9a-f]+', val), f'regs line {line!r}')
            regs[name] = int(val, 16)
        for name in ('rip', 'rsp', 'rax', 'eflags', 'fs_base', 'orig_rax'):
            check(name in regs, f'thread {tid}: no {name} in regs')
        sp, pc = syscall_sp_pc(t.pid, tid)
        check((regs['rip'], regs['rsp']) == (pc, sp),
              f'thread {tid}: rip {regs["rip"]:#x} rsp {regs["rsp"]:#x}, '
              f'/proc says pc {pc:#x} sp {sp:#x}')
        check(os.stat(m.path('threads', str(tid), 'regs')).st_size == len(text),
              'st_size of regs is not its length')


@tap_check('writes are refused')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    tid = min(task_states(t.pid))
    ops = {
        'open mem O_WRONLY': lambda: os.open(m.path('mem'), os.O_WRONLY),
        'open status O_RDWR': lambda: os.open(m.path('status'), os.O_RDWR),
        'open regs O_WRONLY': lambda: os.open(m.path('threads', str(tid), 'regs'), os.O_WRONLY),
        'truncate maps': lambda: os.truncate(m.path('maps'), 0),
        'mkdir': lambda: os.mkdir(m.path('newdir')),
        'create': lambda: os.open(m.path('newfile'), os.O_WRONLY | os.O_CREAT, 0o600),
        'chmod status': lambda: os.chmod(m.path('status'), 0o600),
        'unlink maps': lambda: os.unlink(m.path('maps')),
    }
    bad = []
    for name, op in ops.items():
        try:
            fd = op()
            if isinstance(fd, int):
                os.close(fd)
            bad.append(f'{name}: allowed')
        except OSError as e:
            if e.errno not in (errno.EACCES, errno.EROFS, errno.EPERM):
                bad.append(f'{name}: {errno.errorcode.get(e.errno, e.errno)}')
    check(not bad, '; '.join(bad))


@tap_check('modes are 0400 for files, 0500 for directories, owned by us')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    tid = min(task_states(t.pid))
    want = {'': 0o500, 'status': 0o400, 'maps': 0o400, 'mem': 0o400, 'threads': 0o500,
            f'threads/{tid}': 0o500, f'threads/{tid}/regs': 0o400}
    bad = []
    for p, mode in want.items():
        st = os.stat(m.path(p) if p else m.mnt)
        kind = stat.S_ISDIR if mode == 0o500 else stat.S_ISREG
        if not kind(st.st_mode) or stat.S_IMODE(st.st_mode) != mode:
            bad.append(f'{p or "/"} is {stat.filemode(st.st_mode)}')
        if (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
            bad.append(f'{p or "/"} owned by {st.st_uid}:{st.st_gid}')
    check(not bad, '; '.join(bad))


@tap_check('while mounted every thread is in tracing stop and nothing moves')
def _(c):
    t = c.target()
    c.mount(t.pid)
    st = task_states(t.pid)
    check(len(st) == t.info['threads'] and all(s == 't' for s in st.values()), f'states {st}')
    check(not t.counter_moves(0.1), 'progress counter moves while mounted')


@tap_check('unmount detaches: daemon exits 0, target runs on')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    st = m.unmount()
    check(st is not None, 'daemon still running 10 s after fusermount3 -u')
    check(st == 0, f'daemon exit status {st}')
    check(not mounted(m.mnt), 'still mounted')
    assert_undisturbed(t)
    check(t.stop() == 0, 'target did not exit cleanly on SIGTERM after unmount')


@tap_check('SIGKILL of the daemon: target runs on, auto_unmount removes the mount')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    os.kill(m.daemon, signal.SIGKILL)
    check(reap(m.daemon, 5) is not None, 'daemon survived SIGKILL')
    assert_undisturbed(t)
    check(wait_until(lambda: not mounted(m.mnt), 5), 'still mounted 5 s after the daemon died')


@tap_check('a job-control stopped target stays stopped after unmount')
def _(c):
    t = c.target()
    os.kill(t.pid, signal.SIGSTOP)
    check(wait_until(lambda: all_states(t.pid, 'T'), 2), f'SIGSTOP: {task_states(t.pid)}')
    m = c.mount(t.pid)
    check(m.unmount() == 0, 'daemon did not exit 0')
    time.sleep(0.2)
    check(all_states(t.pid, 'T'), f'after unmount: {task_states(t.pid)}')
    check(tracer_pid(t.pid) == 0, 'still traced')
    check(not t.counter_moves(0.1), 'a stopped target runs')
    os.kill(t.pid, signal.SIGCONT)
    assert_undisturbed(t)


@tap_check('churning target: every thread stopped, threads/ complete, churns after unmount')
def _(c):
    t = c.target(CHURN)
    m = c.mount(t.pid)
    check(wait_until(lambda: all_states(t.pid, 't'), 1), f'states {task_states(t.pid)}')
    check(not t.counter_moves(0.1), 'threads are still being created')
    listed = sorted(int(x) for x in os.listdir(m.path('threads')))
    check(listed == sorted(task_states(t.pid)), f'threads/ has {listed}')
    check(m.unmount() == 0, 'daemon did not exit 0')
    assert_undisturbed(t)


@tap_check('a real program (python in time.sleep): maps, regs, still runs after unmount')
def _(c):
    s = c.sleeper()
    m = c.mount(s.pid)
    check(m.read('maps') == read_maps(s.pid), 'maps differs from /proc')
    regs = dict(line.split() for line in m.read('threads', str(s.pid), 'regs').decode().splitlines())
    sp, pc = syscall_sp_pc(s.pid, s.pid)
    check((int(regs['rip'], 16), int(regs['rsp'], 16)) == (pc, sp),
          f'rip {regs["rip"]} rsp {regs["rsp"]}, /proc pc {pc:#x} sp {sp:#x}')
    check(m.unmount() == 0, 'daemon did not exit 0')
    check(wait_until(lambda: all_states(s.pid, 'S'), 2), f'states {task_states(s.pid)}')
    check(tracer_pid(s.pid) == 0, 'still traced')
    check(s.proc.poll() is None, 'python exited')


def refusal(c, pid, mnt=None, extra=(), guard=None, want_in_msg=None):
    """ptracefs must exit non-zero with one line on stderr and mount nothing."""
    if mnt is None:
        mnt = tempfile.mkdtemp(dir=c.tmp)
    LIVE_MOUNTS.add(mnt)
    c.undo.append(lambda: mounted(mnt) and
                  subprocess.run(['fusermount3', '-uz', mnt], capture_output=True))
    dog, secs = None, 10
    if guard:
        dog = subprocess.Popen([sys.executable, '-c', WATCHDOG, str(guard), mnt, str(secs)])
    t0 = time.monotonic()
    try:
        r = subprocess.run([PTRACEFS, *extra, str(pid), mnt], capture_output=True, timeout=30)
    finally:
        if dog:
            # if we were frozen until the watchdog struck, let it finish
            if time.monotonic() - t0 < secs - 1:
                dog.kill()
            dog.wait()
            check(dog.returncode != 3,
                  f'ptracefs froze pid {guard} until a watchdog killed the daemon')
    err = r.stderr.decode(errors='replace')
    lines = [x for x in err.splitlines() if x.strip()]
    check(r.returncode != 0, f'exit status 0; stderr {err!r}')
    check(len(lines) == 1, f'stderr is {len(lines)} lines: {err!r}')
    check(not mounted(mnt), 'a mount was left behind')
    if want_in_msg:
        check(want_in_msg in err, f'{want_in_msg!r} not in {err!r}')
    return err


def refusal_check(name, **kw):
    @tap_check(f'refused: {name}')
    def _(c):
        refusal(c, **kw)


refusal_check('pid "abc"', pid='abc')
refusal_check('pid "0"', pid='0')
refusal_check('pid "-5"', pid='-5')


@tap_check('refused: a pid that does not exist')
def _(c):
    p = subprocess.Popen(['true'])
    p.wait()
    check(not os.path.exists(f'/proc/{p.pid}'), 'pid reused already')
    refusal(c, p.pid)


@tap_check('refused: our own pid (the parent of ptracefs)')
def _(c):
    refusal(c, os.getpid(), guard=os.getpid())


@tap_check('refused: our parent (an ancestor of ptracefs)')
def _(c):
    refusal(c, os.getppid(), guard=os.getppid())


@tap_check('refused: a process already traced (strace -p), naming the tracer')
def _(c):
    t = c.target()
    strace = subprocess.Popen(['strace', '-p', str(t.pid), '-o', '/dev/null'],
                              stderr=subprocess.DEVNULL)
    c.undo.append(lambda: (strace.terminate(), strace.wait()))
    check(wait_until(lambda: tracer_pid(t.pid) == strace.pid, 5), 'strace did not attach')
    refusal(c, t.pid, want_in_msg=str(strace.pid))
    check(tracer_pid(t.pid) == strace.pid, 'strace no longer traces the target')


@tap_check('refused: a missing mountpoint')
def _(c):
    t = c.target()
    refusal(c, t.pid, mnt=os.path.join(c.tmp, 'no-such-dir'))
    assert_undisturbed(t)


@tap_check('refused: a mountpoint that is a regular file')
def _(c):
    t = c.target()
    f = os.path.join(tempfile.mkdtemp(dir=c.tmp), 'file')
    open(f, 'w').close()
    refusal(c, t.pid, mnt=f)
    assert_undisturbed(t)


@tap_check('refused: an unknown -o option')
def _(c):
    t = c.target()
    refusal(c, t.pid, extra=('-o', 'bogus'))
    assert_undisturbed(t)


# ---- runner ----

def prerequisites():
    """Why this suite cannot run here, or None."""
    if not os.path.exists('/dev/fuse'):
        return '/dev/fuse is missing'
    try:
        os.close(os.open('/dev/fuse', os.O_RDWR))
    except OSError as e:
        return f'/dev/fuse: {e.strerror}'
    if not shutil.which('fusermount3'):
        return 'fusermount3 is not installed'
    probe = subprocess.Popen(['sleep', '10'])
    try:
        if LIBC.ptrace(PTRACE_SEIZE, probe.pid, None, None) != 0:
            return f'ptrace: {os.strerror(ctypes.get_errno())}'
    finally:
        probe.kill()
        probe.wait()
    return None


def on_timeout(name):
    print(f'# watchdog: "{name}" ran over {CHECK_TIMEOUT} s, killing its daemons', flush=True)
    for d in list(LIVE_DAEMONS):
        try:
            os.kill(d, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for mnt in list(LIVE_MOUNTS):
        subprocess.run(['fusermount3', '-uz', mnt], capture_output=True)


def main():
    for name, path in (('PTRACEFS_BIN', PTRACEFS), ('PTRACEFS_TARGET', TARGET),
                       ('PTRACEFS_CHURN', CHURN)):
        if not os.access(path, os.X_OK):
            print(f'Bail out! {name}={path!r} is not an executable (meson test sets it)')
            return 1
    why = prerequisites()
    if why:
        if NO_SKIP:
            print(f'not ok 1 - prerequisites: {why} (PTRACEFS_NO_SKIP=1)\n1..1')
            return 1
        print(f'1..0 # SKIP {why}')
        return 0
    # daemons that fork into the background stay our children
    LIBC.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    only = os.environ.get('PTRACEFS_MOUNT_ONLY')   # a regex, to run a subset by hand
    tmp = tempfile.mkdtemp(prefix='ptracefs-mount-')
    n = failed = 0
    print(f'TAP version 13\n1..{sum(1 for c in CHECKS if not only or re.search(only, c[0]))}',
          flush=True)
    try:
        for name, fn in CHECKS:
            if only and not re.search(only, name):
                continue
            n += 1
            c = Ctx(tmp)
            dog = threading.Timer(CHECK_TIMEOUT, on_timeout, (name,))
            dog.daemon = True
            dog.start()
            t0 = time.monotonic()
            try:
                fn(c)
                print(f'ok {n} - {name}')
            except Fail as e:
                failed += 1
                print(f'not ok {n} - {name}')
                print(f'# {e}')
            except Exception:
                failed += 1
                print(f'not ok {n} - {name}')
                for line in traceback.format_exc().splitlines():
                    print(f'# {line}')
            finally:
                dog.cancel()
                c.close()
                reap_strays(set())
            print(f'# {time.monotonic() - t0:.2f} s', flush=True)
    finally:
        for mnt in list(LIVE_MOUNTS):
            if mounted(mnt):
                subprocess.run(['fusermount3', '-uz', mnt], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
