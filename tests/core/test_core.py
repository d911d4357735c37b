#!/usr/bin/env python3
"""mount suite, `core`: the ELF core of a mounted target, copied with
`cp --sparse=always` and loaded by readelf, eu-readelf, gdb, eu-stack and
lldb, checked against the live process. TAP through tests/mount/harness.py,
like test_mount.py (same environment, same skip rules).

gdb, eu-readelf/eu-stack and readelf are CI dependencies (.ci/deps): a
missing one fails its check. lldb is optional: without it its check says
so in a '#' line and passes.
"""
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'mount'))

from harness import (PAGE, assert_undisturbed, check, parse_maps, pread_full,  # noqa: E402
                     proc_status, read_maps, run, seek_extents, tap_check,
                     expected_extents, untruthful_extents)

NT_PRSTATUS, NT_PRFPREG, NT_PRPSINFO, NT_AUXV, NT_FILE, NT_X86_XSTATE = 1, 2, 3, 6, 0x46494c45, 0x202
# ptracefs' own notes (reader/corenote.h), in a PT_NOTE of their own
PTRACEFS = 'PTRACEFS'
PT_VERSION, PT_MAPS, PT_STATUS, PT_CMDLINE, PT_ENVIRON, PT_THREAD = range(0x50544601, 0x50544607)
GATE = '[vsyscall]'


# ---- the core, read independently of ptracefs ----

class Core:
    """A core file parsed with struct: loads and notes (64-bit LE only)."""

    def __init__(self, path):
        self.path = path
        with open(path, 'rb') as f:
            data = f.read(1 << 20)
            check(data[:4] == b'\x7fELF' and data[4] == 2 and data[5] == 1,
                  'not a 64-bit little-endian ELF file')
            (e_type, e_machine, _, _, e_phoff, e_shoff, _, _, e_phentsize, e_phnum,
             _, _, _) = struct.unpack_from('<HHIQQQIHHHHHH', data, 16)
            check(e_type == 4, f'e_type {e_type}, not ET_CORE')
            if e_phnum == 0xffff:
                e_phnum = struct.unpack_from('<I', os.pread(f.fileno(), 64, e_shoff), 44)[0]
            raw = pread_full(f.fileno(), e_phnum * e_phentsize, e_phoff)
            self.phdrs = [struct.unpack_from('<IIQQQQQQ', raw, i * e_phentsize)
                          for i in range(e_phnum)]
            check(self.phdrs and self.phdrs[0][0] == 4, 'the first program header is not PT_NOTE')
            # every PT_NOTE: (its program header's index, [(owner, type, desc)])
            self.segments = [(i, parse_notes(pread_full(f.fileno(), p[5], p[2])))
                             for i, p in enumerate(self.phdrs) if p[0] == 4]
        # (offset, vaddr, filesz, memsz, flags)
        self.loads = [(p[2], p[3], p[5], p[6], p[1]) for p in self.phdrs[1:] if p[0] == 1]
        self.notes = [n for _, notes in self.segments for n in notes]

    def standard(self):
        """The notes a kernel core has too: all but ptracefs' own."""
        return [n for n in self.notes if n[0] != PTRACEFS]

    def of_type(self, typ):
        return [n for n in self.notes if n[1] == typ]

    def load_at(self, vaddr):
        for ld in self.loads:
            if ld[1] <= vaddr < ld[1] + ld[3]:
                return ld
        return None

    def read(self, vaddr, n):
        ld = self.load_at(vaddr)
        check(ld and vaddr + n <= ld[1] + ld[2], f'{vaddr:#x} has no bytes in the core')
        with open(self.path, 'rb') as f:
            return os.pread(f.fileno(), n, ld[0] + vaddr - ld[1])


def parse_notes(notes):
    """[(owner, type, desc)] of one PT_NOTE's bytes, which they must fill."""
    out, pos = [], 0
    while pos + 12 <= len(notes):
        namesz, descsz, typ = struct.unpack_from('<III', notes, pos)
        name = notes[pos + 12:pos + 12 + namesz].rstrip(b'\0').decode()
        dpos = pos + 12 + (namesz + 3) // 4 * 4
        out.append((name, typ, notes[dpos:dpos + descsz]))
        pos = dpos + (descsz + 3) // 4 * 4
    check(pos == len(notes), f'notes end at {pos}, PT_NOTE says {len(notes)}')
    return out


def prstatus_pid(desc):
    return struct.unpack_from('<i', desc, 32)[0]


def copy_core(c, m, name='core'):
    """cp --sparse=always of the mount's core into /dev/shm (tmpfs keeps holes)."""
    d = tempfile.mkdtemp(dir='/dev/shm', prefix='ptracefs-core-')
    c.undo.append(lambda: shutil.rmtree(d, ignore_errors=True))
    dst = os.path.join(d, name)
    r = subprocess.run(['cp', '--sparse=always', m.path('core'), dst],
                       capture_output=True, timeout=120)
    check(r.returncode == 0, f'cp: {r.stderr.decode().strip()}')
    check(os.stat(dst).st_size == os.stat(m.path('core')).st_size,
          'the copy is not as long as st_size says')
    return dst


