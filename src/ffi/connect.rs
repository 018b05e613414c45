//! Connections: open, close, identify; and the library-wide calls.

use std::ffi::{c_char, c_int, c_uint, c_ulong};
use std::ptr;
use std::sync::Mutex;

use super::cstr;
use super::handles::{Released, CONNECTIONS};
use super::types::{
    virConnect, virConnectAuth, virConnectAuthPtr, virConnectPtr, LIBVIR_VERSION_NUMBER,
};
use crate::abi::virErrorDomain::VIR_FROM_NONE;
use crate::abi::virErrorNumber::VIR_ERR_NO_CONNECT;
use crate::abi::ConnectFlags;
use crate::drivers;
use crate::{Error, Result};

ffi_fn! {
    /// Does nothing, as virshim needs no global set-up; kept for libvirt's callers, and
    /// leaves the last error alone. Returns 0.
    @keep_error fn virInitialize() -> c_int = -1; {
        0
    }
}

ffi_fn! {
    /// Writes libvirt's version (major * 1000000 + minor * 1000 + micro) to `libVer`, and
    /// the same to `typeVer` when it is not NULL (`type_` is not looked at). Returns 0, or
    /// -1 when `libVer` is NULL.
    fn virGetVersion(libVer: *mut c_ulong, type_: *const c_char, typeVer: *mut c_ulong) -> c_int
        = -1;
    |_| {
        let _ = type_;
        if libVer.is_null() {
            // libvirt fails here without saying why.
            return Err(Error::unknown());
        }
        // SAFETY: both are caller-provided out-parameters, checked or optional.
        unsafe {
            *libVer = LIBVIR_VERSION_NUMBER;
            if !typeVer.is_null() {
                *typeVer = LIBVIR_VERSION_NUMBER;
            }
        }
        Ok(0)
    }
}

/// Opens the connection `name` names (NULL: `LIBVIRT_DEFAULT_URI`, else `test:///default`)
/// and hands its handle to C.
///
/// # Safety
/// `name` is NULL or a C string valid for the call.
unsafe fn open(name: *const c_char, flags: ConnectFlags) -> Result<virConnectPtr> {
    // SAFETY: as the caller guarantees.
    let uri = unsafe { cstr::borrow(name) }
        .map(|u| {
            u.to_str()
                .map_err(|_| Error::new(VIR_ERR_NO_CONNECT, VIR_FROM_NONE, "URI that is not UTF-8"))
        })
        .transpose()?;
    let conn = drivers::connect(uri, flags)?;
    Ok(CONNECTIONS.insert(virConnect {
        conn,
        last_error: Mutex::default(),
        handler: Mutex::new(None),
    }))
}

ffi_fn! {
    /// Opens a read-write connection to the hypervisor `name` names: NULL means
    /// `LIBVIRT_DEFAULT_URI`, else `test:///default`. Returns the connection, or NULL on
    /// failure; release it with `virConnectClose`.
    fn virConnectOpen(name: *const c_char) -> virConnectPtr = ptr::null_mut();
    |_| open(name, ConnectFlags::empty())
}

ffi_fn! {
    /// Opens a connection that may look but not change anything, as `virConnectOpen`.
    /// Returns the connection, or NULL on failure; release it with `virConnectClose`.
    fn virConnectOpenReadOnly(name: *const c_char) -> virConnectPtr = ptr::null_mut();
    |_| open(name, ConnectFlags::RO)
}

ffi_fn! {
    /// Opens a connection as `virConnectOpen`; `flags` may hold `VIR_CONNECT_RO`.
    /// virshim's drivers ask for no credentials, so `auth` is not used. Returns the
    /// connection, or NULL on failure; release it with `virConnectClose`.
    fn virConnectOpenAuth(name: *const c_char, auth: virConnectAuthPtr, flags: c_uint)
        -> virConnectPtr = ptr::null_mut();
    |_| {
        let _ = auth;
        open(name, ConnectFlags::from_bits_retain(flags))
    }
}

ffi_fn! {
    /// Adds a reference to `conn`, so that it stays open until one more
    /// `virConnectClose`. Returns 0, or -1 for a bad connection.
    fn virConnectRef(conn: virConnectPtr) -> c_int = -1; |call| {
        call.conn(conn)?;
        CONNECTIONS.add_ref(conn);
        Ok(0)
    }
}

ffi_fn! {
    /// Drops a reference to `conn`; the last one closes it. Returns the references left
    /// (1 while some remain, 0 once closed), or -1 for a bad connection.
    fn virConnectClose(conn: virConnectPtr) -> c_int = -1; |call| {
        call.conn_in(conn, VIR_FROM_NONE)?;
        Ok(match CONNECTIONS.release(conn) {
            Some(Released::Kept) => 1,
            _ => 0,
        })
    }
}

ffi_fn! {
    /// The URI of `conn`, or NULL on failure; the caller frees it with `free()`.
    fn virConnectGetURI(conn: virConnectPtr) -> *mut c_char = ptr::null_mut(); |call| {
        cstr::to_c(call.conn(conn)?.conn.uri())
    }
}

ffi_fn! {
    /// The name of the driver behind `conn` ("TEST" or "QEMU"), or NULL on failure. The
    /// string is static: do not free it.
    fn virConnectGetType(conn: virConnectPtr) -> *const c_char = ptr::null(); |call| {
        Ok(call.conn(conn)?.conn.type_name().as_ptr())
    }
}

ffi_fn! {
    /// Writes the hypervisor's version (major * 1000000 + minor * 1000 + micro) to
    /// `hvVer`. Returns 0, or -1 on failure.
    fn virConnectGetVersion(conn: virConnectPtr, hvVer: *mut c_ulong) -> c_int = -1; |call| {
        let c = call.conn(conn)?;
        let out = call.non_null(hvVer, "hvVer")?;
        // SAFETY: `out` is a caller-provided out-parameter, checked non-NULL.
        unsafe { *out = c.conn.hypervisor_version() as c_ulong };
        Ok(0)
    }
}

ffi_fn! {
    /// Writes the version of the library behind `conn` to `libVer`, as `virGetVersion`.
    /// Returns 0, or -1 on failure.
    fn virConnectGetLibVersion(conn: virConnectPtr, libVer: *mut c_ulong) -> c_int = -1;
    |call| {
        call.conn(conn)?;
        let out = call.non_null(libVer, "libVer")?;
        // SAFETY: `out` is a caller-provided out-parameter, checked non-NULL.
        unsafe { *out = LIBVIR_VERSION_NUMBER };
        Ok(0)
    }
}

ffi_fn! {
    /// Whether `conn` is alive: 1, as an in-process driver's connection stays alive while
    /// open; -1 for a bad connection.
    fn virConnectIsAlive(conn: virConnectPtr) -> c_int = -1; |call| call.conn(conn).map(|_| 1)
}

/// What `virConnectAuthPtrDefault` points to: no credential types and no callback, as
/// virshim's drivers never ask for credentials.
static mut DEFAULT_AUTH: virConnectAuth = virConnectAuth {
    credtype: ptr::null_mut(),
    ncredtype: 0,
    cb: None,
    cbdata: ptr::null_mut(),
};

/// The authentication settings programs pass to `virConnectOpenAuth` by default.
#[no_mangle]
pub static mut virConnectAuthPtrDefault: virConnectAuthPtr = &raw mut DEFAULT_AUTH;
