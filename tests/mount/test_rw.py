#!/usr/bin/env python3
"""mount suite, -o rw (issue 16): writes into the target through mem and
threads/<tid>/regs. Bytes poked with dd land in /proc/PID/mem and in the
target's behaviour after the unmount; read-only text and .rodata take
writes; a write into a hole is short (EIO when it starts there); zeros
over never-populated pages leave them unpopulated; truncates are refused
with memory untouched; a regs write is applied whole or not at all, and
the target sees it after the unmount. Without -o rw nothing is writable.
TAP through harness.py.
"""
import errno
import os
import platform
import shutil
import struct
import subprocess
import sys
import threading
import time

from harness import (PAGE, Fail, Skip, Target, check, pagemap, proc_status, refusal, run,
                     syscall_sp_pc, tap_check, tracer_pid, wait_until, writes_allowed)

RWDEMO = os.environ.get('PTRACEFS_RWDEMO', '')
RESTOREDEMO = os.environ.get('PTRACEFS_RESTOREDEMO', '')
X86_64 = platform.machine() == 'x86_64'


def peek(pid, addr, n):
    with open(f'/proc/{pid}/mem', 'rb') as f:
        return os.pread(f.fileno(), n, addr)


def regs(m, tid):
    return m.read('threads', str(tid), 'regs').decode()


def write_regs(m, tid, text):
    """The errno of a regs write, 0 when it was taken."""
    try:
        with open(m.path('threads', str(tid), 'regs'), 'w') as f:
            f.write(text)
        return 0
    except OSError as e:
        return e.errno


def result(t):
    """rwdemo's report after its read(2) returned: {key: value}."""
    path = t.statusfile + '.result'
    check(wait_until(lambda: t.proc.poll() is not None, 5), 'rwdemo did not finish')
    check(t.proc.returncode == 0, f'rwdemo exited {t.proc.returncode}')
    with open(path) as f:
        return dict(line.split(' ', 1) for line in f.read().splitlines())


@tap_check('default mount: mem and regs refuse writes (EACCES), memory unchanged')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    buf = t.info['buf']
    before = peek(t.pid, buf, 64)
    bad = writes_allowed({
        'open mem O_WRONLY': lambda: os.open(m.path('mem'), os.O_WRONLY),
        'open regs O_WRONLY': lambda: os.open(m.path('threads', str(t.pid), 'regs'), os.O_WRONLY),
        'truncate mem': lambda: os.truncate(m.path('mem'), 0),
    }, (errno.EACCES, errno.EROFS, errno.EPERM))
    check(not bad, '; '.join(bad))
    check(os.stat(m.path('mem')).st_mode & 0o777 == 0o400, 'mem is not 0400')
    check(peek(t.pid, buf, 64) == before, 'the buffer changed')


@tap_check('-o rw refused with -o snapshot and with a core file, one line each')
def _(c):
    t = c.target()
    refusal(c, t.pid, extra=('-o', 'rw,snapshot'), want_in_msg='exclude')
    check(tracer_pid(t.pid) == 0, 'traced after the refusal')
    m = c.mount(t.pid)
    core = os.path.join(c.tmp, f'core.{t.pid}')
    c.undo.append(lambda: os.path.exists(core) and os.unlink(core))
    with open(m.path('core'), 'rb') as src, open(core, 'wb') as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    m.unmount()
    refusal(c, core, extra=('-o', 'rw'), want_in_msg='core file')


@tap_check('-o rw with -o allow_other refused with one line unless -o force; with it, a warning')
def _(c):
    t = c.target()
    for extra in (('-o', 'rw,allow_other'), ('-o', 'allow_other', '-o', 'rw')):
        refusal(c, t.pid, extra=extra, want_in_msg='-o force')
        check(tracer_pid(t.pid) == 0, f'traced after the refusal of {extra}')
    m = c.mount(t.pid, ('-o', 'rw,allow_other,force'))
    check('read and write' in m.stderr, f'no warning of writes: {m.stderr!r}')
    check(os.stat(m.path('mem')).st_mode & 0o777 == 0o600, 'mem is not 0600')
    check(m.unmount() == 0, 'daemon exit status')
    m = c.mount(t.pid, ('-o', 'allow_other'))   # read-only: a warning, not a refusal
    check('read process' in m.stderr, f'allow_other alone: {m.stderr!r}')
    m.unmount()


