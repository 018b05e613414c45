//! The save and restore family, under libvirt's names and those of the original proposal.

use std::ffi::{c_char, c_int, c_uint, CStr};
use std::ptr;

use super::call::Call;
use super::cstr;
use super::types::{virConnectPtr, virDomainPtr};
use crate::abi::{SaveImageXmlFlags, SaveRestoreFlags};
use crate::Result;

/// An optional replacement XML.
///
/// # Safety
/// `dxml` is NULL or a C string valid for the call.
unsafe fn optional_xml<'a>(dxml: *const c_char) -> Result<Option<&'a str>> {
    // SAFETY: as the caller guarantees.
    unsafe { cstr::borrow(dxml) }
        .map(|x| cstr::text(x, "domain XML"))
        .transpose()
}

/// Runs a save on the domain `domain` names, with libvirt's checks in libvirt's order:
/// the handle, read-only, the path, then the rest.
fn save(
    call: &mut Call,
    domain: virDomainPtr,
    to: *const c_char,
    body: impl FnOnce(&crate::core::Domain, &CStr) -> Result<()>,
) -> Result<c_int> {
    let d = call.domain(domain)?;
    d.dom.connection().deny_read_only(call.api())?;
    // SAFETY: `to` is NULL or a C string, per the contract.
    let to = unsafe { call.string(to, "to") }?;
    body(&d.dom, to).map(|()| 0)
}

ffi_fn! {
    /// Saves the running domain's memory and device state to the file `to`, then stops
    /// the domain; `virDomainRestore` starts it again from there. Returns 0, or -1 on
    /// failure. The domain handle stays the caller's.
    fn virDomainSave(domain: virDomainPtr, to: *const c_char) -> c_int = -1; |call| {
        save(call, domain, to, |d, to| d.save(cstr::path(to)))
    }
}

ffi_fn! {
    /// As `virDomainSave`, storing `dxml` (when not NULL) in the image in place of the
    /// domain's XML; `flags` may choose the state a restore starts in
    /// (`VIR_DOMAIN_SAVE_RUNNING`, `VIR_DOMAIN_SAVE_PAUSED`) or ask to bypass the cache.
    /// Returns 0, or -1 on failure.
    fn virDomainSaveFlags(
        domain: virDomainPtr,
        to: *const c_char,
        dxml: *const c_char,
        flags: c_uint,
    ) -> c_int = -1;
    |call| {
        save(call, domain, to, |d, to| {
            // SAFETY: `dxml` is NULL or a C string, per the contract.
            let dxml = unsafe { optional_xml(dxml) }?;
            d.save_flags(
                cstr::path(to),
                dxml,
                SaveRestoreFlags::from_bits_retain(flags),
            )
        })
    }
}

/// Runs a call on the connection `conn` that reads or restores the image `file`, with
/// libvirt's checks in libvirt's order: the connection, then the read-only denial before
/// or after the path as the call needs (`read_only_first`).
fn on_image<T>(
    call: &mut Call,
    conn: virConnectPtr,
    file: *const c_char,
    arg: &str,
    read_only_first: bool,
    body: impl FnOnce(&mut Call, &crate::core::Connection, &CStr) -> Result<T>,
) -> Result<T> {
    let c = call.conn(conn)?;
    if read_only_first {
        c.conn.deny_read_only(call.api())?;
    }
    // SAFETY: `file` is NULL or a C string, per the contract.
    let file = unsafe { call.string(file, arg) }?;
    if !read_only_first {
        c.conn.deny_read_only(call.api())?;
    }
    body(call, &c.conn, file)
}

ffi_fn! {
    /// Starts the domain saved in the file `from` by `virDomainSave`, running. Returns 0,
    /// or -1 on failure.
    fn virDomainRestore(conn: virConnectPtr, from: *const c_char) -> c_int = -1; |call| {
        on_image(call, conn, from, "from", true, |_, c, from| {
            c.restore(cstr::path(from)).map(|()| 0)
        })
    }
}

