#!/usr/bin/env python3
"""mount suite, -o snapshot (issue 14): the target stops only for a fork,
runs on while mounted, and the mount serves the frozen clone: mem stands
still while /proc/PID/mem moves, registers are those of the freeze, a
read(2) the injection interrupted restarts unharmed, the unmount leaves no
clone, no zombie, and the target's maps and signal state as they were.
Checked from outside against /proc. TAP through harness.py.
"""
import errno
import os
import select
import shutil
import struct
import subprocess
import sys
import time

from harness import (PTRACEFS, Skip, check, killed_at, none_stopped, refusal, run, syscall_sp_pc, tap_check, task_states,
                     tracer_pid, wait_until)

# The main thread blocks in read(2) on a pipe, called through ctypes so
# that an EINTR (or a leaked 512) is seen, not retried; a second thread
# bumps a counter in memory; -n idle threads more.
SNAP_TARGET = r'''
import ctypes, os, sys, threading, time
libc = ctypes.CDLL(None, use_errno=True)
counter = ctypes.c_uint64(0)
r, w = os.pipe()
def count():
    while True:
        counter.value += 1
        time.sleep(0.001)
threading.Thread(target=count, daemon=True, name="counter").start()
for i in range(int(sys.argv[1])):
    threading.Thread(target=lambda: time.sleep(1e6), daemon=True).start()
print("counter", hex(ctypes.addressof(counter)), w, flush=True)
buf = ctypes.create_string_buffer(1)
while True:
    n = libc.read(r, buf, 1)
    print("read", n, ctypes.get_errno(), flush=True)
'''


class Snap:
    def __init__(self, c, idle=0):
        self.proc = subprocess.Popen([sys.executable, '-c', SNAP_TARGET, str(idle)],
                                     stdout=subprocess.PIPE, text=True)
        self.pid = self.proc.pid
        c.undo.append(self.stop)
        line = self.proc.stdout.readline().split()
        check(line and line[0] == 'counter', f'target said {line}')
        self.counter_addr, self.wfd = int(line[1], 16), int(line[2])
        check(wait_until(lambda: len(task_states(self.pid)) == 2 + idle, 5), 'threads did not start')
        check(wait_until(self.main_blocked, 5), 'main thread never blocked in read')

    def main_blocked(self):
        with open(f'/proc/{self.pid}/task/{self.pid}/syscall') as f:
            return f.read().split()[0] == '0'

    def counter(self, path=None):
        with open(path or f'/proc/{self.pid}/mem', 'rb') as f:
            return struct.unpack('<Q', os.pread(f.fileno(), 8, self.counter_addr))[0]

    def counter_moves(self, timeout=2.0):
        c0 = self.counter()
        return wait_until(lambda: self.counter() != c0, timeout, 0.005)

    def said(self, timeout):
        """A line the target printed within timeout, or None."""
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return self.proc.stdout.readline().split() if r else None

    def tids(self):
        return sorted(int(t) for t in os.listdir(f'/proc/{self.pid}/task'))

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def kv(text):
    return dict(line.split(' ', 1) for line in text.decode().splitlines())


def regs(m, tid):
    return {k: int(v, 16) for k, v in
            (line.split() for line in m.read('threads', str(tid), 'regs').decode().splitlines())}


def signal_state(pid):
    """Per thread, what signal state /proc shows (masks, pending, handlers)."""
    out = {}
    for t in os.listdir(f'/proc/{pid}/task'):
        with open(f'/proc/{pid}/task/{t}/status') as f:
            out[t] = [l for l in f if l.split(':')[0] in
                      ('SigPnd', 'ShdPnd', 'SigBlk', 'SigIgn', 'SigCgt')]
    return out