@tap_check('dd conv=notrunc pokes the buffer and the counter; the target runs on from it')
def _(c):
    t = c.target()
    m = c.mount(t.pid, ('-o', 'rw'))
    check(os.stat(m.path('mem')).st_mode & 0o777 == 0o600, 'mem is not 0600 with -o rw')
    buf = t.info['buf']
    data = b'poked by dd!' * 100
    r = subprocess.run(['dd', f'of={m.path("mem")}', 'bs=1', f'seek={buf}', 'conv=notrunc',
                        'status=none'], input=data, capture_output=True, timeout=60)
    check(r.returncode == 0, f'dd: {r.stderr.decode().strip()}')
    check(peek(t.pid, buf, len(data)) == data, '/proc/PID/mem does not show the bytes')
    with open(m.path('mem'), 'rb') as f:
        check(os.pread(f.fileno(), len(data), buf) == data, 'mem reads stale bytes after the write')
    # the counter: the main thread goes on from what we wrote
    big = 1 << 40
    with open(m.path('mem'), 'r+b', buffering=0) as f:
        check(os.pwrite(f.fileno(), struct.pack('<Q', big), t.info['counter']) == 8,
              'short write of the counter')
    check(m.unmount() == 0, 'daemon exit status')
    check(wait_until(lambda: t.counter() > big, 2), f'counter is {t.counter()}, not past {big}')
    check(peek(t.pid, buf, len(data)) == data, 'the buffer lost the bytes after the unmount')


@tap_check('a write spanning into the guard page is short; one starting there is EIO')
def _(c):
    t = c.target()
    m = c.mount(t.pid, ('-o', 'rw'))
    guard = t.info['guard']
    fd = os.open(m.path('mem'), os.O_WRONLY)
    try:
        n = os.pwrite(fd, b'\xab' * 24, guard - 8)
        check(n == 8, f'pwrite across the guard returned {n}, not 8')
        try:
            n = os.pwrite(fd, b'\xab' * 8, guard)
            check(False, f'pwrite at the guard page returned {n}')
        except OSError as e:
            check(e.errno == errno.EIO, f'pwrite at the guard page: {e.strerror}')
    finally:
        os.close(fd)
    check(peek(t.pid, guard - 8, 8) == b'\xab' * 8, 'the 8 bytes before the guard were not written')


@tap_check('zeros over the untouched mapping populate nothing (pagemap, VmRSS)')
def _(c):
    t = c.target()
    m = c.mount(t.pid, ('-o', 'rw'))
    start, size = t.info['untouched'], 8 << 20
    rss0 = int(proc_status(t.pid)['VmRSS'].split()[0])
    fd = os.open(m.path('mem'), os.O_WRONLY)
    try:
        n = os.pwrite(fd, bytes(size), start)
    finally:
        os.close(fd)
    check(n == size, f'pwrite of zeros returned {n}')
    check(not any(pagemap(t.pid, start, start + size)), 'zeros populated pages')
    rss1 = int(proc_status(t.pid)['VmRSS'].split()[0])
    check(rss1 - rss0 < 1024, f'VmRSS grew from {rss0} to {rss1} kB')
    # a byte that is not zero does populate its page, and reads back
    fd = os.open(m.path('mem'), os.O_WRONLY)
    try:
        check(os.pwrite(fd, b'\x01', start) == 1, 'short write')
    finally:
        os.close(fd)
    check(pagemap(t.pid, start, start + 4096)[0], 'a written page is not populated')
    with open(m.path('mem'), 'rb') as f:
        check(os.pread(f.fileno(), 1, start) == b'\x01', 'mem reads the stale hole')


