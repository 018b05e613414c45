#!/usr/bin/env python3
"""Call every libvirt function whose first argument is an object with a NULL object.

Usage: null_objects.py LIBRARY [API_XML] > results.txt

LIBRARY is a libvirt.so.0 (libvirt 9.0's or virshim's); API_XML its API description
(default /usr/share/libvirt/api/libvirt-api.xml). For each function of the API whose first
argument is a connection, domain, network, stream, ... pointer, calls it through ctypes
with that pointer NULL and every other argument NULL or 0, each in a forked child so that a
crash is recorded rather than fatal, and prints a line per function: its name, a tab, and
the JSON array [return value, last error code, last error domain, last error message], or
["crash", signal]; a pointer result is 1 when not NULL.
tests/stubs_match_libvirt.rs compares the results of both libraries.
"""

import ctypes
import json
import os
import sys
import xml.etree.ElementTree as ET

SCALARS = {
    "int": ctypes.c_int, "unsigned int": ctypes.c_uint, "long": ctypes.c_long,
    "unsigned long": ctypes.c_ulong, "long long": ctypes.c_longlong,
    "unsigned long long": ctypes.c_ulonglong, "double": ctypes.c_double,
    "size_t": ctypes.c_size_t, "void": None,
}
# Structures the API returns, not objects: their free functions take no object.
NOT_OBJECTS = {"virTypedParameterPtr", "virDomainFSInfoPtr", "virDomainIOThreadInfoPtr",
               "virDomainInterfacePtr", "virNetworkDHCPLeasePtr", "virErrorPtr"}


def ctype(t):
    t = t.strip()
    if "*" in t or t.endswith(("Ptr", "Callback", "Func")):
        return ctypes.c_void_p
    return SCALARS[t]


def call(lib, fn, args):
    """Runs fn(*args) in a child: its result and the last error, or the signal it died of."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        result = fn(*args)
        if isinstance(result, int) and fn.restype is ctypes.c_void_p:
            result = 1  # a pointer: only NULL or not matters
        out = [result, lib.virGetLastErrorCode(), lib.virGetLastErrorDomain(),
               lib.virGetLastErrorMessage().decode()]
        os.write(wfd, json.dumps(out).encode())
        os._exit(0)
    os.close(wfd)
    data = b""
    while chunk := os.read(rfd, 65536):
        data += chunk
    os.close(rfd)
    _, status = os.waitpid(pid, 0)
    return json.loads(data) if data else ["crash", os.WTERMSIG(status)]


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__.strip().splitlines()[2])
    api = sys.argv[2] if len(sys.argv) == 3 else "/usr/share/libvirt/api/libvirt-api.xml"
    lib = ctypes.CDLL(sys.argv[1])
    lib.virGetLastErrorMessage.restype = ctypes.c_char_p
    lib.virInitialize()  # libvirt 9.0 needs it before its first error
    quiet = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)(lambda data, err: None)
    lib.virSetErrorFunc(None, quiet)

    results = {}
    for f in ET.parse(api).getroot().iter("function"):
        args = f.findall("arg")
        if not args:
            continue
        first = args[0].get("type")
        if not (first.startswith("vir") and first.endswith("Ptr")) or first in NOT_OBJECTS:
            continue
        fn = getattr(lib, f.get("name"))
        fn.restype = ctype(f.find("return").get("type"))
        fn.argtypes = [ctype(a.get("type")) for a in args]
        values = [None if t is ctypes.c_void_p else 0 for t in fn.argtypes]
        results[f.get("name")] = call(lib, fn, values)
    for name in sorted(results):
        print(f"{name}\t{json.dumps(results[name])}")


if __name__ == "__main__":
    main()
