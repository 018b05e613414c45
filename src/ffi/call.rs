//! The frame of every entry point: libvirt's error protocol and its argument checks.

use std::any::Any;
use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use super::cstr;
use super::error::{raise, reset_last};
use super::handles::{Object, CONNECTIONS};
use super::types::{virConnect, virConnectPtr, virDomain, virDomainPtr};
use crate::abi::virErrorDomain::{self, VIR_FROM_DOMAIN};
use crate::abi::virErrorNumber::VIR_ERR_INVALID_CONN;
use crate::{Error, Result};

/// One call of a public function: its name, for messages, and the connection it
/// concerns once known, to which its error is dispatched.
pub(super) struct Call {
    api: &'static str,
    conn: Option<Arc<virConnect>>,
}

impl Call {
    /// The name of the public function being called.
    pub fn api(&self) -> &'static str {
        self.api
    }

    /// The live connection `ptr` names, or libvirt's "invalid connection pointer" error.
    pub fn conn(&mut self, ptr: virConnectPtr) -> Result<Arc<virConnect>> {
        self.conn_in(ptr, VIR_FROM_DOMAIN)
    }

    /// As [`Call::conn`], for the few calls that report the bad pointer in another domain.
    pub fn conn_in(
        &mut self,
        ptr: virConnectPtr,
        domain: virErrorDomain,
    ) -> Result<Arc<virConnect>> {
        let conn = CONNECTIONS
            .get(ptr)
            .ok_or_else(|| Error::new(VIR_ERR_INVALID_CONN, domain, self.api))?;
        self.conn = Some(Arc::clone(&conn));
        Ok(conn)
    }

    /// The live object `ptr` names, or libvirt's "invalid ... pointer" error for its kind;
    /// its connection is the one the call reports to.
    pub fn object<T: Object>(&mut self, ptr: *mut T) -> Result<Arc<T>> {
        let (code, domain) = T::INVALID;
        let obj = T::registry()
            .get(ptr)
            .ok_or_else(|| Error::new(code, domain, self.api))?;
        self.conn = Some(Arc::clone(obj.conn()));
        Ok(obj)
    }

    /// The live domain handle `ptr` names, or libvirt's "invalid domain pointer" error.
    pub fn domain(&mut self, ptr: virDomainPtr) -> Result<Arc<virDomain>> {
        self.object(ptr)
    }

    /// A required string argument: "`name` in `api` must not be NULL" when absent.
    ///
    /// # Safety
    /// `p` is NULL or a NUL-terminated string valid for the call.
    pub unsafe fn string<'a>(&self, p: *const c_char, name: &str) -> Result<&'a CStr> {
        // SAFETY: as the caller guarantees.
        unsafe { cstr::borrow(p) }.ok_or_else(|| self.null_arg(name))
    }

    /// A required pointer argument.
    pub fn non_null<T>(&self, p: *mut T, name: &str) -> Result<*mut T> {
        if p.is_null() {
            Err(self.null_arg(name))
        } else {
            Ok(p)
        }
    }

    fn null_arg(&self, name: &str) -> Error {
        Error::arg_check(
            VIR_FROM_DOMAIN,
            self.api,
            name,
            format!("{name} in {} must not be NULL", self.api),
        )
    }

    /// An output array of `n` elements, which may be NULL only when `n` is 0.
    pub fn array<T>(&self, p: *mut T, name: &str, n: usize) -> Result<*mut T> {
        if n == 0 {
            Ok(p)
        } else {
            self.non_null(p, name)
        }
    }

    /// A count argument that must not be negative.
    pub fn non_negative(&self, n: i32, name: &str) -> Result<usize> {
        usize::try_from(n).map_err(|_| {
            Error::arg_check(
                VIR_FROM_DOMAIN,
                self.api,
                name,
                format!("{name} in {} must be zero or greater", self.api),
            )
        })
    }
}

/// Runs the body of public function `api`: clears the thread's last error, and turns a
/// failure or a panic into a dispatched libvirt error and the `fail` value.
pub(super) fn entry<T>(api: &'static str, fail: T, body: impl FnOnce(&mut Call) -> Result<T>) -> T {
    reset_last();
    let mut call = Call { api, conn: None };
    let err = match catch_unwind(AssertUnwindSafe(|| body(&mut call))) {
        Ok(Ok(value)) => return value,
        Ok(Err(err)) => err,
        Err(panic) => panicked(api, panic),
    };
    raise(&err, call.conn.as_deref());
    fail
}

/// Runs the body of public function `api` that leaves the last error alone: only a panic
/// becomes a dispatched error, and the `fail` value.
pub(super) fn guarded<T>(api: &'static str, fail: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|panic| {
        raise(&panicked(api, panic), None);
        fail
    })
}

/// The internal error a panic in public function `api` becomes.
fn panicked(api: &str, panic: Box<dyn Any + Send>) -> Error {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    Error::internal(format!("{api} failed unexpectedly: {what}"))
}
