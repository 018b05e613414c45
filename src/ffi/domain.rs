//! Domains: lookups, handles, life cycle, state and listings.

use std::ffi::{c_char, c_int, c_uchar, c_uint, c_ulong, c_ulonglong, c_ushort, c_void, CString};
use std::ptr;
use std::sync::Arc;

use super::call::Call;
use super::cstr;
use super::handles::{self, DOMAINS};
use super::types::{
    virConnect, virConnectPtr, virDomain, virDomainInfoPtr, virDomainPtr, VIR_UUID_BUFLEN,
    VIR_UUID_STRING_BUFLEN,
};
use crate::abi::{
    CreateFlags, DefineFlags, DestroyFlags, HostnameFlags, ListDomainsFlags, MemoryFlags, NoFlags,
    UndefineFlags, XmlFlags,
};
use crate::core::Domain;
use crate::Result;

/// Hands a new domain handle to C; it holds a reference on its connection.
pub(super) fn new_handle(conn: &Arc<virConnect>, dom: Domain) -> Result<virDomainPtr> {
    let name = CString::new(dom.name())
        .map_err(|_| crate::Error::internal("domain name contains a NUL byte"))?;
    Ok(handles::adopt(virDomain {
        dom,
        conn: Arc::clone(conn),
        name,
    }))
}

/// The connection's domain lookups start here: the connection, then its core, then a
/// new handle for what it found.
fn lookup(
    call: &mut Call,
    conn: virConnectPtr,
    body: impl FnOnce(&mut Call, &crate::core::Connection) -> Result<Domain>,
) -> Result<virDomainPtr> {
    let c = call.conn(conn)?;
    let dom = body(call, &c.conn)?;
    new_handle(&c, dom)
}

ffi_fn! {
    /// Finds the domain named `name` on `conn`. Returns a new handle, or NULL on failure
    /// (`VIR_ERR_NO_DOMAIN` when there is none); release it with `virDomainFree`.
    fn virDomainLookupByName(conn: virConnectPtr, name: *const c_char) -> virDomainPtr
        = ptr::null_mut();
    |call| {
        lookup(call, conn, |call, c| {
            // SAFETY: `name` is NULL or a C string, per the contract.
            let name = unsafe { call.string(name, "name") }?;
            // A name that is not UTF-8 cannot match any domain.
            c.lookup_by_name(&name.to_string_lossy())
        })
    }
}

ffi_fn! {
    /// Finds the running domain with ID `id`. Returns a new handle, or NULL on failure;
    /// release it with `virDomainFree`.
    fn virDomainLookupByID(conn: virConnectPtr, id: c_int) -> virDomainPtr = ptr::null_mut();
    |call| lookup(call, conn, |_, c| c.lookup_by_id(id))
}

ffi_fn! {
    /// Finds the domain whose UUID is the `VIR_UUID_BUFLEN` (16) bytes at `uuid`. Returns
    /// a new handle, or NULL on failure; release it with `virDomainFree`.
    fn virDomainLookupByUUID(conn: virConnectPtr, uuid: *const c_uchar) -> virDomainPtr
        = ptr::null_mut();
    |call| {
        lookup(call, conn, |call, c| {
            let uuid = call.non_null(uuid.cast_mut(), "uuid")?;
            // SAFETY: the caller passes VIR_UUID_BUFLEN bytes.
            let bytes: [u8; VIR_UUID_BUFLEN] =
                unsafe { uuid.cast::<[u8; VIR_UUID_BUFLEN]>().read() };
            c.lookup_by_uuid(&bytes)
        })
    }
}

