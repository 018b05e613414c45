//! Faults and bad input through the QEMU driver (`qemu:///embed?root=DIR`), with the test
//! guest of `tests/guest/guest.asm` (32 MiB) under TCG:
//!
//! - QEMU killed during a save: a clean error, the domain shut off as crashed, no image
//!   and no partial file, the file that was at the path untouched;
//! - a full disk (a 4 MiB tmpfs), plain and bypassing the cache: the save fails with
//!   ENOSPC, a running guest runs on (reason "save canceled") and counts on, a paused
//!   one stays paused, and nothing is left on the filesystem;
//! - a failing disk (a loop device shrunk under its ext4), plain and bypassing the cache:
//!   the save fails with the I/O error, the guest runs on, nothing is left;
//! - the emulator gone between save and restore, and a kernel gone: restore fails, no
//!   QEMU and no domain are left, the image is untouched, the domain shut off as saved
//!   or (once QEMU failed) as failed;
//! - truncated, corrupted, partial, foreign and wrong-architecture images: refused, no
//!   QEMU left, the image untouched;
//! - bypass-cache saves and restores with a replacement XML, images of mode 0600 whatever
//!   the umask, incompatible replacement XML refused on both sides;
//! - domain names that would lead out of the root are refused at define time.
//!
//! These need `qemu-system-x86_64` and `nasm` (see `common`), and root for the tmpfs.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::thread::sleep;
use std::time::Duration;

use common::*;
use virshim::abi::virDomainPausedReason::*;
use virshim::abi::virDomainRunningReason::*;
use virshim::abi::virDomainShutoffReason::*;
use virshim::abi::virDomainState::*;
use virshim::abi::virErrorDomain::*;
use virshim::abi::virErrorNumber::*;
use virshim::abi::{
    CreateFlags, DomainState, NoFlags, SaveImageXmlFlags, SaveRestoreFlags, XmlFlags,
};
use virshim::core::Connection;
use virshim::drivers::qemu::image::SaveImage;

