//! What the drivers share: libvirt's rules that every driver applies the same way.

use crate::abi::virDomainState::{self, *};
use crate::abi::virErrorDomain::{self, VIR_FROM_DOMAIN};
use crate::abi::virErrorNumber::{
    VIR_ERR_INVALID_ARG, VIR_ERR_NO_DOMAIN, VIR_ERR_OPERATION_FAILED, VIR_ERR_OPERATION_INVALID,
};
use crate::abi::{ListDomainsFlags, MemoryFlags};
use crate::core::DomainId;
use crate::xml::DomainDef;
use crate::{Error, Result};

/// A call that needs a running domain, on one that is not (libvirt's
/// `virDomainObjCheckActive`, reported in the domain part whatever the driver).
pub fn not_running() -> Error {
    Error::new(
        VIR_ERR_OPERATION_INVALID,
        VIR_FROM_DOMAIN,
        "domain is not running",
    )
}

/// A handle whose domain is gone, as libvirt's drivers report it in their own `domain`.
pub fn no_domain_with_uuid(domain: virErrorDomain, dom: &DomainId) -> Error {
    Error::new(
        VIR_ERR_NO_DOMAIN,
        domain,
        format!(
            "no domain with matching uuid '{}' ({})",
            dom.uuid_string(),
            dom.name
        ),
    )
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
    flags: ListDomainsFlags,
    active: bool,
    persistent: bool,
    state: virDomainState,
) -> bool {
    type F = ListDomainsFlags;
    let want = |yes: F, no: F, is: bool| {
        !flags.intersects(yes | no) || flags.intersects(if is { yes } else { no })
    };
    let states = F::RUNNING | F::PAUSED | F::SHUTOFF | F::OTHER;
    let state_bit = match state {
        VIR_DOMAIN_RUNNING => F::RUNNING,
        VIR_DOMAIN_PAUSED => F::PAUSED,
        VIR_DOMAIN_SHUTOFF => F::SHUTOFF,
        _ => F::OTHER,
    };
    want(F::ACTIVE, F::INACTIVE, active)
        && want(F::PERSISTENT, F::TRANSIENT, persistent)
        && (!flags.intersects(states) || flags.intersects(state_bit))
        && want(F::MANAGEDSAVE, F::NO_MANAGEDSAVE, false)
        && want(F::AUTOSTART, F::NO_AUTOSTART, false)
        && want(F::HAS_SNAPSHOT, F::NO_SNAPSHOT, false)
        && want(F::HAS_CHECKPOINT, F::NO_CHECKPOINT, false)
}

/// A driver's check of `virDomainMemoryPeek` flags, as libvirt's drivers make it: no
/// unknown flag (named after the driver's function `func`), and exactly one of
/// `VIR_MEMORY_VIRTUAL` and `VIR_MEMORY_PHYSICAL`.
pub fn check_memory_peek_flags(
    domain: virErrorDomain,
    flags: MemoryFlags,
    func: &str,
) -> Result<()> {
    Error::check_flags(domain, flags, MemoryFlags::all(), func)?;
    if flags != MemoryFlags::VIRTUAL && flags != MemoryFlags::PHYSICAL {
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

    #[test]
    fn list_filters_apply_per_group() {
        type F = ListDomainsFlags;
        let shutoff = |flags| list_filter_matches(flags, false, true, VIR_DOMAIN_SHUTOFF);
        assert!(shutoff(F::empty()));
        assert!(shutoff(F::INACTIVE | F::PERSISTENT));
        assert!(!shutoff(F::ACTIVE));
        assert!(shutoff(F::RUNNING | F::SHUTOFF));
        assert!(!shutoff(F::PAUSED));
        assert!(shutoff(F::NO_SNAPSHOT));
        assert!(!shutoff(F::HAS_SNAPSHOT));
    }
}
