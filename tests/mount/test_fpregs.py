#!/usr/bin/env python3
"""mount suite, threads/<tid>/fpregs: x87/SSE/AVX state checked against the
values tests/targets/fpdemo.c loaded and against gdb attached to the same
process after the unmount. TAP through harness.py, like test_mount.py.

Environment (meson test sets it): what harness.py needs, plus
PTRACEFS_FPDEMO, the fpdemo target. ymm checks are left out when
/proc/cpuinfo has no avx flag. gdb is a CI dependency (.ci/deps): without
it the gdb check fails rather than skips.
"""
import errno
import os
import re
import shutil
import subprocess
import sys

from harness import check, killed_at, run, tap_check, task_states, tracer_pid, wait_until

FPDEMO = os.environ.get('PTRACEFS_FPDEMO', '')

# What fpdemo.c loads (see the comment at its top).
XMM = [int.from_bytes(bytes(16 * i + j for j in range(16)), 'little') for i in range(16)]
YMM_HI = [int.from_bytes(bytes(~(16 * i + j) & 0xff for j in range(16)), 'little')
          for i in range(16)]
WANT_FIXED = {
    'fcw': 0x027f,
    'fsw': 0x2000,      # TOP = 4 after four pushes, no exception flags
    'ftw': 0x01ff,      # physical 0-3 empty, 4 (st0 = 0) zero, 5-7 valid
    'mxcsr': 0x9fc0,
}
WANT_ST = {             # raw 80 bits, and the decimal fpregs prints
    'st0': (0x00000000000000000000, '0'),
    'st1': (0x3fffc000000000000000, '1.5'),
    'st2': (0xc0008000000000000000, '-2'),
    'st3': (0x4000c90fdaa22168c235, '3.14159265358979323851'),
}
FIXED = ['fcw', 'fsw', 'ftw', 'fop', 'fip', 'fdp', 'mxcsr']


def cpu_has_avx():
    with open('/proc/cpuinfo') as f:
        for line in f:
            if line.startswith('flags'):
                return 'avx' in line.split(':', 1)[1].split()
    return False


def parse_fpregs(text):
    """{name: (value, decimal or None)} of 'name 0x<hex> [(decimal)]' lines,
    checking the shape of each line and the order of the names."""
    check(text.endswith('\n'), 'fpregs does not end in a newline')
    out, names = {}, []
    for line in text.splitlines():
        m = re.fullmatch(r'(\w+) 0x([0-9a-f]+)(?: \((.*)\))?', line)
        check(m, f'malformed fpregs line {line!r}')
        name, digits, dec = m.groups()
        width = {'fip': 16, 'fdp': 16, 'mxcsr': 8}.get(name, 4)
        if name.startswith('st'):
            width = 20
        elif name.startswith('xmm'):
            width = 32
        elif name.startswith('ymm'):
            width = 64
        check(len(digits) == width, f'{name}: {len(digits)} hex digits, want {width}')
        out[name] = (int(digits, 16), dec)
        names.append(name)
    return out, names


def want_names(avx):
    return (FIXED + [f'st{i}' for i in range(8)] + [f'xmm{i}' for i in range(16)] +
            ([f'ymm{i}' for i in range(16)] if avx else []))


def fpdemo(c):
    """An fpdemo target, blocked in the pause loop after its loads."""
    t = c.target(FPDEMO)
    check(t.info['avx'] == int(cpu_has_avx()),
          f'fpdemo says avx {t.info["avx"]}, /proc/cpuinfo disagrees')

    def in_pause():
        with open(f'/proc/{t.pid}/syscall') as f:
            return f.read().split()[0] == '34'
    check(wait_until(in_pause, 5), 'fpdemo never reached its pause loop')
    return t


def read_fpregs(m, tid):
    path = m.path('threads', str(tid), 'fpregs')
    data = m.read('threads', str(tid), 'fpregs')
    check(os.stat(path).st_size == len(data), f'st_size of {path} is not its length')
    return data.decode()


