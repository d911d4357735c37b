#!/usr/bin/env python3
"""mount suite, -o tree: a process and its descendants frozen as one
instant and mounted side by side. Checked from outside against /proc: the
set of descendants (ppid chains of /proc/*/stat), every task's state
letter, /proc/PID/maps, /proc/PID/task/TID/syscall; and after the unmount
or a SIGKILL of the daemon, every process running and untraced.
TAP through harness.py, like test_mount.py.
"""
import os
import platform
import shutil
import signal
import subprocess
import sys
import time

import harness
from harness import (Fail, Mount, Skip, check, mounted, none_stopped, proc_gone, proc_status,
                     refusal, reap, run_checks, syscall_sp_pc, tap_check, task_states,
                     tracer_pid, wait_until)

FORKER = os.environ.get('PTRACEFS_FORKER', '')
NOBODY = 65534
# A root without CAP_SYS_PTRACE: it may trace root's processes (same uid,
# no more capabilities than it has) but not another user's.
NO_PTRACE_CAP = ['setpriv', '--bounding-set=-sys_ptrace', '--inh-caps=-sys_ptrace', '--']


def stat_fields(pid):
    """(state, ppid) of /proc/PID/stat, or None once it is gone."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            tok = f.read().rsplit(')', 1)[1].split()
        return tok[0], int(tok[1])
    except (FileNotFoundError, ProcessLookupError):
        return None


def descendants(root):
    """Every process whose ppid chain reaches root, from /proc now."""
    parent = {}
    for d in os.listdir('/proc'):
        if d.isdigit():
            f = stat_fields(int(d))
            if f:
                parent[int(d)] = f[1]
    out = set()
    for p in parent:
        q, seen = p, 0
        while q in parent and q != root and seen < 4096:
            q, seen = parent[q], seen + 1
        if q == root and p != root:
            out.add(p)
    return out


def processes(m):
    """processes as [{pid, ppid, pgid, sid, comm, state, mount, why}], in order."""
    out = []
    for line in m.read('processes').decode().splitlines():
        tok = line.split(' ', 7)
        check(len(tok) >= 7, f'processes line {line!r} has fewer than 7 fields')
        out.append({'pid': int(tok[0]), 'ppid': int(tok[1]), 'pgid': int(tok[2]),
                    'sid': int(tok[3]), 'comm': tok[4], 'state': tok[5], 'mount': tok[6],
                    'why': tok[7] if len(tok) > 7 else ''})
    return out


def member_dirs(m):
    return sorted(int(n) for n in os.listdir(m.mnt) if n.isdigit())


def regs_of(m, pid, tid):
    text = m.read(str(pid), 'threads', str(tid), 'regs').decode()
    return {k: int(v, 16) for k, v in (l.split() for l in text.splitlines())}


def check_frozen(m, pid):
    """Member pid: every task stopped ('t'), maps equal to /proc, each
    thread's pc and sp those /proc/PID/task/TID/syscall shows."""
    st = task_states(pid)
    check(st and all(s == 't' for s in st.values()), f'{pid}: task states {st}')
    with open(f'/proc/{pid}/maps', 'rb') as f:
        want = f.read()
    check(m.read(str(pid), 'maps') == want, f'{pid}: maps differ from /proc/{pid}/maps')
    tids = sorted(int(t) for t in os.listdir(m.path(str(pid), 'threads')))
    check(tids == sorted(st), f'{pid}: threads/ {tids}, /proc {sorted(st)}')
    if platform.machine() != 'x86_64':
        return
    for tid in tids:
        regs = regs_of(m, pid, tid)
        sp, pc = syscall_sp_pc(pid, tid)
        check((regs['rip'], regs['rsp']) == (pc, sp),
              f'{pid}/{tid}: rip {regs["rip"]:#x} rsp {regs["rsp"]:#x}, '
              f'/proc says pc {pc:#x} sp {sp:#x}')


def all_running(pids):
    """Every pid still there is untraced and has no stopped task."""
    for p in pids:
        if proc_gone(p):
            continue
        try:
            if tracer_pid(p) != 0 or not none_stopped(p):
                return False
        except (FileNotFoundError, ProcessLookupError):
            pass
    return True


