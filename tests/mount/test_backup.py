#!/usr/bin/env python3
"""mount suite, backups: every file of the tree is readable by the mounting
user, so the ordinary tools that walk a whole tree work on a mount of a real
target and exit 0: `tar --sparse -cf`, `cp -r --sparse=always` (onto tmpfs,
the one place mem's 128 TiB fits), `find -type f -exec cat`, `ls -lR`. Each
runs under a timeout far below what reading the address space would take,
so finishing at all shows it read what is resident, not what is mapped.

cat does not skip holes (only cp --sparse and tar --sparse do, as the
README says), so the cat walk leaves out the two files as large as the
address space, mem and core; every other file, regions/ and images
included, is as large as its mappings. The check proves that much: of
every file cat reads, none is larger than the target's mappings together.

The archive is then extracted onto tmpfs and compared with the mount.
TAP through harness.py, like test_mount.py.
"""
import os
import shutil
import stat
import subprocess
import sys
import tempfile

from harness import check, is_data, parse_maps, read_maps, run, tap_check

SHM = '/dev/shm'
TOOL_TIMEOUT = 120


def scratch(c):
    """A directory on tmpfs, removed (made writable first) with the check."""
    d = tempfile.mkdtemp(dir=SHM, prefix='ptracefs-backup-')

    def remove():
        subprocess.run(['chmod', '-R', 'u+rwx', d], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)
    c.undo.append(remove)
    return d


def tool(argv, stdout=subprocess.DEVNULL):
    """Runs argv; (exit status, stderr). A timeout is a failed check."""
    try:
        r = subprocess.run(argv, stdout=stdout, stderr=subprocess.PIPE, timeout=TOOL_TIMEOUT)
    except subprocess.TimeoutExpired:
        check(False, f'{argv[0]} still running after {TOOL_TIMEOUT} s')
    return r.returncode, r.stderr.decode(errors='replace').strip()


def mapped_bytes(pid):
    return sum(e - s for s, e, _, _ in parse_maps(read_maps(pid).decode()))


def same_bytes(m, root, *p):
    with open(os.path.join(root, *p), 'rb') as f:
        return f.read() == m.read(*p)


@tap_check('tar --sparse archives the whole tree; extracted, it has the mount\'s bytes')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    d = scratch(c)
    tarball = os.path.join(d, 'tree.tar')
    rc, err = tool(['tar', '--sparse', '-C', m.mnt, '-cf', tarball, '.'])
    check(rc == 0, f'tar -c exited {rc}: {err}')
    mem_size = os.stat(m.path('mem')).st_size
    size = os.stat(tarball).st_size
    check(size < mem_size // 1000, f'archive of {size} bytes for a mem of {mem_size}: not sparse')
    out = os.path.join(d, 'x')
    os.mkdir(out)
    rc, err = tool(['tar', '-C', out, '-xf', tarball])
    check(rc == 0, f'tar -x exited {rc}: {err}')
    tid = str(t.pid)
    for p in (('maps',), ('status',), ('ctl',), ('threads', tid, 'regs'),
              ('threads', tid, 'stat')):
        check(same_bytes(m, out, *p), f'{"/".join(p)}: extracted bytes differ')
    # mem, extracted: as large, still sparse, the same bytes where there is data
    st = os.stat(os.path.join(out, 'mem'))
    check(st.st_size == mem_size, f'extracted mem is {st.st_size} bytes, not {mem_size}')
    check(st.st_blocks * 512 < mem_size // 1000, 'extracted mem is not sparse')
    data = [x for x in parse_maps(m.read('maps').decode()) if is_data(x) and x[1] <= mem_size]
    check(data, 'no readable mapping in maps')
    with open(m.path('mem'), 'rb') as a, open(os.path.join(out, 'mem'), 'rb') as b:
        for start, end, _, path in data[:4] + data[-2:]:
            n = min(4096, end - start)
            check(os.pread(a.fileno(), n, start) == os.pread(b.fileno(), n, start),
                  f'mem at {start:#x} ({path}): extracted bytes differ')
    check(os.path.islink(os.path.join(out, 'exe')), 'exe not archived as a symlink')


@tap_check('cp -r --sparse=always copies the whole tree onto tmpfs, mem sparse')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    d = scratch(c)
    out = os.path.join(d, 'copy')
    rc, err = tool(['cp', '-r', '--sparse=always', m.mnt, out])
    check(rc == 0, f'cp exited {rc}: {err}')
    mem_size = os.stat(m.path('mem')).st_size
    st = os.stat(os.path.join(out, 'mem'))
    check(st.st_size == mem_size, f'copied mem is {st.st_size} bytes, not {mem_size}')
    check(st.st_blocks * 512 < mem_size // 1000, 'copied mem is not sparse')
    for p in (('maps',), ('status',), ('ctl',), ('threads', str(t.pid), 'regs')):
        check(same_bytes(m, out, *p), f'{"/".join(p)}: copied bytes differ')
    mods = os.listdir(m.path('modules'))
    check(set(os.listdir(os.path.join(out, 'modules'))) == set(mods), 'modules/ not all copied')


@tap_check('find -type f -exec cat reads every file but mem and core; ls -lR lists all')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    mapped = mapped_bytes(t.pid)
    cmd = ['find', m.mnt, '-type', 'f', '!', '-path', m.path('mem'), '!', '-path', m.path('core'),
           '-exec', 'cat', '{}', '+']
    rc, err = tool(cmd)
    check(rc == 0, f'find -exec cat exited {rc}: {err}')
    # what cat read is bounded by the mappings; mem and core are not
    big = []
    for d, _, files in os.walk(m.mnt):
        for f in files:
            p = os.path.join(d, f)
            if p in (m.path('mem'), m.path('core')):
                continue
            if os.lstat(p).st_size > mapped:
                big.append(p)
    check(not big, f'files larger than all mappings: {big[:3]}')
    check(os.stat(m.path('mem')).st_size > 1000 * mapped, 'mem is not address-space sized')
    rc, err = tool(['ls', '-lR', m.mnt])
    check(rc == 0, f'ls -lR exited {rc}: {err}')


@tap_check('every file and directory of the tree opens for reading')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    bad = []
    for d, dirs, files in os.walk(m.mnt):
        for n in dirs + files:
            p = os.path.join(d, n)
            if stat.S_ISLNK(os.lstat(p).st_mode):
                continue
            try:
                os.close(os.open(p, os.O_RDONLY))
            except OSError as e:
                bad.append(f'{p}: {e.strerror}')
    check(not bad, '; '.join(bad[:5]))


if __name__ == '__main__':
    sys.exit(run())
