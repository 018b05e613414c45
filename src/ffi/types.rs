//! The C-visible objects and structures of libvirt's domain API.

use std::ffi::{c_uchar, c_ulong, c_ulonglong, c_ushort, CString};
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

