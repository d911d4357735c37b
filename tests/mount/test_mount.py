#!/usr/bin/env python3
"""mount suite: the real ptracefs binary against real targets, checked from
outside against what /proc says about the same process. Prints TAP, one
line per check; harness.py runs them.

Environment (meson test sets it): PTRACEFS_BIN, PTRACEFS_TARGET and
PTRACEFS_CHURN name the programs. Without /dev/fuse, fusermount3 or
ptrace the whole plan is skipped, or fails with PTRACEFS_NO_SKIP=1.
PTRACEFS_MOUNT_ONLY=REGEX runs the checks whose names match.

Every check starts its own target and mounts it on a fresh directory;
its cleanup unmounts (fusermount3 -uz) and kills what it started.
"""
import errno
import os
import re
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time

from harness import (CHURN, PAGE, PTRACEFS, SAMPLE, Fail, Mount, Skip, all_states,
                     assert_undisturbed, check, expected_extents, is_anon, is_data, mounted,
                     none_stopped, pagemap, parse_maps, pread_full, proc_status, read_maps,
                     reap, refusal, run, seek_extents, syscall_sp_pc, tap_check, task_states,
                     tracer_pid, untruthful_extents, wait_until, writes_allowed)


# ---- the checks ----


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


@tap_check('SEEK_DATA/SEEK_HOLE walk of mem tells every populated page as data, holes only where pagemap has none')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    maps = parse_maps(read_maps(t.pid).decode())
    fd = os.open(m.path('mem'), os.O_RDONLY)
    try:
        end = os.fstat(fd).st_size
        want = expected_extents(t.pid, maps, end)
        got = seek_extents(fd, end)
        bad = untruthful_extents(got, want)
        if bad:
            raise Fail(f'{len(got)} extents, {len(want)} of populated data: {bad}')
        ends = {e for _, e in want}
        for s, e in want:
            mid = s + (e - s) // 2 // PAGE * PAGE
            check(os.lseek(fd, mid, os.SEEK_DATA) == mid, f'SEEK_DATA from {mid:#x} moved')
            if e < end:
                h = os.lseek(fd, e, os.SEEK_HOLE)
                check(h >= e and (h in ends or h == end), f'SEEK_HOLE from the hole at {e:#x} gave {h:#x}')
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
                       capture_output=True, timeout=60)
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
                       capture_output=True, timeout=60)
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
                       capture_output=True, timeout=60)
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


