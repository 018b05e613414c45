#!/bin/bash
# Copies the headers build.rs generates into include/libvirt/, the committed copies that
# `make install` ships and tests/packaging.rs compares with a fresh generation.
set -euo pipefail
cd "$(dirname "$0")/.."

# build.rs reports where it wrote the headers through cargo:rustc-env; cargo repeats that
# in its JSON messages whether or not the build script had to run again.
generated=$(cargo build --release --lib --message-format=json-render-diagnostics |
    ${PYTHON:-python3} -c '
import json, sys
for line in sys.stdin:
    msg = json.loads(line)
    if msg.get("reason") == "build-script-executed":
        for key, value in msg.get("env", []):
            if key == "VIRSHIM_GENERATED_INCLUDE":
                print(value)
')
if [[ -z $generated || ! -f $generated/libvirt/libvirt.h ]]; then
    echo "update-headers: build.rs generated no headers (see the warnings above)" >&2
    exit 1
fi

mkdir -p include/libvirt
rm -f include/libvirt/*.h
cp "$generated"/libvirt/*.h include/libvirt/
echo "update-headers: include/libvirt/ now holds: $(cd include/libvirt && echo *.h)"
