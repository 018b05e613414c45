//! Connections and domains: libvirt's public layer in safe Rust.
//!
//! Each method does what libvirt's public entry point of the same name does before it
//! dispatches to the driver (read-only denial, exclusive flags, absolute paths), so Rust
//! callers get libvirt's behaviour without the C layer. The C layer adds only what C
//! needs: pointer and NULL checks, in libvirt's order.

mod driver;
mod file;
mod path;

use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

pub use driver::{
    check_driver_memory_peek_flags, list_filter_matches, same_domain, DomainId, DomainInfo, Driver,
};
pub use file::open_for_reading;

use crate::abi::virDomainSaveRestoreFlags::{VIR_DOMAIN_SAVE_PAUSED, VIR_DOMAIN_SAVE_RUNNING};
use crate::abi::virDomainState;
use crate::abi::virErrorDomain::VIR_FROM_DOMAIN;
use crate::abi::virErrorNumber::*;
use crate::drivers;
use crate::{Error, Result};

/// libvirt's version number, as `virGetVersion` and `virConnectGetLibVersion` report it.
pub const LIB_VERSION: u64 = 9_000_000;

/// `VIR_CONNECT_RO`: a connection that may look but not change anything.
pub const CONNECT_RO: u32 = 1;
/// `VIR_CONNECT_NO_ALIASES`: do not resolve URI aliases (virshim has none).
pub const CONNECT_NO_ALIASES: u32 = 2;

/// `VIR_MEMORY_VIRTUAL`: `virDomainMemoryPeek` addresses are the guest's virtual ones.
pub const MEMORY_VIRTUAL: u32 = crate::abi::virDomainMemoryFlags::VIR_MEMORY_VIRTUAL as u32;
/// `VIR_MEMORY_PHYSICAL`: `virDomainMemoryPeek` addresses are guest-physical.
pub const MEMORY_PHYSICAL: u32 = crate::abi::virDomainMemoryFlags::VIR_MEMORY_PHYSICAL as u32;

/// The URI a connection gets when the caller names none and `LIBVIRT_DEFAULT_URI` is unset.
pub const DEFAULT_URI: &str = "test:///default";

/// An open connection to a driver. Clones share the connection.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<ConnectionInner>,
}

struct ConnectionInner {
    uri: String,
    read_only: bool,
    driver: Arc<dyn Driver>,
}

