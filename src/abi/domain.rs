//! The domain enumerations of libvirt's `libvirt-domain.h`.

/// The state of a domain, as `virDomainGetState` reports it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::FromRepr)]
pub enum virDomainState {
    VIR_DOMAIN_NOSTATE = 0,
    VIR_DOMAIN_RUNNING = 1,
    VIR_DOMAIN_BLOCKED = 2,
    VIR_DOMAIN_PAUSED = 3,
    VIR_DOMAIN_SHUTDOWN = 4,
    VIR_DOMAIN_SHUTOFF = 5,
    VIR_DOMAIN_CRASHED = 6,
    VIR_DOMAIN_PMSUSPENDED = 7,
}

/// DomainNostateReason values, as in libvirt.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::FromRepr)]
pub enum virDomainNostateReason {
    VIR_DOMAIN_NOSTATE_UNKNOWN = 0,
}

/// DomainRunningReason values, as in libvirt.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::FromRepr)]
pub enum virDomainRunningReason {
    VIR_DOMAIN_RUNNING_UNKNOWN = 0,
    VIR_DOMAIN_RUNNING_BOOTED = 1,
    VIR_DOMAIN_RUNNING_MIGRATED = 2,
    VIR_DOMAIN_RUNNING_RESTORED = 3,
    VIR_DOMAIN_RUNNING_FROM_SNAPSHOT = 4,
    VIR_DOMAIN_RUNNING_UNPAUSED = 5,
    VIR_DOMAIN_RUNNING_MIGRATION_CANCELED = 6,
    VIR_DOMAIN_RUNNING_SAVE_CANCELED = 7,
    VIR_DOMAIN_RUNNING_WAKEUP = 8,
    VIR_DOMAIN_RUNNING_CRASHED = 9,
    VIR_DOMAIN_RUNNING_POSTCOPY = 10,
    VIR_DOMAIN_RUNNING_POSTCOPY_FAILED = 11,
}

/// DomainBlockedReason values, as in libvirt.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::FromRepr)]
pub enum virDomainBlockedReason {
    VIR_DOMAIN_BLOCKED_UNKNOWN = 0,
}

/// DomainPausedReason values, as in libvirt.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::FromRepr)]
pub enum virDomainPausedReason {
    VIR_DOMAIN_PAUSED_UNKNOWN = 0,
    VIR_DOMAIN_PAUSED_USER = 1,
    VIR_DOMAIN_PAUSED_MIGRATION = 2,
    VIR_DOMAIN_PAUSED_SAVE = 3,
    VIR_DOMAIN_PAUSED_DUMP = 4,
    VIR_DOMAIN_PAUSED_IOERROR = 5,
    VIR_DOMAIN_PAUSED_WATCHDOG = 6,
    VIR_DOMAIN_PAUSED_FROM_SNAPSHOT = 7,
    VIR_DOMAIN_PAUSED_SHUTTING_DOWN = 8,
    VIR_DOMAIN_PAUSED_SNAPSHOT = 9,
    VIR_DOMAIN_PAUSED_CRASHED = 10,
    VIR_DOMAIN_PAUSED_STARTING_UP = 11,
    VIR_DOMAIN_PAUSED_POSTCOPY = 12,
    VIR_DOMAIN_PAUSED_POSTCOPY_FAILED = 13,
}

/// DomainShutdownReason values, as in libvirt.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::FromRepr)]
pub enum virDomainShutdownReason {
    VIR_DOMAIN_SHUTDOWN_UNKNOWN = 0,
    VIR_DOMAIN_SHUTDOWN_USER = 1,
}

/// DomainShutoffReason values, as in libvirt.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::FromRepr)]
pub enum virDomainShutoffReason {
    VIR_DOMAIN_SHUTOFF_UNKNOWN = 0,
    VIR_DOMAIN_SHUTOFF_SHUTDOWN = 1,
    VIR_DOMAIN_SHUTOFF_DESTROYED = 2,
    VIR_DOMAIN_SHUTOFF_CRASHED = 3,
    VIR_DOMAIN_SHUTOFF_MIGRATED = 4,
    VIR_DOMAIN_SHUTOFF_SAVED = 5,
    VIR_DOMAIN_SHUTOFF_FAILED = 6,
    VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT = 7,
    VIR_DOMAIN_SHUTOFF_DAEMON = 8,
}

/// DomainCrashedReason values, as in libvirt.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::FromRepr)]
pub enum virDomainCrashedReason {
    VIR_DOMAIN_CRASHED_UNKNOWN = 0,
    VIR_DOMAIN_CRASHED_PANICKED = 1,
}

/// DomainPMSuspendedReason values, as in libvirt.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::FromRepr)]
pub enum virDomainPMSuspendedReason {
    VIR_DOMAIN_PMSUSPENDED_UNKNOWN = 0,
}

