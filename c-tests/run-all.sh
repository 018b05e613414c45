#!/bin/bash
# The C tests: programs built against virshim's installed headers through pkg-config and
# run on it under valgrind, the QEMU cycle on both drivers, then the differential run
# against libvirt 9.0.
# Needs VIRSHIM_PREFIX (an installed virshim) and VIRSHIM_LIBDIR; `make test` sets both.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${VIRSHIM_PREFIX:?set VIRSHIM_PREFIX to an installed virshim (make install PREFIX=...)}"
: "${VIRSHIM_LIBDIR:=$VIRSHIM_PREFIX/lib}"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export PKG_CONFIG_PATH="$VIRSHIM_PREFIX/lib/pkgconfig"

passed=0 failed=0
run() { # name command...
    if "${@:2}" >"$out/$1.log" 2>&1; then
        passed=$((passed + 1)); echo "ok   $1"
    else
        failed=$((failed + 1)); echo "FAIL $1"; sed 's/^/     /' "$out/$1.log"
    fi
}

for prog in demo errors stubs peek; do
    run "build-$prog" cc -Wall -Wextra -Werror -g "$here/$prog.c" -o "$out/$prog" -pthread \
        $(pkg-config --cflags --libs libvirt)
    run "$prog" env LD_LIBRARY_PATH="$VIRSHIM_LIBDIR" "$out/$prog"
    run "$prog-valgrind" env LD_LIBRARY_PATH="$VIRSHIM_LIBDIR" valgrind -q --error-exitcode=99 \
        --leak-check=full --errors-for-leak-kinds=definite "$out/$prog"
done
# Threads hammering test:///default through the C API: 8 threads x 10,000 calls plainly,
# x 1,000 under valgrind (helgrind and DRD do not see Rust's futex-based locks: every
# access under a std Mutex shows as a race to them, so they are not run).
run build-stress cc -Wall -Wextra -Werror -g "$here/stress.c" -o "$out/stress" -pthread \
    $(pkg-config --cflags --libs libvirt)
run stress env LD_LIBRARY_PATH="$VIRSHIM_LIBDIR" "$out/stress" 10000
run stress-valgrind env LD_LIBRARY_PATH="$VIRSHIM_LIBDIR" valgrind -q --error-exitcode=99 \
    --leak-check=full --errors-for-leak-kinds=definite "$out/stress" 1000 600
# peek.c's expectations are libvirt 9.0's: the same binary passes on the system's libvirt.
run peek-libvirt env -u LD_LIBRARY_PATH "$out/peek"
# The QEMU cycle, one binary on virshim's QEMU driver and on libvirt 9.0's.
run qemu-cycle bash "$here/qemu_cycle.sh" "$VIRSHIM_LIBDIR"
if [ -x "$here/differential/run.sh" ]; then
    run differential "$here/differential/run.sh" --valgrind "$VIRSHIM_LIBDIR"
fi
echo "c-tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
