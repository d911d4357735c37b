#!/usr/bin/env python3
"""mount suite, core files as the source: `ptracefs CORE MNT` of the
sample target's kernel core, its gcore core and our own `core`, each
checked against what /proc said of the process before the dump; refusals
of what is not a core; a large sparse core's mount time and RSS. TAP
through tests/mount/harness.py. The QEMU guests' cores are not here.
"""
import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'mount'))

import harness  # noqa: E402
from harness import (PTRACEFS, check, mounted, parse_maps, pread_full, read_maps, run, settle,  # noqa: E402
                     tap_check, wait_until, Skip, LIVE_MOUNTS)


class CoreMount:
    """A mount of a core file: no target, so no tracer to find."""

    def __init__(self, c, core, extra=()):
        self.mnt = tempfile.mkdtemp(dir=c.tmp)
        LIVE_MOUNTS.add(self.mnt)
        c.undo.append(self.cleanup)
        t0 = time.monotonic()
        r = subprocess.run([PTRACEFS, *extra, core, self.mnt], capture_output=True, timeout=60)
        self.seconds = time.monotonic() - t0
        check(r.returncode == 0, f'ptracefs {core} exited {r.returncode}: '
              f'{r.stderr.decode(errors="replace").strip()}')
        check(wait_until(lambda: mounted(self.mnt), 2), 'no mount after ptracefs returned')

    def path(self, *p):
        return os.path.join(self.mnt, *p)

    def read(self, *p):
        with open(self.path(*p), 'rb') as f:
            return f.read()

    def text(self, *p):
        return self.read(*p).decode(errors='replace')

    def status(self):
        return dict(line.split(' ', 1) for line in self.text('status').splitlines() if ' ' in line)

    def cleanup(self):
        if mounted(self.mnt):
            settle(self.mnt)
            subprocess.run(['fusermount3', '-u', self.mnt], capture_output=True, timeout=30)
            wait_until(lambda: not mounted(self.mnt), 5)
        if mounted(self.mnt):
            subprocess.run(['fusermount3', '-uz', self.mnt], capture_output=True, timeout=30)
        LIVE_MOUNTS.discard(self.mnt)
        try:
            os.rmdir(self.mnt)
        except OSError:
            pass


def before(t):
    """What /proc says of the target before its dump."""
    tasks = sorted(int(x) for x in os.listdir(f'/proc/{t.pid}/task'))
    sys_ = {}
    for tid in tasks:
        with open(f'/proc/{t.pid}/task/{tid}/syscall') as f:
            w = f.read().split()
        if w and w[0] != 'running' and len(w) >= 3:
            sys_[tid] = (int(w[-2], 16), int(w[-1], 16))
    with open(f'/proc/{t.pid}/cmdline', 'rb') as f:
        cmdline = f.read()
    with open(f'/proc/{t.pid}/environ', 'rb') as f:
        environ = f.read()
    return {'tasks': tasks, 'syscall': sys_, 'maps': read_maps(t.pid).decode(), 'cmdline': cmdline,
            'environ': environ}


def regs(m, tid):
    out = {}
    for line in m.text('threads', str(tid), 'regs').splitlines():
        k, v = line.split()
        out[k] = int(v, 16)
    return out


def libc_build_id(path):
    r = subprocess.run(['eu-readelf', '-n', path], capture_output=True, timeout=60)
    mt = re.search(r'Build ID: ([0-9a-f]+)', r.stdout.decode())
    return mt.group(1) if mt else None