def check_loaded(m, t):
    """fpregs of t in mount m holds what fpdemo loaded."""
    regs, names = parse_fpregs(read_fpregs(m, t.pid))
    avx = bool(t.info['avx'])
    check(names == want_names(avx), f'fpregs names {names}')
    bad = [f'{k} {regs[k][0]:#x}, want {v:#x}' for k, v in WANT_FIXED.items()
           if regs[k][0] != v]
    for k, (raw, dec) in WANT_ST.items():
        if regs[k] != (raw, dec):
            bad.append(f'{k} {regs[k][0]:#x} ({regs[k][1]}), want {raw:#x} ({dec})')
    for i in range(16):
        if regs[f'xmm{i}'][0] != XMM[i]:
            bad.append(f'xmm{i} {regs[f"xmm{i}"][0]:#x}, want {XMM[i]:#x}')
        if avx and regs[f'ymm{i}'][0] != YMM_HI[i] << 128 | XMM[i]:
            bad.append(f'ymm{i} {regs[f"ymm{i}"][0]:#x}')
    check(not bad, '; '.join(bad[:4]))


@tap_check('fpregs holds the values fpdemo loaded')
def _(c):
    t = fpdemo(c)
    check_loaded(c.mount(t.pid), t)


def sigblk(pid):
    with open(f'/proc/{pid}/status') as f:
        return [l for l in f if l.startswith(('SigBlk', 'SigPnd', 'ShdPnd'))]


# -o snapshot, the daemon SIGKILLed while fpdemo's only thread carries the
# injected clone(): its registers loaded, the call not made (inject-loaded:
# the thread then makes the clone() itself), or the call made and the
# thread being put back (snap-restore). The thread must put itself back
# (the net, ptracefs(1)): every x87/SSE/AVX register, the signal mask,
# and the pause(2) it was in, restarted. A plain mount after says so.
def kill_carrier_check(point):
    def fn(c):
        t = fpdemo(c)
        masks = sigblk(t.pid)
        killed_at(c, t.pid, point)
        check(wait_until(lambda: tracer_pid(t.pid) == 0, 2), 'fpdemo still traced')
        check(wait_until(lambda: task_states(t.pid) == {t.pid: 'S'}, 2),
              f'fpdemo is {task_states(t.pid)}, not asleep')
        with open(f'/proc/{t.pid}/syscall') as f:
            nr = f.read().split()[0]
        check(nr == '34', f'fpdemo is in syscall {nr}, not back in pause(2)')
        check(sigblk(t.pid) == masks, f'signal mask or pending sets changed: {sigblk(t.pid)}')
        check_loaded(c.mount(t.pid), t)
    return fn


for _point in ('inject-loaded', 'snap-restore'):
    tap_check(f'fpregs: -o snapshot with the daemon killed at {_point} (fpdemo carrying the '
              f'clone()): every register, the mask and pause(2) put back by the '
              f'thread itself')(kill_carrier_check(_point))


