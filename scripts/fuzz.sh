#!/bin/bash
# Fuzzing virshim's parsers of outside bytes with libFuzzer (libfuzzer-sys), on stable Rust.
#
#   scripts/fuzz.sh build                 build every target (fuzz/target/)
#   scripts/fuzz.sh run SECONDS [TARGET]  fuzz each target (or TARGET) for SECONDS; new
#                                         inputs go to fuzz/target/corpus/TARGET, crashes
#                                         to fuzz/artifacts/TARGET/
#   scripts/fuzz.sh smoke SECONDS         each target on the committed corpus, then 20,000
#                                         runs from seed 1 (at most SECONDS), the committed
#                                         corpus left untouched; fails if any target
#                                         crashes, hangs or over-allocates
#   scripts/fuzz.sh list                  the targets
#
# The instrumentation cargo-fuzz would add is passed here as RUSTFLAGS (SanitizerCoverage:
# edge counters, the PC table and compare tracing), which stable rustc accepts, so neither
# nightly nor `cargo install cargo-fuzz` is needed. The explicit --target keeps those
# flags off build scripts. Extra libFuzzer options may come in FUZZ_ARGS.
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$self")/../fuzz"

TARGETS=(test_image qemu_image domain_xml qmp lzop)
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
BIN=target/$TRIPLE/release
# Per input: 10 s is a hang; 512 MiB in one allocation, or 2 GiB resident, is unbounded.
LIMITS=(-timeout=10 -malloc_limit_mb=512 -rss_limit_mb=2048)

build() {
    RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing" \
        cargo build --release --locked --target "$TRIPLE" --bins
}

# fuzz TARGET SECONDS WORKDIR: fuzzes TARGET from WORKDIR and the committed corpus.
fuzz() {
    local target=$1 seconds=$2 work=$3
    mkdir -p "$work" "artifacts/$target"
    "$BIN/$target" "${LIMITS[@]}" -max_total_time="$seconds" -print_final_stats=1 \
        -artifact_prefix="artifacts/$target/" ${FUZZ_ARGS:-} "$work" "corpus/$target"
}

# each SECONDS WORKDIR TARGET...: fuzzes each TARGET (working corpus WORKDIR/TARGET), all
# of them even when one fails; fails if any did.
each() {
    local seconds=$1 work=$2 failed=()
    shift 2
    for target in "$@"; do
        fuzz "$target" "$seconds" "$work/$target" || failed+=("$target")
    done
    if ((${#failed[@]})); then
        echo "fuzz: failed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
        return 1
    fi
}

case ${1:-} in
list)
    printf '%s\n' "${TARGETS[@]}"
    ;;
build)
    build
    ;;
run)
    seconds=${2:?seconds}
    build
    if [[ -n ${3:-} ]]; then
        each "$seconds" target/corpus "$3"
    else
        each "$seconds" target/corpus "${TARGETS[@]}"
    fi
    ;;
smoke)
    seconds=${2:?seconds}
    build
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    # A fixed seed and count: the same inputs every run, so that CI fails on a regression
    # of the code, not on what a random draw found (the long runs are for that).
    FUZZ_ARGS=${FUZZ_ARGS:--seed=1 -runs=20000} each "$seconds" "$scratch" "${TARGETS[@]}"
    ;;
*)
    sed -n '3,9s/^# \?//p' "$self" >&2
    exit 2
    ;;
esac
