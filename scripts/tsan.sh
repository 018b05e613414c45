#!/bin/bash
# `make tsan`: ThreadSanitizer on the thread stress, through the Rust core
# (tests/thread_stress.rs) and through the C API (c-tests/stress.c linked with virshim's
# instrumented staticlib and the TSan runtime). Needs the nightly toolchain.
#
# With rust-src on nightly the standard library is instrumented too (-Zbuild-std) and any
# report fails the run. Without it (as on the team's machines, where rust-src cannot be
# fetched) std's contended lock path is invisible to TSan, so accesses under one std Mutex
# can show as races: scripts/tsan-triage.py sets those aside and fails on any other.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
dir=target/tsan
export RUSTFLAGS="-Zsanitizer=thread -Cunsafe-allow-abi-mismatch=sanitizer"
build_std=()
if rustup component list --toolchain nightly --installed | grep -q '^rust-src'; then
    build_std=(-Zbuild-std)
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cargo +nightly test "${build_std[@]}" --target $target --target-dir $dir \
    --test thread_stress --no-run 2> "$out/build.log" || { cat "$out/build.log"; exit 1; }
exe=$(sed -n 's/.*Executable .*(\(.*\))$/\1/p' "$out/build.log" | tail -1)
echo "tsan: $exe"
TSAN_OPTIONS="halt_on_error=0 exitcode=0" "$exe" --test-threads=1 > "$out/rust.log" 2>&1 ||
    { tail -40 "$out/rust.log"; exit 1; }
grep -E "calls in|test result" "$out/rust.log"

cargo +nightly build "${build_std[@]}" --lib --target $target --target-dir $dir
runtime=$(rustc +nightly --print sysroot)/lib/rustlib/$target/lib/librustc-nightly_rt.tsan.a
cc -g -O1 -Iinclude c-tests/stress.c $dir/$target/debug/libvirshim.a \
    -Wl,--whole-archive "$runtime" -Wl,--no-whole-archive \
    -o "$out/stress" -lpthread -ldl -lm -lutil -lrt -lstdc++
TSAN_OPTIONS="halt_on_error=0 exitcode=0" "$out/stress" 2000 900 > "$out/c.log" 2>&1 ||
    { tail -40 "$out/c.log"; exit 1; }
grep -E "done|passed" "$out/c.log"

if ((${#build_std[@]})); then
    reports=$(cat "$out/rust.log" "$out/c.log" | grep -c "WARNING: ThreadSanitizer" || true)
    echo "tsan: $reports reports (standard library instrumented)"
    [ "$reports" -eq 0 ]
else
    python3 scripts/tsan-triage.py "$out/rust.log" "$out/c.log"
fi
