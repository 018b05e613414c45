//! Domains: lookups, handles, life cycle, state and listings.

use std::ffi::{c_char, c_int, c_uchar, c_uint, c_ulong, c_ulonglong, c_ushort, c_void, CString};
use std::ptr;
use std::sync::Arc;

use super::call::{entry, Call};
use super::cstr;
use super::handles::{Released, CONNECTIONS, DOMAINS};
use super::types::{
    virConnect, virConnectPtr, virDomain, virDomainInfoPtr, virDomainPtr, VIR_UUID_BUFLEN,
    VIR_UUID_STRING_BUFLEN,
};
use crate::abi::{
    CreateFlags, DefineFlags, DestroyFlags, ListDomainsFlags, MemoryFlags, NoFlags, UndefineFlags,
    XmlFlags,
};
use crate::core::Domain;
use crate::Result;

/// Hands a new domain handle to C; it holds a reference on its connection.
pub(super) fn new_handle(conn: &Arc<virConnect>, dom: Domain) -> Result<virDomainPtr> {
    let name = CString::new(dom.name())
        .map_err(|_| crate::Error::internal("domain name contains a NUL byte"))?;
    CONNECTIONS.add_ref(Arc::as_ptr(conn).cast_mut());
    Ok(DOMAINS.insert(virDomain {
        dom,
        conn: Arc::clone(conn),
        name,
    }))
}

/// The connection's domain calls start here: the connection, then its core.
fn lookup(
    api: &'static str,
    conn: virConnectPtr,
    body: impl FnOnce(&mut Call, &crate::core::Connection) -> Result<Domain>,
) -> virDomainPtr {
    entry(api, ptr::null_mut(), |call| {
        let c = call.conn(conn)?;
        let dom = body(call, &c.conn)?;
        new_handle(&c, dom)
    })
}

/// Finds a domain by name.
#[no_mangle]
pub unsafe extern "C" fn virDomainLookupByName(
    conn: virConnectPtr,
    name: *const c_char,
) -> virDomainPtr {
    lookup("virDomainLookupByName", conn, |call, c| {
        // SAFETY: `name` is NULL or a C string, per the contract.
        let name = unsafe { call.string(name, "name") }?;
        // A name that is not UTF-8 cannot match any domain.
        c.lookup_by_name(&name.to_string_lossy())
    })
}

/// Finds a running domain by ID.
#[no_mangle]
pub extern "C" fn virDomainLookupByID(conn: virConnectPtr, id: c_int) -> virDomainPtr {
    lookup("virDomainLookupByID", conn, |_, c| c.lookup_by_id(id))
}

/// Finds a domain by its 16-byte UUID.
#[no_mangle]
pub unsafe extern "C" fn virDomainLookupByUUID(
    conn: virConnectPtr,
    uuid: *const c_uchar,
) -> virDomainPtr {
    lookup("virDomainLookupByUUID", conn, |call, c| {
        let uuid = call.non_null(uuid.cast_mut(), "uuid")?;
        // SAFETY: the caller passes VIR_UUID_BUFLEN bytes.
        let bytes: [u8; VIR_UUID_BUFLEN] = unsafe { uuid.cast::<[u8; VIR_UUID_BUFLEN]>().read() };
        c.lookup_by_uuid(&bytes)
    })
}

/// Finds a domain by its UUID in text form.
#[no_mangle]
pub unsafe extern "C" fn virDomainLookupByUUIDString(
    conn: virConnectPtr,
    uuidstr: *const c_char,
) -> virDomainPtr {
    lookup("virDomainLookupByUUIDString", conn, |call, c| {
        // SAFETY: `uuidstr` is NULL or a C string, per the contract.
        let text = unsafe { call.string(uuidstr, "uuidstr") }?;
        c.lookup_by_uuid_string(&text.to_string_lossy())
    })
}

