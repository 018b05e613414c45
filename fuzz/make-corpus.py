#!/usr/bin/python3
"""Writes the committed seed corpus, fuzz/corpus/<target>/, from the repository's test data.

Valid inputs of every kind come from the XML in src/xml/testdata, src/drivers/test and
src/drivers/qemu/testdata; beside them, images with absurd headers (a cookie offset beyond
the data length, lengths near 2^32 and negative, partial magic, byte-swapped fields, every
kind of truncation), QMP streams as QEMU 7.2 writes them, whole and broken, and lzop streams
the real `lzop` writes (it must be installed). Run it again after changing it or the test
data: it replaces the corpus.
"""

import base64
import pathlib
import shutil
import struct
import subprocess
import sys

FUZZ = pathlib.Path(__file__).resolve().parent
ROOT = FUZZ.parent
CORPUS = FUZZ / "corpus"

TEST_MAGIC = b"TestGuestMagic\0"
STATE_MAGIC = b"VirshimSaveState"
QEMU_MAGIC = b"LibvirtQemudSave"
QEMU_PARTIAL = b"LibvirtQemudPart"
STREAM = b"QEVM\0\0\0\x03" + b"\x04" * 24  # the start of a migration stream


def domain_xmls():
    """Every domain XML of the test data, by a short name."""
    found = {"test-default-domain": ROOT / "src/drivers/test/default-domain.xml"}
    for path in sorted((ROOT / "src/xml/testdata").glob("*.xml")):
        found["xml-" + path.stem] = path
    for case in sorted((ROOT / "src/drivers/qemu/testdata").iterdir()):
        for kind in ("input", "inactive", "live", "image"):
            path = case / f"{kind}.xml"
            if path.exists():
                found[f"qemu-{case.name}-{kind}"] = path
    return {name: path.read_bytes() for name, path in found.items()}


def cookie():
    return (ROOT / "src/drivers/qemu/testdata/minimal/cookie.xml").read_bytes()


def test_image(xml, length=None, state=None):
    """A test-driver image: magic, native-endian int length, XML, optional trailer."""
    length = len(xml) if length is None else length
    out = TEST_MAGIC + struct.pack("=i", length) + xml
    if state is not None:
        out += STATE_MAGIC + bytes([state])
    return out


def qemu_image(xml, cookie_xml=None, padding=16, **fields):
    """A QEMU save image with a small padding, then the start of a stream; `fields`
    overrides header fields (magic, version, data_len, running, format, cookie_offset,
    order: '<' or '>' for the byte order)."""
    data = xml + b"\0"
    cookie_offset = 0
    if cookie_xml is not None:
        cookie_offset = len(data)
        data += cookie_xml + b"\0"
    data += b"\0" * padding
    values = {
        "version": 2,
        "data_len": len(data),
        "running": 1,
        "format": 0,
        "cookie_offset": cookie_offset,
    }
    values.update((k, v) for k, v in fields.items() if k in values)
    order = fields.get("order", "=")
    header = fields.get("magic", QEMU_MAGIC) + struct.pack(
        order + "5I", *(v & 0xFFFFFFFF for v in values.values())
    )
    return header + b"\0" * (92 - len(header)) + data + STREAM


def qmp_streams():
    greeting = (
        b'{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, '
        b'"package": "Debian 1:7.2+dfsg-7"}, "capabilities": ["oob"]}}\r\n'
    )
    ts = b'"timestamp": {"seconds": 1700000000, "microseconds": 123456}'
    session = [
        greeting,
        b'{"return": {}, "id": "virshim-1"}\r\n',
        b'{"timestamp": {"seconds": 1700000000, "microseconds": 1}, "event": "STOP"}\r\n',
        b'{"return": {"status": "paused", "singlestep": false, "running": false}, '
        b'"id": "virshim-2"}\r\n',
        b'{"event": "MIGRATION", "data": {"status": "setup"}, ' + ts + b"}\r\n",
        b'{"event": "MIGRATION", "data": {"status": "completed"}, ' + ts + b"}\r\n",
        b'{"return": {"status": "completed", "total-time": 42, "ram": {"total": 34603008, '
        b'"transferred": 1234567, "remaining": 0}}, "id": "virshim-3"}\r\n',
        b'{"id": "virshim-4", "error": {"class": "GenericError", '
        b'"desc": "Parameter \'fd\' is missing"}}\r\n',
        b'{"event": "RESUME", ' + ts + b"}\r\n",
        b'{"event": "SHUTDOWN", "data": {"guest": false, "reason": "host-qmp-quit"}, '
        + ts + b"}\r\n",
    ]
    whole = b"".join(session)
    return {
        "session-whole": b"\xff" + whole,
        "session-bytewise": b"\x01" + whole,
        "session-chunks-7": b"\x07" + whole,
        "greeting-only": b"\x40" + greeting,
        "greeting-split": b"\x10" + greeting[:50],
        "blank-lines": b"\x03" + b"\n\r\n  \n" + greeting + b"\n\n",
        "not-json": b"\x05" + greeting + b"{not json}\r\n\xff\xfe\r\n",
        "not-a-greeting": b"\x20" + b'{"return": {}}\r\n',
        "event-bad-timestamp": b"\x09"
        + greeting
        + b'{"event": "STOP", "timestamp": {"seconds": 9223372036854775807, '
        b'"microseconds": -9223372036854775808}}\n',
        "event-no-name": b"\x09" + greeting + b'{"event": 7, "data": [1, 2]}\n',
        "deep-nesting": b"\x80" + greeting + b"[" * 200 + b"]" * 200 + b"\n",
        "unicode-escapes": b"\x0b"
        + greeting
        + b'{"id": "virshim-1", "error": {"desc": "\\ud800 \\u00e9 \\"q\\""}}\n',
        "late-reply": b"\x11" + greeting + b'{"return": {}, "id": "virshim-0"}\n',
        "numbers": b"\x0d"
        + greeting
        + b'{"return": [1e400, -0, 18446744073709551616, 0.1e-400]}\n',
    }