def forker(c, *args):
    return c.target(FORKER, args=args)


def mount_tree(c, pid, extra=()):
    return c.mount(pid, ('-o', 'tree', *extra))


# ---- the checks ----


@tap_check('a forking tree: every descendant stopped, maps and registers as /proc, all run after')
def _(c):
    t = forker(c, '-n', '4', '-g', '-t', '3', '-c')
    m = mount_tree(c, t.pid)
    procs = processes(m)
    check(procs[0]['pid'] == t.pid and procs[0]['mount'] == 'suspended',
          f'first line is not the root: {procs[0]}')
    listed = {p['pid']: p for p in procs}
    dirs = member_dirs(m)
    # Parents first: every member's parent is the root or listed before it.
    order = {p['pid']: i for i, p in enumerate(procs)}
    for p in procs[1:]:
        check(p['ppid'] in order and order[p['ppid']] < order[p['pid']],
              f'{p["pid"]} listed before its parent {p["ppid"]}')
    # No descendant escaped: /proc's tree now (it cannot change: all stopped)
    # is the listed one, and every one alive has a directory.
    now = descendants(t.pid)
    check(now == set(listed) - {t.pid},
          f'descendants in /proc but not listed: {sorted(now - set(listed))}; '
          f'listed but not descendants: {sorted(set(listed) - now - {t.pid})}')
    alive = {p for p in now | {t.pid} if stat_fields(p)[0] not in 'ZX'}
    check(alive == set(dirs), f'live processes {sorted(alive)}, directories {dirs}')
    check(len(dirs) >= 9, f'only {len(dirs)} members: the tree has 1 + 4 + 4 long-lived')
    for p in procs:
        if p['pid'] in dirs:
            check(p['mount'] == 'suspended', f'{p["pid"]}: mount state {p["mount"]}')
        else:
            check(p['mount'] == 'untraced' and p['why'] and stat_fields(p['pid'])[0] == 'Z',
                  f'{p["pid"]} has no directory but is {p}')
    for pid in dirs:
        check_frozen(m, pid)
        status = m.read(str(pid), 'status').decode()
        check(f'pid {pid}\n' in status and 'state suspended' in status,
              f'{pid}/status: {status[:80]!r}')
    check(m.unmount() == 0, 'daemon exit status')
    check(wait_until(lambda: all_running(dirs), 5),
          f'still stopped or traced after the unmount: '
          f'{[p for p in dirs if not all_running([p])]}')
    # and the tree goes on forking: new processes appear
    before = descendants(t.pid)
    check(wait_until(lambda: descendants(t.pid) - before, 5), 'the tree stopped forking')


@tap_check('SIGKILL of the daemon leaves every member running')
def _(c):
    t = forker(c, '-n', '3', '-g', '-t', '2', '-c')
    m = mount_tree(c, t.pid)
    dirs = member_dirs(m)
    check(len(dirs) >= 7, f'only {len(dirs)} members')
    check(all(all(s == 't' for s in task_states(p).values()) for p in dirs),
          'a member was not stopped')
    os.kill(m.daemon, signal.SIGKILL)
    check(reap(m.daemon, 10) is not None, 'the daemon did not die')
    harness.LIVE_DAEMONS.discard(m.daemon)
    check(wait_until(lambda: all_running(dirs), 5),
          f'stopped or traced after SIGKILL: {[p for p in dirs if not all_running([p])]}')
    check(wait_until(lambda: not mounted(m.mnt), 5), 'auto_unmount left the mount')


