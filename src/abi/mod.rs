//! libvirt's C-visible enumerations, with libvirt 9.0's names and values.
//!
//! The names are libvirt's own so that the generated headers match what libvirt users
//! write; the core uses them directly rather than keeping a renamed twin.

#![allow(non_camel_case_types)]

mod common;
mod domain;
mod event;
mod virterror;

pub use common::*;
pub use domain::*;
pub use event::*;
pub use virterror::*;