def write(target, files):
    """Writes the corpus of `target` afresh; inputs that fuzzing found crashing (named
    crash-*, copied in from fuzz/artifacts/) stay, to be replayed."""
    out = CORPUS / target
    found = {p.name: p.read_bytes() for p in out.glob("crash-*")} if out.is_dir() else {}
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for name, data in {**found, **files}.items():
        (out / name).write_bytes(data)


def test_image_corpus(xmls):
    files = {}
    small = xmls["test-default-domain"]
    for name, xml in xmls.items():
        if len(xml) <= 8192:
            files["ok-" + name] = test_image(xml)
    files["ok-running"] = test_image(small, state=1)
    files["ok-paused"] = test_image(small, state=0)
    files["ok-nul-in-xml"] = test_image(small[:100] + b"\0" + small[100:])
    files["ok-trailing-junk"] = test_image(small) + b"junk" * 8
    files["bad-trailer-short"] = test_image(small) + STATE_MAGIC[:9]
    files["bad-utf8"] = test_image(small[:50] + b"\xc3\x28" + small[50:])
    files["len-zero"] = test_image(small, length=0)
    files["len-negative"] = test_image(small, length=-1)
    files["len-int-min"] = test_image(small, length=-(2**31))
    files["len-int-max"] = test_image(small, length=2**31 - 1)
    files["len-max-xml-plus-one"] = test_image(small, length=8193)
    files["len-byte-swapped"] = TEST_MAGIC + struct.pack(">i", len(small)) + small
    files["len-beyond-data"] = test_image(small, length=len(small) + 10)
    files["magic-partial"] = TEST_MAGIC[:9]
    files["magic-wrong"] = b"TestGuestMagiX\0" + test_image(small)[15:]
    files["empty"] = b""
    whole = test_image(small, state=1)
    for cut in (1, 14, 15, 17, 19, 20, len(whole) - 17, len(whole) - 1):
        files[f"truncated-{cut}"] = whole[:cut]
    write("test_image", files)


def qemu_image_corpus(xmls):
    files = {}
    for name in ("qemu-minimal-image", "qemu-virtio-raw-image", "xml-qemu-image"):
        files["ok-" + name] = qemu_image(xmls[name], cookie())
    xml = xmls["qemu-minimal-image"]
    base = qemu_image(xml, cookie())
    data_len = len(xml) + 1 + len(cookie()) + 1 + 16
    files["ok-no-cookie"] = qemu_image(xml)
    files["ok-paused-v1"] = qemu_image(xml, cookie(), running=0, version=1)
    swapped = ">" if sys.byteorder == "little" else "<"
    files["ok-byte-swapped"] = qemu_image(xml, cookie(), order=swapped)
    files["ok-gzip-format"] = qemu_image(xml, cookie(), format=1)
    files["cookie-offset-beyond-data-len"] = qemu_image(xml, cookie(), cookie_offset=data_len + 100)
    files["cookie-offset-beyond-file"] = qemu_image(xml, cookie(), cookie_offset=0xFFFFFF00)
    files["cookie-offset-equals-data-len"] = qemu_image(xml, cookie(), cookie_offset=data_len)
    files["data-len-zero"] = qemu_image(xml, data_len=0)
    files["data-len-negative"] = qemu_image(xml, data_len=-5)
    files["data-len-int-max"] = qemu_image(xml, data_len=2**31 - 1)
    files["data-len-near-4gib"] = qemu_image(xml, data_len=2**32 - 2)
    files["data-len-beyond-file"] = qemu_image(xml, data_len=data_len + 4096)
    files["data-len-16mib-plus-one"] = qemu_image(xml, data_len=(16 << 20) + 1)
    files["version-3"] = qemu_image(xml, version=3)
    files["version-huge-both-orders"] = qemu_image(xml, version=0x03000003)
    files["magic-partial"] = qemu_image(xml, cookie(), magic=QEMU_PARTIAL)
    files["magic-short"] = QEMU_MAGIC[:10]
    files["magic-test-driver"] = test_image(xml)
    files["xml-not-utf8"] = qemu_image(b"<domain>\xff\xfe</domain>", cookie())
    files["xml-no-nul"] = qemu_image(xml, padding=0)[: 92 + len(xml)] + STREAM
    files["empty"] = b""
    for cut in (1, 16, 20, 36, 91, 92, 200, 92 + len(xml) + 3, len(base) - len(STREAM) - 1):
        files[f"truncated-{cut}"] = base[:cut]
    write("qemu_image", files)


