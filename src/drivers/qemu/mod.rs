//! The QEMU driver (issue 4): `driver` implements [`crate::core::Driver`] for
//! `qemu:///embed?root=DIR` and `qemu:///session` on the pieces below.
//!
//! - `image`: libvirt's QEMU save image format.
//! - `migration`: the data path of save and restore, QEMU's migration stream into and out
//!   of an image, durable and fast (`direct_io`: `O_DIRECT` with its fallback).
//! - `qmp`: a synchronous QMP client (commands, events, descriptors over `SCM_RIGHTS`).
//! - `process`: QEMU processes that outlive their starter, found again from a pidfile.
//! - `root`: the directory a URI names; `store`: every file under it, and its lock;
//!   `state`: the domains as read from it; `job`: save jobs that outlive their caller.
//! - `defaults`: domain XML as libvirt 9.0's QEMU driver completes it (define, running);
//!   `support` refuses what virshim cannot run.
//! - `command`: the QEMU command line libvirt 9.0 uses for a definition.
//!
//! The API is [`QemuDriver`], [`Root`] and the [`image`] format; [`testing`] opens the
//! rest to virshim's own integration tests and fuzz targets, and is not API.

pub(crate) mod command;
mod config;
pub(crate) mod defaults;
pub(crate) mod direct_io;
pub(crate) mod driver;
pub mod image;
mod job;
pub(crate) mod migration;
pub(crate) mod process;
pub(crate) mod qmp;
pub(crate) mod root;
mod state;
mod store;
mod support;
pub mod testing;
#[cfg(test)]
mod tests;

pub use driver::QemuDriver;
pub use root::Root;

use std::sync::Arc;

use url::Url;

use crate::abi::virErrorDomain::VIR_FROM_QEMU;
use crate::abi::ConnectFlags;
use crate::core::Driver;
use crate::drivers::Scheme;
use crate::{Error, Result};

/// `qemu:///embed?root=DIR` and `qemu:///session`.
pub const SCHEME: Scheme = Scheme {
    name: "qemu",
    open: open_uri,
};

fn open_uri(uri: &Url, flags: ConnectFlags) -> Result<Arc<dyn Driver>> {
    let known = ConnectFlags::RO | ConnectFlags::NO_ALIASES;
    Error::check_flags(VIR_FROM_QEMU, flags, known, "qemuConnectOpen")?;
    let root = Root::from_uri(uri)?;
    Ok(Arc::new(QemuDriver::new(root)?))
}
