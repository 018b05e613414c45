//! libvirt's flag words as Rust types, for the safe core and the drivers.
//!
//! The C boundary converts a `c_uint` once, with `from_bits_retain`: bits libvirt 9.0 does
//! not define travel on, so that the driver refuses them with libvirt's message, which
//! names the driver's own function ("unsupported flags (0x100) in function
//! testDomainSaveFlags"). These types are not C-visible (build.rs does not hand this file
//! to cbindgen); each constant takes its value from the C enumeration of the same name.

use bitflags::bitflags;

use super::*;
use crate::error::{Error, ErrorDomain, Result};

bitflags! {
    /// `virConnectFlags`, as `virConnectOpenAuth` takes them.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct ConnectFlags: u32 {
        /// `VIR_CONNECT_RO`: a connection that may look but not change anything.
        const RO = 1;
        /// `VIR_CONNECT_NO_ALIASES`: do not resolve URI aliases (virshim has none).
        const NO_ALIASES = 2;
    }

    /// `virConnectListAllDomainsFlags`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct ListDomainsFlags: u32 {
        const ACTIVE = virConnectListAllDomainsFlags::VIR_CONNECT_LIST_DOMAINS_ACTIVE as u32;
        const INACTIVE = virConnectListAllDomainsFlags::VIR_CONNECT_LIST_DOMAINS_INACTIVE as u32;
        const PERSISTENT =
            virConnectListAllDomainsFlags::VIR_CONNECT_LIST_DOMAINS_PERSISTENT as u32;
        const TRANSIENT = virConnectListAllDomainsFlags::VIR_CONNECT_LIST_DOMAINS_TRANSIENT as u32;
        const RUNNING = virConnectListAllDomainsFlags::VIR_CONNECT_LIST_DOMAINS_RUNNING as u32;
        const PAUSED = virConnectListAllDomainsFlags::VIR_CONNECT_LIST_DOMAINS_PAUSED as u32;
        const SHUTOFF = virConnectListAllDomainsFlags::VIR_CONNECT_LIST_DOMAINS_SHUTOFF as u32;
        const OTHER = virConnectListAllDomainsFlags::VIR_CONNECT_LIST_DOMAINS_OTHER as u32;
        const MANAGEDSAVE =
            virConnectListAllDomainsFlags::VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE as u32;
        const NO_MANAGEDSAVE =
            virConnectListAllDomainsFlags::VIR_CONNECT_LIST_DOMAINS_NO_MANAGEDSAVE as u32;
        const AUTOSTART = virConnectListAllDomainsFlags::VIR_CONNECT_LIST_DOMAINS_AUTOSTART as u32;
        const NO_AUTOSTART =
            virConnectListAllDomainsFlags::VIR_CONNECT_LIST_DOMAINS_NO_AUTOSTART as u32;
        const HAS_SNAPSHOT =
            virConnectListAllDomainsFlags::VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT as u32;
        const NO_SNAPSHOT =
            virConnectListAllDomainsFlags::VIR_CONNECT_LIST_DOMAINS_NO_SNAPSHOT as u32;
        const HAS_CHECKPOINT =
            virConnectListAllDomainsFlags::VIR_CONNECT_LIST_DOMAINS_HAS_CHECKPOINT as u32;
        const NO_CHECKPOINT =
            virConnectListAllDomainsFlags::VIR_CONNECT_LIST_DOMAINS_NO_CHECKPOINT as u32;
    }

    /// `virDomainCreateFlags`, for `virDomainCreateXML` and `virDomainCreateWithFlags`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct CreateFlags: u32 {
        const START_PAUSED = virDomainCreateFlags::VIR_DOMAIN_START_PAUSED as u32;
        const START_AUTODESTROY = virDomainCreateFlags::VIR_DOMAIN_START_AUTODESTROY as u32;
        const START_BYPASS_CACHE = virDomainCreateFlags::VIR_DOMAIN_START_BYPASS_CACHE as u32;
        const START_FORCE_BOOT = virDomainCreateFlags::VIR_DOMAIN_START_FORCE_BOOT as u32;
        const START_VALIDATE = virDomainCreateFlags::VIR_DOMAIN_START_VALIDATE as u32;
        const START_RESET_NVRAM = virDomainCreateFlags::VIR_DOMAIN_START_RESET_NVRAM as u32;
    }

    /// `virDomainDefineFlags`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct DefineFlags: u32 {
        const VALIDATE = virDomainDefineFlags::VIR_DOMAIN_DEFINE_VALIDATE as u32;
    }

    /// `virDomainDestroyFlagsValues`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct DestroyFlags: u32 {
        const GRACEFUL = virDomainDestroyFlagsValues::VIR_DOMAIN_DESTROY_GRACEFUL as u32;
        const REMOVE_LOGS = virDomainDestroyFlagsValues::VIR_DOMAIN_DESTROY_REMOVE_LOGS as u32;
    }

    /// `virDomainUndefineFlagsValues`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct UndefineFlags: u32 {
        const MANAGED_SAVE = virDomainUndefineFlagsValues::VIR_DOMAIN_UNDEFINE_MANAGED_SAVE as u32;
        const SNAPSHOTS_METADATA =
            virDomainUndefineFlagsValues::VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA as u32;
        const NVRAM = virDomainUndefineFlagsValues::VIR_DOMAIN_UNDEFINE_NVRAM as u32;
        const KEEP_NVRAM = virDomainUndefineFlagsValues::VIR_DOMAIN_UNDEFINE_KEEP_NVRAM as u32;
        const CHECKPOINTS_METADATA =
            virDomainUndefineFlagsValues::VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA as u32;
        const TPM = virDomainUndefineFlagsValues::VIR_DOMAIN_UNDEFINE_TPM as u32;
        const KEEP_TPM = virDomainUndefineFlagsValues::VIR_DOMAIN_UNDEFINE_KEEP_TPM as u32;
    }

    /// `virDomainXMLFlags`, for `virDomainGetXMLDesc`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct XmlFlags: u32 {
        const SECURE = virDomainXMLFlags::VIR_DOMAIN_XML_SECURE as u32;
        const INACTIVE = virDomainXMLFlags::VIR_DOMAIN_XML_INACTIVE as u32;
        const UPDATE_CPU = virDomainXMLFlags::VIR_DOMAIN_XML_UPDATE_CPU as u32;
        const MIGRATABLE = virDomainXMLFlags::VIR_DOMAIN_XML_MIGRATABLE as u32;
    }

    /// `virDomainSaveRestoreFlags`, for saves, restores and save-image edits.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct SaveRestoreFlags: u32 {
        const BYPASS_CACHE = virDomainSaveRestoreFlags::VIR_DOMAIN_SAVE_BYPASS_CACHE as u32;
        const RUNNING = virDomainSaveRestoreFlags::VIR_DOMAIN_SAVE_RUNNING as u32;
        const PAUSED = virDomainSaveRestoreFlags::VIR_DOMAIN_SAVE_PAUSED as u32;
        const RESET_NVRAM = virDomainSaveRestoreFlags::VIR_DOMAIN_SAVE_RESET_NVRAM as u32;
    }

    /// `virDomainSaveImageXMLFlags`, for `virDomainSaveImageGetXMLDesc`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct SaveImageXmlFlags: u32 {
        const SECURE = virDomainSaveImageXMLFlags::VIR_DOMAIN_SAVE_IMAGE_XML_SECURE as u32;
    }

    /// `virDomainMemoryFlags`, for `virDomainMemoryPeek`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct MemoryFlags: u32 {
        const VIRTUAL = virDomainMemoryFlags::VIR_MEMORY_VIRTUAL as u32;
        const PHYSICAL = virDomainMemoryFlags::VIR_MEMORY_PHYSICAL as u32;
    }

    /// `virDomainGetHostnameFlags`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct HostnameFlags: u32 {
        const LEASE = virDomainGetHostnameFlags::VIR_DOMAIN_GET_HOSTNAME_LEASE as u32;
        const AGENT = virDomainGetHostnameFlags::VIR_DOMAIN_GET_HOSTNAME_AGENT as u32;
    }

    /// The flags of a call for which libvirt defines none yet (`virDomainGetState`): any
    /// bit is refused by the driver.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct NoFlags: u32 {}
}

