#!/usr/bin/env python3
"""mount suite, live mode and ctl: `-o live` follows a running python3
(threads, mappings, registers of a spinning thread), ctl switches between
suspended and live, refreshes and detaches, and `core`/`stack` stop a live
target only while they need it. Checked from outside against /proc.
TAP through harness.py, like test_mount.py.
"""
import ctypes
import errno
import os
import re
import stat
import struct
import subprocess
import sys
import time

from harness import (check, mounted, none_stopped, all_states, reap, run, syscall_sp_pc,
                     tap_check, task_states, tracer_pid, wait_until)

# A real program: a counter thread, a spinning thread, and commands on stdin.
LIVE_TARGET = r'''
import ctypes, mmap, sys, threading, time
counter = ctypes.c_uint64(0)
def count():
    while True:
        counter.value += 1
        time.sleep(0.001)
def spin():
    x = 0
    while True:
        x += 1
threading.Thread(target=count, daemon=True, name="counter").start()
s = threading.Thread(target=spin, daemon=True, name="spinner")
s.start()
print("counter", hex(ctypes.addressof(counter)), flush=True)
print("spinner", s.native_id, flush=True)
keep = []
for line in sys.stdin:
    cmd = line.strip()
    if cmd == "mmap":
        m = mmap.mmap(-1, 1 << 20)
        m.write(b"LIVEMARK" * 512)
        b = ctypes.c_char.from_buffer(m)
        keep.append((m, b))
        print("mmap", hex(ctypes.addressof(b)), flush=True)
    elif cmd.startswith("open "):
        import os
        try:
            os.close(os.open(cmd[5:], os.O_RDONLY))
            print("open 0", flush=True)
        except OSError as e:
            print("open", e.errno, flush=True)
    elif cmd == "waiter":
        ev = threading.Event()
        started = threading.Event()
        t = threading.Thread(target=lambda: (started.set(), ev.wait()), daemon=True)
        t.start()
        started.wait()
        keep.append((t, ev))
        print("waiter", t.native_id, flush=True)
    elif cmd == "end":
        t, ev = keep.pop()
        ev.set()
        t.join()
        print("end", t.native_id, flush=True)
    elif cmd == "fork":
        import os
        child = os.fork()
        if child == 0:
            time.sleep(1000)
            os._exit(0)
        keep.append(child)
        print("fork", child, flush=True)
    elif cmd == "exec":
        # from a non-leader thread: it takes over the leader's tid, every
        # other thread ends, and the process runs a new program
        import os
        def run():
            print("exec", 0, flush=True)
            os.execv("/bin/sleep", ["sleep", "1000"])
        threading.Thread(target=run).start()
    elif cmd == "thread":
        ev = threading.Event()
        t = threading.Thread(target=lambda: (ev.set(), time.sleep(1000)), daemon=True)
        t.start()
        ev.wait()
        print("thread", t.native_id, flush=True)
'''

# Thread start+join cycles on command, without Live's spinner, whose hold
# on the GIL would make each cycle wait for a switch interval (5 ms).
CYCLES_TARGET = r'''
import sys, threading, time
print("ready", flush=True)
for line in sys.stdin:
    took = []
    for _ in range(int(line)):
        t0 = time.perf_counter()
        t = threading.Thread(target=lambda: None)
        t.start()
        t.join()
        took.append((time.perf_counter() - t0) * 1e3)
    print(",".join(f"{x:.3f}" for x in took), flush=True)
'''


