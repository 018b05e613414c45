//! The driver traits: what a hypervisor behind a connection must do, and what it may.
//!
//! [`Driver`] is what every driver has: identity, lookups, life cycle and state. A family
//! of calls a driver may lack is a capability trait of its own ([`SaveRestore`],
//! [`MemoryPeek`]), reached through an accessor that returns `None` by default; the public
//! layer turns `None` into libvirt's `VIR_ERR_NO_SUPPORT` ("this function is not supported
//! by the connection driver: virDomainSave"). A new family (managed save, snapshots, jobs,
//! events) is a new trait and accessor here, and only the drivers that have it implement it.
//!
//! A driver checks its own flags (naming its own functions, as libvirt drivers do) and
//! reports its own errors; the public layer in [`crate::core`] has already made the
//! checks libvirt makes before dispatching.

use std::ffi::CStr;
use std::path::Path;

use super::connection::no_support;
use crate::abi::virDomainState;
use crate::abi::{
    CreateFlags, DefineFlags, DestroyFlags, DomainState, HostnameFlags, ListDomainsFlags,
    MemoryFlags, NoFlags, SaveImageXmlFlags, SaveRestoreFlags, UndefineFlags, XmlFlags,
};
use crate::Result;

/// What a domain handle remembers of its domain: libvirt's `virDomain` caches name, UUID
/// and ID at lookup time, and drivers find the domain again by UUID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainId {
    pub name: String,
    pub uuid: [u8; 16],
    /// -1 when the domain was not running at lookup time.
    pub id: i32,
}

impl DomainId {
    /// The UUID as libvirt prints it.
    pub fn uuid_string(&self) -> String {
        crate::xml::format_uuid(&self.uuid)
    }
}

/// The figures of `virDomainGetInfo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DomainInfo {
    pub state: virDomainState,
    pub max_mem_kib: u64,
    pub memory_kib: u64,
    pub vcpus: u32,
    pub cpu_time_ns: u64,
}

/// A hypervisor. Every method may fail with a libvirt error of the driver's domain.
pub trait Driver: Send + Sync {
    /// The name `virConnectGetType` reports ("TEST", "QEMU"), as C sees it.
    fn type_name(&self) -> &'static CStr;
    /// The hypervisor version `virConnectGetVersion` reports.
    fn hypervisor_version(&self) -> u64;

    fn lookup_by_name(&self, name: &str) -> Result<DomainId>;
    fn lookup_by_id(&self, id: i32) -> Result<DomainId>;
    fn lookup_by_uuid(&self, uuid: &[u8; 16]) -> Result<DomainId>;
    /// Domains matching `virConnectListAllDomains` flags, in the driver's order.
    fn list_all(&self, flags: ListDomainsFlags) -> Result<Vec<DomainId>>;
    fn active_ids(&self) -> Result<Vec<i32>>;
    fn defined_names(&self) -> Result<Vec<String>>;

    fn define_xml(&self, xml: &str, flags: DefineFlags) -> Result<DomainId>;
    fn create_xml(&self, xml: &str, flags: CreateFlags) -> Result<DomainId>;
    fn create(&self, dom: &DomainId, flags: CreateFlags) -> Result<()>;
    fn destroy(&self, dom: &DomainId, flags: DestroyFlags) -> Result<()>;
    fn suspend(&self, dom: &DomainId) -> Result<()>;
    fn resume(&self, dom: &DomainId) -> Result<()>;
    fn undefine(&self, dom: &DomainId, flags: UndefineFlags) -> Result<()>;

    fn xml_desc(&self, dom: &DomainId, flags: XmlFlags) -> Result<String>;
    fn state(&self, dom: &DomainId, flags: NoFlags) -> Result<DomainState>;
    fn info(&self, dom: &DomainId) -> Result<DomainInfo>;
    fn is_active(&self, dom: &DomainId) -> Result<bool>;
    fn is_persistent(&self, dom: &DomainId) -> Result<bool>;

    /// `virDomainGetHostname`: the running domain's host name. A single optional call
    /// is a method whose default is libvirt's `VIR_ERR_NO_SUPPORT`; a family of calls is
    /// a capability trait below.
    fn hostname(&self, dom: &DomainId, flags: HostnameFlags) -> Result<String> {
        let _ = (dom, flags);
        Err(no_support("virDomainGetHostname"))
    }

    /// Saving domains to files and restoring them, if the driver can.
    fn save_restore(&self) -> Option<&dyn SaveRestore> {
        None
    }

    /// Reading a running domain's memory, if the driver can.
    fn memory_peek(&self) -> Option<&dyn MemoryPeek> {
        None
    }
}

/// `virDomainSave*`, `virDomainRestore*` and the save-image XML calls.
pub trait SaveRestore {
    fn save(
        &self,
        dom: &DomainId,
        to: &Path,
        dxml: Option<&str>,
        flags: SaveRestoreFlags,
    ) -> Result<()>;
    fn restore(&self, from: &Path, dxml: Option<&str>, flags: SaveRestoreFlags) -> Result<()>;
    fn save_image_xml(&self, file: &Path, flags: SaveImageXmlFlags) -> Result<String>;
    fn save_image_define_xml(&self, file: &Path, dxml: &str, flags: SaveRestoreFlags)
        -> Result<()>;
}

/// `virDomainMemoryPeek`.
pub trait MemoryPeek {
    /// `size` bytes of the running domain's memory from `start`, virtual or physical as
    /// `flags` says.
    fn memory_peek(
        &self,
        dom: &DomainId,
        start: u64,
        size: usize,
        flags: MemoryFlags,
    ) -> Result<Vec<u8>>;
}