/// The error code and message of a refused image; `None`: QEMU refuses the stream.
type Refusal = (virshim::abi::virErrorNumber, &'static str);

const PREVIOUS: &[u8] = b"the image saved before";
const RAM: u64 = 32 << 20;
const BYPASS: SaveRestoreFlags = SaveRestoreFlags::BYPASS_CACHE;

/// Checks that nothing of a failed restore remains under `root`: no QEMU, no run
/// directory, no active domain.
fn assert_no_guest_left(conn: &Connection, root: &Path, what: &str) {
    assert_eq!(qemus_under(root), Vec::<i32>::new(), "{what}: QEMU left");
    let run_dirs = fs::read_dir(root.join("run/qemu"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_type().unwrap().is_dir())
        .count();
    assert_eq!(run_dirs, 0, "{what}: run directory left");
    assert!(
        conn.active_domain_ids().unwrap().is_empty(),
        "{what}: domain left"
    );
}

#[test]
fn qemu_killed_during_a_save_leaves_no_image_and_a_crashed_domain() {
    let Some((_qemu, kernel)) = tools() else {
        return;
    };
    let (_serial, _stragglers, root) = setup("killed");
    let conn = open(&root);
    let images = root.join("images");
    fs::create_dir_all(&images).unwrap();
    let path = images.join("guest.save");
    fs::write(&path, PREVIOUS).unwrap();

    let dom = started(&conn, &root, "guest", &kernel);
    hold_before_switchover(&mut attach(&root, "guest"));
    let pid = pid_of(&root, "guest");
    let err = std::thread::scope(|s| {
        let save = s.spawn(|| dom.save(&path).fails());
        wait_partial(&images, RAM / 2);
        // SAFETY (of the test): kill has no memory arguments; the pid is our QEMU's.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
        save.join().unwrap()
    });
    assert_eq!(
        (err.code, err.domain, err.message.as_str()),
        (
            VIR_ERR_OPERATION_FAILED,
            VIR_FROM_QEMU,
            "operation failed: QEMU unexpectedly closed the monitor (vm='guest')"
        )
    );
    assert_eq!(listing(&images), ["guest.save"]);
    assert_eq!(fs::read(&path).unwrap(), PREVIOUS);
    assert_gone(pid);
    assert_eq!(
        dom.state(NoFlags::empty()).map(DomainState::raw).unwrap(),
        (VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_CRASHED as i32)
    );
    assert_no_guest_left(&conn, &root, "killed");
    // The domain starts again.
    dom.create().unwrap();
    wait_filled(&mut attach(&root, "guest"), &root);
    assert_counting(&dom);
    dom.destroy().unwrap();
    dom.undefine().unwrap();
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_full_disk_fails_the_save_and_the_guest_goes_on_as_it_was() {
    let Some((_qemu, kernel)) = tools() else {
        return;
    };
    let (_serial, _stragglers, root) = setup("full");
    let small = root.join("small");
    let Some(mounted) = Mount::new("tmpfs", &small, "size=4m") else {
        return;
    };
    let conn = open(&root);
    let path = small.join("guest.save");
    fs::write(&path, PREVIOUS).unwrap();
    let dom = started(&conn, &root, "guest", &kernel);

    for flags in [SaveRestoreFlags::empty(), BYPASS] {
        let err = dom.save_flags(&path, None, flags).fails();
        assert_eq!(
            (err.code, err.domain, err.int1),
            (VIR_ERR_SYSTEM_ERROR, VIR_FROM_QEMU, libc::ENOSPC),
            "{}",
            err.message
        );
        assert!(
            err.message.ends_with(": No space left on device"),
            "{}",
            err.message
        );
        assert_eq!(listing(&small), ["guest.save"]);
        assert_eq!(fs::read(&path).unwrap(), PREVIOUS);
        assert_eq!(
            dom.state(NoFlags::empty()).map(DomainState::raw).unwrap(),
            (VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_SAVE_CANCELED as i32)
        );
        assert_counting(&dom);
    }

    // A paused guest stays paused, for the reason it had.
    dom.suspend().unwrap();
    let stopped = counter(&dom);
    let err = dom.save_flags(&path, None, BYPASS).fails();
    assert_eq!(err.int1, libc::ENOSPC, "{}", err.message);
    assert_eq!(
        dom.state(NoFlags::empty()).map(DomainState::raw).unwrap(),
        (VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_USER as i32)
    );
    sleep(Duration::from_millis(100));
    assert_eq!(counter(&dom), stopped);
    dom.resume().unwrap();
    assert_counting(&dom);

    dom.destroy().unwrap();
    dom.undefine().unwrap();
    drop(mounted);
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_failing_disk_fails_the_save_and_the_guest_goes_on() {
    let Some((_qemu, kernel)) = tools() else {
        return;
    };
    let (_serial, _stragglers, root) = setup("eio");
    let mnt = root.join("disk");
    let Some(disk) = FailingDisk::new(&mnt) else {
        return;
    };
    let conn = open(&root);
    let dom = started(&conn, &root, "guest", &kernel);
    let path = mnt.join("guest.save");
    // Direct writes get the block layer's EIO; through the page cache the kernel reports
    // the lost writeback as it sees fit (ENOSPC and ENOMEM have been seen).
    for (flags, errno) in [(SaveRestoreFlags::empty(), None), (BYPASS, Some(libc::EIO))] {
        let err = dom.save_flags(&path, None, flags).fails();
        assert_eq!(
            (err.code, err.domain),
            (VIR_ERR_SYSTEM_ERROR, VIR_FROM_QEMU),
            "{}",
            err.message
        );
        assert!(err.int1 > 0, "{}", err.message);
        if let Some(errno) = errno {
            assert_eq!(err.int1, errno, "{}", err.message);
        }
        assert_eq!(listing(&mnt), ["lost+found"], "flags {flags:?}");
        assert_eq!(
            dom.state(NoFlags::empty()).map(DomainState::raw).unwrap(),
            (VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_SAVE_CANCELED as i32)
        );
        assert_counting(&dom);
    }
    dom.destroy().unwrap();
    dom.undefine().unwrap();
    drop(disk);
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn restores_without_their_emulator_or_kernel_fail_and_leave_nothing() {
    let Some((qemu, kernel)) = tools() else {
        return;
    };
    let (_serial, _stragglers, root) = setup("missing");
    let conn = open(&root);
    // The guest runs from its own emulator and kernel, which then go away.
    let emulator = root.join("qemu-system-x86_64");
    std::os::unix::fs::symlink(&qemu, &emulator).unwrap();
    let own_kernel = root.join("guest.bin");
    fs::copy(&kernel, &own_kernel).unwrap();
    let xml = guest_xml("guest", UUID, &own_kernel).replace(
        "</os>",
        &format!(
            "</os><devices><emulator>{}</emulator></devices>",
            emulator.display()
        ),
    );
    let dom = conn.define_xml(&xml).unwrap();
    dom.create().unwrap();
    wait_filled(&mut attach(&root, "guest"), &root);
    let image = root.join("guest.save");
    dom.save(&image).unwrap();
    let bytes = fs::read(&image).unwrap();

    fs::remove_file(&emulator).unwrap();
    let err = conn.restore(&image).fails();
    assert_eq!(
        (err.code, err.domain, err.message),
        (
            VIR_ERR_SYSTEM_ERROR,
            VIR_FROM_QEMU,
            format!(
                "Cannot check QEMU binary {}: No such file or directory",
                emulator.display()
            )
        )
    );
    let err = dom.create().fails();
    assert_eq!(err.code, VIR_ERR_SYSTEM_ERROR, "{}", err.message);
    assert_no_guest_left(&conn, &root, "no emulator");
    assert_eq!(fs::read(&image).unwrap(), bytes);
    // Refused before any QEMU was asked for: still shut off as saved.
    assert_eq!(
        dom.state(NoFlags::empty()).map(DomainState::raw).unwrap(),
        (VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_SAVED as i32)
    );

    std::os::unix::fs::symlink(&qemu, &emulator).unwrap();
    fs::remove_file(&own_kernel).unwrap();
    let err = conn.restore(&image).fails();
    assert_eq!(
        (err.code, err.domain),
        (VIR_ERR_INTERNAL_ERROR, VIR_FROM_QEMU),
        "{}",
        err.message
    );
    assert!(err.message.contains("guest.bin"), "{}", err.message);
    assert_no_guest_left(&conn, &root, "no kernel");
    assert_eq!(fs::read(&image).unwrap(), bytes);
    // QEMU failed: shut off as failed, as libvirt says after a failed restore.
    assert_eq!(
        dom.state(NoFlags::empty()).map(DomainState::raw).unwrap(),
        (VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_FAILED as i32)
    );

    // With both back, the same image restores.
    fs::copy(&kernel, &own_kernel).unwrap();
    conn.restore(&image).unwrap();
    assert_counting(&dom);
    dom.destroy().unwrap();
    dom.undefine().unwrap();
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn bad_images_are_refused_and_leave_no_qemu() {
    let Some((_qemu, kernel)) = tools() else {
        return;
    };
    let (_serial, _stragglers, root) = setup("bad");
    let conn = open(&root);
    let dom = conn
        .create_xml(&guest_xml("guest", UUID, &kernel), CreateFlags::empty())
        .unwrap();
    wait_filled(&mut attach(&root, "guest"), &root);
    let good = root.join("good.save");
    dom.save(&good).unwrap();
    let bytes = fs::read(&good).unwrap();
    let (_, image) = SaveImage::open(&good).unwrap();
    let stream = image.stream_offset() as usize;
    let middle = stream + (bytes.len() - stream) / 2;

    let with_image = |edit: &dyn Fn(&mut SaveImage)| {
        let mut edited = image.clone();
        edit(&mut edited);
        let mut out = edited.encode().unwrap();
        out.truncate(stream);
        out.extend_from_slice(&bytes[stream..]);
        out
    };
    let mut garbage = bytes.clone();
    garbage[middle..middle + (1 << 20)].fill(0xff);
    let mut no_stream = bytes.clone();
    no_stream[stream..stream + 4].copy_from_slice(b"QEMU");
    let mut bad_magic = bytes.clone();
    bad_magic[..8].copy_from_slice(b"NotAnImg");
    let cases: Vec<(&str, Vec<u8>, Option<Refusal>)> = vec![
        ("cut mid-stream", bytes[..middle].to_vec(), None),
        (
            "cut before the stream",
            bytes[..stream].to_vec(),
            Some((
                VIR_ERR_OPERATION_FAILED,
                "operation failed: save image is truncated before its migration stream",
            )),
        ),
        (
            "cut in the header",
            bytes[..50].to_vec(),
            Some((
                VIR_ERR_OPERATION_FAILED,
                "operation failed: failed to read qemu header",
            )),
        ),
        ("garbage mid-stream", garbage, None),
        (
            "no stream magic",
            no_stream,
            Some((
                VIR_ERR_OPERATION_FAILED,
                "operation failed: save image holds no QEMU migration stream",
            )),
        ),
        (
            "partial",
            with_image(&|i| i.header.complete = false),
            Some((
                VIR_ERR_OPERATION_FAILED,
                "operation failed: save image is incomplete",
            )),
        ),
        (
            "foreign magic",
            bad_magic,
            Some((
                VIR_ERR_OPERATION_FAILED,
                "operation failed: image magic is incorrect",
            )),
        ),
        (
            "another architecture",
            with_image(&|i| {
                i.xml = i.xml.replace(
                    "arch='x86_64' machine='pc-i440fx-7.2'",
                    "arch='aarch64' machine='virt'",
                )
            }),
            Some((
                VIR_ERR_CONFIG_UNSUPPORTED,
                "unsupported configuration: virshim's QEMU driver cannot run <type arch='aarch64'> in <os>",
            )),
        ),
    ];
    for (what, content, expected) in cases {
        let path = root.join("bad.save");
        fs::write(&path, &content).unwrap();
        let err = conn.restore(&path).fails();
        match expected {
            Some((code, message)) => {
                assert_eq!((err.code, err.message.as_str()), (code, message), "{what}")
            }
            // QEMU found the fault, and its log says so.
            None => assert!(
                err.message.contains("load of migration failed"),
                "{what}: {}",
                err.message
            ),
        }
        assert_no_guest_left(&conn, &root, what);
        assert_eq!(fs::read(&path).unwrap(), content, "{what}: image modified");
    }
    // The good image still restores.
    conn.restore(&good).unwrap();
    let dom = conn.lookup_by_name("guest").unwrap();
    assert_counting(&dom);
    dom.destroy().unwrap();
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn bypass_cache_and_replacement_xml_through_the_driver() {
    let Some((_qemu, kernel)) = tools() else {
        return;
    };
    let (_serial, _stragglers, root) = setup("bypass");
    let conn = open(&root);
    let dom = started(&conn, &root, "guest", &kernel);
    let image = root.join("guest.save");
    let xml = dom.xml_desc(XmlFlags::MIGRATABLE).unwrap();

    // An incompatible XML is refused, and the guest runs on, untouched.
    let bigger = xml.replace(
        "<memory unit='KiB'>32768</memory>",
        "<memory unit='KiB'>65536</memory>",
    );
    assert_ne!(bigger, xml);
    let err = dom.save_flags(&image, Some(&bigger), BYPASS).fails();
    assert_eq!(err.code, VIR_ERR_CONFIG_UNSUPPORTED, "{}", err.message);
    assert!(!image.exists());
    assert_eq!(
        dom.state(NoFlags::empty()).map(DomainState::raw).unwrap().0,
        VIR_DOMAIN_RUNNING
    );
    assert_counting(&dom);

    // A compatible one is kept; the image is 0600 whatever the umask. The guest is saved
    // paused, marked to run on restore.
    dom.suspend().unwrap();
    let before = read_phys(&mut attach(&root, "guest"), &root, 0, RAM);
    let described = xml.replace("</name>", "</name><description>saved</description>");
    // SAFETY (of the test): umask has no memory arguments.
    let old = unsafe { libc::umask(0) };
    let saved = dom.save_flags(&image, Some(&described), BYPASS | SaveRestoreFlags::RUNNING);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    saved.unwrap();
    assert_eq!(
        fs::metadata(&image).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let stored = conn
        .save_image_xml_desc(&image, SaveImageXmlFlags::empty())
        .unwrap();
    assert!(
        stored.contains("<description>saved</description>"),
        "{stored}"
    );

    // An incompatible XML on restore is refused, with nothing started.
    let bytes = fs::read(&image).unwrap();
    let err = conn.restore_flags(&image, Some(&bigger), BYPASS).fails();
    assert_eq!(err.code, VIR_ERR_CONFIG_UNSUPPORTED, "{}", err.message);
    assert_no_guest_left(&conn, &root, "incompatible dxml");

    // A compatible one becomes the restored domain's; RAM and counter as they were.
    let restored = stored.replace(
        "<description>saved</description>",
        "<description>restored</description>",
    );
    conn.restore_flags(&image, Some(&restored), BYPASS | SaveRestoreFlags::PAUSED)
        .unwrap();
    assert_eq!(
        fs::read(&image).unwrap(),
        bytes,
        "the restore modified the image"
    );
    assert_eq!(
        dom.state(NoFlags::empty()).map(DomainState::raw).unwrap(),
        (VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_MIGRATION as i32)
    );
    assert!(dom
        .xml_desc(XmlFlags::empty())
        .unwrap()
        .contains("<description>restored</description>"));
    let after = read_phys(&mut attach(&root, "guest"), &root, 0, RAM);
    assert!(before == after, "guest RAM differs after the restore");
    dom.resume().unwrap();
    assert_counting(&dom);
    dom.destroy().unwrap();
    dom.undefine().unwrap();
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn names_that_lead_out_of_the_root_are_refused() {
    let Some(_) = qemu_binary() else { return };
    let root = scratch_dir("names");
    let conn = open(&root);
    let refused = |name: &str| {
        conn.define_xml(&guest_xml(name, UUID, Path::new("/k")))
            .fails()
    };
    for name in ["../escape", "a/b", "/abs"] {
        let err = refused(name);
        assert_eq!(
            (err.code, err.message),
            (
                VIR_ERR_XML_ERROR,
                format!("XML error: name {name} cannot contain '/'")
            )
        );
    }
    // libvirt takes these, and then names files after them: virshim does not.
    for name in ["..", "."] {
        let err = refused(name);
        assert_eq!(
            (err.code, err.message),
            (
                VIR_ERR_CONFIG_UNSUPPORTED,
                format!("unsupported configuration: virshim's QEMU driver cannot run the domain name '{name}'")
            )
        );
    }
    assert!(listing(&root.join("etc/qemu")).is_empty());
    assert!(!root.parent().unwrap().join("escape.xml").exists());
    fs::remove_dir_all(&root).unwrap();
}
