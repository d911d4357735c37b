#!/usr/bin/env python3
"""mount suite, the rest of the process's state: fds/<n>, cwd, root,
limits, signals, cgroup, ns/, smaps, personality and modules/<n>/file,
on the fdkinds target (one descriptor of every kind). Each file against
/proc read by this test while the target is stopped under the mount, an
independent source of the same instant. TAP through harness.py.
"""
import os
import re
import stat
import subprocess
import sys
import time

from harness import check, proc_status, run, tap_check, wait_until

FDKINDS = os.environ.get('PTRACEFS_FDKINDS', '')
MAX_RSS_KB = 32 << 10


def kv(text):
    out = {}
    for line in text.decode().splitlines():
        k, _, v = line.partition(' ')
        out.setdefault(k, []).append(v)
    return out


def normalized_fdinfo(text):
    """fdinfo's lines as `key value`, written here afresh from proc(5)."""
    out = []
    for line in text.splitlines():
        if ':' not in line:
            continue
        if line.startswith(('inotify ', 'fanotify ')):
            key, rest = line.split(' ', 1)
        else:
            key, rest = line.split(':', 1)
        out.append(re.sub(r'[ \t]', '_', key) + ' ' + ' '.join(rest.split()))
    return out


def fdkinds(c, *args):
    check(FDKINDS, 'PTRACEFS_FDKINDS is not set')
    return c.target(FDKINDS, args)


def mode_ok(path):
    st = os.lstat(path)
    return stat.S_IMODE(st.st_mode) == 0o400


@tap_check('fds/ lists what /proc/PID/fd lists; each file: target and fdinfo as /proc has them, exact size')
def _(c):
    t = fdkinds(c)
    m = c.mount(t.pid)
    want = sorted(os.listdir(f'/proc/{t.pid}/fd'), key=int)
    got = sorted(os.listdir(m.path('fds')), key=int)
    check(got == want, f'fds {got} != /proc {want}')
    for fd in want:
        text = m.read('fds', fd)
        check(mode_ok(m.path('fds', fd)), f'fds/{fd}: mode is not 0400')
        check(os.stat(m.path('fds', fd)).st_size == len(text), f'fds/{fd}: st_size is not exact')
        lines = text.decode().splitlines()
        check(lines[0] == f'fd {fd}', f'fds/{fd}: first line {lines[0]!r}')
        target = os.readlink(f'/proc/{t.pid}/fd/{fd}')
        check(lines[1] == f'target {target}', f'fds/{fd}: {lines[1]!r}, /proc says {target!r}')
        with open(f'/proc/{t.pid}/fdinfo/{fd}') as f:
            info = normalized_fdinfo(f.read())
        # a timer runs down while the target is stopped: its it_value moves
        lines = [x for x in lines if not x.startswith('it_value ')]
        info = [x for x in info if not x.startswith('it_value ')]
        check(lines[2:2 + len(info)] == info,
              f'fds/{fd}: fdinfo {lines[2:2 + len(info)]} != {info}')


@tap_check('fds/: position, O_APPEND, locks, eventfd count, epoll targets, inotify, timerfd, signalfd, memfd, deleted')
def _(c):
    t = fdkinds(c)
    i = t.info
    m = c.mount(t.pid)

    def f(key):
        return kv(m.read('fds', str(i[key])))
    reg = f('fd_file')
    check(reg['pos'] == ['1234'], f"regular file pos {reg['pos']}")
    check(any('FLOCK' in v and 'WRITE' in v for v in reg.get('lock', [])), f'no flock: {reg}')
    app = f('fd_append')
    check(int(app['flags'][0], 8) & os.O_APPEND, f"O_APPEND not in flags {app['flags']}")
    check(any('POSIX' in v for v in app.get('lock', [])), f'no POSIX lock: {app}')
    check(f('fd_pipe_r')['target'][0].startswith('pipe:['), 'pipe target')
    check(f('fd_eventfd')['eventfd-count'] == ['7'], 'eventfd count')
    ep = f('fd_epoll')['tfd']
    tfds = sorted(int(v.split()[0]) for v in ep)
    check(tfds == sorted([i['fd_pipe_r'], i['fd_eventfd']]), f'epoll targets {tfds}')
    check(f('fd_inotify').get('inotify', [''])[0].startswith('wd:'), 'no inotify watch')
    tf = f('fd_timerfd')
    check(tf['it_interval'] == ['(50, 0)'], f"timerfd interval {tf['it_interval']}")
    check(f('fd_signalfd')['sigmask'] == ['0000000000000200'], 'signalfd mask is not SIGUSR1')
    check(f('fd_memfd')['target'][0].startswith('/memfd:ptracefs-memfd'), 'memfd target')
    check(f('fd_deleted')['target'][0].endswith('/deleted (deleted)'), 'deleted file target')


