#!/usr/bin/python3
"""Records what libvirt 9.0's own QEMU driver does with each CASE/input.xml of this folder.

Run as root on a machine with libvirt-daemon-driver-qemu, libvirt-daemon, python3-libvirt,
qemu-system-x86, qemu-utils and nasm (Debian 12):

    /usr/bin/python3 src/drivers/qemu/testdata/record.py [CASE...]

The files the inputs name are made under /tmp/virshim-fixtures (the inputs name that folder
literally, so the recordings are the same on every machine), the block device from a loop
device. libvirt runs as the unprivileged user `nobody` in qemu:///embed?root=..., with the
qemu.conf of lab-notes.md (as root it would need a `libvirt-qemu` user). For each case it
writes into CASE/:

    inactive.xml    dumpxml --inactive after define
    live.xml        dumpxml of the running guest (after start)
    start.args      the QEMU command line of the start, one argument per line
    image.xml       the XML libvirt wrote into the save image of the running guest
    saved.xml       that XML as libvirt reads it back (save-image-dumpxml)
    cookie.xml      the cookie of that image
    restore.args    the QEMU command line of the restore from that image
    restored.xml    dumpxml of the restored guest

A file `error.txt` instead of all these means libvirt refused the input (code, domain, text).
Runtime details that change from run to run (pty paths) are what they were.
"""

import os
import shlex
import shutil
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = "/tmp/virshim-fixtures"
ROOT = WORK + "/root"
URI = "qemu:///embed?root=" + ROOT
QEMU_CONF = """stdio_handler = "file"
security_driver = "none"
namespaces = [ ]
cgroup_controllers = [ ]
"""


def cases(argv):
    names = argv or sorted(
        d for d in os.listdir(HERE) if os.path.isfile(os.path.join(HERE, d, "input.xml"))
    )
    return names


def prepare():
    """As root: the files the inputs use, owned by nobody; returns the loop device."""
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(ROOT + "/etc")
    os.makedirs(WORK + "/home")
    with open(ROOT + "/etc/qemu.conf", "w") as f:
        f.write(QEMU_CONF)
    guest = os.path.join(HERE, "../../../../tests/guest/guest.asm")
    subprocess.run(["nasm", "-f", "bin", "-o", WORK + "/guest.bin", guest], check=True)
    for name, size in [("disk.raw", 1 << 20), ("cdrom.iso", 1 << 20), ("initrd.img", 4096),
                       ("block.img", 1 << 20)]:
        with open(os.path.join(WORK, name), "wb") as f:
            f.truncate(size)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", WORK + "/disk.qcow2", "16M"],
                   check=True)
    loop = subprocess.run(["losetup", "-f", "--show", WORK + "/block.img"], check=True,
                          capture_output=True, text=True).stdout.strip()
    os.symlink(loop, WORK + "/block0")
    subprocess.run(["chown", "-R", "nobody:nogroup", WORK], check=True)
    os.chown(loop, 65534, 65534)
    os.chmod(WORK, 0o755)
    return loop


def command_lines(log):
    """The QEMU command lines in a guest log, each as a list of arguments (no env)."""
    lines = open(log).read().split("\n")
    found = []
    i = 0
    while i < len(lines):
        if lines[i] == "LC_ALL=C \\":
            text = []
            while lines[i].endswith(" \\"):
                text.append(lines[i][:-2])
                i += 1
            text.append(lines[i])
            words = shlex.split(" ".join(text))
            found.append([w for w in words if not (w[:1].isupper() and "=" in w)])
        i += 1
    return found


def write(case, name, text):
    with open(os.path.join(WORK, "out", case, name), "w") as f:
        f.write(text)


def image_parts(image):
    """The XML and the cookie of a libvirt QEMU save image."""
    with open(image, "rb") as f:
        header = f.read(92)
        data_len, _, _, cookie_off = struct.unpack_from("<4I", header, 20)
        data = f.read(data_len)
    xml = data.split(b"\0", 1)[0].decode()
    cookie = data[cookie_off:].split(b"\0", 1)[0].decode()
    return xml, cookie


def record(conn, libvirt, case):
    os.makedirs(os.path.join(WORK, "out", case))
    xml = open(os.path.join(HERE, case, "input.xml")).read()
    try:
        dom = conn.defineXML(xml)
        write(case, "inactive.xml", dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        dom.create()
    except libvirt.libvirtError as e:
        write(case, "error.txt", "%d %d %s\n" % (e.get_error_code(), e.get_error_domain(),
                                                  e.get_error_message()))
        return
    name = dom.name()
    log = "%s/log/qemu/%s.log" % (ROOT, name)
    write(case, "live.xml", dom.XMLDesc(0))
    write(case, "start.args", "\n".join(command_lines(log)[-1]) + "\n")
    image = "%s/%s.save" % (WORK, name)
    dom.save(image)
    xml, cookie = image_parts(image)
    write(case, "image.xml", xml)
    write(case, "saved.xml", conn.saveImageGetXMLDesc(image, 0))
    write(case, "cookie.xml", cookie)
    conn.restore(image)
    dom = conn.lookupByName(name)
    write(case, "restore.args", "\n".join(command_lines(log)[-1]) + "\n")
    write(case, "restored.xml", dom.XMLDesc(0))
    dom.destroy()
    dom.undefine()


def child(names):
    """As nobody: drives libvirt's embedded QEMU driver."""
    import libvirt

    libvirt.virEventRegisterDefaultImpl()

    def loop():
        while True:
            libvirt.virEventRunDefaultImpl()

    threading.Thread(target=loop, daemon=True).start()
    conn = libvirt.open(URI)
    for case in names:
        record(conn, libvirt, case)
        print("recorded", case)
    conn.close()


def main():
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2:])
        return
    names = cases(sys.argv[1:])
    loop = prepare()
    try:
        env = dict(os.environ, HOME=WORK + "/home", XDG_RUNTIME_DIR=WORK + "/home/run")
        subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        sys.executable, os.path.abspath(__file__), "--child"] + names,
                       env=env, check=True, cwd=WORK)
    finally:
        os.chown(loop, 0, 0)
        subprocess.run(["losetup", "-d", loop])
    for case in names:
        out = os.path.join(WORK, "out", case)
        for f in os.listdir(os.path.join(HERE, case)):
            if f != "input.xml":
                os.remove(os.path.join(HERE, case, f))
        for f in os.listdir(out):
            shutil.copy(os.path.join(out, f), os.path.join(HERE, case, f))


if __name__ == "__main__":
    main()
