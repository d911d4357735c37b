#!/usr/bin/env python3
"""gdb reads the cores ptracefs wrote inside the QEMU guests.

    check_cores.py CONSOLE_LOG EXE_DIR

tests/qemu/vmfs.c --emit-core prints each mounted core on the guest's
console as "vmcore" lines: the guest kernel's pc and sp of every thread
(from /proc/PID/task/TID/syscall), the spinner's tid, the address of the
target's pattern page, and the core's data in base64. This rebuilds each
core as a sparse file and asks gdb (gdb-multiarch for foreign
architectures) for every thread's pc and sp, the spinner's FP register
and the pattern page, and compares them with the guest's values.

The target program of label fs_ARCH is EXE_DIR/vmfs-ARCH (the static
binary the guest ran). Prints one "vmcore LABEL: N passed, M failed" line
per core and exits 1 on any failure or if no core was found.
"""
import base64
import os
import re
import shutil
import subprocess
import sys
import tempfile

# gdb's name for the architecture, and an expression that prints the
# spinner's loaded FP register (low word: the bits of pi) as a double.
GDB_ARCH = {
    "x86_64": ("i386:x86-64", "$xmm0.v2_double[0]"),
    "i386": ("i386", "$xmm0.v2_double[0]"),
    "aarch64": ("aarch64", "$v8.d.f[0]"),
    "arm": ("arm", "$d8"),
    "riscv64": ("riscv:rv64", "$fs0"),
}
PI = "3.14159265358979"


def parse(log):
    """Yields one dict per emitted core."""
    cur = None
    with open(log, "rb") as f:
        for raw in f:
            line = raw.decode("ascii", "replace").strip().replace("\r", "")
            if not line.startswith("vmcore "):
                continue
            w = line.split()
            if w[1] == "begin":
                cur = {"label": w[2], "pid": int(w[3]), "size": int(w[4]),
                       "threads": {}, "data": [], "complete": False}
            elif cur is None:
                continue
            elif w[1] == "thread":
                cur["threads"][int(w[2])] = (int(w[3], 16), int(w[4], 16))
            elif w[1] == "spinner":
                cur["spinner"] = int(w[2])
            elif w[1] == "page":
                cur["page"] = int(w[2], 16)
            elif w[1] == "d" and len(w) == 4:
                cur["data"].append((int(w[2]), w[3]))
            elif w[1] == "end":
                cur["complete"] = w[2] == cur["label"]
                yield cur
                cur = None
    if cur is not None:
        yield cur


def per_thread(out):
    """gdb 'thread apply all' output -> {lwp: text of that thread}."""
    res = {}
    parts = re.split(r"^Thread [^\n]*\(LWP (\d+)\)[^\n]*:$", out, flags=re.M)
    for i in range(1, len(parts) - 1, 2):
        res[int(parts[i])] = parts[i + 1]
    return res


def check_core(core, exe_dir, gdb, failures):
    label = core["label"]
    arch = label[3:]
    passed = 0

    def check(ok, msg):
        nonlocal passed
        if ok:
            passed += 1
        else:
            failures.append(f"{label}: {msg}")
            print(f"FAIL {label}: {msg}")

    exe = os.path.join(exe_dir, f"vmfs-{arch}")
    check(core["complete"], "core output truncated")
    check(os.path.exists(exe), f"no {exe}")
    if arch not in GDB_ARCH or not core["complete"] or not os.path.exists(exe):
        return passed
    gdb_arch, fp_expr = GDB_ARCH[arch]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "core")
        with open(path, "wb") as f:
            f.truncate(core["size"])
            for off, b64 in core["data"]:
                f.seek(off)
                f.write(base64.b64decode(b64))
        cmds = ["set pagination off", "set width 0", "set confirm off",
                f"set architecture {gdb_arch}", "set sysroot /nonexistent",
                f"file {exe}", f"core-file {path}",
                "echo @@pc\\n", "thread apply all p/x $pc",
                "echo @@sp\\n", "thread apply all p/x $sp",
                "echo @@fp\\n", f"thread apply all p {fp_expr}",
                "echo @@page\\n", "x/16xb &page", "echo @@end\\n"]
        args = [gdb, "-nx", "-batch"]
        for c in cmds:
            args += ["-ex", c]
        r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    out = r.stdout
    sec = dict(re.findall(r"@@(\w+)\n(.*?)(?=@@)", out, flags=re.S))
    check(len(sec) == 4, f"gdb gave no answer: {r.stderr.strip()[-300:]}")
    if len(sec) != 4:
        return passed

    pcs, sps, fps = (per_thread(sec[k]) for k in ("pc", "sp", "fp"))
    check(sorted(pcs) == sorted(core["threads"]),
          f"gdb sees threads {sorted(pcs)}, the guest {sorted(core['threads'])}")
    for tid, (pc, sp) in core["threads"].items():
        gpc = re.search(r"= (0x[0-9a-f]+)", pcs.get(tid, ""))
        gsp = re.search(r"= (0x[0-9a-f]+)", sps.get(tid, ""))
        check(gpc and int(gpc.group(1), 16) == pc,
              f"thread {tid}: gdb pc {gpc and gpc.group(1)}, kernel {pc:#x}")
        check(gsp and int(gsp.group(1), 16) == sp,
              f"thread {tid}: gdb sp {gsp and gsp.group(1)}, kernel {sp:#x}")
    spin = fps.get(core.get("spinner"), "")
    check(PI in spin, f"spinner's {fp_expr} in gdb: {spin.strip()[:120]!r}, want {PI}...")

    got = [int(x, 16) for x in re.findall(r"0x([0-9a-f]{2})\b", sec["page"].split(":", 1)[-1])]
    want = [(i * 7 + core["pid"]) & 0xff for i in range(16)]
    check(got == want, f"gdb x/16xb &page: {got}, want {want}")
    return passed


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    gdb = shutil.which("gdb-multiarch") or shutil.which("gdb")
    if not gdb:
        print("vmcore: no gdb")
        sys.exit(1)
    failures = []
    n = 0
    for core in parse(sys.argv[1]):
        n += 1
        before = len(failures)
        passed = check_core(core, sys.argv[2], gdb, failures)
        print(f"vmcore {core['label']}: {passed} passed, {len(failures) - before} failed")
    if n == 0:
        print("vmcore: no core in the console log")
    sys.exit(1 if failures or n == 0 else 0)


if __name__ == "__main__":
    main()
