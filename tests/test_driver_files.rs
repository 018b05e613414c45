//! What `test:///default`'s save and image definition do to whatever is at the path they
//! are given: a call never removes or truncates a file it did not create, and a failed
//! write leaves the path exactly as it was, device nodes, FIFOs and full filesystems
//! included. Device nodes are made privately (mknod, as root) so that a regression can
//! never remove the machine's own `/dev/null`.

mod common;

use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{listing, skip, Mount, TestDefault};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use virshim::abi::virDomainState::{VIR_DOMAIN_RUNNING, VIR_DOMAIN_SHUTOFF};
use virshim::abi::virErrorDomain::VIR_FROM_TEST;
use virshim::abi::virErrorNumber::VIR_ERR_SYSTEM_ERROR;
use virshim::abi::{SaveImageXmlFlags, SaveRestoreFlags};

/// A character device `major:minor` of our own in `env`'s directory; `None` (skip) without
/// root.
fn device(env: &TestDefault, name: &str, major: u64, minor: u64) -> Option<PathBuf> {
    let path = env.path(name);
    let mode = Mode::from_bits_truncate(0o666);
    if mknod(&path, SFlag::S_IFCHR, mode, makedev(major, minor)).is_err() {
        skip("cannot make device nodes (needs root)");
        return None;
    }
    Some(path)
}

/// The device's identity: kind and number.
fn device_id(path: &Path) -> (bool, u64) {
    let meta = fs::symlink_metadata(path).expect("the node is still there");
    (meta.file_type().is_char_device(), meta.rdev())
}

#[test]
fn a_save_into_a_null_device_succeeds_and_keeps_the_node() {
    let env = TestDefault::new("null");
    let Some(null) = device(&env, "null", 1, 3) else {
        return;
    };
    let before = device_id(&null);
    env.dom().save(&null).unwrap();
    assert_eq!(device_id(&null), before);
    assert_eq!(env.state(), VIR_DOMAIN_SHUTOFF);
}

#[test]
fn a_failed_save_into_a_full_device_keeps_the_node_and_the_guest() {
    let env = TestDefault::new("full");
    let Some(full) = device(&env, "full", 1, 7) else {
        return;
    };
    let before = device_id(&full);
    let err = env.dom().save(&full).unwrap_err();
    assert_eq!(
        (err.code, err.domain),
        (VIR_ERR_SYSTEM_ERROR, VIR_FROM_TEST)
    );
    assert_eq!(
        err.message,
        format!(
            "saving domain 'test' to '{}': write failed: No space left on device",
            full.display()
        )
    );
    assert_eq!(device_id(&full), before);
    assert_eq!(env.state(), VIR_DOMAIN_RUNNING);
    assert_eq!(listing(&env.dir), ["full"], "nothing else was created");
}

