//! Typed parameters: the arrays of named, typed values that libvirt's `*Params` calls take
//! and return, and libvirt's helpers that build, read and free them.
//!
//! The helpers need no driver, so virshim implements them as libvirt 9.0 behaves
//! (observed on Debian's libvirt.so.0): arrays grow by half, from the C allocator, with
//! new entries zeroed; a name may be added twice; names longer than 79 bytes are refused;
//! `virTypedParamsGet*` return 1 when found, 0 when not, -1 when the type differs.
//! Where libvirt dereferences a NULL `params`, `nparams` or `maxparams` of the `Add*`
//! calls, or stores a NULL name, virshim fails with `VIR_ERR_INVALID_ARG` instead; a
//! negative `nparams` finds nothing.

use std::ffi::{c_char, c_double, c_int, c_longlong, c_uint, c_ulonglong, CStr};
use std::ptr;

use super::call::Call;
use super::cstr;
use super::generated::types::{
    virTypedParameter, virTypedParameterPtr, VIR_TYPED_PARAM_FIELD_LENGTH,
};
use crate::abi::virErrorDomain::VIR_FROM_NONE;
use crate::abi::virErrorNumber::{VIR_ERR_INTERNAL_ERROR, VIR_ERR_INVALID_ARG};
use crate::abi::virTypedParameterType::{self, *};
use crate::{Error, Result};

/// A value to store, already converted to C.
enum Value {
    Int(c_int),
    UInt(c_uint),
    LLong(c_longlong),
    ULLong(c_ulonglong),
    Double(c_double),
    Boolean(bool),
    /// A string from the C allocator, owned by the parameter once stored.
    String(*mut c_char),
}

impl Value {
    fn kind(&self) -> virTypedParameterType {
        match self {
            Value::Int(_) => VIR_TYPED_PARAM_INT,
            Value::UInt(_) => VIR_TYPED_PARAM_UINT,
            Value::LLong(_) => VIR_TYPED_PARAM_LLONG,
            Value::ULLong(_) => VIR_TYPED_PARAM_ULLONG,
            Value::Double(_) => VIR_TYPED_PARAM_DOUBLE,
            Value::Boolean(_) => VIR_TYPED_PARAM_BOOLEAN,
            Value::String(_) => VIR_TYPED_PARAM_STRING,
        }
    }

    /// A copy of `s` (NULL stores ""), as libvirt's string parameters hold.
    ///
    /// # Safety
    /// `s` is NULL or a C string.
    unsafe fn string(s: *const c_char) -> Result<Value> {
        // SAFETY: per the contract.
        let text = unsafe { cstr::borrow(s) }.unwrap_or(c"");
        // SAFETY: `text` is a valid C string; the copy is checked below.
        let copy = unsafe { libc::strdup(text.as_ptr()) };
        if copy.is_null() {
            return Err(Error::new(
                VIR_ERR_INTERNAL_ERROR,
                VIR_FROM_NONE,
                "out of memory",
            ));
        }
        Ok(Value::String(copy))
    }

    /// Frees what the value owns, when it was not stored.
    fn discard(self) {
        if let Value::String(s) = self {
            // SAFETY: the copy came from strdup and was never stored.
            unsafe { libc::free(s.cast()) };
        }
    }
}

/// The array arguments of an `Add*` call, checked.
struct Array {
    params: *mut virTypedParameterPtr,
    nparams: *mut c_int,
    maxparams: *mut c_int,
}

impl Array {
    fn new(
        call: &Call,
        params: *mut virTypedParameterPtr,
        nparams: *mut c_int,
        maxparams: *mut c_int,
    ) -> Result<Array> {
        Ok(Array {
            params: null_arg(call, params, "params")?,
            nparams: null_arg(call, nparams, "nparams")?,
            maxparams: null_arg(call, maxparams, "maxparams")?,
        })
    }