def tool(args, timeout=120):
    exe = shutil.which(args[0])
    check(exe, f'{args[0]} is not installed (.ci/deps)')
    r = subprocess.run(args, capture_output=True, timeout=timeout)
    return r.returncode, r.stdout.decode(errors='replace'), r.stderr.decode(errors='replace')


def tids_of(pid):
    return sorted(int(t) for t in os.listdir(f'/proc/{pid}/task'))


def dumped(ld):
    return ld[2] > 0


# ---- gdb ----

FRAME = re.compile(r'^#\d+\s+(?:0x[0-9a-f]+ in )?([\w.@:<>~]+)')
THREAD = re.compile(r'^Thread \d+ \(.*?LWP (\d+)\)')


def gdb_stacks(out):
    """{lwp: [function names, innermost first]} of 'thread apply all bt'."""
    stacks, cur = {}, None
    for line in out.splitlines():
        mt = THREAD.match(line)
        if mt:
            cur = int(mt.group(1))
            stacks[cur] = []
            continue
        mf = FRAME.match(line)
        if mf and cur is not None:
            stacks[cur].append(mf.group(1))
    return stacks


def gdb_rips(out):
    """{lwp: rip} of 'thread apply all info registers rip'."""
    rips, cur = {}, None
    for line in out.splitlines():
        mt = THREAD.match(line)
        if mt:
            cur = int(mt.group(1))
        m = re.match(r'^rip\s+(0x[0-9a-f]+)', line)
        if m and cur is not None:
            rips[cur] = int(m.group(1), 16)
    return rips


def gdb_core(exe, core, *cmds):
    args = ['gdb', '-nx', '-batch', '-ex', 'set pagination off']
    for cmd in cmds:
        args += ['-ex', cmd]
    rc, out, err = tool(args + [exe, core])
    check(rc == 0, f'gdb exited {rc}: {err.strip()[-400:]}')
    return out


# ---- the checks ----

@tap_check('core: st_size exact, st_blocks below it, reads past the end are empty')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    st = os.stat(m.path('core'))
    with open(m.path('core'), 'rb') as f:
        whole = f.read()
        check(len(whole) == st.st_size, f'read {len(whole)} bytes, st_size {st.st_size}')
        check(os.pread(f.fileno(), 4096, st.st_size) == b'', 'bytes past st_size')
        check(os.pread(f.fileno(), 8192, st.st_size - 100) == whole[-100:],
              'a read across the end is not the tail')
    # the 4 x 8 MiB thread stacks are mostly holes: cp must see a sparse file
    check(st.st_blocks * 512 < st.st_size, f'st_blocks {st.st_blocks} for {st.st_size} bytes')
    check(whole[:4] == b'\x7fELF', 'no ELF magic')


@tap_check('core: eu-readelf -n lists PRSTATUS per thread, PRPSINFO, AUXV, FILE, FP state')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    core = Core(copy_core(c, m))
    tids = tids_of(t.pid)
    rc, out, err = tool(['eu-readelf', '-n', core.path])
    check(rc == 0, f'eu-readelf: {err.strip()}')
    kinds = re.findall(r'^\s+(CORE|LINUX)\s+\d+\s+(\w+)', out, re.M)
    count = {k: sum(1 for _, x in kinds if x == k) for _, k in kinds}
    check(count.get('PRSTATUS') == len(tids), f'{count.get("PRSTATUS")} PRSTATUS, {len(tids)} threads')
    for k in ('PRPSINFO', 'AUXV', 'FILE'):
        check(count.get(k) == 1, f'{count.get(k)} {k} notes')
    check(count.get('FPREGSET') == len(tids), f'{count.get("FPREGSET")} FPREGSET')
    with open('/proc/cpuinfo') as f:
        xsave = ' xsave ' in f.read().replace('\n', ' ')
    if xsave:
        check(count.get('X86_XSTATE') == len(tids), f'{count.get("X86_XSTATE")} X86_XSTATE')
    # the kernel's order: the leader's PRSTATUS, the process notes, its FP state
    order = [k for _, k in kinds][:6]
    want = ['PRSTATUS', 'PRPSINFO', 'AUXV', 'FILE', 'FPREGSET'] + (['X86_XSTATE'] if xsave else [])
    check(order[:len(want)] == want, f'notes start {order}')
    pids = [prstatus_pid(d) for _, _, d in core.of_type(NT_PRSTATUS)]
    check(pids[0] == t.pid and sorted(pids) == tids, f'PRSTATUS pids {pids}, threads {tids}')
    # the notes' bytes: auxv as /proc has it, PRPSINFO naming the target
    with open(f'/proc/{t.pid}/auxv', 'rb') as f:
        check(core.of_type(NT_AUXV)[0][2] == f.read(), 'AUXV differs from /proc/PID/auxv')
    ps = core.of_type(NT_PRPSINFO)[0][2]
    check(struct.unpack_from('<i', ps, 24)[0] == t.pid, 'PRPSINFO pr_pid')
    check(ps[40:56].rstrip(b'\0') == b'ptracefs-sample', f'pr_fname {ps[40:56]!r}')
    check(ps[56:136].split(b'\0')[0].startswith(b'/'), f'pr_psargs {ps[56:136]!r}')
    check(chr(ps[1]) in 'RS', f'pr_sname {chr(ps[1])!r}, the target was sleeping or running')


