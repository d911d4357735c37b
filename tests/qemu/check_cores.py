#!/usr/bin/env python3
"""gdb reads the cores ptracefs wrote inside the QEMU guests.

    check_cores.py CONSOLE_LOG EXE_DIR

tests/qemu/vmfs.c --emit-core prints each mounted core on the guest's
console as "vmcore" lines: the guest kernel's pc and sp of every thread
(from /proc/PID/task/TID/syscall), the spinner's tid, the address of the
target's pattern page, and the core's data in base64. This rebuilds each
core as a sparse file and asks gdb (gdb-multiarch for foreign
architectures) for every thread's pc and sp, the spinner's FP register
and the pattern page, and compares them with the guest's values. When
the guest also printed the kernel's own core of the process ("kernel_"
blocks, made by SIGABRT after the unmount), ours is compared with it:
the same PT_LOADs and dump decisions, the same notes per thread in the
same order, NT_AUXV, NT_FILE (and NT_X86_XSAVE_LAYOUT where the kernel
writes it), the pattern page and the vDSO.

Each kernel core is also mounted by the host's ptracefs ($PTRACEFS_BIN):
threads, every thread's pc and sp, the pattern page and maps, against
the guest's values.

The target program of label fs_ARCH is EXE_DIR/vmfs-ARCH (the static
binary the guest ran). Prints one "vmcore LABEL: N passed, M failed" line
per core and exits 1 on any failure or if no core was found.
"""
import base64
import os
import re
import shutil
import struct
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


class Checks:
    """check(ok, msg): counts what passed; a failure goes to the shared
    list and is printed as "FAIL PREFIX: msg"."""

    def __init__(self, prefix, failures):
        self.prefix, self.failures, self.passed = prefix, failures, 0

    def __call__(self, ok, msg):
        if ok:
            self.passed += 1
        else:
            self.failures.append(f"{self.prefix}: {msg}")
            print(f"FAIL {self.prefix}: {msg}")


def check_core(core, exe_dir, gdb, failures):
    label = core["label"]
    arch = label[3:]
    check = Checks(label, failures)

    exe = os.path.join(exe_dir, f"vmfs-{arch}")
    check(core["complete"], "core output truncated")
    check(os.path.exists(exe), f"no {exe}")
    if arch not in GDB_ARCH or not core["complete"] or not os.path.exists(exe):
        return check.passed
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
        return check.passed

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
    return check.passed


def rebuild(core):
    """The core's bytes (all-zero chunks were left out: zeros)."""
    buf = bytearray(core["size"])
    for off, b64 in core["data"]:
        raw = base64.b64decode(b64)
        buf[off:off + len(raw)] = raw
    return bytes(buf)


class Elf:
    """An ELF core (either class, little-endian): its PT_LOADs and notes."""

    def __init__(self, data):
        self.data = data
        is64 = data[4] == 2
        if is64:
            phoff, = struct.unpack_from("<Q", data, 32)
            phentsize, phnum = struct.unpack_from("<HH", data, 54)
        else:
            phoff, = struct.unpack_from("<I", data, 28)
            phentsize, phnum = struct.unpack_from("<HH", data, 42)
        self.loads, self.notes, self.ours = [], [], []
        for i in range(phnum):
            at = phoff + i * phentsize
            if is64:
                typ, flags, off, vaddr, _, filesz, memsz, _ = struct.unpack_from("<IIQQQQQQ", data, at)
            else:
                typ, off, vaddr, _, filesz, memsz, flags, _ = struct.unpack_from("<IIIIIIII", data, at)
            if typ == 1:
                self.loads.append((vaddr, memsz, flags, filesz, off))
            elif typ == 4:
                pos = off
                while pos + 12 <= off + filesz:
                    nsz, dsz, ntype = struct.unpack_from("<III", data, pos)
                    d = pos + 12 + (nsz + 3) // 4 * 4
                    name = data[pos + 12:pos + 12 + nsz].rstrip(b"\0")
                    # ptracefs's own notes (a PT_NOTE of their own, after
                    # the kernel's) are checked apart: see check_parity
                    (self.ours if name == b"PTRACEFS" else self.notes).append((ntype, data[d:d + dsz]))
                    pos = d + (dsz + 3) // 4 * 4
        self.pid_off = 32 if is64 else 24

    def note(self, ntype):
        return next((d for t, d in self.notes if t == ntype), None)

    def per_thread(self):
        """[(tid, [note types])]: a thread's notes follow its NT_PRSTATUS."""
        out = []
        for t, d in self.notes:
            if t == NT_PRSTATUS:
                out.append((struct.unpack_from("<i", d, self.pid_off)[0], []))
            if out and t not in PER_PROCESS:
                out[-1][1].append(t)
        return out

    def read(self, vaddr, n):
        for v, m, _, fs, off in self.loads:
            if v <= vaddr and vaddr + n <= v + fs:
                return self.data[off + vaddr - v:off + vaddr - v + n]
        return None


