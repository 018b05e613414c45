//! The QEMU driver's formats and runtime; the driver itself is being built (issue 4).
//!
//! - `image`: libvirt's QEMU save image format.
//! - `qmp`: a synchronous QMP client (commands, events, descriptors over `SCM_RIGHTS`).
//! - `process`: QEMU processes that outlive their starter, found again from a pidfile.

pub mod image;
pub mod process;
pub mod qmp;