/// Starts a transient domain from XML.
#[no_mangle]
pub unsafe extern "C" fn virDomainCreateXML(
    conn: virConnectPtr,
    xmlDesc: *const c_char,
    flags: c_uint,
) -> virDomainPtr {
    entry("virDomainCreateXML", ptr::null_mut(), |call| {
        let c = call.conn(conn)?;
        c.conn.deny_read_only("virDomainCreateXML")?;
        // SAFETY: `xmlDesc` is NULL or a C string, per the contract.
        let xml = cstr::text(unsafe { call.string(xmlDesc, "xmlDesc") }?, "domain XML")?;
        let dom = c
            .conn
            .create_xml(xml, CreateFlags::from_bits_retain(flags))?;
        new_handle(&c, dom)
    })
}

/// `virDomainCreateXML` under its first name, which libvirt keeps for old programs (and
/// reports errors under the new one).
#[no_mangle]
pub unsafe extern "C" fn virDomainCreateLinux(
    conn: virConnectPtr,
    xmlDesc: *const c_char,
    flags: c_uint,
) -> virDomainPtr {
    // SAFETY: the same contract as virDomainCreateXML.
    unsafe { virDomainCreateXML(conn, xmlDesc, flags) }
}

fn define(
    api: &'static str,
    conn: virConnectPtr,
    xml: *const c_char,
    flags: c_uint,
) -> virDomainPtr {
    entry(api, ptr::null_mut(), |call| {
        let c = call.conn(conn)?;
        c.conn.deny_read_only(api)?;
        // SAFETY: `xml` is NULL or a C string, per the contract.
        let xml = cstr::text(unsafe { call.string(xml, "xml") }?, "domain XML")?;
        let dom = c
            .conn
            .define_xml_flags(xml, DefineFlags::from_bits_retain(flags))?;
        new_handle(&c, dom)
    })
}

/// Defines a persistent domain, or a new definition for one.
#[no_mangle]
pub unsafe extern "C" fn virDomainDefineXML(
    conn: virConnectPtr,
    xml: *const c_char,
) -> virDomainPtr {
    define("virDomainDefineXML", conn, xml, 0)
}

/// Defines a persistent domain, with flags.
#[no_mangle]
pub unsafe extern "C" fn virDomainDefineXMLFlags(
    conn: virConnectPtr,
    xml: *const c_char,
    flags: c_uint,
) -> virDomainPtr {
    define("virDomainDefineXMLFlags", conn, xml, flags)
}

/// Adds a reference to a domain handle.
#[no_mangle]
pub extern "C" fn virDomainRef(domain: virDomainPtr) -> c_int {
    entry("virDomainRef", -1, |call| {
        call.domain(domain)?;
        DOMAINS.add_ref(domain);
        Ok(0)
    })
}

/// Drops a reference to a domain handle; the last one releases it and its hold on the
/// connection.
#[no_mangle]
pub extern "C" fn virDomainFree(domain: virDomainPtr) -> c_int {
    entry("virDomainFree", -1, |call| {
        call.domain(domain)?;
        if let Some(Released::Gone(handle)) = DOMAINS.release(domain) {
            CONNECTIONS.release(Arc::as_ptr(&handle.conn).cast_mut());
        }
        Ok(0)
    })
}

/// Runs `body` on the domain `domain` names.
fn with_domain<T>(
    api: &'static str,
    domain: virDomainPtr,
    fail: T,
    body: impl FnOnce(&mut Call, &virDomain) -> Result<T>,
) -> T {
    entry(api, fail, |call| {
        let d = call.domain(domain)?;
        body(call, &d)
    })
}

/// The connection of a domain handle; no reference is added.
#[no_mangle]
pub extern "C" fn virDomainGetConnect(domain: virDomainPtr) -> virConnectPtr {
    with_domain("virDomainGetConnect", domain, ptr::null_mut(), |_, d| {
        Ok(Arc::as_ptr(&d.conn).cast_mut())
    })
}

/// The name of the domain, owned by the handle.
#[no_mangle]
pub extern "C" fn virDomainGetName(domain: virDomainPtr) -> *const c_char {
    // The handle's registry entry keeps the name alive while C holds the handle.
    with_domain("virDomainGetName", domain, ptr::null(), |_, d| {
        Ok(d.name.as_ptr())
    })
}

