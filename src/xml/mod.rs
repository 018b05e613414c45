//! Domain XML: a tree that keeps everything it was given, and the typed view of the few
//! fields save/restore needs.
//!
//! CONTRACT (used by the drivers; the implementation may add to it, not change it):
//!
//! ```ignore
//! pub struct DomainDef { .. }              // Clone + Debug + PartialEq
//! impl DomainDef {
//!     /// Parses, validates and normalizes domain XML the way libvirt 9.0 does when a driver
//!     /// whose guests have one of `virt_types` (e.g. &["test"]) parses it. Any `id` attribute
//!     /// is ignored (libvirt's inactive parse). Errors carry libvirt's codes and messages.
//!     pub fn parse(xml: &str, virt_types: &[&str]) -> Result<DomainDef>;
//!     pub fn name(&self) -> &str;
//!     pub fn uuid(&self) -> [u8; 16];
//!     pub fn uuid_string(&self) -> String;          // "6695eb01-f6a4-8304-79aa-97f2502e193f"
//!     pub fn virt_type(&self) -> &str;              // "test"
//!     pub fn max_memory_kib(&self) -> u64;          // <memory>
//!     pub fn current_memory_kib(&self) -> u64;      // <currentMemory>
//!     pub fn vcpus(&self) -> u32;                   // <vcpu>
//!     /// libvirt's formatting (2-space indent, single quotes, trailing newline), with
//!     /// `id='N'` on the root when `id` is Some.
//!     pub fn to_xml(&self, id: Option<i32>, flags: FormatFlags) -> String;
//! }
//! #[derive(Clone, Copy, Debug, Default)]
//! pub struct FormatFlags { pub secure: bool, pub inactive: bool, pub migratable: bool }
//! /// Whether `new` may replace `old` across a save and restore (same name, UUID, memory,
//! /// vCPUs, device layout; a disk's source may change), else VIR_ERR_CONFIG_UNSUPPORTED
//! /// naming what differs, as libvirt's ABI stability check does.
//! pub fn check_abi_stability(old: &DomainDef, new: &DomainDef) -> Result<()>;
//! ```