impl Connection {
    /// Opens `uri`, or `LIBVIRT_DEFAULT_URI`, or [`DEFAULT_URI`]; `flags` may hold
    /// [`CONNECT_RO`] and [`CONNECT_NO_ALIASES`].
    pub fn open(uri: Option<&str>, flags: u32) -> Result<Connection> {
        let uri = match uri {
            Some(u) if !u.is_empty() => u.to_owned(),
            _ => std::env::var("LIBVIRT_DEFAULT_URI")
                .ok()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| DEFAULT_URI.to_owned()),
        };
        let driver = drivers::open(&uri, flags)?;
        Ok(Connection {
            inner: Arc::new(ConnectionInner {
                uri,
                read_only: flags & CONNECT_RO != 0,
                driver,
            }),
        })
    }

    pub fn uri(&self) -> &str {
        &self.inner.uri
    }

    pub fn is_read_only(&self) -> bool {
        self.inner.read_only
    }

    /// The driver's name, as `virConnectGetType` reports it.
    pub fn type_name(&self) -> &'static str {
        self.inner.driver.type_name()
    }

    pub fn hypervisor_version(&self) -> u64 {
        self.inner.driver.hypervisor_version()
    }

    /// Whether two values are the same connection.
    pub fn same(&self, other: &Connection) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    fn driver(&self) -> &dyn Driver {
        &*self.inner.driver
    }

    /// Refuses a call that changes anything on a read-only connection, naming the call.
    pub fn deny_read_only(&self, api: &str) -> Result<()> {
        if self.inner.read_only {
            return Err(Error::new(
                VIR_ERR_OPERATION_DENIED,
                VIR_FROM_DOMAIN,
                format!("read only access prevents {api}"),
            ));
        }
        Ok(())
    }

    fn domain(&self, id: DomainId) -> Domain {
        Domain {
            conn: self.clone(),
            name: id.name,
            uuid: id.uuid,
            id: AtomicI32::new(id.id),
        }
    }

    fn domains(&self, ids: Vec<DomainId>) -> Vec<Domain> {
        ids.into_iter().map(|id| self.domain(id)).collect()
    }

    pub fn lookup_by_name(&self, name: &str) -> Result<Domain> {
        self.driver().lookup_by_name(name).map(|d| self.domain(d))
    }

    pub fn lookup_by_id(&self, id: i32) -> Result<Domain> {
        if id < 0 {
            return Err(Error::arg_check(
                VIR_FROM_DOMAIN,
                "virDomainLookupByID",
                "id",
                "id in virDomainLookupByID must be zero or greater".into(),
            ));
        }
        self.driver().lookup_by_id(id).map(|d| self.domain(d))
    }

    pub fn lookup_by_uuid(&self, uuid: &[u8; 16]) -> Result<Domain> {
        self.driver().lookup_by_uuid(uuid).map(|d| self.domain(d))
    }

    pub fn lookup_by_uuid_string(&self, uuid: &str) -> Result<Domain> {
        let parsed = crate::xml::parse_uuid(uuid).ok_or_else(|| {
            Error::arg_check(
                VIR_FROM_DOMAIN,
                "virDomainLookupByUUIDString",
                "uuidstr",
                "Invalid UUID".into(),
            )
        })?;
        self.lookup_by_uuid(&parsed)
    }

    /// `virConnectListAllDomains`: the domains matching `flags`.
    pub fn list_all_domains(&self, flags: u32) -> Result<Vec<Domain>> {
        self.driver().list_all(flags).map(|ids| self.domains(ids))
    }

    pub fn active_domain_ids(&self) -> Result<Vec<i32>> {
        self.driver().active_ids()
    }

    pub fn defined_domain_names(&self) -> Result<Vec<String>> {
        self.driver().defined_names()
    }

    pub fn create_xml(&self, xml: &str, flags: u32) -> Result<Domain> {
        self.deny_read_only("virDomainCreateXML")?;
        self.driver().create_xml(xml, flags).map(|d| self.domain(d))
    }

    pub fn define_xml(&self, xml: &str) -> Result<Domain> {
        self.define_xml_as("virDomainDefineXML", xml, 0)
    }

    pub fn define_xml_flags(&self, xml: &str, flags: u32) -> Result<Domain> {
        self.define_xml_as("virDomainDefineXMLFlags", xml, flags)
    }

    fn define_xml_as(&self, api: &str, xml: &str, flags: u32) -> Result<Domain> {
        self.deny_read_only(api)?;
        self.driver().define_xml(xml, flags).map(|d| self.domain(d))
    }

    /// `virDomainRestore`: starts the domain saved in `from`.
    pub fn restore(&self, from: &Path) -> Result<()> {
        self.restore_as("virDomainRestore", from, None, 0)
    }

    /// `virDomainRestoreFlags`: `dxml` may replace the saved XML with a compatible one;
    /// `VIR_DOMAIN_SAVE_RUNNING`/`PAUSED` override the state the image records.
    pub fn restore_flags(&self, from: &Path, dxml: Option<&str>, flags: u32) -> Result<()> {
        self.restore_as("virDomainRestoreFlags", from, dxml, flags)
    }

    fn restore_as(&self, api: &str, from: &Path, dxml: Option<&str>, flags: u32) -> Result<()> {
        self.deny_read_only(api)?;
        check_running_paused(api, flags)?;
        let from = path::absolute(from, "input")?;
        self.driver().restore(&from, dxml, flags)
    }

    /// `virDomainSaveImageGetXMLDesc`: the domain XML stored in a save image.
    pub fn save_image_xml_desc(&self, file: &Path, flags: u32) -> Result<String> {
        self.deny_read_only("virDomainSaveImageGetXMLDesc")?;
        let file = path::absolute(file, "input")?;
        self.driver().save_image_xml(&file, flags)
    }

    /// `virDomainSaveImageDefineXML`: replaces the domain XML stored in a save image.
    pub fn save_image_define_xml(&self, file: &Path, dxml: &str, flags: u32) -> Result<()> {
        self.deny_read_only("virDomainSaveImageDefineXML")?;
        check_running_paused("virDomainSaveImageDefineXML", flags)?;
        let file = path::absolute(file, "input")?;
        self.driver().save_image_define_xml(&file, dxml, flags)
    }
}

