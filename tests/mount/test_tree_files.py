#!/usr/bin/env python3
"""mount suite, the rest of the tree: cmdline, environ, auxv, exe, status
extras, threads/<tid>/stat, threads/<tid>/stack and the root stack,
regions/, modules/, and a tar round trip of the small files. Each file is
checked against an independent source: /proc at suspension, eu-readelf,
readelf, eu-stack and gdb on the live process after the unmount.
TAP through harness.py, like test_mount.py.
"""
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

from harness import (PAGE, check, is_anon, is_data, pagemap, parse_maps, proc_status,
                     read_maps, run, tap_check)


def proc_bytes(pid, name):
    with open(f'/proc/{pid}/{name}', 'rb') as f:
        return f.read()


def kv(text):
    out = {}
    for line in text.decode().splitlines():
        k, _, v = line.partition(' ')
        out[k] = v
    return out


@tap_check('cmdline, environ and auxv are the bytes /proc has')
def _(c):
    t = c.target()
    want = {n: proc_bytes(t.pid, n) for n in ('cmdline', 'environ', 'auxv')}
    m = c.mount(t.pid)
    for n, b in want.items():
        got = m.read(n)
        check(got == b, f'{n}: {len(got)} bytes differ from /proc ({len(b)})')
        check(os.stat(m.path(n)).st_size == len(b), f'{n}: st_size is not exact')


@tap_check('exe is a symlink to what /proc/PID/exe names')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    check(os.path.islink(m.path('exe')), 'exe is not a symlink')
    check(os.readlink(m.path('exe')) == os.readlink(f'/proc/{t.pid}/exe'), 'exe differs')


@tap_check('status has ppid, uid, gid, coredump_filter and the exe build-id')
def _(c):
    t = c.target()
    ps = proc_status(t.pid)
    with open(f'/proc/{t.pid}/coredump_filter') as f:
        filt = int(f.read(), 16)
    m = c.mount(t.pid)
    st = kv(m.read('status'))
    check(st['ppid'] == ps['PPid'], f"ppid {st['ppid']} != {ps['PPid']}")
    check(st['uid'].split() == ps['Uid'].split(), f"uid {st['uid']!r} != {ps['Uid']!r}")
    check(st['gid'].split() == ps['Gid'].split(), f"gid {st['gid']!r} != {ps['Gid']!r}")
    check(int(st['coredump_filter'], 16) == filt, 'coredump_filter differs')
    out = subprocess.run(['eu-readelf', '-n', os.readlink(f'/proc/{t.pid}/exe')],
                         capture_output=True, text=True).stdout
    bid = re.search(r'Build ID: ([0-9a-f]+)', out)
    check(bid, 'the sample target has no build id (eu-readelf)')
    check(st.get('build-id') == bid.group(1), f"build-id {st.get('build-id')} != {bid.group(1)}")


@tap_check('threads/<tid>/stat: name, main, state and syscall as /proc had them')
def _(c):
    t = c.target()
    before = {}
    for tid in os.listdir(f'/proc/{t.pid}/task'):
        with open(f'/proc/{t.pid}/task/{tid}/comm') as f:
            before[tid] = f.read().strip()
    m = c.mount(t.pid)
    check(sorted(os.listdir(m.path('threads'))) == sorted(before), 'thread set differs')
    for tid, comm in before.items():
        st = kv(m.read('threads', tid, 'stat'))
        check(st['name'] == comm, f'{tid}: name {st["name"]!r} != {comm!r}')
        check(st['main'] == ('yes' if int(tid) == t.pid else 'no'), f'{tid}: main wrong')
        # while suspended, /proc's syscall file still tells what it was in
        with open(f'/proc/{t.pid}/task/{tid}/syscall') as f:
            nr = f.read().split()[0]
        if nr == 'running' or nr == '-1':
            check(st['syscall'] == 'none', f'{tid}: syscall {st["syscall"]!r}, /proc says {nr}')
        else:
            check(st['syscall'].split()[0] == nr, f'{tid}: syscall {st["syscall"]!r} != {nr}')
        check(st['state'][0] in 'RSD', f'{tid}: state before suspension {st["state"]!r}')


STACK_LINE = re.compile(r'^#(\d+)\s+0x([0-9a-f]+)\s+(\S+?)(?:\+0x[0-9a-f]+)?(?:\s|$)')


