//! The helpers through their C entry points: what libvirt 9.0 does with the same calls.

use std::ffi::{c_int, CStr};
use std::ptr;

use super::add::*;
use super::get::*;
use super::parse;
use super::storage::*;
use crate::ffi::generated::types::virTypedParameterPtr;

#[test]
fn add_get_and_free() {
    let (mut p, mut n, mut max): (virTypedParameterPtr, c_int, c_int) = (ptr::null_mut(), 0, 0);
    unsafe {
        assert_eq!(
            virTypedParamsAddInt(&mut p, &mut n, &mut max, c"a".as_ptr(), 5),
            0
        );
        assert_eq!(
            virTypedParamsAddString(&mut p, &mut n, &mut max, c"s".as_ptr(), c"x".as_ptr()),
            0
        );
        assert_eq!(
            virTypedParamsAddBoolean(&mut p, &mut n, &mut max, c"b".as_ptr(), 42),
            0
        );
        assert_eq!((n, max), (3, 3));
        let mut i = 0;
        assert_eq!(virTypedParamsGetInt(p, n, c"a".as_ptr(), &mut i), 1);
        assert_eq!(i, 5);
        assert_eq!(virTypedParamsGetBoolean(p, n, c"b".as_ptr(), &mut i), 1);
        assert_eq!(i, 1);
        assert_eq!(virTypedParamsGetInt(p, n, c"s".as_ptr(), &mut i), -1);
        assert_eq!(virTypedParamsGetInt(p, n, c"none".as_ptr(), &mut i), 0);
        let mut s = ptr::null();
        assert_eq!(virTypedParamsGetString(p, n, c"s".as_ptr(), &mut s), 1);
        assert_eq!(CStr::from_ptr(s), c"x");
        assert_eq!(virTypedParamsGet(p, n, c"b".as_ptr()), p.add(2));
        virTypedParamsFree(p, n);
    }
}

#[test]
fn growth_follows_libvirt() {
    let (mut p, mut n, mut max): (virTypedParameterPtr, c_int, c_int) = (ptr::null_mut(), 0, 0);
    let mut seen = Vec::new();
    for _ in 0..9 {
        unsafe { virTypedParamsAddInt(&mut p, &mut n, &mut max, c"k".as_ptr(), 1) };
        seen.push(max);
    }
    assert_eq!(seen, [1, 2, 3, 4, 6, 6, 9, 9, 9]);
    unsafe { virTypedParamsFree(p, n) };
}

#[test]
fn parsing_from_strings() {
    use parse::*;
    assert_eq!(signed(c" 12"), Some(12));
    assert_eq!(signed(c"12 "), None);
    assert_eq!(signed(c"0x10"), None);
    assert_eq!(unsigned_int(c"-1"), Some(u32::MAX));
    assert_eq!(unsigned_int(c"010"), Some(10));
    assert_eq!(unsigned_int(c"4294967296"), None);
    assert_eq!(unsigned(c"-5"), Some(5u64.wrapping_neg()));
    assert_eq!(double(c"2.5e1"), Some(25.0));
    assert_eq!(double(c"abc"), None);
    assert_eq!(boolean(c"TRUE"), Some(true));
    assert_eq!(boolean(c"2"), None);
}

#[test]
fn long_names_and_null_arrays_are_refused() {
    let (mut p, mut n, mut max): (virTypedParameterPtr, c_int, c_int) = (ptr::null_mut(), 0, 0);
    let long = std::ffi::CString::new("a".repeat(80)).unwrap();
    unsafe {
        assert_eq!(
            virTypedParamsAddInt(&mut p, &mut n, &mut max, long.as_ptr(), 1),
            -1
        );
        assert_eq!(
            virTypedParamsAddInt(ptr::null_mut(), &mut n, &mut max, c"a".as_ptr(), 1),
            -1
        );
        assert_eq!(
            virTypedParamsAddInt(&mut p, &mut n, &mut max, ptr::null(), 1),
            -1
        );
        assert_eq!(n, 0);
        virTypedParamsFree(p, n);
    }
}