@tap_check('truncate, O_TRUNC, cp and dd without notrunc are refused, memory untouched')
def _(c):
    t = c.target()
    m = c.mount(t.pid, ('-o', 'rw'))
    buf = t.info['buf']
    before = peek(t.pid, buf, 4096)
    bad = writes_allowed({
        'truncate 0': lambda: os.truncate(m.path('mem'), 0),
        'truncate to its size': lambda: os.truncate(m.path('mem'), os.stat(m.path('mem')).st_size),
        'open O_TRUNC': lambda: os.open(m.path('mem'), os.O_WRONLY | os.O_TRUNC),
    }, (errno.EPERM,))
    check(not bad, '; '.join(bad))
    src = os.path.join(c.tmp, 'junk')
    with open(src, 'wb') as f:
        f.write(b'x' * 4096)
    r = subprocess.run(['cp', src, m.path('mem')], capture_output=True, timeout=30)
    check(r.returncode != 0 and b'not permitted' in r.stderr, f'cp: {r.returncode} {r.stderr!r}')
    r = subprocess.run(['dd', f'if={src}', f'of={m.path("mem")}', 'status=none'],
                       capture_output=True, timeout=30)
    check(r.returncode != 0, f'dd without conv=notrunc succeeded: {r.stderr!r}')
    check(peek(t.pid, buf, 4096) == before, 'the buffer changed')
    check(os.stat(m.path('mem')).st_size > buf, 'mem shrank')


def demo(c):
    if not os.access(RWDEMO, os.X_OK):
        raise Exception(f'PTRACEFS_RWDEMO={RWDEMO!r} is not an executable')
    t = Target(c.tmp, RWDEMO)
    c.undo.append(t.stop)
    return t


@tap_check('read-only text and .rodata take writes (as a breakpoint); the target prints the marker')
def _(c):
    t = demo(c)
    m = c.mount(t.pid, ('-o', 'rw'))
    text, marker = t.info['text'], t.info['marker']
    perms = [l.split()[1] for l in open(f'/proc/{t.pid}/maps')
             if int(l.split('-')[0], 16) <= text < int(l.split()[0].split('-')[1], 16)]
    check(perms and 'w' not in perms[0], f'poke_me is in a {perms} mapping')
    old = peek(t.pid, text, 16)
    new = bytes(b ^ 0xff for b in old)
    with open(m.path('mem'), 'r+b', buffering=0) as f:
        check(os.pwrite(f.fileno(), new, text) == 16, 'short write into text')
        check(os.pwrite(f.fileno(), b'marker-POKED\0', marker) == 13, 'short write into rodata')
        check(os.pread(f.fileno(), 16, text) == new, 'mem shows stale text')
    check(peek(t.pid, text, 16) == new, '/proc/PID/mem does not show the new text')
    if X86_64:
        check(write_regs(m, t.pid, 'rax 0x0\n') == 0, 'regs write refused')
    check(m.unmount() == 0, 'daemon exit status')
    if X86_64:
        res = result(t)
        check(res['marker'] == 'marker-POKED', f'the target sees marker {res["marker"]!r}')


@tap_check('regs: rax of a read(2) and its count argument set; syscall file and the target agree')
def _(c):
    if not X86_64:
        raise Exception('register names of x86_64')
    t = demo(c)
    m = c.mount(t.pid, ('-o', 'rw'))
    r0 = regs(m, t.pid)
    check('orig_rax 0x0000000000000000' in r0, f'not in read(2): {r0}')
    check(write_regs(m, t.pid, 'rdx 7\n  rax   0x2a\nr15 -2\n\n') == 0, 'regs write refused')
    r1 = dict(l.split() for l in regs(m, t.pid).splitlines())
    check(r1['rax'] == '0x000000000000002a' and r1['rdx'] == '0x0000000000000007' and
          r1['r15'] == '0xfffffffffffffffe', f'read back: rax {r1["rax"]} rdx {r1["rdx"]} r15 {r1["r15"]}')
    with open(f'/proc/{t.pid}/task/{t.pid}/syscall') as f:
        tok = f.read().split()
    check(tok[0] == '0' and int(tok[3], 16) == 7, f'/proc syscall says {tok}')
    check(int(tok[-1], 16) == int(r1['rip'], 16), f'pc {tok[-1]} vs rip {r1["rip"]}')
    check(m.unmount() == 0, 'daemon exit status')
    res = result(t)
    check(res['read'] == '42', f'read(2) returned {res["read"]}, not 42')
    check(res['buf'] == 'buf-initial', f'buf is {res["buf"]!r}')