def stack_functions(text):
    """{tid: [function, ...]} from ptracefs's or eu-stack's process output."""
    out, cur = {}, None
    for line in text.splitlines():
        m = re.match(r'^TID (\d+):', line)
        if m:
            cur = out.setdefault(int(m.group(1)), [])
            continue
        m = STACK_LINE.match(line)
        if m and cur is not None:
            cur.append(m.group(3))
    return out


def base(fn):
    """One spelling per function: a symbol version (clock_nanosleep@GLIBC_2.2.5),
    glibc's internal alias (__GI___clock_nanosleep) and the DWARF name
    (__clock_nanosleep) all name the same code."""
    return fn.split('@')[0].replace('__GI_', '').lstrip('_')


def blocked_tids(pid, names):
    tids = []
    for tid in os.listdir(f'/proc/{pid}/task'):
        with open(f'/proc/{pid}/task/{tid}/comm') as f:
            if f.read().strip() in names:
                tids.append(int(tid))
    return tids


@tap_check('stack: the same functions eu-stack -i finds on the live process')
def _(c):
    t = c.target()
    stable = blocked_tids(t.pid, ('condwait', 'piperead'))
    check(len(stable) == 2, f'sample target threads: {stable}')
    m = c.mount(t.pid)
    ours = stack_functions(m.read('stack').decode())
    check(set(ours) == {int(x) for x in os.listdir(f'/proc/{t.pid}/task')},
          'stack does not cover every thread')
    per_thread = {tid: [x for x in stack_functions('TID %d:\n' % tid + m.read(
        'threads', str(tid), 'stack').decode())[tid]] for tid in stable}
    check(m.unmount() == 0, 'daemon exit status')
    r = subprocess.run(['eu-stack', '-i', '-p', str(t.pid)], capture_output=True, text=True,
                       timeout=60)
    theirs = stack_functions(r.stdout)
    for tid in stable:
        check(ours[tid] and [base(f) for f in ours[tid]] == [base(f) for f in theirs.get(tid, [])],
              f'{tid}: ptracefs {ours[tid]} != eu-stack {theirs.get(tid)}')
        check(per_thread[tid] == ours[tid], f'{tid}: threads/{tid}/stack differs from stack')
        check('worker' in ours[tid], f'{tid}: no worker frame in {ours[tid]}')


@tap_check('stack of a real program (python3 in time.sleep) matches gdb')
def _(c):
    s = c.sleeper()
    m = c.mount(s.pid)
    ours = stack_functions(m.read('stack').decode())[s.pid]
    check(len(ours) >= 3, f'short backtrace {ours}')
    check(m.unmount() == 0, 'daemon exit status')
    r = subprocess.run(['gdb', '-batch', '-nx', '-p', str(s.pid), '-ex', 'bt'],
                       capture_output=True, text=True, timeout=120)
    gdb = re.findall(r'^#\d+\s+(?:0x[0-9a-f]+ in )?(\S+) \(', r.stdout, re.M)
    check(gdb, f'gdb gave no backtrace: {r.stdout[-400:]} {r.stderr[-400:]}')
    check([base(f) for f in ours] == [base(f) for f in gdb], f'ptracefs {ours} != gdb {gdb}')


GDB_THREAD = re.compile(r'^Thread \d+ \(.*?LWP (\d+)\)')
GDB_FRAME = re.compile(r'^#\d+\s+(?:0x[0-9a-f]+ in )?(\S+) \(')


@tap_check('stack: every thread as gdb bt on our own core shows it')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    ours = stack_functions(m.read('stack').decode())
    core = os.path.join(c.tmp, 'stack.core')
    subprocess.run(['cp', '--sparse=always', m.path('core'), core], check=True)
    r = subprocess.run(['gdb', '-nx', '-batch', '-ex', 'set pagination off',
                        '-ex', 'thread apply all bt', os.readlink(m.path('exe')), core],
                       capture_output=True, text=True, timeout=120)
    os.unlink(core)
    gdb, cur = {}, None
    for line in r.stdout.splitlines():
        mt = GDB_THREAD.match(line)
        if mt:
            cur = gdb.setdefault(int(mt.group(1)), [])
        mf = GDB_FRAME.match(line)
        if mf and cur is not None:
            cur.append(mf.group(1))
    check(set(gdb) == set(ours), f'threads: gdb {sorted(gdb)} ours {sorted(ours)}')
    for tid in ours:
        # gdb stops at main (backtrace past-main is off); the rest must agree
        theirs = [base(f) for f in gdb[tid]]
        mine = [base(f) for f in ours[tid]]
        if theirs and theirs[-1] == 'main':
            mine = mine[:len(theirs)]
        # gdb also rebuilds tail-call frames from DWARF call sites, which
        # an unwinder cannot see: ours must be gdb's, minus at most two
        it = iter(theirs)
        check(len(theirs) >= 2 and mine[0] == theirs[0] and mine[-1] == theirs[-1] and
              all(f in it for f in mine) and len(theirs) - len(mine) <= 2,
              f'{tid}: ptracefs {ours[tid]} != gdb on core {gdb[tid]}')


