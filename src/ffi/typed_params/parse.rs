//! libvirt's number syntax, through the C library's own parsers, for
//! `virTypedParamsAddFromString`.

use std::ffi::{c_char, CStr};

/// Runs a strto* parser on `text`: the value if it consumed all of `text`, consumed
/// something, and reported no range error.
fn whole<T>(text: &CStr, f: impl FnOnce(*const c_char, *mut *mut c_char) -> T) -> Option<T> {
    let start = text.as_ptr();
    let mut end: *mut c_char = std::ptr::null_mut();
    // SAFETY: errno is this thread's; `start` is a valid C string and `end` an
    // out-pointer the parser sets within it.
    unsafe {
        *libc::__errno_location() = 0;
        let v = f(start, &mut end);
        let ok = *libc::__errno_location() == 0 && end.cast_const() != start && *end == 0;
        ok.then_some(v)
    }
}

pub fn signed(text: &CStr) -> Option<i64> {
    // SAFETY: `s` and `e` come from `whole`.
    whole(text, |s, e| unsafe { libc::strtoll(s, e, 10) })
}

pub fn unsigned(text: &CStr) -> Option<u64> {
    // SAFETY: `s` and `e` come from `whole`.
    whole(text, |s, e| unsafe { libc::strtoull(s, e, 10) })
}

/// An `unsigned int`: a negative number is taken modulo 2^32 if its magnitude fits.
pub fn unsigned_int(text: &CStr) -> Option<u32> {
    let v = unsigned(text)?;
    if text.to_bytes().contains(&b'-') {
        let magnitude = v.wrapping_neg();
        (magnitude <= u64::from(u32::MAX)).then_some(v as u32)
    } else {
        u32::try_from(v).ok()
    }
}

pub fn double(text: &CStr) -> Option<f64> {
    // SAFETY: `s` and `e` come from `whole`.
    whole(text, |s, e| unsafe { libc::strtod(s, e) })
}

pub fn boolean(text: &CStr) -> Option<bool> {
    match text.to_bytes() {
        b"1" => Some(true),
        b"0" => Some(false),
        t if t.eq_ignore_ascii_case(b"true") => Some(true),
        t if t.eq_ignore_ascii_case(b"false") => Some(false),
        _ => None,
    }
}
