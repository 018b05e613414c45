#!/usr/bin/env python3
"""Check that a built libvirt.so.0 exports what libvirt 9.0 exports, the way it does.

Usage: check-exports.py LIBRARY [SYMBOL_TABLE]

SYMBOL_TABLE defaults to data/libvirt-public-symbols.txt. Checks, with binutils:
- the SONAME is libvirt.so.0;
- every node of the table is defined, with the table's parent chain;
- every exported symbol is a `vir*` name (no Rust runtime, mangled or helper names);
- every exported libvirt symbol is the default version (name@@NODE) of the node the table
  gives it; names libvirt 9.0 lacks are in virshim's own node.
Prints one line per problem and exits 1 if there is any; prints a summary otherwise.
"""

import os
import re
import subprocess
import sys

SONAME = "libvirt.so.0"
EXTENSION_NODE = "VIRSHIM_0.1"
ENV = {"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def run(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, env=ENV).stdout


def read_table(path):
    """Returns ({symbol: node}, [nodes in order])."""
    where, order = {}, []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                node, symbol, _kind = line.split()
                where[symbol] = node
                if not order or order[-1] != node:
                    order.append(node)
    return where, order


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__.strip().splitlines()[2])
    lib = sys.argv[1]
    table = sys.argv[2] if len(sys.argv) == 3 else "data/libvirt-public-symbols.txt"
    where, order = read_table(table)
    problems = []

    soname = re.findall(r"\(SONAME\)\s+Library soname: \[(.*)\]", run("readelf", "-d", lib))
    if soname != [SONAME]:
        problems.append(f"SONAME is {soname}, want [{SONAME!r}]")

    # Version definitions: name -> parent (None for the first).
    parents, current = {}, None
    verdefs = run("readelf", "-V", "--wide", lib).split("Version needs section")[0]
    for line in verdefs.splitlines():
        m = re.search(r"Flags: (\S+)\s+Index: \d+\s+Cnt: \d+\s+Name: (\S+)", line)
        if m:
            current = m.group(2)
            if m.group(1) != "BASE":
                parents[current] = None
            continue
        m = re.search(r"Parent 1: (\S+)", line)
        if m and current in parents:
            parents[current] = m.group(1)
    for i, node in enumerate(order):
        want = order[i - 1] if i else None
        if node not in parents:
            problems.append(f"version node {node} is not defined")
        elif parents[node] != want:
            problems.append(f"version node {node} has parent {parents[node]}, want {want}")

    exported = 0
    for line in run("nm", "-D", "--defined-only", lib).splitlines():
        fields = line.split()
        if len(fields) != 3:
            continue
        kind, name = fields[1], fields[2]
        if kind == "A":  # a version node's own symbol
            continue
        symbol, _, node = name.partition("@@")
        if not symbol.startswith("vir"):
            problems.append(f"exports {name}, which is not a libvirt name")
        elif not node:
            problems.append(f"exports {name} without a default version")
        elif node != where.get(symbol, EXTENSION_NODE):
            problems.append(f"exports {name}, want {symbol}@@{where.get(symbol, EXTENSION_NODE)}")
        else:
            exported += symbol in where

    for p in problems:
        print(f"check-exports: {lib}: {p}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"check-exports: {os.path.basename(lib)}: {exported} of {len(where)} libvirt symbols "
          f"exported in their nodes, nothing else exported")


if __name__ == "__main__":
    main()