def gdb_registers(pid, avx):
    """What gdb, attached to pid, says of the same registers as fpregs
    would: {fpregs name: (value, decimal or None)}."""
    ex = []
    for i in range(16):
        ex += ['-ex', f'echo @xmm{i}=', '-ex', f'p/x $xmm{i}.uint128']
        if avx:
            ex += ['-ex', f'echo @ymm{i}=', '-ex', f'p/x $ymm{i}.v2_int128']
    ex += ['-ex', 'info registers ' + ' '.join(
        [f'st{i}' for i in range(8)] +
        ['fctrl', 'fstat', 'ftag', 'fiseg', 'fioff', 'foseg', 'fooff', 'fop', 'mxcsr'])]
    r = subprocess.run(['gdb', '-nx', '-batch', '-iex', 'set debuginfod enabled off',
                        '-p', str(pid), *ex],
                       capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    out = r.stdout.decode(errors='replace')
    got, info = {}, {}
    for line in out.splitlines():
        m = re.fullmatch(r'@(\w+)=\$\d+ = (.*)', line)
        if m:
            name, val = m.groups()
            if name.startswith('ymm'):
                lo, hi = re.fullmatch(r'\{(0x[0-9a-f]+), (0x[0-9a-f]+)\}', val).groups()
                got[name] = (int(hi, 16) << 128 | int(lo, 16), None)
            else:
                got[name] = (int(val, 16), None)
            continue
        m = re.match(r'(st\d)\s+(\S+)\s+\(raw (0x[0-9a-f]+)\)$', line)
        if m:
            got[m.group(1)] = (int(m.group(3), 16), m.group(2))
            continue
        m = re.match(r'(\w+)\s+(0x[0-9a-f]+)\s', line + ' ')
        if m:
            info[m.group(1)] = int(m.group(2), 16)
    check('fctrl' in info and 'xmm15' in got,
          f'gdb gave no registers (exit {r.returncode}): {r.stderr.decode(errors="replace")[-500:]}')
    # gdb's names for the control words, and fip/fdp split in 32-bit halves
    got['fcw'] = (info['fctrl'], None)
    got['fsw'] = (info['fstat'], None)
    got['ftw'] = (info['ftag'], None)
    got['fop'] = (info['fop'], None)
    got['fip'] = (info['fiseg'] << 32 | info['fioff'], None)
    got['fdp'] = (info['foseg'] << 32 | info['fooff'], None)
    got['mxcsr'] = (info['mxcsr'], None)
    return got


@tap_check('fpregs matches gdb attached after the unmount')
def _(c):
    check(shutil.which('gdb'), 'gdb is not installed (.ci/deps installs it)')
    t = fpdemo(c)
    avx = bool(t.info['avx'])
    m = c.mount(t.pid)
    ours, names = parse_fpregs(read_fpregs(m, t.pid))
    check(m.unmount() == 0, 'ptracefs did not exit 0 after the unmount')
    check(wait_until(lambda: tracer_pid(t.pid) == 0, 5), 'still traced after the unmount')
    # gdb itself stops the target, so it must be back in its pause first
    check(wait_until(lambda: set(task_states(t.pid).values()) == {'S'}, 5),
          f'fpdemo is not back asleep: {task_states(t.pid)}')
    theirs = gdb_registers(t.pid, avx)
    bad = []
    for name in names:
        if name not in theirs:
            bad.append(f'gdb said nothing of {name}')
            continue
        (v, dec), (gv, gdec) = ours[name], theirs[name]
        if v != gv:
            bad.append(f'{name} {v:#x}, gdb {gv:#x}')
        elif gdec is not None and dec != gdec:
            bad.append(f'{name} ({dec}), gdb ({gdec})')
    check(not bad, '; '.join(bad[:4]))
    check(len(names) == 7 + 8 + 16 + 16 * avx, f'{len(names)} registers compared')


@tap_check('fpregs of every thread of the sample target: all lines, exact size')
def _(c):
    t = c.target()
    m = c.mount(t.pid)
    tids = sorted(int(x) for x in os.listdir(m.path('threads')))
    check(len(tids) > 1, f'threads/ lists {tids}')
    for tid in tids:
        regs, names = parse_fpregs(read_fpregs(m, tid))
        check(names == want_names(cpu_has_avx()), f'thread {tid}: fpregs names {names}')
        # glibc starts every thread with the default control words
        check(regs['fcw'][0] == 0x037f, f'thread {tid}: fcw {regs["fcw"][0]:#x}')
        check(regs['mxcsr'][0] & 0xffc0 == 0x1f80, f'thread {tid}: mxcsr {regs["mxcsr"][0]:#x}')


def write_fpregs(m, tid, text):
    """The errno of an fpregs write, 0 when it was taken."""
    try:
        with open(m.path('threads', str(tid), 'fpregs'), 'w') as f:
            f.write(text)
        return 0
    except OSError as e:
        return e.errno


NEW_XMM3 = 0x00112233445566778899aabbccddeeff
NEW_YMM5 = 0xfedcba98765432100123456789abcdef_0f1e2d3c4b5a69788796a5b4c3d2e1f0
NEW_ST1 = 0x3fff8000000000000000    # 1.0


@tap_check('fpregs takes writes with -o rw: xmm, ymm, st, mxcsr in one write; read back, gdb agrees')
def _(c):
    check(shutil.which('gdb'), 'gdb is not installed (.ci/deps installs it)')
    t = fpdemo(c)
    avx = bool(t.info['avx'])
    m = c.mount(t.pid)
    check(write_fpregs(m, t.pid, 'xmm3 0x1\n') in (errno.EACCES, errno.EROFS),
          'a default mount took an fpregs write')
    m.unmount()
    m = c.mount(t.pid, ('-o', 'rw'))
    path = m.path('threads', str(t.pid), 'fpregs')
    check(os.stat(path).st_mode & 0o777 == 0o600, 'fpregs is not 0600 with -o rw')
    before = read_fpregs(m, t.pid)
    # the text as read goes back unchanged (the decimals after st<i> included)
    e = write_fpregs(m, t.pid, before)
    check(e == 0, f'writing fpregs back as read: {errno.errorcode.get(e, e)}')
    check(read_fpregs(m, t.pid) == before, 'fpregs changed by writing it back as read')
    text = f'xmm3 {NEW_XMM3:#x}\n  mxcsr 0x1f80\nst1 {NEW_ST1:#x} (1)\n'
    if avx:
        text += f'ymm5 {NEW_YMM5:#x}\n'
    e = write_fpregs(m, t.pid, text)
    check(e == 0, f'fpregs write refused: {errno.errorcode.get(e, e)}')
    ours, _ = parse_fpregs(read_fpregs(m, t.pid))
    want = {'xmm3': NEW_XMM3, 'mxcsr': 0x1f80, 'st1': NEW_ST1, 'xmm0': XMM[0], 'st2': WANT_ST['st2'][0]}
    if avx:
        want.update(ymm5=NEW_YMM5, xmm5=NEW_YMM5 & ((1 << 128) - 1),
                    ymm3=YMM_HI[3] << 128 | NEW_XMM3, ymm0=YMM_HI[0] << 128 | XMM[0])
    bad = [f'{k} {ours[k][0]:#x}, want {v:#x}' for k, v in want.items() if ours[k][0] != v]
    check(not bad, 'read back: ' + '; '.join(bad))
    check(m.unmount() == 0, 'ptracefs did not exit 0 after the unmount')
    check(wait_until(lambda: set(task_states(t.pid).values()) == {'S'}, 5),
          f'fpdemo is not back asleep: {task_states(t.pid)}')
    theirs = gdb_registers(t.pid, avx)
    bad = [f'{k} gdb {theirs[k][0]:#x}, want {v:#x}' for k, v in want.items()
           if theirs[k][0] != v]
    check(not bad, 'gdb after the unmount: ' + '; '.join(bad))


@tap_check('fpregs: invalid writes (a bad line among good ones, a value the kernel refuses) '
           'are EINVAL and change nothing')
def _(c):
    t = fpdemo(c)
    avx = bool(t.info['avx'])
    m = c.mount(t.pid, ('-o', 'rw'))
    before = read_fpregs(m, t.pid)
    cases = ['xmm0 0x1\nnosuch 1\n', 'xmm0 0x1\nxmm16 0x2\n', 'xmm0 0x1\nst8 0\n',
             'fcw 0x10000\n', 'xmm0 zz\n', 'xmm0 0x1\nxmm0 0x2\n', 'xmm0\n', '\n',
             'xmm0 0x1 2\n', f'st1 {NEW_ST1:#x} (2)\n', 'xmm0 0x1\nfcs 0x1\n',
             'xmm0 0x1\nmxcsr 0xffffffff\n',
             f'xmm0 0x{"1" * 33}\n']
    if avx:
        cases.append('xmm0 0x1\nymm0 0x2\n')     # xmm0 is ymm0's low half
    for text in cases:
        e = write_fpregs(m, t.pid, text)
        check(e == errno.EINVAL, f'{text!r}: {errno.errorcode.get(e, e)}')
    after = read_fpregs(m, t.pid)
    check(after == before, 'fpregs changed')
    ours, _ = parse_fpregs(after)
    check(ours['xmm0'][0] == XMM[0] and ours['mxcsr'][0] == WANT_FIXED['mxcsr'],
          f'xmm0 {ours["xmm0"][0]:#x} mxcsr {ours["mxcsr"][0]:#x}: not what fpdemo loaded')


if __name__ == '__main__':
    if not os.access(FPDEMO, os.X_OK):
        print(f'Bail out! PTRACEFS_FPDEMO={FPDEMO!r} is not an executable (meson test sets it)')
        sys.exit(1)
    sys.exit(run())
