//! The hypervisors behind connections, chosen by URI.

pub(crate) mod failpoint;
pub mod files;
pub mod qemu;
pub mod test;

use std::path::Path;
use std::sync::Arc;

use url::Url;

use crate::abi::virErrorDomain::{VIR_FROM_NONE, VIR_FROM_QEMU, VIR_FROM_TEST, VIR_FROM_URI};
use crate::abi::virErrorNumber::{VIR_ERR_INTERNAL_ERROR, VIR_ERR_INVALID_ARG, VIR_ERR_NO_CONNECT};
use crate::core::{Driver, CONNECT_NO_ALIASES, CONNECT_RO};
use crate::{Error, Result};

/// The driver for `uri`, opened with `virConnectOpenAuth` flags.
pub fn open(uri: &str, flags: u32) -> Result<Arc<dyn Driver>> {
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
    match parsed.scheme() {
        "test" => {
            Error::check_flags(
                VIR_FROM_TEST,
                flags,
                CONNECT_RO | CONNECT_NO_ALIASES,
                "testConnectOpen",
            )?;
            match parsed.path() {
                "/default" => Ok(test::TestDriver::default_shared()?),
                "/" | "" => Err(Error::new(
                    VIR_ERR_INVALID_ARG,
                    VIR_FROM_TEST,
                    "testOpen: supply a path or use test:///default",
                )),
                path => Ok(test::TestDriver::from_file(Path::new(path))?),
            }
        }
        "qemu" => {
            Error::check_flags(
                VIR_FROM_QEMU,
                flags,
                CONNECT_RO | CONNECT_NO_ALIASES,
                "qemuConnectOpen",
            )?;
            let root = qemu::root::Root::from_uri(&parsed)?;
            Ok(Arc::new(qemu::driver::QemuDriver::new(root)?))
        }
        _ => Err(Error::new(VIR_ERR_NO_CONNECT, VIR_FROM_NONE, uri)),
    }
}
