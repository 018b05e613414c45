#!/usr/bin/python3
"""Writes the lzop files of lzop.rs's tests with the real `lzop` (1.04), one per way of
calling it, all of the same data (`data()`, which the tests compute too): two blocks that
compress and a last one of noise that lzop stores as is. Run it again after changing it.
"""

import pathlib
import subprocess

HERE = pathlib.Path(__file__).resolve().parent

# file stem: lzop's options
VARIANTS = {
    "default": [],
    "fast": ["-1"],
    "best": ["-9"],
    "crc32": ["--crc32"],
    "no-checksum": ["-F"],
    "adler32-both": ["-C", "-C"],
    "crc32-both": ["--crc32", "-C", "-C"],
}


def data():
    """512 KiB that compresses, then 8 KiB of xorshift32 noise."""
    out = bytearray((i % 251) ^ (i >> 16) for i in range(512 * 1024))
    x = 0x9E3779B9
    for _ in range(8 * 1024):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out.append(x & 0xFF)
    return bytes(out)


def lzop(options, stdin):
    return subprocess.run(["lzop", "-c", *options], input=stdin, capture_output=True,
                          check=True).stdout


def main():
    payload = data()
    for stem, options in VARIANTS.items():
        (HERE / f"{stem}.lzo").write_bytes(lzop(options, payload))
    (HERE / "filter.lzo").write_bytes(lzop(["--filter=1"], payload[:4096]))
    (HERE / "empty.lzo").write_bytes(lzop([], b""))
    # A named file: lzop keeps its name and mode in the header.
    named = HERE / "named"
    named.write_bytes(b"a small file with a name\n" * 8)
    subprocess.run(["lzop", "-f", "-o", str(HERE / "named.lzo"), str(named)], check=True)
    named.unlink()


main()
