#!/bin/bash
# QEMU driver benchmark: save and restore of a 1 GiB guest full of non-zero data, on
# virshim's embedded QEMU driver and on libvirt 9.0's, side by side with raw QEMU and dd.
#
# Usage (as root):  bench/qemu.sh [RUNS]        (default 3; or `make bench-qemu`)
#   env: VIRSHIM_LIBDIR  virshim's libvirt.so.0 (default target/virshim/lib, `make lib`)
#        MIB             guest RAM in MiB (default 1024)
#        XML_CALLS       virDomainSaveImageGetXMLDesc calls averaged (default 2000)
#        BENCH_DIR       scratch directory (default /var/tmp/virshim-bench, removed at exit)
#        BENCH_SETTLE    seconds to wait after dropping the page cache before each timed
#                        step (default 3): in a VM whose host takes freed memory back
#                        (free page reporting), memory freed moments before is much cheaper
#                        to touch again than memory freed long ago, which would otherwise
#                        favour whichever step follows a QEMU's exit
#
# Each run, on the test guest of tests/guest/guest.asm (<domain type='qemu'>: TCG):
#   1. bench/qemu_save.c, built once against the system's libvirt headers, on libvirt 9.0
#      (qemu:///embed?root=BENCH_DIR/l) and on virshim through LD_LIBRARY_PATH
#      (qemu:///embed?root=BENCH_DIR/v), which first alternating by run: virDomainSave + virDomainRestore, image XML,
#      virDomainSaveFlags(BYPASS_CACHE) + virDomainRestoreFlags(BYPASS_CACHE); page cache
#      dropped before every save and restore; peak memory (VmHWM) of the calling process;
#   2. dd if=/dev/zero bs=1M count=<virshim's plain image in MiB> oflag=direct conv=fsync,
#      and the same file read back cold (iflag=direct bs=4M), for the disk's read speed;
#   3. bench/raw_qemu.py: first touch of guest-sized fresh memory; QEMU alone, `migrate fd:`
#      into a file + fsync, and its incoming migration from that file, cold (`fd:`, and
#      `exec:cat` timed from QEMU's start).
# Then prints the figures (median of the runs, range in brackets) and the targets' ratios.

# System changes: see bench/qemu_common.sh (the user libvirt-qemu).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
prog=bench/qemu.sh
runs=${1:-3}
xml_calls=${XML_CALLS:-2000}
# shellcheck source=bench/qemu_common.sh
. "$here/qemu_common.sh"
mkdir -p "$base/raw"
results=$base/results
: > "$results"

machine_note
for run in $(seq "$runs"); do
    echo "== run $run/$runs (load average $(load))" >&2
    echo "$run - load_start $(load | cut -d' ' -f1)" >> "$results"
    # Alternate which library goes first, so that neither always inherits the other's
    # page cache and memory state.
    order="libvirt virshim"
    [ $((run % 2)) = 0 ] && order="virshim libvirt"
    for who in $order; do
        echo "-- $who" >&2
        if [ "$who" = virshim ]; then env=(env LD_LIBRARY_PATH="$libdir"); else env=(env); fi
        timeout 900 "${env[@]}" "$base/qemu_save" "qemu:///embed?root=$base/${who:0:1}" \
            "$base/guest.bin" "$base/img" "$mib" "$xml_calls" 2> "$base/$who.err" \
            | tee -a /dev/stderr | sed "s/^/$run $who /" >> "$results" \
            || { echo "bench/qemu.sh: $who failed:" >&2; grep -v ' info \| warning ' "$base/$who.err" >&2; exit 1; }
        kill_qemus # libvirt's zombies or leftovers, if any
    done
    bytes=$(awk -v r="$run" '$1 == r && $2 == "virshim" && $3 == "plain_image_bytes" { print $4 }' "$results")
    count=$(( (bytes + (1 << 20) - 1) >> 20 ))
    echo "-- dd $count MiB" >&2
    rm -f "$base/img/dd"
    drop_caches
    t0=$(date +%s.%N)
    timeout 300 dd if=/dev/zero of="$base/img/dd" bs=1M count="$count" oflag=direct conv=fsync 2> "$base/dd.err"
    t1=$(date +%s.%N)
    drop_caches
    t2=$(date +%s.%N)
    timeout 300 dd if="$base/img/dd" of=/dev/null bs=4M iflag=direct 2>> "$base/dd.err"
    t3=$(date +%s.%N)
    rm -f "$base/img/dd"
    awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" 'BEGIN { printf "dd_s %.3f\ndd_read_s %.3f\n", b - a, d - c }' \
        | tee -a /dev/stderr | sed "s/^/$run dd /" >> "$results"
    echo "-- raw QEMU" >&2
    timeout 900 /usr/bin/python3 "$here/raw_qemu.py" "$base/guest.bin" "$base/raw" "$mib" \
        | tee -a /dev/stderr | sed "s/^/$run raw /" >> "$results"
    kill_qemus
    echo "$run - load_end $(load | cut -d' ' -f1)" >> "$results"
done

/usr/bin/python3 - "$results" "$mib" << 'EOF'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
mib = int(sys.argv[2])
runs = sorted({int(r[0]) for r in rows})
vals = {}
for run, who, key, value in rows:
    vals.setdefault((who, key), {})[int(run)] = float(value)

def series(who, key, scale=1.0):
    d = vals.get((who, key), {})
    return [d[r] * scale for r in runs if r in d]