/// The ID the handle knows, or -1 (as `unsigned int`) when inactive or on error.
#[no_mangle]
pub extern "C" fn virDomainGetID(domain: virDomainPtr) -> c_uint {
    with_domain("virDomainGetID", domain, c_uint::MAX, |_, d| {
        Ok(d.dom.id() as c_uint)
    })
}

/// Writes the 16 bytes of the UUID to `uuid`.
#[no_mangle]
pub unsafe extern "C" fn virDomainGetUUID(domain: virDomainPtr, uuid: *mut c_uchar) -> c_int {
    with_domain("virDomainGetUUID", domain, -1, |call, d| {
        let out = call.non_null(uuid, "uuid")?;
        // SAFETY: the caller passes VIR_UUID_BUFLEN writable bytes.
        unsafe { out.cast::<[u8; VIR_UUID_BUFLEN]>().write(d.dom.uuid()) };
        Ok(0)
    })
}

/// Writes the UUID as text, NUL-terminated, to `buf` of `VIR_UUID_STRING_BUFLEN` bytes.
#[no_mangle]
pub unsafe extern "C" fn virDomainGetUUIDString(domain: virDomainPtr, buf: *mut c_char) -> c_int {
    with_domain("virDomainGetUUIDString", domain, -1, |call, d| {
        let out = call.non_null(buf, "buf")?;
        let text = d.dom.uuid_string();
        // SAFETY: the caller passes VIR_UUID_STRING_BUFLEN writable bytes; the text is 36.
        unsafe {
            ptr::copy_nonoverlapping(
                text.as_ptr().cast::<c_char>(),
                out,
                VIR_UUID_STRING_BUFLEN - 1,
            );
            *out.add(VIR_UUID_STRING_BUFLEN - 1) = 0;
        }
        Ok(0)
    })
}

/// The domain's XML, for the caller to free.
#[no_mangle]
pub extern "C" fn virDomainGetXMLDesc(domain: virDomainPtr, flags: c_uint) -> *mut c_char {
    with_domain("virDomainGetXMLDesc", domain, ptr::null_mut(), |_, d| {
        cstr::to_c(&d.dom.xml_desc(XmlFlags::from_bits_retain(flags))?)
    })
}

/// The state in `state` and, when `reason` is not NULL, its reason.
#[no_mangle]
pub unsafe extern "C" fn virDomainGetState(
    domain: virDomainPtr,
    state: *mut c_int,
    reason: *mut c_int,
    flags: c_uint,
) -> c_int {
    with_domain("virDomainGetState", domain, -1, |call, d| {
        let state = call.non_null(state, "state")?;
        let now = d.dom.state(NoFlags::from_bits_retain(flags))?;
        // SAFETY: `state` is checked; `reason` is optional; both are caller's ints.
        unsafe {
            *state = now.state() as c_int;
            if !reason.is_null() {
                *reason = now.reason();
            }
        }
        Ok(0)
    })
}

/// State, memory, vCPUs and CPU time, in `info`.
#[no_mangle]
pub unsafe extern "C" fn virDomainGetInfo(domain: virDomainPtr, info: virDomainInfoPtr) -> c_int {
    with_domain("virDomainGetInfo", domain, -1, |call, d| {
        let out = call.non_null(info, "info")?;
        let i = d.dom.info()?;
        // SAFETY: `out` is a caller-provided virDomainInfo, checked non-NULL.
        unsafe {
            (*out).state = i.state as c_uchar;
            (*out).maxMem = i.max_mem_kib as c_ulong;
            (*out).memory = i.memory_kib as c_ulong;
            (*out).nrVirtCpu = i.vcpus as c_ushort;
            (*out).cpuTime = i.cpu_time_ns;
        }
        Ok(0)
    })
}

