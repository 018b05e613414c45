//! The `virTypedParamsGet*` calls: each finds the first parameter of a name in the
//! caller's array and reads it, allocating nothing.

use std::ffi::{c_char, c_double, c_int, c_longlong, c_uint, c_ulonglong, CStr};
use std::ptr;

use crate::abi::virErrorDomain::VIR_FROM_NONE;
use crate::abi::virErrorNumber::VIR_ERR_INVALID_ARG;
use crate::abi::virTypedParameterType::{self, *};
use crate::ffi::cstr;
use crate::ffi::generated::types::{virTypedParameter, virTypedParameterPtr};
use crate::{Error, Result};

/// Declares a `Get*` call that `get`s one value: the `ffi_fn!` signature, written out
/// in full for build.rs to read, then the type the parameter must have and the read of
/// the union member that type sets.
macro_rules! get_fn {
    (
        $(#[$meta:meta])*
        fn $name:ident(
            params: virTypedParameterPtr,
            nparams: c_int,
            name: *const c_char,
            value: *mut $ty:ty $(,)?
        ) -> c_int = -1;
        $kind:ident, |$p:ident| $read:expr
    ) => {
        ffi_fn! {
            $(#[$meta])*
            fn $name(
                params: virTypedParameterPtr,
                nparams: c_int,
                name: *const c_char,
                value: *mut $ty
            ) -> c_int = -1;
            |_| get(params, nparams, name, $kind, value, |$p| {
                // SAFETY: `get` checked the parameter's type, so this member is the one set.
                unsafe { $read }
            })
        }
    };
}

/// The first of the `nparams` parameters at `params` named `name`.
///
/// # Safety
/// `params` is NULL or points to `nparams` parameters; `name` is NULL or a C string.
unsafe fn find<'a>(
    params: virTypedParameterPtr,
    nparams: c_int,
    name: *const c_char,
) -> Option<&'a mut virTypedParameter> {
    // SAFETY: per the contract.
    let name = unsafe { cstr::borrow(name) }?.to_bytes();
    if params.is_null() {
        return None;
    }
    let n = usize::try_from(nparams).ok()?;
    // SAFETY: `params` holds `n` parameters, per the contract.
    let all = unsafe { std::slice::from_raw_parts_mut(params, n) };
    all.iter_mut().find(|p| {
        // SAFETY: `field` is a NUL-terminated name within the parameter, or full.
        let field = unsafe {
            CStr::from_bytes_until_nul(std::slice::from_raw_parts(
                p.field.as_ptr().cast(),
                p.field.len(),
            ))
        };
        field.is_ok_and(|f| f.to_bytes() == name)
    })
}

ffi_fn! {
    /// The first of the `nparams` parameters at `params` named `name`, or NULL when there is
    /// none. It points into the array, which stays the caller's. Leaves the last error
    /// alone, as libvirt.
    @keep_error fn virTypedParamsGet(
        params: virTypedParameterPtr,
        nparams: c_int,
        name: *const c_char,
    ) -> virTypedParameterPtr = ptr::null_mut();
    {
        // SAFETY: per the contract of this function.
        unsafe { find(params, nparams, name) }.map_or(ptr::null_mut(), |p| p as *mut _)
    }
}

/// Runs a `Get*` call: 1 with the value stored at `out` (when not NULL) if a parameter
/// named `name` exists and has type `want`, 0 if none exists, -1 if its type differs.
fn get<T>(
    params: virTypedParameterPtr,
    nparams: c_int,
    name: *const c_char,
    want: virTypedParameterType,
    out: *mut T,
    read: impl FnOnce(&virTypedParameter) -> T,
) -> Result<c_int> {
    // SAFETY: per the contract of the public functions.
    let Some(p) = (unsafe { find(params, nparams, name) }) else {
        return Ok(0);
    };
    if p.r#type != want as c_int {
        let actual = virTypedParameterType::from_c(p.r#type).map_or("unknown", |t| t.name());
        // SAFETY: found by name, so `name` is a C string.
        let name = unsafe { CStr::from_ptr(name) }.to_string_lossy();
        return Err(Error::new(
            VIR_ERR_INVALID_ARG,
            VIR_FROM_NONE,
            format!(
                "Invalid type '{}' requested for parameter '{name}', actual type is '{actual}'",
                want.name()
            ),
        ));
    }
    if !out.is_null() {
        // SAFETY: `out` is the caller's out-parameter.
        unsafe { out.write(read(p)) };
    }
    Ok(1)
}

get_fn! {
    /// Reads the `int` parameter named `name` among the `nparams` at `params` into `*value`
    /// (when not NULL). Returns 1 when found, 0 when there is none, -1 when its type
    /// differs. Nothing is allocated.
    fn virTypedParamsGetInt(
        params: virTypedParameterPtr,
        nparams: c_int,
        name: *const c_char,
        value: *mut c_int,
    ) -> c_int = -1;
    VIR_TYPED_PARAM_INT, |p| p.value.i
}

get_fn! {
    /// Reads an `unsigned int` parameter, as `virTypedParamsGetInt`: 1 when found, 0 when
    /// there is none, -1 on failure.
    fn virTypedParamsGetUInt(
        params: virTypedParameterPtr,
        nparams: c_int,
        name: *const c_char,
        value: *mut c_uint,
    ) -> c_int = -1;
    VIR_TYPED_PARAM_UINT, |p| p.value.ui
}

get_fn! {
    /// Reads a `long long` parameter, as `virTypedParamsGetInt`: 1 when found, 0 when there
    /// is none, -1 on failure.
    fn virTypedParamsGetLLong(
        params: virTypedParameterPtr,
        nparams: c_int,
        name: *const c_char,
        value: *mut c_longlong,
    ) -> c_int = -1;
    VIR_TYPED_PARAM_LLONG, |p| p.value.l
}

get_fn! {
    /// Reads an `unsigned long long` parameter, as `virTypedParamsGetInt`: 1 when found, 0
    /// when there is none, -1 on failure.
    fn virTypedParamsGetULLong(
        params: virTypedParameterPtr,
        nparams: c_int,
        name: *const c_char,
        value: *mut c_ulonglong,
    ) -> c_int = -1;
    VIR_TYPED_PARAM_ULLONG, |p| p.value.ul
}

get_fn! {
    /// Reads a `double` parameter, as `virTypedParamsGetInt`: 1 when found, 0 when there is
    /// none, -1 on failure.
    fn virTypedParamsGetDouble(
        params: virTypedParameterPtr,
        nparams: c_int,
        name: *const c_char,
        value: *mut c_double,
    ) -> c_int = -1;
    VIR_TYPED_PARAM_DOUBLE, |p| p.value.d
}

get_fn! {
    /// Reads a boolean parameter, as 1 or 0, as `virTypedParamsGetInt`: 1 when found, 0 when
    /// there is none, -1 on failure.
    fn virTypedParamsGetBoolean(
        params: virTypedParameterPtr,
        nparams: c_int,
        name: *const c_char,
        value: *mut c_int,
    ) -> c_int = -1;
    VIR_TYPED_PARAM_BOOLEAN, |p| c_int::from(p.value.b != 0)
}

get_fn! {
    /// Reads a string parameter, as `virTypedParamsGetInt`: 1 when found, 0 when there is
    /// none, -1 on failure. The string stays the array's: do not free it.
    fn virTypedParamsGetString(
        params: virTypedParameterPtr,
        nparams: c_int,
        name: *const c_char,
        value: *mut *const c_char,
    ) -> c_int = -1;
    VIR_TYPED_PARAM_STRING, |p| p.value.s.cast_const()
}