ffi_fn! {
    /// Finds the domain whose UUID is the text `uuidstr`. Returns a new handle, or NULL on
    /// failure; release it with `virDomainFree`.
    fn virDomainLookupByUUIDString(conn: virConnectPtr, uuidstr: *const c_char) -> virDomainPtr
        = ptr::null_mut();
    |call| {
        lookup(call, conn, |call, c| {
            // SAFETY: `uuidstr` is NULL or a C string, per the contract.
            let text = unsafe { call.string(uuidstr, "uuidstr") }?;
            c.lookup_by_uuid_string(&text.to_string_lossy())
        })
    }
}

ffi_fn! {
    /// Starts a transient domain from the XML `xmlDesc`; `flags` may ask for it paused
    /// (`VIR_DOMAIN_START_PAUSED`) or more. Returns a new handle, or NULL on failure;
    /// release it with `virDomainFree` (which does not stop the domain).
    fn virDomainCreateXML(conn: virConnectPtr, xmlDesc: *const c_char, flags: c_uint)
        -> virDomainPtr = ptr::null_mut();
    |call| {
        let c = call.conn(conn)?;
        c.conn.deny_read_only(call.api())?;
        // SAFETY: `xmlDesc` is NULL or a C string, per the contract.
        let xml = cstr::text(unsafe { call.string(xmlDesc, "xmlDesc") }?, "domain XML")?;
        let dom = c
            .conn
            .create_xml(xml, CreateFlags::from_bits_retain(flags))?;
        new_handle(&c, dom)
    }
}

ffi_fn! {
    /// `virDomainCreateXML` under its first name, which libvirt keeps for old programs:
    /// the call, its errors (reported under the new name) and its result are that one's.
    /// Returns a new handle, or NULL on failure; release it with `virDomainFree`.
    @keep_error fn virDomainCreateLinux(conn: virConnectPtr, xmlDesc: *const c_char, flags: c_uint)
        -> virDomainPtr = ptr::null_mut();
    {
        // SAFETY: the same contract as virDomainCreateXML.
        unsafe { virDomainCreateXML(conn, xmlDesc, flags) }
    }
}

/// Defines a persistent domain from `xml` on `conn`, and hands a handle to it to C.
fn define(
    call: &mut Call,
    conn: virConnectPtr,
    xml: *const c_char,
    flags: c_uint,
) -> Result<virDomainPtr> {
    let c = call.conn(conn)?;
    c.conn.deny_read_only(call.api())?;
    // SAFETY: `xml` is NULL or a C string, per the contract.
    let xml = cstr::text(unsafe { call.string(xml, "xml") }?, "domain XML")?;
    let dom = c
        .conn
        .define_xml_flags(xml, DefineFlags::from_bits_retain(flags))?;
    new_handle(&c, dom)
}

ffi_fn! {
    /// Defines a persistent domain from `xml`, or replaces the definition of the domain of
    /// that name and UUID. Returns a new handle, or NULL on failure; release it with
    /// `virDomainFree`.
    fn virDomainDefineXML(conn: virConnectPtr, xml: *const c_char) -> virDomainPtr
        = ptr::null_mut();
    |call| define(call, conn, xml, 0)
}

ffi_fn! {
    /// As `virDomainDefineXML`; `flags` may ask to validate the XML against libvirt's
    /// schema (`VIR_DOMAIN_DEFINE_VALIDATE`). Returns a new handle, or NULL on failure;
    /// release it with `virDomainFree`.
    fn virDomainDefineXMLFlags(conn: virConnectPtr, xml: *const c_char, flags: c_uint)
        -> virDomainPtr = ptr::null_mut();
    |call| define(call, conn, xml, flags)
}

ffi_fn! {
    /// Adds a reference to the handle `domain`, to be dropped by one more `virDomainFree`.
    /// Returns 0, or -1 for a bad handle.
    fn virDomainRef(domain: virDomainPtr) -> c_int = -1; |call| {
        call.domain(domain)?;
        DOMAINS.add_ref(domain);
        Ok(0)
    }
}

