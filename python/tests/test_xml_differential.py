"""Domain XML on virshim and on libvirt 9.0: the committed corpus of tests/xmldiff
(malformed documents, mutations of libvirt's test documents and a sample of them) is
defined on both test:///default drivers, and every answer must agree (accepted, or the
same error code, domain and message), bar the differences tests/xmldiff/kept.txt keeps.
"""

import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
XMLDIFF = os.path.join(ROOT, "tests", "xmldiff")
LIBVIRT = "/usr/lib/x86_64-linux-gnu/libvirt.so.0"
VIRSHIM = os.environ.get("VIRSHIM_LIB", "")

if "virshim" not in VIRSHIM:
    pytest.skip("compares virshim with libvirt: run with VIRSHIM_LIB set to virshim's library",
                allow_module_level=True)
if not os.path.exists(LIBVIRT):
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"{LIBVIRT} is missing: install libvirt0")
    pytest.skip("libvirt 9.0 is not installed", allow_module_level=True)


def test_corpus_answers_like_libvirt():
    out = subprocess.run(
        ["/usr/bin/python3", os.path.join(XMLDIFF, "compare.py"),
         "--lib", os.path.dirname(VIRSHIM), "--kept", os.path.join(XMLDIFF, "kept.txt"),
         os.path.join(XMLDIFF, "corpus")],
        capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-3000:]
    assert " 0 other differences" in out.stdout