#[test]
fn a_fifo_without_a_reader_fails_at_once_and_one_with_a_reader_gets_the_image() {
    let env = TestDefault::new("fifo");
    let fifo = env.dir.join("fifo");
    nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o600)).unwrap();
    let started = Instant::now();
    let err = env.dom().save(&fifo).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no wait for a reader"
    );
    assert!(
        err.message
            .ends_with("open failed: No such device or address"),
        "{err}"
    );
    let err = env
        .conn
        .save_image_xml_desc(&fifo, SaveImageXmlFlags::empty())
        .unwrap_err();
    assert!(
        err.message.starts_with("incomplete save header in"),
        "{err}"
    );
    assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
    assert_eq!(env.state(), VIR_DOMAIN_RUNNING);

    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut image = Vec::new();
            // Opening blocks until the save opens its end.
            fs::File::open(fifo)
                .unwrap()
                .read_to_end(&mut image)
                .unwrap();
            image
        })
    };
    // The reader must hold the FIFO open before the save looks for it.
    let mut saved = Err(None);
    for _ in 0..500 {
        match env.dom().save(&fifo) {
            Ok(()) => {
                saved = Ok(());
                break;
            }
            Err(e) => saved = Err(Some(e)),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(saved.is_ok(), "{saved:?}");
    let image = reader.join().unwrap();
    assert!(image.starts_with(b"TestGuestMagic\0"));
    assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn a_directory_or_an_empty_path_fails_as_in_libvirt() {
    let env = TestDefault::new("dir");
    let err = env.dom().save(&env.dir).unwrap_err();
    assert_eq!(err.code, VIR_ERR_SYSTEM_ERROR);
    assert_eq!(
        err.message,
        format!(
            "saving domain 'test' to '{}': open failed: Is a directory",
            env.dir.display()
        )
    );
    let err = env.dom().save(Path::new("")).unwrap_err();
    assert_eq!(err.code, VIR_ERR_SYSTEM_ERROR);
    assert!(
        err.message.ends_with("open failed: Is a directory"),
        "{err}"
    );
    assert_eq!(env.state(), VIR_DOMAIN_RUNNING);
}

#[test]
fn a_save_replaces_a_file_through_its_link_keeping_its_mode() {
    let env = TestDefault::new("link");
    let real = env.dir.join("real.img");
    fs::write(&real, b"previous").unwrap();
    fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).unwrap();
    let link = env.dir.join("link.img");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    env.dom().save(&link).unwrap();
    assert!(fs::symlink_metadata(&link).unwrap().is_symlink());
    assert!(fs::read(&real).unwrap().starts_with(b"TestGuestMagic\0"));
    assert_eq!(fs::metadata(&real).unwrap().mode() & 0o777, 0o640);
    assert_eq!(listing(&env.dir), ["link.img", "real.img"]);
}

#[test]
fn on_a_full_filesystem_the_old_image_stays_whole() {
    let env = TestDefault::new("tmpfs");
    let mnt = env.dir.join("mnt");
    // Room for the old image and little more.
    let Some(_mount) = Mount::new("tmpfs", &mnt, "size=16k") else {
        return;
    };
    let img = mnt.join("test.img");
    env.dom().save(&img).unwrap();
    let old = fs::read(&img).unwrap();
    env.conn.restore(&img).unwrap();
    // Fill what is left, then save a definition too big for the space left.
    let mut filler = 0;
    while fs::write(mnt.join(format!("fill{filler}")), vec![0u8; 4096]).is_ok() {
        filler += 1;
    }
    let _ = fs::remove_file(mnt.join(format!("fill{filler}")));
    let err = env.dom().save(&img).unwrap_err();
    assert_eq!(err.code, VIR_ERR_SYSTEM_ERROR);
    assert!(err.message.ends_with("No space left on device"), "{err}");
    assert_eq!(fs::read(&img).unwrap(), old, "the old image is untouched");
    assert_eq!(env.state(), VIR_DOMAIN_RUNNING);

    let xml = env
        .conn
        .save_image_xml_desc(&img, SaveImageXmlFlags::empty())
        .unwrap();
    let longer = xml.replace(
        "</domain>",
        &format!("<description>{}</description></domain>", "x".repeat(6000)),
    );
    let err = env
        .conn
        .save_image_define_xml(&img, &longer, SaveRestoreFlags::empty())
        .unwrap_err();
    assert!(err.message.ends_with("No space left on device"), "{err}");
    assert_eq!(fs::read(&img).unwrap(), old, "the old image is untouched");
    let stray: Vec<_> = fs::read_dir(&mnt)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".part"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

#[test]
fn temporary_files_of_killed_callers_go_with_the_next_save() {
    let env = TestDefault::new("stale");
    let stale = env.dir.join(".virshim-save-0123456789abcdef.part");
    fs::write(&stale, b"left by a caller killed mid-save").unwrap();
    env.dom().save(&env.dir.join("test.img")).unwrap();
    assert_eq!(listing(&env.dir), ["test.img"]);
}
