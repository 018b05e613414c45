"""The ctypes module on test:///default: the save/restore cycle and its error paths.

These tests state libvirt's behaviour, so they pass on libvirt 9.0 itself too
(``VIRSHIM_LIB=/usr/lib/x86_64-linux-gnu/libvirt.so.0``), except those marked
``superset``, which cover what virshim adds.
"""

import gc
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import virshim as libvirt  # noqa: E402

VIR_ERR_INVALID_ARG = 8
VIR_ERR_SYSTEM_ERROR = 38
VIR_ERR_OPERATION_DENIED = 29
VIR_ERR_OPERATION_INVALID = 55
VIR_ERR_NO_DOMAIN = 42
VIR_FROM_TEST = 12
VIR_FROM_DOMAIN = 20
VIR_DOMAIN_RUNNING_RESTORED = 3
VIR_DOMAIN_SHUTOFF_SAVED = 5

REAL_LIBVIRT = "virshim" not in os.environ.get("VIRSHIM_LIB", "virshim")
superset = pytest.mark.skipif(REAL_LIBVIRT, reason="virshim goes beyond libvirt's test driver here")


@pytest.fixture
def conn():
    # Each test gets a fresh default state: the state lives while any connection or
    # domain handle is open, so the previous test's handles must be gone first.
    gc.collect()
    c = libvirt.open("test:///default")
    assert c.lookupByName("test").ID() == 1, "state left over from an earlier test"
    yield c
    c.close()


@pytest.fixture
def image(tmp_path):
    return str(tmp_path / "test.img")


def test_save_inspect_edit_restore(conn, image):
    dom = conn.lookupByName("test")
    assert dom.state() == [libvirt.VIR_DOMAIN_RUNNING, 0]
    assert dom.save(image) == 0
    assert dom.state() == [libvirt.VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_SAVED]
    assert dom.ID() == -1

    xml = conn.saveImageGetXMLDesc(image)
    assert "<name>test</name>" in xml
    assert "id=" not in xml.splitlines()[0]
    assert conn.saveImageDefineXML(image, xml.replace("/guest/diskimage1", "/guest/moved")) == 0
    assert "/guest/moved" in conn.saveImageGetXMLDesc(image)

    assert conn.restore(image) == 0
    restored = conn.lookupByName("test")
    assert restored.state() == [libvirt.VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_RESTORED]
    assert restored.ID() == 2
    assert "/guest/moved" in restored.XMLDesc()


def test_image_is_libvirts_format(conn, image):
    conn.lookupByName("test").save(image)
    with open(image, "rb") as f:
        data = f.read()
    assert data[:15] == b"TestGuestMagic\0"
    length = int.from_bytes(data[15:19], sys.byteorder)
    assert length == len(data) - 19
    assert data[19:].startswith(b"<domain type='test' id='1'>")
    assert os.stat(image).st_mode & 0o777 == 0o600


def test_restore_of_an_active_domain_fails(conn, image):
    conn.lookupByName("test").save(image)
    conn.restore(image)
    with pytest.raises(libvirt.libvirtError) as e:
        conn.restore(image)
    assert e.value.get_error_code() == VIR_ERR_OPERATION_INVALID
    assert e.value.get_error_domain() == VIR_FROM_DOMAIN
    assert str(e.value) == "Requested operation is not valid: domain 'test' is already active"


def test_missing_image(conn, tmp_path):
    missing = str(tmp_path / "missing.img")
    with pytest.raises(libvirt.libvirtError) as e:
        conn.restore(missing)
    assert e.value.get_error_code() == VIR_ERR_SYSTEM_ERROR
    assert e.value.get_error_domain() == VIR_FROM_TEST
    assert str(e.value) == f"cannot read domain image '{missing}': No such file or directory"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "incomplete save header in '{}': "),
        (b"TestGuestMagiX\0\1\0\0\0x", "internal error: mismatched header magic"),
        (b"TestGuestMagic\0\0\0\0\0", "internal error: length of metadata out of range"),
        (b"TestGuestMagic\0\1\x20\0\0", "internal error: length of metadata out of range"),
        (b"TestGuestMagic\0\x40\0\0\0<domain", "incomplete metadata in '{}': "),
    ],
)
def test_bad_images_are_refused_untouched(conn, tmp_path, content, message):
    path = tmp_path / "bad.img"
    path.write_bytes(content)
    with pytest.raises(libvirt.libvirtError) as e:
        conn.saveImageGetXMLDesc(str(path))
    # libvirt ends short-read messages with whatever errno held; compare up to there.
    assert str(e.value).startswith(message.format(path))
    with pytest.raises(libvirt.libvirtError):
        conn.restore(str(path))
    assert path.read_bytes() == content


