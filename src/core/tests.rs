//! The public layer on a driver of its own: what the core does without any real driver.

use std::ffi::CStr;
use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::abi::virDomainRunningReason::VIR_DOMAIN_RUNNING_BOOTED;
use crate::abi::virDomainState::VIR_DOMAIN_RUNNING;
use crate::abi::virErrorDomain::VIR_FROM_DOMAIN;
use crate::abi::virErrorNumber::*;
use crate::abi::*;
use crate::error::ErrorKind;
use crate::{Error, Result};

/// One running domain, and no save/restore or memory peek: the capabilities are absent.
struct Minimal;

fn the_domain() -> DomainId {
    DomainId {
        name: "only".into(),
        uuid: [7; 16],
        id: 1,
    }
}

fn unused<T>() -> Result<T> {
    Err(Error::internal("not reached by these tests"))
}

impl Driver for Minimal {
    fn type_name(&self) -> &'static CStr {
        c"MINIMAL"
    }
    fn hypervisor_version(&self) -> u64 {
        1
    }
    fn lookup_by_name(&self, _: &str) -> Result<DomainId> {
        Ok(the_domain())
    }
    fn lookup_by_id(&self, _: i32) -> Result<DomainId> {
        unused()
    }
    fn lookup_by_uuid(&self, _: &[u8; 16]) -> Result<DomainId> {
        Ok(the_domain())
    }
    fn list_all(&self, _: ListDomainsFlags) -> Result<Vec<DomainId>> {
        Ok(vec![the_domain()])
    }
    fn active_ids(&self) -> Result<Vec<i32>> {
        Ok(vec![1])
    }
    fn defined_names(&self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
    fn define_xml(&self, _: &str, _: DefineFlags) -> Result<DomainId> {
        unused()
    }
    fn create_xml(&self, _: &str, _: CreateFlags) -> Result<DomainId> {
        unused()
    }
    fn create(&self, _: &DomainId, _: CreateFlags) -> Result<()> {
        unused()
    }
    fn destroy(&self, _: &DomainId, _: DestroyFlags) -> Result<()> {
        unused()
    }
    fn suspend(&self, _: &DomainId) -> Result<()> {
        unused()
    }
    fn resume(&self, _: &DomainId) -> Result<()> {
        unused()
    }
    fn undefine(&self, _: &DomainId, _: UndefineFlags) -> Result<()> {
        unused()
    }
    fn xml_desc(&self, _: &DomainId, _: XmlFlags) -> Result<String> {
        unused()
    }
    fn state(&self, _: &DomainId, _: NoFlags) -> Result<DomainState> {
        Ok(DomainState::Running(VIR_DOMAIN_RUNNING_BOOTED))
    }
    fn info(&self, _: &DomainId) -> Result<DomainInfo> {
        unused()
    }
    fn is_active(&self, _: &DomainId) -> Result<bool> {
        Ok(true)
    }
    fn is_persistent(&self, _: &DomainId) -> Result<bool> {
        Ok(false)
    }
}

fn connection(flags: ConnectFlags) -> Connection {
    Connection::new("minimal:///".into(), flags, Arc::new(Minimal))
}

#[test]
fn a_missing_capability_is_libvirts_no_support() {
    let conn = connection(ConnectFlags::empty());
    let dom = conn.lookup_by_name("only").unwrap();
    assert_eq!(
        dom.state(NoFlags::empty()).unwrap().raw(),
        (VIR_DOMAIN_RUNNING, 1)
    );
    let err = dom.save(Path::new("/tmp/x")).unwrap_err();
    assert_eq!(
        (err.code, err.domain),
        (VIR_ERR_NO_SUPPORT, VIR_FROM_DOMAIN)
    );
    assert_eq!(
        err.message,
        "this function is not supported by the connection driver: virDomainSave"
    );
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    let err = conn
        .save_image_xml_desc(Path::new("/tmp/x"), SaveImageXmlFlags::empty())
        .unwrap_err();
    assert!(err.message.ends_with(": virDomainSaveImageGetXMLDesc"));
    let err = dom.memory_peek(0, 1, MemoryFlags::PHYSICAL).unwrap_err();
    assert!(err.message.ends_with(": virDomainMemoryPeek"));
    assert_eq!(conn.type_name(), c"MINIMAL");
}

#[test]
fn public_checks_come_before_the_missing_capability() {
    // As in libvirt: read-only and exclusive flags are refused before the driver is asked.
    let ro = connection(ConnectFlags::RO);
    let dom = ro.lookup_by_name("only").unwrap();
    let err = dom.save(Path::new("/tmp/x")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied);
    let conn = connection(ConnectFlags::empty());
    let both = SaveRestoreFlags::RUNNING | SaveRestoreFlags::PAUSED;
    let err = conn.restore_flags(Path::new("/x"), None, both).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let err = conn
        .lookup_by_name("only")
        .unwrap()
        .memory_peek(0, 1, MemoryFlags::all())
        .unwrap_err();
    assert!(
        err.message.contains("mutually exclusive"),
        "{}",
        err.message
    );
}