@tap_check('16 concurrent readers of regs, stat, maps, mem and status all get the same answers')
def _(c):
    import random
    import threading
    t = c.target(args=('-t', '8'))
    m = c.mount(t.pid)
    tids = sorted(task_states(t.pid))
    buf, buflen = t.info['buf'], t.info['buflen']
    # references, read once and in order; the target is suspended
    want = {('threads', str(tid), f): m.read('threads', str(tid), f)
            for tid in tids for f in ('regs', 'stat')}
    want[('maps',)] = m.read('maps')
    want[('status',)] = m.read('status')
    check(want[('maps',)] == read_maps(t.pid), 'maps differs from /proc/PID/maps')
    errors = []

    def worker(seed):
        rnd = random.Random(seed)
        keys = sorted(want)
        fd = os.open(m.path('mem'), os.O_RDONLY)
        try:
            for _ in range(60):
                if rnd.random() < 0.4:
                    off = rnd.randrange(0, buflen // 8 - 512) * 8
                    words = struct.unpack('<512Q', pread_full(fd, 4096, buf + off))
                    if any(w != buf + off + 8 * i for i, w in enumerate(words)):
                        errors.append(f'mem at {buf + off:#x} is not self-addressed')
                else:
                    k = rnd.choice(keys)
                    got = m.read(*k)
                    if got != want[k]:
                        errors.append(f'{"/".join(k)} differs from the first read')
        except OSError as e:
            errors.append(f'worker {seed}: {e}')
        finally:
            os.close(fd)
    workers = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    check(not any(w.is_alive() for w in workers), 'a reader hangs')
    check(not errors, f'{len(errors)} wrong answers, first: {errors[:1]}')
    check(all_states(t.pid, 't'), f'not every thread stopped: {task_states(t.pid)}')
    check(m.unmount() == 0, 'daemon exit status')


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
    bad = writes_allowed(ops, (errno.EACCES, errno.EROFS, errno.EPERM))
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


@tap_check('lazy unmount with a file open and a cwd inside: the target runs at once, '
           'reads fail with EIO, the daemon exits once they go')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    fds = [os.open(m.path(f), os.O_RDONLY) for f in ('maps', 'mem')]

    def close_all():
        while fds:
            os.close(fds.pop())
    c.undo.append(close_all)
    # a process whose cwd is the mount holds it as an open file does
    inside = subprocess.Popen(['sleep', '1000'], cwd=m.mnt)
    c.undo.append(lambda: (inside.kill(), inside.wait()))
    r = subprocess.run(['fusermount3', '-uz', m.mnt], capture_output=True, timeout=30)
    check(r.returncode == 0, f'fusermount3 -uz: {r.stderr.decode().strip()}')
    check(not mounted(m.mnt), 'still in the mount table')
    # nothing shows the mount any more: the target must not stay stopped
    assert_undisturbed(t)
    check(reap(m.daemon, 0) is None, 'the daemon exited while the mount is still held')
    for fd, name in zip(fds, ('maps', 'mem')):
        try:
            os.pread(fd, 100, 0)
            check(False, f'the open {name} still reads')
        except OSError as e:
            check(e.errno == errno.EIO, f'read of the open {name}: {e}')
    close_all()
    inside.kill()
    inside.wait()
    st = reap(m.daemon, 5)
    check(st is not None, 'daemon still running 5 s after the last file closed')
    check(st == 0, f'daemon exit status {st}')
    check(t.counter_moves(), 'the target stands still after the daemon went')


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


def thread_stat_state(m, tid):
    for line in m.read('threads', str(tid), 'stat').decode().splitlines():
        k, _, v = line.partition(' ')
        if k == 'state':
            return v.split()[0]
    raise Fail(f'threads/{tid}/stat has no state line')


@tap_check('threads/<tid>/stat: the state before suspension (R spinning, S asleep, T stopped, D in vfork)')
def _(c):
    # each process in a known state by /proc before the mount, one at a time
    spin = subprocess.Popen(['sh', '-c', 'while :; do :; done'])
    c.undo.append(lambda: (spin.kill(), spin.wait()))
    check(wait_until(lambda: all_states(spin.pid, 'R'), 5), f'spinner: {task_states(spin.pid)}')
    sleeper = c.sleeper()
    stopped = c.sleeper()
    os.kill(stopped.pid, signal.SIGSTOP)
    check(wait_until(lambda: all_states(stopped.pid, 'T'), 2), f'SIGSTOP: {task_states(stopped.pid)}')
    vf = subprocess.Popen([os.environ['PTRACEFS_VFORKER']], stdout=subprocess.PIPE)
    c.undo.append(lambda: (vf.kill(), vf.wait()))
    check(vf.stdout.readline() == b'ready\n', 'vforker did not start')
    check(wait_until(lambda: task_states(vf.pid).get(vf.pid) == 'D', 5),
          f'vforker never in D: {task_states(vf.pid)}')
    for pid, want in ((spin.pid, 'R'), (sleeper.pid, 'S'), (stopped.pid, 'T'), (vf.pid, 'D')):
        m = c.mount(pid)
        got = thread_stat_state(m, pid)
        check(got == want, f'process {pid}: state {got}, /proc said {want} before the mount')
        check(m.unmount() == 0, 'daemon did not exit 0')
    os.kill(stopped.pid, signal.SIGCONT)


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


def mounts_at(mnt):
    """How many mounts are stacked on mnt."""
    with open('/proc/self/mountinfo') as f:
        return sum(1 for line in f
                   if re.sub(r'\\([0-7]{3})', lambda m: chr(int(m.group(1), 8)),
                             line.split()[4]) == mnt)


@tap_check('refused: a second mount on a mountpoint that holds one, naming its process and daemon')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    t2 = c.target()
    r = subprocess.run([PTRACEFS, str(t2.pid), m.mnt], capture_output=True, timeout=30)
    err = r.stderr.decode(errors='replace')
    lines = [x for x in err.splitlines() if x.strip()]
    check(r.returncode == 1, f'exit status {r.returncode}; stderr {err!r}')
    check(len(lines) == 1, f'stderr is {len(lines)} lines: {err!r}')
    check(f'process {t.pid} ' in err and f'daemon pid {m.daemon}' in err,
          f'{err!r} names neither process {t.pid} nor daemon pid {m.daemon}')
    check(mounts_at(m.mnt) == 1, f'{mounts_at(m.mnt)} mounts on {m.mnt}')
    check(tracer_pid(t2.pid) == 0 and none_stopped(t2.pid) and t2.counter_moves(),
          f'the second target was touched: {task_states(t2.pid)}')
    check(f'pid {t.pid}\n' in m.read('status').decode(), 'the first mount no longer answers')
    check(all_states(t.pid, 't'), f'the first target runs: {task_states(t.pid)}')
    check(m.unmount() == 0, 'daemon did not exit 0 after unmount')
    check(not mounted(m.mnt), 'a mount is left after one unmount')
    assert_undisturbed(t)


@tap_check('a non-empty mountpoint is mounted over, with one warning line; its files are back after')
def _(c):
    t = c.target()
    m = Mount(c.tmp, t.pid)
    c.undo.append(m.cleanup)
    keep = os.path.join(m.mnt, 'keep')
    open(keep, 'w').close()
    c.undo.append(lambda: os.path.exists(keep) and os.unlink(keep))
    m.start()
    lines = [x for x in m.stderr.splitlines() if x.strip()]
    check(len(lines) == 1 and 'not empty' in lines[0] and m.mnt in lines[0],
          f'stderr is {m.stderr!r}')
    names = os.listdir(m.mnt)
    check('status' in names and 'keep' not in names, f'the mount shows {names}')
    check(m.unmount() == 0, 'daemon did not exit 0 after unmount')
    check(os.listdir(m.mnt) == ['keep'], f'after unmount: {os.listdir(m.mnt)}')


def kernel_thread():
    """A kernel thread's pid (PF_KTHREAD in field 9 of stat), or None."""
    for d in ['2'] + sorted(os.listdir('/proc')):
        if not d.isdigit():
            continue
        try:
            with open(f'/proc/{d}/stat') as f:
                if int(f.read().rsplit(')', 1)[1].split()[6]) & 0x00200000:
                    return int(d)
        except (OSError, IndexError, ValueError):
            pass
    return None


@tap_check('refused: a kernel thread, saying so')
def _(c):
    k = kernel_thread()
    if k is None:
        raise Skip('no kernel thread in this pid namespace')
    refusal(c, k, want_in_msg='kernel thread')


@tap_check('refused: a /dev/fuse the user cannot open, with one line saying what to do')
def _(c):
    if os.geteuid() != 0 or not shutil.which('unshare') or not shutil.which('setpriv'):
        raise Skip('needs root, unshare and setpriv to make /dev/fuse unopenable for nobody')
    # nobody's own process, so the target checks (which come first) pass
    t = subprocess.Popen(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
                          'sleep', '1000'])
    c.undo.append(lambda: (t.kill(), t.wait()))
    check(wait_until(lambda: all_states(t.pid, 'S') and proc_uid(t.pid) == 65534, 5),
          'nobody\'s sleep did not start')
    mnt = tempfile.mkdtemp(dir='/tmp', prefix='ptracefs-devfuse-')
    c.undo.append(lambda: os.rmdir(mnt))
    os.chmod(mnt, 0o755)
    # in a mount namespace of its own, /dev/fuse is a root-only file
    fake = os.path.join(mnt, '.fuse')
    open(fake, 'w').close()
    os.chmod(fake, 0o600)
    c.undo.append(lambda: os.unlink(fake))
    script = ('mount --bind "$1" /dev/fuse && exec setpriv --reuid=65534 --regid=65534 '
              '--clear-groups "$2" "$3" "$4"')
    r = subprocess.run(['unshare', '-m', '--propagation', 'private', 'sh', '-c', script, 'sh',
                        fake, PTRACEFS, str(t.pid), mnt], capture_output=True, timeout=30)
    err = r.stderr.decode(errors='replace')
    lines = [x for x in err.splitlines() if x.strip()]
    check(r.returncode == 1, f'exit status {r.returncode}; stderr {err!r}')
    check(len(lines) == 1 and '/dev/fuse' in err and 'chmod 0666' in err, f'stderr is {err!r}')
    check(not mounted(mnt), 'a mount was left behind')
    check(tracer_pid(t.pid) == 0 and all_states(t.pid, 'S'), 'nobody\'s sleep was disturbed')


def proc_uid(pid):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('Uid:'):
                return int(line.split()[1])
    return -1


if __name__ == '__main__':
    sys.exit(run())
