//! libvirt's error calls: the thread's last error, per-connection copies, and handlers.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::io::Write;
use std::ptr;
use std::sync::{Mutex, PoisonError};

use super::cstr;
use super::handles::CONNECTIONS;
use super::types::{virConnectPtr, virDomainPtr, virNetworkPtr};
use crate::abi::virErrorLevel::{self, VIR_ERR_ERROR, VIR_ERR_NONE, VIR_ERR_WARNING};
use crate::error::{domain_label, Error};

/// An error as C sees it: libvirt's `virError`, field for field.
#[repr(C)]
pub struct virError {
    /// The error code, a `virErrorNumber`.
    pub code: c_int,
    /// Where the error comes from, a `virErrorDomain`.
    pub domain: c_int,
    /// A human-readable message.
    pub message: *mut c_char,
    /// How serious the error is.
    pub level: virErrorLevel,
    /// Unused, always NULL (deprecated in libvirt).
    pub conn: virConnectPtr,
    /// Unused, always NULL (deprecated in libvirt).
    pub dom: virDomainPtr,
    /// Extra string information.
    pub str1: *mut c_char,
    /// Extra string information.
    pub str2: *mut c_char,
    /// Extra string information.
    pub str3: *mut c_char,
    /// Extra number information.
    pub int1: c_int,
    /// Extra number information.
    pub int2: c_int,
    /// Unused, always NULL (deprecated in libvirt).
    pub net: virNetworkPtr,
}

/// A pointer to a `virError`.
pub type virErrorPtr = *mut virError;

/// A function called with each error: `virSetErrorFunc`, `virConnSetErrorFunc`.
pub type virErrorFunc = Option<unsafe extern "C" fn(userData: *mut c_void, error: virErrorPtr)>;

impl virError {
    const EMPTY: virError = virError {
        code: 0,
        domain: 0,
        message: ptr::null_mut(),
        level: VIR_ERR_NONE,
        conn: ptr::null_mut(),
        dom: ptr::null_mut(),
        str1: ptr::null_mut(),
        str2: ptr::null_mut(),
        str3: ptr::null_mut(),
        int1: 0,
        int2: 0,
        net: ptr::null_mut(),
    };

    /// A C copy of `e`, its strings from the C allocator.
    fn from_error(e: &Error) -> virError {
        let dup = |s: Option<&str>| {
            s.and_then(|s| cstr::to_c(s).ok())
                .unwrap_or(ptr::null_mut())
        };
        virError {
            code: e.code as c_int,
            domain: e.domain as c_int,
            message: dup(Some(&e.message)),
            level: VIR_ERR_ERROR,
            str1: dup(e.str1.as_deref()),
            str2: dup(e.str2.as_deref()),
            str3: dup(e.str3.as_deref()),
            int1: e.int1,
            int2: e.int2,
            ..virError::EMPTY
        }
    }

    /// A deep copy, as libvirt's `virCopyError` makes.
    ///
    /// # Safety
    /// The strings of `self` are NULL or valid C strings.
    unsafe fn deep_copy(&self) -> virError {
        // SAFETY: per the contract, each string is NULL or valid.
        let dup = |p: *mut c_char| unsafe {
            if p.is_null() {
                p
            } else {
                libc::strdup(p)
            }
        };
        virError {
            message: dup(self.message),
            str1: dup(self.str1),
            str2: dup(self.str2),
            str3: dup(self.str3),
            conn: ptr::null_mut(),
            dom: ptr::null_mut(),
            net: ptr::null_mut(),
            ..*self
        }
    }

    /// Frees the strings and zeroes the fields, as `virResetError`.
    ///
    /// # Safety
    /// The strings are NULL or came from the C allocator and are not used elsewhere.
    unsafe fn reset(&mut self) {
        for p in [self.message, self.str1, self.str2, self.str3] {
            // SAFETY: per the contract, each is NULL or owned memory from malloc.
            unsafe { libc::free(p.cast()) };
        }
        *self = virError::EMPTY;
    }
}

/// An owned `virError` kept for a connection.
pub(super) struct ErrorSlot(virError);

// SAFETY: the slot owns its strings exclusively; the connection's mutex serializes access.
unsafe impl Send for ErrorSlot {}

impl Default for ErrorSlot {
    fn default() -> Self {
        ErrorSlot(virError::EMPTY)
    }
}

impl Drop for ErrorSlot {
    fn drop(&mut self) {
        // SAFETY: the slot's strings are its own, from the C allocator.
        unsafe { self.0.reset() }
    }
}

/// An error handler and the data it is called with.
#[derive(Clone, Copy)]
pub(super) struct Handler {
    func: unsafe extern "C" fn(*mut c_void, virErrorPtr),
    data: usize,
}

impl Handler {
    fn new(func: virErrorFunc, data: *mut c_void) -> Option<Handler> {
        func.map(|func| Handler {
            func,
            data: data as usize,
        })
    }
}