    /// Appends one parameter named `name`, growing the array as libvirt does.
    ///
    /// # Safety
    /// The three pointers are the caller's array, count and capacity, consistent with
    /// each other; `name` is a C string.
    unsafe fn push(&self, name: &CStr, value: Value) -> Result<()> {
        let field = name.to_bytes();
        if field.len() >= VIR_TYPED_PARAM_FIELD_LENGTH {
            value.discard();
            return Err(Error::new(
                VIR_ERR_INTERNAL_ERROR,
                VIR_FROM_NONE,
                format!("Field name '{}' too long", name.to_string_lossy()),
            ));
        }
        // SAFETY: per the contract, the pointers are valid and consistent.
        unsafe {
            let n = usize::try_from(*self.nparams).unwrap_or(0);
            let max = usize::try_from(*self.maxparams).unwrap_or(0);
            if n >= max || (*self.params).is_null() {
                let grown = (n + 1).max(max + max / 2);
                let size = grown * std::mem::size_of::<virTypedParameter>();
                let array = libc::realloc((*self.params).cast(), size).cast::<virTypedParameter>();
                if array.is_null() {
                    value.discard();
                    return Err(Error::new(
                        VIR_ERR_INTERNAL_ERROR,
                        VIR_FROM_NONE,
                        "out of memory",
                    ));
                }
                ptr::write_bytes(array.add(n), 0, grown - n);
                *self.params = array;
                *self.maxparams = c_int::try_from(grown).unwrap_or(c_int::MAX);
            }
            let p = &mut *(*self.params).add(n);
            p.field = [0; VIR_TYPED_PARAM_FIELD_LENGTH];
            ptr::copy_nonoverlapping(field.as_ptr().cast(), p.field.as_mut_ptr(), field.len());
            p.r#type = value.kind() as c_int;
            match value {
                Value::Int(v) => p.value.i = v,
                Value::UInt(v) => p.value.ui = v,
                Value::LLong(v) => p.value.l = v,
                Value::ULLong(v) => p.value.ul = v,
                Value::Double(v) => p.value.d = v,
                Value::Boolean(v) => p.value.b = c_char::from(v),
                Value::String(v) => p.value.s = v,
            }
            *self.nparams += 1;
        }
        Ok(())
    }
}

fn null_error(call: &Call, name: &str) -> Error {
    Error::arg_check(
        VIR_FROM_NONE,
        call.api(),
        name,
        format!("{name} in {} must not be NULL", call.api()),
    )
}

