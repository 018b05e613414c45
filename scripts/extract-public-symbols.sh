#!/bin/bash
# Writes data/libvirt-public-symbols.txt: every public symbol of a libvirt.so.0 with the
# version node it is defined in, nodes in the library's definition order (each node's
# parent is the one before it), symbols sorted within a node. Run once, against Debian's
# libvirt 9.0 (package libvirt0); the result is committed and read by
# scripts/gen-version-script.py. Only facts are taken: names and nodes.
#
# Usage: scripts/extract-public-symbols.sh [LIBVIRT_SO] > data/libvirt-public-symbols.txt
set -euo pipefail

lib=${1:-/usr/lib/x86_64-linux-gnu/libvirt.so.0}
export LC_ALL=C

# Version definitions in order; the first is the base (the SONAME), the private node is
# libvirt's internal ABI between its own binaries, not part of the public API.
mapfile -t nodes < <(readelf -V --wide "$lib" |
    sed -n '/^Version definition/,/^Version needs/p' |
    sed -n 's/.*Flags: none .*Name: \(LIBVIRT_[0-9][0-9.]*\)$/\1/p')

# objdump -T: "... <type flags> <section> <size> <version> <name>"; node-name symbols are
# absolute and named like their node.
dynsyms=$(objdump -T "$lib" | awk 'NF >= 6 && $(NF-1) ~ /^LIBVIRT_[0-9]/ && $NF !~ /^LIBVIRT_/ {
    kind = ($3 ~ /O/) ? "data" : "func"; print $(NF-1), $NF, kind }')

echo "# libvirt's public symbols and their version nodes, extracted from $(basename "$(readlink -f "$lib")")"
echo "# ($(dpkg-query -W -f '${Package} ${Version}' libvirt0 2>/dev/null || echo libvirt0)) by scripts/extract-public-symbols.sh."
echo "# Format: NODE SYMBOL KIND (func or data). Nodes appear in definition order; each"
echo "# node's parent is the node before it."
for node in "${nodes[@]}"; do
    awk -v n="$node" '$1 == n' <<<"$dynsyms" | sort -k2,2
done