def check_tree(c, t, b, m, kind, exact_cmdline=True):
    """What every core of the sample target must give."""
    st = m.status()
    check(st.get('source') == 'core', f'status: source {st.get("source")}')
    check(st.get('core_kind') == kind, f'status: core_kind {st.get("core_kind")}, want {kind}')
    check(int(st['pid']) == t.pid, f'status: pid {st["pid"]}')
    check(st.get('comm') == 'ptracefs-sample', f'status: comm {st.get("comm")}')
    check('reconstructed' in m.text('status'), 'status does not say what is reconstructed')
    for name in ('ctl', 'fds', 'cwd', 'limits', 'ns', 'smaps'):
        check(not os.path.lexists(m.path(name)), f'{name} is there in a core mount')
    tids = sorted(int(x) for x in os.listdir(m.path('threads')))
    check(tids == b['tasks'], f'threads {tids}, /proc had {b["tasks"]}')
    for tid, (sp, pc) in b['syscall'].items():
        r = regs(m, tid)
        check((r['rsp'], r['rip']) == (sp, pc),
              f'thread {tid}: sp/pc {r["rsp"]:#x}/{r["rip"]:#x}, /proc said {sp:#x}/{pc:#x}')
    i = t.info
    with open(m.path('mem'), 'rb') as f:
        data = os.pread(f.fileno(), i['buflen'], i['buf'])
    want = b''.join(struct.pack('<Q', i['buf'] + 8 * k) for k in range(i['buflen'] // 8))
    check(data == want, 'mem: the buffer is not the target\'s pattern')
    # maps: every file mapping of /proc's is there with its range, rwx,
    # offset and path; every mapping in ours is one of /proc's
    ours = {(s, e): (p, n) for s, e, p, n in parse_maps(m.text('maps'))}
    for s, e, p, n in parse_maps(b['maps']):
        if not n.startswith('/'):
            continue
        check((s, e) in ours, f'{n} at {s:#x}-{e:#x} is missing from maps')
        # gcore writes no LOAD for what it does not dump: rwx unknown there
        check((ours[(s, e)][0][:3] == p[:3] or kind == 'gdb') and ours[(s, e)][1] == n,
              f'{s:#x}: {ours[(s, e)]}, /proc {p} {n}')
    theirs = {(s, e) for s, e, p, n in parse_maps(b['maps'])}
    extra = [k for k in ours if k not in theirs]
    check(not extra, f'maps has ranges /proc did not: {extra[:3]}')
    libc = next(n for s, e, p, n in parse_maps(b['maps']) if '/libc.so' in n)
    got = m.text('modules', os.path.basename(libc), 'build-id').strip()
    check(got == libc_build_id(libc), f'libc build-id {got}, eu-readelf {libc_build_id(libc)}')
    stack = m.text('stack')
    check(re.search(r'nanosleep|futex|__libc_read', stack), f'stack names no blocking call:\n{stack[:800]}')
    if exact_cmdline:
        check(m.read('cmdline') == b['cmdline'], f'cmdline {m.read("cmdline")!r}')
        check(m.read('environ') == b['environ'], 'environ differs from /proc\'s')
    # our re-dump loads in gdb, threads and a named frame
    d = tempfile.mkdtemp(dir='/dev/shm', prefix='ptracefs-recore-')
    c.undo.append(lambda: shutil.rmtree(d, ignore_errors=True))
    dst = os.path.join(d, 'core')
    r = subprocess.run(['cp', '--sparse=always', m.path('core'), dst], capture_output=True, timeout=120)
    check(r.returncode == 0, f'cp core: {r.stderr.decode().strip()}')
    r = subprocess.run(['gdb', '-nx', '-batch', '-ex', 'info threads', '-ex', 'bt 4',
                        harness.TARGET, dst], capture_output=True, timeout=120)
    out = r.stdout.decode(errors='replace')
    check(out.count('LWP') >= len(b['tasks']), f'gdb sees {out.count("LWP")} threads:\n{out[:600]}')
    check(re.search(r'#0 .* in \w+', out), f'gdb names no frame:\n{out[:800]}')


def dumpable():
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


@tap_check('core source: the kernel\'s core of the sample target, mounted')
def _(c):
    d = tempfile.mkdtemp(dir='/dev/shm', prefix='ptracefs-kcore-')
    c.undo.append(lambda: shutil.rmtree(d, ignore_errors=True))
    with open('/proc/sys/kernel/core_pattern') as f:
        pattern = f.read()
    try:
        with open('/proc/sys/kernel/core_pattern', 'w') as f:
            f.write(os.path.join(d, 'core.%p'))
    except OSError as e:
        raise Skip(f'cannot point core_pattern at a directory ({e.strerror}); it is {pattern.strip()!r}')
    try:
        t = c.target(preexec_fn=dumpable)
        b = before(t)
        os.kill(t.pid, signal.SIGABRT)
        t.proc.wait(timeout=60)
    finally:
        with open('/proc/sys/kernel/core_pattern', 'w') as f:
            f.write(pattern)
    core = os.path.join(d, f'core.{t.pid}')
    check(os.path.exists(core), f'no kernel core in {d}: {os.listdir(d)}')
    m = CoreMount(c, core)
    check_tree(c, t, b, m, 'kernel')
    st = m.status()
    check(st.get('signal', '').startswith('6 SIGABRT'), f'status: signal {st.get("signal")}')


@tap_check('core source: gdb\'s gcore of the sample target, mounted')
def _(c):
    if not shutil.which('gcore'):
        raise Skip('gcore is not installed')
    d = tempfile.mkdtemp(dir='/dev/shm', prefix='ptracefs-gcore-')
    c.undo.append(lambda: shutil.rmtree(d, ignore_errors=True))
    t = c.target()
    b = before(t)
    r = subprocess.run(['gcore', '-o', os.path.join(d, 'core'), str(t.pid)],
                       capture_output=True, timeout=120)
    check(r.returncode == 0, f'gcore: {r.stderr.decode(errors="replace")[-400:]}')
    core = os.path.join(d, f'core.{t.pid}')
    m = CoreMount(c, core)
    check_tree(c, t, b, m, 'gdb')


@tap_check('core source: our own core (cp --sparse) of a mount, mounted')
def _(c):
    t = c.target()
    b = before(t)
    live = c.mount(t.pid)
    d = tempfile.mkdtemp(dir='/dev/shm', prefix='ptracefs-ocore-')
    c.undo.append(lambda: shutil.rmtree(d, ignore_errors=True))
    core = os.path.join(d, 'core')
    r = subprocess.run(['cp', '--sparse=always', live.path('core'), core], capture_output=True,
                       timeout=120)
    check(r.returncode == 0, f'cp: {r.stderr.decode().strip()}')
    check(live.unmount() == 0, 'daemon exit status')
    m = CoreMount(c, core)
    # until our core carries PTRACEFS notes it is told from a kernel's by nothing
    kind = m.status().get('core_kind')
    check(kind in ('kernel', 'ptracefs'), f'core_kind {kind}')
    check_tree(c, t, b, m, kind)



# ---- round trip: a live mount, its `core`, that core mounted ----

def core_phdrs(path):
    """(type, offset, vaddr, filesz, memsz) of each program header of a 64-bit core."""
    with open(path, 'rb') as f:
        eh = f.read(64)
        phoff, = struct.unpack_from('<Q', eh, 32)
        phentsize, phnum = struct.unpack_from('<HH', eh, 54)
        f.seek(phoff)
        raw = f.read(phentsize * phnum)
    out = []
    for i in range(phnum):
        typ, _flags, off, vaddr, _pa, filesz, memsz, _al = struct.unpack_from('<IIQQQQQQ', raw, i * phentsize)
        out.append((typ, off, vaddr, filesz, memsz))
    return out


def ptracefs_notes(path):
    """[(file offset of the note's descriptor, type, descriptor)] of the last PT_NOTE."""
    typ, off, _v, filesz, _m = [p for p in core_phdrs(path) if p[0] == 4][-1]
    with open(path, 'rb') as f:
        f.seek(off)
        seg = f.read(filesz)
    out, at = [], 0
    while at + 12 <= len(seg):
        namesz, descsz, t = struct.unpack_from('<III', seg, at)
        d = at + 12 + (namesz + 3) // 4 * 4
        out.append((off + d, t, seg[d:d + descsz]))
        at = d + (descsz + 3) // 4 * 4
    return out


def tree_texts(m):
    """Every text file the round trip must keep, by path."""
    out = {}
    for name in ('status', 'maps', 'cmdline', 'environ', 'auxv'):
        out[name] = m.read(name)
    out['regions/'] = '\n'.join(sorted(os.listdir(m.path('regions')))).encode()
    for tid in sorted(os.listdir(m.path('threads'))):
        for name in ('regs', 'fpregs', 'stat'):
            if os.path.exists(m.path('threads', tid, name)):
                out[f'threads/{tid}/{name}'] = m.read('threads', tid, name)
    for mod in sorted(os.listdir(m.path('modules'))):
        for name in ('info', 'build-id'):
            if os.path.exists(m.path('modules', mod, name)):
                out[f'modules/{mod}/{name}'] = m.read('modules', mod, name)
    out['modules/'] = '\n'.join(sorted(os.listdir(m.path('modules')))).encode()
    return out


# status lines that cannot be equal: the source and what it says of itself,
# the state (a core never runs), what only /proc/PID has
STATUS_DIFFERS = ('state', 'source', 'core_file', 'core_kind', 'reconstructed', 'problems',
                  'signal', 'si_code', 'si_addr', 'coredump_filter', 'mode', 'detached',
                  'tracer')


def info_kept(text):
    return [line for line in text.decode().splitlines() if not line.startswith('file_size ')]


def status_kept(text):
    return [line for line in text.decode().splitlines() if line.split(' ', 1)[0] not in STATUS_DIFFERS]


def dumped_digests(mem_path, loads):
    """sha256 of mem over each PT_LOAD's dumped bytes (what `core` holds)."""
    import hashlib
    out = {}
    with open(mem_path, 'rb') as f:
        for vaddr, filesz in loads:
            h, done = hashlib.sha256(), 0
            while done < filesz:
                n = min(1 << 20, filesz - done)
                h.update(pread_full(f.fileno(), n, vaddr + done))
                done += n
            out[vaddr] = h.hexdigest()
    return out


def round_trip(c, pid, name):
    """Mount pid, copy its core, mount that: the trees must be the same."""
    live = c.mount(pid)
    want = tree_texts(live)
    d = tempfile.mkdtemp(dir='/dev/shm', prefix='ptracefs-rt-')
    c.undo.append(lambda: shutil.rmtree(d, ignore_errors=True))
    core = os.path.join(d, 'x.core')
    r = subprocess.run(['cp', '--sparse=always', live.path('core'), core], capture_output=True,
                       timeout=300)
    check(r.returncode == 0, f'cp: {r.stderr.decode().strip()}')
    loads = [(v, fs) for t, _o, v, fs, _m in core_phdrs(core) if t == 1 and fs and v < 1 << 63]
    want_mem = dumped_digests(live.path('mem'), loads)
    check(live.unmount() == 0, 'daemon exit status')
    m = CoreMount(c, core)
    got = tree_texts(m)
    st = m.text('status')
    check('core_kind ptracefs' in st, f'{name}: not told as our own core: {st!r}')
    check(set(got) == set(want), f'{name}: files {sorted(set(got) ^ set(want))[:6]} differ in presence')
    for path in sorted(want):
        a, b = want[path], got.get(path, b'')
        if path == 'status':
            a, b = status_kept(a), status_kept(b)
        elif path.endswith('/info'):
            # a core mount opens no mapped file: no size to give
            check(b'file_size missing\n' in b, f'{name}: {path}: {b!r}')
            a, b = info_kept(a), info_kept(b)
        check(a == b, f'{name}: {path} differs: live {a!r}, core {b!r}')
    check(dumped_digests(m.path('mem'), loads) == want_mem, f'{name}: mem differs in a dumped range')
    check('reconstructed none' in st and 'problems' not in st,
          f'{name}: status says something is reconstructed: {st!r}')
    # regions: each dumped one's bytes, through its own file
    for reg in os.listdir(m.path('regions')):
        s, e = (int(x, 16) for x in reg.split('-'))
        for v, fs in loads:
            if v == s:
                with open(m.path('regions', reg), 'rb') as f:
                    got_b = pread_full(f.fileno(), min(fs, 1 << 16), 0)
                with open(m.path('mem'), 'rb') as f:
                    check(got_b == pread_full(f.fileno(), min(fs, 1 << 16), s),
                          f'{name}: regions/{reg} is not mem')
    return core, m


@tap_check('core source: round trip, sample target: the core\'s mount is the live mount, byte for byte')
def _(c):
    t = c.target()
    core, m = round_trip(c, t.pid, 'sample')
    # a core of that core's mount carries the notes on: lossless again
    d = os.path.dirname(core)
    again = os.path.join(d, 'again.core')
    r = subprocess.run(['cp', '--sparse=always', m.path('core'), again], capture_output=True,
                       timeout=300)
    check(r.returncode == 0, f'cp: {r.stderr.decode().strip()}')
    first = tree_texts(m)
    m2 = CoreMount(c, again)
    st = m2.text('status')
    check('reconstructed none' in st, f'core of a core: status says something is reconstructed: {st!r}')
    second = tree_texts(m2)
    for path in first:
        if path != 'status':
            check(second.get(path) == first[path], f'core of a core: {path} differs')


PY_PROGRAM = r"""
import sys, threading, time
ev = threading.Event()
for _ in range(3):
    threading.Thread(target=ev.wait, daemon=True).start()
data = bytes(range(256)) * 4096
print('ready', flush=True)
time.sleep(3600)
"""


@tap_check('core source: round trip, python3 (a real program, 4 threads), byte for byte')
def _(c):
    p = subprocess.Popen([sys.executable, '-c', PY_PROGRAM], stdout=subprocess.PIPE,
                         env={**os.environ, 'PTRACEFS_RT': 'x' * 100})
    c.undo.append(lambda: (p.kill(), p.wait()))
    check(p.stdout.readline() == b'ready\n', 'python3 did not start')
    round_trip(c, p.pid, 'python3')


@tap_check('core source: hostile PTRACEFS notes fall back to the reconstruction, said in problems')
def _(c):
    t = c.target()
    live = c.mount(t.pid)
    d = tempfile.mkdtemp(dir='/dev/shm', prefix='ptracefs-hn-')
    c.undo.append(lambda: shutil.rmtree(d, ignore_errors=True))
    good = os.path.join(d, 'good.core')
    r = subprocess.run(['cp', '--sparse=always', live.path('core'), good], capture_output=True,
                       timeout=120)
    check(r.returncode == 0, f'cp: {r.stderr.decode().strip()}')
    live_maps = live.read('maps')
    check(live.unmount() == 0, 'daemon exit status')
    notes = {t: (off, desc) for off, t, desc in reversed(ptracefs_notes(good))}
    maps_off, maps_desc = notes[0x50544602]
    first = maps_desc.split(b'\n', 1)[0]
    perm_at = first.index(b' ') + 1
    cases = {
        # a format this ptracefs does not know
        'format': (notes[0x50544601][0], struct.pack('<I', 99), 'format'),
        # maps that say a PT_LOAD is not readable
        'maps': (maps_off + perm_at, b'-' if first[perm_at:perm_at + 1] != b'-' else b'r', 'maps'),
        # a thread note for a thread the core has no NT_PRSTATUS of
        'thread': (notes[0x50544606][0], struct.pack('<I', 0x7ffffff0), 'NT_PRSTATUS'),
    }
    for what, (off, patch, why) in cases.items():
        bad = os.path.join(d, f'{what}.core')
        shutil.copyfile(good, bad)
        with open(bad, 'r+b') as f:
            os.pwrite(f.fileno(), patch, off)
        m = CoreMount(c, bad)
        st = m.status()
        check('PTRACEFS notes ignored' in st.get('problems', '') and why in st.get('problems', ''),
              f'{what}: problems {st.get("problems")!r}')
        check('reconstructed none' not in m.text('status'), f'{what}: status claims lossless')
        check(b'00:00 0' in m.read('maps') and m.read('maps') != live_maps,
              f'{what}: maps not reconstructed')
        check(sorted(int(x) for x in os.listdir(m.path('threads'))) == sorted(t_ for t_ in
              (int(x) for x in os.listdir(f'/proc/{t.pid}/task'))), f'{what}: threads')
        check(m.read('cmdline').startswith(b'/') or m.read('cmdline'), f'{what}: cmdline empty')
        m.cleanup()

# ---- synthetic cores ----

def elf_core(loads, notes, phnum_override=None, machine=62):
    """A minimal x86_64 core: header, PT_NOTE, PT_LOADs (vaddr, data, memsz)."""
    def note(name, typ, desc):
        n = name.encode() + b'\0'
        pad = lambda b: b + bytes(-len(b) % 4)  # noqa: E731
        return struct.pack('<III', len(n), len(desc), typ) + pad(n) + pad(desc)
    nbytes = b''.join(note(*x) for x in notes)
    phnum = 1 + len(loads)
    hdr_end = 64 + 56 * phnum
    off = (hdr_end + len(nbytes) + 4095) // 4096 * 4096
    ph = [struct.pack('<IIQQQQQQ', 4, 0, hdr_end, 0, 0, len(nbytes), 0, 4)]
    data = b''
    for vaddr, content, memsz in loads:
        ph.append(struct.pack('<IIQQQQQQ', 1, 6, off + len(data), vaddr, 0, len(content), memsz, 4096))
        data += content + bytes(-len(content) % 4096)
    eh = b'\x7fELF' + bytes([2, 1, 1, 0]) + bytes(8) + struct.pack(
        '<HHIQQQIHHHHHH', 4, machine, 1, 0, 64, 0, 0, 64, 56,
        phnum if phnum_override is None else phnum_override, 64, 0, 0)
    return eh + b''.join(ph) + nbytes + bytes(off - hdr_end - len(nbytes)) + data


def prstatus(tid, rip=0x401000, rsp=0x7ffc0000):
    regs = [0] * 27
    regs[16], regs[19] = rip, rsp
    d = bytearray(336)
    struct.pack_into('<i', d, 32, tid)
    struct.pack_into('<27Q', d, 112, *regs)
    return bytes(d)


def write(c, name, data):
    d = tempfile.mkdtemp(dir=c.tmp)
    p = os.path.join(d, name)
    with open(p, 'wb') as f:
        f.write(data)
    return p


def refuse(c, path, want):
    mnt = tempfile.mkdtemp(dir=c.tmp)
    r = subprocess.run([PTRACEFS, path, mnt], capture_output=True, timeout=30)
    err = r.stderr.decode(errors='replace')
    check(r.returncode != 0, f'{path}: exit 0')
    check(len(err.strip().splitlines()) == 1, f'{path}: stderr {err!r}')
    check(want in err, f'{path}: {want!r} not in {err!r}')
    check(not mounted(mnt), f'{path}: a mount was left behind')


@tap_check('core source: what is not a core is refused in one line, nothing mounted')
def _(c):
    refuse(c, '/bin/true', 'not a core file')
    refuse(c, write(c, 'random', os.urandom(8192)), 'not an ELF file')
    refuse(c, c.tmp, 'a directory')
    refuse(c, write(c, 'empty', b''), 'not an ELF')
    good = elf_core([(0x400000, b'\x90' * 4096, 4096)], [('CORE', 1, prstatus(77))])
    refuse(c, write(c, 'truncated', good[:100]), 'truncated')
    refuse(c, write(c, 'arm-ish', elf_core([], [], machine=0x1234)), 'unsupported machine')
    refuse(c, '/nonexistent/core', 'nor a core file (No such file')


@tap_check('core source: hostile notes and segments mount and say so, no crash')
def _(c):
    nt_file_huge = struct.pack('<QQ', 1 << 60, 4096)
    nt_file_nonul = struct.pack('<QQQQQ', 1, 4096, 0x400000, 0x401000, 0) + b'/no/nul/here'
    core = elf_core([(0x400000, b'A' * 8192, 8192), (0x401000, b'B' * 4096, 4096),
                     (0x600000, b'C' * 4096, 1 << 20)],
                    [('CORE', 1, prstatus(77)), ('CORE', 1, b'short'),
                     ('CORE', 0x46494c45, nt_file_huge), ('CORE', 0x46494c45, nt_file_nonul),
                     ('CORE', 6, struct.pack('<QQ', 0, 0)), ('LINUX', 0x202, b'x' * 3)])
    p = write(c, 'hostile', core)
    m = CoreMount(c, p)
    st = m.text('status')
    check('overlaps' in st and 'NT_FILE' in st, f'status says nothing of the damage:\n{st}')
    check(os.listdir(m.path('threads')) == ['77'], 'threads')
    with open(m.path('mem'), 'rb') as f:
        check(os.pread(f.fileno(), 4, 0x400000) == b'AAAA', 'mem of the first segment')
        check(os.pread(f.fileno(), 4, 0x601000) == bytes(4), 'not-dumped part is not zeros')
        check(os.lseek(f.fileno(), 0x601000, os.SEEK_HOLE) == 0x601000, 'no hole past p_filesz')
    # a truncated segment: EIO for what is gone, and status says so
    full = elf_core([(0x400000, b'D' * 8192, 8192)], [('CORE', 1, prstatus(78))])
    p = write(c, 'cut', full[:-4096])
    m = CoreMount(c, p)
    check('truncated' in m.text('status'), 'status does not say truncated')
    with open(m.path('mem'), 'rb') as f:
        check(os.pread(f.fileno(), 4, 0x400000) == b'DDDD', 'the part still there')
        try:
            os.pread(f.fileno(), 4, 0x401000)
            check(False, 'a read of the lost part did not fail')
        except OSError as e:
            check(e.errno == 5, f'errno {e.errno}, want EIO')
    # PN_XNUM: e_phnum 0xffff and no section 0 to say more: refused, not crashed
    refuse(c, write(c, 'xnum', elf_core([(0x400000, b'E' * 4096, 4096)],
                                        [('CORE', 1, prstatus(79))], phnum_override=0xffff)),
           'damaged')


@tap_check('core source: a 10 GiB sparse core mounts in a second, daemon RSS small')
def _(c):
    size = 10 << 30
    core = elf_core([], [('CORE', 1, prstatus(80))])
    # one LOAD of 10 GiB whose bytes are all a hole of the file
    d = tempfile.mkdtemp(dir='/dev/shm', prefix='ptracefs-big-')
    c.undo.append(lambda: shutil.rmtree(d, ignore_errors=True))
    p = os.path.join(d, 'core')
    phnum = 2
    hdr_end = 64 + 56 * phnum
    notes = core[64 + 56:]
    notes = notes[:notes.rstrip(b'\0').__len__() + 4]
    nb = core[64 + 56:64 + 56 + 12 + 8 + 336]
    eh = bytearray(core[:64])
    struct.pack_into('<H', eh, 56, phnum)
    ph = struct.pack('<IIQQQQQQ', 4, 0, hdr_end, 0, 0, len(nb), 0, 4)
    ph += struct.pack('<IIQQQQQQ', 1, 6, 4096, 0x10000000, 0, size, size, 4096)
    with open(p, 'wb') as f:
        f.write(bytes(eh) + ph + nb)
        f.truncate(4096 + size)
        os.pwrite(f.fileno(), b'end!', 4096 + size - 4)
    m = CoreMount(c, p)
    print(f'# mount of a {size >> 30} GiB sparse core: {m.seconds:.3f} s')
    check(m.seconds < 5, f'mount took {m.seconds:.1f} s')
    with open(m.path('mem'), 'rb') as f:
        check(os.lseek(f.fileno(), 0x10000000, os.SEEK_DATA) == 0x10000000 + size - 4096,
              'SEEK_DATA does not skip the core file\'s hole')
        check(os.pread(f.fileno(), 4, 0x10000000 + size - 4) == b'end!', 'the last bytes')
    out = subprocess.run(['ps', '-o', 'rss=,args=', '-C', 'ptracefs'], capture_output=True).stdout
    rss = [int(x.split()[0]) for x in out.decode().splitlines() if p in x]
    check(rss and rss[0] < 32 * 1024, f'daemon RSS {rss} KiB')
    print(f'# daemon RSS {rss[0]} KiB')


if __name__ == '__main__':
    sys.exit(run())
