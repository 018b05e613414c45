//! The C-visible objects and structures of libvirt's domain API.

use std::ffi::{c_char, c_int, c_uchar, c_uint, c_ulong, c_ulonglong, c_ushort, c_void, CString};
use std::sync::{Arc, Mutex};

use super::error::{ErrorSlot, Handler};
use crate::core::{Connection, Domain};

/// libvirt's version as one number: major * 1,000,000 + minor * 1,000 + micro.
pub const LIBVIR_VERSION_NUMBER: c_ulong = 9_000_000;

/// The length of a UUID in bytes (`virDomainGetUUID`).
pub const VIR_UUID_BUFLEN: usize = 16;

/// The size of the buffer `virDomainGetUUIDString` fills, terminator included.
pub const VIR_UUID_STRING_BUFLEN: usize = 37;

/// A connection to a hypervisor. Opaque.
pub struct virConnect {
    pub(super) conn: Connection,
    /// The last error of a call on this connection (`virConnGetLastError`).
    pub(super) last_error: Mutex<ErrorSlot>,
    /// The handler `virConnSetErrorFunc` installed.
    pub(super) handler: Mutex<Option<Handler>>,
}

/// A pointer to a connection.
pub type virConnectPtr = *mut virConnect;

/// One credential an authentication callback is asked for.
#[repr(C)]
pub struct virConnectCredential {
    /// One of `virConnectCredentialType`.
    pub r#type: c_int,
    /// The prompt to show the user.
    pub prompt: *const c_char,
    /// Additional challenge to show.
    pub challenge: *const c_char,
    /// The default result, if any.
    pub defresult: *const c_char,
    /// The result, allocated by the callback.
    pub result: *mut c_char,
    /// The length of `result`.
    pub resultlen: c_uint,
}

/// A pointer to a credential.
pub type virConnectCredentialPtr = *mut virConnectCredential;

/// Asks the user for `ncred` credentials; 0 on success, -1 on failure.
pub type virConnectAuthCallbackPtr = Option<
    unsafe extern "C" fn(
        cred: virConnectCredentialPtr,
        ncred: c_uint,
        cbdata: *mut c_void,
    ) -> c_int,
>;

/// How to authenticate a connection: the credential types supported and a callback.
#[repr(C)]
pub struct virConnectAuth {
    /// The credential types the callback supports.
    pub credtype: *mut c_int,
    /// The number of entries in `credtype`.
    pub ncredtype: c_uint,
    /// The callback that collects credentials.
    pub cb: virConnectAuthCallbackPtr,
    /// Data for the callback.
    pub cbdata: *mut c_void,
}

/// A pointer to authentication settings.
pub type virConnectAuthPtr = *mut virConnectAuth;

/// A domain handle. Opaque.
pub struct virDomain {
    pub(super) dom: Domain,
    /// The connection the handle keeps a C reference on.
    pub(super) conn: Arc<virConnect>,
    /// The name, kept for `virDomainGetName`, which lends it to the caller.
    pub(super) name: CString,
}

/// A pointer to a domain handle.
pub type virDomainPtr = *mut virDomain;

/// A network handle. Opaque; only named by the deprecated field of `virError`.
pub struct virNetwork {
    _opaque: [u8; 0],
}

/// A pointer to a network handle.
pub type virNetworkPtr = *mut virNetwork;

/// What `virDomainGetInfo` reports.
#[repr(C)]
pub struct virDomainInfo {
    /// The running state, a `virDomainState`.
    pub state: c_uchar,
    /// The maximum memory in KiB allowed.
    pub maxMem: c_ulong,
    /// The memory in KiB used by the domain.
    pub memory: c_ulong,
    /// The number of virtual CPUs.
    pub nrVirtCpu: c_ushort,
    /// The CPU time used, in nanoseconds.
    pub cpuTime: c_ulonglong,
}

/// A pointer to a `virDomainInfo`.
pub type virDomainInfoPtr = *mut virDomainInfo;
