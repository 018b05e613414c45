//! C strings in and out: borrowed arguments, and results the caller `free()`s.

use std::ffi::{c_char, CStr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::abi::virErrorDomain::{VIR_FROM_DOMAIN, VIR_FROM_NONE};
use crate::abi::virErrorNumber::{VIR_ERR_INTERNAL_ERROR, VIR_ERR_XML_DETAIL};
use crate::{Error, Result};

/// The string at `p`, or None for NULL.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string that outlives the returned borrow.
pub(super) unsafe fn borrow<'a>(p: *const c_char) -> Option<&'a CStr> {
    // SAFETY: the caller guarantees `p` is NULL or a valid C string.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) })
}

/// A path from C bytes, which need not be UTF-8.
pub(super) fn path(s: &CStr) -> &Path {
    Path::new(std::ffi::OsStr::from_bytes(s.to_bytes()))
}

/// XML from C, which must be UTF-8 (libvirt's XML parser refuses anything else too).
pub(super) fn text<'a>(s: &'a CStr, what: &str) -> Result<&'a str> {
    s.to_str().map_err(|_| {
        Error::new(
            VIR_ERR_XML_DETAIL,
            VIR_FROM_DOMAIN,
            format!("{what} is not valid UTF-8"),
        )
    })
}

/// A copy of `s` in memory from the C allocator, for the caller to `free()`.
pub(super) fn to_c(s: &str) -> Result<*mut c_char> {
    if s.as_bytes().contains(&0) {
        return Err(Error::new(
            VIR_ERR_INTERNAL_ERROR,
            VIR_FROM_NONE,
            "string for the caller contains a NUL byte",
        ));
    }
    // SAFETY: malloc of len + 1 bytes, checked for NULL, then filled within bounds.
    unsafe {
        let p = libc::malloc(s.len() + 1).cast::<c_char>();
        if p.is_null() {
            return Err(Error::new(
                VIR_ERR_INTERNAL_ERROR,
                VIR_FROM_NONE,
                "out of memory",
            ));
        }
        std::ptr::copy_nonoverlapping(s.as_ptr().cast::<c_char>(), p, s.len());
        *p.add(s.len()) = 0;
        Ok(p)
    }
}
