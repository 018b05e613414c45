"""Writes mutations of domain XML documents: each operator changes one thing in a copy of
a document (drops a required attribute, garbles a number, removes a <source>, breaks the
syntax...), so that libvirt's and virshim's parsers meet the same faults.

    mutate.py OUTDIR DOC...

writes OUTDIR/<doc>.<operator>.xml for every operator that applies to each document.
Operators work on the text, so the rest of a document stays byte for byte as it was.
"""

import os
import re
import sys


def sub_first(pattern, repl, flags=0):
    """An operator replacing the first match of `pattern` (None when nothing matches)."""
    rx = re.compile(pattern, flags)

    def op(xml):
        out, n = rx.subn(repl, xml, count=1)
        return out if n else None
    return op


def in_first(element, attr_pattern, repl):
    """Replaces, in the first <element ...> tag that matches attr_pattern, that match."""
    rx = re.compile(r"<%s\b[^>]*>" % element)
    inner = re.compile(attr_pattern)

    def op(xml):
        for m in rx.finditer(xml):
            tag, n = inner.subn(repl, m.group(0), count=1)
            if n:
                return xml[:m.start()] + tag + xml[m.end():]
        return None
    return op


def drop_child(parent, child):
    """Removes the first <child> (empty or with content) inside the first <parent>."""
    rx = re.compile(r"(<%s\b(?:(?!</%s>).)*?)\s*<%s\b[^>]*?(?:/>|>.*?</%s>)"
                    % (parent, parent, child, child), re.S)
    return sub_first(rx.pattern, r"\1", re.S)


def disk_target(dev):
    return in_first("target", r"dev=(['\"])[^'\"]*\1", "dev='%s'" % dev)


