//! The `virTypedParamsAdd*` calls: each appends one parameter (one per string for
//! `virTypedParamsAddStringList`) to the caller's array, growing it.

use std::ffi::{c_char, c_double, c_int, c_longlong, c_uint, c_ulonglong, CStr};

use super::parse;
use super::storage::{null_error, Array, Value};
use crate::abi::virErrorDomain::VIR_FROM_NONE;
use crate::abi::virErrorNumber::{VIR_ERR_INTERNAL_ERROR, VIR_ERR_INVALID_ARG};
use crate::abi::virTypedParameterType::{self, *};
use crate::ffi::call::Call;
use crate::ffi::cstr;
use crate::ffi::generated::types::virTypedParameterPtr;
use crate::{Error, Result};

/// Declares an `Add*` call that `add`s one value: the `ffi_fn!` signature, written out
/// in full for build.rs to read, then a closure from the parameter's name to its
/// `Value`.
macro_rules! add_fn {
    (
        $(#[$meta:meta])*
        fn $name:ident(
            params: *mut virTypedParameterPtr,
            nparams: *mut c_int,
            maxparams: *mut c_int,
            name: *const c_char,
            $($arg:ident: $ty:ty),+ $(,)?
        ) -> c_int = -1;
        |$field:pat_param| $value:expr
    ) => {
        ffi_fn! {
            $(#[$meta])*
            fn $name(
                params: *mut virTypedParameterPtr,
                nparams: *mut c_int,
                maxparams: *mut c_int,
                name: *const c_char,
                $($arg: $ty),+
            ) -> c_int = -1;
            |call| add(call, params, nparams, maxparams, name, |$field| $value)
        }
    };
}

/// The name of the parameter to add, which must be given.
///
/// # Safety
/// `name` is NULL or a C string valid for the call.
unsafe fn required_name<'a>(call: &Call, name: *const c_char) -> Result<&'a CStr> {
    // SAFETY: per the contract.
    unsafe { cstr::borrow(name) }.ok_or_else(|| null_error(call, "name"))
}

/// Runs an `Add*` call: checks the arguments, makes the value, appends it.
fn add(
    call: &mut Call,
    params: *mut virTypedParameterPtr,
    nparams: *mut c_int,
    maxparams: *mut c_int,
    name: *const c_char,
    value: impl FnOnce(&CStr) -> Result<Value>,
) -> Result<c_int> {
    let array = Array::new(call, params, nparams, maxparams)?;
    // SAFETY: `name` is NULL or a C string, per the contract.
    let name = unsafe { required_name(call, name) }?;
    let value = value(name)?;
    // SAFETY: the caller's array, count and capacity, per the contract.
    unsafe { array.push(name, value) }.map(|()| 0)
}

add_fn! {
    /// Appends an `int` parameter named `name` to the array `*params` of `*nparams`
    /// parameters and room for `*maxparams`, growing it as needed. Returns 0, or -1 on
    /// failure. The caller releases the array with `virTypedParamsFree`.
    fn virTypedParamsAddInt(
        params: *mut virTypedParameterPtr,
        nparams: *mut c_int,
        maxparams: *mut c_int,
        name: *const c_char,
        value: c_int,
    ) -> c_int = -1;
    |_| Ok(Value::Int(value))
}

add_fn! {
    /// Appends an `unsigned int` parameter, as `virTypedParamsAddInt`. Returns 0, or -1 on
    /// failure; release the array with `virTypedParamsFree`.
    fn virTypedParamsAddUInt(
        params: *mut virTypedParameterPtr,
        nparams: *mut c_int,
        maxparams: *mut c_int,
        name: *const c_char,
        value: c_uint,
    ) -> c_int = -1;
    |_| Ok(Value::UInt(value))
}

add_fn! {
    /// Appends a `long long` parameter, as `virTypedParamsAddInt`. Returns 0, or -1 on
    /// failure; release the array with `virTypedParamsFree`.
    fn virTypedParamsAddLLong(
        params: *mut virTypedParameterPtr,
        nparams: *mut c_int,
        maxparams: *mut c_int,
        name: *const c_char,
        value: c_longlong,
    ) -> c_int = -1;
    |_| Ok(Value::LLong(value))
}

add_fn! {
    /// Appends an `unsigned long long` parameter, as `virTypedParamsAddInt`. Returns 0, or -1
    /// on failure; release the array with `virTypedParamsFree`.
    fn virTypedParamsAddULLong(
        params: *mut virTypedParameterPtr,
        nparams: *mut c_int,
        maxparams: *mut c_int,
        name: *const c_char,
        value: c_ulonglong,
    ) -> c_int = -1;
    |_| Ok(Value::ULLong(value))
}

add_fn! {
    /// Appends a `double` parameter, as `virTypedParamsAddInt`. Returns 0, or -1 on failure;
    /// release the array with `virTypedParamsFree`.
    fn virTypedParamsAddDouble(
        params: *mut virTypedParameterPtr,
        nparams: *mut c_int,
        maxparams: *mut c_int,
        name: *const c_char,
        value: c_double,
    ) -> c_int = -1;
    |_| Ok(Value::Double(value))
}

add_fn! {
    /// Appends a boolean parameter, as `virTypedParamsAddInt`: any non-zero `value` is stored
    /// as 1. Returns 0, or -1 on failure; release the array with `virTypedParamsFree`.
    fn virTypedParamsAddBoolean(
        params: *mut virTypedParameterPtr,
        nparams: *mut c_int,
        maxparams: *mut c_int,
        name: *const c_char,
        value: c_int,
    ) -> c_int = -1;
    |_| Ok(Value::Boolean(value != 0))
}

add_fn! {
    /// Appends a string parameter holding a copy of `value` (NULL stores an empty string), as
    /// `virTypedParamsAddInt`; the array owns the copy. Returns 0, or -1 on failure; release
    /// the array with `virTypedParamsFree`.
    fn virTypedParamsAddString(
        params: *mut virTypedParameterPtr,
        nparams: *mut c_int,
        maxparams: *mut c_int,
        name: *const c_char,
        value: *const c_char,
    ) -> c_int = -1;
    |_| {
        // SAFETY: `value` is NULL or a C string, per the contract.
        unsafe { Value::string(value) }
    }
}

ffi_fn! {
    /// Appends one string parameter named `name` for each string of the NULL-terminated
    /// array `values` (none if `values` is NULL), each a copy the array owns. Returns 0, or
    /// -1 on failure; release the array with `virTypedParamsFree`.
    fn virTypedParamsAddStringList(
        params: *mut virTypedParameterPtr,
        nparams: *mut c_int,
        maxparams: *mut c_int,
        name: *const c_char,
        values: *mut *const c_char,
    ) -> c_int = -1;
    |call| {
        let array = Array::new(call, params, nparams, maxparams)?;
        if values.is_null() {
            return Ok(0);
        }
        // SAFETY: `name` is NULL or a C string, per the contract.
        let name = unsafe { required_name(call, name) }?;
        let mut i = 0;
        // SAFETY: `values` is a NULL-terminated array of C strings, per the contract.
        while let Some(s) = unsafe { values.add(i).read().as_ref() } {
            // SAFETY: as above; the array, count and capacity are the caller's.
            unsafe { array.push(name, Value::string(s)?) }?;
            i += 1;
        }
        Ok(0)
    }
}

add_fn! {
    /// Appends a parameter of type `type_` whose value is parsed from the text `value`, as
    /// libvirt parses it: decimal integers (an unsigned type takes a negative number modulo
    /// its range), C floating-point syntax, "1"/"true" and "0"/"false" for booleans.
    /// Returns 0, or -1 on failure; release the array with `virTypedParamsFree`.
    fn virTypedParamsAddFromString(
        params: *mut virTypedParameterPtr,
        nparams: *mut c_int,
        maxparams: *mut c_int,
        name: *const c_char,
        r#type: c_int,
        value: *const c_char,
    ) -> c_int = -1;
    |name| {
        let field = name.to_string_lossy();
        // SAFETY: `value` is NULL or a C string, per the contract.
        let Some(text) = (unsafe { cstr::borrow(value) }) else {
            return Err(Error::new(
                VIR_ERR_INVALID_ARG,
                VIR_FROM_NONE,
                format!("NULL value for field '{field}'"),
            ));
        };
        let Some(kind) = virTypedParameterType::from_c(r#type) else {
            return Err(Error::new(
                VIR_ERR_INTERNAL_ERROR,
                VIR_FROM_NONE,
                format!("unexpected type {type} for field {field}"),
            ));
        };
        let invalid = || {
            Error::new(
                VIR_ERR_INVALID_ARG,
                VIR_FROM_NONE,
                format!("Invalid value for field '{field}': expected {}", kind.name()),
            )
        };
        Ok(match kind {
            VIR_TYPED_PARAM_INT => Value::Int(
                parse::signed(text)
                    .and_then(|v| v.try_into().ok())
                    .ok_or_else(invalid)?,
            ),
            VIR_TYPED_PARAM_UINT => Value::UInt(parse::unsigned_int(text).ok_or_else(invalid)?),
            VIR_TYPED_PARAM_LLONG => Value::LLong(parse::signed(text).ok_or_else(invalid)?),
            VIR_TYPED_PARAM_ULLONG => Value::ULLong(parse::unsigned(text).ok_or_else(invalid)?),
            VIR_TYPED_PARAM_DOUBLE => Value::Double(parse::double(text).ok_or_else(invalid)?),
            VIR_TYPED_PARAM_BOOLEAN => {
                Value::Boolean(parse::boolean(text).ok_or_else(|| {
                    Error::new(
                        VIR_ERR_INVALID_ARG,
                        VIR_FROM_NONE,
                        format!("Invalid boolean value for field '{field}'"),
                    )
                })?)
            }
            // SAFETY: `text` is a valid C string.
            VIR_TYPED_PARAM_STRING => unsafe { Value::string(text.as_ptr()) }?,
        })
    }
}
