"""The client side of record.sh: talks to its private libvirtd through python3-libvirt.

  client.py URI save OUTDIR FORMAT   starts the guest (defined at first use), saves it into
                                     OUTDIR/FORMAT.img and writes libvirt's XML of the
                                     image; with FORMAT raw, also the guest that names its
                                     DAC label, into OUTDIR/raw-seclabel.img
  client.py URI read IMAGE...        writes IMAGE.xml and IMAGE.secure.xml for each IMAGE
"""

import os
import sys
from urllib.parse import parse_qs, urlparse

import libvirt

# Fixed UUIDs keep the recorded XML the same from one recording to the next.
GUEST = (
    "<domain type='qemu'><name>{name}</name><uuid>{uuid}</uuid>"
    "<memory unit='MiB'>32</memory><os><type arch='x86_64'>hvm</type></os>{extra}</domain>"
)
PLAIN = ("realhost", "5b0c2a5e-9d1f-4c3b-8e7a-0a1b2c3d4e5f", "")
# libvirt adds the DAC label itself and leaves it out of the image; a guest that names
# it keeps it there.
SECLABEL = (
    "realhost-seclabel",
    "5b0c2a5e-9d1f-4c3b-8e7a-0a1b2c3d4e60",
    "<seclabel type='dynamic' model='dac' relabel='yes'/>",
)


def write(path, text):
    """Writes `text` exactly as libvirt returned it (no newline added)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def image_xml(conn, image, stem):
    """libvirt's XML of `image`, plain and with VIR_DOMAIN_SAVE_IMAGE_XML_SECURE."""
    write(stem + ".xml", conn.saveImageGetXMLDesc(image, 0))
    secure = libvirt.VIR_DOMAIN_SAVE_IMAGE_XML_SECURE
    write(stem + ".secure.xml", conn.saveImageGetXMLDesc(image, secure))


def cgroups(uri, name, out):
    """Where the daemon placed the guest's QEMU: its /proc/PID/cgroup, and whether each
    of those directories exists (libvirt made them)."""
    sock = parse_qs(urlparse(uri).query)["socket"][0]
    pidfile = os.path.join(os.path.dirname(sock), "qemu", name + ".pid")
    with open(pidfile, encoding="ascii") as f:
        pid = int(f.read().strip())
    lines = []
    with open(f"/proc/{pid}/cgroup", encoding="ascii") as f:
        for line in f.read().splitlines():
            _, controllers, path = line.split(":", 2)
            name = controllers.replace("name=", "") or "unified"
            where = os.path.join("/sys/fs/cgroup", name, path.lstrip("/"))
            lines.append(f"{line}\t{'exists' if os.path.isdir(where) else 'missing'}")
    write(os.path.join(out, "cgroups.txt"), "\n".join(lines) + "\n")


def save(conn, uri, guest, out, stem):
    """Starts `guest`, saves it into OUTDIR/STEM.img with libvirt's XML beside it."""
    name, uuid, extra = guest
    if name in conn.listDefinedDomains():
        dom = conn.lookupByName(name)
    else:
        dom = conn.defineXML(GUEST.format(name=name, uuid=uuid, extra=extra))
    dom.create()
    if stem == "raw":
        write(os.path.join(out, "live.xml"), dom.XMLDesc(0))
        cgroups(uri, name, out)
    image = os.path.join(out, stem + ".img")
    if os.path.exists(image):
        os.unlink(image)
    dom.save(image)
    image_xml(conn, image, os.path.join(out, stem))


def main():
    uri, command, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    conn = libvirt.open(uri)
    if command == "save":
        out, fmt = args
        save(conn, uri, PLAIN, out, fmt)
        if fmt == "raw":
            save(conn, uri, SECLABEL, out, "raw-seclabel")
    elif command == "read":
        for image in args:
            image_xml(conn, image, image)
    else:
        sys.exit(f"client.py: unknown command {command}")
    conn.close()


if __name__ == "__main__":
    main()