@tap_check('-o rw,live: a regs write stops the one thread for the write; its read(2) returns at once')
def _(c):
    if not X86_64:
        raise Exception('register names of x86_64')
    t = demo(c)
    m = c.mount(t.pid, ('-o', 'rw,live'))
    check(wait_until(lambda: proc_status(t.pid)['State'].startswith('S'), 2),
          f'not running under -o live: {proc_status(t.pid)["State"]}')
    with open(f'/proc/{t.pid}/task/{t.pid}/syscall') as f:
        check(f.read().split()[0] == '0', 'rwdemo is not in read(2)')
    err = write_regs(m, t.pid, 'rax 0x2a\n')
    check(err == 0, f'regs write refused: {os.strerror(err)}; ctl: {m.read("ctl").decode()!r}')
    # let go after the write, with rax no longer -ERESTARTSYS: the read
    # returns 42 while the mount stays, as a debugger's "return 42" does
    res = result(t)
    check(res['read'] == '42', f'read(2) returned {res["read"]}, not 42')
    check(os.path.ismount(m.mnt), 'the mount went with the write')
    check(m.unmount() == 0, 'daemon exit status')


@tap_check('regs: invalid writes are EINVAL and change nothing')
def _(c):
    if not X86_64:
        raise Exception('register names of x86_64')
    t = demo(c)
    m = c.mount(t.pid, ('-o', 'rw'))
    before = regs(m, t.pid)
    for text in ('rax 1\nnosuch 2\n', 'rax 1\nrbx zz\n', 'rax 0x10000000000000000\n',
                 'rax 1\ncs 0x33\n', 'rax 1\nrax 2\n', 'rax\n', 'rax 1 2\n', '\n',
                 'rbx 0x12\nrax -0x1\n'):
        e = write_regs(m, t.pid, text)
        check(e == errno.EINVAL, f'{text!r}: {errno.errorcode.get(e, e)}')
    check(regs(m, t.pid) == before, 'registers changed')
    check(m.unmount() == 0, 'daemon exit status')
    t.proc.kill()


def restoredemo(c):
    if not os.access(RESTOREDEMO, os.X_OK):
        raise Exception(f'PTRACEFS_RESTOREDEMO={RESTOREDEMO!r} is not an executable')
    t = Target(c.tmp, RESTOREDEMO)
    c.undo.append(t.stop)
    return t


def u64(pid, addr):
    return struct.unpack('<Q', peek(pid, addr, 8))[0]


