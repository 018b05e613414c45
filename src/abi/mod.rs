//! libvirt's C-visible enumerations, with libvirt 9.0's names and values.
//!
//! Beside them, Rust types for the safe core (`flags`, `state`): flag words as bitflags
//! and a state paired with its reason, converted once at the C boundary.
//!
//! The names are libvirt's own so that the generated headers match what libvirt users
//! write; the core uses them directly rather than keeping a renamed twin.

#![allow(non_camel_case_types)]

mod common;
mod domain;
mod event;
mod flags;
mod state;
mod virterror;

pub use common::*;
pub use domain::*;
pub use event::*;
pub use flags::*;
pub use state::DomainState;
pub use virterror::*;