@tap_check('fds/: sockets say protocol, state, local and peer address as /proc/PID/net does')
def _(c):
    t = fdkinds(c)
    i = t.info
    port = i['tcp_port']
    m = c.mount(t.pid)

    def f(key):
        return {k: v[0] for k, v in kv(m.read('fds', str(i[key]))).items()}
    ls = f('fd_tcp_listen')
    check((ls['protocol'], ls['state'], ls['local']) == ('tcp', 'LISTEN', f'127.0.0.1:{port}'),
          f'listening socket: {ls}')
    cl, ac = f('fd_tcp_client'), f('fd_tcp_accepted')
    check(cl['state'] == 'ESTABLISHED' and cl['peer'] == f'127.0.0.1:{port}', f'client: {cl}')
    check(ac['local'] == f'127.0.0.1:{port}' and ac['peer'] == cl['local'], f'accepted: {ac}')
    udp = f('fd_udp')
    check(udp['protocol'] == 'udp' and udp['local'].startswith('127.0.0.1:'), f'udp: {udp}')
    ux = f('fd_unix_listen')
    sock = os.path.join(os.path.dirname(t.statusfile), 'sock')
    check((ux['protocol'], ux['state'], ux['local']) == ('unix', 'listening', sock), f'unix: {ux}')
    pair = f('fd_unix_a')
    check((pair['protocol'], pair['type'], pair['state']) == ('unix', 'stream', 'connected'),
          f'socketpair: {pair}')


@tap_check('cwd and root are symlinks as /proc has them; ns/ holds each namespace link')
def _(c):
    t = fdkinds(c)
    m = c.mount(t.pid)
    for n in ('cwd', 'root'):
        check(os.path.islink(m.path(n)), f'{n} is not a symlink')
        check(os.readlink(m.path(n)) == os.readlink(f'/proc/{t.pid}/{n}'), f'{n} differs')
    want = sorted(os.listdir(f'/proc/{t.pid}/ns'))
    check(sorted(os.listdir(m.path('ns'))) == want, 'ns/ names differ')
    for n in want:
        check(os.readlink(m.path('ns', n)) == os.readlink(f'/proc/{t.pid}/ns/{n}'), f'ns/{n} differs')


def sanitized(binary):
    """Whether a program was built with ASan or TSan (their runtimes are linked in)."""
    with open(binary, 'rb') as f:
        data = f.read()
    return b'__asan_init' in data or b'__tsan_init' in data


def smaps_own(text):
    """smaps without the lines that depend on other processes' mappings."""
    shared = (b'Pss', b'Shared_', b'Private_', b'Referenced')
    return b'\n'.join(l for l in text.splitlines() if not l.startswith(shared))


@tap_check('limits, cgroup, personality and smaps are the bytes /proc has, exact size, 0400')
def _(c):
    t = fdkinds(c)
    m = c.mount(t.pid)
    for n in ('limits', 'cgroup', 'personality', 'smaps'):
        with open(f'/proc/{t.pid}/{n}', 'rb') as f:
            want = f.read()
        got = m.read(n)
        check(os.stat(m.path(n)).st_size == len(got), f'{n}: st_size is not exact')
        if n == 'smaps':
            # Pss and the shared/private split move as other processes map
            # and unmap the same files (libc): compare what is the target's.
            check(len(got.splitlines()) == len(want.splitlines()),
                  f'smaps: {len(got.splitlines())} lines, /proc has {len(want.splitlines())}')
            got, want = smaps_own(got), smaps_own(want)
        check(got == want, f'{n}: {len(got)} bytes differ from /proc ({len(want)})')
        check(mode_ok(m.path(n)), f'{n}: mode is not 0400')


@tap_check('signals: queued, shared pending, ignored, caught, and each thread pending and blocked')
def _(c):
    t = fdkinds(c)
    ps = proc_status(t.pid)
    m = c.mount(t.pid)
    text = m.read('signals')
    check(os.stat(m.path('signals')).st_size == len(text), 'st_size is not exact')
    s = kv(text)
    for key, pkey in (('shared_pending', 'ShdPnd'), ('ignored', 'SigIgn'), ('caught', 'SigCgt')):
        check(s[key] == [ps[pkey]], f'{key} {s[key]} != {pkey} {ps[pkey]}')
    # SigQ is queued/limit; the count is the whole uid's, which other
    # processes move between the two reads: the limit is the target's.
    q = s['queued'][0].split('/')
    check(len(q) == 2 and q[0].isdigit() and q[1] == ps['SigQ'].split('/')[1],
          f'queued {s["queued"]} != SigQ {ps["SigQ"]}')
    check(int(s['shared_pending'][0], 16) & (1 << 9), 'SIGUSR1 not pending for the process')
    check(int(s['ignored'][0], 16) & (1 << 12), 'SIGPIPE not ignored')
    threads = {int(v.split()[0]): v.split() for v in s['thread']}
    check(sorted(threads) == sorted(int(x) for x in os.listdir(f'/proc/{t.pid}/task')),
          'thread lines differ from task/')
    for tid, v in threads.items():
        ts = proc_status(f'{t.pid}/task/{tid}')
        check(v[1:5] == ['pending', ts['SigPnd'], 'blocked', ts['SigBlk']], f'thread {tid}: {v}')


