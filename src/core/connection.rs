//! A connection: the public layer's calls that concern no domain yet.

use std::ffi::CStr;
use std::path::Path;
use std::sync::Arc;

use super::driver::{DomainId, Driver, SaveRestore};
use super::{path, Domain};
use crate::abi::virErrorDomain::VIR_FROM_DOMAIN;
use crate::abi::virErrorNumber::{VIR_ERR_NO_SUPPORT, VIR_ERR_OPERATION_DENIED};
use crate::abi::{
    check_exclusive, ConnectFlags, CreateFlags, DefineFlags, ListDomainsFlags, SaveImageXmlFlags,
    SaveRestoreFlags,
};
use crate::{Error, Result};

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
    /// A connection to `driver`, which was opened for `uri` with `flags`
    /// ([`ConnectFlags::RO`] makes it read-only).
    pub fn new(uri: String, flags: ConnectFlags, driver: Arc<dyn Driver>) -> Connection {
        Connection {
            inner: Arc::new(ConnectionInner {
                uri,
                read_only: flags.contains(ConnectFlags::RO),
                driver,
            }),
        }
    }

    pub fn uri(&self) -> &str {
        &self.inner.uri
    }

    pub fn is_read_only(&self) -> bool {
        self.inner.read_only
    }

    /// The driver's name, as `virConnectGetType` reports it.
    pub fn type_name(&self) -> &'static CStr {
        self.inner.driver.type_name()
    }

    pub fn hypervisor_version(&self) -> u64 {
        self.inner.driver.hypervisor_version()
    }

    /// Whether two values are the same connection.
    pub fn same(&self, other: &Connection) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    pub(super) fn driver(&self) -> &dyn Driver {
        &*self.inner.driver
    }

    /// The driver's save/restore calls, or libvirt's error for a driver without them,
    /// naming the call `api`.
    pub(super) fn save_restore(&self, api: &str) -> Result<&dyn SaveRestore> {
        self.driver().save_restore().ok_or_else(|| no_support(api))
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
        Domain::new(self.clone(), id)
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
    pub fn list_all_domains(&self, flags: ListDomainsFlags) -> Result<Vec<Domain>> {
        self.driver().list_all(flags).map(|ids| self.domains(ids))
    }

    pub fn active_domain_ids(&self) -> Result<Vec<i32>> {
        self.driver().active_ids()
    }

    pub fn defined_domain_names(&self) -> Result<Vec<String>> {
        self.driver().defined_names()
    }

    pub fn create_xml(&self, xml: &str, flags: CreateFlags) -> Result<Domain> {
        self.deny_read_only("virDomainCreateXML")?;
        self.driver().create_xml(xml, flags).map(|d| self.domain(d))
    }

    pub fn define_xml(&self, xml: &str) -> Result<Domain> {
        self.define_xml_as("virDomainDefineXML", xml, DefineFlags::empty())
    }

    pub fn define_xml_flags(&self, xml: &str, flags: DefineFlags) -> Result<Domain> {
        self.define_xml_as("virDomainDefineXMLFlags", xml, flags)
    }

    fn define_xml_as(&self, api: &str, xml: &str, flags: DefineFlags) -> Result<Domain> {
        self.deny_read_only(api)?;
        self.driver().define_xml(xml, flags).map(|d| self.domain(d))
    }

    /// `virDomainRestore`: starts the domain saved in `from`.
    pub fn restore(&self, from: &Path) -> Result<()> {
        self.restore_as("virDomainRestore", from, None, SaveRestoreFlags::empty())
    }

    /// `virDomainRestoreFlags`: `dxml` may replace the saved XML with a compatible one;
    /// `RUNNING`/`PAUSED` override the state the image records.
    pub fn restore_flags(
        &self,
        from: &Path,
        dxml: Option<&str>,
        flags: SaveRestoreFlags,
    ) -> Result<()> {
        self.restore_as("virDomainRestoreFlags", from, dxml, flags)
    }

    fn restore_as(
        &self,
        api: &str,
        from: &Path,
        dxml: Option<&str>,
        flags: SaveRestoreFlags,
    ) -> Result<()> {
        self.deny_read_only(api)?;
        check_running_paused(api, flags)?;
        let from = path::absolute(from, "input")?;
        self.save_restore(api)?.restore(&from, dxml, flags)
    }

    /// `virDomainSaveImageGetXMLDesc`: the domain XML stored in a save image.
    pub fn save_image_xml_desc(&self, file: &Path, flags: SaveImageXmlFlags) -> Result<String> {
        let api = "virDomainSaveImageGetXMLDesc";
        self.deny_read_only(api)?;
        let file = path::absolute(file, "input")?;
        self.save_restore(api)?.save_image_xml(&file, flags)
    }

    /// `virDomainSaveImageDefineXML`: replaces the domain XML stored in a save image.
    pub fn save_image_define_xml(
        &self,
        file: &Path,
        dxml: &str,
        flags: SaveRestoreFlags,
    ) -> Result<()> {
        let api = "virDomainSaveImageDefineXML";
        self.deny_read_only(api)?;
        check_running_paused(api, flags)?;
        let file = path::absolute(file, "input")?;
        self.save_restore(api)?
            .save_image_define_xml(&file, dxml, flags)
    }
}

/// libvirt's error for a call the connection's driver does not have.
pub(super) fn no_support(api: &str) -> Error {
    Error::new(VIR_ERR_NO_SUPPORT, VIR_FROM_DOMAIN, api)
}

/// `RUNNING` and `PAUSED` contradict each other.
pub(super) fn check_running_paused(api: &str, flags: SaveRestoreFlags) -> Result<()> {
    check_exclusive(
        flags,
        (SaveRestoreFlags::RUNNING, "VIR_DOMAIN_SAVE_RUNNING"),
        (SaveRestoreFlags::PAUSED, "VIR_DOMAIN_SAVE_PAUSED"),
        api,
    )
}
