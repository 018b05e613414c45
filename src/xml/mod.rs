//! Domain XML: a tree that keeps everything it was given, and the typed view of the few
//! fields save/restore needs.
//!
//! [`DomainDef::parse`] reads a document with quick-xml into a generic element tree
//! (`tree`, `read`), checks and completes what libvirt interprets as libvirt 9.0 does
//! (`domain`, `devices`, `values`), and keeps everything else, in order. `to_xml`
//! writes it back in libvirt's layout (`layout`, `write`). [`check_abi_stability`] tells
//! whether a replacement definition keeps what the guest sees (`abi`).

mod abi;
mod boot;
mod build;
mod devices;
mod domain;
mod layout;
mod platform;
mod read;
mod report;
mod seclabel;
mod small_str;
mod tree;
mod values;
mod write;

pub use abi::check_abi_stability;
pub use domain::{DomainDef, DriverDefaults, FormatFlags};
pub use read::parse as parse_tree;
pub use tree::{Element, Node};
pub use values::{disk_index, format_uuid, parse_uuid};
pub use write::to_string as tree_to_string;

#[cfg(test)]
mod tests;