/// 1 if the domain runs, 0 if not, -1 on error.
#[no_mangle]
pub extern "C" fn virDomainIsActive(domain: virDomainPtr) -> c_int {
    with_domain("virDomainIsActive", domain, -1, |_, d| {
        d.dom.is_active().map(c_int::from)
    })
}

/// 1 if the domain has a persistent definition, 0 if not, -1 on error.
#[no_mangle]
pub extern "C" fn virDomainIsPersistent(domain: virDomainPtr) -> c_int {
    with_domain("virDomainIsPersistent", domain, -1, |_, d| {
        d.dom.is_persistent().map(c_int::from)
    })
}

/// Copies `size` bytes of the running domain's memory from `start` into `buffer`;
/// `flags` is `VIR_MEMORY_VIRTUAL` or `VIR_MEMORY_PHYSICAL`. A `size` of 0 (with any
/// `buffer`) tests access.
#[no_mangle]
pub unsafe extern "C" fn virDomainMemoryPeek(
    dom: virDomainPtr,
    start: c_ulonglong,
    size: usize,
    buffer: *mut c_void,
    flags: c_uint,
) -> c_int {
    with_domain("virDomainMemoryPeek", dom, -1, |call, d| {
        // libvirt's order: read-only, exclusive flags, then the buffer.
        d.conn.conn.deny_read_only("virDomainMemoryPeek")?;
        let flags = MemoryFlags::from_bits_retain(flags);
        crate::core::check_memory_peek_flags(flags)?;
        let out = call.array(buffer.cast::<u8>(), "buffer", size)?;
        let bytes = d.dom.memory_peek(start, size, flags)?;
        // SAFETY: the caller's buffer holds `size` bytes; `bytes` has exactly `size`.
        unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), out, bytes.len()) };
        Ok(0)
    })
}

/// Runs a life-cycle call that returns 0 or -1.
fn lifecycle(
    api: &'static str,
    domain: virDomainPtr,
    op: impl FnOnce(&Domain) -> Result<()>,
) -> c_int {
    with_domain(api, domain, -1, |_, d| op(&d.dom).map(|()| 0))
}

/// Boots an inactive persistent domain.
#[no_mangle]
pub extern "C" fn virDomainCreate(domain: virDomainPtr) -> c_int {
    lifecycle("virDomainCreate", domain, Domain::create)
}

/// Boots an inactive persistent domain, with flags.
#[no_mangle]
pub extern "C" fn virDomainCreateWithFlags(domain: virDomainPtr, flags: c_uint) -> c_int {
    lifecycle("virDomainCreateWithFlags", domain, |d| {
        d.create_with_flags(CreateFlags::from_bits_retain(flags))
    })
}

/// Stops a running domain at once.
#[no_mangle]
pub extern "C" fn virDomainDestroy(domain: virDomainPtr) -> c_int {
    lifecycle("virDomainDestroy", domain, Domain::destroy)
}

/// Stops a running domain at once, with flags.
#[no_mangle]
pub extern "C" fn virDomainDestroyFlags(domain: virDomainPtr, flags: c_uint) -> c_int {
    lifecycle("virDomainDestroyFlags", domain, |d| {
        d.destroy_flags(DestroyFlags::from_bits_retain(flags))
    })
}

/// Pauses a running domain.
#[no_mangle]
pub extern "C" fn virDomainSuspend(domain: virDomainPtr) -> c_int {
    lifecycle("virDomainSuspend", domain, Domain::suspend)
}

/// Resumes a paused domain.
#[no_mangle]
pub extern "C" fn virDomainResume(domain: virDomainPtr) -> c_int {
    lifecycle("virDomainResume", domain, Domain::resume)
}

/// Removes the persistent definition of a domain.
#[no_mangle]
pub extern "C" fn virDomainUndefine(domain: virDomainPtr) -> c_int {
    lifecycle("virDomainUndefine", domain, Domain::undefine)
}

/// Removes the persistent definition of a domain, with flags.
#[no_mangle]
pub extern "C" fn virDomainUndefineFlags(domain: virDomainPtr, flags: c_uint) -> c_int {
    lifecycle("virDomainUndefineFlags", domain, |d| {
        d.undefine_flags(UndefineFlags::from_bits_retain(flags))
    })
}

