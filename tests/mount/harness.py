"""Harness of the mount suite (test_mount.py): /proc read independently
of ptracefs, the processes a check starts (targets, mounts, watchdogs) and
a TAP runner that gives each check a fresh mountpoint and cleans up after
it whatever happens.

This process makes itself a child subreaper, so daemons that fork into the
background stay our children and their exit status can be checked. A
watchdog thread kills the daemons of a check that hangs, which aborts a
read stuck in the mount; an external one guards checks that could stop
this very process.
"""
import ctypes
import errno
import os
import re
import select
import shutil
import signal
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


def untruthful_extents(got, want):
    """None if a seek walk's extents (got) are truthful where it matters:
    every extent of populated data (want) lies inside one of them, and each
    starts and ends on populated data; a short run of unpopulated pages
    between two populated ones may be told as data (it reads as zeros).
    Else what is wrong."""
    starts, ends = {s for s, _ in want}, {e for _, e in want}
    j = 0
    for s, e in want:
        while j < len(got) and got[j][1] <= s:
            j += 1
        if j == len(got) or got[j][0] > s or got[j][1] < e:
            return f'data {s:#x}-{e:#x} is not inside one extent of the seek walk'
    for s, e in got:
        if s not in starts or e not in ends:
            return f'seek walk extent {s:#x}-{e:#x} does not start and end on data'
    return None


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

def settle(mnt):
    """Before an unmount: the kernel sends releases in the background, and
    an unmount drops those the daemon has not read yet, whose handles
    libfuse then leaks (LeakSanitizer fails the ASan build for it). A
    synchronous request queued behind them lets them through: the lookup
    of a name that does not exist, which the kernel never caches here."""
    try:
        os.stat(os.path.join(mnt, '.ptracefs-settle'))
    except OSError:
        pass


class Target:
    """A test target (tests/targets) with its status file parsed."""

    def __init__(self, tmp, prog=None, args=(), **popen):
        prog = prog or TARGET
        self.statusfile = os.path.join(tempfile.mkdtemp(dir=tmp), 'status')
        self.proc = subprocess.Popen([prog, '-s', self.statusfile, *args],
                                     stdout=subprocess.DEVNULL, **popen)
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
        tracer = wait_until(lambda: tracer_pid(self.pid), 0 if '-osnapshot' in extra or
                            'snapshot' in extra else 2)
        if not tracer:   # -o snapshot: the target runs; its clone is traced
            tree = 'tree' in extra or any(e.startswith('tree') for e in extra)
            status = self.read(str(self.pid), 'status') if tree else self.read('status')
            clone = [l.split()[1] for l in status.decode().splitlines()
                     if l.startswith('clone ')]
            tracer = clone and tracer_pid(int(clone[0]))
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
        settle(self.mnt)
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


def reap_strays():
    """Zombie children we did not start ourselves (auto_unmount helpers
    reparented to us): reap them so they do not pile up."""
    me = os.getpid()
    for d in os.listdir('/proc'):
        if not d.isdigit():
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


def writes_allowed(ops, refusals):
    """Runs each {name: operation} that should be refused; what was not,
    or was refused with an errno outside refusals, as a list of lines.
    An operation returning a file descriptor has it closed."""
    bad = []
    for name, op in ops.items():
        try:
            fd = op()
            if isinstance(fd, int):
                os.close(fd)
            bad.append(f'{name}: allowed')
        except OSError as e:
            if e.errno not in refusals:
                bad.append(f'{name}: {errno.errorcode.get(e.errno, e.errno)}')
    return bad


# ---- checks: registry and context ----

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


def killed_at(c, pid, point, extra=('-o', 'snapshot')):
    """ptracefs with PTRACEFS_FAULT=kill:point: the daemon SIGKILLs itself
    there, so the mount is refused in one line. Skips on a build without
    fault injection."""
    if os.environ.get('PTRACEFS_FAULT_INJECTION') != 'true':
        raise Skip('built without -Dfault_injection=true')
    os.environ['PTRACEFS_FAULT'] = f'kill:{point}'
    try:
        return refusal(c, pid, extra=extra, want_in_msg='exited before the mount was ready')
    finally:
        del os.environ['PTRACEFS_FAULT']


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


class Skip(Exception):
    """A check that cannot run on this machine: "# SKIP", or a failure
    with PTRACEFS_NO_SKIP=1."""


def run_checks(programs, only_var, prefix, make_ctx, timeout, on_timeout, after_each,
               finish, tmp_mode=None):
    """The TAP runner of the mount and robust suites: every registered
    check (CHECKS) whose name matches $only_var, each with a fresh context
    from make_ctx(tmp), a watchdog that calls on_timeout(name) after
    timeout seconds, and after_each() once it is cleaned up; finish(tmp)
    at the end. programs: (variable, path) pairs that must be executable.
    Exit status: 0, or 1 on a failure."""
    for name, path in programs:
        if not os.access(path, os.X_OK):
            print(f'Bail out! {name}={path!r} is not an executable (meson test sets it)')
            return 1
    why = prerequisites()
    if why:
        if NO_SKIP:
            print(f'1..1\nnot ok 1 - prerequisites: {why} (PTRACEFS_NO_SKIP=1)')
            return 1
        print(f'1..0 # SKIP {why}')
        return 0
    # daemons that fork into the background stay our children
    LIBC.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    only = os.environ.get(only_var)   # a regex, to run a subset by hand
    todo = [x for x in CHECKS if not only or re.search(only, x[0])]
    tmp = tempfile.mkdtemp(prefix=prefix)
    if tmp_mode is not None:
        os.chmod(tmp, tmp_mode)
    failed = 0
    print(f'TAP version 13\n1..{len(todo)}', flush=True)
    try:
        for n, (name, fn) in enumerate(todo, 1):
            c = make_ctx(tmp)
            dog = threading.Timer(timeout, on_timeout, (name,))
            dog.daemon = True
            dog.start()
            t0 = time.monotonic()
            try:
                fn(c)
                print(f'ok {n} - {name}')
            except Skip as e:
                if NO_SKIP:
                    failed += 1
                    print(f'not ok {n} - {name}\n# would skip: {e} (PTRACEFS_NO_SKIP=1)')
                else:
                    print(f'ok {n} - {name} # SKIP {e}')
            except Fail as e:
                failed += 1
                print(f'not ok {n} - {name}\n# {e}')
            except Exception:
                failed += 1
                print(f'not ok {n} - {name}')
                for line in traceback.format_exc().splitlines():
                    print(f'# {line}')
            finally:
                dog.cancel()
                c.close()
                after_each()
            print(f'# {time.monotonic() - t0:.2f} s', flush=True)
    finally:
        finish(tmp)
    return 1 if failed else 0


def finish(tmp):
    for mnt in list(LIVE_MOUNTS):
        if mounted(mnt):
            subprocess.run(['fusermount3', '-uz', mnt], capture_output=True)
    shutil.rmtree(tmp, ignore_errors=True)


def run():
    return run_checks((('PTRACEFS_BIN', PTRACEFS), ('PTRACEFS_TARGET', TARGET),
                       ('PTRACEFS_CHURN', CHURN)), 'PTRACEFS_MOUNT_ONLY', 'ptracefs-mount-',
                      Ctx, CHECK_TIMEOUT, on_timeout, reap_strays, finish)