ffi_fn! {
    /// Drops a reference to the handle `domain`; the last one releases the handle and its
    /// hold on the connection (the domain itself is not affected). Returns 0, or -1 for a
    /// bad handle.
    fn virDomainFree(domain: virDomainPtr) -> c_int = -1; |call| {
        call.domain(domain)?;
        handles::release(domain);
        Ok(0)
    }
}

ffi_fn! {
    /// The connection of the handle `domain`, or NULL for a bad handle. No reference is
    /// added: do not close it on the handle's behalf.
    fn virDomainGetConnect(domain: virDomainPtr) -> virConnectPtr = ptr::null_mut(); |call| {
        Ok(Arc::as_ptr(&call.domain(domain)?.conn).cast_mut())
    }
}

ffi_fn! {
    /// The name of the domain, or NULL for a bad handle. The string belongs to the handle
    /// and lives as long as it: do not free it.
    fn virDomainGetName(domain: virDomainPtr) -> *const c_char = ptr::null(); |call| {
        // The handle's registry entry keeps the name alive while C holds the handle.
        Ok(call.domain(domain)?.name.as_ptr())
    }
}

ffi_fn! {
    /// The ID of the running domain as the handle knows it, or (unsigned int)-1 when it is
    /// inactive or on failure.
    fn virDomainGetID(domain: virDomainPtr) -> c_uint = c_uint::MAX; |call| {
        Ok(call.domain(domain)?.dom.id() as c_uint)
    }
}

ffi_fn! {
    /// Writes the `VIR_UUID_BUFLEN` (16) bytes of the domain's UUID to `uuid`. Returns 0,
    /// or -1 on failure.
    fn virDomainGetUUID(domain: virDomainPtr, uuid: *mut c_uchar) -> c_int = -1; |call| {
        let d = call.domain(domain)?;
        let out = call.non_null(uuid, "uuid")?;
        // SAFETY: the caller passes VIR_UUID_BUFLEN writable bytes.
        unsafe { out.cast::<[u8; VIR_UUID_BUFLEN]>().write(d.dom.uuid()) };
        Ok(0)
    }
}

ffi_fn! {
    /// Writes the domain's UUID as text, NUL-terminated, to the caller's `buf` of
    /// `VIR_UUID_STRING_BUFLEN` (37) bytes. Returns 0, or -1 on failure.
    fn virDomainGetUUIDString(domain: virDomainPtr, buf: *mut c_char) -> c_int = -1; |call| {
        let d = call.domain(domain)?;
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
    }
}

ffi_fn! {
    /// The running domain's host name; `flags` (`VIR_DOMAIN_GET_HOSTNAME_LEASE`,
    /// `VIR_DOMAIN_GET_HOSTNAME_AGENT`) say where to look, for the drivers that can.
    /// Returns the name, or NULL on failure; the caller frees it with `free()`.
    fn virDomainGetHostname(domain: virDomainPtr, flags: c_uint) -> *mut c_char
        = ptr::null_mut();
    |call| {
        let flags = HostnameFlags::from_bits_retain(flags);
        cstr::to_c(&call.domain(domain)?.dom.hostname(flags)?)
    }
}

ffi_fn! {
    /// The domain's XML description; `flags` may ask for the inactive definition, the
    /// secure parts, or a migratable form. Returns the XML, or NULL on failure; the caller
    /// frees it with `free()`.
    fn virDomainGetXMLDesc(domain: virDomainPtr, flags: c_uint) -> *mut c_char
        = ptr::null_mut();
    |call| {
        let flags = XmlFlags::from_bits_retain(flags);
        cstr::to_c(&call.domain(domain)?.dom.xml_desc(flags)?)
    }
}

ffi_fn! {
    /// Writes the domain's state (a `virDomainState`) to `state` and, when `reason` is not
    /// NULL, the reason for it. Returns 0, or -1 on failure.
    fn virDomainGetState(
        domain: virDomainPtr,
        state: *mut c_int,
        reason: *mut c_int,
        flags: c_uint,
    ) -> c_int = -1;
    |call| {
        let d = call.domain(domain)?;
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
    }
}

