#!/bin/bash
# `make xml-diff`: the full comparison of domain XML parsing between virshim and libvirt
# 9.0 over libvirt 9.0's own test documents (tests/qemuxml2argvdata and
# tests/genericxml2xmlindata, from Debian's source package, fetched with apt) and every
# mutation of them that mutate.py makes. Prints the figures; the differences go to
# $OUT/differences.jsonl. VIRSHIM_LIBDIR names virshim's library directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$here/../../target/xmldiff}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SRC=$OUT/src
tests=$SRC/libvirt-9.0.0/tests

if [[ ! -d $tests/qemuxml2argvdata ]]; then
    # Debian's source package, through apt with a private sources list (the machine's
    # lists only hold binary packages): same archive and keyring, deb-src entries.
    mkdir -p "$SRC/lists/partial"
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources > "$SRC/src.sources"
    apt=(-o Dir::Etc::sourcelist="$SRC/src.sources" -o Dir::Etc::sourceparts=/dev/null
         -o Dir::State::Lists="$SRC/lists")
    apt-get "${apt[@]}" update >/dev/null
    (cd "$SRC" && apt-get "${apt[@]}" source --download-only libvirt >/dev/null)
    tar -C "$SRC" -xf "$SRC"/libvirt_9.0.0.orig.tar.xz \
        libvirt-9.0.0/tests/qemuxml2argvdata libvirt-9.0.0/tests/genericxml2xmlindata
fi

rm -rf "$OUT/mutated"
python3 "$here/mutate.py" "$OUT/mutated" "$tests"/genericxml2xmlindata/*.xml \
    "$tests"/qemuxml2argvdata/*.xml
for corpus in "$tests/genericxml2xmlindata $tests/qemuxml2argvdata" "$OUT/mutated"; do
    # shellcheck disable=SC2086 # two folders in one word
    python3 "$here/compare.py" --show 0 --dump "$OUT/differences.$(basename "${corpus##* }").jsonl" \
        $corpus | tail -1 || true
done
echo "differences: $OUT/differences.*.jsonl"
exit 0
