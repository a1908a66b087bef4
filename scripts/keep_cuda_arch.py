#!/usr/bin/env python3
"""Zero, in a copy of a CUDA shared library, the machine code of every GPU architecture but one, for carrying.

ONNX Runtime's CUDA provider (libonnxruntime_providers_cuda.so of Microsoft.ML.OnnxRuntime.Gpu.Linux 1.31.0) is 284 MB,
218 MB of it the `.nv_fatbin` section: each kernel module as SASS for sm_75, 80, 86, 89, 90 and 120 (no PTX). A lent GPU
machine takes 64 MiB of files per call (scripts/gpu-pack.sh). This keeps every fatbin's headers and the payload of the
entries for --arch (90: the H100/H200) and overwrites the other entries' payloads with zeros, which compress to nothing:
the driver picks the entry whose header names the GPU's architecture and never reads the others. The copy runs only
on a GPU of that architecture; the file's size, layout and every other byte are unchanged.

Fatbin layout (as the CUDA runtime registers it): a header {u32 magic 0xBA55ED50, u16 version, u16 header size,
u64 size of the entries}, then entries {u16 kind, u16 version, u32 header size, u64 payload size, ..., u32 arch at
byte 28, ...} each followed by its payload.
"""
import argparse
import struct
import sys

MAGIC = 0xBA55ED50


def section(data, wanted):
    """(file offset, size) of the ELF64 section named `wanted`."""
    if data[:4] != b'\x7fELF' or data[4] != 2:
        raise SystemExit('not an ELF64 file')
    shoff, = struct.unpack_from('<Q', data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from('<HHH', data, 0x3A)
    def header(i):
        return struct.unpack_from('<IIQQQQ', data, shoff + i * shentsize)   # name, type, flags, addr, offset, size
    names_offset = header(shstrndx)[4]
    for i in range(shnum):
        name, _, _, _, offset, size = header(i)
        end = data.index(b'\0', names_offset + name)
        if data[names_offset + name:end].decode() == wanted:
            return offset, size
    raise SystemExit(f'no {wanted} section')


def keep_arch(data, arch):
    """Zeroes in place the payload of every fatbin entry whose arch is not `arch`; returns (kept, zeroed) bytes."""
    start, size = section(data, '.nv_fatbin')
    i, end_of_section, kept, zeroed = start, start + size, 0, 0
    while i < end_of_section:
        if struct.unpack_from('<I', data, i)[0] != MAGIC:   # fatbins are aligned: skip padding to the next one
            i = data.find(struct.pack('<I', MAGIC), i + 1, end_of_section)
            if i < 0:
                break
            continue
        header_size, = struct.unpack_from('<H', data, i + 6)
        entries_size, = struct.unpack_from('<Q', data, i + 8)
        e, end = i + header_size, i + header_size + entries_size
        while e < end:
            _, _, entry_header, payload = struct.unpack_from('<HHIQ', data, e)
            entry_arch, = struct.unpack_from('<I', data, e + 28)
            body = e + entry_header
            if entry_arch == arch:
                kept += payload
            else:
                data[body:body + payload] = bytes(payload)
                zeroed += payload
            e = body + payload
        i = end
    return kept, zeroed


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('library')
    p.add_argument('copy')
    p.add_argument('--arch', type=int, default=90, help='the SM version to keep (90: Hopper, the H100 and H200)')
    a = p.parse_args()
    with open(a.library, 'rb') as f:
        data = bytearray(f.read())
    kept, zeroed = keep_arch(data, a.arch)
    if kept == 0:
        raise SystemExit(f'{a.library}: no sm_{a.arch} code in its fatbins: the copy would run nowhere')
    with open(a.copy, 'wb') as f:
        f.write(data)
    print(f'{a.copy}: sm_{a.arch} code kept ({kept / 1e6:.0f} MB), other architectures zeroed ({zeroed / 1e6:.0f} MB)', file=sys.stderr)


if __name__ == '__main__':
    main()
