#!/bin/bash
# `make test`: builds and installs virshim, then runs every test suite present, each even
# when an earlier one failed, and ends with one line "N passed, N failed" (suites).
#
# The suites get, in the environment:
#   VIRSHIM_LIBDIR   the directory holding virshim's libvirt.so.0 (target/virshim/lib)
#   VIRSHIM_PREFIX   an install of virshim (lib/, include/, lib/pkgconfig/libvirt.pc)
#   VIRSHIM_REQUIRE_LIB=1  tells tests/packaging.rs that a missing library is a failure
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

export VIRSHIM_LIBDIR=$root/target/virshim/lib
export VIRSHIM_PREFIX=$root/target/virshim/prefix
export VIRSHIM_REQUIRE_LIB=1

passed=0
failed=0
failures=()

# run NAME COMMAND...: runs one suite and records its outcome.
run() {
    local name=$1
    shift
    echo
    echo "=== $name: $*"
    if "$@"; then
        passed=$((passed + 1))
        echo "=== $name: passed"
    else
        failed=$((failed + 1))
        failures+=("$name")
        echo "=== $name: FAILED"
    fi
}

summary() {
    echo
    if ((failed)); then
        echo "failed suites: ${failures[*]}"
    fi
    echo "$passed passed, $failed failed"
    ((failed == 0))
}

bash scripts/setup.sh || exit 1

# Without the library nothing else can run.
run build make --no-print-directory install PREFIX="$VIRSHIM_PREFIX"
if ((failed)); then
    summary
    exit 1
fi

run cargo-test cargo test
# Each fuzz target on the committed corpus, then a few seconds of fuzzing: fails on a crash.
run fuzz-smoke bash scripts/fuzz.sh smoke 5
if [[ -f c-tests/run-all.sh ]]; then
    run c-tests bash c-tests/run-all.sh
fi
if [[ -d python/tests ]]; then
    run python env VIRSHIM_LIB="$VIRSHIM_LIBDIR/libvirt.so.0" /usr/bin/python3 -m pytest -q python/tests
    # The same tests state libvirt's own behaviour: they pass on libvirt 9.0 too.
    run python-on-libvirt env VIRSHIM_LIB=/usr/lib/x86_64-linux-gnu/libvirt.so.0 \
        /usr/bin/python3 -m pytest -q python/tests
fi

summary
