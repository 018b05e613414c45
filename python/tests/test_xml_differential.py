"""Domain XML on virshim and on libvirt 9.0: the committed corpus of tests/xmldiff
(malformed documents, mutations of libvirt's test documents and a sample of them) is
defined on both test:///default drivers, and every answer must agree (accepted, or the
same error code, domain and message), bar the differences tests/xmldiff/kept.txt keeps.
"""

import os
import subprocess

from both_libraries import LIBVIRT, VIRSHIM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
XMLDIFF = os.path.join(ROOT, "tests", "xmldiff")


def test_corpus_answers_like_libvirt():
    out = subprocess.run(
        ["/usr/bin/python3", os.path.join(XMLDIFF, "compare.py"),
         "--lib", os.path.dirname(VIRSHIM), "--kept", os.path.join(XMLDIFF, "kept.txt"),
         os.path.join(XMLDIFF, "corpus")],
        capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-3000:]
    assert " 0 other differences" in out.stdout