/// A handle to one domain, as libvirt's `virDomain`: it caches name, UUID and ID, and the
/// calls made through it keep its ID current.
pub struct Domain {
    conn: Connection,
    name: String,
    uuid: [u8; 16],
    id: AtomicI32,
}

impl Domain {
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn uuid(&self) -> [u8; 16] {
        self.uuid
    }

    pub fn uuid_string(&self) -> String {
        uuid::Uuid::from_bytes(self.uuid).hyphenated().to_string()
    }

    /// The ID cached in this handle (-1 when inactive), as libvirt's `virDomainGetID`.
    pub fn id(&self) -> i32 {
        self.id.load(Ordering::Relaxed)
    }

    fn key(&self) -> DomainId {
        DomainId {
            name: self.name.clone(),
            uuid: self.uuid,
            id: self.id(),
        }
    }

    fn driver(&self) -> &dyn Driver {
        self.conn.driver()
    }

    /// Refreshes the cached ID after a call that may have started the domain.
    fn refresh_id(&self) {
        let id = self
            .driver()
            .lookup_by_uuid(&self.uuid)
            .map_or(-1, |d| d.id);
        self.id.store(id, Ordering::Relaxed);
    }

    fn mark_stopped(&self) {
        self.id.store(-1, Ordering::Relaxed);
    }

    pub fn xml_desc(&self, flags: u32) -> Result<String> {
        use crate::abi::virDomainXMLFlags::VIR_DOMAIN_XML_SECURE;
        if self.conn.is_read_only() && flags & VIR_DOMAIN_XML_SECURE as u32 != 0 {
            return Err(Error::new(
                VIR_ERR_OPERATION_DENIED,
                VIR_FROM_DOMAIN,
                "virDomainGetXMLDesc with secure flag",
            ));
        }
        self.driver().xml_desc(&self.key(), flags)
    }

    /// `virDomainGetState`: the state and its reason.
    pub fn state(&self, flags: u32) -> Result<(virDomainState, i32)> {
        self.driver().state(&self.key(), flags)
    }

    pub fn info(&self) -> Result<DomainInfo> {
        self.driver().info(&self.key())
    }

    pub fn is_active(&self) -> Result<bool> {
        self.driver().is_active(&self.key())
    }

    pub fn is_persistent(&self) -> Result<bool> {
        self.driver().is_persistent(&self.key())
    }

    pub fn create(&self) -> Result<()> {
        self.create_as("virDomainCreate", 0)
    }

    pub fn create_with_flags(&self, flags: u32) -> Result<()> {
        self.create_as("virDomainCreateWithFlags", flags)
    }

    fn create_as(&self, api: &str, flags: u32) -> Result<()> {
        self.conn.deny_read_only(api)?;
        self.driver().create(&self.key(), flags)?;
        self.refresh_id();
        Ok(())
    }

    pub fn destroy(&self) -> Result<()> {
        self.destroy_as("virDomainDestroy", 0)
    }

    pub fn destroy_flags(&self, flags: u32) -> Result<()> {
        self.destroy_as("virDomainDestroyFlags", flags)
    }

    fn destroy_as(&self, api: &str, flags: u32) -> Result<()> {
        self.conn.deny_read_only(api)?;
        self.driver().destroy(&self.key(), flags)?;
        self.mark_stopped();
        Ok(())
    }