@tap_check('core: NT_FILE lists every file-backed mapping with its offset')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    core = Core(copy_core(c, m))
    desc = core.of_type(NT_FILE)[0][2]
    count, page = struct.unpack_from('<QQ', desc)
    ents = [struct.unpack_from('<QQQ', desc, 16 + 24 * i) for i in range(count)]
    names = desc[16 + 24 * count:].split(b'\0')[:count]
    want = []
    for line in read_maps(t.pid).decode().splitlines():
        f = line.split(None, 5)
        if int(f[4]) != 0:
            s, e = (int(x, 16) for x in f[0].split('-'))
            want.append((s, e, int(f[2], 16) // page, f[5].encode()))
    got = [(s, e, o, n) for (s, e, o), n in zip(ents, names)]
    check(page == PAGE and got == want, f'NT_FILE {got[:3]}..., maps {want[:3]}...')


@tap_check('core: readelf -lW has one LOAD per mapping; the dump rules hold')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    path = copy_core(c, m)
    rc, out, err = tool(['readelf', '-lW', path])
    check(rc == 0, f'readelf: {err.strip()}')
    loads = [(int(o, 16), int(v, 16), int(fs, 16), int(ms, 16), fl.replace(' ', ''))
             for o, v, fs, ms, fl in re.findall(
                 r'^\s+LOAD\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+0x[0-9a-f]+\s+(0x[0-9a-f]+)'
                 r'\s+(0x[0-9a-f]+)\s+([RWE ]*?)\s+0x1000$', out, re.M)]
    maps = parse_maps(read_maps(t.pid).decode())
    check(len(loads) == len(maps), f'{len(loads)} LOADs, {len(maps)} mappings')
    off = loads[0][0]
    check(off % PAGE == 0, f'data starts at {off:#x}')
    for ld, mp in zip(loads, maps):
        o, v, fs, ms, fl = ld
        s, e, perms, name = mp
        check((v, ms) == (s, e - s), f'LOAD {v:#x}+{ms:#x} for mapping {s:#x}-{e:#x}')
        check(fl == ''.join(ch for ch, p in zip('RWE', perms) if p != '-'),
              f'{name or hex(s)}: flags {fl!r} for {perms}')
        check(o == off and fs % PAGE == 0, f'{name or hex(s)}: offset {o:#x}, want {off:#x}')
        off += fs
    check(off == os.stat(path).st_size, f'loads end at {off:#x}, file at {os.stat(path).st_size:#x}')
    by = {mp[0]: ld for ld, mp in zip(loads, maps)}
    i = t.info
    whole = [i['buf']] + [s for s, e, p, n in maps if n in ('[heap]', '[stack]', '[vdso]', GATE)]
    for a in whole:
        check(by[a][2] == by[a][3], f'{a:#x} not dumped whole: {by[a][2]:#x} of {by[a][3]:#x}')
    # the vDSO's data pages: whole, as zeros, as the kernel writes them
    for s, e, p, n in maps:
        if n.startswith('[vvar'):
            check(by[s][2] == e - s, f'{n}: {by[s][2]:#x} bytes, want all {e - s:#x}')
            with open(path, 'rb') as f:
                check(os.pread(f.fileno(), e - s, by[s][0]) == bytes(e - s), f'{n} is not zeros')
    never = [i['untouched'], i['guard']] + [s for s, e, p, n in maps
                                            if p[0] != 'r' and n != GATE]
    for a in never:
        check(by[a][2] == 0, f'{a:#x} has {by[a][2]:#x} bytes, want none')
    # the ELF header page of every mapped ELF file (bit 4), no more of its text
    for s, e, p, n in maps:
        if n.endswith('libc.so.6') and p == 'r-xp':
            check(by[s][2] == 0, 'libc text is in the core')
    heads = [by[s][2] for s, e, p, n in maps if n.endswith('libc.so.6')]
    check(heads[0] == PAGE, f'libc first mapping has {heads[0]:#x} bytes, want its header page')


@tap_check('core: gdb sees every thread, the buffer words and each thread\'s rip')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    path = copy_core(c, m)
    exe = os.readlink(f'/proc/{t.pid}/exe')
    buf = t.info['buf']
    out = gdb_core(exe, path, 'info threads', f'x/2gx {buf:#x}',
                   'thread apply all info registers rip')
    tids = tids_of(t.pid)
    lwps = sorted(int(x) for x in re.findall(r'\(LWP (\d+)\)', out.split('x/2gx')[0]))
    check(sorted(set(lwps)) == tids, f'gdb threads {sorted(set(lwps))}, /proc {tids}')
    words = re.search(rf'{buf:#x}.*?:\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)', out)
    check(words and (int(words.group(1), 16), int(words.group(2), 16)) == (buf, buf + 8),
          f'x/2gx at the buffer: {words.group(0) if words else out[-300:]}')
    rips = gdb_rips(out)
    for tid in tids:
        with open(m.path('threads', str(tid), 'regs')) as f:
            regs = dict(line.split() for line in f)
        check(rips.get(tid) == int(regs['rip'], 16),
              f'thread {tid}: gdb rip {rips.get(tid)}, regs {regs["rip"]}')


@tap_check('core: gdb backtraces name the same functions as a live gdb -p after unmount')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    path = copy_core(c, m)
    exe = os.readlink(f'/proc/{t.pid}/exe')
    core_bt = gdb_stacks(gdb_core(exe, path, 'thread apply all bt'))
    tids = tids_of(t.pid)
    check(sorted(core_bt) == tids, f'core backtraces for {sorted(core_bt)}, threads {tids}')
    for tid, names in core_bt.items():
        check(names and names[-1] in ('main', 'clone3', '__clone3', 'clone'),
              f'thread {tid}: the core bt does not reach main or clone: {names}')
    check(m.unmount() == 0, 'daemon exit status')
    # Threads move once resumed (the spinner, the main loop): a thread agrees
    # when one of a few live looks matches the core.
    pending = dict(core_bt)
    live = {}
    for _ in range(8):
        rc, out, err = tool(['gdb', '-nx', '-batch', '-ex', 'set pagination off',
                             '-p', str(t.pid), '-ex', 'thread apply all bt'])
        check(rc == 0, f'gdb -p exited {rc}: {err.strip()[-300:]}')
        live = gdb_stacks(out)
        for tid in list(pending):
            if live.get(tid) == pending[tid]:
                del pending[tid]
        if not pending:
            break
    check(not pending, '; '.join(f'{tid}: core {core_bt[tid]} live {live.get(tid)}'
                                 for tid in pending))


@tap_check('core: eu-stack --core unwinds every thread')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    path = copy_core(c, m)
    exe = os.readlink(f'/proc/{t.pid}/exe')
    rc, out, err = tool(['eu-stack', '--core', path, '-e', exe])
    check(rc == 0, f'eu-stack exited {rc}: {err.strip()[-300:]}')
    frames, cur = {}, None
    for line in out.splitlines():
        mt = re.match(r'^TID (\d+):', line)
        if mt:
            cur = int(mt.group(1))
            frames[cur] = []
        mf = re.match(r'^#\d+\s+0x[0-9a-f]+\s+(\S+)', line)
        if mf and cur:
            frames[cur].append(mf.group(1))
    check(sorted(frames) == tids_of(t.pid), f'eu-stack TIDs {sorted(frames)}')
    for tid, f in frames.items():
        check(any(n in ('main', 'worker') for n in f), f'TID {tid}: {f}')


@tap_check('core: lldb loads it and lists every thread')
def _(c):
    if not shutil.which('lldb'):
        print('# lldb is not installed: not checked (apt-get install lldb)')
        return
    t = c.target()
    m = c.mount(t.pid)
    path = copy_core(c, m)
    exe = os.readlink(f'/proc/{t.pid}/exe')
    rc, out, err = tool(['lldb', '--batch', '-c', path, exe, '-o', 'thread list'])
    check(rc == 0, f'lldb exited {rc}: {err.strip()[-300:]}')
    got = sorted(int(x) for x in re.findall(r'tid = (\d+)', out))
    check(got == tids_of(t.pid), f'lldb threads {got}, /proc {tids_of(t.pid)}')


def without_ptracefs(c, path):
    """A copy of the core at path with its last program header (the PTRACEFS
    PT_NOTE) dropped: the core ptracefs made before it had one."""
    core = Core(path)
    check(core.segments[-1][0] == len(core.phdrs) - 1 and
          core.segments[-1][1] and all(n[0] == PTRACEFS for n in core.segments[-1][1]),
          'the last program header is not a PT_NOTE of PTRACEFS notes')
    plain = path + '.plain'
    with open(path, 'rb') as f:
        head = bytearray(f.read(1 << 16))
    shutil.copyfile(path, plain)
    with open(plain, 'r+b') as f:
        if struct.unpack_from('<H', head, 56)[0] == 0xffff:     # PN_XNUM: sh_info
            shoff = struct.unpack_from('<Q', head, 40)[0]
            n = struct.unpack_from('<I', os.pread(f.fileno(), 4, shoff + 44))[0]
            os.pwrite(f.fileno(), struct.pack('<I', n - 1), shoff + 44)
        else:
            os.pwrite(f.fileno(), struct.pack('<H', len(core.phdrs) - 1), 56)
    return plain


@tap_check('core: PTRACEFS notes hold maps, status, cmdline, environ, each thread\'s stat and syscall')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    core = Core(copy_core(c, m))
    own = [(typ, d) for name, typ, d in core.notes if name == PTRACEFS]
    check(own and own[0][0] == PT_VERSION, f'PTRACEFS notes {[hex(x) for x, _ in own]}')
    fmt, pid = struct.unpack_from('<II', own[0][1])
    check((fmt, pid) == (1, t.pid) and own[0][1][8:].startswith(b'ptracefs ')
          and own[0][1].endswith(b'\0'), f'VERSION note {own[0][1]!r}')
    one = {}
    for typ in (PT_MAPS, PT_STATUS, PT_CMDLINE, PT_ENVIRON):
        got = [d for x, d in own if x == typ]
        check(len(got) == 1, f'{len(got)} notes of type {typ:#x}')
        one[typ] = got[0]
    for typ, name in ((PT_MAPS, 'maps'), (PT_CMDLINE, 'cmdline'), (PT_ENVIRON, 'environ')):
        with open(m.path(name), 'rb') as f:
            check(one[typ] == f.read(), f'the {name} note differs from the mount\'s {name}')
    # status as /proc had it at suspension: what cannot change while stopped
    st = dict(line.split(':', 1) for line in one[PT_STATUS].decode().splitlines())
    now = proc_status(t.pid)
    for k in ('Name', 'Tgid', 'Pid', 'PPid', 'Uid', 'Gid', 'Threads', 'VmSize', 'SigBlk'):
        check(st[k].strip() == now[k].strip(), f'status {k}: note {st[k]!r}, /proc {now[k]!r}')
    # one THREAD note per thread, in NT_PRSTATUS order
    threads = [d for x, d in own if x == PT_THREAD]
    tids = [struct.unpack_from('<i', d)[0] for d in threads]
    check(tids == [prstatus_pid(d) for _, _, d in core.of_type(NT_PRSTATUS)],
          f'THREAD tids {tids}')
    for d in threads:
        tid, n = struct.unpack_from('<iI', d)
        stat, sysc = d[8:8 + n].decode(), d[8 + n:].decode()
        with open(m.path('threads', str(tid), 'stat')) as f:
            mine = dict(line.split(' ', 1) for line in f.read().splitlines())
        check(stat.split(' ', 1)[0] == str(tid) and stat.endswith('\n'), f'{tid}: stat {stat!r}')
        state = stat[stat.rindex(')') + 2]
        check(state == mine['state'][0], f'{tid}: state {state!r}, threads/{tid}/stat {mine["state"]}')
        f = sysc.split()
        check(sysc.endswith('\n') and len(f) in (3, 9), f'{tid}: syscall line {sysc!r}')
        check(int(f[-2], 16) == int(mine['sp'], 16) and int(f[-1], 16) == int(mine['pc'], 16),
              f'{tid}: syscall line {sysc!r}, threads/{tid}/stat sp {mine["sp"]} pc {mine["pc"]}')
        check(int(f[0]) == int(mine['syscall'].split()[0]) if len(f) == 9 else mine['syscall'] == 'none',
              f'{tid}: syscall line {sysc!r}, threads/{tid}/stat {mine["syscall"]!r}')


@tap_check('core: gdb, eu-stack, eu-readelf -n and lldb say the same with or without PTRACEFS notes')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    path = copy_core(c, m)
    plain = without_ptracefs(c, path)
    exe = os.readlink(f'/proc/{t.pid}/exe')
    runs = [['gdb', '-nx', '-batch', '-ex', 'info threads', '-ex', 'bt', exe, '{}'],
            ['eu-stack', '--core', '{}', '-e', exe]]
    if shutil.which('lldb'):
        runs += [['lldb', '-b', '-c', '{}', '-o', 'thread list'],
                 ['lldb', '-b', '-c', '{}', exe, '-o', 'thread list']]
    else:
        print('# lldb is not installed: not compared (apt-get install lldb)')
    for args in runs:
        got = [tool([a.replace('{}', p) for a in args]) for p in (path, plain)]
        a, b = [(rc, out.replace(p, 'CORE'), err.replace(p, 'CORE'))
                for (rc, out, err), p in zip(got, (path, plain))]
        check(a[0] == 0, f'{args[0]} exited {a[0]}: {a[2].strip()[-300:]}')
        check(a == b, f'{args[0]} differs: with the notes {a!r:.600}, without {b!r:.600}')
    # eu-readelf lists them as notes it does not know, without complaint
    rc, out, err = tool(['eu-readelf', '-n', path])
    prc, pout, perr = tool(['eu-readelf', '-n', plain])
    check(rc == 0 and err == perr == '', f'eu-readelf -n exited {rc}: {err.strip()[-300:]}')
    check(out.startswith(pout.rstrip('\n')), 'eu-readelf -n reads the standard notes differently')
    listed = re.findall(r'^\s+PTRACEFS\s+\d+\s+<unknown>: (\d+)$', out, re.M)
    want = [typ for name, typ, _ in Core(path).notes if name == PTRACEFS]
    check([int(x) for x in listed] == want, f'eu-readelf lists {listed}, the file has {want}')


def vmrss_kb(pid):
    return int(proc_status(pid)['VmRSS'].split()[0])


@tap_check('core: the sparse copy tracks resident memory; the target\'s VmRSS stays')
def _(c):
    t = c.target(args=('--sparse', '64M'))
    m = c.mount(t.pid)
    rss0 = vmrss_kb(t.pid)
    anon = int(proc_status(t.pid)['RssAnon'].split()[0])
    path = copy_core(c, m)
    rss1 = vmrss_kb(t.pid)
    st = os.stat(path)
    used = st.st_blocks * 512
    check(rss1 - rss0 <= 4 * PAGE // 1024, f'VmRSS grew from {rss0} to {rss1} kB')
    # in the file: the 64 MiB sparse mapping whole, 8 MiB per thread stack
    core = Core(path)
    sp = core.load_at(t.info['sparse'])
    check(sp and sp[2] == 64 << 20, f'the sparse mapping has {sp and sp[2]:#x} bytes')
    check(st.st_size > 64 << 20, f'st_size {st.st_size}')
    # on disk: no less than the anonymous resident memory, no more than all of it
    check(anon * 1024 <= used <= rss0 * 1024 + (2 << 20),
          f'{used >> 10} kB on disk, RssAnon {anon} kB, VmRSS {rss0} kB')
    # the written pages of the sparse mapping hold their addresses, the rest zeros
    base = t.info['sparse']
    for k in (0, 1, 16, 17, 1024, (64 << 20) // PAGE - 16):
        want = base + k * PAGE if k % 16 == 0 else 0
        got = struct.unpack('<Q', core.read(base + k * PAGE, 8))[0]
        check(got == want, f'sparse page {k}: {got:#x}, want {want:#x}')


@tap_check('core: SEEK_DATA/SEEK_HOLE of core follow mem; reads at odd offsets agree with mem')
def _(c):
    t = c.target(args=('--sparse', '16M'))
    m = c.mount(t.pid)
    with open(m.path('core'), 'rb') as cf, open(m.path('mem'), 'rb') as mf:
        size = os.fstat(cf.fileno()).st_size
        got = seek_extents(cf.fileno(), size)
        # expected: the head page(s), then per dumped load the data of mem in it
        core_path = copy_core(c, m)
        core = Core(core_path)
        # populated data of mem, per maps and pagemap (the target is stopped)
        truth = expected_extents(t.pid, parse_maps(read_maps(t.pid).decode()),
                                 os.fstat(mf.fileno()).st_size)
        want = []

        def add(s, e):
            if want and want[-1][1] == s:
                want[-1] = (want[-1][0], e)
            elif s < e:
                want.append((s, e))
        add(0, core.loads[0][0])
        for o, v, fs, ms, fl in core.loads:
            if not fs:
                continue
            if v >= 1 << 63:        # the gate page: data when readable
                if fl & 4:
                    add(o, o + fs)
                continue
            for ds, de in truth:
                ds, de = max(ds, v), min(de, v + fs)
                if ds < de:
                    add(o + ds - v, o + de - v)
        bad = untruthful_extents(got, want)
        check(bad is None, f'core extents {len(got)}, {len(want)} of populated data: {bad}')
        # reads straddling load boundaries and odd lengths
        for o, v, fs, ms, fl in core.loads:
            if not fs or v >= 1 << 63:
                continue
            for off, n in ((o, 100), (o + fs - 3, 7), (o + 5, 70000), (o + fs // 2 + 1, 4099)):
                n = min(n, size - off)
                a = os.pread(cf.fileno(), n, off)
                check(len(a) == n, f'short read of core at {off:#x}')
                inside = min(n, o + fs - off)
                b = os.pread(mf.fileno(), inside, v + off - o)
                check(a[:inside] == b, f'core at {off:#x} differs from mem at {v + off - o:#x}')
                with open(core_path, 'rb') as cp:
                    check(os.pread(cp.fileno(), n, off) == a, f'the copy differs at {off:#x}')


@tap_check('core: -o coredump_filter and the target\'s own filter choose what has bytes')
def _(c):
    t = c.target()

    def loads(extra=()):
        m = c.mount(t.pid, extra)
        core = Core(copy_core(c, m))
        check(m.unmount() == 0, 'daemon exit status')
        return core
    maps = parse_maps(read_maps(t.pid).decode())
    text = [s for s, e, p, n in maps if n.endswith('libc.so.6') and p == 'r-xp'][0]
    stack = [s for s, e, p, n in maps if n == '[stack]'][0]
    vdso = [s for s, e, p, n in maps if n == '[vdso]'][0]
    full = loads(('-o', 'coredump_filter=0x7f'))
    ld = full.load_at(text)
    check(ld[2] == ld[3], 'with 0x7f libc text is not dumped whole')
    check(full.read(t.info['buf'], 8) == struct.pack('<Q', t.info['buf']), 'buffer word')
    none = loads(('-o', 'coredump_filter=0'))
    for a in (t.info['buf'], stack, text):
        check(none.load_at(a)[2] == 0, f'with 0, {a:#x} has bytes')
    check(none.load_at(vdso)[2] > 0, 'with 0 the vDSO is not dumped: it always is')
    # no option: the target's own /proc/PID/coredump_filter (bit 2 here)
    with open(f'/proc/{t.pid}/coredump_filter', 'w') as f:
        f.write('0x37')
    own = loads()
    ld = own.load_at(text)
    check(ld[2] == ld[3], 'the target\'s filter 0x37 was not followed')
    with open(f'/proc/{t.pid}/coredump_filter', 'w') as f:
        f.write('0x33')
    dflt = loads()
    check(dflt.load_at(text)[2] == 0, 'default filter dumps libc text')
    assert_undisturbed(t)


@tap_check('core: a MADV_DONTDUMP mapping has no bytes, even with coredump_filter=0x1ff')
def _(c):
    t = c.target(args=('--dontdump', '1M'))
    m = c.mount(t.pid, ('-o', 'coredump_filter=0x1ff'))
    core = Core(copy_core(c, m))
    ld = core.load_at(t.info['dontdump'])
    check(ld and ld[1] == t.info['dontdump'] and ld[3] == 1 << 20, f'no LOAD for it: {ld}')
    check(ld[2] == 0, f'it has {ld[2]:#x} bytes')
    check(core.load_at(t.info['buf'])[2] == 1 << 20, 'the buffer lost its bytes')


@tap_check('core: 64 threads, one PRSTATUS each, gdb lists them all')
def _(c):
    t = c.target(args=('-t', '64'))
    m = c.mount(t.pid)
    path = copy_core(c, m)
    core = Core(path)
    tids = tids_of(t.pid)
    check(len(tids) == 65, f'{len(tids)} threads')
    check(sorted(prstatus_pid(d) for _, _, d in core.of_type(NT_PRSTATUS)) == tids,
          'PRSTATUS pids differ from the threads')
    out = gdb_core(os.readlink(f'/proc/{t.pid}/exe'), path, 'info threads')
    check(len(set(re.findall(r'\(LWP (\d+)\)', out))) == 65, 'gdb does not list 65 threads')


NT_SIGINFO = 0x53494749
NT_X86_XSAVE_LAYOUT = 0x205


def thread_note_types(core):
    """[(pid, [note types])] in file order: a thread's notes follow its PRSTATUS."""
    out = []
    for _, typ, desc in core.standard():
        if typ == NT_PRSTATUS:
            out.append((prstatus_pid(desc), []))
        if out:
            out[-1][1].append(typ)
    return out


@tap_check('core: the same layout as the kernel\'s own core of the same process')
def _(c):
    import resource
    with open('/proc/sys/kernel/core_pattern') as f:
        pattern = f.read().strip()
    if pattern.startswith('|') or '/' in pattern:
        print(f'# kernel cores go to {pattern!r}, not the target\'s directory: comparison skipped')
        return
    d = tempfile.mkdtemp(dir='/dev/shm', prefix='ptracefs-kcore-')
    c.undo.append(lambda: shutil.rmtree(d, ignore_errors=True))

    def dumpable():
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    t = c.target(args=('-t', '3'), cwd=d, preexec_fn=dumpable)
    maps = read_maps(t.pid)
    m = c.mount(t.pid)
    ours = Core(copy_core(c, m))
    check(m.unmount() == 0, 'daemon exit status')
    check(read_maps(t.pid) == maps, 'the mappings changed after unmount')
    # the kernel's core of the same, idle process (SIGABRT: dump and exit)
    os.kill(t.pid, 6)
    t.proc.wait(timeout=60)
    files = [x for x in os.listdir(d) if x.startswith('core')]
    check(files, f'the kernel wrote no core (pattern {pattern!r}, dir {sorted(os.listdir(d))})')
    theirs = Core(os.path.join(d, files[0]))

    # the kernel's program headers, then ours alone: one PT_NOTE, the last,
    # holding every PTRACEFS note and nothing else
    segs = [(i, n) for i, n in ours.segments if any(x[0] == PTRACEFS for x in n)]
    check(len(segs) == 1, f'PTRACEFS notes in {len(segs)} PT_NOTEs, want one')
    own_i, own = segs[0]
    check(own_i == len(ours.phdrs) - 1 and all(x[0] == PTRACEFS for x in own),
          f'PTRACEFS notes in program header {own_i} of {len(ours.phdrs)}, with '
          f'{[x[:2] for x in own if x[0] != PTRACEFS][:3]}')
    check([p[0] for p in ours.phdrs[:own_i]] == [p[0] for p in theirs.phdrs],
          'program header types differ from the kernel\'s')
    check(len(ours.standard()) == len(ours.segments[0][1]), 'standard notes outside the first PT_NOTE')
    # one LOAD per mapping, at the same addresses, sizes and permissions
    key = [(v, ms, fl) for _, v, _, ms, fl in ours.loads]
    kkey = [(v, ms, fl) for _, v, _, ms, fl in theirs.loads]
    first = next(((a, b) for a, b in zip(key + [None], kkey + [None]) if a != b), None)
    check(key == kkey, f'LOADs differ: ours {len(key)}, kernel {len(kkey)}; first {first}')
    # the same dump decision for each: how many bytes it gets. The one
    # difference allowed: a mapping the target cannot read (PROT_NONE; the
    # kernel dumps one that shares an anon_vma whole, which no /proc file
    # shows) gets none from us where the kernel's bytes are all zeros.
    perms = {s: p for s, e, p, n in parse_maps(maps.decode())}
    names = {s: n for s, e, p, n in parse_maps(maps.decode())}
    diff = []
    for a, b in zip(ours.loads, theirs.loads):
        if a[1] != b[1] or a[2] == b[2]:
            continue
        if a[2] == 0 and perms[a[1]][0] == '-' and theirs.read(b[1], b[2]) == bytes(b[2]):
            continue
        diff.append((hex(a[1]), names.get(a[1]), perms[a[1]], a[2], b[2]))
    check(not diff, f'{len(diff)} LOADs dumped differently (vaddr, name, perms, ours, kernel): '
          f'{diff[:4]}')
    # the bytes that did not change: the buffer, every ELF header page
    i = t.info
    check(ours.read(i['buf'], i['buflen']) == theirs.read(i['buf'], i['buflen']),
          'the buffer differs')
    heads = [s for s, e, p, n in parse_maps(maps.decode())
             if n.startswith('/') and p[1] != 'w' and ours.load_at(s)[2] == PAGE and
             ours.read(s, 4) == b'\x7fELF']
    check(heads, 'no ELF header page in our core')
    for s, e, p, n in parse_maps(maps.decode()):
        if n in ('[vdso]', '[vvar]', '[vvar_vclock]'):
            check(ours.read(s, e - s) == theirs.read(s, e - s), f'{n} differs from the kernel\'s')
    for s in heads:
        check(ours.read(s, PAGE) == theirs.read(s, PAGE), f'the header page at {s:#x} differs')
    # notes: the kernel's per-thread sets and order (it adds NT_SIGINFO for
    # the signal that made its core; ours was made by no signal)
    per_process = (NT_SIGINFO, NT_X86_XSAVE_LAYOUT)   # compared below, or left out
    mine = [(pid, [x for x in types if x not in per_process])
            for pid, types in thread_note_types(ours)]
    kern = [(pid, [x for x in types if x not in per_process])
            for pid, types in thread_note_types(theirs)]
    check(sorted(p for p, _ in mine) == sorted(p for p, _ in kern),
          f'threads: ours {[p for p, _ in mine]}, kernel {[p for p, _ in kern]}')
    check(mine[0][0] == t.pid, 'our first PRSTATUS is not the leader')
    kd = dict(kern)
    for pid, types in mine:
        check(types == kd.get(pid), f'thread {pid}: notes {types}, kernel {kd.get(pid)}')
    # NT_X86_XSAVE_LAYOUT: kernels since 6.11 write it; ours always does
    for typ in (NT_AUXV, NT_FILE) + ((NT_X86_XSAVE_LAYOUT,) if theirs.of_type(NT_X86_XSAVE_LAYOUT) else ()):
        check(ours.of_type(typ) and ours.of_type(typ)[0][2] == theirs.of_type(typ)[0][2],
              f'note {typ:#x} differs from the kernel\'s')
    ps, kps = ours.of_type(NT_PRPSINFO)[0][2], theirs.of_type(NT_PRPSINFO)[0][2]
    check(ps[40:136] == kps[40:136], f'PRPSINFO names differ: {ps[40:136]!r} / {kps[40:136]!r}')


@tap_check('core: copying leaves the target undisturbed after unmount')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    copy_core(c, m)
    check(m.unmount() == 0, 'daemon exit status')
    assert_undisturbed(t)


if __name__ == '__main__':
    sys.exit(run())