@tap_check('a member of another user is listed with the reason and has no directory')
def _(c):
    if os.geteuid() != 0 or not shutil.which('setpriv'):
        raise Skip('needs root and setpriv to drop CAP_SYS_PTRACE')
    script = (f'setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups sleep 1000 & '
              'sleep 1000 & wait')
    tree = subprocess.Popen(NO_PTRACE_CAP + ['sh', '-c', script])
    started = set()

    def stop():
        for p in started:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        tree.kill()
        tree.wait()
    c.undo.append(stop)

    def kids():
        k = {p: proc_status(p) for p in descendants(tree.pid)}
        return len(k) == 2 and all(v['Name'] == 'sleep' for v in k.values()) and k
    kids = wait_until(kids, 5)
    check(kids, 'the two sleeps did not start')
    started.update(kids)
    nobody = [p for p, st in kids.items() if int(st['Uid'].split()[0]) == NOBODY]
    mine = [p for p, st in kids.items() if int(st['Uid'].split()[0]) == 0]
    check(len(nobody) == 1 and len(mine) == 1, f'uids of the sleeps: {kids}')
    m = Mount(c.tmp, tree.pid)
    c.undo.append(m.cleanup)
    r = subprocess.run(NO_PTRACE_CAP + [harness.PTRACEFS, '-o', 'tree', str(tree.pid), m.mnt],
                       capture_output=True, timeout=60)
    check(r.returncode == 0, f'ptracefs exited {r.returncode}: {r.stderr.decode().strip()}')
    m.daemon = int(proc_status(tracer_pid(tree.pid))['Tgid'])
    harness.LIVE_DAEMONS.add(m.daemon)
    listed = {p['pid']: p for p in processes(m)}
    check(set(listed) == {tree.pid, *kids}, f'listed {sorted(listed)}')
    n = listed[nobody[0]]
    check(n['mount'] == 'untraced' and f'uid {NOBODY}' in n['why'],
          f"nobody's sleep: {n}")
    check(member_dirs(m) == sorted([tree.pid, mine[0]]), f'directories {member_dirs(m)}')
    check(tracer_pid(nobody[0]) == 0 and task_states(nobody[0]) == {nobody[0]: 'S'},
          "nobody's sleep was disturbed")
    check_frozen(m, mine[0])
    check(m.unmount() == 0, 'daemon exit status')
    check(wait_until(lambda: all_running([tree.pid, mine[0]]), 5), 'left stopped')


@tap_check('a shell pipeline: sh, yes and cat frozen together, all running after')
def _(c):
    sh = subprocess.Popen(['sh', '-c', 'yes | cat > /dev/null'])
    kids = wait_until(lambda: len(descendants(sh.pid)) == 2 and descendants(sh.pid), 5)

    def stop():
        for p in kids or ():
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        sh.kill()
        sh.wait()
    c.undo.append(stop)
    check(kids, 'the pipeline did not start')
    m = mount_tree(c, sh.pid)
    procs = processes(m)
    check([p['pid'] for p in procs][0] == sh.pid, 'sh is not first')
    comms = sorted(p['comm'] for p in procs)
    check(comms == ['cat', 'sh', 'yes'], f'members {comms}')
    check(member_dirs(m) == sorted([sh.pid, *kids]), f'directories {member_dirs(m)}')
    # one session and one process group for the pipeline's two ends
    ends = [p for p in procs if p['pid'] in kids]
    check(ends[0]['pgid'] == ends[1]['pgid'] and ends[0]['sid'] == ends[1]['sid'] == procs[0]['sid'],
          f'pgid/sid: {procs}')
    for pid in member_dirs(m):
        check_frozen(m, pid)
    yes = [p['pid'] for p in procs if p['comm'] == 'yes'][0]

    def ticks(p):
        with open(f'/proc/{p}/stat') as f:
            return sum(int(x) for x in f.read().rsplit(')', 1)[1].split()[11:13])
    before = ticks(yes)
    time.sleep(0.3)
    check(ticks(yes) == before, 'yes ran while suspended')
    check(m.unmount() == 0, 'daemon exit status')
    check(wait_until(lambda: all_running([sh.pid, *kids]), 5), 'left stopped after the unmount')
    check(wait_until(lambda: ticks(yes) > before, 5), 'yes does not run after the unmount')


