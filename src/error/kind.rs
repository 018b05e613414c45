//! What failed, as a Rust caller matches it.

use crate::abi::virErrorNumber::{self, *};

/// The kind of a failure: what a Rust caller of [`crate::core`] matches on, as a C caller
/// matches libvirt's code. Each kind is one or several of libvirt's codes
/// ([`super::Error::code`] keeps the exact one, as C sees it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No domain of that name, ID or UUID (`VIR_ERR_NO_DOMAIN`).
    NotFound,
    /// The call does not fit the domain's state, as saving a domain that is not running
    /// (`VIR_ERR_OPERATION_INVALID`).
    InvalidOperation,
    /// An argument or a flag was refused (`VIR_ERR_INVALID_ARG`, `VIR_ERR_OVERFLOW`).
    InvalidArgument,
    /// A connection or domain handle is not valid (`VIR_ERR_INVALID_CONN`, ...).
    InvalidHandle,
    /// The domain's configuration asks for what the driver cannot run
    /// (`VIR_ERR_CONFIG_UNSUPPORTED`).
    ConfigUnsupported,
    /// The driver does not have the call, or not for this case (`VIR_ERR_NO_SUPPORT`,
    /// `VIR_ERR_OPERATION_UNSUPPORTED`).
    Unsupported,
    /// The connection is read-only (`VIR_ERR_OPERATION_DENIED`).
    Denied,
    /// A document does not parse, or does not describe a valid domain (`VIR_ERR_XML_ERROR`,
    /// `VIR_ERR_XML_DETAIL`, `VIR_ERR_XML_INVALID_SCHEMA`, `VIR_ERR_NO_NAME`, ...).
    InvalidXml,
    /// A system call failed (`VIR_ERR_SYSTEM_ERROR`); the error's `source()` is the
    /// `std::io::Error` when the failure came from one.
    Io,
    /// No driver could be reached for the URI (`VIR_ERR_NO_CONNECT`).
    NoConnect,
    /// The operation did not finish in time (`VIR_ERR_OPERATION_TIMEOUT`).
    Timeout,
    /// Anything else: the operation failed (`VIR_ERR_OPERATION_FAILED`,
    /// `VIR_ERR_INTERNAL_ERROR`, ...).
    Failed,
}

impl ErrorKind {
    /// The kind libvirt's `code` says.
    pub fn of(code: virErrorNumber) -> ErrorKind {
        match code {
            VIR_ERR_NO_DOMAIN => ErrorKind::NotFound,
            VIR_ERR_OPERATION_INVALID => ErrorKind::InvalidOperation,
            VIR_ERR_INVALID_ARG | VIR_ERR_OVERFLOW => ErrorKind::InvalidArgument,
            VIR_ERR_INVALID_CONN | VIR_ERR_INVALID_DOMAIN => ErrorKind::InvalidHandle,
            VIR_ERR_CONFIG_UNSUPPORTED => ErrorKind::ConfigUnsupported,
            VIR_ERR_NO_SUPPORT | VIR_ERR_OPERATION_UNSUPPORTED => ErrorKind::Unsupported,
            VIR_ERR_OPERATION_DENIED => ErrorKind::Denied,
            VIR_ERR_XML_ERROR
            | VIR_ERR_XML_DETAIL
            | VIR_ERR_XML_INVALID_SCHEMA
            | VIR_ERR_NO_NAME
            | VIR_ERR_NO_SOURCE
            | VIR_ERR_NO_TARGET => ErrorKind::InvalidXml,
            VIR_ERR_SYSTEM_ERROR => ErrorKind::Io,
            VIR_ERR_NO_CONNECT => ErrorKind::NoConnect,
            VIR_ERR_OPERATION_TIMEOUT => ErrorKind::Timeout,
            _ => ErrorKind::Failed,
        }
    }
}