    pub fn suspend(&self) -> Result<()> {
        self.conn.deny_read_only("virDomainSuspend")?;
        self.driver().suspend(&self.key())
    }

    pub fn resume(&self) -> Result<()> {
        self.conn.deny_read_only("virDomainResume")?;
        self.driver().resume(&self.key())
    }

    pub fn undefine(&self) -> Result<()> {
        self.undefine_as("virDomainUndefine", 0)
    }

    pub fn undefine_flags(&self, flags: u32) -> Result<()> {
        self.undefine_as("virDomainUndefineFlags", flags)
    }

    fn undefine_as(&self, api: &str, flags: u32) -> Result<()> {
        self.conn.deny_read_only(api)?;
        self.driver().undefine(&self.key(), flags)
    }

    /// `virDomainMemoryPeek`: `size` bytes of the running domain's memory from `start`,
    /// `flags` being [`MEMORY_VIRTUAL`] or [`MEMORY_PHYSICAL`]. A `size` of 0 tests access.
    pub fn memory_peek(&self, start: u64, size: usize, flags: u32) -> Result<Vec<u8>> {
        self.conn.deny_read_only("virDomainMemoryPeek")?;
        check_memory_peek_flags(flags)?;
        let bytes = self.driver().memory_peek(&self.key(), start, size, flags)?;
        if bytes.len() != size {
            return Err(Error::internal(format!(
                "virDomainMemoryPeek read {} bytes of {size}",
                bytes.len()
            )));
        }
        Ok(bytes)
    }

    /// `virDomainSave`: writes the domain's state to `to` and stops it.
    pub fn save(&self, to: &Path) -> Result<()> {
        self.save_as("virDomainSave", to, None, 0)
    }

    /// `virDomainSaveFlags`: `dxml` replaces the XML stored in the image with a compatible
    /// one; `VIR_DOMAIN_SAVE_RUNNING`/`PAUSED` choose the state a restore starts in.
    pub fn save_flags(&self, to: &Path, dxml: Option<&str>, flags: u32) -> Result<()> {
        self.save_as("virDomainSaveFlags", to, dxml, flags)
    }

    fn save_as(&self, api: &str, to: &Path, dxml: Option<&str>, flags: u32) -> Result<()> {
        self.conn.deny_read_only(api)?;
        check_running_paused(api, flags)?;
        let to = path::absolute(to, "output")?;
        self.driver().save(&self.key(), &to, dxml, flags)?;
        self.mark_stopped();
        Ok(())
    }
}

/// `virDomainMemoryPeek`'s flag check in libvirt's public layer: virtual and physical
/// contradict each other (no flag, or an unknown one, is left to the driver to refuse).
pub fn check_memory_peek_flags(flags: u32) -> Result<()> {
    let both = MEMORY_VIRTUAL | MEMORY_PHYSICAL;
    if flags & both == both {
        return Err(Error::arg_check(
            VIR_FROM_DOMAIN,
            "virDomainMemoryPeek",
            "ctl",
            "Flags 'VIR_MEMORY_VIRTUAL' and 'VIR_MEMORY_PHYSICAL' are mutually exclusive".into(),
        ));
    }
    Ok(())
}

/// `VIR_DOMAIN_SAVE_RUNNING` and `VIR_DOMAIN_SAVE_PAUSED` contradict each other.
fn check_running_paused(api: &str, flags: u32) -> Result<()> {
    let both = VIR_DOMAIN_SAVE_RUNNING as u32 | VIR_DOMAIN_SAVE_PAUSED as u32;
    if flags & both == both {
        return Err(Error::arg_check(
            VIR_FROM_DOMAIN,
            api,
            "ctl",
            "Flags 'VIR_DOMAIN_SAVE_RUNNING' and 'VIR_DOMAIN_SAVE_PAUSED' are mutually exclusive"
                .into(),
        ));
    }
    Ok(())
}