ffi_fn! {
    /// As `virDomainRestore`, with `dxml` (when not NULL) in place of the XML stored in
    /// the image; `flags` may choose running or paused, or ask to bypass the cache.
    /// Returns 0, or -1 on failure.
    fn virDomainRestoreFlags(
        conn: virConnectPtr,
        from: *const c_char,
        dxml: *const c_char,
        flags: c_uint,
    ) -> c_int = -1;
    |call| {
        on_image(call, conn, from, "from", true, |_, c, from| {
            // SAFETY: `dxml` is NULL or a C string, per the contract.
            let dxml = unsafe { optional_xml(dxml) }?;
            let flags = SaveRestoreFlags::from_bits_retain(flags);
            c.restore_flags(cstr::path(from), dxml, flags).map(|()| 0)
        })
    }
}

/// The domain XML stored in the save image `file`, as a C string for the caller.
fn image_xml(
    call: &mut Call,
    conn: virConnectPtr,
    file: *const c_char,
    flags: c_uint,
) -> Result<*mut c_char> {
    on_image(call, conn, file, "file", false, |_, c, file| {
        let flags = SaveImageXmlFlags::from_bits_retain(flags);
        cstr::to_c(&c.save_image_xml_desc(cstr::path(file), flags)?)
    })
}

ffi_fn! {
    /// The domain XML stored in the save image `file`; `flags` may ask for
    /// `VIR_DOMAIN_SAVE_IMAGE_XML_SECURE`. Returns the XML, or NULL on failure; the caller
    /// frees it with `free()`.
    fn virDomainSaveImageGetXMLDesc(conn: virConnectPtr, file: *const c_char, flags: c_uint)
        -> *mut c_char = ptr::null_mut();
    |call| image_xml(call, conn, file, flags)
}

ffi_fn! {
    /// `virDomainSaveImageGetXMLDesc` under the name of its original proposal (not in
    /// libvirt). Returns the XML, or NULL on failure; the caller frees it with `free()`.
    fn virConnectDomainSaveGetXMLDesc(conn: virConnectPtr, file: *const c_char, flags: c_uint)
        -> *mut c_char = ptr::null_mut();
    |call| image_xml(call, conn, file, flags)
}

/// Replaces the domain XML stored in the save image `file` by `dxml`.
fn image_define(
    call: &mut Call,
    conn: virConnectPtr,
    file: *const c_char,
    dxml: *const c_char,
    flags: c_uint,
) -> Result<c_int> {
    on_image(call, conn, file, "file", true, |call, c, file| {
        // SAFETY: `dxml` is NULL or a C string, per the contract.
        let dxml = cstr::text(unsafe { call.string(dxml, "dxml") }?, "domain XML")?;
        c.save_image_define_xml(
            cstr::path(file),
            dxml,
            SaveRestoreFlags::from_bits_retain(flags),
        )
        .map(|()| 0)
    })
}

ffi_fn! {
    /// Replaces the domain XML stored in the save image `file` by `dxml`, which may change
    /// only what a restore can; `flags` may choose the state a restore starts in. Returns
    /// 0, or -1 on failure.
    fn virDomainSaveImageDefineXML(
        conn: virConnectPtr,
        file: *const c_char,
        dxml: *const c_char,
        flags: c_uint,
    ) -> c_int = -1;
    |call| image_define(call, conn, file, dxml, flags)
}

ffi_fn! {
    /// `virDomainSaveImageDefineXML` under the name of its original proposal (not in
    /// libvirt). Returns 0, or -1 on failure.
    fn virConnectDomainSaveModify(
        conn: virConnectPtr,
        file: *const c_char,
        dxml: *const c_char,
        flags: c_uint,
    ) -> c_int = -1;
    |call| image_define(call, conn, file, dxml, flags)
}
