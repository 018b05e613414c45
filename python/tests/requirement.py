"""How a test module states what it needs from the machine: without it the module is
skipped with the reason, except under CI=true, where that is a failure (as tests/common's
`skip` does for the Rust tests)."""

import os

import pytest


def missing(why):
    """Skips the calling module because of `why`, or fails it under CI=true."""
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"{why}: required when CI=true")
    pytest.skip(why, allow_module_level=True)
