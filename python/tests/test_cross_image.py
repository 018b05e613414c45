"""Save images cross between libvirt 9.0 and virshim: each restores the other's, and a
plain save writes the same bytes on both.

Each library runs in a process of its own (a process loads one libvirt.so.0).
"""

import os
import subprocess
import sys
import textwrap

import pytest

from both_libraries import LIBVIRT, VIRSHIM

HERE = os.path.dirname(os.path.abspath(__file__))

# A domain with devices, so that more of the XML crosses than the default domain's.
RICH = """<domain type='test'>
  <name>cross</name>
  <uuid>0f3a2a53-5b4c-4d3e-9a59-7c6a1d3e2b10</uuid>
  <title>crossing</title>
  <memory unit='MiB'>512</memory>
  <vcpu>2</vcpu>
  <os><type arch='x86_64'>hvm</type><boot dev='hd'/></os>
  <devices>
    <disk type='file' device='disk'>
      <source file='/var/lib/images/cross.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:12:34:56'/>
      <source network='default'/>
    </interface>
  </devices>
</domain>
"""


def run(lib, script):
    """Runs `script` with virshim.py bound to `lib`; returns its stdout."""
    env = dict(os.environ, VIRSHIM_LIB=lib, PYTHONPATH=os.path.join(HERE, ".."))
    code = "import virshim as libvirt\n" + textwrap.dedent(script)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, f"{lib}: {out.stderr}"
    return out.stdout


def save(lib, image, name):
    """Saves `name` (the default domain, or RICH created first) with `lib`."""
    run(lib, f"""
        conn = libvirt.open("test:///default")
        if {name!r} != "test":
            conn.createXML({RICH!r})
        conn.lookupByName({name!r}).save({str(image)!r})
    """)


def restore(lib, image, name):
    """Restores `image` with `lib` and returns the restored domain's state and XML."""
    return run(lib, f"""
        conn = libvirt.open("test:///default")
        if {name!r} == "test":
            conn.lookupByName("test").save({str(image) + ".first"!r})
        conn.restore({str(image)!r})
        dom = conn.lookupByName({name!r})
        print(dom.state())
        print(dom.XMLDesc())
    """)


@pytest.mark.parametrize("name", ["test", "cross"])
def test_images_cross_both_ways_and_match_byte_for_byte(tmp_path, name):
    theirs, ours = tmp_path / "libvirt.img", tmp_path / "virshim.img"
    save(LIBVIRT, theirs, name)
    save(VIRSHIM, ours, name)
    assert ours.read_bytes() == theirs.read_bytes()

    expected = restore(LIBVIRT, theirs, name)
    assert restore(VIRSHIM, theirs, name) == expected
    assert restore(LIBVIRT, ours, name) == expected
    assert expected.startswith("[1, 3]")  # running, restored
