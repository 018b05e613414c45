//! The save and restore family, under libvirt's names and those of the original proposal.

use std::ffi::{c_char, c_int, c_uint, CStr};
use std::ptr;

use super::call::{entry, Call};
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
    api: &'static str,
    domain: virDomainPtr,
    to: *const c_char,
    body: impl FnOnce(&crate::core::Domain, &CStr) -> Result<()>,
) -> c_int {
    entry(api, -1, |call: &mut Call| {
        let d = call.domain(domain)?;
        d.dom.connection().deny_read_only(api)?;
        // SAFETY: `to` is NULL or a C string, per the contract.
        let to = unsafe { call.string(to, "to") }?;
        body(&d.dom, to).map(|()| 0)
    })
}

/// Saves the domain's state to the file `to` and stops the domain.
#[no_mangle]
pub unsafe extern "C" fn virDomainSave(domain: virDomainPtr, to: *const c_char) -> c_int {
    save("virDomainSave", domain, to, |d, to| d.save(cstr::path(to)))
}

/// Saves the domain's state to `to`, storing `dxml` in place of its XML when given;
/// `flags` may choose the state a restore starts in.
#[no_mangle]
pub unsafe extern "C" fn virDomainSaveFlags(
    domain: virDomainPtr,
    to: *const c_char,
    dxml: *const c_char,
    flags: c_uint,
) -> c_int {
    save("virDomainSaveFlags", domain, to, |d, to| {
        // SAFETY: `dxml` is NULL or a C string, per the contract.
        let dxml = unsafe { optional_xml(dxml) }?;
        d.save_flags(
            cstr::path(to),
            dxml,
            SaveRestoreFlags::from_bits_retain(flags),
        )
    })
}

/// Runs a call on the connection `conn` that reads or restores the image `file`, with
/// libvirt's checks in libvirt's order: the connection, then the read-only denial before
/// or after the path as the call needs (`read_only_first`).
fn on_image<T>(
    api: &'static str,
    conn: virConnectPtr,
    file: *const c_char,
    arg: &str,
    read_only_first: bool,
    fail: T,
    body: impl FnOnce(&mut Call, &crate::core::Connection, &CStr) -> Result<T>,
) -> T {
    entry(api, fail, |call| {
        let c = call.conn(conn)?;
        if read_only_first {
            c.conn.deny_read_only(api)?;
        }
        // SAFETY: `file` is NULL or a C string, per the contract.
        let file = unsafe { call.string(file, arg) }?;
        if !read_only_first {
            c.conn.deny_read_only(api)?;
        }
        body(call, &c.conn, file)
    })
}

/// Starts the domain saved in `from`.
#[no_mangle]
pub unsafe extern "C" fn virDomainRestore(conn: virConnectPtr, from: *const c_char) -> c_int {
    on_image(
        "virDomainRestore",
        conn,
        from,
        "from",
        true,
        -1,
        |_, c, from| c.restore(cstr::path(from)).map(|()| 0),
    )
}

/// Starts the domain saved in `from`, with `dxml` in place of its XML when given;
/// `flags` may choose running or paused.
#[no_mangle]
pub unsafe extern "C" fn virDomainRestoreFlags(
    conn: virConnectPtr,
    from: *const c_char,
    dxml: *const c_char,
    flags: c_uint,
) -> c_int {
    on_image(
        "virDomainRestoreFlags",
        conn,
        from,
        "from",
        true,
        -1,
        |_, c, from| {
            // SAFETY: `dxml` is NULL or a C string, per the contract.
            let dxml = unsafe { optional_xml(dxml) }?;
            let flags = SaveRestoreFlags::from_bits_retain(flags);
            c.restore_flags(cstr::path(from), dxml, flags).map(|()| 0)
        },
    )
}

fn image_xml(
    api: &'static str,
    conn: virConnectPtr,
    file: *const c_char,
    flags: c_uint,
) -> *mut c_char {
    on_image(
        api,
        conn,
        file,
        "file",
        false,
        ptr::null_mut(),
        |_, c, file| {
            let flags = SaveImageXmlFlags::from_bits_retain(flags);
            cstr::to_c(&c.save_image_xml_desc(cstr::path(file), flags)?)
        },
    )
}

/// The domain XML stored in the save image `file`, for the caller to free.
#[no_mangle]
pub unsafe extern "C" fn virDomainSaveImageGetXMLDesc(
    conn: virConnectPtr,
    file: *const c_char,
    flags: c_uint,
) -> *mut c_char {
    image_xml("virDomainSaveImageGetXMLDesc", conn, file, flags)
}

/// `virDomainSaveImageGetXMLDesc` under the name of its original proposal.
#[no_mangle]
pub unsafe extern "C" fn virConnectDomainSaveGetXMLDesc(
    conn: virConnectPtr,
    file: *const c_char,
    flags: c_uint,
) -> *mut c_char {
    image_xml("virConnectDomainSaveGetXMLDesc", conn, file, flags)
}

fn image_define(
    api: &'static str,
    conn: virConnectPtr,
    file: *const c_char,
    dxml: *const c_char,
    flags: c_uint,
) -> c_int {
    on_image(api, conn, file, "file", true, -1, |call, c, file| {
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

/// Replaces the domain XML stored in the save image `file`.
#[no_mangle]
pub unsafe extern "C" fn virDomainSaveImageDefineXML(
    conn: virConnectPtr,
    file: *const c_char,
    dxml: *const c_char,
    flags: c_uint,
) -> c_int {
    image_define("virDomainSaveImageDefineXML", conn, file, dxml, flags)
}

/// `virDomainSaveImageDefineXML` under the name of its original proposal.
#[no_mangle]
pub unsafe extern "C" fn virConnectDomainSaveModify(
    conn: virConnectPtr,
    file: *const c_char,
    dxml: *const c_char,
    flags: c_uint,
) -> c_int {
    image_define("virConnectDomainSaveModify", conn, file, dxml, flags)
}