ffi_fn! {
    /// Fills the caller's `info` with the domain's state, maximum and current memory (KiB),
    /// vCPU count and CPU time (ns). Returns 0, or -1 on failure.
    fn virDomainGetInfo(domain: virDomainPtr, info: virDomainInfoPtr) -> c_int = -1; |call| {
        let d = call.domain(domain)?;
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
    }
}

ffi_fn! {
    /// Whether the domain runs: 1 if it does, 0 if not, -1 on failure.
    fn virDomainIsActive(domain: virDomainPtr) -> c_int = -1; |call| {
        call.domain(domain)?.dom.is_active().map(c_int::from)
    }
}

ffi_fn! {
    /// Whether the domain has a persistent definition: 1 if it has, 0 if not, -1 on
    /// failure.
    fn virDomainIsPersistent(domain: virDomainPtr) -> c_int = -1; |call| {
        call.domain(domain)?.dom.is_persistent().map(c_int::from)
    }
}

ffi_fn! {
    /// Copies `size` bytes of the running domain's memory from address `start` into the
    /// caller's `buffer`; `flags` is `VIR_MEMORY_VIRTUAL` or `VIR_MEMORY_PHYSICAL`. A
    /// `size` of 0 (with any `buffer`) only tests access. Returns 0, or -1 on failure.
    fn virDomainMemoryPeek(
        dom: virDomainPtr,
        start: c_ulonglong,
        size: usize,
        buffer: *mut c_void,
        flags: c_uint,
    ) -> c_int = -1;
    |call| {
        let d = call.domain(dom)?;
        // libvirt's order: read-only, exclusive flags, then the buffer.
        d.conn.conn.deny_read_only(call.api())?;
        let flags = MemoryFlags::from_bits_retain(flags);
        crate::core::check_memory_peek_flags(flags)?;
        let out = call.array(buffer.cast::<u8>(), "buffer", size)?;
        let bytes = d.dom.memory_peek(start, size, flags)?;
        // SAFETY: the caller's buffer holds `size` bytes; `bytes` has exactly `size`.
        unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), out, bytes.len()) };
        Ok(0)
    }
}

/// Runs a life-cycle operation on the domain `domain` names: 0 once done.
fn lifecycle(
    call: &mut Call,
    domain: virDomainPtr,
    op: impl FnOnce(&Domain) -> Result<()>,
) -> Result<c_int> {
    op(&call.domain(domain)?.dom).map(|()| 0)
}

ffi_fn! {
    /// Boots the inactive persistent domain. Returns 0, or -1 on failure.
    fn virDomainCreate(domain: virDomainPtr) -> c_int = -1;
    |call| lifecycle(call, domain, Domain::create)
}

ffi_fn! {
    /// Boots the inactive persistent domain; `flags` may ask for it paused
    /// (`VIR_DOMAIN_START_PAUSED`) or more. Returns 0, or -1 on failure.
    fn virDomainCreateWithFlags(domain: virDomainPtr, flags: c_uint) -> c_int = -1;
    |call| lifecycle(call, domain, |d| d.create_with_flags(CreateFlags::from_bits_retain(flags)))
}

ffi_fn! {
    /// Stops the running domain at once, as pulling the plug; a transient one is gone
    /// after. The handle stays valid: release it with `virDomainFree`. Returns 0, or -1
    /// on failure.
    fn virDomainDestroy(domain: virDomainPtr) -> c_int = -1;
    |call| lifecycle(call, domain, Domain::destroy)
}

ffi_fn! {
    /// As `virDomainDestroy`; `flags` may ask for a graceful stop
    /// (`VIR_DOMAIN_DESTROY_GRACEFUL`). Returns 0, or -1 on failure.
    fn virDomainDestroyFlags(domain: virDomainPtr, flags: c_uint) -> c_int = -1;
    |call| lifecycle(call, domain, |d| d.destroy_flags(DestroyFlags::from_bits_retain(flags)))
}

