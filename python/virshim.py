"""libvirt's save/restore API for Python, through ctypes, with libvirt-python's names.

A script written for libvirt-python's save/restore family runs on this module with
``import virshim as libvirt``. It loads ``libvirt.so.0`` (virshim's, or any libvirt's):
from ``VIRSHIM_LIB`` if set, else from the loader's search path.

Every string the library returns is copied and freed; every failure raises
:class:`libvirtError` carrying libvirt's code, domain and message.
"""

import ctypes
import os
from ctypes import (
    POINTER,
    Structure,
    c_char_p,
    c_int,
    c_uint,
    c_ulong,
    c_ushort,
    c_ubyte,
    c_ulonglong,
    c_void_p,
)

VIR_DOMAIN_SAVE_BYPASS_CACHE = 1
VIR_DOMAIN_SAVE_RUNNING = 2
VIR_DOMAIN_SAVE_PAUSED = 4
VIR_DOMAIN_SAVE_IMAGE_XML_SECURE = 1
VIR_DOMAIN_XML_SECURE = 1
VIR_DOMAIN_XML_INACTIVE = 2

VIR_DOMAIN_NOSTATE = 0
VIR_DOMAIN_RUNNING = 1
VIR_DOMAIN_BLOCKED = 2
VIR_DOMAIN_PAUSED = 3
VIR_DOMAIN_SHUTDOWN = 4
VIR_DOMAIN_SHUTOFF = 5
VIR_DOMAIN_CRASHED = 6
VIR_DOMAIN_PMSUSPENDED = 7


class _virError(Structure):
    _fields_ = [
        ("code", c_int),
        ("domain", c_int),
        ("message", c_char_p),
        ("level", c_int),
        ("conn", c_void_p),
        ("dom", c_void_p),
        ("str1", c_char_p),
        ("str2", c_char_p),
        ("str3", c_char_p),
        ("int1", c_int),
        ("int2", c_int),
        ("net", c_void_p),
    ]


class _virDomainInfo(Structure):
    _fields_ = [
        ("state", c_ubyte),
        ("maxMem", c_ulong),
        ("memory", c_ulong),
        ("nrVirtCpu", c_ushort),
        ("cpuTime", c_ulonglong),
    ]


_ERROR_HANDLER = ctypes.CFUNCTYPE(None, c_void_p, POINTER(_virError))

# (name, result type, argument types); pointers the caller frees come back as c_void_p.
_SIGNATURES = [
    ("virConnectOpen", c_void_p, [c_char_p]),
    ("virConnectOpenReadOnly", c_void_p, [c_char_p]),
    ("virConnectClose", c_int, [c_void_p]),
    ("virConnectGetURI", c_void_p, [c_void_p]),
    ("virDomainLookupByName", c_void_p, [c_void_p, c_char_p]),
    ("virDomainCreateXML", c_void_p, [c_void_p, c_char_p, c_uint]),
    ("virDomainDefineXML", c_void_p, [c_void_p, c_char_p]),
    ("virDomainFree", c_int, [c_void_p]),
    ("virDomainGetName", c_char_p, [c_void_p]),
    ("virDomainGetID", c_uint, [c_void_p]),
    ("virDomainGetXMLDesc", c_void_p, [c_void_p, c_uint]),
    ("virDomainGetState", c_int, [c_void_p, POINTER(c_int), POINTER(c_int), c_uint]),
    ("virDomainGetInfo", c_int, [c_void_p, POINTER(_virDomainInfo)]),
    ("virDomainIsActive", c_int, [c_void_p]),
    ("virDomainSave", c_int, [c_void_p, c_char_p]),
    ("virDomainSaveFlags", c_int, [c_void_p, c_char_p, c_char_p, c_uint]),
    ("virDomainRestore", c_int, [c_void_p, c_char_p]),
    ("virDomainRestoreFlags", c_int, [c_void_p, c_char_p, c_char_p, c_uint]),
    ("virDomainSaveImageGetXMLDesc", c_void_p, [c_void_p, c_char_p, c_uint]),
    ("virDomainSaveImageDefineXML", c_int, [c_void_p, c_char_p, c_char_p, c_uint]),
    ("virGetLastError", POINTER(_virError), []),
    ("virSetErrorFunc", None, [c_void_p, _ERROR_HANDLER]),
]


def _load():
    lib = ctypes.CDLL(os.environ.get("VIRSHIM_LIB", "libvirt.so.0"))
    for name, restype, argtypes in _SIGNATURES:
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    libc = ctypes.CDLL(None)
    libc.free.argtypes = [c_void_p]
    libc.free.restype = None
    return lib, libc


_lib, _libc = _load()

# Errors become exceptions here; libvirt's default handler would also print them.
_quiet = _ERROR_HANDLER(lambda _data, _err: None)
_lib.virSetErrorFunc(None, _quiet)