thread_local! {
    /// The thread's last error; C borrows a pointer into it until its next call.
    static LAST: RefCell<ErrorSlot> = RefCell::new(ErrorSlot::default());
}

/// The handler `virSetErrorFunc` installed for the whole process.
static GLOBAL_HANDLER: Mutex<Option<Handler>> = Mutex::new(None);

fn last_ptr() -> virErrorPtr {
    LAST.with(|slot| &raw mut slot.borrow_mut().0)
}

/// Clears the thread's last error, as every public call does first.
pub(super) fn reset_last() {
    // SAFETY: the slot owns its strings.
    LAST.with(|slot| unsafe { slot.borrow_mut().0.reset() });
}

/// Records `e` as the thread's last error, copies it to the connection, and calls the
/// connection's handler, else the global one, else prints it, as libvirt dispatches.
pub(super) fn raise(e: &Error, conn: Option<&super::types::virConnect>) {
    LAST.with(|slot| {
        let mut slot = slot.borrow_mut();
        // SAFETY: the slot owns its strings.
        unsafe { slot.0.reset() };
        slot.0 = virError::from_error(e);
    });
    let mut handler = *GLOBAL_HANDLER
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(conn) = conn {
        let mut copy = conn
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *copy = ErrorSlot(virError::from_error(e));
        if let Some(h) = *conn.handler.lock().unwrap_or_else(PoisonError::into_inner) {
            handler = Some(h);
        }
    }
    let err = last_ptr();
    match handler {
        // SAFETY: the caller registered `func` to be called with its data and an error.
        Some(h) => unsafe { (h.func)(h.data as *mut c_void, err) },
        // SAFETY: `err` points to the thread's live error.
        None => unsafe { virDefaultErrorFunc(err) },
    }
}

ffi_fn! {
    /// The last error of this thread, or NULL if its last call succeeded. The error belongs
    /// to libvirt and stays valid until the thread's next libvirt call: do not free it (copy
    /// it with `virCopyLastError` or `virSaveLastError` to keep it).
    @keep_error fn virGetLastError() -> virErrorPtr = ptr::null_mut(); {
        let p = last_ptr();
        // SAFETY: `p` points to this thread's live slot.
        if unsafe { (*p).code } == 0 {
            ptr::null_mut()
        } else {
            p
        }
    }
}

ffi_fn! {
    /// The code (a `virErrorNumber`) of the last error of this thread, 0 (`VIR_ERR_OK`) if
    /// none.
    @keep_error fn virGetLastErrorCode() -> c_int = -1; {
        LAST.with(|slot| slot.borrow().0.code)
    }
}

ffi_fn! {
    /// The domain (a `virErrorDomain`) of the last error of this thread, 0
    /// (`VIR_FROM_NONE`) if none.
    @keep_error fn virGetLastErrorDomain() -> c_int = -1; {
        LAST.with(|slot| slot.borrow().0.domain)
    }
}

ffi_fn! {
    /// The message of the last error of this thread, or "no error". The string belongs to
    /// libvirt and stays valid until the thread's next libvirt call: do not free it.
    @keep_error fn virGetLastErrorMessage() -> *const c_char = ptr::null(); {
        const NO_ERROR: &CStr = c"no error";
        let msg = LAST.with(|slot| {
            let e = &slot.borrow().0;
            if e.code == 0 || e.message.is_null() {
                ptr::null()
            } else {
                e.message.cast_const()
            }
        });
        if msg.is_null() {
            NO_ERROR.as_ptr()
        } else {
            msg
        }
    }
}

ffi_fn! {
    /// Clears the last error of this thread, freeing what it held.
    @keep_error fn virResetLastError(); {
        reset_last();
    }
}

ffi_fn! {
    /// Copies the last error of this thread into the caller's `to` (after resetting `to`).
    /// Returns the error's code, 0 if there is none, or -1 when `to` is NULL. The caller
    /// frees the copy's strings with `virResetError`.
    @keep_error fn virCopyLastError(to: virErrorPtr) -> c_int = -1; {
        if to.is_null() {
            return -1;
        }
        // SAFETY: `to` is a caller-owned virError whose strings are NULL or malloc'd.
        unsafe {
            (*to).reset();
            LAST.with(|slot| *to = slot.borrow().0.deep_copy());
            (*to).code
        }
    }
}

ffi_fn! {
    /// A copy of the last error of this thread (code 0 if there is none), or NULL when
    /// memory runs out. The caller releases it with `virFreeError`.
    @keep_error fn virSaveLastError() -> virErrorPtr = ptr::null_mut(); {
        // SAFETY: calloc's result is checked, then filled with an owned copy.
        unsafe {
            let to = libc::calloc(1, std::mem::size_of::<virError>()).cast::<virError>();
            if !to.is_null() {
                LAST.with(|slot| to.write(slot.borrow().0.deep_copy()));
            }
            to
        }
    }
}