class Live:
    def __init__(self, c):
        self.proc = subprocess.Popen([sys.executable, '-c', LIVE_TARGET], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.pid = self.proc.pid
        c.undo.append(self.stop)
        self.counter_addr = int(self.reply('counter'), 16)
        self.spinner = int(self.reply('spinner'))
        check(wait_until(lambda: len(task_states(self.pid)) == 3, 5), 'threads did not start')
        # the main thread settles in read(0)
        check(wait_until(lambda: self.main_blocked(), 5), 'main thread never blocked')

    def main_blocked(self):
        with open(f'/proc/{self.pid}/task/{self.pid}/syscall') as f:
            return f.read().split()[0] == '0'     # read

    def reply(self, key):
        line = self.proc.stdout.readline().split()
        check(line and line[0] == key, f'target said {line}')
        return line[1]

    def ask(self, cmd):
        self.proc.stdin.write(cmd + '\n')
        self.proc.stdin.flush()
        return self.reply(cmd.split()[0])

    def counter(self):
        with open(f'/proc/{self.pid}/mem', 'rb') as f:
            return struct.unpack('<Q', os.pread(f.fileno(), 8, self.counter_addr))[0]

    def counter_moves(self, timeout=2.0):
        c0 = self.counter()
        return wait_until(lambda: self.counter() != c0, timeout, 0.005)

    def tids(self):
        return sorted(int(t) for t in os.listdir(f'/proc/{self.pid}/task'))

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def regs(m, tid):
    out = {}
    for line in m.read('threads', str(tid), 'regs').decode().splitlines():
        k, v = line.split()
        out[k] = int(v, 16)
    return out


def syscall_matches(r, sp, pc):
    """regs of a thread stopped in a blocking syscall against /proc's sp/pc.
    Stopping it there (PTRACE_INTERRUPT) sets the syscall up to restart: the
    kernel moves rip back over the 2-byte syscall instruction, and /proc may
    have looked before or after that."""
    return r['rsp'] == sp and r['rip'] in (pc, pc - 2)


def kv(text):
    return dict(line.split(' ', 1) for line in text.decode().splitlines())


def undisturbed(t):
    check(wait_until(lambda: tracer_pid(t.pid) == 0, 2), 'still traced after the daemon went')
    check(wait_until(lambda: none_stopped(t.pid), 2), f'stopped threads: {task_states(t.pid)}')
    check(t.counter_moves(), 'counter stands still after unmount')


@tap_check('live: the target runs while mounted; status says live')
def _(c):
    t = Live(c)
    m = c.mount(t.pid, ('-o', 'live'))
    check(kv(m.read('status'))['state'] == 'live', 'status is not live')
    check(t.counter_moves(), 'counter stands still while mounted live')
    check(none_stopped(t.pid), f'threads stopped: {task_states(t.pid)}')
    check(tracer_pid(t.pid) != 0, 'threads are not seized')
    check(sorted(int(x) for x in os.listdir(m.path('threads'))) == t.tids(), 'threads/ differs')
    check(m.unmount() == 0, 'daemon exit status')
    undisturbed(t)


@tap_check('live: a thread created after the mount appears in threads/')
def _(c):
    t = Live(c)
    m = c.mount(t.pid, ('-o', 'live'))
    tid = int(t.ask('thread'))
    check(wait_until(lambda: str(tid) in os.listdir(m.path('threads')), 2),
          f'{tid} not in threads/')
    # it says it started before it blocks: compare once it sleeps
    def sleeping():
        with open(f'/proc/{t.pid}/task/{tid}/syscall') as f:
            return f.read().split()[0] in ('35', '230')   # nanosleep, clock_nanosleep
    check(wait_until(sleeping, 5), 'the new thread never went to sleep')
    sp, pc = syscall_sp_pc(t.pid, tid)
    r = regs(m, tid)
    check(syscall_matches(r, sp, pc), f'new thread rip/rsp {r["rip"]:#x}/{r["rsp"]:#x} '
          f'!= /proc pc/sp {pc:#x}/{sp:#x}')
    st = dict(x.split(' ', 1) for x in m.read('threads', str(tid), 'stat').decode().splitlines())
    check(st['tid'] == str(tid) and st['main'] == 'no', f'stat of the new thread: {st}')
    check(none_stopped(t.pid), 'reading regs left a thread stopped')


@tap_check('live: a new thread does not wait for the tracer\'s poll timeout')
def _(c):
    # The tracer wakes on SIGCHLD; one it misses (issue 19: a clone's new
    # thread stopped before the pass that met it) costs a cycle the whole
    # 200 ms poll timeout. Only some cycles lose that race, as few as 1 in
    # 50: count the cycles that took most of the timeout, not the mean.
    p = subprocess.Popen([sys.executable, '-c', CYCLES_TARGET], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    c.undo.append(lambda: (p.kill(), p.wait()))
    check(p.stdout.readline() == 'ready\n', 'the target did not start')
    c.mount(p.pid, ('-o', 'live'))
    p.stdin.write('200\n')
    p.stdin.flush()
    took = [float(x) for x in p.stdout.readline().split(',')]
    slow = [x for x in took if x > 150]
    mean = sum(took) / len(took)
    print(f'# {len(took)} cycles: mean {mean:.2f} ms, max {max(took):.1f} ms')
    check(len(slow) <= 1 and mean < 50,
          f'{len(slow)} of {len(took)} thread start+join cycles took over 150 ms; '
          f'mean {mean:.1f} ms, median {sorted(took)[len(took) // 2]:.2f} ms')
    check(none_stopped(p.pid), f'threads stopped: {task_states(p.pid)}')


@tap_check('live: a mapping made after the mount is in maps and mem')
def _(c):
    t = Live(c)
    m = c.mount(t.pid, ('-o', 'live'))
    addr = int(t.ask('mmap'), 16)
    maps = m.read('maps')
    with open(f'/proc/{t.pid}/maps', 'rb') as f:
        check(maps == f.read(), 'maps differs from /proc/PID/maps after the mmap')
    check(f'{addr:x}-'.encode() in maps, 'the new mapping is missing')
    with open(m.path('mem'), 'rb') as f:
        check(os.pread(f.fileno(), 16, addr) == b'LIVEMARK' * 2, 'mem misses the new bytes')


@tap_check('live: regs of a spinning thread move; a blocked one matches /proc')
def _(c):
    t = Live(c)
    m = c.mount(t.pid, ('-o', 'live'))
    spinner = t.spinner
    rips = {regs(m, spinner)['rip'] for _ in range(20)}
    check(len(rips) > 1, f'spinner rip never moved: {rips}')
    sp, pc = syscall_sp_pc(t.pid, t.pid)
    r = regs(m, t.pid)
    check(syscall_matches(r, sp, pc), 'blocked main thread regs differ from /proc')
    check(wait_until(lambda: none_stopped(t.pid), 1), f'left stopped: {task_states(t.pid)}')


@tap_check('live: a child forked while mounted is not traced and runs')
def _(c):
    t = Live(c)
    m = c.mount(t.pid, ('-o', 'live'))
    child = int(t.ask('fork'))
    c.undo.append(lambda: (os.kill(child, 9), os.waitpid(child, 0)))
    check(wait_until(lambda: task_states(child).get(child) == 'S', 2),
          f'the child is {task_states(child)}, not sleeping')
    check(tracer_pid(child) == 0, 'the child is traced')
    check(str(child) not in os.listdir(m.path('threads')), 'the child is listed in threads/')
    check(sorted(int(x) for x in os.listdir(m.path('threads'))) == t.tids(), 'threads/ differs')
    check(m.unmount() == 0, 'daemon exit status')
    undisturbed(t)


@tap_check('live: an exec from a non-leader thread: one thread, the new comm, exe, maps, regs')
def _(c):
    t = Live(c)
    m = c.mount(t.pid, ('-o', 'live'))
    t.ask('exec')

    def execed():
        try:
            return os.readlink(f'/proc/{t.pid}/exe').endswith('/sleep') and t.tids() == [t.pid]
        except OSError:
            return False
    check(wait_until(execed, 5), 'the target did not exec')

    def asleep():
        with open(f'/proc/{t.pid}/syscall') as f:
            return f.read().split()[0] in ('35', '230')   # nanosleep, clock_nanosleep
    check(wait_until(asleep, 5), 'sleep never went to sleep')
    # live: the ended threads leave once the tracer has reaped them
    check(wait_until(lambda: sorted(int(x) for x in os.listdir(m.path('threads'))) == [t.pid], 2),
          f'threads/ after the exec: {os.listdir(m.path("threads"))}')
    st = kv(m.read('status'))
    check(st['comm'] == 'sleep', f'status comm {st["comm"]!r} after the exec')
    check(st['exe'] == os.readlink(f'/proc/{t.pid}/exe'), f'status exe {st["exe"]!r}')
    check(st['threads'] == '1', f'status threads {st["threads"]}')
    maps = m.read('maps')
    with open(f'/proc/{t.pid}/maps', 'rb') as f:
        check(maps == f.read(), 'maps differs from /proc/PID/maps after the exec')
    first = int(maps.split(b'-', 1)[0], 16)
    with open(f'/proc/{t.pid}/mem', 'rb') as f:
        want = os.pread(f.fileno(), 64, first)
    with open(m.path('mem'), 'rb') as f:
        check(os.pread(f.fileno(), 64, first) == want, 'mem differs from /proc/PID/mem')
    check(want[:4] == b'\x7fELF', 'the first mapping is not the new ELF image')
    sp, pc = syscall_sp_pc(t.pid, t.pid)
    r = regs(m, t.pid)
    check(syscall_matches(r, sp, pc), 'regs of the exec\'d thread differ from /proc')
    check(m.unmount() == 0, 'daemon exit status')
    check(wait_until(lambda: tracer_pid(t.pid) == 0, 2), 'still traced after the daemon went')
    check(wait_until(lambda: none_stopped(t.pid), 2), f'stopped: {task_states(t.pid)}')


@tap_check('ctl: suspend stops every thread, resume lets them run')
def _(c):
    t = Live(c)
    m = c.mount(t.pid, ('-o', 'live'))
    with open(m.path('ctl'), 'w') as f:
        f.write('suspend\n')
    check(all_states(t.pid, 't'), f'not all stopped: {task_states(t.pid)}')
    check(kv(m.read('status'))['state'] == 'suspended', 'status is not suspended')
    check(not t.counter_moves(0.2), 'counter moves while suspended')
    with open(m.path('ctl'), 'w') as f:
        f.write('resume\n')
    check(none_stopped(t.pid), f'still stopped: {task_states(t.pid)}')
    check(t.counter_moves(), 'counter stands still after resume')
    check(kv(m.read('status'))['state'] == 'live', 'status is not live')


@tap_check('ctl: a default mount resumes on command and suspends again')
def _(c):
    t = Live(c)
    m = c.mount(t.pid)
    check(all_states(t.pid, 't'), 'default mount is not suspended')
    with open(m.path('ctl'), 'w') as f:
        f.write('resume')
    check(t.counter_moves(), 'counter stands still after resume')
    with open(m.path('ctl'), 'w') as f:
        f.write('suspend')
    check(all_states(t.pid, 't'), f'not suspended again: {task_states(t.pid)}')
    check(m.unmount() == 0, 'daemon exit status')
    undisturbed(t)


@tap_check('ctl: refresh picks up a new mapping for an open mem')
def _(c):
    t = Live(c)
    m = c.mount(t.pid, ('-o', 'live'))
    ctl = os.open(m.path('ctl'), os.O_WRONLY)
    mem = os.open(m.path('mem'), os.O_RDONLY)
    try:
        addr = int(t.ask('mmap'), 16)
        check(os.pread(mem, 8, addr) == bytes(8), 'new mapping visible before any refresh')
        os.write(ctl, b'refresh\n')
        check(os.pread(mem, 8, addr) == b'LIVEMARK', 'refresh did not pick up the mapping')
    finally:
        os.close(mem)
        os.close(ctl)


@tap_check('ctl: bad commands are EINVAL and read back as last_error; -o ro refuses writes')
def _(c):
    t = Live(c)
    m = c.mount(t.pid, ('-o', 'live'))
    check(kv(m.read('ctl'))['last_error'] == 'none', 'last_error before any write')
    for bad, why in ((b'bogus\n', "unknown command 'bogus'"), (b'\n', 'empty command'),
                     (b'x' * 5000, 'command too long (5000 bytes)')):
        fd = os.open(m.path('ctl'), os.O_WRONLY)
        try:
            os.write(fd, bad)
            check(False, f'{bad!r} accepted')
        except OSError as e:
            check(e.errno == errno.EINVAL, f'{bad!r}: {e}')
        finally:
            os.close(fd)
        check(kv(m.read('ctl'))['last_error'] == why, f'{bad!r}: ctl reads {m.read("ctl")!r}')
    check(m.unmount() == 0, 'daemon exit status')
    ro = c.mount(t.pid, ('-o', 'live,ro'))
    try:
        os.open(ro.path('ctl'), os.O_WRONLY)
        check(False, 'ctl writable on a ro mount')
    except OSError as e:
        check(e.errno == errno.EROFS, f'ro mount: {e}')
    check(kv(ro.read('ctl'))['mode'] == 'live', 'ctl unreadable or not live on a ro mount')


@tap_check('ctl reads its mode, its commands and an exact size; mode follows resume and suspend')
def _(c):
    t = Live(c)
    m = c.mount(t.pid)
    text = m.read('ctl')
    check(os.stat(m.path('ctl')).st_size == len(text), 'st_size is not the bytes read')
    check(stat.S_IMODE(os.stat(m.path('ctl')).st_mode) == 0o600, 'ctl is not 0600')
    got = kv(text)
    check(got['commands'].split() == ['suspend', 'resume', 'refresh', 'detach', 'restore'],
          f'commands: {got.get("commands")!r}')
    check(got['mode'] == 'suspended', f'a default mount reads {got["mode"]!r}')
    with open(m.path('ctl'), 'w') as f:
        f.write('resume\n')
    check(kv(m.read('ctl'))['mode'] == 'live', 'mode after resume')
    check(kv(m.read('status'))['state'] == 'live', 'status after resume')
    # one file descriptor, read and written: the text is the one of the open
    fd = os.open(m.path('ctl'), os.O_RDWR)
    try:
        os.write(fd, b'suspend\n')
        check(kv(os.pread(fd, 4096, 0))['mode'] == 'live', 'an open ctl changed under its reader')
    finally:
        os.close(fd)
    check(kv(m.read('ctl'))['mode'] == 'suspended', 'mode after suspend')
    check(m.unmount() == 0, 'daemon exit status')


@tap_check('ctl: detach releases the target and unmounts')
def _(c):
    t = Live(c)
    m = c.mount(t.pid)
    with open(m.path('ctl'), 'w') as f:
        f.write('detach\n')
    check(wait_until(lambda: not mounted(m.mnt), 3), 'still mounted after detach')
    check(reap(m.daemon, 3) == 0, 'daemon did not exit 0')
    undisturbed(t)


@tap_check('live: core stops the target while open and loads in gdb')
def _(c):
    t = Live(c)
    m = c.mount(t.pid, ('-o', 'live'))
    out = os.path.join(c.tmp, 'live.core')
    with open(m.path('core'), 'rb') as src:
        check(all_states(t.pid, 't'), f'not stopped while core is open: {task_states(t.pid)}')
        with open(out, 'wb') as dst:
            while True:
                b = src.read(1 << 20)
                if not b:
                    break
                dst.write(b)
    check(wait_until(lambda: none_stopped(t.pid), 2), 'still stopped after core was closed')
    check(t.counter_moves(), 'counter stands still after core')
    r = subprocess.run(['gdb', '-batch', '-nx', '-ex', 'info threads', sys.executable, out],
                       capture_output=True, text=True, timeout=120)
    lwps = set(map(int, re.findall(r'LWP (\d+)', r.stdout)))
    check(lwps == set(t.tids()), f'gdb threads {lwps} != {t.tids()}')
    os.unlink(out)


@tap_check('live: a thread that exits goes from threads/; its open regs gives EIO')
def _(c):
    t = Live(c)
    m = c.mount(t.pid, ('-o', 'live'))
    tid = int(t.ask('waiter'))
    check(wait_until(lambda: str(tid) in os.listdir(m.path('threads')), 2), 'waiter not listed')
    fd = os.open(m.path('threads', str(tid), 'regs'), os.O_RDONLY)
    try:
        check(int(t.ask('end')) == tid, 'the waiter did not end')
        check(wait_until(lambda: str(tid) not in os.listdir(m.path('threads')), 2),
              f'{tid} still listed after it exited')
        try:
            os.stat(m.path('threads', str(tid)))
            check(False, f'threads/{tid} still resolves')
        except OSError as e:
            check(e.errno == errno.ENOENT, f'stat: {e}')
        try:
            os.pread(fd, 100, 0)
            check(False, 'the open regs of an exited thread still reads')
        except OSError as e:
            check(e.errno == errno.EIO, f'read: {e}')
    finally:
        os.close(fd)
    # the others carry on, and are still served
    check(t.counter_moves(), 'counter stands still')
    check(b'rip' in m.read('threads', str(t.pid), 'regs'), 'main thread regs unreadable')


@tap_check('live: the target reading its own mount gets EDEADLK at once')
def _(c):
    t = Live(c)
    m = c.mount(t.pid, ('-o', 'live'))
    t0 = time.monotonic()
    err = int(t.ask('open ' + m.path('status')))
    check(err == errno.EDEADLK, f'the target got {err}, not EDEADLK')
    check(time.monotonic() - t0 < 2, 'the refusal was not fast')
    check(b'state live' in m.read('status'), 'other readers are no longer served')


@tap_check('live: stack unwinds a running target, which runs on')
def _(c):
    t = Live(c)
    m = c.mount(t.pid, ('-o', 'live'))
    text = m.read('threads', str(t.pid), 'stack').decode()
    check(re.search(r'\bread\b|__libc_read', text), f'main thread not in read: {text[:300]}')
    check(wait_until(lambda: none_stopped(t.pid), 2), 'stack left the target stopped')
    check(t.counter_moves(), 'counter stands still after stack')


def switches(pid, tid):
    """voluntary_ctxt_switches of one thread: a thread asleep for good
    makes none; a PTRACE_INTERRUPT costs it two (the stop, then going back
    to sleep in the restarted syscall), two in a row at least three."""
    with open(f'/proc/{pid}/task/{tid}/status') as f:
        for line in f:
            if line.startswith('voluntary_ctxt_switches:'):
                return int(line.split()[1])
    return -1


@tap_check('live: one cat of regs interrupts the thread once, not once per getattr and open')
def _(c):
    t = Live(c)
    m = c.mount(t.pid, ('-o', 'live'))
    tid = int(t.ask('waiter'))
    check(wait_until(lambda: str(tid) in os.listdir(m.path('threads')), 2), 'waiter not listed')
    regs_path = m.path('threads', str(tid), 'regs')

    def cost(action):
        """the fewest switches action costs the waiter, over 3 tries"""
        seen = []
        for _ in range(3):
            before = switches(t.pid, tid)
            action()
            # back asleep in its futex (state S, not t) before counting
            wait_until(lambda: task_states(t.pid).get(tid) == 'S', 1)
            time.sleep(0.02)
            seen.append(switches(t.pid, tid) - before)
        return min(seen)
    # one interrupt's price: a stat, which renders regs once for its size
    one = cost(lambda: os.stat(regs_path))
    cat = cost(lambda: subprocess.run(['cat', regs_path], stdout=subprocess.DEVNULL, check=True))
    print(f'# voluntary switches: stat {one}, cat {cat}')
    check(one > 0, 'a stat of regs did not interrupt the thread: nothing to count')
    # two interrupts cost at least one more: two stops, however close
    check(cat <= one, f'cat regs cost {cat} switches, a single interrupt {one}')
    check(none_stopped(t.pid), 'reading regs left a thread stopped')


@tap_check('cache: a suspended tree read, resumed, changed, suspended again reads the new state')
def _(c):
    t = Live(c)
    m = c.mount(t.pid)
    spin = str(t.spinner)
    # read twice: the second read may come from the kernel's caches
    for _ in range(2):
        regs0 = m.read('threads', spin, 'regs')
        stat0 = m.read('threads', spin, 'stat')
        status0 = m.read('status')
        with open(m.path('mem'), 'rb') as f:
            n0 = struct.unpack('<Q', os.pread(f.fileno(), 8, t.counter_addr))[0]
    for cmd in ('resume', 'suspend'):
        with open(m.path('ctl'), 'w') as f:
            f.write(cmd + '\n')
        if cmd == 'resume':
            check(kv(m.read('status'))['state'] == 'live', 'status cached across resume')
            check(t.counter_moves(), 'counter stands still after resume')
    with open(m.path('mem'), 'rb') as f:
        n1 = struct.unpack('<Q', os.pread(f.fileno(), 8, t.counter_addr))[0]
    check(n1 != n0, f'mem still reads counter {n0}')
    check(m.read('status') == status0 or kv(m.read('status'))['state'] == 'suspended',
          'status after suspend')
    # the spinner may sit in the same futex wait for the GIL at both
    # suspensions: its regs must be what /proc says now, not what was cached
    regs1 = dict(line.split()[:2] for line in m.read('threads', spin, 'regs').decode().splitlines())
    old = dict(line.split()[:2] for line in regs0.decode().splitlines())
    sp, pc = syscall_sp_pc(t.pid, t.spinner)
    check((int(regs1['rip'], 16), int(regs1['rsp'], 16)) == (pc, sp),
          f'regs rip {regs1["rip"]} rsp {regs1["rsp"]}, /proc pc {pc:#x} sp {sp:#x} '
          f'(before the resume: rip {old["rip"]} rsp {old["rsp"]})')
    check(m.read('threads', spin, 'stat') != stat0, 'stat of the spinner did not change')
    check(os.stat(m.path('threads', spin, 'regs')).st_size ==
          len(m.read('threads', spin, 'regs')), 'regs st_size is not the bytes read')
    # refresh alone (ctl resume by another mount is not possible): mtime moves on
    before = os.stat(m.path('status')).st_mtime_ns
    with open(m.path('ctl'), 'w') as f:
        f.write('refresh\n')
    check(os.stat(m.path('status')).st_mtime_ns > before, 'refresh left the mtime of status')


@tap_check('cache: a thread killed while suspended is ENOENT once its exit is reaped')
def _(c):
    t = Live(c)
    tid = int(t.ask('waiter'))
    m = c.mount(t.pid)
    # cached: its name, its attributes, its regs
    for _ in range(2):
        check(b'rip' in m.read('threads', str(tid), 'regs'), 'waiter regs unreadable')
        os.stat(m.path('threads', str(tid)))
    t.proc.kill()            # SIGKILL: the one end of a stopped thread
    t.proc.wait()            # its parent sees the exit: the daemon has reaped it
    for p in (('threads', str(tid)), ('threads', str(tid), 'regs'), ('threads', str(t.pid))):
        try:
            os.stat(m.path(*p))
            check(False, f'{"/".join(p)} still resolves after the exit')
        except OSError as e:
            check(e.errno == errno.ENOENT, f'stat {"/".join(p)}: {e}')
    check(str(tid) not in os.listdir(m.path('threads')), 'the killed thread is still listed')


def cached_pages(path, off=0, length=0):
    """Pages of path's page cache, by cachestat(2) (Linux 6.5) after an
    open of its own: an open of a direct_io file drops them, one with
    keep_cache leaves them. None when the kernel has no cachestat."""
    class Stat(ctypes.Structure):
        _fields_ = [(n, ctypes.c_uint64) for n in
                    ('cache', 'dirty', 'writeback', 'evicted', 'recently_evicted')]
    rng = (ctypes.c_uint64 * 2)(off, length)
    st = Stat()
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.syscall(451, fd, ctypes.byref(rng), ctypes.byref(st), 0) != 0:
            if ctypes.get_errno() == errno.ENOSYS:
                return None
            raise OSError(ctypes.get_errno(), f'cachestat {path}')
    finally:
        os.close(fd)
    return st.cache


@tap_check('cache: suspended text comes from the page cache (regs too); mem, ctl, -o rw regs and live mode do not')
def _(c):
    t = Live(c)
    m = c.mount(t.pid)
    spin = str(t.spinner)
    text = (('threads', spin, 'regs'), ('threads', spin, 'stat'), ('maps',), ('status',))
    for p in text:
        m.read(*p)
    if cached_pages(m.path('status')) is None:
        print('# skip: no cachestat(2) in this kernel')
        return
    for p in text:
        check(cached_pages(m.path(*p)) >= 1, f'{"/".join(p)} not in the page cache after a read')
    page = os.sysconf('SC_PAGE_SIZE')
    at = t.counter_addr // page * page
    with open(m.path('mem'), 'rb') as f:
        check(len(os.pread(f.fileno(), page, at)) == page, 'mem page unreadable')
    check(cached_pages(m.path('mem'), at, page) == 0, 'mem went through the page cache')
    m.read('ctl')
    check(cached_pages(m.path('ctl')) == 0, 'ctl went through the page cache')
    with open(m.path('ctl'), 'w') as f:
        f.write('resume\n')
    m.read('threads', spin, 'regs')
    check(cached_pages(m.path('threads', spin, 'regs')) == 0, 'live mode: regs in the page cache')
    m.unmount()
    w = c.mount(t.pid, ('-o', 'rw'))
    w.read('threads', spin, 'regs')
    check(cached_pages(w.path('threads', spin, 'regs')) == 0, '-o rw: writable regs in the page cache')
    w.read('threads', spin, 'stat')
    check(cached_pages(w.path('threads', spin, 'stat')) >= 1, '-o rw: stat not cached')


@tap_check('cache: live mode serves no stale text: regs of a spinner move between reads')
def _(c):
    t = Live(c)
    m = c.mount(t.pid)
    spin = str(t.spinner)
    m.read('threads', spin, 'regs')          # cached while suspended
    with open(m.path('ctl'), 'w') as f:
        f.write('resume\n')
    seen = {m.read('threads', spin, 'regs') for _ in range(5)}
    check(len(seen) > 1, 'five reads of a spinning thread\'s regs in live mode were equal')
    check(kv(m.read('ctl'))['mode'] == 'live', 'ctl not live')


if __name__ == '__main__':
    sys.exit(run())
