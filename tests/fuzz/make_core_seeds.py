#!/usr/bin/env python3
"""Writes the seed cores of fuzz_corefile (tests/fuzz/corpus/corefile/):
small synthetic x86_64 cores made by tests/core/test_coresrc.py's
elf_core(). Run from the source root; the outputs are committed."""
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'core'))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'mount'))
os.environ.setdefault('PTRACEFS_BIN', '/bin/true')
from test_coresrc import elf_core, prstatus  # noqa: E402

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus', 'corefile')
os.makedirs(out, exist_ok=True)
auxv = struct.pack('<8Q', 33, 0x7fff0000, 31, 0x7ffc1000, 9, 0x401000, 0, 0)
nt_file = struct.pack('<QQ', 2, 4096) + struct.pack('<6Q', 0x400000, 0x401000, 0,
                                                      0x401000, 0x402000, 1) + b'/bin/a\0/bin/a\0'
psinfo = bytearray(136)
psinfo[40:45] = b'fuzz\0'
psinfo[56:62] = b'a -b c'
seeds = {
    'two_threads.core': elf_core(
        [(0x400000, b'\x7fELF' + bytes(4092), 4096), (0x401000, b'', 4096),
         (0x7ffc0000, b'S' * 8192, 8192)],
        [('CORE', 1, prstatus(100)), ('CORE', 3, bytes(psinfo)), ('CORE', 6, auxv),
         ('CORE', 0x46494c45, nt_file), ('CORE', 2, bytes(512)), ('LINUX', 0x202, bytes(832)),
         ('CORE', 1, prstatus(101)), ('CORE', 2, bytes(512)),
         ('LINUX', 0x205, struct.pack('<4I', 2, 256, 576, 0))]),
    'gdb_order.core': elf_core(
        [(0x400000, b'x' * 4096, 4096)],
        [('CORE', 3, bytes(psinfo)), ('CORE', 1, prstatus(7)), ('CORE', 0x53494749, bytes(128)),
         ('CORE', 0x53494749, bytes(128)), ('GDB', 0xff000000, b'<target/>\0')]),
    'hostile.core': elf_core(
        [(0x400000, b'A' * 8192, 8192), (0x401000, b'B' * 4096, 4096)],
        [('CORE', 1, b'short'), ('CORE', 0x46494c45, struct.pack('<QQ', 1 << 60, 4096)),
         ('CORE', 0x46494c45, struct.pack('<5Q', 1, 4096, 1, 2, 0) + b'nonul'),
         ('PTRACEFS', 0x50544601, b'v1')]),
}
for name, data in seeds.items():
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data)
