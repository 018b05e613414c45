//! The driver trait: what a hypervisor behind a connection must do.
//!
//! A driver checks its own flags (naming its own functions, as libvirt drivers do) and
//! reports its own errors; the public layer in [`crate::core`] has already done the
//! checks libvirt does before dispatching.

use std::path::Path;

use crate::abi::virConnectListAllDomainsFlags::{self, *};
use crate::abi::virDomainState::{self, *};
use crate::abi::virErrorDomain::{self, VIR_FROM_DOMAIN};
use crate::abi::virErrorNumber::{
    VIR_ERR_INVALID_ARG, VIR_ERR_NO_SUPPORT, VIR_ERR_OPERATION_FAILED,
};
use crate::xml::DomainDef;
use crate::{Error, Result};

/// What a domain handle remembers of its domain: libvirt's `virDomain` caches name, UUID
/// and ID at lookup time, and drivers find the domain again by UUID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainId {
    pub name: String,
    pub uuid: [u8; 16],
    /// -1 when the domain was not running at lookup time.
    pub id: i32,
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
    /// The name `virConnectGetType` reports ("TEST", "QEMU").
    fn type_name(&self) -> &'static str;
    /// The hypervisor version `virConnectGetVersion` reports.
    fn hypervisor_version(&self) -> u64;

    fn lookup_by_name(&self, name: &str) -> Result<DomainId>;
    fn lookup_by_id(&self, id: i32) -> Result<DomainId>;
    fn lookup_by_uuid(&self, uuid: &[u8; 16]) -> Result<DomainId>;
    /// Domains matching `virConnectListAllDomains` flags, in the driver's order.
    fn list_all(&self, flags: u32) -> Result<Vec<DomainId>>;
    fn active_ids(&self) -> Result<Vec<i32>>;
    fn defined_names(&self) -> Result<Vec<String>>;

    fn define_xml(&self, xml: &str, flags: u32) -> Result<DomainId>;
    fn create_xml(&self, xml: &str, flags: u32) -> Result<DomainId>;
    fn create(&self, dom: &DomainId, flags: u32) -> Result<()>;
    fn destroy(&self, dom: &DomainId, flags: u32) -> Result<()>;
    fn suspend(&self, dom: &DomainId) -> Result<()>;
    fn resume(&self, dom: &DomainId) -> Result<()>;
    fn undefine(&self, dom: &DomainId, flags: u32) -> Result<()>;

    fn xml_desc(&self, dom: &DomainId, flags: u32) -> Result<String>;
    fn state(&self, dom: &DomainId, flags: u32) -> Result<(virDomainState, i32)>;
    fn info(&self, dom: &DomainId) -> Result<DomainInfo>;
    fn is_active(&self, dom: &DomainId) -> Result<bool>;
    fn is_persistent(&self, dom: &DomainId) -> Result<bool>;

    fn save(&self, dom: &DomainId, to: &Path, dxml: Option<&str>, flags: u32) -> Result<()>;
    fn restore(&self, from: &Path, dxml: Option<&str>, flags: u32) -> Result<()>;
    fn save_image_xml(&self, file: &Path, flags: u32) -> Result<String>;
    fn save_image_define_xml(&self, file: &Path, dxml: &str, flags: u32) -> Result<()>;

    /// `virDomainMemoryPeek`: `size` bytes of the running domain's memory from `start`,
    /// virtual or physical as `flags` says (`VIR_MEMORY_VIRTUAL`, `VIR_MEMORY_PHYSICAL`).
    /// A driver without it fails as libvirt's public layer does for a missing call.
    fn memory_peek(&self, dom: &DomainId, start: u64, size: usize, flags: u32) -> Result<Vec<u8>> {
        let _ = (dom, start, size, flags);
        Err(Error::new(
            VIR_ERR_NO_SUPPORT,
            VIR_FROM_DOMAIN,
            "virDomainMemoryPeek",
        ))
    }
}

/// The domain among `existing` that defining `def` concerns: the index of the one with
/// its UUID and name, if any; libvirt's error when only the UUID or only the name matches.
pub fn same_domain<'a, I>(existing: I, def: &DomainDef) -> Result<Option<usize>>
where
    I: IntoIterator<Item = &'a DomainDef>,
{
    let conflict = |message| {
        Err(Error::new(
            VIR_ERR_OPERATION_FAILED,
            VIR_FROM_DOMAIN,
            message,
        ))
    };
    let mut same_name = None;
    for (i, other) in existing.into_iter().enumerate() {
        match (other.uuid() == def.uuid(), other.name() == def.name()) {
            (true, true) => return Ok(Some(i)),
            (true, false) => {
                return conflict(format!(
                    "domain '{}' is already defined with uuid {}",
                    other.name(),
                    def.uuid_string()
                ))
            }
            (false, true) => same_name = same_name.or(Some(other)),
            (false, false) => {}
        }
    }
    match same_name {
        Some(other) => conflict(format!(
            "domain '{}' already exists with uuid {}",
            def.name(),
            other.uuid_string()
        )),
        None => Ok(None),
    }
}