ffi_fn! {
    /// Frees the strings of the caller's `err` (a copy from `virCopyLastError` or
    /// `virConnCopyLastError`) and zeroes it; NULL is ignored. Leaves the last error alone.
    @keep_error fn virResetError(err: virErrorPtr); {
        if !err.is_null() {
            // SAFETY: `err` is a virError whose strings libvirt allocated.
            unsafe { (*err).reset() }
        }
    }
}

ffi_fn! {
    /// Frees an error `virSaveLastError` returned, and its strings; NULL is ignored.
    @keep_error fn virFreeError(err: virErrorPtr); {
        if !err.is_null() {
            // SAFETY: `err` came from virSaveLastError: calloc'd, with malloc'd strings.
            unsafe {
                (*err).reset();
                libc::free(err.cast());
            }
        }
    }
}

ffi_fn! {
    /// The last error of a call on `conn` (code 0 if none yet), or NULL for a bad
    /// connection. It belongs to the connection and stays valid until its next error or
    /// its closing: do not free it.
    @keep_error fn virConnGetLastError(conn: virConnectPtr) -> virErrorPtr = ptr::null_mut(); {
        let Some(c) = CONNECTIONS.get(conn) else {
            return ptr::null_mut();
        };
        // The slot lives as long as the connection, as libvirt's per-connection error.
        let mut slot = c.last_error.lock().unwrap_or_else(PoisonError::into_inner);
        &raw mut slot.0
    }
}

ffi_fn! {
    /// Copies the last error of a call on `conn` into the caller's `to` (after resetting
    /// it). Returns the error's code, 0 if there is none, or -1 for a bad connection or a
    /// NULL `to`. The caller frees the copy's strings with `virResetError`.
    @keep_error fn virConnCopyLastError(conn: virConnectPtr, to: virErrorPtr) -> c_int = -1; {
        let Some(c) = CONNECTIONS.get(conn) else {
            return -1;
        };
        if to.is_null() {
            return -1;
        }
        let slot = c.last_error.lock().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: `to` is a caller-owned virError whose strings are NULL or malloc'd.
        unsafe {
            (*to).reset();
            if slot.0.code == 0 {
                return 0;
            }
            *to = slot.0.deep_copy();
            (*to).code
        }
    }
}

ffi_fn! {
    /// Clears the last error of a call on `conn`, freeing what it held; a bad connection is
    /// ignored.
    @keep_error fn virConnResetLastError(conn: virConnectPtr); {
        if let Some(c) = CONNECTIONS.get(conn) {
            *c.last_error.lock().unwrap_or_else(PoisonError::into_inner) = ErrorSlot::default();
        }
    }
}

ffi_fn! {
    /// Installs `handler`, called with `userData` and each error of every connection without
    /// a handler of its own (and of calls on none); NULL restores printing to stderr. The
    /// error passed to it belongs to libvirt: the handler must not free it.
    @keep_error fn virSetErrorFunc(userData: *mut c_void, handler: virErrorFunc); {
        *GLOBAL_HANDLER
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Handler::new(handler, userData);
    }
}

ffi_fn! {
    /// Installs `handler`, called with `userData` and each error of a call on `conn`; NULL
    /// falls back to the global one. A bad connection is ignored.
    @keep_error fn virConnSetErrorFunc(
        conn: virConnectPtr,
        userData: *mut c_void,
        handler: virErrorFunc,
    );
    {
        if let Some(c) = CONNECTIONS.get(conn) {
            let handler = Handler::new(handler, userData);
            *c.handler.lock().unwrap_or_else(PoisonError::into_inner) = handler;
        }
    }
}

ffi_fn! {
    /// Prints `err` to stderr as libvirt does: `libvirt: <domain> error : <message>`; NULL
    /// and an error with code 0 print nothing. `err` stays the caller's.
    @keep_error fn virDefaultErrorFunc(err: virErrorPtr); {
        // SAFETY: `err` is NULL or points to a virError.
        if err.is_null() || unsafe { (*err).code } == 0 {
            return;
        }
        // SAFETY: `err` points to a virError. `level` is read as an int because a caller's
        // struct may hold any value there.
        let (domain, level, message) = unsafe {
            let level = ptr::addr_of!((*err).level).cast::<c_int>().read();
            ((*err).domain, level, cstr::borrow((*err).message))
        };
        let level = match level {
            l if l == VIR_ERR_ERROR as c_int => "error",
            l if l == VIR_ERR_WARNING as c_int => "warning",
            _ => "",
        };
        let message = message.map(CStr::to_string_lossy).unwrap_or_default();
        let line = format!("libvirt: {} {level} : {message}\n", domain_label(domain));
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
}