impl SaveRestoreFlags {
    /// The state a restore is asked to start in: running, paused, or (None) as the image
    /// says. Callers have refused both at once already.
    pub fn requested_state(self) -> Option<bool> {
        if self.contains(Self::RUNNING) {
            Some(true)
        } else if self.contains(Self::PAUSED) {
            Some(false)
        } else {
            None
        }
    }
}

/// Refuses two flags given together, as libvirt's public layer does
/// (`VIR_EXCLUSIVE_FLAGS_RET`): "Flags 'A' and 'B' are mutually exclusive", in the
/// domain `VIR_FROM_DOMAIN` with the call's name `api`.
pub fn check_exclusive<F>(flags: F, a: (F, &str), b: (F, &str), api: &str) -> Result<()>
where
    F: bitflags::Flags<Bits = u32> + Copy,
{
    if flags.contains(a.0) && flags.contains(b.0) {
        return Err(Error::arg_check(
            ErrorDomain::VIR_FROM_DOMAIN,
            api,
            "ctl",
            format!("Flags '{}' and '{}' are mutually exclusive", a.1, b.1),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_bits_travel_to_the_driver_check() {
        let flags = SaveRestoreFlags::from_bits_retain(0x102);
        assert_eq!(flags.requested_state(), Some(true));
        let err = Error::check_flags(
            ErrorDomain::VIR_FROM_TEST,
            flags,
            SaveRestoreFlags::RUNNING | SaveRestoreFlags::PAUSED,
            "testDomainSaveFlags",
        )
        .unwrap_err();
        assert_eq!(
            err.message,
            "unsupported flags (0x100) in function testDomainSaveFlags"
        );
    }

    #[test]
    fn exclusive_flags_name_both() {
        let both = MemoryFlags::VIRTUAL | MemoryFlags::PHYSICAL;
        let err = check_exclusive(
            both,
            (MemoryFlags::VIRTUAL, "VIR_MEMORY_VIRTUAL"),
            (MemoryFlags::PHYSICAL, "VIR_MEMORY_PHYSICAL"),
            "virDomainMemoryPeek",
        )
        .unwrap_err();
        assert_eq!(
            err.message,
            "Flags 'VIR_MEMORY_VIRTUAL' and 'VIR_MEMORY_PHYSICAL' are mutually exclusive"
        );
        assert_eq!(err.str1.as_deref(), Some("virDomainMemoryPeek"));
    }
}
