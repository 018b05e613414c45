//! virshim: libvirt's domain save/restore API in Rust, shipped as a drop-in `libvirt.so.0`.
//!
//! Layers, from the bottom: [`abi`] (libvirt's enumerations), [`error`] (libvirt's error
//! model), [`xml`] (domain XML), [`core`] (connections, domains and the driver trait),
//! [`drivers`] (the hypervisors behind it), and `ffi`, the only place with C types.

pub mod abi;
pub mod core;
pub mod drivers;
pub mod error;
mod ffi;
pub mod xml;

pub use error::{Error, Result};