def ratio(a, b):
    return [x / y for x, y in zip(a, b)]

def cell(xs, fmt):
    if not xs:
        return "-"
    med = fmt.format(statistics.median(xs))
    if len(xs) == 1:
        return med
    return f"{med} [{fmt.format(min(xs))}-{fmt.format(max(xs))}]"

KIB = 1 / 1024
s, us, r, m = "{:.2f}", "{:.0f}", "{:.2f}", "{:.1f}"
raw_restore = series("raw", "raw_restore_s")
raw_with_start = [a + b for a, b in zip(series("raw", "raw_start_s"), raw_restore)]
dd = series("dd", "dd_s")
table = []  # operation, libvirt, virshim, virshim/libvirt, anchor, virshim/anchor, target
for label, key in (("plain", "plain"), ("bypass cache", "bypass")):
    v, l = series("virshim", f"{key}_save_s"), series("libvirt", f"{key}_save_s")
    table.append((f"save, {label} (s)", cell(l, s), cell(v, s), cell(ratio(v, l), r),
                  f"dd {cell(dd, s)}", cell(ratio(v, dd), r), "virshim/dd <= 1.2"))
for label, key in (("plain", "plain"), ("bypass cache", "bypass")):
    v, l = series("virshim", f"{key}_restore_s"), series("libvirt", f"{key}_restore_s")
    table.append((f"restore, {label}, cold (s)", cell(l, s), cell(v, s), cell(ratio(v, l), r),
                  f"QEMU incoming {cell(raw_restore, s)}", cell(ratio(v, raw_restore), r),
                  "virshim/QEMU <= 1.0"))
v, l = series("virshim", "image_xml_us"), series("libvirt", "image_xml_us")
table.append((f"image XML, {mib} MiB image (us)", cell(l, us), cell(v, us), cell(ratio(v, l), r),
              "", "", "virshim < 100 us"))
for label, key in (("plain", "plain"), ("bypass cache", "bypass")):
    v, l = series("virshim", f"{key}_save_hwm_kib", KIB), series("libvirt", f"{key}_save_hwm_kib", KIB)
    table.append((f"peak memory, {label} save (MiB)", cell(l, m), cell(v, m), cell(ratio(v, l), r),
                  "", "", "virshim < 32 MiB"))
head = ("operation", "libvirt 9.0", "virshim", "virshim/libvirt", "anchor", "virshim/anchor", "target")
print()
import os
print(f"QEMU driver, {mib} MiB guest, TCG, {len(runs)} run(s), "
      f"{os.environ['BENCH_SETTLE']} s settle after each cache drop: median [min-max]")
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for row in table:
    print("| " + " | ".join(row) + " |")
print()
print("anchors and details (median [min-max]):")
details = [
    ("raw QEMU save: migrate fd: + fsync (s)", series("raw", "raw_save_s"), s),
    ("  of which migrate (s)", series("raw", "raw_migrate_s"), s),
    ("  of which fsync (s)", series("raw", "raw_fsync_s"), s),
    ("raw QEMU start until QMP answers (s)", series("raw", "raw_start_s"), s),
    ("raw QEMU incoming fd:, start included (s)", raw_with_start, s),
    ("raw QEMU incoming exec:cat, start included (s)", series("raw", "raw_restore_cat_s"), s),
    ("first touch of guest-sized fresh memory (s)", series("raw", "touch_s"), s),
    ("dd oflag=direct conv=fsync (s)", dd, s),
    ("dd read of that file, iflag=direct bs=4M, cold (s)", series("dd", "dd_read_s"), s),
    ("virshim plain image (MiB)", series("virshim", "plain_image_bytes", KIB * KIB), m),
    ("libvirt plain image (MiB)", series("libvirt", "plain_image_bytes", KIB * KIB), m),
    ("virshim RSS before save (MiB)", series("virshim", "plain_save_rss_before_kib", KIB), m),
    ("libvirt RSS before save (MiB)", series("libvirt", "plain_save_rss_before_kib", KIB), m),
    ("guest start + fill, virshim (s)", series("virshim", "fill_s"), s),
    ("guest start + fill, libvirt (s)", series("libvirt", "fill_s"), s),
    ("load average at start of run", series("-", "load_start"), "{:.2f}"),
    ("load average at end of run", series("-", "load_end"), "{:.2f}"),
]
for label, xs, fmt in details:
    print(f"  {label:52s} {cell(xs, fmt)}")
print()
print("per run (s): virshim save plain, bypass | dd | libvirt save plain, bypass | "
      "virshim restore plain, bypass | QEMU incoming | libvirt restore plain, bypass | load")
for run in runs:
    def g(who, key):
        v = vals.get((who, key), {}).get(run)
        return "-" if v is None else f"{v:.2f}"
    print(f"  {run}: {g('virshim', 'plain_save_s')} {g('virshim', 'bypass_save_s')} | "
          f"{g('dd', 'dd_s')} | {g('libvirt', 'plain_save_s')} {g('libvirt', 'bypass_save_s')} | "
          f"{g('virshim', 'plain_restore_s')} {g('virshim', 'bypass_restore_s')} | "
          f"{g('raw', 'raw_restore_s')} | {g('libvirt', 'plain_restore_s')} "
          f"{g('libvirt', 'bypass_restore_s')} | {g('-', 'load_start')}")
EOF
