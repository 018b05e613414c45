//! Errors as libvirt reports them: a code, the part of libvirt it comes from, and a
//! message built the way libvirt builds it, so that callers matching on any of the three
//! see what libvirt would show them.
//!
//! Rust callers match on [`Error::kind`] (an [`ErrorKind`]) and reach a failed system
//! call's `io::Error` through `source()`; the C boundary turns an [`Error`] into libvirt's
//! `virError` in one place (`ffi::error`), field by field.

mod kind;
mod text;

use std::fmt;
use std::io;
use std::sync::Arc;

pub use kind::ErrorKind;

pub use crate::abi::virErrorDomain as ErrorDomain;
pub use crate::abi::virErrorNumber as ErrorCode;
use crate::abi::virErrorNumber::*;

/// One libvirt error, with every field of libvirt's `virError` that carries information.
#[derive(Clone, Debug)]
pub struct Error {
    pub code: ErrorCode,
    pub domain: ErrorDomain,
    pub message: String,
    pub str1: Option<String>,
    pub str2: Option<String>,
    pub str3: Option<String>,
    pub int1: i32,
    pub int2: i32,
    /// The system call's error behind a `VIR_ERR_SYSTEM_ERROR`, for `source()`.
    io: Option<Arc<io::Error>>,
}

/// Errors are equal when C would see the same `virError`.
impl PartialEq for Error {
    fn eq(&self, other: &Error) -> bool {
        (
            self.code,
            self.domain,
            &self.message,
            &self.str1,
            &self.str2,
            &self.str3,
        ) == (
            other.code,
            other.domain,
            &other.message,
            &other.str1,
            &other.str2,
            &other.str3,
        ) && (self.int1, self.int2) == (other.int1, other.int2)
    }
}

impl Eq for Error {}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error as libvirt's `virReportError` makes it: the code's text around `detail`
    /// (`str1` keeps that template, `str2` the detail).
    pub fn new(code: ErrorCode, domain: ErrorDomain, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        let template = text::CODE_TEXT[code as usize].1;
        Error {
            code,
            domain,
            message: template.replacen("%s", &detail, 1),
            str1: Some(template.to_owned()),
            str2: Some(detail),
            str3: None,
            int1: -1,
            int2: -1,
            io: None,
        }
    }

    /// What failed, for Rust callers to match on.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::of(self.code)
    }

    /// An error with the code's own text and no detail ("Domain not found").
    pub fn bare(code: ErrorCode, domain: ErrorDomain) -> Self {
        let text = text::CODE_TEXT[code as usize].0;
        Error {
            message: text.to_owned(),
            str1: Some(text.to_owned()),
            str2: None,
            ..Error::new(code, domain, "")
        }
    }

    /// A failed system call, as `virReportSystemError`: "`what`: strerror", errno in `int1`.
    /// An `io::Error` of our own making (no errno: a decoder's complaint) says itself.
    pub fn system(domain: ErrorDomain, err: &io::Error, what: impl fmt::Display) -> Self {
        let (errno, text, source) = match err.raw_os_error() {
            Some(errno) => (errno, strerror(errno), io::Error::from_raw_os_error(errno)),
            None => (
                0,
                err.to_string(),
                io::Error::new(err.kind(), err.to_string()),
            ),
        };
        let mut e = Error::new(VIR_ERR_SYSTEM_ERROR, domain, format!("{what}: {text}"));
        e.int1 = errno;
        e.io = Some(Arc::new(source));
        e
    }

    /// An argument check (`virReportInvalidArg` and friends): the message is given whole,
    /// `str1` names the function and `str2` the argument.
    pub fn arg_check(domain: ErrorDomain, func: &str, arg: &str, message: String) -> Self {
        Error {
            code: VIR_ERR_INVALID_ARG,
            domain,
            message,
            str1: Some(func.to_owned()),
            str2: Some(arg.to_owned()),
            str3: None,
            int1: 0,
            int2: 0,
            io: None,
        }
    }

    /// Flags a driver does not know, in the words of libvirt's `virCheckFlags`.
    pub fn unsupported_flags(domain: ErrorDomain, flags: u32, func: &str) -> Self {
        Error::arg_check(
            domain,
            func,
            "flags",
            format!("unsupported flags (0x{flags:x}) in function {func}"),
        )
    }

    /// Rejects `flags` outside `allowed`, as every libvirt driver does on entry.
    /// The flags are typed (`crate::abi::SaveRestoreFlags`...); unknown bits were retained.
    pub fn check_flags<F>(domain: ErrorDomain, flags: F, allowed: F, func: &str) -> Result<()>
    where
        F: bitflags::Flags<Bits = u32>,
    {
        match flags.bits() & !allowed.bits() {
            0 => Ok(()),
            extra => Err(Error::unsupported_flags(domain, extra, func)),
        }
    }

    /// A failure libvirt reports without a cause (`virErrorGenericFailure`).
    pub fn unknown() -> Self {
        Error {
            code: VIR_ERR_INTERNAL_ERROR,
            domain: ErrorDomain::VIR_FROM_NONE,
            message: "An error occurred, but the cause is unknown".into(),
            str1: None,
            str2: None,
            str3: None,
            int1: 0,
            int2: 0,
            io: None,
        }
    }

    /// A panic caught at the C boundary.
    pub fn internal(detail: impl Into<String>) -> Self {
        Error::new(VIR_ERR_INTERNAL_ERROR, ErrorDomain::VIR_FROM_NONE, detail)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.io.as_deref().map(|e| e as _)
    }
}