def test_save_of_an_inactive_domain_fails(conn, image):
    dom = conn.lookupByName("test")
    dom.save(image)
    with pytest.raises(libvirt.libvirtError) as e:
        dom.save(image)
    assert e.value.get_error_code() == VIR_ERR_OPERATION_INVALID
    assert str(e.value) == "Requested operation is not valid: domain is not running"


def test_exclusive_flags(conn, image):
    dom = conn.lookupByName("test")
    both = libvirt.VIR_DOMAIN_SAVE_RUNNING | libvirt.VIR_DOMAIN_SAVE_PAUSED
    with pytest.raises(libvirt.libvirtError) as e:
        dom.saveFlags(image, None, both)
    assert e.value.get_error_code() == VIR_ERR_INVALID_ARG
    assert "mutually exclusive" in str(e.value)
    assert dom.isActive() == 1


def test_read_only_connections_cannot_change_anything(conn, image):
    conn.lookupByName("test").save(image)
    ro = libvirt.openReadOnly("test:///default")
    for call in (lambda: ro.restore(image), lambda: ro.saveImageGetXMLDesc(image)):
        with pytest.raises(libvirt.libvirtError) as e:
            call()
        assert e.value.get_error_code() == VIR_ERR_OPERATION_DENIED
    ro.close()


def test_unknown_domain(conn):
    with pytest.raises(libvirt.libvirtError) as e:
        conn.lookupByName("nosuch")
    assert (e.value.get_error_code(), e.value.get_error_domain()) == (VIR_ERR_NO_DOMAIN, VIR_FROM_TEST)


@superset
def test_paused_save_restores_paused(conn, image):
    dom = conn.lookupByName("test")
    assert dom.saveFlags(image, None, libvirt.VIR_DOMAIN_SAVE_PAUSED) == 0
    assert conn.restore(image) == 0
    assert conn.lookupByName("test").state()[0] == libvirt.VIR_DOMAIN_PAUSED


@superset
def test_restore_flags_override_the_image(conn, image):
    conn.lookupByName("test").saveFlags(image, None, libvirt.VIR_DOMAIN_SAVE_PAUSED)
    assert conn.restoreFlags(image, None, libvirt.VIR_DOMAIN_SAVE_RUNNING) == 0
    assert conn.lookupByName("test").state()[0] == libvirt.VIR_DOMAIN_RUNNING


@superset
def test_restore_with_compatible_dxml(conn, image):
    dom = conn.lookupByName("test")
    dom.save(image)
    xml = conn.saveImageGetXMLDesc(image)
    assert conn.restoreFlags(image, xml.replace("/guest/diskimage1", "/guest/other")) == 0
    assert "/guest/other" in conn.lookupByName("test").XMLDesc()


@superset
def test_restore_with_incompatible_dxml_is_refused(conn, image):
    conn.lookupByName("test").save(image)
    xml = conn.saveImageGetXMLDesc(image)
    bigger = xml.replace("<memory unit='KiB'>8388608</memory>", "<memory unit='KiB'>16777216</memory>")
    with pytest.raises(libvirt.libvirtError) as e:
        conn.restoreFlags(image, bigger)
    assert e.value.get_error_code() == 67  # VIR_ERR_CONFIG_UNSUPPORTED
    assert "memory" in str(e.value)
    assert conn.lookupByName("test").state()[0] == libvirt.VIR_DOMAIN_SHUTOFF


def test_missing_arguments_raise_libvirt_errors(conn):
    dom = conn.lookupByName("test")
    for call, arg in [
        (lambda: dom.save(None), "to"),
        (lambda: conn.restore(None), "from"),
        (lambda: conn.saveImageGetXMLDesc(None), "file"),
        (lambda: conn.saveImageDefineXML("/nonexistent", None), "dxml"),
    ]:
        with pytest.raises(libvirt.libvirtError) as e:
            call()
        assert e.value.get_error_code() == VIR_ERR_INVALID_ARG
        assert str(e.value).startswith(f"{arg} in vir")
    assert dom.isActive() == 1