fn null_arg<T>(call: &Call, p: *mut T, name: &str) -> Result<*mut T> {
    if p.is_null() {
        Err(null_error(call, name))
    } else {
        Ok(p)
    }
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

ffi_fn! {
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
    |call| {
        add(
            call,
            params,
            nparams,
            maxparams,
            name,
            |_| Ok(Value::Int(value)),
        )
    }
}

ffi_fn! {
    /// Appends an `unsigned int` parameter, as `virTypedParamsAddInt`. Returns 0, or -1 on
    /// failure; release the array with `virTypedParamsFree`.
    fn virTypedParamsAddUInt(
        params: *mut virTypedParameterPtr,
        nparams: *mut c_int,
        maxparams: *mut c_int,
        name: *const c_char,
        value: c_uint,
    ) -> c_int = -1;
    |call| {
        add(
            call,
            params,
            nparams,
            maxparams,
            name,
            |_| Ok(Value::UInt(value)),
        )
    }
}

ffi_fn! {
    /// Appends a `long long` parameter, as `virTypedParamsAddInt`. Returns 0, or -1 on
    /// failure; release the array with `virTypedParamsFree`.
    fn virTypedParamsAddLLong(
        params: *mut virTypedParameterPtr,
        nparams: *mut c_int,
        maxparams: *mut c_int,
        name: *const c_char,
        value: c_longlong,
    ) -> c_int = -1;
    |call| {
        add(
            call,
            params,
            nparams,
            maxparams,
            name,
            |_| Ok(Value::LLong(value)),
        )
    }
}

ffi_fn! {
    /// Appends an `unsigned long long` parameter, as `virTypedParamsAddInt`. Returns 0, or -1
    /// on failure; release the array with `virTypedParamsFree`.
    fn virTypedParamsAddULLong(
        params: *mut virTypedParameterPtr,
        nparams: *mut c_int,
        maxparams: *mut c_int,
        name: *const c_char,
        value: c_ulonglong,
    ) -> c_int = -1;
    |call| {
        add(
            call,
            params,
            nparams,
            maxparams,
            name,
            |_| Ok(Value::ULLong(value)),
        )
    }
}

ffi_fn! {
    /// Appends a `double` parameter, as `virTypedParamsAddInt`. Returns 0, or -1 on failure;
    /// release the array with `virTypedParamsFree`.
    fn virTypedParamsAddDouble(
        params: *mut virTypedParameterPtr,
        nparams: *mut c_int,
        maxparams: *mut c_int,
        name: *const c_char,
        value: c_double,
    ) -> c_int = -1;
    |call| {
        add(
            call,
            params,
            nparams,
            maxparams,
            name,
            |_| Ok(Value::Double(value)),
        )
    }
}

ffi_fn! {
    /// Appends a boolean parameter, as `virTypedParamsAddInt`: any non-zero `value` is stored
    /// as 1. Returns 0, or -1 on failure; release the array with `virTypedParamsFree`.
    fn virTypedParamsAddBoolean(
        params: *mut virTypedParameterPtr,
        nparams: *mut c_int,
        maxparams: *mut c_int,
        name: *const c_char,
        value: c_int,
    ) -> c_int = -1;
    |call| {
        add(
            call,
            params,
            nparams,
            maxparams,
            name,
            |_| Ok(Value::Boolean(value != 0)),
        )
    }
}

ffi_fn! {
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
    |call| {
        add(
            call,
            params,
            nparams,
            maxparams,
            name,
            |_| {
                // SAFETY: `value` is NULL or a C string, per the contract.
                unsafe { Value::string(value) }
            },
        )
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

ffi_fn! {
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
    |call| {
        add(
            call,
            params,
            nparams,
            maxparams,
            name,
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
                        format!(
                            "Invalid value for field '{field}': expected {}",
                            kind.name()
                        ),
                    )
                };
                Ok(match kind {
                    VIR_TYPED_PARAM_INT => Value::Int(
                        parse::signed(text)
                            .and_then(|v| v.try_into().ok())
                            .ok_or_else(invalid)?,
                    ),
                    VIR_TYPED_PARAM_UINT => {
                        Value::UInt(parse::unsigned_int(text).ok_or_else(invalid)?)
                    }
                    VIR_TYPED_PARAM_LLONG => {
                        Value::LLong(parse::signed(text).ok_or_else(invalid)?)
                    }
                    VIR_TYPED_PARAM_ULLONG => {
                        Value::ULLong(parse::unsigned(text).ok_or_else(invalid)?)
                    }
                    VIR_TYPED_PARAM_DOUBLE => {
                        Value::Double(parse::double(text).ok_or_else(invalid)?)
                    }
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
            },
        )
    }
}

/// libvirt's number syntax, through the C library's own parsers.
mod parse {
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

ffi_fn! {
    /// Reads the `int` parameter named `name` among the `nparams` at `params` into `*value`
    /// (when not NULL). Returns 1 when found, 0 when there is none, -1 when its type
    /// differs. Nothing is allocated.
    fn virTypedParamsGetInt(
        params: virTypedParameterPtr,
        nparams: c_int,
        name: *const c_char,
        value: *mut c_int,
    ) -> c_int = -1;
    |_| {
        // SAFETY (all `Get*` readers): the type was checked, so that member is the one set.
        get(
            params,
            nparams,
            name,
            VIR_TYPED_PARAM_INT,
            value,
            |p| unsafe { p.value.i },
        )
    }
}

ffi_fn! {
    /// Reads an `unsigned int` parameter, as `virTypedParamsGetInt`: 1 when found, 0 when
    /// there is none, -1 on failure.
    fn virTypedParamsGetUInt(
        params: virTypedParameterPtr,
        nparams: c_int,
        name: *const c_char,
        value: *mut c_uint,
    ) -> c_int = -1;
    |_| {
        get(
            params,
            nparams,
            name,
            VIR_TYPED_PARAM_UINT,
            value,
            |p| unsafe { p.value.ui },
        )
    }
}

ffi_fn! {
    /// Reads a `long long` parameter, as `virTypedParamsGetInt`: 1 when found, 0 when there
    /// is none, -1 on failure.
    fn virTypedParamsGetLLong(
        params: virTypedParameterPtr,
        nparams: c_int,
        name: *const c_char,
        value: *mut c_longlong,
    ) -> c_int = -1;
    |_| {
        get(
            params,
            nparams,
            name,
            VIR_TYPED_PARAM_LLONG,
            value,
            |p| unsafe { p.value.l },
        )
    }
}

ffi_fn! {
    /// Reads an `unsigned long long` parameter, as `virTypedParamsGetInt`: 1 when found, 0
    /// when there is none, -1 on failure.
    fn virTypedParamsGetULLong(
        params: virTypedParameterPtr,
        nparams: c_int,
        name: *const c_char,
        value: *mut c_ulonglong,
    ) -> c_int = -1;
    |_| {
        get(
            params,
            nparams,
            name,
            VIR_TYPED_PARAM_ULLONG,
            value,
            |p| unsafe { p.value.ul },
        )
    }
}

ffi_fn! {
    /// Reads a `double` parameter, as `virTypedParamsGetInt`: 1 when found, 0 when there is
    /// none, -1 on failure.
    fn virTypedParamsGetDouble(
        params: virTypedParameterPtr,
        nparams: c_int,
        name: *const c_char,
        value: *mut c_double,
    ) -> c_int = -1;
    |_| {
        get(
            params,
            nparams,
            name,
            VIR_TYPED_PARAM_DOUBLE,
            value,
            |p| unsafe { p.value.d },
        )
    }
}

ffi_fn! {
    /// Reads a boolean parameter, as 1 or 0, as `virTypedParamsGetInt`: 1 when found, 0 when
    /// there is none, -1 on failure.
    fn virTypedParamsGetBoolean(
        params: virTypedParameterPtr,
        nparams: c_int,
        name: *const c_char,
        value: *mut c_int,
    ) -> c_int = -1;
    |_| {
        get(
            params,
            nparams,
            name,
            VIR_TYPED_PARAM_BOOLEAN,
            value,
            |p| {
                // SAFETY: see virTypedParamsGetInt.
                c_int::from(unsafe { p.value.b } != 0)
            },
        )
    }
}

ffi_fn! {
    /// Reads a string parameter, as `virTypedParamsGetInt`: 1 when found, 0 when there is
    /// none, -1 on failure. The string stays the array's: do not free it.
    fn virTypedParamsGetString(
        params: virTypedParameterPtr,
        nparams: c_int,
        name: *const c_char,
        value: *mut *const c_char,
    ) -> c_int = -1;
    |_| {
        get(
            params,
            nparams,
            name,
            VIR_TYPED_PARAM_STRING,
            value,
            |p| unsafe { p.value.s.cast_const() },
        )
    }
}

ffi_fn! {
    /// Frees the strings of the `nparams` parameters at `params`, leaving the array itself to
    /// the caller. Leaves the last error alone.
    @keep_error fn virTypedParamsClear(params: virTypedParameterPtr, nparams: c_int); {
        let Ok(n) = usize::try_from(nparams) else {
            return;
        };
        if params.is_null() {
            return;
        }
        // SAFETY: `params` holds `nparams` parameters, whose strings came from the C allocator.
        unsafe {
            for p in std::slice::from_raw_parts_mut(params, n) {
                if p.r#type == VIR_TYPED_PARAM_STRING as c_int {
                    libc::free(p.value.s.cast());
                    p.value.s = ptr::null_mut();
                }
            }
        }
    }
}

ffi_fn! {
    /// Frees the strings of the `nparams` parameters at `params`, then the array, which must
    /// come from the C allocator (as the `virTypedParamsAdd*` calls make it). Leaves the last
    /// error alone.
    @keep_error fn virTypedParamsFree(params: virTypedParameterPtr, nparams: c_int); {
        // SAFETY: per the contract; the array came from the C allocator.
        unsafe {
            virTypedParamsClear(params, nparams);
            libc::free(params.cast());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
