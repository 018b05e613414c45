//! Connections: open, close, identify; and the library-wide calls.

use std::ffi::{c_char, c_int, c_uint, c_ulong};
use std::ptr;
use std::sync::Mutex;

use super::call::entry;
use super::cstr;
use super::handles::{Released, CONNECTIONS};
use super::types::{
    virConnect, virConnectAuth, virConnectAuthPtr, virConnectPtr, LIBVIR_VERSION_NUMBER,
};
use crate::abi::virErrorDomain::VIR_FROM_NONE;
use crate::abi::virErrorNumber::VIR_ERR_NO_CONNECT;
use crate::abi::ConnectFlags;
use crate::drivers;
use crate::Error;

/// Does nothing: virshim needs no global set-up. Kept for libvirt's callers.
#[no_mangle]
pub extern "C" fn virInitialize() -> c_int {
    0
}

/// Reports libvirt's version in `libVer`, and the same in `typeVer` when given.
#[no_mangle]
pub unsafe extern "C" fn virGetVersion(
    libVer: *mut c_ulong,
    type_: *const c_char,
    typeVer: *mut c_ulong,
) -> c_int {
    let _ = type_;
    entry("virGetVersion", -1, |_| {
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
    })
}

fn open(name: *const c_char, flags: ConnectFlags, api: &'static str) -> virConnectPtr {
    entry(api, ptr::null_mut(), |_| {
        // SAFETY: `name` is NULL or a C string, per the contract.
        let uri = unsafe { cstr::borrow(name) }
            .map(|u| {
                u.to_str().map_err(|_| {
                    Error::new(VIR_ERR_NO_CONNECT, VIR_FROM_NONE, "URI that is not UTF-8")
                })
            })
            .transpose()?;
        let conn = drivers::connect(uri, flags)?;
        Ok(CONNECTIONS.insert(virConnect {
            conn,
            last_error: Mutex::default(),
            handler: Mutex::new(None),
        }))
    })
}

/// Opens a connection to the hypervisor `name` names; NULL means `LIBVIRT_DEFAULT_URI`,
/// else `test:///default`.
#[no_mangle]
pub unsafe extern "C" fn virConnectOpen(name: *const c_char) -> virConnectPtr {
    open(name, ConnectFlags::empty(), "virConnectOpen")
}

/// Opens a connection that may look but not change anything.
#[no_mangle]
pub unsafe extern "C" fn virConnectOpenReadOnly(name: *const c_char) -> virConnectPtr {
    open(name, ConnectFlags::RO, "virConnectOpenReadOnly")
}

/// Opens a connection; `auth` is not needed by virshim's drivers (none asks for
/// credentials), `flags` may ask for
/// `VIR_CONNECT_RO`.
#[no_mangle]
pub unsafe extern "C" fn virConnectOpenAuth(
    name: *const c_char,
    auth: virConnectAuthPtr,
    flags: c_uint,
) -> virConnectPtr {
    let _ = auth;
    open(
        name,
        ConnectFlags::from_bits_retain(flags),
        "virConnectOpenAuth",
    )
}

/// Adds a reference to `conn`, to be dropped by `virConnectClose`.
#[no_mangle]
pub extern "C" fn virConnectRef(conn: virConnectPtr) -> c_int {
    entry("virConnectRef", -1, |call| {
        call.conn(conn)?;
        CONNECTIONS.add_ref(conn);
        Ok(0)
    })
}

/// Drops a reference to `conn`: 1 while references remain, 0 once it is closed.
#[no_mangle]
pub extern "C" fn virConnectClose(conn: virConnectPtr) -> c_int {
    entry("virConnectClose", -1, |call| {
        call.conn_in(conn, VIR_FROM_NONE)?;
        Ok(match CONNECTIONS.release(conn) {
            Some(Released::Kept) => 1,
            _ => 0,
        })
    })
}

/// The URI of `conn`, for the caller to free.
#[no_mangle]
pub extern "C" fn virConnectGetURI(conn: virConnectPtr) -> *mut c_char {
    entry("virConnectGetURI", ptr::null_mut(), |call| {
        cstr::to_c(call.conn(conn)?.conn.uri())
    })
}

/// The name of the driver ("TEST"); owned by the library.
#[no_mangle]
pub extern "C" fn virConnectGetType(conn: virConnectPtr) -> *const c_char {
    entry("virConnectGetType", ptr::null(), |call| {
        Ok(call.conn(conn)?.conn.type_name().as_ptr())
    })
}

/// The hypervisor's version.
#[no_mangle]
pub unsafe extern "C" fn virConnectGetVersion(conn: virConnectPtr, hvVer: *mut c_ulong) -> c_int {
    entry("virConnectGetVersion", -1, |call| {
        let c = call.conn(conn)?;
        let out = call.non_null(hvVer, "hvVer")?;
        // SAFETY: `out` is a caller-provided out-parameter, checked non-NULL.
        unsafe { *out = c.conn.hypervisor_version() as c_ulong };
        Ok(0)
    })
}

/// libvirt's version, as the library behind `conn` reports it.
#[no_mangle]
pub unsafe extern "C" fn virConnectGetLibVersion(
    conn: virConnectPtr,
    libVer: *mut c_ulong,
) -> c_int {
    entry("virConnectGetLibVersion", -1, |call| {
        call.conn(conn)?;
        let out = call.non_null(libVer, "libVer")?;
        // SAFETY: `out` is a caller-provided out-parameter, checked non-NULL.
        unsafe { *out = LIBVIR_VERSION_NUMBER };
        Ok(0)
    })
}

/// 1: an in-process driver's connection stays alive while open.
#[no_mangle]
pub extern "C" fn virConnectIsAlive(conn: virConnectPtr) -> c_int {
    entry("virConnectIsAlive", -1, |call| call.conn(conn).map(|_| 1))
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
