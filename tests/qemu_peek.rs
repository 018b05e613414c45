//! `virDomainMemoryPeek` on the QEMU driver (`qemu:///embed?root=DIR`) through the Rust
//! core, with the test guest of `tests/guest/guest.asm` (32 MiB, paging off, so virtual
//! and physical addresses agree): the guest's status block and its whole xorshift32 fill
//! read through peeks, physical and virtual; the driver's refusals (flags, size cap,
//! inactive domain, read-only connection) in libvirt's words; no temporary file left.
//!
//! Needs `qemu-system-x86_64` and `nasm` (see `common`).

mod common;

use std::fs;
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::*;
use virshim::abi::virErrorDomain::*;
use virshim::abi::virErrorNumber::*;
use virshim::abi::{ConnectFlags, MemoryFlags};
use virshim::core::Domain;
use virshim::drivers::qemu::testing::MEMORY_PEEK_MAX;

fn peek_err(dom: &Domain, start: u64, size: usize, flags: MemoryFlags) -> virshim::Error {
    match dom.memory_peek(start, size, flags) {
        Ok(_) => panic!("the peek succeeded"),
        Err(e) => e,
    }
}

/// Polls the status block through peeks until the guest has filled its RAM.
fn wait_filled_by_peek(dom: &Domain) -> Status {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = Status::parse(&dom.memory_peek(STATUS, 24, MemoryFlags::PHYSICAL).unwrap());
        match &status.marker {
            b"FILLDONE" => return status,
            b"FAILED!!" => panic!("the guest found no multiboot memory size"),
            _ => assert!(Instant::now() < deadline, "the guest never filled its RAM"),
        }
        sleep(Duration::from_millis(20));
    }
}

fn temp_files(root: &Path) -> Vec<String> {
    fs::read_dir(root.join("run/qemu/peek"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("qemu.mem."))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn peeks_read_the_guest_memory_and_refuse_as_libvirt() {
    let Some((_qemu, kernel)) = tools() else {
        return;
    };
    let root = scratch("peek");
    let _stragglers = Stragglers(root.clone());
    let conn = open(&root);
    let xml = format!(
        "<domain type='qemu'><name>peek</name>\
         <uuid>0b7f1c52-4a4e-4c55-9a3e-2f8f4d6c1a90</uuid>\
         <memory unit='MiB'>32</memory><os><type>hvm</type><kernel>{}</kernel></os></domain>",
        kernel.display()
    );
    let dom = conn.define_xml(&xml).unwrap();

    // Inactive: the driver's flag checks first, then "domain is not running".
    let err = peek_err(&dom, 0, 8, MemoryFlags::empty());
    assert_eq!((err.code, err.domain), (VIR_ERR_INVALID_ARG, VIR_FROM_QEMU));
    assert_eq!(
        err.message,
        "invalid argument: flags parameter must be VIR_MEMORY_VIRTUAL or VIR_MEMORY_PHYSICAL"
    );
    let err = peek_err(&dom, 0, 0, MemoryFlags::PHYSICAL);
    assert_eq!(
        (err.code, err.domain),
        (VIR_ERR_OPERATION_INVALID, VIR_FROM_DOMAIN)
    );
    assert_eq!(
        err.message,
        "Requested operation is not valid: domain is not running"
    );

    dom.create().unwrap();
    let pidfile = root.join("run/qemu/peek/qemu.pid");
    let _kill = KillOnPanic(fs::read_to_string(pidfile).unwrap().trim().parse().unwrap());
    let status = wait_filled_by_peek(&dom);
    assert_eq!(status.seed, SEED);
    let end = status.end as usize;
    assert!(end > FILL_BASE && end <= 32 << 20, "{status:?}");

    // The same block through a virtual peek (paging is off); the counter runs on.
    let again = Status::parse(&dom.memory_peek(STATUS, 24, MemoryFlags::VIRTUAL).unwrap());
    assert_eq!(
        (&again.marker, again.end, again.seed),
        (b"FILLDONE", status.end, SEED)
    );
    assert!(again.counter >= status.counter);

    // All of RAM up to the fill's end, physical in 4 MiB peeks, then the stream.
    let mut ram = Vec::with_capacity(end);
    while ram.len() < end {
        let n = (end - ram.len()).min(4 << 20);
        ram.extend(
            dom.memory_peek(ram.len() as u64, n, MemoryFlags::PHYSICAL)
                .unwrap(),
        );
    }
    check_stream(&ram, end);
    // One virtual peek of 1 MiB in the middle of the fill, unaligned, agrees.
    let at = FILL_BASE + (3 << 20) + 3;
    let virt = dom
        .memory_peek(at as u64, 1 << 20, MemoryFlags::VIRTUAL)
        .unwrap();
    assert!(
        virt == ram[at..at + (1 << 20)],
        "virtual and physical differ"
    );

    // Size 0 tests access; the cap and the flags are refused.
    assert!(dom
        .memory_peek(0, 0, MemoryFlags::VIRTUAL)
        .unwrap()
        .is_empty());
    let err = peek_err(&dom, 0, MEMORY_PEEK_MAX + 1, MemoryFlags::PHYSICAL);
    assert_eq!((err.code, err.domain), (VIR_ERR_INVALID_ARG, VIR_FROM_QEMU));
    assert!(
        err.message.contains("exceeds the maximum"),
        "{}",
        err.message
    );
    let err = peek_err(&dom, 0, 8, MemoryFlags::VIRTUAL | MemoryFlags::PHYSICAL);
    assert_eq!(
        (err.code, err.domain),
        (VIR_ERR_INVALID_ARG, VIR_FROM_DOMAIN)
    );
    assert_eq!(
        err.message,
        "Flags 'VIR_MEMORY_VIRTUAL' and 'VIR_MEMORY_PHYSICAL' are mutually exclusive"
    );
    let err = peek_err(&dom, 0, 8, MemoryFlags::from_bits_retain(4));
    assert_eq!(
        err.message,
        "unsupported flags (0x4) in function qemuDomainMemoryPeek"
    );
    // Beyond RAM, QEMU answers what the bus reads there, as libvirt passes it on.
    assert_eq!(
        dom.memory_peek(1 << 40, 16, MemoryFlags::PHYSICAL)
            .unwrap()
            .len(),
        16
    );

    // A read-only connection may not peek.
    let ro = connect(&embed_uri(&root), ConnectFlags::RO).unwrap();
    let err = peek_err(
        &ro.lookup_by_name("peek").unwrap(),
        0,
        8,
        MemoryFlags::PHYSICAL,
    );
    assert_eq!(
        (err.code, err.domain),
        (VIR_ERR_OPERATION_DENIED, VIR_FROM_DOMAIN)
    );
    assert_eq!(
        err.message,
        "operation forbidden: read only access prevents virDomainMemoryPeek"
    );

    assert!(temp_files(&root).is_empty(), "{:?}", temp_files(&root));
    dom.destroy().unwrap();
    let err = peek_err(&dom, STATUS, 24, MemoryFlags::PHYSICAL);
    assert_eq!(err.code, VIR_ERR_OPERATION_INVALID);
    dom.undefine().unwrap();
    fs::remove_dir_all(&root).unwrap();
}
