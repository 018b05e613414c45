//! Callers killed in the middle of a QEMU save (`qemu:///embed?root=DIR`): the next
//! process that opens the root recovers the save as libvirt recovers an interrupted save
//! job. The migration is cancelled, the temporary image removed, a guest that ran runs
//! again (reason save canceled) and can be saved again, one that was paused stays paused,
//! and whatever was at the image's path is as it was (or, once the rename was done, the
//! complete image).
//!
//! The caller is this test binary run again as a child (`caller`, ignored in plain runs),
//! killed by SIGKILL at a point named in `VIRSHIM_KILL_AT` (debug builds only): before
//! the migration starts, at 30 % and 90 % of the stream, just before and just after the
//! final rename. Needs `qemu-system-x86_64` and `nasm`.

mod common;

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use virshim::abi::virDomainPausedReason::VIR_DOMAIN_PAUSED_USER;
use virshim::abi::virDomainRunningReason::VIR_DOMAIN_RUNNING_SAVE_CANCELED;
use virshim::abi::virDomainShutoffReason::VIR_DOMAIN_SHUTOFF_SAVED;
use virshim::abi::virDomainState::*;
use virshim::abi::{DomainState, NoFlags, SaveRestoreFlags};
use virshim::drivers::qemu::image::SaveImage;

const NAME: &str = "guest";
const PREVIOUS: &[u8] = b"the image saved before";
/// The guest's RAM (see `guest_xml`), which its stream about fills.
const RAM: u64 = 32 << 20;
const BYPASS: SaveRestoreFlags = SaveRestoreFlags::BYPASS_CACHE;
const NONE: SaveRestoreFlags = SaveRestoreFlags::empty();

/// The caller: saves the guest of `VIRSHIM_TEST_ROOT` to `VIRSHIM_TEST_IMAGE` with the
/// flags of `VIRSHIM_TEST_FLAGS`, and is killed on the way.
#[test]
#[ignore = "the caller that a_killed_caller_* runs and kills"]
fn caller() {
    let var = |name| std::env::var(name).unwrap();
    let conn = open(Path::new(&var("VIRSHIM_TEST_ROOT")));
    let dom = conn.lookup_by_name(NAME).unwrap();
    let flags = SaveRestoreFlags::from_bits_retain(var("VIRSHIM_TEST_FLAGS").parse().unwrap());
    let saved = dom.save_flags(Path::new(&var("VIRSHIM_TEST_IMAGE")), None, flags);
    panic!("the save ended without reaching its kill point: {saved:?}");
}

/// The `.part` files beside the image.
fn temporaries(dir: &Path) -> Vec<String> {
    listing(dir)
        .into_iter()
        .filter(|n| n.ends_with(".part"))
        .collect()
}

/// Runs a save of the guest, killed at `point`, then opens the root again and checks
/// what it finds. `renamed`: whether the kill comes after the image took its name.
fn killed(test: &str, point: &str, paused: bool, flags: SaveRestoreFlags, renamed: bool) {
    let (_serial, _stragglers, root) = setup(test);
    let Some((_, kernel)) = tools() else { return };
    let conn = open(&root);
    let dom = started(&conn, &root, NAME, &kernel);
    if paused {
        dom.suspend().unwrap();
    }
    let images = root.join("images");
    fs::create_dir_all(&images).unwrap();
    let image = images.join("guest.save");
    fs::write(&image, PREVIOUS).unwrap();

    let status = Command::new(std::env::current_exe().unwrap())
        .args(["caller", "--exact", "--ignored", "--nocapture"])
        .env("VIRSHIM_TEST_ROOT", &root)
        .env("VIRSHIM_TEST_IMAGE", &image)
        .env("VIRSHIM_TEST_FLAGS", flags.bits().to_string())
        .env("VIRSHIM_KILL_AT", point)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{point}: {status}");
    let record = root.join("run/qemu").join(NAME).join("job");
    assert!(record.exists(), "{point}: the save left its record");

    // The next process to open the root: here, this one, through a new connection.
    let conn = open(&root);
    let dom = conn.lookup_by_name(NAME).unwrap();
    let expected = if paused {
        (VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_USER as i32)
    } else {
        (VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_SAVE_CANCELED as i32)
    };
    assert_eq!(
        dom.state(NoFlags::empty()).map(DomainState::raw).unwrap(),
        expected,
        "{point}"
    );
    assert!(!record.exists(), "{point}: the record is gone");
    assert!(
        temporaries(&images).is_empty(),
        "{point}: {:?}",
        listing(&images)
    );
    if renamed {
        let (_, saved) = SaveImage::open(&image).unwrap();
        assert!(saved.header.complete, "{point}");
    } else {
        assert_eq!(fs::read(&image).unwrap(), PREVIOUS, "{point}");
    }
    let log = fs::read_to_string(root.join("run/qemu").join(NAME).join("qemu.log"))
        .unwrap_or_default()
        + &fs::read_to_string(root.join("log/qemu").join(format!("{NAME}.log")))
            .unwrap_or_default();
    assert!(
        log.contains("virshim: save job of process"),
        "{point}: {log}"
    );
    if paused {
        return;
    }
    assert_counting(&dom);
    // QEMU left its migration: the guest saves and restores again.
    dom.save_flags(&image, None, flags).unwrap();
    assert_eq!(
        dom.state(NoFlags::empty()).map(DomainState::raw).unwrap(),
        (VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_SAVED as i32)
    );
    assert!(temporaries(&images).is_empty(), "{point}");
    conn.restore(&image).unwrap();
    assert_counting(&conn.lookup_by_name(NAME).unwrap());
}

#[test]
fn a_killed_caller_before_the_migration_starts() {
    killed("before", "save-paused", false, NONE, false);
}

#[test]
fn a_killed_caller_at_30_percent_of_the_stream() {
    killed(
        "at30",
        &format!("save-stream:{}", RAM * 3 / 10),
        false,
        NONE,
        false,
    );
}

#[test]
fn a_killed_caller_at_90_percent_of_the_stream() {
    killed(
        "at90",
        &format!("save-stream:{}", RAM * 9 / 10),
        false,
        NONE,
        false,
    );
}

#[test]
fn a_killed_caller_just_before_the_final_rename() {
    killed("rename", "save-commit", false, BYPASS, false);
}

#[test]
fn a_killed_caller_just_after_the_final_rename() {
    killed("renamed", "save-committed", false, NONE, true);
}

#[test]
fn a_paused_guest_stays_paused_after_a_killed_caller() {
    killed(
        "paused",
        &format!("save-stream:{}", RAM / 2),
        true,
        NONE,
        false,
    );
}