def ctl(m, text):
    """The errno of a ctl write, 0 when it was taken; and ctl's last_error."""
    e = 0
    # one write(2): a buffered file whose flush fails at close writes again
    # when it is collected (CPython), which would run the command twice
    fd = os.open(m.path('ctl'), os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    except OSError as x:
        e = x.errno
    finally:
        os.close(fd)
    last = [l for l in m.read('ctl').decode().splitlines() if l.startswith('last_error ')]
    return e, last[0][len('last_error '):] if last else ''


def backup(c, m, name):
    """cp --sparse=always of core, as README shows a backup."""
    path = os.path.join(c.tmp, name)
    c.undo.append(lambda: os.path.exists(path) and os.unlink(path))
    r = subprocess.run(['cp', '--sparse=always', m.path('core'), path], capture_output=True,
                       timeout=120)
    check(r.returncode == 0, f'cp core: {r.stderr.decode().strip()}')
    return path


@tap_check('ctl restore: a backup written back takes both threads back (counters, registers, '
           'a page dirtied since zeroed, untouched pages unpopulated); the target runs on from it')
def _(c):
    t = restoredemo(c)
    pid, worker = t.pid, t.info['worker']
    ca, cb, scratch = t.info['counter'], t.info['counter2'], t.info['scratch']
    m = c.mount(pid, ('-o', 'rw'))
    saved = backup(c, m, 'saved.core')
    a0, b0 = u64(pid, ca), u64(pid, cb)
    regs0 = {tid: m.read('threads', str(tid), 'regs') for tid in (pid, worker)}
    sys0 = {tid: syscall_sp_pc(pid, tid) for tid in (pid, worker)}
    check(m.unmount() == 0, 'daemon exit status')

    # the target moves on; a page of scratch that was a hole gets bytes
    check(wait_until(lambda: u64(pid, ca) > a0 + 300 and u64(pid, cb) > b0 + 300, 10),
          f'counters stand still: {u64(pid, ca)} {u64(pid, cb)}')
    with open(f'/proc/{pid}/mem', 'r+b', buffering=0) as f:
        f.seek(scratch + 3 * PAGE)
        f.write(b'dirtied after the backup')
    m = c.mount(pid, ('-o', 'rw'))
    a1, b1 = u64(pid, ca), u64(pid, cb)
    check(pagemap(pid, scratch + 3 * PAGE, scratch + 4 * PAGE)[0], 'the dirtied page is absent')

    e, why = ctl(m, f'restore {saved}\n')
    check(e == 0, f'restore: {errno.errorcode.get(e, e)}: {why}')
    check(why == 'none', f'last_error is {why!r} after a restore')
    check(u64(pid, ca) == a0 and u64(pid, cb) == b0,
          f'counters {u64(pid, ca)} {u64(pid, cb)} after the restore, saved {a0} {b0} '
          f'(were {a1} {b1})')
    check(peek(pid, scratch + 3 * PAGE, PAGE) == bytes(PAGE), 'the dirtied page is not zeros')
    untouched = [i for i, p in enumerate(pagemap(pid, scratch, scratch + 16 * PAGE)) if p and i != 3]
    check(not untouched, f'scratch pages {untouched} populated by the restore')
    for tid in (pid, worker):
        check(m.read('threads', str(tid), 'regs') == regs0[tid],
              f'thread {tid}: regs read back differ from the backup')
        check(syscall_sp_pc(pid, tid) == sys0[tid],
              f'thread {tid}: /proc sp, pc {syscall_sp_pc(pid, tid)} vs {sys0[tid]} at the backup')
    check(m.unmount() == 0, 'daemon exit status')
    # it counts on from the saved values, not from a1: read at once
    a2 = u64(pid, ca)
    check(a0 <= a2 < a1, f'counter {a2} after the unmount: saved {a0}, {a1} before the restore')
    check(wait_until(lambda: u64(pid, ca) > a2 + 20 and u64(pid, cb) > b0 + 20, 5),
          'the target does not run on')
    # its own check: each thread's local count equals the global one
    check(t.stop() == 0, f'restoredemo exited {t.proc.returncode} (3: state torn)')


@tap_check('ctl restore refuses another process\'s backup, a relative path, a read-only mount; '
           'EINVAL or EROFS, the reason in ctl, nothing changed')
def _(c):
    other = c.target()
    m = c.mount(other.pid, ('-o', 'rw'))
    foreign = backup(c, m, 'other.core')
    m.unmount()
    t = restoredemo(c)
    pid, ca = t.pid, t.info['counter']
    m = c.mount(pid, ('-o', 'rw'))
    a0 = u64(pid, ca)
    regs0 = m.read('threads', str(pid), 'regs')
    e, why = ctl(m, f'restore {foreign}\n')
    check(e == errno.EINVAL, f'foreign backup: {errno.errorcode.get(e, e)}')
    check(why.startswith('restore: mapping ') and ('not in the' in why or ' now' in why),
          f'last_error does not name a mapping: {why!r}')
    e, why = ctl(m, 'restore other.core\n')
    check(e == errno.EINVAL and 'absolute' in why, f'relative path: {errno.errorcode.get(e, e)} {why!r}')
    e, why = ctl(m, 'restore\n')
    check(e == errno.EINVAL and 'argument' in why, f'no path: {errno.errorcode.get(e, e)} {why!r}')
    check(u64(pid, ca) == a0, 'the counter changed')
    check(m.read('threads', str(pid), 'regs') == regs0, 'registers changed')
    m.unmount()
    m = c.mount(pid)
    own = backup(c, m, 'own.core')
    e, why = ctl(m, f'restore {own}\n')
    check(e == errno.EROFS and 'rw' in why, f'read-only mount: {errno.errorcode.get(e, e)} {why!r}')
    m.unmount()


def core_u64(path, addr):
    """The 8 bytes at addr as a core file holds them (its PT_LOADs, read here)."""
    with open(path, 'rb') as f:
        eh = f.read(64)
        phoff, phentsize, phnum = struct.unpack_from('<Q', eh, 32)[0], *struct.unpack_from('<HH', eh, 54)
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            p_type, _, off, vaddr, _, filesz = struct.unpack('<IIQQQQ', f.read(40))
            if p_type == 1 and vaddr <= addr and addr + 8 <= vaddr + filesz:
                f.seek(off + addr - vaddr)
                return struct.unpack('<Q', f.read(8))[0]
    raise Fail(f'{path} has no bytes at {addr:#x}')


@tap_check('ctl restore takes a gcore core of the process: counters back to the values in it')
def _(c):
    if not shutil.which('gcore') or not X86_64:
        raise Exception('gcore (gdb) and x86_64 (the 64-bit ELF read here) needed')
    t = restoredemo(c)
    pid, ca, cb = t.pid, t.info['counter'], t.info['counter2']
    prefix = os.path.join(c.tmp, 'g')
    gc = f'{prefix}.{pid}'
    c.undo.append(lambda: os.path.exists(gc) and os.unlink(gc))
    r = subprocess.run(['gcore', '-o', prefix, str(pid)], capture_output=True, timeout=120)
    check(r.returncode == 0 and os.path.exists(gc), f'gcore: {r.stderr.decode()[-300:]}')
    a0, b0 = core_u64(gc, ca), core_u64(gc, cb)
    check(wait_until(lambda: u64(pid, ca) > a0 + 100, 10), 'the target does not run on after gcore')
    m = c.mount(pid, ('-o', 'rw'))
    a1 = u64(pid, ca)
    e, why = ctl(m, f'restore {gc}\n')
    check(e == 0, f'restore: {errno.errorcode.get(e, e)}: {why}')
    check(u64(pid, ca) == a0 and u64(pid, cb) == b0,
          f'counters {u64(pid, ca)} {u64(pid, cb)}, gcore has {a0} {b0} (were {a1})')
    check(m.unmount() == 0, 'daemon exit status')
    check(wait_until(lambda: u64(pid, ca) > a0 + 20, 5), 'the target does not run on')
    check(t.stop() == 0, f'restoredemo exited {t.proc.returncode} (3: state torn)')


def blocked_in(pid, tid):
    """The syscall number tid is blocked in (/proc), or None."""
    with open(f'/proc/{pid}/task/{tid}/syscall') as f:
        tok = f.read().split()
    return int(tok[0]) if tok and tok[0] not in ('running', '-1') else None


@tap_check('ctl restore: when the kernel refuses a register set midway, the sets already put '
           'are put back and memory is untouched (fault injection)')
def _(c):
    if os.environ.get('PTRACEFS_FAULT_INJECTION') != 'true':
        raise Skip('built without -Dfault_injection=true')
    t = restoredemo(c)
    pid, worker, ca = t.pid, t.info['worker'], t.info['counter']
    m = c.mount(pid, ('-o', 'rw'))
    saved = backup(c, m, 'saved.core')
    a0 = u64(pid, ca)
    check(m.unmount() == 0, 'daemon exit status')
    check(wait_until(lambda: u64(pid, ca) > a0 + 100, 10), 'the counter stands still')
    # the 4th SETREGSET fails: the first thread's sets (3: regs, FP, XSAVE) are in
    os.environ['PTRACEFS_FAULT'] = 'putsets:4'
    try:
        m = c.mount(pid, ('-o', 'rw'))
    finally:
        del os.environ['PTRACEFS_FAULT']
    a1 = u64(pid, ca)
    regs1 = {tid: m.read('threads', str(tid), 'regs') for tid in (pid, worker)}
    sys1 = {tid: syscall_sp_pc(pid, tid) for tid in (pid, worker)}
    e, why = ctl(m, f'restore {saved}\n')
    check(e == errno.EINVAL and 'nothing changed' in why, f'{errno.errorcode.get(e, e)}: {why!r}')
    check(u64(pid, ca) == a1, f'the counter is {u64(pid, ca)}, was {a1} (saved {a0})')
    for tid in (pid, worker):
        check(syscall_sp_pc(pid, tid) == sys1[tid],
              f'thread {tid}: /proc sp, pc {syscall_sp_pc(pid, tid)}, were {sys1[tid]}')
        check(m.read('threads', str(tid), 'regs') == regs1[tid], f'thread {tid}: regs changed')
    check(m.unmount() == 0, 'daemon exit status')
    check(wait_until(lambda: u64(pid, ca) > a1 + 20, 5), 'the target does not run on')
    check(t.stop() == 0, f'restoredemo exited {t.proc.returncode} (3: state torn)')


@tap_check('concurrent writers and readers: regs (r8, r9) and mem written from several threads '
           'while others read regs, mem, core, stack; nothing fails, every read well-formed, '
           'the last writes are what /proc shows')
def _(c):
    if not X86_64:
        raise Exception('register names of x86_64')
    t = c.target()
    pid, buf = t.pid, t.info['buf']
    m = c.mount(t.pid, ('-o', 'rw'))
    # Threads blocked in calls that do not read r8 (nor r9: read, nanosleep):
    # a restarted call finds its arguments where they were.
    calls = {tid: blocked_in(pid, tid) for tid in map(int, os.listdir(f'/proc/{pid}/task'))}
    r8_tids = sorted(k for k, v in calls.items() if v in (0, 35, 202, 230))
    r9_tids = sorted(k for k, v in calls.items() if v in (0, 35, 230))
    check(len(r8_tids) >= 3 and r9_tids, f'blocked threads: {calls}')
    slices = [buf + 8192 * k for k in range(2)]
    orig = {tid: dict(l.split() for l in regs(m, tid).splitlines()) for tid in r8_tids}
    stop = threading.Event()
    errors, last, counts = [], {}, {}
    lock = threading.Lock()

    def fail(msg):
        with lock:
            errors.append(msg)
        stop.set()

    def reg_writer(name, tids, base):
        i = 0
        while not stop.is_set():
            i += 1
            for tid in tids:
                e = write_regs(m, tid, f'{name} {base | i:#x}\n')
                if e:
                    return fail(f'{name} of {tid}: {errno.errorcode.get(e, e)}')
            with lock:
                last[name] = base | i
                counts[name] = i

    def mem_writer(k):
        i = 0
        fd = os.open(m.path('mem'), os.O_WRONLY)
        try:
            while not stop.is_set():
                i += 1
                data = struct.pack('<Q', 0xc0de0000_00000000 | k << 32 | i) * 512
                if os.pwrite(fd, data, slices[k]) != len(data):
                    return fail(f'short mem write {k}')
                with lock:
                    last[f'mem{k}'] = data
                    counts[f'mem{k}'] = i
        except OSError as e:
            fail(f'mem write {k}: {e}')
        finally:
            os.close(fd)

    names = set(orig[r8_tids[0]])

    def reader(kind):
        try:
            while not stop.is_set():
                # glibc's rwlock prefers readers: readers that never pause
                # keep writes waiting, and an unwind (stack, ~0.1 s after
                # each write) holds the snapshot long: writes get through
                # between reads, as they would with people at a shell
                time.sleep(0.25 if kind == 'stack' else 0.002)
                if kind == 'regs':
                    for tid in r8_tids:
                        r = dict(l.split() for l in regs(m, tid).splitlines())
                        if set(r) != names:
                            return fail(f'regs of {tid}: names {sorted(set(r) ^ names)}')
                        v = int(r['r8'], 16)
                        if r['r8'] != orig[tid]['r8'] and v >> 32 != 0x5a5a0008:
                            return fail(f'regs of {tid}: r8 {r["r8"]}')
                elif kind == 'mem':
                    with open(m.path('mem'), 'rb') as f:
                        for k, a in enumerate(slices):
                            words = struct.unpack('<512Q', os.pread(f.fileno(), 4096, a))
                            bad = [w for j, w in enumerate(words)
                                   if w != a + 8 * j and w >> 32 != 0xc0de0000 | k]
                            if bad:
                                return fail(f'mem slice {k}: word {bad[0]:#x}')
                elif kind == 'core':
                    with open(m.path('core'), 'rb') as f:
                        head = f.read(65536)
                    if head[:4] != b'\x7fELF':
                        return fail('core lost its ELF header')
                elif kind == 'stack':
                    if b'TID' not in m.read('stack'):
                        return fail('stack without threads')
                with lock:
                    counts[kind] = counts.get(kind, 0) + 1
        except OSError as e:
            fail(f'{kind} read: {e}')

    workers = [threading.Thread(target=reg_writer, args=('r8', r8_tids, 0x5a5a0008_00000000)),
               threading.Thread(target=reg_writer, args=('r9', r9_tids, 0x5a5a0009_00000000)),
               threading.Thread(target=mem_writer, args=(0,)),
               threading.Thread(target=mem_writer, args=(1,))]
    workers += [threading.Thread(target=reader, args=(k,))
                for k in ('regs', 'regs', 'mem', 'core', 'stack')]
    def enough():
        with lock:
            return len(counts) == 8 and all(v >= (3 if k == 'stack' else 10)
                                            for k, v in counts.items())
    for w in workers:
        w.start()
    # 3 s at least; longer where a slow build (sanitizers) needs it to get
    # enough done, at most 60 s
    t0 = time.monotonic()
    while not stop.wait(0.2) and (time.monotonic() - t0 < 3 or not enough()):
        if time.monotonic() - t0 > 60:
            break
    stop.set()
    for w in workers:
        w.join(60)
    check(not any(w.is_alive() for w in workers), 'a worker hangs')
    check(not errors, '; '.join(errors[:3]))
    check(enough(), f'too little done in 60 s to tell: {counts}')
    print(f'# {counts} in {time.monotonic() - t0:.1f} s')
    # the last write of each writer is what the kernel has
    for tid in r8_tids:
        with open(f'/proc/{pid}/task/{tid}/syscall') as f:
            tok = f.read().split()
        check(int(tok[5], 16) == last['r8'], f'thread {tid}: /proc r8 {tok[5]}, last write {last["r8"]:#x}')
        if tid in r9_tids:
            check(int(tok[6], 16) == last['r9'], f'thread {tid}: /proc r9 {tok[6]}, last {last["r9"]:#x}')
    for k, a in enumerate(slices):
        check(peek(pid, a, 4096) == last[f'mem{k}'], f'/proc/PID/mem: slice {k} is not its last write')
    check(m.unmount() == 0, 'daemon exit status')
    check(wait_until(lambda: t.counter_moves(), 3), 'the target does not run on')


if __name__ == '__main__':
    sys.exit(run())