/// The name libvirt prints for an error domain ("Test Driver"), or "" for one it does not know.
pub fn domain_label(domain: i32) -> &'static str {
    usize::try_from(domain)
        .ok()
        .and_then(|d| text::DOMAIN_TEXT.get(d))
        .copied()
        .unwrap_or("")
}

/// The C library's text for an errno value, as libvirt appends it.
pub fn strerror(errno: i32) -> String {
    io::Error::from_raw_os_error(errno)
        .to_string()
        .split(" (os error")
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::virErrorDomain::*;

    #[test]
    fn messages_follow_libvirt_templates() {
        let e = Error::new(
            VIR_ERR_OPERATION_INVALID,
            VIR_FROM_TEST,
            "domain is not running",
        );
        assert_eq!(
            e.message,
            "Requested operation is not valid: domain is not running"
        );
        assert_eq!(
            e.str1.as_deref(),
            Some("Requested operation is not valid: %s")
        );
        assert_eq!(
            Error::bare(VIR_ERR_NO_DOMAIN, VIR_FROM_TEST).message,
            "Domain not found"
        );
    }

    #[test]
    fn system_errors_carry_errno_and_strerror() {
        let io = io::Error::from_raw_os_error(libc::ENOENT);
        let e = Error::system(VIR_FROM_TEST, &io, "cannot read domain image '/x'");
        assert_eq!(
            e.message,
            "cannot read domain image '/x': No such file or directory"
        );
        assert_eq!(e.int1, libc::ENOENT);
        assert_eq!(e.kind(), ErrorKind::Io);
        let source = std::error::Error::source(&e).unwrap();
        let io = source.downcast_ref::<io::Error>().unwrap();
        assert_eq!(io.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn kinds_follow_codes() {
        assert_eq!(
            Error::bare(VIR_ERR_NO_DOMAIN, VIR_FROM_TEST).kind(),
            ErrorKind::NotFound
        );
        let unsupported = Error::new(VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_QEMU, "x");
        assert_eq!(unsupported.kind(), ErrorKind::ConfigUnsupported);
        assert!(std::error::Error::source(&unsupported).is_none());
        assert_eq!(Error::unknown().kind(), ErrorKind::Failed);
    }

    #[test]
    fn domain_labels() {
        assert_eq!(domain_label(12), "Test Driver");
        assert_eq!(domain_label(-3), "");
        assert_eq!(domain_label(9999), "");
    }
}