def children(pid):
    """Processes whose parent is pid, with their state letter."""
    out = {}
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                with open(f'/proc/{d}/stat') as f:
                    fields = f.read().rsplit(')', 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out[int(d)] = fields[0]
    return out


def maps_of(pid):
    with open(f'/proc/{pid}/maps') as f:
        return f.read()


def released(t, clone, maps_before, sig_before):
    check(wait_until(lambda: not children(t.pid), 3), f'children left: {children(t.pid)}')
    check(not os.path.exists(f'/proc/{clone}'), f'clone {clone} still exists')
    check(tracer_pid(t.pid) == 0, 'target traced after the unmount')
    check(none_stopped(t.pid), f'stopped threads: {task_states(t.pid)}')
    check(t.counter_moves(), 'counter stands still after the unmount')
    check(maps_of(t.pid) == maps_before, 'the target maps something new (or lost a mapping)')
    check(signal_state(t.pid) == sig_before, 'signal masks, pending sets or handlers changed')


@tap_check('snapshot: target runs, mem and regs frozen, read(2) restarted, nothing left after')
def _(c):
    t = Snap(c)
    sp, pc = syscall_sp_pc(t.pid, t.pid)
    maps_before, sig_before = maps_of(t.pid), signal_state(t.pid)
    m = c.mount(t.pid, ('-o', 'snapshot'))
    st = kv(m.read('status'))
    check(st['state'] == 'snapshot', f'state {st["state"]}')
    clone = int(st['clone'])
    check(float(st['freeze_ms']) > 0 and float(st['fork_ms']) > 0, f'status: {st}')
    check(int(st['cow']) >= 0 and st['snapshots'] == '1', f'status: {st}')
    check(st.get('kill_safe') == 'yes', f'kill_safe {st.get("kill_safe")}: no net on x86_64')
    print(f'# freeze {st["freeze_ms"]} ms, fork {st["fork_ms"]} ms, cow {st["cow"]}')
    check(children(t.pid) == {clone: 't'}, f'children of the target: {children(t.pid)}')
    check(tracer_pid(t.pid) == 0 and none_stopped(t.pid), 'the target is still held')
    check(t.counter_moves(), 'counter stands still while mounted')
    # one instant: mem stands still while the target's own moves
    f0, l0 = t.counter(m.path('mem')), t.counter()
    time.sleep(1)
    f1, l1 = t.counter(m.path('mem')), t.counter()
    check(f0 == f1, f'mem moved: {f0} then {f1}')
    check(l1 > l0 > f1, f'live {l0} then {l1}, frozen {f1}')
    check(sorted(int(x) for x in os.listdir(m.path('threads'))) == t.tids(), 'threads/ differs')
    # regs: the read the main thread was (and is) blocked in
    r = regs(m, t.pid)
    check(r['rsp'] == sp and r['rip'] in (pc, pc - 2), f'regs rsp/rip {r["rsp"]:#x}/{r["rip"]:#x}, '
          f'/proc said {sp:#x}/{pc:#x}')
    check(r['orig_rax'] == 0, f'orig_rax {r["orig_rax"]}: not in read(2)')
    check(regs(m, t.pid) == r, 'regs changed between two reads')
    # the injection interrupted that read: it must have restarted, silently
    check(t.said(0.3) is None, 'read(2) returned without data')
    with open(f'/proc/{t.pid}/fd/{t.wfd}', 'wb', buffering=0) as w:
        w.write(b'x')
    line = t.said(5)
    check(line == ['read', '1', '0'], f'read(2) after the snapshot: {line}')
    check(m.unmount() == 0, 'daemon exit status')
    released(t, clone, maps_before, sig_before)


@tap_check('snapshot: the core of the snapshot loads in gdb with the frozen counter')
def _(c):
    if not shutil.which('gdb'):
        print('# gdb not installed: core not loaded')
        return
    t = Snap(c)
    m = c.mount(t.pid, ('-o', 'snapshot'))
    frozen = t.counter(m.path('mem'))
    core = os.path.join(c.tmp, f'core.{t.pid}')
    c.undo.append(lambda: os.path.exists(core) and os.unlink(core))
    shutil.copyfile(m.path('core'), core)
    out = subprocess.run(['gdb', '-q', '-batch', '-ex', 'info threads',
                          '-ex', f'x/gd {t.counter_addr:#x}', sys.executable, core],
                         capture_output=True, text=True, timeout=120).stdout
    check(out.count('Thread 0x') + out.count('LWP ') >= 2, f'gdb threads: {out[-500:]}')
    check(f':\t{frozen}' in out, f'gdb does not read the frozen counter {frozen}: {out[-300:]}')
    check(m.unmount() == 0, 'daemon exit status')


@tap_check('snapshot: 64 idle threads, all listed with registers; clean unmount')
def _(c):
    t = Snap(c, idle=64)
    maps_before, sig_before = maps_of(t.pid), signal_state(t.pid)
    m = c.mount(t.pid, ('-o', 'snapshot'))
    clone = int(kv(m.read('status'))['clone'])
    tids = sorted(int(x) for x in os.listdir(m.path('threads')))
    check(tids == t.tids() and len(tids) == 66, f'{len(tids)} threads listed')
    for tid in tids:
        check(regs(m, tid)['rsp'] != 0, f'thread {tid}: no registers')
    check(t.counter_moves(), 'counter stands still while mounted')
    check(m.unmount() == 0, 'daemon exit status')
    released(t, clone, maps_before, sig_before)


def ctl(m, cmd):
    with open(m.path('ctl'), 'w') as f:
        f.write(cmd + '\n')


def held_by(pid, daemon_tids):
    """Every thread of pid in a ptrace stop (t) with one of ours as its tracer."""
    st = task_states(pid)
    if not st or any(s != 't' for s in st.values()):
        return False
    for tid in st:
        with open(f'/proc/{pid}/task/{tid}/status') as f:
            tracer = int(dict(l.split(':', 1) for l in f)['TracerPid'])
        if tracer not in daemon_tids:
            return False
    return True


def daemon_tids(m):
    """The daemon's thread ids (a TracerPid names the tracing thread)."""
    return {int(t) for t in os.listdir(f'/proc/{m.daemon}/task')}


@tap_check('snapshot: ctl refresh takes a new snapshot, the old clone killed and reaped')
def _(c):
    t = Snap(c)
    m = c.mount(t.pid, ('-o', 'snapshot'))
    old = int(kv(m.read('status'))['clone'])
    before = t.counter(m.path('mem'))
    time.sleep(0.2)
    ctl(m, 'refresh')
    st = kv(m.read('status'))
    new = int(st['clone'])
    check(st['snapshots'] == '2' and new != old, f'after refresh: {st}')
    check(not os.path.exists(f'/proc/{old}'), 'the old clone is left')
    check(children(t.pid) == {new: 't'}, f'children of the target: {children(t.pid)}')
    after = t.counter(m.path('mem'))
    check(after > before, f'the refreshed mem still says {after} (was {before})')
    check(t.counter_moves(), 'counter stands still after the refresh')
    check(tracer_pid(t.pid) == 0 and none_stopped(t.pid), 'the refresh left the target held')
    check(m.unmount() == 0, 'daemon exit status')
    check(wait_until(lambda: not children(t.pid), 3), f'children left: {children(t.pid)}')


@tap_check('snapshot: ctl suspend holds every thread of the target, resume lets it go; '
           'the tree stays the snapshot throughout; a refresh while suspended stays suspended')
def _(c):
    t = Snap(c, idle=3)
    m = c.mount(t.pid, ('-o', 'snapshot'))
    ours = daemon_tids(m)
    clone = int(kv(m.read('status'))['clone'])
    frozen = t.counter(m.path('mem'))
    check(kv(m.read('status'))['target'] == 'running', 'status: target not running')
    ctl(m, 'suspend')
    check(held_by(t.pid, ours), f'after suspend: {task_states(t.pid)}')
    check(not t.counter_moves(0.3), 'the counter moves while suspended')
    st = kv(m.read('status'))
    check(st['target'] == 'suspended' and st['state'] == 'snapshot', f'status: {st}')
    check(int(st['clone']) == clone and t.counter(m.path('mem')) == frozen,
          'suspend changed the snapshot')
    check(children(t.pid) == {clone: 't'}, f'children: {children(t.pid)}')
    ctl(m, 'resume')
    check(wait_until(lambda: tracer_pid(t.pid) == 0 and none_stopped(t.pid), 2),
          f'after resume: {task_states(t.pid)}')
    check(t.counter_moves(), 'the counter stands still after resume')
    check(kv(m.read('status'))['target'] == 'running', 'status after resume')
    check(t.counter(m.path('mem')) == frozen, 'resume changed the snapshot')
    # the read(2) the suspension interrupted restarted unharmed
    check(t.said(0.3) is None, 'read(2) returned without data')
    # suspended, refreshed: a new clone, the old one gone, still held
    ctl(m, 'suspend')
    ctl(m, 'refresh')
    st = kv(m.read('status'))
    new = int(st['clone'])
    check(new != clone and not os.path.exists(f'/proc/{clone}'), f'refresh: {st}')
    check(children(t.pid) == {new: 't'}, f'children after refresh: {children(t.pid)}')
    check(held_by(t.pid, ours), f'after a refresh while suspended: {task_states(t.pid)}')
    check(t.counter(m.path('mem')) > frozen, 'the refresh took no new snapshot')
    # unmount while suspended: the target runs, no child, no tracer
    check(m.unmount() == 0, 'daemon exit status')
    check(wait_until(lambda: not children(t.pid), 3), f'children left: {children(t.pid)}')
    check(wait_until(lambda: tracer_pid(t.pid) == 0 and none_stopped(t.pid), 2),
          f'after unmount: {task_states(t.pid)}')
    check(t.counter_moves(), 'counter stands still after the unmount')
    with open(f'/proc/{t.pid}/fd/{t.wfd}', 'wb', buffering=0) as w:
        w.write(b'x')
    check(t.said(5) == ['read', '1', '0'], 'read(2) after suspend, resume, refresh')


# What a fork does not copy: a small DONTFORK range and a WIPEONFORK range
# (each two pages of a known byte), a 2 MiB DONTFORK range made read-only
# (more than the daemon copies; its own VMA), and a MAP_SHARED page. On a
# line on stdin the target overwrites them all and says "changed".
UNCOPIED_TARGET = r"""
import ctypes, mmap, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
P = mmap.PAGESIZE
def anon(n, flags=mmap.MAP_PRIVATE):
    return mmap.mmap(-1, n, flags=flags, prot=mmap.PROT_READ | mmap.PROT_WRITE)
def addr(m):
    return ctypes.addressof(ctypes.c_char.from_buffer(m))
dc, wf, big, sh = anon(2 * P), anon(2 * P), anon(2 << 20), anon(P, mmap.MAP_SHARED)
dc.madvise(mmap.MADV_DONTFORK); wf.madvise(getattr(mmap, "MADV_WIPEONFORK", 18)); big.madvise(mmap.MADV_DONTFORK)
dc[:] = b'D' * len(dc); wf[:] = b'W' * len(wf); sh[:] = b'S' * len(sh)
big[:P] = b'B' * P
a = [addr(m) for m in (dc, wf, big, sh)]
assert libc.mprotect(a[2], 2 << 20, mmap.PROT_READ) == 0, ctypes.get_errno()
print("ranges", *(hex(x) for x in a), flush=True)
sys.stdin.readline()
assert libc.mprotect(a[2], 2 << 20, mmap.PROT_READ | mmap.PROT_WRITE) == 0
dc[:] = b'd' * len(dc); wf[:] = b'w' * len(wf); sh[:] = b'T' * len(sh); big[:P] = b'b' * P
print("changed", flush=True)
sys.stdin.readline()
"""


def uncopied_target(c):
    """UNCOPIED_TARGET started: the process and its four ranges."""
    p = subprocess.Popen([sys.executable, '-c', UNCOPIED_TARGET], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    c.undo.append(lambda: (p.kill(), p.wait()))
    line = p.stdout.readline().split()
    check(line and line[0] == 'ranges', f'target said {line}')
    return (p, *(int(x, 16) for x in line[1:]))


def status_lines(m, key):
    return [line.split()[1:] for line in m.read('status').decode().splitlines()
            if line.split()[0] == key]


@tap_check('snapshot: dontfork/wipeonfork ranges are the frozen bytes or EIO, never zeros; '
           'status names them and the shared range')
def _(c):
    p, dc, wf, big, sh = uncopied_target(c)
    page = os.sysconf('SC_PAGE_SIZE')
    m = c.mount(p.pid, ('-o', 'snapshot'))
    p.stdin.write('\n')
    p.stdin.flush()
    check(p.stdout.readline().split() == ['changed'], 'the target did not change its ranges')
    nc = {int(r[0].split('-')[0], 16): r[1:] for r in status_lines(m, 'not_copied')}
    shared = [int(r[0].split('-')[0], 16) for r in status_lines(m, 'shared_live')]
    print(f'# not_copied {nc}')
    check(nc.get(dc, [''])[0] == 'dontfork', f'status: dontfork range {dc:#x} not named: {nc}')
    check(nc.get(wf, [''])[0] == 'wipeonfork', f'status: wipeonfork range {wf:#x} not named: {nc}')
    check(nc.get(big) == ['dontfork', 'eio'], f'status: 2 MiB dontfork range {big:#x}: {nc.get(big)}')
    check(sh in shared, f'status: shared range {sh:#x} not named: {shared}')
    fd = os.open(m.path('mem'), os.O_RDONLY)
    try:
        for at, n, want in ((dc, 2 * page, b'D'), (wf, 2 * page, b'W'), (big, page, b'B')):
            how = nc.get(at, ['', ''])[1]
            try:
                got = os.pread(fd, n, at)
                check(how == 'copied', f'{at:#x}: read {got[:8]!r}... but status says {how}')
                check(got == want * n, f'{at:#x}: not the frozen bytes: {got[:8]!r}...')
            except OSError as e:
                check(e.errno == errno.EIO and how == 'eio', f'{at:#x}: {e} (status says {how})')
            check(os.lseek(fd, at, os.SEEK_DATA) == at, f'{at:#x}: SEEK_DATA skips it')
            check(os.lseek(fd, at, os.SEEK_HOLE) >= at + n, f'{at:#x}: SEEK_HOLE inside it')
        # the page past the copied part of the big range: EIO too, not a hole
        try:
            os.pread(fd, page, big + page)
            check(False, 'an uncopied never-touched page read (as zeros)')
        except OSError as e:
            check(e.errno == errno.EIO, f'big range past its first page: {e}')
        # the shared page is live: the target's write shows through
        check(os.pread(fd, page, sh) == b'T' * page, 'the shared page is not live memory')
    finally:
        os.close(fd)
    # core: reads through (the EIO range's bytes are left out of it)
    with open(m.path('core'), 'rb') as f:
        n = 0
        while (b := f.read(1 << 20)):
            n += len(b)
    check(n > 0, 'core is empty')
    check(m.unmount() == 0, 'daemon exit status')


@tap_check('snapshot: dontfork/wipeonfork ranges made after the smaps scan and before the '
           'freeze (snap-scan) are found in the clone: EIO, never zeros')
def _(c):
    if os.environ.get('PTRACEFS_FAULT_INJECTION') != 'true':
        raise Skip('built without -Dfault_injection=true')
    p, dc, wf, big, sh = uncopied_target(c)
    page = os.sysconf('SC_PAGE_SIZE')
    os.environ['PTRACEFS_FAULT'] = 'snap-scan'
    try:
        m = c.mount(p.pid, ('-o', 'snapshot'))
    finally:
        del os.environ['PTRACEFS_FAULT']
    nc = {int(r[0].split('-')[0], 16): r[1:] for r in status_lines(m, 'not_copied')}
    print(f'# not_copied {nc}')
    for at, kind in ((dc, 'dontfork'), (wf, 'wipeonfork'), (big, 'dontfork')):
        check(nc.get(at) == [kind, 'eio'], f'status: {kind} range {at:#x}: {nc.get(at)}')
    check('unknown' not in nc, f'status: {nc}')
    fd = os.open(m.path('mem'), os.O_RDONLY)
    try:
        for at in (dc, wf, big):
            try:
                got = os.pread(fd, page, at)
                check(False, f'{at:#x}: read {got[:8]!r}..., want EIO')
            except OSError as e:
                check(e.errno == errno.EIO, f'{at:#x}: {e}')
    finally:
        os.close(fd)
    check(m.unmount() == 0, 'daemon exit status')


@tap_check('snapshot: -o snapshot with -o live is refused')
def _(c):
    t = Snap(c)
    refusal(c, t.pid, extra=('-o', 'snapshot,live'), want_in_msg='exclude')
    check(tracer_pid(t.pid) == 0, 'traced after the refusal')


# Refusals before any stop (issue 14). The oracle of "no stop": a thread
# blocked in epoll_wait(2) returns EINTR once for each stop of it (see
# signal(7)); the target counts those in memory we read through /proc.
# Its argument first puts it in a state a snapshot must refuse.
EINTR_TARGET = r"""
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
what = sys.argv[1]
if what == 'time':
    assert libc.unshare(0x80) == 0, ctypes.get_errno()          # CLONE_NEWTIME
elif what == 'pid':
    assert libc.unshare(0x20000000) == 0, ctypes.get_errno()    # CLONE_NEWPID
elif what == 'uffd':
    assert libc.syscall(323, 0o2000000) >= 0, ctypes.get_errno()  # userfaultfd(O_CLOEXEC), x86_64
elif what.startswith('seccomp-'):
    # clone (56) -> kill the process, or fail with EPERM; the rest allowed
    ret = {'seccomp-kill': 0x80000000, 'seccomp-errno': 0x00050001}[what]
    class F(ctypes.Structure):
        _fields_ = [('code', ctypes.c_uint16), ('jt', ctypes.c_uint8), ('jf', ctypes.c_uint8),
                    ('k', ctypes.c_uint32)]
    class P(ctypes.Structure):
        _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.POINTER(F))]
    prog = (F * 4)(F(0x20, 0, 0, 0), F(0x15, 0, 1, 56), F(0x06, 0, 0, ret),
                   F(0x06, 0, 0, 0x7fff0000))
    assert libc.prctl(38, 1, 0, 0, 0) == 0                        # PR_SET_NO_NEW_PRIVS
    assert libc.prctl(22, 2, ctypes.byref(P(4, prog)), 0, 0) == 0, ctypes.get_errno()
eintr = ctypes.c_uint64(0)
ep = libc.epoll_create1(0)
ev = ctypes.create_string_buffer(64)
print("eintr", hex(ctypes.addressof(eintr)), flush=True)
while True:
    if libc.epoll_wait(ep, ev, 4, -1) < 0 and ctypes.get_errno() == 4:
        eintr.value += 1
"""


class Quiet:
    """EINTR_TARGET, started with argv prefix pre (setpriv, prlimit)."""

    def __init__(self, c, what='none', pre=()):
        self.proc = subprocess.Popen([*pre, sys.executable, '-c', EINTR_TARGET, what],
                                     stdout=subprocess.PIPE, text=True)
        self.pid = self.proc.pid
        c.undo.append(self.stop)
        line = self.proc.stdout.readline().split()
        check(line and line[0] == 'eintr', f'target said {line} (exit {self.proc.poll()})')
        self.addr = int(line[1], 16)
        check(wait_until(lambda: task_states(self.pid).get(self.pid) == 'S', 5),
              'target never blocked in epoll_wait')

    def eintr(self):
        with open(f'/proc/{self.pid}/mem', 'rb') as f:
            return struct.unpack('<Q', os.pread(f.fileno(), 8, self.addr))[0]

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def untouched(t):
    time.sleep(0.2)
    check(t.eintr() == 0, f'the target was stopped {t.eintr()} time(s)')
    check(tracer_pid(t.pid) == 0 and none_stopped(t.pid), 'the target is held')
    check(not children(t.pid), f'the target has children: {children(t.pid)}')


@tap_check('snapshot refusals: the no-stop oracle works (a plain mount makes epoll_wait say EINTR)')
def _(c):
    t = Quiet(c)
    m = c.mount(t.pid, ('-o', 'snapshot'))
    check(m.unmount() == 0, 'daemon exit status')
    check(wait_until(lambda: t.eintr() >= 1, 2), 'a snapshot stopped the target unseen by the oracle')


@tap_check('snapshot refused before any stop: a pending time namespace (unshare without fork)')
def _(c):
    if os.geteuid() != 0 or not os.path.exists('/proc/self/ns/time_for_children'):
        raise Skip('needs root and time namespaces')
    t = Quiet(c, 'time')
    check(os.readlink(f'/proc/{t.pid}/ns/time') != os.readlink(f'/proc/{t.pid}/ns/time_for_children'),
          'unshare(CLONE_NEWTIME) left no pending namespace')
    refusal(c, t.pid, extra=('-o', 'snapshot'), want_in_msg='time namespace')
    untouched(t)


@tap_check('snapshot refused before any stop: a pending PID namespace (unshare without fork)')
def _(c):
    if os.geteuid() != 0:
        raise Skip('needs root')
    t = Quiet(c, 'pid')
    refusal(c, t.pid, extra=('-o', 'snapshot'), want_in_msg='pid namespace')
    untouched(t)


def uid_tasks(uid):
    n = 0
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                st = dict(l.split(':', 1) for l in open(f'/proc/{d}/status'))
            except (OSError, ValueError):
                continue
            if int(st['Uid'].split()[0]) == uid:
                n += int(st['Threads'])
    return n


@tap_check('snapshot refused before any stop: RLIMIT_NPROC with one slot left; two slots mount')
def _(c):
    if os.geteuid() != 0 or not shutil.which('setpriv') or not shutil.which('prlimit'):
        raise Skip('needs root, setpriv and prlimit')
    nobody = 65534
    drop = ['setpriv', f'--reuid={nobody}', f'--regid={nobody}', '--clear-groups', '--']
    for spare, refused in ((1, True), (2, False)):
        # the target is one more task of its uid: limit = all of them + spare
        limit = uid_tasks(nobody) + 1 + spare
        t = Quiet(c, pre=['prlimit', f'--nproc={limit}:{limit}', *drop])
        check(uid_tasks(nobody) + spare == limit, 'another process of uid nobody came or went')
        if refused:
            refusal(c, t.pid, extra=('-o', 'snapshot'), want_in_msg='RLIMIT_NPROC')
            untouched(t)
        else:
            m = c.mount(t.pid, ('-o', 'snapshot'))
            check(m.unmount() == 0, 'daemon exit status')
            check(wait_until(lambda: not children(t.pid), 2), f'children: {children(t.pid)}')
        t.stop()


def pids_cgroup_root():
    for d in ('/sys/fs/cgroup/pids', '/sys/fs/cgroup'):
        if os.path.exists(os.path.join(d, 'cgroup.procs')) and (
                d.endswith('pids') or 'pids' in open(os.path.join(d, 'cgroup.controllers')).read()):
            return d
    return None


@tap_check('snapshot refused before any stop: pids cgroup with one task left; two left mount')
def _(c):
    root = pids_cgroup_root()
    if os.geteuid() != 0 or not root or not os.access(root, os.W_OK):
        raise Skip('no writable pids cgroup')
    for spare, refused in ((1, True), (2, False)):
        t = Quiet(c)
        cg = os.path.join(root, f'ptracefs-test-{t.pid}')
        os.mkdir(cg)
        try:
            with open(os.path.join(cg, 'cgroup.procs'), 'w') as f:
                f.write(str(t.pid))
            cur = int(open(os.path.join(cg, 'pids.current')).read())
            with open(os.path.join(cg, 'pids.max'), 'w') as f:
                f.write(str(cur + spare))
            if refused:
                refusal(c, t.pid, extra=('-o', 'snapshot'), want_in_msg='pids cgroup')
                untouched(t)
            else:
                m = c.mount(t.pid, ('-o', 'snapshot'))
                check(m.unmount() == 0, 'daemon exit status')
                check(wait_until(lambda: not children(t.pid), 2), f'children: {children(t.pid)}')
        finally:
            t.stop()
            wait_until(lambda: int(open(os.path.join(cg, 'pids.current')).read()) == 0, 2)
            os.rmdir(cg)


@tap_check('snapshot refused before any stop: a userfaultfd')
def _(c):
    t = Quiet(c, 'uffd')
    refusal(c, t.pid, extra=('-o', 'snapshot'), want_in_msg='userfaultfd')
    untouched(t)


@tap_check('snapshot under a seccomp filter that kills (or fails) clone(): with CAP_SYS_ADMIN '
           'the filter is suspended and the target lives; without it, refused before any stop')
def _(c):
    if os.geteuid() != 0 or not shutil.which('setpriv'):
        raise Skip('needs root and setpriv')
    with open('/proc/self/status') as f:
        caps = int(dict(l.split(':', 1) for l in f)['CapEff'], 16)
    if not caps >> 21 & 1:
        raise Skip('no CAP_SYS_ADMIN to suspend the filter with')
    for what in ('seccomp-kill', 'seccomp-errno'):
        t = Quiet(c, what)
        with open(f'/proc/{t.pid}/status') as f:
            check(dict(l.split(':', 1) for l in f)['Seccomp'].strip() == '2', 'no filter')
        # without CAP_SYS_ADMIN (dropped from the bounding set): refused
        mnt = os.path.join(c.tmp, f'nocap-{t.pid}')
        os.mkdir(mnt)
        r = subprocess.run(['setpriv', '--bounding-set=-sys_admin', '--', PTRACEFS, '-o',
                            'snapshot', str(t.pid), mnt], capture_output=True, timeout=30)
        err = r.stderr.decode(errors='replace').strip()
        check(r.returncode != 0 and len(err.splitlines()) == 1 and 'seccomp' in err,
              f'{what} without CAP_SYS_ADMIN: exit {r.returncode}, {err!r}')
        check(not os.path.ismount(mnt), 'a mount was left behind')
        untouched(t)
        # with it: the clone is made under PTRACE_O_SUSPEND_SECCOMP
        m = c.mount(t.pid, ('-o', 'snapshot'))
        clone = int(kv(m.read('status'))['clone'])
        check(t.proc.poll() is None, f'{what}: the target died: {t.proc.returncode}')
        check(children(t.pid) == {clone: 't'}, f'{what}: children {children(t.pid)}')
        check(m.unmount() == 0, 'daemon exit status')
        check(wait_until(lambda: not children(t.pid), 3), f'children left: {children(t.pid)}')
        time.sleep(0.2)
        check(t.proc.poll() is None, f'{what}: the target died after: {t.proc.returncode}')
        check(tracer_pid(t.pid) == 0 and none_stopped(t.pid), 'the target is held')
        t.stop()


@tap_check('snapshot: a run reaps only zombies with exit signal 0; the target\'s own zombie stays its own')
def _(c):
    # the target forks a child that exits at once and is never waited for:
    # a zombie with exit signal SIGCHLD, which is the target's to reap
    p = subprocess.Popen([sys.executable, '-c',
                          'import os, sys, time\n'
                          'pid = os.fork()\n'
                          'if pid == 0: os._exit(7)\n'
                          'print(pid, flush=True)\n'
                          'sys.stdin.readline()\n'
                          'print(os.waitpid(pid, 0)[1] >> 8, flush=True)\n'
                          'time.sleep(1e6)\n'],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    c.undo.append(lambda: (p.kill(), p.wait()))
    kid = int(p.stdout.readline())
    check(wait_until(lambda: children(p.pid) == {kid: 'Z'}, 2), f'children {children(p.pid)}')
    for extra in ((), ('-o', 'snapshot')):
        m = c.mount(p.pid, extra)
        check(m.unmount() == 0, 'daemon exit status')
        check(wait_until(lambda: children(p.pid) == {kid: 'Z'}, 2),
              f'after a mount {extra}: children {children(p.pid)}')
    p.stdin.write('\n')
    p.stdin.flush()
    check(p.stdout.readline().split() == ['7'], 'the target could not reap its own child')


# -o freeze_timeout: one deadline on the whole freeze. A test-build fault
# point makes one step slow (1 s) past a 200 ms deadline: the attach
# (sleep-attach, 2 s), between the capture and the clone (snap-slow), or
# the injected clone() itself (snap-slow-clone: the thread is set up, the
# call starts late, times out under way and its clone is undone).
def thread_tracers(pid):
    """{tid: TracerPid} of every thread of pid."""
    out = {}
    for tid in os.listdir(f'/proc/{pid}/task'):
        try:
            with open(f'/proc/{pid}/task/{tid}/status') as f:
                out[int(tid)] = int(dict(l.split(':', 1) for l in f)['TracerPid'])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out


def task_children(pid):
    """What /proc/PID/task/*/children lists, all threads together."""
    out = []
    for tid in os.listdir(f'/proc/{pid}/task'):
        try:
            with open(f'/proc/{pid}/task/{tid}/children') as f:
                out += f.read().split()
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out


def runs_as_before(t, point, maps_before, sig_before):
    """The Snap target t runs with its maps and signal state as before, and
    the read(2) a freeze interrupted restarted unharmed."""
    check(t.counter_moves(), f'{point}: the counter stands still')
    check(maps_of(t.pid) == maps_before, f'{point}: the target maps something new (or lost one)')
    check(signal_state(t.pid) == sig_before, f'{point}: signal masks, pending sets or handlers changed')
    check(t.said(0.3) is None, f'{point}: read(2) returned without data')
    with open(f'/proc/{t.pid}/fd/{t.wfd}', 'wb', buffering=0) as w:
        w.write(b'x')
    line = t.said(5)
    check(line == ['read', '1', '0'], f'{point}: read(2) after: {line}')


def freeze_timeout_check(point):
    def fn(c):
        if os.environ.get('PTRACEFS_FAULT_INJECTION') != 'true':
            raise Skip('built without -Dfault_injection=true')
        t = Snap(c, idle=2)
        maps_before, sig_before = maps_of(t.pid), signal_state(t.pid)
        os.environ['PTRACEFS_FAULT'] = point
        t0 = time.monotonic()
        try:
            err = refusal(c, t.pid, extra=('-o', 'snapshot,freeze_timeout=200'),
                          want_in_msg='the freeze took longer than 200 ms (freeze_timeout)')
        finally:
            del os.environ['PTRACEFS_FAULT']
        took = time.monotonic() - t0
        print(f'# {point}: refused after {took:.2f} s: {err.strip()}')
        check(took < 10, f'{point}: the refusal took {took:.1f} s')
        # all undone: no thread traced or stopped, no child, the target runs
        check(wait_until(lambda: not any(thread_tracers(t.pid).values()), 2),
              f'{point}: traced threads: {thread_tracers(t.pid)}')
        check(wait_until(lambda: none_stopped(t.pid), 2), f'{point}: stopped: {task_states(t.pid)}')
        check(not task_children(t.pid) and not children(t.pid),
              f'{point}: children of the target: {task_children(t.pid)} {children(t.pid)}')
        runs_as_before(t, point, maps_before, sig_before)
        # and the next mount, without the fault, is an ordinary snapshot
        m = c.mount(t.pid, ('-o', 'snapshot,freeze_timeout=5000'))
        st = kv(m.read('status'))
        clone = int(st['clone'])
        check(st['state'] == 'snapshot' and children(t.pid) == {clone: 't'}, f'status: {st}')
        check(m.unmount() == 0, 'daemon exit status')
        released(t, clone, maps_before, sig_before)
    return fn


for _point in ('sleep-attach', 'snap-slow', 'snap-slow-clone'):
    tap_check(f'snapshot: freeze_timeout=200 with fault {_point}: refused in one line naming the '
              f'timeout, all undone (no tracer, no stop, no child, masks and read(2) intact); '
              f'the next mount works')(freeze_timeout_check(_point))


# The daemon SIGKILLed while the main thread carries the injected clone():
# its registers loaded before the call runs (inject-loaded: the thread
# makes the clone() itself, untraced), the clone made (snap-clone-after),
# the thread being put back (snap-restore). The net puts the thread back by
# itself: the read(2) it was blocked in restarts unharmed, masks and
# pending sets as they were; the clone is at most a zombie with exit
# signal 0 (killed with us, or exited through the net's frame), which
# the next run reaps.
def exit_signal(pid):
    with open(f'/proc/{pid}/stat') as f:
        return int(f.read().rsplit(')', 1)[1].split()[35])


def kill_carrier_check(point):
    def fn(c):
        t = Snap(c, idle=2)
        maps_before, sig_before = maps_of(t.pid), signal_state(t.pid)
        killed_at(c, t.pid, point)
        check(wait_until(lambda: not any(thread_tracers(t.pid).values()), 2),
              f'{point}: traced threads: {thread_tracers(t.pid)}')
        check(wait_until(lambda: none_stopped(t.pid), 2), f'{point}: stopped: {task_states(t.pid)}')
        check(wait_until(lambda: list(children(t.pid).values()) == ['Z'], 2),
              f'{point}: children of the target: {children(t.pid)}, want one zombie')
        kid = list(children(t.pid))[0]
        check(exit_signal(kid) == 0, f'{point}: the zombie {kid} has exit signal {exit_signal(kid)}')
        runs_as_before(t, point, maps_before, sig_before)
        m = c.mount(t.pid)
        check(m.unmount() == 0, 'the next run: daemon exit status')
        check(not children(t.pid), f'{point}: the next run left {children(t.pid)}')
    return fn


for _point in ('inject-loaded', 'snap-clone-after', 'snap-restore'):
    tap_check(f'snapshot: daemon SIGKILLed at {_point}, the main thread carrying the clone(): '
              f'it puts itself back (read(2) restarted, masks intact), the clone at most a '
              f'zombie the next run reaps')(kill_carrier_check(_point))


# The main thread sleeps in nanosleep(2) (restarted through restart_syscall
# after a stop), a second thread blocks in read(2). Each says how its call
# ended.
SLEEPER_TARGET = r'''
import ctypes, os, sys, threading, time
libc = ctypes.CDLL(None, use_errno=True)
class ts(ctypes.Structure):
    _fields_ = [('s', ctypes.c_long), ('ns', ctypes.c_long)]
r, w = os.pipe()
def reader():
    os.read(r, 1)
    print('read', flush=True)
threading.Thread(target=reader, daemon=True).start()
print('ready', flush=True)
t0 = time.monotonic()
rc = libc.nanosleep(ctypes.byref(ts(4, 0)), None)
print('slept', rc, ctypes.get_errno(), round(time.monotonic() - t0, 2), flush=True)
time.sleep(60)      # still there for the next run
'''


@tap_check('snapshot: the daemon SIGKILLed at inject-loaded with the main thread in nanosleep(2): '
           'the clone() is carried by the thread in read(2), so the sleep is not cut short (EINTR)')
def _(c):
    if os.environ.get('PTRACEFS_FAULT_INJECTION') != 'true':
        raise Skip('built without -Dfault_injection=true')
    p = subprocess.Popen([sys.executable, '-c', SLEEPER_TARGET], stdout=subprocess.PIPE, text=True)
    c.undo.append(lambda: (p.kill(), p.wait()))
    check(p.stdout.readline().split() == ['ready'], 'the target did not start')
    time.sleep(0.3)     # both in their calls
    killed_at(c, p.pid, 'inject-loaded')
    check(wait_until(lambda: not any(thread_tracers(p.pid).values()), 2),
          f'traced threads: {thread_tracers(p.pid)}')
    line = p.stdout.readline().split()
    check(line[:3] == ['slept', '0', '0'] and float(line[3]) >= 3.5,
          f'nanosleep(4 s) ended: {line} (want 0 after 4 s, not -1 EINTR)')
    m = c.mount(p.pid)      # reaps the clone's zombie
    check(m.unmount() == 0, 'the next run: daemon exit status')


@tap_check('snapshot: a ctl refresh past freeze_timeout (snap-slow at the refresh) fails with '
           'ETIMEDOUT; the target runs, untraced, with no child')
def _(c):
    if os.environ.get('PTRACEFS_FAULT_INJECTION') != 'true':
        raise Skip('built without -Dfault_injection=true')
    t = Snap(c)
    sig_before = signal_state(t.pid)
    os.environ['PTRACEFS_FAULT'] = 'snap-slow:2'   # the mount's freeze is the 1st
    try:
        m = c.mount(t.pid, ('-o', 'snapshot,freeze_timeout=500'))
    finally:
        del os.environ['PTRACEFS_FAULT']
    old = int(kv(m.read('status'))['clone'])
    fd = os.open(m.path('ctl'), os.O_WRONLY)
    try:
        os.write(fd, b'refresh\n')
        check(False, 'the refresh succeeded')
    except OSError as e:
        check(e.errno == errno.ETIMEDOUT, f'refresh: {e}')
    finally:
        os.close(fd)
    check(b'refresh: ' in m.read('ctl'), f'ctl: {m.read("ctl")}')
    check(not os.path.exists(f'/proc/{old}'), 'the old clone is left')
    check(wait_until(lambda: not any(thread_tracers(t.pid).values()), 2),
          f'traced threads: {thread_tracers(t.pid)}')
    check(wait_until(lambda: none_stopped(t.pid), 2), f'stopped: {task_states(t.pid)}')
    check(wait_until(lambda: not task_children(t.pid), 3), f'children: {task_children(t.pid)}')
    check(t.counter_moves(), 'the counter stands still')
    check(signal_state(t.pid) == sig_before, 'signal masks, pending sets or handlers changed')
    check(m.unmount() is not None, 'the daemon did not exit')


@tap_check('snapshot: a bad freeze_timeout, or one without -o snapshot, is refused')
def _(c):
    t = Snap(c)
    for extra, want in ((('-o', 'snapshot,freeze_timeout=0'), 'invalid freeze_timeout'),
                        (('-o', 'snapshot,freeze_timeout=2s'), 'invalid freeze_timeout'),
                        (('-o', 'snapshot,freeze_timeout=-5'), 'invalid freeze_timeout'),
                        (('-o', 'freeze_timeout=500'), 'for -o snapshot')):
        refusal(c, t.pid, extra=extra, want_in_msg=want)
    check(tracer_pid(t.pid) == 0 and none_stopped(t.pid), 'the target is held')
    check(not children(t.pid), f'children: {children(t.pid)}')


if __name__ == '__main__':
    sys.exit(run())
