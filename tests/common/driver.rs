//! Helpers of the tests that drive the QEMU driver (`qemu:///embed?root=DIR`) through the
//! Rust core, with the test guest.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::MutexGuard;

use virshim::abi::{ConnectFlags, MemoryFlags};
use virshim::core::{Connection, Domain};
use virshim::drivers::qemu::testing::process::{Paths, Qemu};

use super::{connect, embed_uri, scratch, secs, serial, wait_filled, Status, Stragglers, STATUS};

/// The error of a call that must fail (domains and connections are not `Debug`).
pub trait Fails {
    fn fails(self) -> virshim::Error;
}

impl<T> Fails for virshim::Result<T> {
    fn fails(self) -> virshim::Error {
        match self {
            Ok(_) => panic!("the call succeeded"),
            Err(e) => e,
        }
    }
}

pub const UUID: &str = "c7a5fdbd-edaf-9455-926a-d65c16db1809";

/// One test at a time, its root, and the QEMUs it leaves behind killed at its end.
pub fn setup(test: &str) -> (MutexGuard<'static, ()>, Stragglers, PathBuf) {
    let serial = serial();
    let root = scratch_dir(test);
    (serial, Stragglers(root.clone()), root)
}

/// A connection to the QEMU driver rooted at `root`.
pub fn open(root: &Path) -> Connection {
    connect(&embed_uri(root), ConnectFlags::empty()).unwrap()
}

pub fn guest_xml(name: &str, uuid: &str, kernel: &Path) -> String {
    guest_xml_mib(name, uuid, kernel, 32)
}

/// The guest with `mib` of RAM (the fill covers all of it above 2 MiB).
pub fn guest_xml_mib(name: &str, uuid: &str, kernel: &Path, mib: u64) -> String {
    format!(
        "<domain type='qemu'><name>{name}</name><uuid>{uuid}</uuid>\
         <memory unit='MiB'>{mib}</memory><os><type>hvm</type><kernel>{}</kernel></os>\
         </domain>",
        kernel.display()
    )
}

/// The QEMU of running domain `name` under `root`, attached for the test's reads (QEMU
/// serves one monitor client: drop it before the next driver call).
pub fn attach(root: &Path, name: &str) -> Qemu {
    let paths = Paths::in_dir(&root.join("run/qemu").join(name));
    Qemu::attach(&paths, secs(10)).unwrap().expect("QEMU runs")
}

pub fn pid_of(root: &Path, name: &str) -> i32 {
    let pidfile = root.join("run/qemu").join(name).join("qemu.pid");
    fs::read_to_string(pidfile).unwrap().trim().parse().unwrap()
}

/// Defines and starts the guest `name`, and waits until it has filled its RAM.
pub fn started(conn: &Connection, root: &Path, name: &str, kernel: &Path) -> Domain {
    let dom = conn.define_xml(&guest_xml(name, UUID, kernel)).unwrap();
    dom.create().unwrap();
    let mut q = attach(root, name);
    wait_filled(&mut q, root);
    dom
}

/// The guest's counter, read through the driver.
pub fn counter(dom: &Domain) -> u64 {
    let block = dom.memory_peek(STATUS, 24, MemoryFlags::PHYSICAL).unwrap();
    Status::parse(&block).counter
}

/// Checks that the guest's counter moves.
pub fn assert_counting(dom: &Domain) {
    let before = counter(dom);
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(counter(dom) > before, "the guest does not run");
}

pub fn scratch_dir(test: &str) -> PathBuf {
    // Short: the monitor socket's path must fit a UNIX socket address.
    let dir = scratch(test);
    assert!(
        dir.join("run/qemu/guest-name/monitor.sock")
            .as_os_str()
            .len()
            < 100
    );
    dir
}
