#!/usr/bin/env python3
"""mount suite: every command example of the documentation runs.

The examples are read from the documents themselves, not copied here: the
fenced code blocks of README.md that use the example mountpoint /tmp/p, and
every fenced block of the EXAMPLES section of doc/ptracefs.1.scd. Each block
is one check, run by bash against a fresh sample target (PTRACEFS_TARGET),
with the documents' example values replaced:

    4242       the target's pid
    /tmp/p     a fresh mountpoint
    /dev/shm/  a fresh directory on /dev/shm
    ptracefs   the binary under test (PTRACEFS_BIN), as a command

and relative paths (app.core, state.tar) in a scratch directory. A block
that does not mount the target itself is given a default mount first; what
is still mounted afterwards is unmounted. A check fails on a command that
exits non-zero or writes an error line on stderr (every line but warnings,
which are shown as comments). A command whose program is not installed is
left out, and the check says so.

PTRACEFS_MOUNT_ONLY=REGEX runs the blocks whose names match.
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

from harness import (LIVE_MOUNTS, PTRACEFS, Fail, assert_undisturbed, check, kill_daemon,
                     mounted, proc_status, reap, run, settle, tap_check, tracer_pid)

SRC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
SCRIPT_TIMEOUT = 100


def fenced_blocks(lines):
    """The fenced (```) code blocks of lines, each a list of its lines."""
    out, cur = [], None
    for line in lines:
        if line.strip().startswith('```'):
            if cur is None:
                cur = []
            else:
                out.append(cur)
                cur = None
        elif cur is not None:
            cur.append(line.rstrip('\n'))
    return out


def readme_blocks():
    with open(os.path.join(SRC, 'README.md')) as f:
        return [b for b in fenced_blocks(f) if any('/tmp/p' in x for x in b)]


def man_blocks():
    with open(os.path.join(SRC, 'doc', 'ptracefs.1.scd')) as f:
        lines = f.readlines()
    start = lines.index('# EXAMPLES\n')
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith('# '))
    return fenced_blocks(lines[start:end])


def commands(block):
    """The commands of a block: continuation lines joined, comment lines out."""
    out, cur = [], ''
    for line in block:
        line = line.strip()
        if line.endswith('\\'):
            cur += line[:-1] + ' '
            continue
        cur += line
        if cur and not cur.startswith('#'):
            out.append(cur)
        cur = ''
    return out


def programs(cmd):
    """The programs a command line runs: the first word of the line and of
    each part after |, ||, &&, ; or $( (a rough shell reading; comments out)."""
    lex = shlex.shlex(cmd, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    out, first = [], True
    try:
        for tok in lex:
            if tok in ('|', '||', '&&', ';', '(', '&'):
                first = True
            elif first and not re.match(r'^\w+=', tok) and not tok.startswith('>'):
                out.append(tok)
                first = False
    except ValueError:
        pass
    return out


def substitute(cmd, pid, mnt, shm):
    cmd = re.sub(r'/tmp/p\b', mnt, cmd)
    cmd = re.sub(r'\b4242\b', str(pid), cmd)
    cmd = cmd.replace('/dev/shm/', shm + '/')
    return cmd


def is_error(line, cmd, mnt):
    """A diagnostic: a line that is not a warning and names a program of the
    command ("tar: ...", "ptracefs: ..."), says error, or names the mount.
    (gdb prints a source line it cannot find on stderr: no error of ours.)"""
    low = line.lower()
    if not line.strip() or 'warning' in low:
        return False
    return ('error' in low or mnt in line or
            any(low.startswith(os.path.basename(p).lower() + ':') for p in programs(cmd)))


def daemon_of(pid):
    tracer = tracer_pid(pid)
    if not tracer:
        return 0
    try:
        return int(proc_status(tracer)['Tgid'])
    except (OSError, KeyError):
        return tracer


def run_block(c, cmds):
    t = c.target()
    work = tempfile.mkdtemp(dir=c.tmp)
    mnt = tempfile.mkdtemp(dir=c.tmp)
    shm = tempfile.mkdtemp(dir='/dev/shm', prefix='ptracefs-examples-')
    LIVE_MOUNTS.add(mnt)

    def cleanup():
        if mounted(mnt):
            daemon = daemon_of(t.pid)
            settle(mnt)
            subprocess.run(['fusermount3', '-u', mnt], capture_output=True, timeout=30)
            if mounted(mnt):
                subprocess.run(['fusermount3', '-uz', mnt], capture_output=True, timeout=30)
            if daemon and reap(daemon, 10) is None:
                kill_daemon(daemon)
        LIVE_MOUNTS.discard(mnt)
        shutil.rmtree(shm, ignore_errors=True)
    c.undo.append(cleanup)

    # the documents' `ptracefs` is the binary under test
    bindir = tempfile.mkdtemp(dir=c.tmp)
    os.symlink(PTRACEFS, os.path.join(bindir, 'ptracefs'))
    env = dict(os.environ, PATH=bindir + ':' + os.environ.get('PATH', ''))

    if not programs(cmds[0])[:1] == ['ptracefs']:
        r = subprocess.run([PTRACEFS, str(t.pid), mnt], capture_output=True, timeout=60)
        check(r.returncode == 0, f'mount before the block: {r.stderr.decode().strip()}')

    script, skipped = ['set -o pipefail'], []
    for n, cmd in enumerate(cmds):
        missing = [p for p in programs(cmd) if not shutil.which(p, path=env['PATH'])
                   and p not in ('cd', 'echo', 'printf', 'test', '[')]
        if missing:
            skipped.append(f'{cmd} ({", ".join(missing)} not installed)')
            continue
        script += [f"printf '\\n@@cmd {n}\\n' >&2", substitute(cmd, t.pid, mnt, shm),
                   f"printf '\\n@@rc {n} %d\\n' $? >&2"]
    r = subprocess.run(['bash', '-c', '\n'.join(script)], cwd=work, env=env,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=SCRIPT_TIMEOUT)
    for s in skipped:
        print(f'# left out: {s}')

    bad, cur, seen = [], None, set()
    for line in r.stderr.decode(errors='replace').splitlines():
        m = re.match(r'^@@(cmd|rc) (\d+)(?: (\d+))?$', line)
        if m and m.group(1) == 'cmd':
            cur = int(m.group(2))
        elif m:
            seen.add(cur)
            if int(m.group(3)) != 0:
                bad.append(f'{cmds[cur]!r} exited {m.group(3)}')
            cur = None
        elif line.strip() and (cur is None or is_error(line, cmds[cur], mnt)):
            bad.append(f'{cmds[cur] if cur is not None else "bash"!r}: {line.strip()}')
        elif line.strip():
            print(f'# stderr of {cmds[cur] if cur is not None else "bash"!r}: {line.strip()}')
    ran = [n for n, cmd in enumerate(cmds) if not any(s.startswith(cmd + ' (') for s in skipped)]
    for n in ran:
        if n not in seen:
            bad.append(f'{cmds[n]!r} did not finish')
    if bad:
        raise Fail('\n# '.join(bad))
    cleanup()
    check(not mounted(mnt), 'a mount was left behind')
    assert_undisturbed(t)


def register(source, blocks):
    for i, block in enumerate(blocks, 1):
        cmds = commands(block)
        if not cmds:
            continue

        @tap_check(f'{source} example {i}: {cmds[0]}')
        def _(c, cmds=cmds):
            run_block(c, cmds)


register('README', readme_blocks())
register('ptracefs(1)', man_blocks())

if __name__ == '__main__':
    sys.exit(run())
