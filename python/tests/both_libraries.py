"""The two libraries a differential test runs side by side: libvirt 9.0 and virshim (from
VIRSHIM_LIB). A test module that imports this is skipped unless VIRSHIM_LIB names
virshim's library, and skipped (or, under CI=true, failed) when libvirt 9.0 is missing.
"""

import os

import pytest

from requirement import missing

LIBVIRT = "/usr/lib/x86_64-linux-gnu/libvirt.so.0"
VIRSHIM = os.environ.get("VIRSHIM_LIB", "")

if "virshim" not in VIRSHIM:
    pytest.skip("compares virshim with libvirt: run with VIRSHIM_LIB set to virshim's library",
                allow_module_level=True)
if not os.path.exists(LIBVIRT):
    missing(f"{LIBVIRT} is missing: install libvirt0 (libvirt 9.0)")