@tap_check("a member's ctl detach releases just it; the root's ctl reaches every member")
def _(c):
    t = forker(c, '-n', '3', '-t', '2')
    m = mount_tree(c, t.pid)
    dirs = member_dirs(m)
    check(len(dirs) == 4, f'members {dirs}')
    child = dirs[-1]
    with open(m.path(str(child), 'ctl'), 'w') as f:
        f.write('detach\n')
    check(wait_until(lambda: all_running([child]), 3), f'{child} still stopped after its detach')
    others = [p for p in dirs if p != child]
    check(all(all(s == 't' for s in task_states(p).values()) for p in others),
          'a detach of one member let others go')
    check(mounted(m.mnt), 'a member detach ended the mount')
    mode = {p['pid']: p['mount'] for p in processes(m)}
    check(mode[child] == 'detached' and all(mode[p] == 'suspended' for p in others),
          f'processes says {mode}')
    check(b'state detached' in m.read(str(child), 'status'), 'status of the detached member')
    check(m.read('ctl').startswith(b'mode tree\n'), f'root ctl: {m.read("ctl")!r}')
    # resume and suspend the whole tree
    with open(m.path('ctl'), 'w') as f:
        f.write('resume\n')
    check(wait_until(lambda: all(none_stopped(p) for p in others), 3), 'resume left some stopped')
    with open(m.path('ctl'), 'w') as f:
        f.write('suspend\n')
    check(wait_until(lambda: all(all(s == 't' for s in task_states(p).values()) for p in others), 3),
          'suspend left some running')
    for pid in others:
        check_frozen(m, pid)
    # the root's detach: everyone goes, and the mount ends
    with open(m.path('ctl'), 'w') as f:
        f.write('detach\n')
    check(wait_until(lambda: all_running(dirs), 3), 'root detach left some stopped')
    check(reap(m.daemon, 10) is not None, 'the daemon did not exit after the root detach')
    harness.LIVE_DAEMONS.discard(m.daemon)


@tap_check('a member killed while mounted reads as an exited target')
def _(c):
    t = forker(c, '-n', '2', '-t', '2')
    m = mount_tree(c, t.pid)
    dirs = member_dirs(m)
    child = dirs[-1]
    os.kill(child, signal.SIGKILL)
    check(wait_until(lambda: b'state exited' in m.read(str(child), 'status'), 5),
          f'{child}/status does not say exited')
    check({p['pid']: p['mount'] for p in processes(m)}[child] == 'exited', 'processes')
    try:
        with open(m.path(str(child), 'mem'), 'rb') as f:
            f.read(16)
        raise Fail('mem of an exited member read without EIO')
    except OSError as e:
        check(e.errno == 5, f'mem: {e}')
    for pid in dirs[:-1]:
        check_frozen(m, pid)
    check(m.unmount() == 0, 'daemon exit status')
    check(wait_until(lambda: all_running(dirs[:-1]), 5), 'left stopped')


@tap_check('-o tree refuses -o live with one line, the target untouched')
def _(c):
    t = forker(c, '-n', '1')
    refusal(c, t.pid, extra=('-o', 'tree,live'), want_in_msg='-o tree')
    check(tracer_pid(t.pid) == 0 and none_stopped(t.pid), 'target disturbed')


def stat_field(pid, k):
    """Field k (1-based, as proc(5) counts) of /proc/PID/stat."""
    with open(f'/proc/{pid}/stat') as f:
        return int(f.read().rsplit(')', 1)[1].split()[k - 3])


def zero_signal_children(pids):
    """Children of pids (from /proc) whose exit signal is 0: our clones."""
    out = []
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                if stat_field(int(d), 4) in pids and stat_field(int(d), 38) == 0:
                    out.append(int(d))
            except (FileNotFoundError, ProcessLookupError, IndexError):
                pass
    return out


