//! The machine virshim builds from domain XML is the one libvirt 9.0 builds: a guest
//! migrates from a QEMU started with libvirt's own logged command line into one started
//! with virshim's (`drivers::qemu::command`) for the same XML, and back. QEMU refuses an
//! incoming stream from a different machine (other devices, addresses, RAM blocks).
//!
//! libvirt's command lines are the recorded ones of `src/drivers/qemu/testdata/minimal`
//! (its start, and its restore of a save image), as logged, with only libvirt's monitor
//! descriptor (replaced by a socket, as for every QEMU virshim starts), its secret object
//! (whose file is gone) and the kernel's path (the test guest built here) changed.
//!
//! These need `qemu-system-x86_64` and `nasm` (see `common`).

mod common;

use std::ffi::OsString;
use std::fs::{self, File};
use std::os::fd::AsFd;
use std::path::Path;

use common::*;
use virshim::abi::virErrorDomain::VIR_FROM_XML;
use virshim::drivers::qemu::testing::command::{self, Options};
use virshim::drivers::qemu::testing::defaults::{self, Host};
use virshim::drivers::qemu::testing::migration::{migrate_from_fd, migrate_to_fd};
use virshim::drivers::qemu::testing::process::Qemu;
use virshim::xml::{parse_tree, DomainDef};

const RAM: u64 = 32 << 20;
/// A host like CI's: TCG, with the emulator probed.
const HOST: Host = Host {
    kvm: false,
    check_emulator: true,
};
/// Where the recording's files were (see testdata/record.py).
const RECORDED_KERNEL: &str = "/tmp/virshim-fixtures/guest.bin";

fn testdata(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/drivers/qemu/testdata/minimal")
        .join(file);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// libvirt's logged command line (after the binary) as this test runs it.
fn libvirt_args(recorded: &str, kernel: &Path) -> Vec<OsString> {
    let args: Vec<&str> = recorded.lines().skip(1).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).copied().unwrap_or_default();
        let libvirts_own = match args[i] {
            "-object" => value.contains(r#""id":"masterKey0""#),
            "-chardev" => value.starts_with("socket,id=charmonitor,fd="),
            "-mon" => value.starts_with("chardev=charmonitor,"),
            _ => false,
        };
        if libvirts_own {
            i += 2;
            continue;
        }
        let arg = if args[i] == RECORDED_KERNEL {
            kernel.as_os_str().to_owned()
        } else {
            args[i].into()
        };
        out.push(arg);
        i += 1;
    }
    out
}

/// virshim's definition of the recorded input, with this test's kernel.
fn virshim_def(kernel: &Path) -> DomainDef {
    let xml = testdata("input.xml").replace(RECORDED_KERNEL, kernel.to_str().unwrap());
    defaults::parse(&xml, &HOST).unwrap()
}

fn os_args(args: Vec<String>) -> Vec<OsString> {
    args.into_iter().map(OsString::from).collect()
}

/// Runs the guest of `source` until it has filled its RAM, saves it into a stream, loads
/// the stream into `target` (waiting for it), and checks that RAM is the same byte for byte
/// and that the guest's counter goes on. Both are stopped.
fn migrate(mut source: Qemu, mut target: Qemu, dir: &Path, what: &str) {
    source.monitor().execute("cont", None).unwrap();
    let filled = wait_filled(&mut source, dir);
    pause(&mut source);
    let before = read_phys(&mut source, dir, 0, RAM);
    let status = Status::in_ram(&before);
    assert_eq!(status.end, filled.end);
    let stream = dir.join("stream");
    let out = File::create(&stream).unwrap();
    migrate_to_fd(source.monitor(), out.as_fd(), secs(30)).unwrap();
    drop(out);
    source.stop().unwrap();

    let input = File::open(&stream).unwrap();
    if let Err(e) = migrate_from_fd(target.monitor(), input.as_fd(), secs(30)) {
        panic!("{what}: the stream was refused: {e}\n{}", target.log_tail());
    }
    let after = read_phys(&mut target, dir, 0, RAM);
    if let Some(at) = before.iter().zip(&after).position(|(a, b)| a != b) {
        panic!("{what}: guest RAM differs at {at:#x}");
    }
    resume_and_count(&mut target, dir, status.counter);
    target.stop().unwrap();
    fs::remove_file(&stream).unwrap();
}

#[test]
fn guests_migrate_between_libvirts_machine_and_virshims() {
    let Some((qemu, kernel)) = tools() else {
        return;
    };
    let dir = scratch("migrate");
    let def = virshim_def(&kernel);
    assert_eq!(Path::new(&command::emulator(&def)), qemu.as_path());
    let start = |args: Vec<OsString>, run: &str| start_in(&qemu, &args, &dir.join(run));

    // libvirt's guest, restored by virshim as a libvirt save image is: the image's CPU
    // (the cookie's) and -incoming defer.
    let cookie = parse_tree(&testdata("cookie.xml"), "(cookie)", VIR_FROM_XML).unwrap();
    let restore = Options {
        incoming: true,
        cpu: cookie.child("cpu"),
    };
    let source = start(libvirt_args(&testdata("start.args"), &kernel), "libvirt");
    let target = start(os_args(command::build(&def, &restore).unwrap()), "virshim");
    migrate(source, target, &dir, "libvirt to virshim");

    // virshim's guest, restored by libvirt's restore command line.
    let source = start(
        os_args(command::build(&def, &Options::default()).unwrap()),
        "virshim",
    );
    let target = start(libvirt_args(&testdata("restore.args"), &kernel), "libvirt");
    migrate(source, target, &dir, "virshim to libvirt");
    fs::remove_dir_all(&dir).unwrap();
}

/// The proof proves something: a machine that differs in one device is refused.
#[test]
fn a_different_machine_refuses_the_stream() {
    let Some((qemu, kernel)) = tools() else {
        return;
    };
    let dir = scratch("refused");
    let def = virshim_def(&kernel);
    let mut source = start_in(
        &qemu,
        &os_args(command::build(&def, &Options::default()).unwrap()),
        &dir.join("a"),
    );
    // The same XML without the balloon: no device at 00:02.0.
    let xml = testdata("input.xml")
        .replace(RECORDED_KERNEL, kernel.to_str().unwrap())
        .replace(
            "</os>",
            "</os><devices><memballoon model='none'/></devices>",
        );
    let other = defaults::parse(&xml, &HOST).unwrap();
    let incoming = Options {
        incoming: true,
        cpu: None,
    };
    let mut target = start_in(
        &qemu,
        &os_args(command::build(&other, &incoming).unwrap()),
        &dir.join("b"),
    );
    let stream = dir.join("stream");
    let out = File::create(&stream).unwrap();
    migrate_to_fd(source.monitor(), out.as_fd(), secs(30)).unwrap();
    drop(out);
    source.stop().unwrap();
    let input = File::open(&stream).unwrap();
    assert!(migrate_from_fd(target.monitor(), input.as_fd(), secs(30)).is_err());
    target.wait_exit(secs(10));
    let log = target.log_tail();
    assert!(log.contains("Unknown savevm section"), "{log}");
    let _ = target.kill();
    fs::remove_dir_all(&dir).unwrap();
}
