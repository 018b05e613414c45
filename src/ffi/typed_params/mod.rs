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
//!
//! `storage` holds the array as the C allocator keeps it (growth, owned strings,
//! `virTypedParamsClear` and `virTypedParamsFree`), `add` the `virTypedParamsAdd*` calls
//! (with `parse`, libvirt's number syntax), `get` the `virTypedParamsGet*` calls. The
//! file names keep the header's order: build.rs hands cbindgen the files sorted.

mod add;
mod get;
mod parse;
mod storage;
#[cfg(test)]
mod tests;
