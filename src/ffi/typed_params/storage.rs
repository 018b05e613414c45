//! The caller's parameter array as libvirt keeps it: from the C allocator, grown by half
//! with new entries zeroed, owning the copies of its strings; and the two calls that
//! release it.

use std::ffi::{c_char, c_double, c_int, c_longlong, c_uint, c_ulonglong, CStr};
use std::ptr;

use crate::abi::virErrorDomain::VIR_FROM_NONE;
use crate::abi::virErrorNumber::VIR_ERR_INTERNAL_ERROR;
use crate::abi::virTypedParameterType::{self, *};
use crate::ffi::call::Call;
use crate::ffi::cstr;
use crate::ffi::generated::types::{
    virTypedParameter, virTypedParameterPtr, VIR_TYPED_PARAM_FIELD_LENGTH,
};
use crate::{Error, Result};

/// A value to store, already converted to C.
pub(super) enum Value {
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
    pub(super) unsafe fn string(s: *const c_char) -> Result<Value> {
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
pub(super) struct Array {
    params: *mut virTypedParameterPtr,
    nparams: *mut c_int,
    maxparams: *mut c_int,
}

impl Array {
    pub(super) fn new(
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
    pub(super) unsafe fn push(&self, name: &CStr, value: Value) -> Result<()> {
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

pub(super) fn null_error(call: &Call, name: &str) -> Error {
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
