//! Errors as libvirt reports them: a code, the part of libvirt it comes from, and a
//! message built the way libvirt builds it, so that callers matching on any of the three
//! see what libvirt would show them.

mod text;

use std::fmt;
use std::io;

pub use crate::abi::virErrorDomain as ErrorDomain;
pub use crate::abi::virErrorNumber as ErrorCode;
use crate::abi::virErrorNumber::*;

/// One libvirt error, with every field of libvirt's `virError` that carries information.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub code: ErrorCode,
    pub domain: ErrorDomain,
    pub message: String,
    pub str1: Option<String>,
    pub str2: Option<String>,
    pub str3: Option<String>,
    pub int1: i32,
    pub int2: i32,
}

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
        }
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
    pub fn system(domain: ErrorDomain, err: &io::Error, what: impl fmt::Display) -> Self {
        let errno = err.raw_os_error().unwrap_or(0);
        let mut e = Error::new(
            VIR_ERR_SYSTEM_ERROR,
            domain,
            format!("{what}: {}", strerror(errno)),
        );
        e.int1 = errno;
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
    pub fn check_flags(domain: ErrorDomain, flags: u32, allowed: u32, func: &str) -> Result<()> {
        match flags & !allowed {
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

impl std::error::Error for Error {}

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
    }

    #[test]
    fn flag_checks_name_the_extra_bits() {
        let e = Error::check_flags(VIR_FROM_TEST, 0x5, 0x1, "testDomainSaveFlags").unwrap_err();
        assert_eq!(
            e.message,
            "unsupported flags (0x4) in function testDomainSaveFlags"
        );
        assert_eq!(
            (e.str1.as_deref(), e.str2.as_deref()),
            (Some("testDomainSaveFlags"), Some("flags"))
        );
        assert!(Error::check_flags(VIR_FROM_TEST, 0x1, 0x1, "f").is_ok());
    }

    #[test]
    fn domain_labels() {
        assert_eq!(domain_label(12), "Test Driver");
        assert_eq!(domain_label(-3), "");
        assert_eq!(domain_label(9999), "");
    }
}
