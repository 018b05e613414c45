#!/bin/bash
# Runs c-tests/qemu_cycle.c, built once against the system's libvirt headers, on virshim's
# QEMU driver (under valgrind too) and on libvirt 9.0's embedded QEMU driver; each run
# must pass. Usage: qemu_cycle.sh VIRSHIM_LIBDIR
#
# Needs qemu-system-x86_64, nasm, libvirt's QEMU driver (libvirt-daemon-driver-qemu,
# libvirt-daemon) and setpriv: without them it skips, except under CI=true, where it fails.
# As root, libvirt's run is made as nobody, whose QEMU needs no privileged setup.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
libdir=${1:?usage: qemu_cycle.sh VIRSHIM_LIBDIR}

missing=()
for tool in qemu-system-x86_64 nasm setpriv valgrind; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
for file in /usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so \
    /usr/lib/libvirt/libvirt_iohelper; do
    [ -e "$file" ] || missing+=("$file")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "qemu_cycle: missing ${missing[*]}"
    [ "${CI:-}" = true ] && exit 1
    echo "qemu_cycle: skipped"
    exit 0
fi

# Short paths: the monitor sockets must fit a UNIX socket address.
base=$(mktemp -d /tmp/vqc.XXXXXX)
cleanup() {
    # Any QEMU either driver left under the folder goes with it.
    local cmdline
    for cmdline in /proc/[0-9]*/cmdline; do
        case "$(tr '\0' ' ' <"$cmdline" 2>/dev/null)" in
        *qemu-system*"$base/"*) kill -KILL "$(basename "$(dirname "$cmdline")")" 2>/dev/null ;;
        esac
    done
    rm -rf "$base"
}
trap cleanup EXIT
chmod 755 "$base"
nasm -f bin -o "$base/guest.bin" "$here/../tests/guest/guest.asm" || exit 1
chmod 644 "$base/guest.bin"
cc -Wall -Wextra -Werror -g "$here/qemu_cycle.c" -o "$base/qemu_cycle" -pthread \
    $(env -u PKG_CONFIG_PATH pkg-config --cflags --libs libvirt) || exit 1

status=0
run() { # name command...: its output is shown when it fails
    if "${@:2}" >"$base/$1.log" 2>&1; then
        echo "ok   $1 ($(tail -n 1 "$base/$1.log"))"
    else
        echo "FAIL $1"
        sed 's/^/     /' "$base/$1.log"
        # What the guest's QEMU said, in either driver's root.
        tail -n 20 "$base"/[lv]/log/qemu/cycle.log 2>/dev/null | sed 's/^/     qemu: /'
        status=1
    fi
}

mkdir -p "$base/v" "$base/v-images"
run qemu-cycle-virshim env LD_LIBRARY_PATH="$libdir" \
    "$base/qemu_cycle" "$base/v" "$base/guest.bin" "$base/v-images"
rm -rf "$base/v" "$base/v-images"
mkdir -p "$base/v" "$base/v-images"
run qemu-cycle-virshim-valgrind env LD_LIBRARY_PATH="$libdir" valgrind -q --error-exitcode=99 \
    --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
    "$base/qemu_cycle" "$base/v" "$base/guest.bin" "$base/v-images"

# libvirt 9.0: its root needs a qemu.conf that spares it the daemons and privileges.
mkdir -p "$base/l/etc" "$base/l-images" "$base/home/run"
printf '%s\n' 'stdio_handler = "file"' 'security_driver = "none"' 'namespaces = [ ]' \
    'cgroup_controllers = [ ]' >"$base/l/etc/qemu.conf"
as_user=()
if [ "$(id -u)" = 0 ]; then
    chown -R nobody:nogroup "$base/l" "$base/l-images" "$base/home"
    as_user=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
fi
run qemu-cycle-libvirt env -u LD_LIBRARY_PATH HOME="$base/home" \
    XDG_RUNTIME_DIR="$base/home/run" "${as_user[@]}" \
    "$base/qemu_cycle" "$base/l" "$base/guest.bin" "$base/l-images"
exit $status
