//! The save family through its C entry points, called as a C program calls them (the crate's
//! `#[no_mangle]` functions, linked from the rlib) on `test:///default`: the cycle save →
//! image XML → image definition → restore, NULL and foreign handles, read-only connections
//! and bad flags. The expected codes and messages are libvirt 9.0's, as recorded in
//! `c-tests/differential/expected.txt` (the step names are given beside them); the calls
//! under the names of the original proposal (`virConnectDomainSave*`) have no libvirt
//! counterpart and must answer as the calls they alias, under their own name.

mod common;

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::MutexGuard;

use common::{scratch, serial};

type Conn = *mut c_void;
type Dom = *mut c_void;

/// The leading fields of libvirt's `virError`, all this test reads.
#[repr(C)]
struct VirError {
    code: c_int,
    domain: c_int,
    message: *const c_char,
}

type ErrorFunc = Option<unsafe extern "C" fn(*mut c_void, *const VirError)>;
/// `virDomainSaveImageGetXMLDesc` and its alias.
type GetXml = unsafe extern "C" fn(Conn, *const c_char, c_uint) -> *mut c_char;
/// `virDomainSaveImageDefineXML` and its alias.
type DefineXml = unsafe extern "C" fn(Conn, *const c_char, *const c_char, c_uint) -> c_int;

extern "C" {
    fn virConnectOpen(name: *const c_char) -> Conn;
    fn virConnectOpenReadOnly(name: *const c_char) -> Conn;
    fn virConnectClose(conn: Conn) -> c_int;
    fn virDomainLookupByName(conn: Conn, name: *const c_char) -> Dom;
    fn virDomainGetState(dom: Dom, state: *mut c_int, reason: *mut c_int, flags: c_uint) -> c_int;
    fn virDomainFree(dom: Dom) -> c_int;
    fn virDomainSave(dom: Dom, to: *const c_char) -> c_int;
    fn virDomainSaveFlags(dom: Dom, to: *const c_char, dxml: *const c_char, flags: c_uint)
        -> c_int;
    fn virDomainRestore(conn: Conn, from: *const c_char) -> c_int;
    fn virDomainRestoreFlags(
        conn: Conn,
        from: *const c_char,
        dxml: *const c_char,
        flags: c_uint,
    ) -> c_int;
    fn virDomainSaveImageGetXMLDesc(conn: Conn, file: *const c_char, flags: c_uint) -> *mut c_char;
    fn virDomainSaveImageDefineXML(
        conn: Conn,
        file: *const c_char,
        dxml: *const c_char,
        flags: c_uint,
    ) -> c_int;
    fn virConnectDomainSaveGetXMLDesc(
        conn: Conn,
        file: *const c_char,
        flags: c_uint,
    ) -> *mut c_char;
    fn virConnectDomainSaveModify(
        conn: Conn,
        file: *const c_char,
        dxml: *const c_char,
        flags: c_uint,
    ) -> c_int;
    fn virGetLastError() -> *const VirError;
    fn virSetErrorFunc(user: *mut c_void, handler: ErrorFunc);
}

