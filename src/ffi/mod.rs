//! The C ABI: libvirt's entry points, names and types, over the safe core.
//!
//! This is the only module with `extern "C"`, raw pointers and C strings. Every entry
//! point runs inside [`call::entry`], which clears the thread's last error, catches
//! panics, and on failure records and dispatches the error before returning libvirt's
//! failure value. Pointers to connections and domains are looked up in a registry of
//! live handles before use, so a stale or foreign pointer is an error, not a crash.
//!
//! The functions virshim does not implement are generated from libvirt's API description
//! into `stubs.rs`, with the C types they need in `stub_types.rs` (scripts/gen-stubs.py,
//! `make stubs`): they check their object arguments as libvirt does and fail with
//! `VIR_ERR_NO_SUPPORT` (see `unsupported`). Implementing one by hand in another file and
//! regenerating removes its stub.
//!
//! Safety contract of every function here, as in libvirt: pointer arguments are NULL
//! or point to memory of the documented type and size, and strings are NUL-terminated.

#![allow(non_snake_case, non_camel_case_types, clippy::missing_safety_doc)]

#[macro_use]
mod macros;
#[macro_use]
mod unsupported;
mod call;
mod cstr;
mod handles;

pub mod connect;
pub mod domain;
pub mod error;
pub mod event;
pub mod generated;
pub mod save;
pub mod typed_params;
pub mod types;
