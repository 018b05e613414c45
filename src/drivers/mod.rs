//! The hypervisors behind connections, and the registry that picks one by URI scheme.
//!
//! Each driver declares its [`Scheme`] (the URI scheme it serves and how to open it);
//! [`SCHEMES`] lists them, and [`connect`] opens a [`Connection`] to the one a URI names.
//! A new driver is a module here and one line in [`SCHEMES`].

pub mod common;
pub(crate) mod failpoint;
pub mod files;
pub mod qemu;
pub mod test;

use std::sync::Arc;

use url::Url;

use crate::abi::virErrorDomain::{VIR_FROM_NONE, VIR_FROM_URI};
use crate::abi::virErrorNumber::{VIR_ERR_INTERNAL_ERROR, VIR_ERR_NO_CONNECT};
use crate::abi::ConnectFlags;
use crate::core::{resolve_uri, Connection, Driver};
use crate::{Error, Result};

/// A URI scheme and the driver that serves it.
pub struct Scheme {
    /// The URI scheme: "test" for `test:///default`.
    pub name: &'static str,
    /// Opens the driver for a parsed URI, checking the `virConnectOpenAuth` flags as the
    /// driver's own open function does.
    pub open: fn(&Url, ConnectFlags) -> Result<Arc<dyn Driver>>,
}

/// Every driver virshim has, by scheme.
pub static SCHEMES: &[Scheme] = &[test::SCHEME, qemu::SCHEME];

/// Opens a connection to `uri` (None: `LIBVIRT_DEFAULT_URI`, else `test:///default`) with
/// `virConnectOpenAuth` flags, as `virConnectOpenAuth` does.
pub fn connect(uri: Option<&str>, flags: ConnectFlags) -> Result<Connection> {
    let uri = resolve_uri(uri);
    let driver = open(&uri, flags)?;
    Ok(Connection::new(uri, flags, driver))
}

/// The driver for `uri`, opened with `flags`.
fn open(uri: &str, flags: ConnectFlags) -> Result<Arc<dyn Driver>> {
    let parsed = Url::parse(uri).map_err(|_| {
        if uri.contains(':') {
            Error::new(
                VIR_ERR_INTERNAL_ERROR,
                VIR_FROM_URI,
                format!("Unable to parse URI {uri}"),
            )
        } else {
            // A bare word is a well-formed relative URI, with no scheme to pick a driver.
            Error::new(
                VIR_ERR_NO_CONNECT,
                VIR_FROM_NONE,
                format!("URI '{uri}' does not include a driver name"),
            )
        }
    })?;
    match SCHEMES.iter().find(|s| s.name == parsed.scheme()) {
        Some(scheme) => (scheme.open)(&parsed, flags),
        None => Err(Error::new(VIR_ERR_NO_CONNECT, VIR_FROM_NONE, uri)),
    }
}