ffi_fn! {
    /// Pauses the running domain: its vCPUs stop, its memory stays. Returns 0, or -1 on
    /// failure.
    fn virDomainSuspend(domain: virDomainPtr) -> c_int = -1;
    |call| lifecycle(call, domain, Domain::suspend)
}

ffi_fn! {
    /// Resumes the paused domain. Returns 0, or -1 on failure.
    fn virDomainResume(domain: virDomainPtr) -> c_int = -1;
    |call| lifecycle(call, domain, Domain::resume)
}

ffi_fn! {
    /// Removes the persistent definition of the domain; a running one stays, transient.
    /// Returns 0, or -1 on failure.
    fn virDomainUndefine(domain: virDomainPtr) -> c_int = -1;
    |call| lifecycle(call, domain, Domain::undefine)
}

ffi_fn! {
    /// As `virDomainUndefine`; `flags` say what else to remove (a managed save image,
    /// snapshot or checkpoint metadata, NVRAM). Returns 0, or -1 on failure.
    fn virDomainUndefineFlags(domain: virDomainPtr, flags: c_uint) -> c_int = -1;
    |call| {
        lifecycle(call, domain, |d| {
            d.undefine_flags(UndefineFlags::from_bits_retain(flags))
        })
    }
}

ffi_fn! {
    /// The domains of `conn` that match `flags` (0: all). When `domains` is not NULL it
    /// receives a NULL-terminated array of new handles: the caller releases each with
    /// `virDomainFree`, then the array with `free()`. Returns the number of domains, or -1
    /// on failure (with `*domains` NULL).
    fn virConnectListAllDomains(
        conn: virConnectPtr,
        domains: *mut *mut virDomainPtr,
        flags: c_uint,
    ) -> c_int = -1;
    |call| {
        if !domains.is_null() {
            // SAFETY: a caller's out-parameter, cleared before any check as in libvirt.
            unsafe { *domains = ptr::null_mut() };
        }
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
    }
}

ffi_fn! {
    /// The number of running domains on `conn`, or -1 on failure.
    fn virConnectNumOfDomains(conn: virConnectPtr) -> c_int = -1; |call| {
        Ok(call.conn(conn)?.conn.active_domain_ids()?.len() as c_int)
    }
}

ffi_fn! {
    /// Writes the IDs of up to `maxids` running domains to the caller's array `ids`.
    /// Returns how many it wrote, or -1 on failure.
    fn virConnectListDomains(conn: virConnectPtr, ids: *mut c_int, maxids: c_int) -> c_int = -1;
    |call| {
        let c = call.conn(conn)?;
        let max = call.non_negative(maxids, "maxids")?;
        let ids = call.array(ids, "ids", max)?;
        let found = c.conn.active_domain_ids()?;
        let n = found.len().min(max);
        // SAFETY: the caller's array has room for `maxids` ints; n <= maxids.
        unsafe { ptr::copy_nonoverlapping(found.as_ptr(), ids, n) };
        Ok(n as c_int)
    }
}

ffi_fn! {
    /// The number of defined, inactive domains on `conn`, or -1 on failure.
    fn virConnectNumOfDefinedDomains(conn: virConnectPtr) -> c_int = -1; |call| {
        Ok(call.conn(conn)?.conn.defined_domain_names()?.len() as c_int)
    }
}

ffi_fn! {
    /// Writes the names of up to `maxnames` defined, inactive domains to the caller's array
    /// `names`; the caller frees each name with `free()`. Returns how many it wrote, or -1
    /// on failure.
    fn virConnectListDefinedDomains(
        conn: virConnectPtr,
        names: *mut *mut c_char,
        maxnames: c_int,
    ) -> c_int = -1;
    |call| {
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
    }
}