@tap_check('-o tree,snapshot: one clone per process, all made in one freeze; the tree runs; unmount reaps them')
def _(c):
    t = forker(c, '-n', '3', '-g', '-t', '2')
    want = {t.pid} | descendants(t.pid)
    m = mount_tree(c, t.pid, ('-o', 'snapshot'))
    procs = processes(m)
    dirs = member_dirs(m)
    check(set(dirs) >= want, f'directories {dirs}, /proc has {sorted(want)}')
    check(all(p['mount'] == 'snapshot' for p in procs if p['pid'] in want),
          f'processes: {[(p["pid"], p["mount"]) for p in procs]}')
    # the tree runs while mounted: nothing traced, nothing stopped
    check(wait_until(lambda: all_running(dirs), 5), 'a process is still stopped or traced')
    clones = {}
    for pid in dirs:
        st = dict(l.split(' ', 1) for l in m.read(str(pid), 'status').decode().splitlines()
                  if ' ' in l)
        check(st.get('state') == 'snapshot', f'{pid}: state {st.get("state")}')
        clone = int(st['clone'])
        clones[pid] = clone
        # the clone is the process's own child, with exit signal 0, held by the daemon
        check(stat_field(clone, 4) == pid, f'clone {clone} of {pid} has parent {stat_field(clone, 4)}')
        check(stat_field(clone, 38) == 0, f'clone {clone} exit signal {stat_field(clone, 38)}')
        check(tracer_pid(clone) != 0, f'clone {clone} is not traced')
        # the member's tree reads its clone: same maps as the clone's /proc
        with open(f'/proc/{clone}/maps', 'rb') as f:
            check(m.read(str(pid), 'maps') == f.read(), f'{pid}: maps is not its clone\'s')
    check(len(set(clones.values())) == len(clones), f'clones shared: {clones}')
    # made together, in one freeze: the clones' start times (field 22)
    # within 100 ms of each other
    starts = [stat_field(cl, 22) for cl in clones.values()]
    check(max(starts) - min(starts) <= max(1, os.sysconf('SC_CLK_TCK') // 10),
          f'clone start times spread over {max(starts) - min(starts)} ticks')
    check(m.unmount() == 0, 'daemon exit status')
    check(wait_until(lambda: all(proc_gone(cl) for cl in clones.values()), 5),
          f'clones left: {[cl for cl in clones.values() if not proc_gone(cl)]}')
    check(wait_until(lambda: not zero_signal_children(set(dirs)), 5),
          f'children with exit signal 0 left: {zero_signal_children(set(dirs))}')
    check(wait_until(lambda: all_running(dirs), 5), 'left stopped')


@tap_check('-o tree,snapshot, daemon SIGKILLed: every member runs, the clones die; a mount of a member reaps its zombie clone')
def _(c):
    t = forker(c, '-n', '2', '-t', '2')
    m = mount_tree(c, t.pid, ('-o', 'snapshot'))
    dirs = member_dirs(m)
    clones = {}
    for pid in dirs:
        st = dict(l.split(' ', 1) for l in m.read(str(pid), 'status').decode().splitlines()
                  if ' ' in l)
        clones[pid] = int(st['clone'])
    os.kill(m.daemon, signal.SIGKILL)
    check(reap(m.daemon, 10) is not None, 'the daemon did not die')
    harness.LIVE_DAEMONS.discard(m.daemon)
    check(wait_until(lambda: all_running(dirs), 5), 'a member is stopped or traced')

    def dead(pid):
        f = stat_fields(pid)
        return f is None or f[0] == 'Z'
    # EXITKILL: each clone dies with the daemon (a zombie its member has
    # not been told of: exit signal 0)
    check(wait_until(lambda: all(dead(cl) for cl in clones.values()), 5),
          f'clones alive: {[cl for cl in clones.values() if not dead(cl)]}')
    check(wait_until(lambda: not mounted(m.mnt), 5), 'auto_unmount left the mount')
    # the next run on a member, in any mode, reaps what was left in it
    for pid in dirs:
        m2 = c.mount(pid)
        check(m2.unmount() == 0, f'mount of {pid}: daemon exit status')
    check(wait_until(lambda: not zero_signal_children(set(dirs)), 5),
          f'zombie clones left: {zero_signal_children(set(dirs))}')
    check(wait_until(lambda: all_running(dirs), 5), 'left stopped')


def run():
    return run_checks((('PTRACEFS_BIN', harness.PTRACEFS), ('PTRACEFS_FORKER', FORKER)),
                      'PTRACEFS_MOUNT_ONLY', 'ptracefs-ptree-', harness.Ctx,
                      harness.CHECK_TIMEOUT, harness.on_timeout, harness.reap_strays,
                      harness.finish)


if __name__ == '__main__':
    sys.exit(run())
