//! Connections and domains: libvirt's public layer in safe Rust.
//!
//! Each method does what libvirt's public entry point of the same name does before it
//! dispatches to the driver (read-only denial, exclusive flags, absolute paths), so Rust
//! callers get libvirt's behaviour without the C layer. The C layer adds only what C
//! needs: pointer and NULL checks, in libvirt's order.
//!
//! The core knows no driver: it defines the traits a driver implements ([`Driver`] and the
//! capability traits) and holds a connection to whatever driver it is given.
//! `virshim::drivers::connect` picks the driver a URI names and opens the connection.

mod connection;
mod domain;
mod driver;
mod path;

pub use connection::Connection;
pub use domain::{check_memory_peek_flags, Domain};
pub use driver::{DomainId, DomainInfo, Driver, MemoryPeek, SaveRestore};

/// libvirt's version number, as `virGetVersion` and `virConnectGetLibVersion` report it.
pub const LIB_VERSION: u64 = 9_000_000;

/// The URI a connection gets when the caller names none and `LIBVIRT_DEFAULT_URI` is unset.
pub const DEFAULT_URI: &str = "test:///default";

/// The URI a connection opened with `uri` gets: `uri` itself, else `LIBVIRT_DEFAULT_URI`,
/// else [`DEFAULT_URI`] (an empty string counts as none, as in libvirt).
pub fn resolve_uri(uri: Option<&str>) -> String {
    match uri {
        Some(u) if !u.is_empty() => u.to_owned(),
        _ => std::env::var("LIBVIRT_DEFAULT_URI")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| DEFAULT_URI.to_owned()),
    }
}

#[cfg(test)]
mod tests;
