//! What a libvirt function that virshim does not implement does: the checks libvirt's
//! public layer makes on the objects it is given, then `VIR_ERR_NO_SUPPORT`, as libvirt
//! reports a call its driver lacks ("this function is not supported by the connection
//! driver: virXxx"). The generated stubs are written in these terms.
//!
//! Connections and domains are checked against the registry of live handles, as by the
//! implemented calls. Of the other object types (networks, streams, snapshots, ...)
//! virshim hands out none, so no pointer names a live one: as the object a call is made
//! on, any pointer gets libvirt's "invalid `<object>` pointer" error. As a further argument
//! (the stream of `virDomainScreenshot`, ...), NULL gets that error as in libvirt, and any
//! other pointer is left alone, never read, and the call fails as unsupported.
//!
//! The generated `generated/stubs.rs` declares each such function in one line of `stub!`.

use super::call::{entry, Call};
use super::handles::{Object, CONNECTIONS};
use super::types::{virConnectPtr, virDomain, virDomainPtr};
use crate::abi::virErrorDomain::{self, *};
use crate::abi::virErrorNumber::{self, *};
use crate::{Error, Result};

/// The kinds of libvirt object virshim never hands out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Foreign {
    Network,
    NetworkPort,
    Interface,
    StoragePool,
    StorageVol,
    NodeDevice,
    Secret,
    NWFilter,
    NWFilterBinding,
    Stream,
    DomainSnapshot,
    DomainCheckpoint,
}

impl Foreign {
    /// The code and domain libvirt 9.0 reports a bad pointer to such an object with; the
    /// message is the code's text around the function's name.
    fn invalid(self) -> (virErrorNumber, virErrorDomain) {
        use Foreign::*;
        match self {
            Network => (VIR_ERR_INVALID_NETWORK, VIR_FROM_NETWORK),
            NetworkPort => (VIR_ERR_INVALID_NETWORK_PORT, VIR_FROM_NETWORK),
            Interface => (VIR_ERR_INVALID_INTERFACE, VIR_FROM_INTERFACE),
            StoragePool => (VIR_ERR_INVALID_STORAGE_POOL, VIR_FROM_STORAGE),
            StorageVol => (VIR_ERR_INVALID_STORAGE_VOL, VIR_FROM_STORAGE),
            NodeDevice => (VIR_ERR_INVALID_NODE_DEVICE, VIR_FROM_NODEDEV),
            Secret => (VIR_ERR_INVALID_SECRET, VIR_FROM_SECRET),
            NWFilter => (VIR_ERR_INVALID_NWFILTER, VIR_FROM_NWFILTER),
            NWFilterBinding => (VIR_ERR_INVALID_NWFILTER_BINDING, VIR_FROM_NWFILTER),
            Stream => (VIR_ERR_INVALID_STREAM, VIR_FROM_STREAMS),
            DomainSnapshot => (VIR_ERR_INVALID_DOMAIN_SNAPSHOT, VIR_FROM_DOMAIN_SNAPSHOT),
            DomainCheckpoint => (
                VIR_ERR_INVALID_DOMAIN_CHECKPOINT,
                VIR_FROM_DOMAIN_CHECKPOINT,
            ),
        }
    }
}

