#!/bin/bash
# Compressed save images: each save_image_format's save and restore of a 1 GiB guest on
# virshim's embedded QEMU driver (compressing in process) and on libvirt 9.0's (piping
# through the external compressor), with the image's size (issue 11).
#
# Usage (as root):  bench/compressed.sh        (or `make bench-compressed`)
#   env: FORMATS  formats to run, in order (default "raw gzip bzip2 xz lzop zstd");
#                 libvirt 9.0 cannot write zstd and virshim cannot write lzop, so for lzop
#                 virshim restores libvirt's image instead
#        MIB, VIRSHIM_LIBDIR, BENCH_DIR, BENCH_SETTLE  as for bench/qemu.sh
#
# For each format, libvirt then virshim, each in a fresh process with the format in its
# root's etc/qemu.conf (save_image_format): bench/qemu_save.c --once starts the test guest
# of tests/guest/guest.asm (TCG), waits for its fill, then virDomainSave (timed; the image
# size; the calling process's peak memory) and, page cache dropped, virDomainRestore
# (timed), with 64 KiB of the restored guest's RAM compared with what it held. The guest's
# RAM is an xorshift stream: it does not compress, so this measures each compressor's
# throughput on incompressible data, not its ratio (guest.asm has no other fill).
# One run; prints a table.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
prog=bench/compressed.sh
formats=${FORMATS:-raw gzip bzip2 xz lzop zstd}
extra_tools="gzip bzip2 xz lzop"
# shellcheck source=bench/qemu_common.sh
. "$here/qemu_common.sh"
cp "$base/l/etc/qemu.conf" "$base/l.conf"
mkdir -p "$base/v/etc"
results=$base/results
: > "$results"

# Runs qemu_save with ARGS... as WHO (libvirt or virshim), its "key value" lines recorded
# under FORMAT; exits with qemu_save's errors if it fails.
measure() {
    local format=$1 who=$2 env=(env)
    shift 2
    [ "$who" = libvirt ] || env=(env LD_LIBRARY_PATH="$libdir")
    timeout 3600 "${env[@]}" "$base/qemu_save" "$@" 2> "$base/$who.err" \
        | tee -a /dev/stderr | sed "s/^/$format $who /" >> "$results" \
        || { echo "$prog: $who, $format failed:" >&2; grep -v ' info \| warning ' "$base/$who.err" >&2; exit 1; }
    kill_qemus # libvirt's zombies or leftovers, if any
}

machine_note
start=$(date +%s)
for format in $formats; do
    case $format in
        raw | gzip | bzip2 | xz | lzop | zstd) ;;
        *) echo "$prog: unknown format $format" >&2; exit 1 ;;
    esac
    for who in libvirt virshim; do
        [ "$who/$format" = libvirt/zstd ] || [ "$who/$format" = virshim/lzop ] && continue
        echo "== $format, $who (load average $(load))" >&2
        conf="save_image_format = \"$format\""
        { cat "$base/l.conf"; echo "$conf"; } > "$base/l/etc/qemu.conf"
        echo "$conf" > "$base/v/etc/qemu.conf"
        measure "$format" "$who" --once "qemu:///embed?root=$base/${who:0:1}" \
            "$base/guest.bin" "$base/img" "$mib"
        if [ "$format" = lzop ]; then
            echo "== lzop, virshim restoring libvirt's image" >&2
            measure lzop virshim-restore --restore "qemu:///embed?root=$base/v" \
                "$base/img/plain.save" "$mib"
        fi
        rm -f "$base/img/plain.save"
    done
done
echo "$(( $(date +%s) - start )) s in all" >&2

/usr/bin/python3 - "$results" "$mib" "$formats" << 'PY'
import sys
rows = [line.split() for line in open(sys.argv[1])]
mib, formats = int(sys.argv[2]), sys.argv[3].split()
vals = {(f, who, key): float(v) for f, who, key, v in rows}

def get(f, who, key, scale=1.0, fmt="{:.2f}"):
    v = vals.get((f, who, key))
    return "-" if v is None else fmt.format(v * scale)

def ratio(v, l):
    return "-" if v is None or l is None else f"{v / l:.2f}"

MIB = 1 / (1 << 20)
print()
print(f"Compressed save images, {mib} MiB guest (incompressible RAM), TCG, one run, "
      "page cache dropped before each save and restore")
head = ("format", "save s: libvirt", "virshim", "v/l", "image MiB: libvirt", "virshim",
        "restore s: libvirt", "virshim", "v/l", "peak MiB: libvirt", "virshim")
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for f in formats:
    # virshim cannot write lzop: its restore is of libvirt's image.
    restore = (f, "virshim-restore", "restore_s") if f == "lzop" else (f, "virshim", "plain_restore_s")
    cells = (f, get(f, "libvirt", "plain_save_s"), get(f, "virshim", "plain_save_s"),
             ratio(vals.get((f, "virshim", "plain_save_s")), vals.get((f, "libvirt", "plain_save_s"))),
             get(f, "libvirt", "plain_image_bytes", MIB, "{:.1f}"),
             get(f, "virshim", "plain_image_bytes", MIB, "{:.1f}"),
             get(f, "libvirt", "plain_restore_s"), get(*restore),
             ratio(vals.get(restore), vals.get((f, "libvirt", "plain_restore_s"))),
             get(f, "libvirt", "plain_save_hwm_kib", 1 / 1024, "{:.1f}"),
             get(f, "virshim", "plain_save_hwm_kib", 1 / 1024, "{:.1f}"))
    print("| " + " | ".join(cells) + " |")
print()
print("guest start + fill (s): " + ", ".join(
    f"{f} {get(f, 'libvirt', 'fill_s')}/{get(f, 'virshim', 'fill_s')}" for f in formats))
PY
