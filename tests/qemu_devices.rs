//! Every recorded machine of `src/drivers/qemu/testdata` (disks of files and of a block
//! device, raw and qcow2, IDE, SATA and virtio, a CD-ROM, serial ports and consoles on
//! ptys, files and null, two vCPUs and a balloon, boot order and lifecycle actions) runs
//! on the QEMU driver and survives a save and a restore: QEMU accepts the stream into the
//! same machine, the guest runs on (its counter, where the case boots the test guest),
//! and the devices are where they were.
//!
//! The files the inputs name are made in a scratch folder; the block device is a loop
//! device (root), and a case that needs one is skipped where none can be had.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::Duration;

use common::*;
use virshim::abi::virDomainRunningReason::VIR_DOMAIN_RUNNING_RESTORED;
use virshim::abi::virDomainState::VIR_DOMAIN_RUNNING;
use virshim::abi::{DomainState, MemoryFlags, NoFlags};
use virshim::core::Domain;

/// Where the recorded inputs name their files.
const RECORDED: &str = "/tmp/virshim-fixtures";

/// A loop device over a file, detached at the end of the test.
struct Loop(String);

impl Loop {
    fn new(backing: &Path) -> Option<Loop> {
        let out = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(backing)
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        Some(Loop(String::from_utf8(out.stdout).ok()?.trim().to_owned()))
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

/// The files of the inputs, in `dir`; the block device if one could be had.
fn make_files(dir: &Path, kernel: &Path) -> Option<Loop> {
    fs::copy(kernel, dir.join("guest.bin")).unwrap();
    for (name, size) in [
        ("disk.raw", 1 << 20),
        ("cdrom.iso", 1 << 20),
        ("initrd.img", 4096),
        ("block.img", 1 << 20),
    ] {
        fs::File::create(dir.join(name))
            .unwrap()
            .set_len(size)
            .unwrap();
    }
    let status = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(dir.join("disk.qcow2"))
        .arg("16M")
        .status()
        .expect("qemu-img (qemu-utils)");
    assert!(status.success());
    let device = Loop::new(&dir.join("block.img"));
    if let Some(device) = &device {
        std::os::unix::fs::symlink(&device.0, dir.join("block0")).unwrap();
    }
    device
}

/// Waits until the test guest has filled its RAM; its counter then.
fn filled(dom: &Domain) -> u64 {
    let deadline = secs(30);
    loop {
        let block = dom.memory_peek(STATUS, 24, MemoryFlags::PHYSICAL).unwrap();
        let status = Status::parse(&block);
        if &status.marker == b"FILLDONE" {
            return status.counter;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the guest never filled"
        );
        sleep(Duration::from_millis(20));
    }
}

/// The devices QEMU has, from `query-block`: (device, file).
fn block_devices(root: &Path, name: &str) -> Vec<(String, String)> {
    let mut q = attach(root, name);
    let blocks = q.monitor().execute("query-block", None).unwrap();
    let mut out: Vec<(String, String)> = blocks
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let id = b["qdev"].as_str().or(b["device"].as_str()).unwrap_or("");
            let file = b["inserted"]["file"].as_str().unwrap_or("(empty)");
            (id.to_owned(), file.to_owned())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_recorded_machine_saves_and_restores() {
    let Some((_qemu, kernel)) = tools() else {
        return;
    };
    let (_serial, _stragglers, root) = setup("devices");
    let files = root.join("files");
    fs::create_dir_all(&files).unwrap();
    let device = make_files(&files, &kernel);
    let conn = open(&root);

    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/drivers/qemu/testdata");
    let mut names: Vec<String> = fs::read_dir(&cases)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().join("input.xml").is_file())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(names.len() >= 7, "{names:?}");
    let mut ran = 0;
    for name in &names {
        let input = fs::read_to_string(cases.join(name).join("input.xml")).unwrap();
        if input.contains("block0") && device.is_none() {
            skip(&format!("{name}: no loop device for its block disk"));
            continue;
        }
        let xml = input.replace(RECORDED, files.to_str().unwrap());
        let boots_guest = xml.contains("guest.bin");
        let dom = conn.define_xml(&xml).unwrap();
        dom.create()
            .unwrap_or_else(|e| panic!("{name}: start: {e}"));
        let before = boots_guest.then(|| filled(&dom));
        let devices = block_devices(&root, name);
        assert_eq!(
            devices.len(),
            xml.matches("<disk ").count(),
            "{name}: {devices:?}"
        );
        let image = root.join(format!("{name}.save"));
        dom.save(&image)
            .unwrap_or_else(|e| panic!("{name}: save: {e}"));
        conn.restore(&image)
            .unwrap_or_else(|e| panic!("{name}: restore: {e}"));
        assert_eq!(
            dom.state(NoFlags::empty()).map(DomainState::raw).unwrap(),
            (VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_RESTORED as i32),
            "{name}"
        );
        assert_eq!(block_devices(&root, name), devices, "{name}");
        if let Some(before) = before {
            sleep(Duration::from_millis(100));
            assert!(counter(&dom) > before, "{name}: the guest does not run on");
        }
        dom.destroy().unwrap();
        dom.undefine().unwrap();
        fs::remove_file(&image).unwrap();
        ran += 1;
    }
    eprintln!("{ran} of {} machines saved and restored", names.len());
    drop(conn);
    drop(device);
    fs::remove_dir_all(&root).unwrap();
}