@tap_check('regions: one file per mapping, bytes as /proc/PID/mem has them')
def _(c):
    t = c.target()
    maps = parse_maps(read_maps(t.pid).decode())
    m = c.mount(t.pid)
    names = sorted(os.listdir(m.path('regions')))
    check(names == sorted(f'{x[0]:x}-{x[1]:x}' for x in maps), 'regions/ differs from maps')
    with open(f'/proc/{t.pid}/mem', 'rb', buffering=0) as pm:
        for x in maps:
            name = f'{x[0]:x}-{x[1]:x}'
            size = x[1] - x[0]
            check(os.stat(m.path('regions', name)).st_size == size, f'{name}: st_size')
            if not is_data(x):
                continue
            n = min(size, 16 * PAGE)
            with open(m.path('regions', name), 'rb') as f:
                got = f.read(n)
            present = pagemap(t.pid, x[0], x[0] + n)
            for i in range(0, n, PAGE):
                page = got[i:i + PAGE]
                if is_anon(x) and not present[i // PAGE]:
                    check(page == bytes(PAGE), f'{name}+{i:#x}: hole is not zeros')
                else:
                    check(page == os.pread(pm.fileno(), PAGE, x[0] + i),
                          f'{name}+{i:#x} differs from /proc/PID/mem')


@tap_check('modules: build-id as eu-readelf says, image is the mapped ELF')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    mods = os.listdir(m.path('modules'))
    check('libc.so.6' in mods, f'no libc.so.6 in {mods}')
    for name in ('libc.so.6', os.path.basename(os.readlink(f'/proc/{t.pid}/exe'))):
        info = kv(m.read('modules', name, 'info'))
        check(info['type'] == 'ELF' and info['corrupt'] == 'no', f'{name}: {info}')
        out = subprocess.run(['eu-readelf', '-n', info['path']], capture_output=True,
                             text=True).stdout
        bid = re.search(r'Build ID: ([0-9a-f]+)', out).group(1)
        check(m.read('modules', name, 'build-id').decode() == bid + '\n', f'{name}: build-id')
        check(info['build-id'] == bid, f'{name}: info build-id')
        check(int(info['file_size']) == os.stat(info['path']).st_size, f'{name}: file_size')
        r = subprocess.run(['readelf', '-h', m.path('modules', name, 'image')],
                           capture_output=True, text=True)
        check('ELF64' in r.stdout and 'X86-64' in r.stdout, f'{name}: readelf -h: {r.stdout}')
        with open(info['path'], 'rb') as f:
            head = f.read(64)
        check(m.read('modules', name, 'image')[:64] == head, f'{name}: image header != file')
    # modules without a build id have no build-id file
    for name in mods:
        has = os.path.exists(m.path('modules', name, 'build-id'))
        check(has == ('build-id' in kv(m.read('modules', name, 'info'))),
              f'{name}: build-id file and info disagree')


@tap_check('tar round-trips every byte of the small files')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    tmp = tempfile.mkdtemp(dir=c.tmp)
    tarball = os.path.join(tmp, 'tree.tar')
    r = subprocess.run(['tar', '-C', m.mnt, '--exclude=./mem', '--exclude=./core', '--exclude=./ctl',
                        '--exclude=./regions', '--exclude=./modules', '-cf', tarball, '.'],
                       capture_output=True, text=True)
    check(r.returncode == 0, f'tar: {r.stderr}')
    out = os.path.join(tmp, 'x')
    os.mkdir(out)
    with tarfile.open(tarball) as tf:
        members = [x for x in tf.getmembers() if x.isfile()]
        tf.extractall(out)
    check(len(members) >= 8, f'only {len(members)} files archived')
    for x in members:
        with open(os.path.join(out, x.name), 'rb') as f:
            saved = f.read()
        check(saved == m.read(x.name), f'{x.name}: archived bytes differ')
        check(x.size == os.stat(m.path(x.name)).st_size, f'{x.name}: size in tar')
    shutil.rmtree(tmp)


if __name__ == '__main__':
    sys.exit(run())
