#!/bin/bash
# Installs from Debian what building and testing virshim needs, when any of it is missing:
# libvirt 9.0 itself (library, headers, virsh, Python binding, its QEMU driver and
# libvirt_iohelper) for the tests that compare with it, run its programs on virshim or
# pass save images between its QEMU driver and virshim's; the C toolchain, binutils
# (readelf, nm), pkg-config and valgrind for building and checking C programs; pytest;
# QEMU and nasm for the QEMU driver's tests (a real QEMU running a test guest assembled
# by the tests); the compressors libvirt 9.0's `save_image_format` runs (bzip2, xz, lzop;
# gzip is always there) for tests/realhost/record.sh.
# With --always (CI), refreshes the package lists and installs even if all is present;
# with --list, only prints the packages.
set -euo pipefail
packages=(libvirt0 libvirt-dev libvirt-clients libvirt-daemon libvirt-daemon-driver-qemu
          python3-libvirt python3-pytest python3
          pkg-config gcc g++ make binutils libc6-dev valgrind nasm qemu-system-x86 qemu-utils
          e2fsprogs mount util-linux bzip2 xz-utils lzop zstd)
if [[ ${1:-} == --list ]]; then
    echo "${packages[@]}"
    exit 0
fi
installed=$(dpkg-query -W -f='${Status}\n' "${packages[@]}" 2>/dev/null | grep -c 'install ok installed' || true)
if [[ ${1:-} != --always && $installed -eq ${#packages[@]} ]]; then
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages; run as root: apt-get install ${packages[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
# Some machines come with a backported qemu-utils (10.x) that Breaks the release's QEMU
# 7.2, the QEMU libvirt 9.0 is built for: pin qemu-utils to the QEMU the release offers.
qemu=$(apt-cache policy qemu-system-x86 | awk '/Candidate:/ { print $2 }')
packages=("${packages[@]/#qemu-utils/qemu-utils=$qemu}")
apt-get install -y --no-install-recommends --allow-downgrades "${packages[@]}"