/// The domains matching `flags`, in a NULL-terminated array for the caller to free
/// (each element with `virDomainFree`, then the array with `free`); returns their count.
/// With `domains` NULL, only counts.
#[no_mangle]
pub unsafe extern "C" fn virConnectListAllDomains(
    conn: virConnectPtr,
    domains: *mut *mut virDomainPtr,
    flags: c_uint,
) -> c_int {
    if !domains.is_null() {
        // SAFETY: a caller's out-parameter; libvirt clears it before any check.
        unsafe { *domains = ptr::null_mut() };
    }
    entry("virConnectListAllDomains", -1, |call| {
        let c = call.conn(conn)?;
        let found = c
            .conn
            .list_all_domains(ListDomainsFlags::from_bits_retain(flags))?;
        let count = found.len() as c_int;
        if domains.is_null() {
            return Ok(count);
        }
        let handles = found
            .into_iter()
            .map(|d| new_handle(&c, d))
            .collect::<Result<Vec<_>>>()?;
        // SAFETY: an array of len + 1 pointers from the C allocator, filled in bounds.
        unsafe {
            let array = libc::calloc(handles.len() + 1, std::mem::size_of::<virDomainPtr>())
                .cast::<virDomainPtr>();
            if array.is_null() {
                return Err(crate::Error::internal("out of memory"));
            }
            ptr::copy_nonoverlapping(handles.as_ptr(), array, handles.len());
            *domains = array;
        }
        Ok(count)
    })
}

/// The number of running domains.
#[no_mangle]
pub extern "C" fn virConnectNumOfDomains(conn: virConnectPtr) -> c_int {
    entry("virConnectNumOfDomains", -1, |call| {
        Ok(call.conn(conn)?.conn.active_domain_ids()?.len() as c_int)
    })
}

/// The IDs of up to `maxids` running domains, in `ids`; returns how many.
#[no_mangle]
pub unsafe extern "C" fn virConnectListDomains(
    conn: virConnectPtr,
    ids: *mut c_int,
    maxids: c_int,
) -> c_int {
    entry("virConnectListDomains", -1, |call| {
        let c = call.conn(conn)?;
        let max = call.non_negative(maxids, "maxids")?;
        let ids = call.array(ids, "ids", max)?;
        let found = c.conn.active_domain_ids()?;
        let n = found.len().min(max);
        // SAFETY: the caller's array has room for `maxids` ints; n <= maxids.
        unsafe { ptr::copy_nonoverlapping(found.as_ptr(), ids, n) };
        Ok(n as c_int)
    })
}

/// The number of defined, inactive domains.
#[no_mangle]
pub extern "C" fn virConnectNumOfDefinedDomains(conn: virConnectPtr) -> c_int {
    entry("virConnectNumOfDefinedDomains", -1, |call| {
        Ok(call.conn(conn)?.conn.defined_domain_names()?.len() as c_int)
    })
}

/// The names of up to `maxnames` inactive domains, in `names`, each for the caller to
/// free; returns how many.
#[no_mangle]
pub unsafe extern "C" fn virConnectListDefinedDomains(
    conn: virConnectPtr,
    names: *mut *mut c_char,
    maxnames: c_int,
) -> c_int {
    entry("virConnectListDefinedDomains", -1, |call| {
        let c = call.conn(conn)?;
        let max = call.non_negative(maxnames, "maxnames")?;
        let names = call.array(names, "names", max)?;
        let found = c.conn.defined_domain_names()?;
        let copies = found
            .iter()
            .take(max)
            .map(|n| cstr::to_c(n))
            .collect::<Result<Vec<_>>>()?;
        // SAFETY: the caller's array has room for `maxnames` pointers.
        unsafe { ptr::copy_nonoverlapping(copies.as_ptr(), names, copies.len()) };
        Ok(copies.len() as c_int)
    })
}