// libvirt's values, as a C program sees them in its headers.
const VIR_ERR_INVALID_CONN: c_int = 6;
const VIR_ERR_INVALID_DOMAIN: c_int = 7;
const VIR_ERR_INVALID_ARG: c_int = 8;
const VIR_ERR_OPERATION_DENIED: c_int = 29;
const VIR_ERR_SYSTEM_ERROR: c_int = 38;
const VIR_FROM_DOM: c_int = 6;
const VIR_FROM_TEST: c_int = 12;
const VIR_FROM_DOMAIN: c_int = 20;
/// The default `test` (final.reopen_after_all_closed: test-state=RUNNING/0).
const RUNNING: (c_int, c_int) = (1, 0); // VIR_DOMAIN_RUNNING, _UNKNOWN
const RESTORED: (c_int, c_int) = (1, 3); // VIR_DOMAIN_RUNNING, _RESTORED
const SAVED: (c_int, c_int) = (5, 5); // VIR_DOMAIN_SHUTOFF, _SAVED
const VIR_DOMAIN_SAVE_BYPASS_CACHE: c_uint = 1;
const RUNNING_AND_PAUSED: c_uint = 2 | 4;
const MUTUALLY_EXCLUSIVE: &str =
    "Flags 'VIR_DOMAIN_SAVE_RUNNING' and 'VIR_DOMAIN_SAVE_PAUSED' are mutually exclusive";

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn c_path(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

/// Swallows errors instead of libvirt's default handler printing them.
unsafe extern "C" fn quiet(_: *mut c_void, _: *const VirError) {}

/// `test:///default` through the C API, with the domain `test`, one test at a time (the
/// default state is the process's while a connection is open).
struct Session {
    conn: Conn,
    dom: Dom,
    dir: PathBuf,
    _serial: MutexGuard<'static, ()>,
}

impl Session {
    fn open(test: &str, read_only: bool) -> Session {
        let serial = serial();
        let uri = c("test:///default");
        // SAFETY: valid C strings; the handles are released in Drop.
        unsafe {
            virSetErrorFunc(ptr::null_mut(), Some(quiet));
            let conn = if read_only {
                virConnectOpenReadOnly(uri.as_ptr())
            } else {
                virConnectOpen(uri.as_ptr())
            };
            assert!(!conn.is_null(), "{:?}", last_error());
            let dom = virDomainLookupByName(conn, c("test").as_ptr());
            assert!(!dom.is_null(), "{:?}", last_error());
            Session {
                conn,
                dom,
                dir: scratch(test),
                _serial: serial,
            }
        }
    }

    fn path(&self, name: &str) -> CString {
        c_path(&self.dir.join(name))
    }

    /// The state and reason of `test`, through a fresh lookup.
    fn state(&self) -> (c_int, c_int) {
        // SAFETY: a live connection, out-pointers to locals.
        unsafe {
            let dom = virDomainLookupByName(self.conn, c("test").as_ptr());
            assert!(!dom.is_null(), "{:?}", last_error());
            let (mut state, mut reason) = (0, 0);
            assert_eq!(virDomainGetState(dom, &mut state, &mut reason, 0), 0);
            virDomainFree(dom);
            (state, reason)
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: the handles Session::open made, released once.
        unsafe {
            virDomainFree(self.dom);
            virConnectClose(self.conn);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The thread's last error as (code, domain, message), `None` when there is none.
fn last_error() -> Option<(c_int, c_int, String)> {
    // SAFETY: virGetLastError returns NULL or the thread's error, valid until the next call.
    unsafe {
        let err = virGetLastError();
        if err.is_null() {
            return None;
        }
        let message = CStr::from_ptr((*err).message)
            .to_string_lossy()
            .into_owned();
        Some(((*err).code, (*err).domain, message))
    }
}

/// A call that returned `rc` succeeded and left no error behind.
fn ok(rc: c_int) {
    assert_eq!(rc, 0, "{:?}", last_error());
    assert_eq!(last_error(), None);
}

/// A call that returned `rc` failed with libvirt's (code, domain, message).
fn fails(rc: c_int, code: c_int, domain: c_int, message: &str) {
    assert_eq!(rc, -1, "the call succeeded");
    assert_eq!(last_error(), Some((code, domain, message.to_owned())));
}

/// The string a call returned, freed as a C caller frees it; `None` for NULL.
fn take(p: *mut c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated string the library allocated with malloc, now ours.
    unsafe {
        let s = CStr::from_ptr(p).to_str().unwrap().to_owned();
        libc::free(p.cast());
        Some(s)
    }
}

/// What an image call returning a string did, as `fails` sees a call returning an int.
fn string_rc(p: *mut c_char) -> c_int {
    take(p).map_or(-1, |_| panic!("the call succeeded"))
}

#[test]
fn save_image_xml_define_and_restore_through_c() {
    let s = Session::open("cycle", false);
    let img = s.path("test.img");
    // SAFETY (of each call below): live handles and C strings that outlive the call.
    unsafe {
        // save.alpha: the domain stops, saved.
        ok(virDomainSave(s.dom, img.as_ptr()));
        assert_eq!(s.state(), SAVED);

        // imgxml.flags_0, and the alias answers the same.
        let xml = take(virDomainSaveImageGetXMLDesc(s.conn, img.as_ptr(), 0)).unwrap();
        assert_eq!(last_error(), None);
        assert!(xml.contains("<name>test</name>"), "{xml}");
        let alias = take(virConnectDomainSaveGetXMLDesc(s.conn, img.as_ptr(), 0)).unwrap();
        assert_eq!(alias, xml);

        // imgdef.valid_change_memory_and_description, under both names.
        let calls: [(GetXml, DefineXml, &str); 2] = [
            (
                virDomainSaveImageGetXMLDesc,
                virDomainSaveImageDefineXML,
                "description",
            ),
            (
                virConnectDomainSaveGetXMLDesc,
                virConnectDomainSaveModify,
                "title",
            ),
        ];
        for (get, define, element) in calls {
            let xml = take(get(s.conn, img.as_ptr(), 0)).unwrap();
            let text = format!("<{element}>edited through C</{element}>");
            let dxml = c(&xml.replace("</domain>", &format!("{text}</domain>")));
            ok(define(s.conn, img.as_ptr(), dxml.as_ptr(), 0));
            let now = take(get(s.conn, img.as_ptr(), 0)).unwrap();
            assert!(now.contains(&text), "{now}");
        }

        // restore.alpha: running again, restored; the old handle still names it.
        ok(virDomainRestore(s.conn, img.as_ptr()));
        assert_eq!(s.state(), RESTORED);

        // saveFlags.flags_0 and restoreFlags.flags_0.
        ok(virDomainSaveFlags(s.dom, img.as_ptr(), ptr::null(), 0));
        assert_eq!(s.state(), SAVED);
        ok(virDomainRestoreFlags(s.conn, img.as_ptr(), ptr::null(), 0));
        assert_eq!(s.state(), RESTORED);
    }
}

#[test]
fn null_and_foreign_handles_and_null_strings_fail_as_in_libvirt() {
    let s = Session::open("null", false);
    let img = s.path("test.img");
    let missing = s.dir.join("missing.img");
    let dxml = c("<domain type='test'><name>x</name></domain>");
    let (null, none) = (ptr::null_mut(), ptr::null());
    let bad_dom = |rc, api: &str| {
        let msg = format!("invalid domain pointer in {api}");
        fails(rc, VIR_ERR_INVALID_DOMAIN, VIR_FROM_DOM, &msg)
    };
    let bad_conn = |rc, api: &str| {
        let msg = format!("invalid connection pointer in {api}");
        fails(rc, VIR_ERR_INVALID_CONN, VIR_FROM_DOMAIN, &msg)
    };
    let null_arg = |rc, arg: &str, api: &str| {
        let msg = format!("{arg} in {api} must not be NULL");
        fails(rc, VIR_ERR_INVALID_ARG, VIR_FROM_DOMAIN, &msg)
    };
    let (file, xml) = (img.as_ptr(), dxml.as_ptr());
    // SAFETY (of each call below): the handles are NULL, live, or live handles of the other
    // kind (which the library must tell apart); strings are NULL or valid C strings.
    unsafe {
        // save.NULL_domain, saveFlags.NULL_domain; a connection is no domain either.
        for dom in [null, s.conn] {
            bad_dom(virDomainSave(dom, file), "virDomainSave");
            bad_dom(virDomainSaveFlags(dom, file, none, 0), "virDomainSaveFlags");
        }
        // restore.NULL_conn, restoreFlags.NULL_conn, imgxml.NULL_conn, imgdef.NULL_conn; a
        // domain is no connection either.
        for conn in [null, s.dom] {
            bad_conn(virDomainRestore(conn, file), "virDomainRestore");
            bad_conn(
                virDomainRestoreFlags(conn, file, none, 0),
                "virDomainRestoreFlags",
            );
            let api = "virDomainSaveImageGetXMLDesc";
            bad_conn(string_rc(virDomainSaveImageGetXMLDesc(conn, file, 0)), api);
            let api = "virDomainSaveImageDefineXML";
            bad_conn(virDomainSaveImageDefineXML(conn, file, xml, 0), api);
            let api = "virConnectDomainSaveGetXMLDesc";
            bad_conn(
                string_rc(virConnectDomainSaveGetXMLDesc(conn, file, 0)),
                api,
            );
            let api = "virConnectDomainSaveModify";
            bad_conn(virConnectDomainSaveModify(conn, file, xml, 0), api);
        }

        // save.NULL_path, saveFlags.NULL_path_RUNNING|PAUSED, restore.NULL_path,
        // restoreFlags.NULL_path_RUNNING|PAUSED: the path is checked before the flags.
        null_arg(virDomainSave(s.dom, none), "to", "virDomainSave");
        let rc = virDomainSaveFlags(s.dom, none, none, RUNNING_AND_PAUSED);
        null_arg(rc, "to", "virDomainSaveFlags");
        null_arg(virDomainRestore(s.conn, none), "from", "virDomainRestore");
        let rc = virDomainRestoreFlags(s.conn, none, none, RUNNING_AND_PAUSED);
        null_arg(rc, "from", "virDomainRestoreFlags");
        // imgxml.NULL_file, imgdef.NULL_file, imgdef.NULL_file_NULL_dxml, imgdef.NULL_dxml.
        let rc = string_rc(virDomainSaveImageGetXMLDesc(s.conn, none, 0));
        null_arg(rc, "file", "virDomainSaveImageGetXMLDesc");
        let api = "virDomainSaveImageDefineXML";
        null_arg(
            virDomainSaveImageDefineXML(s.conn, none, xml, 0),
            "file",
            api,
        );
        null_arg(
            virDomainSaveImageDefineXML(s.conn, none, none, 0),
            "file",
            api,
        );
        null_arg(
            virDomainSaveImageDefineXML(s.conn, file, none, 0),
            "dxml",
            api,
        );

        // restore.missing_file, imgxml.missing_file, imgdef.missing_file.
        let msg = format!(
            "cannot read domain image '{}': No such file or directory",
            missing.display()
        );
        let absent = c_path(&missing);
        let missing_file = |rc| fails(rc, VIR_ERR_SYSTEM_ERROR, VIR_FROM_TEST, &msg);
        missing_file(virDomainRestore(s.conn, absent.as_ptr()));
        missing_file(string_rc(virDomainSaveImageGetXMLDesc(
            s.conn,
            absent.as_ptr(),
            0,
        )));
        missing_file(virDomainSaveImageDefineXML(s.conn, absent.as_ptr(), xml, 0));
    }
    assert_eq!(s.state(), RUNNING, "nothing changed the domain");
    assert!(!s.dir.join("test.img").exists(), "nothing was written");
}

#[test]
fn read_only_connections_are_denied_before_anything_else() {
    // An image to restore and inspect, from a read-write connection that then goes.
    let kept = scratch("ro-image");
    let img = kept.join("test.img");
    {
        let rw = Session::open("ro-save", false);
        // SAFETY: a live domain handle and a C string.
        ok(unsafe { virDomainSave(rw.dom, c_path(&img).as_ptr()) });
    }
    let s = Session::open("ro", true);
    let img = c_path(&img);
    let dxml = c("<domain type='test'><name>x</name></domain>");
    let (file, xml, none) = (img.as_ptr(), dxml.as_ptr(), ptr::null());
    let deny = |rc, api: &str| {
        let msg = format!("operation forbidden: read only access prevents {api}");
        fails(rc, VIR_ERR_OPERATION_DENIED, VIR_FROM_DOMAIN, &msg)
    };
    // SAFETY (of each call below): live handles; strings NULL or valid C strings.
    unsafe {
        // ro.virDomainSave(.NULL_path), ro.virDomainSaveFlags(.bad_flags): denied first.
        deny(virDomainSave(s.dom, file), "virDomainSave");
        deny(virDomainSave(s.dom, none), "virDomainSave");
        deny(
            virDomainSaveFlags(s.dom, file, none, 0),
            "virDomainSaveFlags",
        );
        deny(
            virDomainSaveFlags(s.dom, file, none, 0x100),
            "virDomainSaveFlags",
        );
        // ro.virDomainRestore(.NULL_path), ro.virDomainRestoreFlags.
        deny(virDomainRestore(s.conn, file), "virDomainRestore");
        deny(virDomainRestore(s.conn, none), "virDomainRestore");
        deny(
            virDomainRestoreFlags(s.conn, file, none, 0),
            "virDomainRestoreFlags",
        );
        // imgxml.readonly_flags_0 (the image holds secrets); imgxml.readonly_NULL_file: the
        // one check made before read-only.
        let api = "virDomainSaveImageGetXMLDesc";
        deny(
            string_rc(virDomainSaveImageGetXMLDesc(s.conn, file, 0)),
            api,
        );
        let rc = string_rc(virDomainSaveImageGetXMLDesc(s.conn, none, 0));
        let msg = format!("file in {api} must not be NULL");
        fails(rc, VIR_ERR_INVALID_ARG, VIR_FROM_DOMAIN, &msg);
        let api = "virConnectDomainSaveGetXMLDesc";
        deny(
            string_rc(virConnectDomainSaveGetXMLDesc(s.conn, file, 0)),
            api,
        );
        // ro.virDomainSaveImageDefineXML(.NULL_file).
        let api = "virDomainSaveImageDefineXML";
        deny(virDomainSaveImageDefineXML(s.conn, file, xml, 0), api);
        deny(virDomainSaveImageDefineXML(s.conn, none, xml, 0), api);
        let api = "virConnectDomainSaveModify";
        deny(virConnectDomainSaveModify(s.conn, file, xml, 0), api);
    }
    assert_eq!(s.state(), RUNNING);
    std::fs::remove_dir_all(kept).unwrap();
}

#[test]
fn bad_flags_fail_in_libvirts_words_and_change_nothing() {
    let s = Session::open("flags", false);
    let img = s.path("test.img");
    let (file, none) = (img.as_ptr(), ptr::null());
    // The test driver refuses what it does not support; libvirt's API, what is contradictory.
    let unsupported = |rc, flags: c_uint, function: &str| {
        let msg = format!("unsupported flags ({flags:#x}) in function {function}");
        fails(rc, VIR_ERR_INVALID_ARG, VIR_FROM_TEST, &msg)
    };
    let exclusive = |rc| fails(rc, VIR_ERR_INVALID_ARG, VIR_FROM_DOMAIN, MUTUALLY_EXCLUSIVE);
    const BAD: [c_uint; 2] = [0x100, VIR_DOMAIN_SAVE_BYPASS_CACHE];
    // SAFETY (of each call below): live handles; strings NULL or valid C strings.
    unsafe {
        // saveFlags.unknown_0x100, saveFlags.BYPASS_CACHE, saveFlags.RUNNING|PAUSED.
        for flags in BAD {
            let rc = virDomainSaveFlags(s.dom, file, none, flags);
            unsupported(rc, flags, "testDomainSaveFlags");
        }
        exclusive(virDomainSaveFlags(s.dom, file, none, RUNNING_AND_PAUSED));
        assert_eq!(s.state(), RUNNING);
        assert!(!s.dir.join("test.img").exists());

        ok(virDomainSave(s.dom, file));
        let saved = take(virDomainSaveImageGetXMLDesc(s.conn, file, 0)).unwrap();
        let dxml = c(&saved);
        let xml = dxml.as_ptr();
        // restoreFlags.unknown_0x100, restoreFlags.BYPASS_CACHE, restoreFlags.RUNNING|PAUSED.
        for flags in BAD {
            let rc = virDomainRestoreFlags(s.conn, file, none, flags);
            unsupported(rc, flags, "testDomainRestoreFlags");
        }
        exclusive(virDomainRestoreFlags(
            s.conn,
            file,
            none,
            RUNNING_AND_PAUSED,
        ));
        // imgxml.bad_flag_INACTIVE, imgxml.bad_flag_0x100, under both names.
        for flags in [0x2, 0x100] {
            let function = "testDomainSaveImageGetXMLDesc";
            let rc = string_rc(virDomainSaveImageGetXMLDesc(s.conn, file, flags));
            unsupported(rc, flags, function);
            let rc = string_rc(virConnectDomainSaveGetXMLDesc(s.conn, file, flags));
            unsupported(rc, flags, function);
        }
        // imgdef.flag_0x100, imgdef.flag_BYPASS_CACHE, imgdef.flags_RUNNING|PAUSED.
        for flags in BAD {
            let function = "testDomainSaveImageDefineXML";
            unsupported(
                virDomainSaveImageDefineXML(s.conn, file, xml, flags),
                flags,
                function,
            );
            unsupported(
                virConnectDomainSaveModify(s.conn, file, xml, flags),
                flags,
                function,
            );
        }
        exclusive(virDomainSaveImageDefineXML(
            s.conn,
            file,
            xml,
            RUNNING_AND_PAUSED,
        ));

        // The image is as saved and still restores.
        let now = take(virDomainSaveImageGetXMLDesc(s.conn, file, 0)).unwrap();
        assert_eq!(now, saved);
        assert_eq!(s.state(), SAVED);
        ok(virDomainRestore(s.conn, file));
        assert_eq!(s.state(), RESTORED);
    }
}
