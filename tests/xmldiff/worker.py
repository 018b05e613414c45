"""Defines each domain XML named on standard input (one path a line) on test:///default
with libvirt-python, and prints one JSON object a document: accepted, or the error's code,
domain and message. A defined domain is undefined again, so documents do not meet.

Which libvirt.so.0 answers is the loader's choice: LD_LIBRARY_PATH picks virshim's.
"""

import json
import sys

import libvirt


def define(conn, xml):
    try:
        dom = conn.defineXML(xml)
    except libvirt.libvirtError as e:
        return {"ok": False, "code": e.get_error_code(), "domain": e.get_error_domain(),
                "message": e.get_error_message()}
    try:
        dom.undefine()
    except libvirt.libvirtError:
        pass
    return {"ok": True}


def main():
    libvirt.registerErrorHandler(lambda ctx, err: None, None)
    conn = libvirt.open("test:///default")
    for line in sys.stdin:
        path = line.rstrip("\n")
        with open(path, "rb") as f:
            # The binding passes str; bytes that are not UTF-8 go through unchanged.
            xml = f.read().decode("utf-8", "surrogateescape")
        try:
            result = define(conn, xml)
        except UnicodeEncodeError:
            result = {"ok": None}
        result["file"] = path
        print(json.dumps(result), flush=True)


main()