@tap_check('signals: a thread stopped by SIGSTOP before the mount says stopped_by SIGSTOP')
def _(c):
    t = fdkinds(c)
    os.kill(t.pid, 19)
    check(wait_until(lambda: proc_status(t.pid)['State'][0] == 'T', 2), 'SIGSTOP did not stop it')
    m = c.mount(t.pid)
    lines = [v for v in kv(m.read('signals'))['thread'] if v.split()[0] == str(t.pid)]
    check(lines and lines[0].endswith('stopped_by SIGSTOP'), f'main thread line {lines}')


@tap_check('modules/<n>/file: the mapped file, deleted or not; info says deleted yes')
def _(c):
    t = fdkinds(c, '-x')
    m = c.mount(t.pid)
    mods = os.listdir(m.path('modules'))
    check('fdkinds-copy' in mods, f'no module fdkinds-copy in {mods}')
    check(not any('(deleted)' in x for x in mods), f'a module name says (deleted): {mods}')
    info = {k: v[0] for k, v in kv(m.read('modules', 'fdkinds-copy', 'info')).items()}
    copy = os.path.join(os.path.dirname(t.statusfile), 'fdkinds-copy')
    check(info['path'] == copy and info['deleted'] == 'yes', f'info: {info}')
    with open(FDKINDS, 'rb') as f:
        exe = f.read()
    got = m.read('modules', 'fdkinds-copy', 'file')
    check(got == exe, f'file: {len(got)} bytes differ from the executable ({len(exe)})')
    check(os.stat(m.path('modules', 'fdkinds-copy', 'file')).st_size == len(exe), 'st_size')
    check(int(info['file_size']) == len(exe), f"file_size {info['file_size']}")
    data = m.read('modules', 'mapped-deleted', 'file')
    want = bytes(b'0123456789abcdef'[k % 16] for k in range(3 * 4096 + 100))
    check(data == want, 'mapped-deleted/file: bytes differ')
    libc = [x for x in mods if x.startswith('libc.so')]
    check(libc, 'no libc module')
    linfo = {k: v[0] for k, v in kv(m.read('modules', libc[0], 'info')).items()}
    check(linfo['deleted'] == 'no', 'libc deleted?')
    with open(linfo['path'], 'rb') as f:
        check(m.read('modules', libc[0], 'file') == f.read(), 'libc file differs from disk')
    check('file' not in os.listdir(m.path('modules', '[vdso]')), '[vdso] has a file')


@tap_check('a descriptor whose fdinfo cannot be read: a file of what is known, no error')
def _(c):
    t = fdkinds(c)
    fd = str(t.info['fd_eventfd'])
    os.environ['PTRACEFS_FAULT'] = 'fdinfo'
    try:
        m = c.mount(t.pid)
    finally:
        del os.environ['PTRACEFS_FAULT']
    target = os.readlink(f'/proc/{t.pid}/fd/{fd}')
    st = os.stat(m.path('fds', fd))     # the first render: fdinfo fails
    check(st.st_size == len(f'fd {fd}\ntarget {target}\n'),
          f'size {st.st_size}: not just fd and target')
    text = m.read('fds', fd)
    check(text.startswith(f'fd {fd}\ntarget {target}\n'.encode()), f'{text!r}')


def best_of(n, argv):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        times.append(time.perf_counter() - t0)
        check(r.returncode == 0, f'{argv}: {r.stderr.decode().strip()}')
    return min(times), r.stdout


@tap_check('100,000 descriptors: ls fds within 2x of ls /proc/PID/fd, daemon under 32 MiB')
def _(c):
    t = fdkinds(c, '-n', '100000')
    n = t.info['extra']
    if n < 100000:
        print(f'# RLIMIT_NOFILE hard limit: {n} extra descriptors, not 100000')
    # meson test sets MALLOC_PERTURB_, which makes glibc's calloc write
    # every page of the reader's thread table: measure the daemon as run.
    perturb = os.environ.pop('MALLOC_PERTURB_', None)
    try:
        m = c.mount(t.pid)
    finally:
        if perturb is not None:
            os.environ['MALLOC_PERTURB_'] = perturb
    base, want = best_of(5, ['ls', f'/proc/{t.pid}/fd'])
    ours, got = best_of(5, ['ls', m.path('fds')])
    check(got == want, 'ls fds differs from ls /proc/PID/fd')
    print(f'# {len(want.split())} descriptors: ls /proc/PID/fd {base * 1e3:.1f} ms, '
          f'ls fds {ours * 1e3:.1f} ms, ratio {ours / base:.2f}')
    # The 2x goal is bench/run's (fds section): no timings in pass/fail.
    rss = int(proc_status(m.daemon)['VmRSS'].split()[0])
    print(f'# daemon VmRSS {rss} kB after listing')
    if sanitized(os.environ['PTRACEFS_BIN']):
        print('# daemon built with a sanitizer: its shadow memory is not ours, RSS not bounded')
    else:
        check(rss < MAX_RSS_KB, f'daemon VmRSS {rss} kB')
    last = want.split()[-1].decode()
    check(kv(m.read('fds', last))['target'] == [os.readlink(f'/proc/{t.pid}/fd/{last}')],
          f'fds/{last} target')


if __name__ == '__main__':
    sys.exit(run())