SEP = r"(\s)"
OPERATORS = {
    # Syntax: libxml2 must refuse every one of these.
    "attrs-unspaced": sub_first(r"(<[A-Za-z][^<>]*?=(['\"])[^'\"<>]*\2)\s+(?=[A-Za-z_][\w.-]*=)",
                                r"\1"),
    "attr-repeated": sub_first(r"<([A-Za-z][\w.-]*)(\s+)([A-Za-z_][\w.-]*=(['\"])[^'\"]*\4)",
                               r"<\1\2\3 \3"),
    "attr-unquoted": sub_first(r"=(['\"])([\w.]+)\1", r"=\2"),
    "truncated": lambda xml: xml[: len(xml) // 2] if len(xml) > 40 else None,
    "end-tag-swapped": sub_first(r"</devices>\s*</domain>", "</domain></devices>"),
    "amp-bare": sub_first(r"<name>", "<name>a&b"),
    "entity-undefined": sub_first(r"<name>", "<name>&nosuch;"),
    "lt-in-attr": in_first("domain", r"type=(['\"])(\w+)\1", r"type='\2<'"),
    "cdata-end-in-text": sub_first(r"<name>", "<name>a]]>b"),
    "decl-late": sub_first(r"(<domain\b[^>]*>)", r"\1<?xml version='1.0'?>"),
    "decl-bad-version": lambda xml: "<?xml version='2.0'?>\n" + xml,
    "comment-dashes": sub_first(r"(<domain\b[^>]*>)", r"\1<!-- a -- b -->"),
    "pi-xml-name": sub_first(r"(<domain\b[^>]*>)", r"\1<?XML x?>"),
    "space-before-decl": lambda xml: " <?xml version='1.0'?>\n" + xml,
    "doctype-inside": sub_first(r"(<domain\b[^>]*>)", r"\1<!DOCTYPE domain>"),
    "ns-undeclared": sub_first(r"<name>(.*?)</name>", r"<name>\1</name><foo:bar/>"),
    # Entities: internal ones expand, external ones are dropped unread.
    "entity-internal": lambda xml: ("<!DOCTYPE domain [<!ENTITY nm 'ent'>]>\n"
                                    + re.sub(r"<name>", "<name>&nm;", xml, count=1)),
    "entity-external": lambda xml: ("<!DOCTYPE domain [<!ENTITY ext SYSTEM '/etc/hostname'>]>\n"
                                    + re.sub(r"<name>", "<name>&ext;", xml, count=1)),
    # Structure and values.
    "address-untyped": in_first("address", r"\s+type=(['\"])\w+\1", ""),
    "address-bus-garbled": in_first("address", r"bus=(['\"])[^'\"]*\1", "bus='0z01'"),
    "address-slot-high": in_first("address", r"slot=(['\"])[^'\"]*\1", "slot='0x20'"),
    "address-function-high": in_first("address", r"function=(['\"])[^'\"]*\1", "function='0x8'"),
    "address-domain-neg": in_first("address", r"domain=(['\"])[^'\"]*\1", "domain='-1'"),
    "address-unit-garbled": in_first("address", r"unit=(['\"])[^'\"]*\1", "unit='x'"),
    "address-type-bogus": in_first("address", r"type=(['\"])\w+\1", "type='bogus'"),
    "disk-unsourced": drop_child("disk", "source"),
    "disk-untargeted": drop_child("disk", "target"),
    "disk-untyped": in_first("disk", r"\s+type=(['\"])\w+\1", ""),
    "disk-device-bogus": in_first("disk", r"device=(['\"])\w+\1", "device='bogus'"),
    "disk-fda": disk_target("fda"),
    "disk-vdA": disk_target("vdA"),
    "disk-sdaa": disk_target("sdaa"),
    "disk-vd": disk_target("vd"),
    "disk-hd0": disk_target("hd0"),
    "disk-xvdz": disk_target("xvdz"),
    "disk-bus-bogus": in_first("target", r"bus=(['\"])\w+\1", "bus='bogus'"),
    "driver-type-bogus": in_first("driver", r"type=(['\"])\w+\1", "type='bogus'"),
    "interface-unsourced": drop_child("interface", "source"),
    "interface-untyped": in_first("interface", r"\s+type=(['\"])\w+\1", ""),
    "interface-type-bogus": in_first("interface", r"type=(['\"])\w+\1", "type='bogus'"),
    "mac-garbled": in_first("mac", r"address=(['\"])[^'\"]*\1", "address='52:54:00:zz:00:01'"),
    "memballoon-unmodelled": in_first("memballoon", r"\s+model=(['\"])[^'\"]*\1", ""),
    "memballoon-model-bogus": in_first("memballoon", r"model=(['\"])[^'\"]*\1", "model='bogus'"),
    "controller-untyped": in_first("controller", r"\s+type=(['\"])[^'\"]*\1", ""),
    "controller-index-garbled": in_first("controller", r"index=(['\"])[^'\"]*\1", "index='1x'"),
    "controller-index-neg": in_first("controller", r"index=(['\"])[^'\"]*\1", "index='-1'"),
    "controller-model-bogus": in_first("controller", r"model=(['\"])[^'\"]*\1", "model='bogus'"),
    "input-untyped": in_first("input", r"\s+type=(['\"])\w+\1", ""),
    "input-bus-bogus": in_first("input", r"bus=(['\"])\w+\1", "bus='bogus'"),
    "graphics-untyped": in_first("graphics", r"\s+type=(['\"])\w+\1", ""),
    "graphics-port-garbled": in_first("graphics", r"port=(['\"])[^'\"]*\1", "port='5x'"),
    "video-model-untyped": in_first("model", r"\s+type=(['\"])\w+\1", ""),
    "serial-untyped": in_first("serial", r"\s+type=(['\"])\w+\1", ""),
    "serial-type-bogus": in_first("serial", r"type=(['\"])\w+\1", "type='bogus'"),
    "hostdev-untyped": in_first("hostdev", r"\s+type=(['\"])[\w-]+\1", ""),
    "memory-garbled": sub_first(r"(<memory\b[^>]*>)\s*\d+", r"\g<1>12x"),
    "memory-unit-bogus": in_first("memory", r"unit=(['\"])\w+\1", "unit='bogus'"),
    "memory-empty": sub_first(r"(<memory\b[^>]*>)[^<]*</memory>", r"\1</memory>"),
    "vcpu-garbled": sub_first(r"(<vcpu\b[^>]*>)\s*\d+", r"\g<1>2y"),
    "vcpu-zero": sub_first(r"(<vcpu\b[^>]*>)\s*\d+", r"\g<1>0"),
    "uuid-garbled": sub_first(r"<uuid>[^<]*</uuid>", "<uuid>not-a-uuid</uuid>"),
    "os-type-bogus": sub_first(r"(<type\b[^>]*>)\w+(</type>)", r"\1bogus\2"),
    "arch-bogus": in_first("type", r"arch=(['\"])\w+\1", "arch='bogus'"),
    "boot-dev-bogus": in_first("boot", r"dev=(['\"])\w+\1", "dev='bogus'"),
    "on-crash-bogus": sub_first(r"<on_crash>[^<]*</on_crash>", "<on_crash>bogus</on_crash>"),
    "clock-offset-bogus": in_first("clock", r"offset=(['\"])\w+\1", "offset='bogus'"),
    "cpu-mode-bogus": in_first("cpu", r"mode=(['\"])[\w-]+\1", "mode='bogus'"),
    "feature-state-bogus": in_first("[a-z]+", r"state=(['\"])\w+\1", "state='bogus'"),
    "domain-type-bogus": in_first("domain", r"type=(['\"])\w+\1", "type='bogus'"),
    "name-slash": sub_first(r"<name>([^<]*)</name>", r"<name>a/\1</name>"),
    "name-dropped": sub_first(r"\s*<name>[^<]*</name>", ""),
}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for path in sys.argv[2:]:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            xml = f.read()
        base = os.path.splitext(os.path.basename(path))[0]
        for name, op in OPERATORS.items():
            mutated = op(xml)
            if mutated is None or mutated == xml:
                continue
            with open(os.path.join(out, f"{base}.{name}.xml"), "w", encoding="utf-8",
                      errors="surrogateescape") as f:
                f.write(mutated)


if __name__ == "__main__":
    main()