class libvirtError(Exception):
    """A failed call, with libvirt's error code, domain and message."""

    def __init__(self, defmsg):
        err = _lib.virGetLastError()
        if err:
            e = err.contents
            self.err = (
                e.code,
                e.domain,
                _text(e.message),
                e.level,
                _text(e.str1),
                _text(e.str2),
                _text(e.str3),
                e.int1,
                e.int2,
            )
            msg = self.err[2] or defmsg
        else:
            self.err = None
            msg = defmsg
        super().__init__(msg)

    def get_error_code(self):
        return self.err[0] if self.err else None

    def get_error_domain(self):
        return self.err[1] if self.err else None

    def get_error_message(self):
        return self.err[2] if self.err else None

    def get_error_level(self):
        return self.err[3] if self.err else None


def _text(raw):
    return raw.decode("utf-8", "replace") if raw is not None else None


def _arg(s):
    return s.encode() if isinstance(s, str) else s


def _owned_string(ptr, what):
    """The text of a string the library allocated, which is then freed."""
    if not ptr:
        raise libvirtError(f"{what}() failed")
    try:
        return ctypes.string_at(ptr).decode()
    finally:
        _libc.free(ptr)


def _check(ret, what):
    if ret < 0:
        raise libvirtError(f"{what}() failed")
    return ret


class virConnect:
    """A connection, as libvirt-python's ``virConnect``."""

    def __init__(self, ptr):
        self._ptr = ptr

    def close(self):
        ret = 0
        if self._ptr:
            ret = _check(_lib.virConnectClose(self._ptr), "virConnectClose")
            self._ptr = None
        return ret

    def __del__(self):
        if getattr(self, "_ptr", None):
            _lib.virConnectClose(self._ptr)

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.close()

    def getURI(self):
        return _owned_string(_lib.virConnectGetURI(self._ptr), "virConnectGetURI")

    def _domain(self, ptr, what):
        if not ptr:
            raise libvirtError(f"{what}() failed")
        return virDomain(self, ptr)

    def lookupByName(self, name):
        return self._domain(_lib.virDomainLookupByName(self._ptr, _arg(name)), "virDomainLookupByName")

    def createXML(self, xmlDesc, flags=0):
        return self._domain(_lib.virDomainCreateXML(self._ptr, _arg(xmlDesc), flags), "virDomainCreateXML")

    def defineXML(self, xml):
        return self._domain(_lib.virDomainDefineXML(self._ptr, _arg(xml)), "virDomainDefineXML")

    def restore(self, frm):
        return _check(_lib.virDomainRestore(self._ptr, _arg(frm)), "virDomainRestore")

    def restoreFlags(self, frm, dxml=None, flags=0):
        return _check(
            _lib.virDomainRestoreFlags(self._ptr, _arg(frm), _arg(dxml), flags),
            "virDomainRestoreFlags",
        )

    def saveImageGetXMLDesc(self, file, flags=0):
        return _owned_string(
            _lib.virDomainSaveImageGetXMLDesc(self._ptr, _arg(file), flags),
            "virDomainSaveImageGetXMLDesc",
        )

    def saveImageDefineXML(self, file, dxml, flags=0):
        return _check(
            _lib.virDomainSaveImageDefineXML(self._ptr, _arg(file), _arg(dxml), flags),
            "virDomainSaveImageDefineXML",
        )


class virDomain:
    """A domain handle, as libvirt-python's ``virDomain``."""

    def __init__(self, conn, ptr):
        self._conn = conn
        self._ptr = ptr

    def __del__(self):
        if getattr(self, "_ptr", None):
            _lib.virDomainFree(self._ptr)
            self._ptr = None

    def connect(self):
        return self._conn

    def name(self):
        return _text(_lib.virDomainGetName(self._ptr))

    def ID(self):
        domid = _lib.virDomainGetID(self._ptr)
        return -1 if domid == 0xFFFFFFFF else domid

    def XMLDesc(self, flags=0):
        return _owned_string(_lib.virDomainGetXMLDesc(self._ptr, flags), "virDomainGetXMLDesc")

    def state(self, flags=0):
        state, reason = c_int(), c_int()
        _check(
            _lib.virDomainGetState(self._ptr, ctypes.byref(state), ctypes.byref(reason), flags),
            "virDomainGetState",
        )
        return [state.value, reason.value]

    def info(self):
        i = _virDomainInfo()
        _check(_lib.virDomainGetInfo(self._ptr, ctypes.byref(i)), "virDomainGetInfo")
        return [i.state, i.maxMem, i.memory, i.nrVirtCpu, i.cpuTime]

    def isActive(self):
        return _check(_lib.virDomainIsActive(self._ptr), "virDomainIsActive")

    def save(self, to):
        return _check(_lib.virDomainSave(self._ptr, _arg(to)), "virDomainSave")

    def saveFlags(self, to, dxml=None, flags=0):
        return _check(
            _lib.virDomainSaveFlags(self._ptr, _arg(to), _arg(dxml), flags),
            "virDomainSaveFlags",
        )


def open(name=None):  # noqa: A001 - libvirt-python's name
    """Opens a connection, as ``libvirt.open``."""
    ptr = _lib.virConnectOpen(_arg(name))
    if not ptr:
        raise libvirtError("virConnectOpen() failed")
    return virConnect(ptr)


def openReadOnly(name=None):
    """Opens a read-only connection, as ``libvirt.openReadOnly``."""
    ptr = _lib.virConnectOpenReadOnly(_arg(name))
    if not ptr:
        raise libvirtError("virConnectOpenReadOnly() failed")
    return virConnect(ptr)