/// DomainModificationImpact values, as in libvirt.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum virDomainModificationImpact {
    VIR_DOMAIN_AFFECT_CURRENT = 0,
    VIR_DOMAIN_AFFECT_LIVE = 1,
    VIR_DOMAIN_AFFECT_CONFIG = 2,
}

/// DomainCreateFlags values, as in libvirt.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum virDomainCreateFlags {
    VIR_DOMAIN_NONE = 0,
    VIR_DOMAIN_START_PAUSED = 1,
    VIR_DOMAIN_START_AUTODESTROY = 2,
    VIR_DOMAIN_START_BYPASS_CACHE = 4,
    VIR_DOMAIN_START_FORCE_BOOT = 8,
    VIR_DOMAIN_START_VALIDATE = 16,
    VIR_DOMAIN_START_RESET_NVRAM = 32,
}

/// DomainDestroyFlagsValues values, as in libvirt.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum virDomainDestroyFlagsValues {
    VIR_DOMAIN_DESTROY_DEFAULT = 0,
    VIR_DOMAIN_DESTROY_GRACEFUL = 1,
    VIR_DOMAIN_DESTROY_REMOVE_LOGS = 2,
}

/// Flags of the save and restore calls.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum virDomainSaveRestoreFlags {
    VIR_DOMAIN_SAVE_BYPASS_CACHE = 1,
    VIR_DOMAIN_SAVE_RUNNING = 2,
    VIR_DOMAIN_SAVE_PAUSED = 4,
    VIR_DOMAIN_SAVE_RESET_NVRAM = 8,
}

/// Flags of `virDomainMemoryPeek`: how its addresses are meant.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum virDomainMemoryFlags {
    VIR_MEMORY_VIRTUAL = 1,
    VIR_MEMORY_PHYSICAL = 2,
}

/// Flags of `virDomainGetXMLDesc`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum virDomainXMLFlags {
    VIR_DOMAIN_XML_SECURE = 1,
    VIR_DOMAIN_XML_INACTIVE = 2,
    VIR_DOMAIN_XML_UPDATE_CPU = 4,
    VIR_DOMAIN_XML_MIGRATABLE = 8,
}

/// Flags of `virDomainSaveImageGetXMLDesc`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum virDomainSaveImageXMLFlags {
    VIR_DOMAIN_SAVE_IMAGE_XML_SECURE = 1,
}

/// DomainDefineFlags values, as in libvirt.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum virDomainDefineFlags {
    VIR_DOMAIN_DEFINE_VALIDATE = 1,
}

/// DomainUndefineFlagsValues values, as in libvirt.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum virDomainUndefineFlagsValues {
    VIR_DOMAIN_UNDEFINE_MANAGED_SAVE = 1,
    VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA = 2,
    VIR_DOMAIN_UNDEFINE_NVRAM = 4,
    VIR_DOMAIN_UNDEFINE_KEEP_NVRAM = 8,
    VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA = 16,
    VIR_DOMAIN_UNDEFINE_TPM = 32,
    VIR_DOMAIN_UNDEFINE_KEEP_TPM = 64,
}

/// ConnectListAllDomainsFlags values, as in libvirt.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum virConnectListAllDomainsFlags {
    VIR_CONNECT_LIST_DOMAINS_ACTIVE = 1,
    VIR_CONNECT_LIST_DOMAINS_INACTIVE = 2,
    VIR_CONNECT_LIST_DOMAINS_PERSISTENT = 4,
    VIR_CONNECT_LIST_DOMAINS_TRANSIENT = 8,
    VIR_CONNECT_LIST_DOMAINS_RUNNING = 16,
    VIR_CONNECT_LIST_DOMAINS_PAUSED = 32,
    VIR_CONNECT_LIST_DOMAINS_SHUTOFF = 64,
    VIR_CONNECT_LIST_DOMAINS_OTHER = 128,
    VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE = 256,
    VIR_CONNECT_LIST_DOMAINS_NO_MANAGEDSAVE = 512,
    VIR_CONNECT_LIST_DOMAINS_AUTOSTART = 1024,
    VIR_CONNECT_LIST_DOMAINS_NO_AUTOSTART = 2048,
    VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT = 4096,
    VIR_CONNECT_LIST_DOMAINS_NO_SNAPSHOT = 8192,
    VIR_CONNECT_LIST_DOMAINS_HAS_CHECKPOINT = 16384,
    VIR_CONNECT_LIST_DOMAINS_NO_CHECKPOINT = 32768,
}

/// How `virDomainGetHostname` finds the name, as in libvirt.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum virDomainGetHostnameFlags {
    /// From the DHCP leases of the domain's networks.
    VIR_DOMAIN_GET_HOSTNAME_LEASE = 1,
    /// From the guest agent.
    VIR_DOMAIN_GET_HOSTNAME_AGENT = 2,
}
