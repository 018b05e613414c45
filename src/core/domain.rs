//! A domain handle: the public layer's calls on one domain.

use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

use super::connection::{check_running_paused, no_support};
use super::driver::{DomainId, DomainInfo, Driver};
use super::{path, Connection};
use crate::abi::virErrorDomain::VIR_FROM_DOMAIN;
use crate::abi::virErrorNumber::VIR_ERR_OPERATION_DENIED;
use crate::abi::{
    check_exclusive, CreateFlags, DestroyFlags, DomainState, HostnameFlags, MemoryFlags, NoFlags,
    SaveRestoreFlags, UndefineFlags, XmlFlags,
};
use crate::{Error, Result};

/// A handle to one domain, as libvirt's `virDomain`: it caches name, UUID and ID, and the
/// calls made through it keep its ID current.
pub struct Domain {
    conn: Connection,
    name: String,
    uuid: [u8; 16],
    id: AtomicI32,
}

impl Domain {
    pub(super) fn new(conn: Connection, id: DomainId) -> Domain {
        Domain {
            conn,
            name: id.name,
            uuid: id.uuid,
            id: AtomicI32::new(id.id),
        }
    }

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
        crate::xml::format_uuid(&self.uuid)
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

    pub fn xml_desc(&self, flags: XmlFlags) -> Result<String> {
        if self.conn.is_read_only() && flags.contains(XmlFlags::SECURE) {
            return Err(Error::new(
                VIR_ERR_OPERATION_DENIED,
                VIR_FROM_DOMAIN,
                "virDomainGetXMLDesc with secure flag",
            ));
        }
        self.driver().xml_desc(&self.key(), flags)
    }

    /// `virDomainGetState`: the state and its reason.
    pub fn state(&self, flags: NoFlags) -> Result<DomainState> {
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

    /// `virDomainGetHostname`: the running domain's host name.
    pub fn hostname(&self, flags: HostnameFlags) -> Result<String> {
        let api = "virDomainGetHostname";
        self.conn.deny_read_only(api)?;
        self.driver().hostname(&self.key(), flags)
    }

    pub fn create(&self) -> Result<()> {
        self.create_as("virDomainCreate", CreateFlags::empty())
    }

    pub fn create_with_flags(&self, flags: CreateFlags) -> Result<()> {
        self.create_as("virDomainCreateWithFlags", flags)
    }

    fn create_as(&self, api: &str, flags: CreateFlags) -> Result<()> {
        self.conn.deny_read_only(api)?;
        self.driver().create(&self.key(), flags)?;
        self.refresh_id();
        Ok(())
    }

    pub fn destroy(&self) -> Result<()> {
        self.destroy_as("virDomainDestroy", DestroyFlags::empty())
    }

    pub fn destroy_flags(&self, flags: DestroyFlags) -> Result<()> {
        self.destroy_as("virDomainDestroyFlags", flags)
    }

    fn destroy_as(&self, api: &str, flags: DestroyFlags) -> Result<()> {
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
        self.undefine_as("virDomainUndefine", UndefineFlags::empty())
    }

    pub fn undefine_flags(&self, flags: UndefineFlags) -> Result<()> {
        self.undefine_as("virDomainUndefineFlags", flags)
    }

    fn undefine_as(&self, api: &str, flags: UndefineFlags) -> Result<()> {
        self.conn.deny_read_only(api)?;
        self.driver().undefine(&self.key(), flags)
    }

    /// `virDomainMemoryPeek`: `size` bytes of the running domain's memory from `start`,
    /// `flags` being `VIRTUAL` or `PHYSICAL`. A `size` of 0 tests access.
    pub fn memory_peek(&self, start: u64, size: usize, flags: MemoryFlags) -> Result<Vec<u8>> {
        let api = "virDomainMemoryPeek";
        self.conn.deny_read_only(api)?;
        check_memory_peek_flags(flags)?;
        let peek = self.driver().memory_peek().ok_or_else(|| no_support(api))?;
        let bytes = peek.memory_peek(&self.key(), start, size, flags)?;
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
        self.save_as("virDomainSave", to, None, SaveRestoreFlags::empty())
    }

    /// `virDomainSaveFlags`: `dxml` replaces the XML stored in the image with a compatible
    /// one; `RUNNING`/`PAUSED` choose the state a restore starts in.
    pub fn save_flags(&self, to: &Path, dxml: Option<&str>, flags: SaveRestoreFlags) -> Result<()> {
        self.save_as("virDomainSaveFlags", to, dxml, flags)
    }

    fn save_as(
        &self,
        api: &str,
        to: &Path,
        dxml: Option<&str>,
        flags: SaveRestoreFlags,
    ) -> Result<()> {
        self.conn.deny_read_only(api)?;
        check_running_paused(api, flags)?;
        let to = path::absolute(to, "output")?;
        self.conn
            .save_restore(api)?
            .save(&self.key(), &to, dxml, flags)?;
        self.mark_stopped();
        Ok(())
    }
}

/// `virDomainMemoryPeek`'s flag check in libvirt's public layer: virtual and physical
/// contradict each other (no flag, or an unknown one, is left to the driver to refuse).
pub fn check_memory_peek_flags(flags: MemoryFlags) -> Result<()> {
    check_exclusive(
        flags,
        (MemoryFlags::VIRTUAL, "VIR_MEMORY_VIRTUAL"),
        (MemoryFlags::PHYSICAL, "VIR_MEMORY_PHYSICAL"),
        "virDomainMemoryPeek",
    )
}
