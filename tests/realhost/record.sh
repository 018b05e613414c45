#!/bin/bash
# Records save images as a libvirt 9.0 host in its default configuration writes them, for
# the tests that hold virshim to real hosts' images (issue 11).
#
#   tests/realhost/record.sh OUTDIR
#
# Starts Debian 12's /usr/sbin/libvirtd as root in a private mount namespace: private
# directories bound over /etc/libvirt, /run, /var/lib, /var/cache and /var/log (and over
# /etc/passwd and /etc/group when a `libvirt-qemu` user must be added), so the machine's
# own libvirt configuration, sockets and state are never touched; clients reach it through
# `qemu:///system?socket=BASE/run/libvirt/libvirt-sock`. Its qemu.conf keeps libvirt's
# defaults (cgroups and the DAC security driver on, as on a real host) except what this
# daemon strictly needs: `stdio_handler = "file"` (no virtlogd here) and `user`/`group`
# "root" (measured: the images' XML is the same with the default `libvirt-qemu`, but the
# daemon then re-probes QEMU on image calls, 46 s for the raw image instead of 8 s); and
# `save_image_format`, once per value of libvirt 9.0, the daemon restarted for each. All
# five images take about 20 s here.
#
# A 32 MiB guest with no disk (it sits in its BIOS) is defined, started and saved with
# virDomainSave once per format. OUTDIR gets, per FORMAT (raw is the default, key unset;
# gzip, bzip2, xz, lzop):
#   FORMAT.img          the image
#   FORMAT.xml          virDomainSaveImageGetXMLDesc(flags=0)
#   FORMAT.secure.xml   virDomainSaveImageGetXMLDesc(VIR_DOMAIN_SAVE_IMAGE_XML_SECURE)
# and, from the raw recording, live.xml (the running domain's XML), cgroups.txt (the guest
# QEMU's /proc/PID/cgroup and libvirt's cgroup directories for it) and libvirtd.log.
#
#   tests/realhost/record.sh --read OUTDIR IMAGE...
#
# Starts the same daemon and writes IMAGE.xml and IMAGE.secure.xml beside each IMAGE: how
# libvirt reads an image another program edited.
#
# Needs root, libvirt-daemon-driver-qemu, python3-libvirt, qemu-system-x86 and the
# compressors (gzip bzip2 xz-utils lzop). Every process it starts is stopped by its PID;
# the daemon's directory (under /tmp: the socket's path must be short) is removed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
mode=record
if [[ ${1:-} == --read ]]; then
    mode=read
    shift
fi
if [[ $# -lt 1 || ($mode == read && $# -lt 2) ]]; then
    echo "usage: $0 OUTDIR | $0 --read OUTDIR IMAGE..." >&2
    exit 2
fi
out=$(mkdir -p "$1" && cd "$1" && pwd)
shift
if [[ $(id -u) -ne 0 ]]; then
    echo "record: needs root (a private mount namespace and libvirt's system daemon)" >&2
    exit 1
fi

base=$(mktemp -d /tmp/virshim-rec.XXXXXX)
daemon=
stop_daemon() {
    if [[ -n $daemon ]]; then
        kill -TERM "$daemon" 2>/dev/null || true
        wait "$daemon" 2>/dev/null || true
        daemon=
    fi
}
cleanup() {
    stop_daemon
    # Guests outlive the daemon: kill those of this daemon's by the pidfiles it wrote.
    for pidfile in "$base"/run/libvirt/qemu/*.pid; do
        [[ -f $pidfile ]] && kill -KILL "$(cat "$pidfile")" 2>/dev/null || true
    done
    rm -rf "$base"
}
trap cleanup EXIT

mkdir -p "$base"/{etc,run,lib,cache,log}
binds=("$base/etc:/etc/libvirt" "$base/run:/run" "$base/lib:/var/lib"
       "$base/cache:/var/cache" "$base/log:/var/log")
if ! getent passwd libvirt-qemu >/dev/null || ! getent group libvirt-qemu >/dev/null; then
    cp /etc/passwd "$base/passwd"
    cp /etc/group "$base/group"
    getent group libvirt-qemu >/dev/null || echo "libvirt-qemu:x:64055:" >>"$base/group"
    getent passwd libvirt-qemu >/dev/null ||
        echo "libvirt-qemu:x:64055:64055::/nonexistent:/usr/sbin/nologin" >>"$base/passwd"
    binds+=("$base/passwd:/etc/passwd" "$base/group:/etc/group")
fi
sock="$base/run/libvirt/libvirt-sock"
uri="qemu:///system?socket=$sock"

# Starts the daemon with `save_image_format` = $1 (none: libvirt's default) and waits for
# its socket. Pinned to one CPU: this VM's vCPUs report different CPUID, which otherwise
# makes the daemon re-probe QEMU on later connections.
start_daemon() {
    {
        echo 'stdio_handler = "file"'
        echo 'user = "root"'
        echo 'group = "root"'
        [[ -n $1 ]] && echo "save_image_format = \"$1\""
    } >"$base/etc/qemu.conf"
    local mounts=""
    for bind in "${binds[@]}"; do
        mounts+="mount --bind '${bind%%:*}' '${bind#*:}' && "
    done
    rm -f "$sock"
    unshare -m --propagation private -- taskset -c 0 sh -c "${mounts}exec /usr/sbin/libvirtd" \
        >>"$base/libvirtd.log" 2>&1 &
    daemon=$!
    for _ in $(seq 200); do
        [[ -S $sock ]] && return 0
        kill -0 "$daemon" 2>/dev/null || break
        sleep 0.05
    done
    echo "record: libvirtd did not start:" >&2
    cat "$base/libvirtd.log" >&2
    exit 1
}

client() {
    taskset -c 0 /usr/bin/python3 "$here/client.py" "$uri" "$@"
}

# Prints how long since $2 (an $EPOCHREALTIME) the step $1 took.
elapsed() {
    awk -v step="$1" -v t0="$2" -v t1="$EPOCHREALTIME" 'BEGIN { printf "record: %-5s %5.1f s\n", step, t1 - t0 }'
}

if [[ $mode == read ]]; then
    start_daemon ""
    client read "$@"
    exit 0
fi

start=$EPOCHREALTIME
for format in raw gzip bzip2 xz lzop; do
    t0=$EPOCHREALTIME
    if [[ $format == raw ]]; then start_daemon ""; else start_daemon "$format"; fi
    client save "$out" "$format"
    stop_daemon
    elapsed "$format" "$t0"
done
cp "$base/libvirtd.log" "$out/libvirtd.log"
elapsed all "$start"
