#!/bin/bash
# Runs the test-driver save/restore loop on libvirt 9.0 and on virshim, in one run, and
# prints both rates and their ratio. Usage: bench/run.sh [SECONDS] (default 3)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
libdir=${VIRSHIM_LIBDIR:-$here/../target/virshim/lib}
seconds=${1:-3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

gcc -O2 -Wall "$here/save_loop.c" -o "$out/save_loop" $(pkg-config --cflags --libs libvirt)
rate() { "$@" "$out/save_loop" "$seconds" | tee /dev/stderr | sed -E 's/.*: ([0-9]+) loops\/s/\1/'; }
echo "libvirt 9.0 ($(readlink -f /usr/lib/x86_64-linux-gnu/libvirt.so.0)):" >&2
libvirt=$(rate env)
echo "virshim ($libdir):" >&2
virshim=$(rate env LD_LIBRARY_PATH="$libdir")
awk -v l="$libvirt" -v v="$virshim" 'BEGIN {
    printf "save+image XML+image define+restore loops/s: libvirt %d, virshim %d, ratio %.1fx\n", l, v, v / l }'
