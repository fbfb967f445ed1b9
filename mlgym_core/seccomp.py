"""A tiny seccomp filter for the sandbox: ``fallocate`` with FALLOC_FL_KEEP_SIZE and the kernel
keyring calls fail (EPERM).

RLIMIT_FSIZE caps every file the sandbox writes, but the kernel does not check it for an
allocation that keeps the file's size (``fallocate -n -l 100G x`` would take 100 GB of the
host's disk in one call). The keyrings belong to a uid, not a namespace: every sandbox of the
same uid would share them. Everything else is allowed. The classic-BPF program is written by
hand (no libseccomp needed) for the ABIs of x86_64 (and its i386/x32 entry points) and
aarch64 (and arm); bwrap loads it with ``--seccomp FD``.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]
_NR, _ARCH, _ARG1_LO = 0, 4, 24
_LD_ABS, _JEQ, _JSET, _AND, _RET = 0x20, 0x15, 0x45, 0x54, 0x06
_ALLOW, _EPERM = 0x7FFF0000, 0x00050000 | 1
FALLOC_FL_KEEP_SIZE = 1
X32_BIT = 0x40000000
# audit arch -> (fallocate, (add_key, request_key, keyctl)): the kernel keyrings are not namespaced,
# so sandboxes of one uid could pass data through them (docker's default profile refuses them too)
SYSCALLS = {0xC000003E: (285, (248, 249, 250)), 0x40000003: (324, (286, 287, 288)),
            0xC00000B7: (47, (217, 218, 219)), 0x40000028: (352, (309, 310, 311))}


def program() -> bytes:
    """The filter as bytes of ``struct sock_filter`` (code u16, jt u8, jf u8, k u32).

    Per ABI a block: ld arch; jeq arch (else the next block); ld nr; and ~x32-bit; jeq each
    refused call -> deny; jeq fallocate (else allow); ld args[1]; jset KEEP_SIZE -> deny, else
    allow. Then: deny, allow."""
    blocks = []  # (instructions with symbolic targets)
    for arch, (falloc, denied) in SYSCALLS.items():
        b: list[tuple[int, object, object, int]] = [(_LD_ABS, 0, 0, _ARCH), (_JEQ, 0, "next", arch),
                                                    (_LD_ABS, 0, 0, _NR), (_AND, 0, 0, 0xFFFFFFFF & ~X32_BIT)]
        b += [(_JEQ, "deny", 0, nr) for nr in denied]
        b += [(_JEQ, 0, "allow", falloc), (_LD_ABS, 0, 0, _ARG1_LO), (_JSET, "deny", "allow", FALLOC_FL_KEEP_SIZE)]
        blocks.append(b)
    starts, pos = [], 0
    for b in blocks:
        starts.append(pos)
        pos += len(b)
    deny, allow = pos, pos + 1
    out = []
    for i, b in enumerate(blocks):
        labels = {"deny": deny, "allow": allow, "next": starts[i + 1] if i + 1 < len(blocks) else allow}
        for j, (code, jt, jf, k) in enumerate(b):
            at = starts[i] + j

            def off(t: object, at: int = at) -> int:
                return labels[t] - at - 1 if isinstance(t, str) else int(t)  # type: ignore[call-overload]

            out.append((code, off(jt), off(jf), k))
    out += [(_RET, 0, 0, _EPERM), (_RET, 0, 0, _ALLOW)]
    return b"".join(struct.pack("=HBBI", *i) for i in out)


def program_file(folder: Path) -> Path:
    """The filter written once into ``folder`` (a private folder of this uid)."""
    data = program()
    p = folder / f"seccomp-{hashlib.sha1(data).hexdigest()[:10]}.bpf"
    if not p.exists():
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(p)
    return p
