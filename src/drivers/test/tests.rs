//! The test driver through the core, for calls whose whole behaviour is the driver's.

use crate::abi::virErrorDomain::{VIR_FROM_DOMAIN, VIR_FROM_TEST};
use crate::abi::virErrorNumber::*;
use crate::abi::{ConnectFlags, HostnameFlags};
use crate::drivers::connect;

/// Observed on libvirt 9.0's test driver (python3-libvirt, `test:///default`).
#[test]
fn hostnames_as_libvirts_test_driver_makes_them() {
    let conn = connect(Some("test:///default"), ConnectFlags::empty()).unwrap();
    let dom = conn.lookup_by_name("test").unwrap();
    assert_eq!(dom.hostname(HostnameFlags::empty()).unwrap(), "testhost");

    let err = dom.hostname(HostnameFlags::all()).unwrap_err();
    assert_eq!((err.code, err.domain), (VIR_ERR_INVALID_ARG, VIR_FROM_TEST));
    assert_eq!(
        err.message,
        "unsupported flags (0x3) in function testDomainGetHostname"
    );

    let ro = connect(Some("test:///default"), ConnectFlags::RO).unwrap();
    let err = ro
        .lookup_by_name("test")
        .unwrap()
        .hostname(HostnameFlags::empty());
    let err = err.unwrap_err();
    assert_eq!(
        (err.code, err.domain),
        (VIR_ERR_OPERATION_DENIED, VIR_FROM_DOMAIN)
    );
    assert_eq!(
        err.message,
        "operation forbidden: read only access prevents virDomainGetHostname"
    );

    dom.destroy().unwrap();
    let err = dom.hostname(HostnameFlags::empty()).unwrap_err();
    assert_eq!(
        (err.code, err.domain),
        (VIR_ERR_OPERATION_INVALID, VIR_FROM_DOMAIN)
    );
    assert_eq!(
        err.message,
        "Requested operation is not valid: domain is not running"
    );
}