def lzop(options, data):
    """`data` through the real `lzop -c` with `options`."""
    return subprocess.run(["lzop", "-c", *options], input=data, capture_output=True,
                          check=True).stdout


def lzop_corpus():
    """lzop streams the real lzop wrote, small, each way of calling it (checksums of the
    data or of both, Adler-32 or CRC-32, none, levels 1 and 9), compressed and stored
    blocks, after the byte that sets the fuzz target's read size; and lzop.rs's test files."""
    text = b"".join(b"line %d of a small text that compresses\n" % i for i in range(60))
    noise = bytes((i * 7919 + (i >> 3) * 104729) % 256 for i in range(300))
    ways = {"default": [], "fast": ["-1"], "best": ["-9"], "crc32": ["--crc32"],
            "no-checksum": ["-F"], "adler32-both": ["-C", "-C"],
            "crc32-both": ["--crc32", "-C", "-C"], "filter": ["--filter=1"]}
    files = {}
    for way, options in ways.items():
        files[f"text-{way}"] = b"\x07" + lzop(options, text)
        files[f"noise-{way}"] = b"\x40" + lzop(options, noise)
    files["empty"] = b"\x01" + lzop([], b"")
    files["two-members"] = b"\x03" + lzop([], text[:500]) + lzop(["-9"], noise)
    files["zero-padded"] = b"\x05" + lzop([], noise) + bytes(40)
    whole = files["text-adler32-both"]
    files["truncated"] = whole[: len(whole) // 2]
    # Once handed out part of a block that failed to decode, read again after the error.
    files["crash-reread-after-bad-block"] = base64.b64decode(
        "QIlMWk8ADQoaChBAIKAJQAEFAwAADAAAAABrF0XcAAAAAAAq1AMSAAABLAAAAK4PAO/ezbyrmomRgG9eTTwr"
        "GiIRpgKzoqYCRDOmAtXEpgJmVaYC9+amAoh3pgIZCKYCqpmmAjsqpgLMu6YCXf////////////////////9M"
        "pgLu3aYCf26mAhD/pgKhkKYCMiGmAsOypgJUQ6YC5dSmAnZlpgIH9qYCmIemAikYpgK6qaYCSzqmAtzLpgJt"
        "XKYC/u2mAo9+pgIgD6YCsaCmAkIxpAIAAtPCsaCPfm1cZFNCMSAP/u315NPCEQAAAAAAAA==")
    testdata = ROOT / "src/drivers/qemu/migration/lzop/testdata"
    for path in sorted(testdata.glob("*.lzo")):
        files[f"testdata-{path.stem}"] = b"\xff" + path.read_bytes()
    return files


# Inputs that once crashed the XML reader (see its tests), kept to be replayed.
XML_REGRESSIONS = {
    "crash-bom-position": "\ufeff<dom<daoma".encode(),
    "crash-nbsp-in-tag": "<domain slottyt'p\u00a0est'>\x1a  \0'0x\0\0\0\n\n".encode(),
}


def main():
    xmls = domain_xmls()
    # Formatted XML appears under several names: one copy of each.
    seen, unique = set(), {}
    for name, xml in xmls.items():
        if xml not in seen:
            seen.add(xml)
            unique[name] = xml
    write("domain_xml", {**unique, **XML_REGRESSIONS})
    test_image_corpus(xmls)
    qemu_image_corpus(xmls)
    write("qmp", qmp_streams())
    write("lzop", lzop_corpus())


if __name__ == "__main__":
    main()
