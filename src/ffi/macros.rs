//! The two ways an entry point is written: `ffi_fn!` for the functions virshim
//! implements, `stub!` (in `unsupported`) for the generated ones it does not.
//!
//! Both declare the whole C function, `#[no_mangle] pub unsafe extern "C"`, from a
//! signature written out in full, and take the API name the errors carry from the
//! function's own identifier. cbindgen does not expand macros, so build.rs rewrites each
//! invocation into the bare declaration (its attributes, documentation included, and its
//! signature) before handing the file to cbindgen: what follows the signature is the
//! macro's business alone.

/// Declares a public libvirt function implemented by hand.
///
/// The usual form runs the body inside libvirt's error protocol ([`super::call::entry`]):
/// the thread's last error is cleared, the body gets the `&mut Call`, which names the
/// function (`stringify!` of its identifier) and records the connection an error is
/// dispatched to; an `Err` or a panic is recorded and dispatched, and the function
/// returns the value after `=`:
///
/// ```text
/// ffi_fn! {
///     /// What the call does, what it returns (-1 on failure), who frees what.
///     fn virConnectRef(conn: virConnectPtr) -> c_int = -1; |call| {
///         call.conn(conn)?;
///         Ok(0)
///     }
/// }
/// ```
///
/// The `@keep_error` form is for the calls that must not clear the last error: those
/// that read, copy, reset or dispatch errors, install handlers, drive the program's
/// event loop, look up typed parameters without failing, or hand over to another entry
/// point that runs the protocol itself. Its body is a plain block; a panic in it is
/// still caught, recorded as an internal error, and turned into the value after `=`
/// (nothing, for a function returning `void`).
///
/// ```text
/// ffi_fn! {
///     /// ...
///     @keep_error fn virGetLastErrorCode() -> c_int = -1; {
///         LAST.with(|slot| slot.borrow().0.code)
///     }
/// }
/// ```
macro_rules! ffi_fn {
    (@fail) => {
        ()
    };
    (@fail $fail:expr) => {
        $fail
    };
    (
        $(#[$meta:meta])*
        @keep_error fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty = $fail:expr)?;
        $body:block
    ) => {
        $(#[$meta])*
        #[no_mangle]
        pub unsafe extern "C" fn $name($($arg: $ty),*) $(-> $ret)? {
            $crate::ffi::call::guarded(stringify!($name), ffi_fn!(@fail $($fail)?), || $body)
        }
    };
    (
        $(#[$meta:meta])*
        fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty = $fail:expr;
        |$call:tt| $body:expr
    ) => {
        $(#[$meta])*
        #[no_mangle]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> $ret {
            $crate::ffi::call::entry(stringify!($name), $fail, |$call| $body)
        }
    };
}
