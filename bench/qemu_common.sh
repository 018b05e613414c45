# shellcheck shell=bash disable=SC2034,SC2154 # sourced: uses here/prog, sets mib for its caller
# Set-up shared by bench/qemu.sh and bench/compressed.sh (sourced, not run): checks, the
# scratch directory, libvirt's qemu.conf, the benchmark program and the guest kernel.
#
# Expects `here` (the bench directory), `prog` (the script's name, for messages) and
# optionally `extra_tools` (more commands it needs); sets
# libdir, mib, base and BENCH_SETTLE from the environment (see bench/qemu.sh), installs
# the EXIT trap that kills this run's QEMUs and removes $base, and leaves in $base:
#   l/etc/qemu.conf  libvirt's (the lab notes' one, user/group root); append to it
#   v/               virshim's root;  img/  images;  qemu_save  guest.bin
#
# System changes: libvirt 9.0 refuses to start its QEMU driver as root unless the user
# `libvirt-qemu` exists (even with user = "root" in qemu.conf); if it is missing, this
# creates it (useradd --system) and leaves it. Nothing else outside $base is touched
# (besides dropping the page cache).
libdir=$(cd "${VIRSHIM_LIBDIR:-$here/../target/virshim/lib}" && pwd)
mib=${MIB:-1024}
base=${BENCH_DIR:-/var/tmp/virshim-bench}
export BENCH_SETTLE=${BENCH_SETTLE:-3}

if [ "$(id -u)" != 0 ]; then
    echo "$prog: run as root (it drops the page cache)" >&2
    exit 1
fi
for tool in qemu-system-x86_64 nasm gcc pkg-config dd /usr/bin/python3 ${extra_tools:-}; do
    command -v "$tool" > /dev/null || { echo "$prog: $tool is missing" >&2; exit 1; }
done
for f in /usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so \
    /usr/lib/libvirt/libvirt_iohelper "$libdir/libvirt.so.0"; do
    [ -e "$f" ] || { echo "$prog: $f is missing (libvirt-daemon-driver-qemu, libvirt-daemon, make lib)" >&2; exit 1; }
done
if ! id libvirt-qemu > /dev/null 2>&1; then
    echo "note: creating the system user libvirt-qemu, which libvirt's QEMU driver needs as root" >&2
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin libvirt-qemu
fi

# Every QEMU started here names a file under $base on its command line.
kill_qemus() {
    local pid
    for pid in $(pgrep -f "qemu-system-x86_64 .*$base/" || true); do
        kill -9 "$pid" 2> /dev/null || true
    done
}
cleanup() {
    kill_qemus
    rm -rf "$base"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$base"
mkdir -p "$base/l/etc" "$base/v" "$base/img"
cat > "$base/l/etc/qemu.conf" << 'CONF'
stdio_handler = "file"
user = "root"
group = "root"
security_driver = "none"
remember_owner = 0
namespaces = [ ]
cgroup_controllers = [ ]
CONF
# shellcheck disable=SC2046 # pkg-config's flags are words
gcc -O2 -Wall "$here/qemu_save.c" -o "$base/qemu_save" $(pkg-config --cflags --libs libvirt) -lpthread
nasm -f bin -o "$base/guest.bin" "$here/../tests/guest/guest.asm"

drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; sleep "$BENCH_SETTLE"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
machine_note() {
    echo "machine: $(nproc) cores, $(uname -r), $(qemu-system-x86_64 --version | head -1)" >&2
    echo "libvirt 9.0: $(readlink -f /usr/lib/x86_64-linux-gnu/libvirt.so.0); virshim: $libdir" >&2
}