NT_PRSTATUS, NT_AUXV, NT_FILE, NT_SIGINFO, NT_X86_XSAVE_LAYOUT = 1, 6, 0x46494c45, 0x53494749, 0x205
PER_PROCESS = (3, NT_AUXV, NT_FILE, NT_SIGINFO, NT_X86_XSAVE_LAYOUT)


def check_parity(ours_core, kern_core, failures):
    """Our core against the guest kernel's core of the same process."""
    label = ours_core["label"]
    check = Checks(f"parity {label}", failures)

    check(kern_core["complete"], "the kernel's core output is truncated")
    if not kern_core["complete"] or not ours_core["complete"]:
        return check.passed
    ours, kern = Elf(rebuild(ours_core)), Elf(rebuild(kern_core))
    a = [ld[:3] for ld in ours.loads]
    b = [ld[:3] for ld in kern.loads]
    first = next(((x, y) for x, y in zip(a + [None], b + [None]) if x != y), None)
    check(a == b, f"PT_LOADs: ours {len(a)}, kernel {len(b)}; first difference "
          f"{first and tuple(hex(v) if isinstance(v, int) else v for v in first[0] or ())} / "
          f"{first and tuple(hex(v) if isinstance(v, int) else v for v in first[1] or ())}")
    for (v, m, fl, fs, off), (kv, km, kfl, kfs, koff) in zip(ours.loads, kern.loads):
        if v != kv or fs == kfs:
            continue
        # PROT_NONE the kernel dumps as zeros (an anon_vma no /proc file shows)
        if fs == 0 and kfl == 0 and kern.data[koff:koff + kfs] == bytes(kfs):
            continue
        check(False, f"LOAD {v:#x}: ours {fs:#x} bytes, the kernel's {kfs:#x}")
    mine, theirs = ours.per_thread(), dict(kern.per_thread())
    check(sorted(t for t, _ in mine) == sorted(theirs), "the threads differ")
    for tid, types in mine:
        k = theirs.get(tid, [])
        check(types == k, f"thread {tid}: notes {[hex(t) for t in types]}, "
              f"the kernel's {[hex(t) for t in k]}")
    check(ours.ours and not kern.ours, "the PTRACEFS notes are missing from our core")
    for t in (NT_AUXV, NT_FILE) + ((NT_X86_XSAVE_LAYOUT,) if kern.note(NT_X86_XSAVE_LAYOUT) else ()):
        check(ours.note(t) is not None and ours.note(t) == kern.note(t),
              f"note {t:#x} differs from the kernel's")
    page = ours_core.get("page")
    check(page is not None and ours.read(page, 4096) is not None and
          ours.read(page, 4096) == kern.read(page, 4096), "the pattern page differs")
    auxv = ours.note(NT_AUXV) or b""
    w = 8 if ours.data[4] == 2 else 4
    vals = struct.unpack(f"<{len(auxv) // w}{'Q' if w == 8 else 'I'}", auxv[:len(auxv) // w * w])
    vdso = next((vals[i + 1] for i in range(0, len(vals) - 1, 2) if vals[i] == 33), None)
    if vdso:
        ld = next((x for x in ours.loads if x[0] == vdso), None)
        check(ld and ours.read(vdso, ld[3]) == kern.read(vdso, ld[3]), "the vDSO differs")
    return check.passed


# The registers a regs file names the pc and sp by, per architecture.
PC_SP = {"x86_64": ("rip", "rsp"), "i386": ("eip", "esp"), "aarch64": ("pc", "sp"),
         "arm": ("pc", "sp"), "riscv64": ("pc", "sp")}


def check_mount(kern_core, ptracefs, failures):
    """The guest kernel's core mounted by the host's ptracefs (a foreign
    architecture's core, read through the core source): the threads the
    guest listed, each one's pc and sp as the guest's /proc said, the
    pattern page in mem, maps covering it, status naming the core."""
    label = kern_core["label"]
    arch = label[len("kernel_fs_"):]
    check = Checks(f"mount {label}", failures)
    if not kern_core["complete"] or arch not in PC_SP:
        check(False, f"cannot mount: complete={kern_core['complete']}, arch {arch}")
        return check.passed
    pcname, spname = PC_SP[arch]
    with tempfile.TemporaryDirectory() as tmp:
        path, mnt = os.path.join(tmp, "core"), os.path.join(tmp, "mnt")
        os.mkdir(mnt)
        with open(path, "wb") as f:
            f.write(rebuild(kern_core))
        r = subprocess.run([ptracefs, path, mnt], capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, f"ptracefs {path}: {r.stderr.strip()}")
        if r.returncode != 0:
            return check.passed
        try:
            with open(os.path.join(mnt, "status")) as f:
                st = dict(line.split(" ", 1) for line in f.read().splitlines() if " " in line)
            check(st.get("source") == "core" and st.get("core_kind") == "kernel",
                  f"status: source {st.get('source')}, core_kind {st.get('core_kind')}")
            check(st.get("pid") == str(kern_core["pid"]), f"status pid {st.get('pid')}, want {kern_core['pid']}")
            tids = sorted(int(t) for t in os.listdir(os.path.join(mnt, "threads")))
            check(tids == sorted(kern_core["threads"]),
                  f"threads/ {tids}, the guest {sorted(kern_core['threads'])}")
            for tid, (pc, sp) in kern_core["threads"].items():
                try:
                    with open(os.path.join(mnt, "threads", str(tid), "regs")) as f:
                        regs = dict(line.split()[:2] for line in f if len(line.split()) >= 2)
                except OSError as e:
                    check(False, f"thread {tid}: regs: {e}")
                    continue
                check(int(regs.get(pcname, "-1"), 0) == pc and int(regs.get(spname, "-1"), 0) == sp,
                      f"thread {tid}: {pcname} {regs.get(pcname)} {spname} {regs.get(spname)}, "
                      f"the guest's /proc {pc:#x} {sp:#x}")
            page = kern_core.get("page")
            check(page is not None, "the guest named no pattern page")
            if page is not None:
                with open(os.path.join(mnt, "mem"), "rb") as f:
                    got = list(os.pread(f.fileno(), 16, page))
                want = [(i * 7 + kern_core["pid"]) & 0xff for i in range(16)]
                check(got == want, f"mem at {page:#x}: {got}, want {want}")
                with open(os.path.join(mnt, "maps")) as f:
                    spans = [tuple(int(x, 16) for x in line.split()[0].split("-")) for line in f]
                check(any(a <= page < b for a, b in spans), f"maps has no mapping of {page:#x}")
        finally:
            subprocess.run(["fusermount3", "-u", mnt], capture_output=True)
    return check.passed


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    gdb = shutil.which("gdb-multiarch") or shutil.which("gdb")
    if not gdb:
        print("vmcore: no gdb")
        sys.exit(1)
    # The host's ptracefs mounts each kernel core (PTRACEFS_BIN, set by
    # tests/qemu/meson.build); without it that check is left out, and said.
    ptracefs = os.environ.get("PTRACEFS_BIN")
    if not (ptracefs and os.access(ptracefs, os.X_OK)):
        print("vmcore: PTRACEFS_BIN not set: the kernel cores are not mounted")
        ptracefs = None
    failures = []
    n = 0
    ours = {}
    for core in parse(sys.argv[1]):
        before = len(failures)
        if core["label"].startswith("kernel_"):
            mine = ours.get(core["label"][len("kernel_"):])
            if not mine:
                failures.append(f"{core['label']}: no core of ours to compare")
                continue
            passed = check_parity(mine, core, failures)
            print(f"vmcore parity_{mine['label'][3:]}: {passed} passed, "
                  f"{len(failures) - before} failed")
            if ptracefs:
                before = len(failures)
                passed = check_mount(core, ptracefs, failures)
                print(f"vmcore mount_{mine['label'][3:]}: {passed} passed, "
                      f"{len(failures) - before} failed")
            continue
        n += 1
        ours[core["label"]] = core
        passed = check_core(core, sys.argv[2], gdb, failures)
        print(f"vmcore {core['label']}: {passed} passed, {len(failures) - before} failed")
    if n == 0:
        print("vmcore: no core in the console log")
    sys.exit(1 if failures or n == 0 else 0)


if __name__ == "__main__":
    main()