/// Declares a public libvirt function that virshim does not implement, in one line:
///
/// ```text
/// stub!(#[doc = "..."] virDomainScreenshot(domain: virDomainPtr, stream: virStreamPtr,
///     screen: c_uint, flags: c_uint) -> *mut c_char = ptr::null_mut();
///     VIR_FROM_DOMAIN after domain(domain), foreign_arg(Stream, stream));
/// ```
///
/// After the signature come the error value, the error domain of `VIR_ERR_NO_SUPPORT`,
/// and, after `after`, the object arguments to check first, in order, each with the
/// [`Call`] method that checks it: `conn` (the connection the call is made on, checked
/// with `Call::conn_in` in the error domain), `other_conn`, `domain`, `other_domain`,
/// `optional_domain`, `foreign(Kind, arg)` and `foreign_arg(Kind, arg)` (a [`Foreign`]
/// kind). The `...Free` helpers, which return nothing, take the signature alone: virshim
/// returns no such structure, so they free nothing and leave the last error alone. Like
/// [`ffi_fn!`], the C name is the function's identifier.
macro_rules! stub {
    (@check $call:ident, $from:ident, conn($x:ident)) => {
        $call.conn_in($x, $from)?
    };
    (@check $call:ident, $from:ident, other_conn($x:ident)) => {
        $call.other_conn($x, $from)?
    };
    (@check $call:ident, $from:ident, foreign($kind:ident, $x:ident)) => {
        $call.foreign($crate::ffi::unsupported::Foreign::$kind, $x)?
    };
    (@check $call:ident, $from:ident, foreign_arg($kind:ident, $x:ident)) => {
        $call.foreign_arg($crate::ffi::unsupported::Foreign::$kind, $x)?
    };
    (@check $call:ident, $from:ident, $check:ident($x:ident)) => {
        $call.$check($x)?
    };
    ($(#[$meta:meta])* $name:ident($arg:ident: $ty:ty)) => {
        $(#[$meta])*
        #[no_mangle]
        pub unsafe extern "C" fn $name($arg: $ty) {
            let _ = $arg;
        }
    };
    (
        $(#[$meta:meta])* $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty = $fail:expr;
        $from:ident $(after $($check:ident($($x:ident),+)),+)?
    ) => {
        $(#[$meta])*
        #[no_mangle]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> $ret {
            let _ = ($($arg,)*);
            $crate::ffi::unsupported::unsupported(stringify!($name), $from, $fail, |call| {
                $($(stub!(@check call, $from, $check($($x),+));)+)?
                let _ = call;
                Ok(())
            })
        }
    };
}

/// Runs public function `api`, which virshim does not implement: `checks` examines its
/// object arguments, then the call fails with `VIR_ERR_NO_SUPPORT` in error domain `from`
/// and returns `fail`.
pub(super) fn unsupported<T>(
    api: &'static str,
    from: virErrorDomain,
    fail: T,
    checks: impl FnOnce(&mut Call) -> Result<()>,
) -> T {
    entry(api, fail, |call| {
        checks(call)?;
        Err(Error::new(VIR_ERR_NO_SUPPORT, from, api))
    })
}

impl Call {
    /// The object the call is made on, of a kind virshim never hands out: whatever `ptr`
    /// is, it names no live object.
    pub fn foreign<T>(&self, kind: Foreign, ptr: *mut T) -> Result<()> {
        let _ = ptr;
        let (code, domain) = kind.invalid();
        Err(Error::new(code, domain, self.api()))
    }

    /// A further argument of a kind virshim never hands out: NULL is refused as libvirt
    /// refuses it; any other pointer is not looked at.
    pub fn foreign_arg<T>(&self, kind: Foreign, ptr: *mut T) -> Result<()> {
        if ptr.is_null() {
            self.foreign(kind, ptr)
        } else {
            Ok(())
        }
    }

    /// A further connection (a migration's destination), which must be live; errors
    /// still go to the connection of the object the call is made on.
    pub fn other_conn(&self, ptr: virConnectPtr, domain: virErrorDomain) -> Result<()> {
        match CONNECTIONS.get(ptr) {
            Some(_) => Ok(()),
            None => Err(Error::new(VIR_ERR_INVALID_CONN, domain, self.api())),
        }
    }

    /// A further domain, which must be live.
    pub fn other_domain(&self, ptr: virDomainPtr) -> Result<()> {
        let (code, domain) = virDomain::INVALID;
        match virDomain::registry().get(ptr) {
            Some(_) => Ok(()),
            None => Err(Error::new(code, domain, self.api())),
        }
    }

    /// An optional domain (the filter of an event registration): NULL, or a live one.
    pub fn optional_domain(&self, ptr: virDomainPtr) -> Result<()> {
        if ptr.is_null() {
            Ok(())
        } else {
            self.other_domain(ptr)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::error::{virGetLastErrorCode, virGetLastErrorDomain, virSetErrorFunc};
    use std::ffi::c_void;
    use std::ptr;

    unsafe extern "C" fn quiet(_: *mut c_void, _: crate::ffi::error::virErrorPtr) {}

    fn last() -> (i32, i32) {
        // SAFETY: the getters take no arguments.
        unsafe { (virGetLastErrorCode(), virGetLastErrorDomain()) }
    }

    #[test]
    fn foreign_objects_are_invalid_with_libvirt_codes() {
        // SAFETY: `quiet` ignores its arguments.
        unsafe { virSetErrorFunc(ptr::null_mut(), Some(quiet)) };
        let net = unsupported("virNetworkGetName", VIR_FROM_NETWORK, -1, |call| {
            call.foreign(Foreign::Network, 0x1234 as *mut u8)
        });
        assert_eq!(net, -1);
        assert_eq!(last(), (36, 19));
        assert_eq!(
            Error::new(VIR_ERR_INVALID_STREAM, VIR_FROM_STREAMS, "virStreamFree").message,
            "invalid stream pointer in virStreamFree"
        );
    }

    #[test]
    fn further_arguments_refuse_only_null() {
        // SAFETY: `quiet` ignores its arguments.
        unsafe { virSetErrorFunc(ptr::null_mut(), Some(quiet)) };
        let checked = |p: *mut u8| {
            unsupported("virDomainScreenshot", VIR_FROM_DOMAIN, 7, |call| {
                call.foreign_arg(Foreign::Stream, p)
            })
        };
        assert_eq!(checked(ptr::null_mut()), 7);
        assert_eq!(last(), (73, 38));
        assert_eq!(checked(0x10 as *mut u8), 7);
        assert_eq!(last(), (3, 20));
    }
}