/// Whether a domain passes `virConnectListAllDomains` filters, for drivers that keep no
/// managed save, autostart, snapshot or checkpoint: each group of flags filters only when
/// one of its flags is given.
pub fn list_filter_matches(
    flags: u32,
    active: bool,
    persistent: bool,
    state: virDomainState,
) -> bool {
    let want = |yes: virConnectListAllDomainsFlags, no: virConnectListAllDomainsFlags, is: bool| {
        let (yes, no) = (yes as u32, no as u32);
        flags & (yes | no) == 0 || flags & if is { yes } else { no } != 0
    };
    let state_bits = VIR_CONNECT_LIST_DOMAINS_RUNNING as u32
        | VIR_CONNECT_LIST_DOMAINS_PAUSED as u32
        | VIR_CONNECT_LIST_DOMAINS_SHUTOFF as u32
        | VIR_CONNECT_LIST_DOMAINS_OTHER as u32;
    let state_bit = match state {
        VIR_DOMAIN_RUNNING => VIR_CONNECT_LIST_DOMAINS_RUNNING,
        VIR_DOMAIN_PAUSED => VIR_CONNECT_LIST_DOMAINS_PAUSED,
        VIR_DOMAIN_SHUTOFF => VIR_CONNECT_LIST_DOMAINS_SHUTOFF,
        _ => VIR_CONNECT_LIST_DOMAINS_OTHER,
    } as u32;
    want(
        VIR_CONNECT_LIST_DOMAINS_ACTIVE,
        VIR_CONNECT_LIST_DOMAINS_INACTIVE,
        active,
    ) && want(
        VIR_CONNECT_LIST_DOMAINS_PERSISTENT,
        VIR_CONNECT_LIST_DOMAINS_TRANSIENT,
        persistent,
    ) && (flags & state_bits == 0 || flags & state_bit != 0)
        && want(
            VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE,
            VIR_CONNECT_LIST_DOMAINS_NO_MANAGEDSAVE,
            false,
        )
        && want(
            VIR_CONNECT_LIST_DOMAINS_AUTOSTART,
            VIR_CONNECT_LIST_DOMAINS_NO_AUTOSTART,
            false,
        )
        && want(
            VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT,
            VIR_CONNECT_LIST_DOMAINS_NO_SNAPSHOT,
            false,
        )
        && want(
            VIR_CONNECT_LIST_DOMAINS_HAS_CHECKPOINT,
            VIR_CONNECT_LIST_DOMAINS_NO_CHECKPOINT,
            false,
        )
}

/// A driver's check of `virDomainMemoryPeek` flags, as libvirt's drivers make it: no
/// unknown flag (named after the driver's function `func`), and exactly one of
/// `VIR_MEMORY_VIRTUAL` and `VIR_MEMORY_PHYSICAL`.
pub fn check_driver_memory_peek_flags(
    domain: virErrorDomain,
    flags: u32,
    func: &str,
) -> Result<()> {
    use super::{MEMORY_PHYSICAL, MEMORY_VIRTUAL};
    Error::check_flags(domain, flags, MEMORY_VIRTUAL | MEMORY_PHYSICAL, func)?;
    if flags != MEMORY_VIRTUAL && flags != MEMORY_PHYSICAL {
        return Err(Error::new(
            VIR_ERR_INVALID_ARG,
            domain,
            "flags parameter must be VIR_MEMORY_VIRTUAL or VIR_MEMORY_PHYSICAL",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(name: &str, uuid_end: u8) -> DomainDef {
        let xml = format!(
            "<domain type='test'><name>{name}</name>\
             <uuid>6695eb01-f6a4-8304-79aa-97f2502e19{uuid_end:02x}</uuid>\
             <memory>1024</memory><os><type>hvm</type></os></domain>"
        );
        DomainDef::parse(&xml, &["test"]).unwrap()
    }

    #[test]
    fn a_definition_matches_its_domain_or_conflicts_as_in_libvirt() {
        let doms = [def("a", 1), def("b", 2)];
        assert_eq!(same_domain(&doms, &def("b", 2)).unwrap(), Some(1));
        assert_eq!(same_domain(&doms, &def("c", 3)).unwrap(), None);
        let err = same_domain(&doms, &def("c", 2)).unwrap_err();
        assert_eq!(
            (err.code, err.domain),
            (VIR_ERR_OPERATION_FAILED, VIR_FROM_DOMAIN)
        );
        assert_eq!(
            err.message,
            "operation failed: domain 'b' is already defined with uuid \
             6695eb01-f6a4-8304-79aa-97f2502e1902"
        );
        // The UUID decides before the name: "a" with b's UUID names b.
        let err = same_domain(&doms, &def("a", 2)).unwrap_err();
        assert!(
            err.message.contains("domain 'b' is already defined"),
            "{}",
            err.message
        );
        let err = same_domain(&doms, &def("a", 3)).unwrap_err();
        assert_eq!(
            err.message,
            "operation failed: domain 'a' already exists with uuid \
             6695eb01-f6a4-8304-79aa-97f2502e1901"
        );
    }
}
