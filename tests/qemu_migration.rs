//! The save and restore data path (`drivers::qemu::migration`) against a real QEMU 7.2
//! under TCG, running the test guest of `tests/guest/guest.asm`:
//!
//! - a 64 MiB guest saved and restored, plain and bypassing the cache: every byte of its
//!   RAM identical, its counter going on from where it stopped, the images complete,
//!   mode 0600, never modified by a restore, and the calling process's memory bounded
//!   (timings and rates printed);
//! - QEMU killed during a save, a save past its deadline, a full disk: a clean error, no
//!   image and no partial file left, the file that was at the path untouched, the guest
//!   (where it still exists) resumable;
//! - `O_DIRECT` refused by the filesystem (ramfs): the bypass-cache save and restore
//!   work anyway;
//! - truncated and corrupted images: refused, and the QEMU that was to load them can be
//!   taken down.
//!
//! These need `qemu-system-x86_64` and `nasm` (see `common`), and root to mount the
//! small filesystems. They run one at a time, so that timings and memory mean something.

mod common;

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::*;
use virshim::abi::virErrorDomain::VIR_FROM_QEMU;
use virshim::abi::virErrorNumber::*;
use virshim::drivers::qemu::image::SaveImage;
use virshim::drivers::qemu::testing::migration::{new_image_file, restore_image, save_image};
use virshim::drivers::qemu::testing::process::Qemu;

/// The guest of the round trips, whose figures are printed.
const BIG_MIB: u64 = 64;
/// The guest of the fault tests.
const SMALL_MIB: u64 = 16;
const PREVIOUS: &[u8] = b"the image saved before";

fn image() -> SaveImage {
    let xml = "<domain type='qemu'><name>guest</name><memory unit='KiB'>65536</memory></domain>";
    SaveImage::new(
        xml.into(),
        Some("<cookie><slirpHelper/></cookie>".into()),
        true,
    )
}

/// Saves `guest` as [`image`] into a new image at `path`.
fn save_to(guest: &mut Qemu, path: &Path, bypass: bool, deadline: Instant) -> virshim::Result<()> {
    save_image(
        guest.monitor(),
        new_image_file(path)?,
        path,
        &image(),
        bypass,
        deadline,
    )
}

/// A fingerprint of a file's whole content, read in bounded memory.
fn digest(path: &Path) -> u64 {
    use std::hash::Hasher;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let mut file = File::open(path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buf).unwrap() {
            0 => return hasher.finish(),
            n => hasher.write(&buf[..n]),
        }
    }
}

/// A field of `/proc/self/status`, in bytes.
fn proc_status(field: &str) -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib << 10
}

/// Runs `f`; how long it took, and how far this process's resident memory rose above
/// where it stood (its high-water mark reset first).
fn measure<T>(f: impl FnOnce() -> T) -> (T, Duration, u64) {
    fs::write("/proc/self/clear_refs", "5").unwrap();
    let base = proc_status("VmRSS:");
    let t = Instant::now();
    let out = f();
    let took = t.elapsed();
    (out, took, proc_status("VmHWM:").saturating_sub(base))
}

fn mb_per_s(bytes: u64, took: Duration) -> f64 {
    bytes as f64 / 1e6 / took.as_secs_f64()
}

fn assert_same_ram(before: &[u8], after: &[u8]) {
    assert_eq!(before.len(), after.len());
    if let Some(at) = before.iter().zip(after).position(|(a, b)| a != b) {
        panic!("guest RAM differs after the restore at {at:#x}");
    }
}

/// Checks that the save at `path` failed cleanly: no partial file beside it, the
/// previous image untouched.
fn assert_nothing_left(path: &Path) {
    let dir = path.parent().unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(listing(dir), [name]);
    assert_eq!(fs::read(path).unwrap(), PREVIOUS);
}

#[test]
fn a_guest_survives_save_and_restore_plain_and_bypassing_the_cache() {
    let Some((qemu, kernel)) = tools() else {
        return;
    };
    let _one_at_a_time = serial();
    let dir = scratch("round_trip");
    let images = dir.join("images");
    fs::create_dir_all(&images).unwrap();
    let ram = BIG_MIB << 20;

    let mut guest = boot_filled(&qemu, &kernel, &dir, BIG_MIB);
    pause(&mut guest);
    let before = read_phys(&mut guest, &dir, 0, ram);
    let status = Status::in_ram(&before);
    assert_eq!(
        status.end as u64,
        ram - (128 << 10),
        "fill end {:#x}",
        status.end
    );
    check_stream(&before, status.end as usize);

    for bypass in [false, true] {
        let mode = if bypass { "bypass-cache" } else { "plain" };
        let path = images.join(format!("{mode}.img"));
        let (saved, save_time, save_mem) = measure(|| save_to(&mut guest, &path, bypass, secs(60)));
        saved.unwrap();

        // A complete image, alone in its directory, readable by its owner only.
        let names = listing(&images);
        assert!(names.contains(&format!("{mode}.img")), "{names:?}");
        assert!(!names.iter().any(|n| n.ends_with(".part")), "{names:?}");
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let (file, read) = SaveImage::open(&path).unwrap();
        let mut expected = image();
        expected.header.complete = true;
        assert_eq!(read, expected);
        let stream = meta.len() - read.stream_offset();
        assert!(stream > ram / 2, "{stream} bytes cannot hold the guest");

        let pid = guest.pid();
        guest.kill().unwrap();
        assert_gone(pid);

        let mut target = start_incoming(&qemu, &kernel, &dir, BIG_MIB);
        let unchanged = digest(&path);
        let (restored, restore_time, restore_mem) =
            measure(|| restore_image(target.monitor(), &file, &read, bypass, secs(60)));
        restored.unwrap();
        assert_eq!(digest(&path), unchanged, "the restore modified the image");
        assert!(
            !running(&mut target),
            "the restored guest must wait, paused"
        );
        assert_same_ram(&before, &read_phys(&mut target, &dir, 0, ram));

        eprintln!(
            "{BIG_MIB} MiB guest, {mode}: save {save_time:.2?} ({:.0} MB/s, +{} KiB RSS), \
             restore {restore_time:.2?} ({:.0} MB/s, +{} KiB RSS), stream {stream} bytes",
            mb_per_s(stream, save_time),
            save_mem >> 10,
            mb_per_s(stream, restore_time),
            restore_mem >> 10,
        );
        for (what, grew) in [("save", save_mem), ("restore", restore_mem)] {
            assert!(grew < 32 << 20, "{mode} {what} took {} MiB", grew >> 20);
        }
        guest = target; // the next save starts from the restored guest
    }

    let counter = resume_and_count(&mut guest, &dir, status.counter);
    eprintln!("counter {} -> {counter}", status.counter);
    guest.stop().unwrap();
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn qemu_killed_during_a_save_leaves_no_image() {
    let Some((qemu, kernel)) = tools() else {
        return;
    };
    let _one_at_a_time = serial();
    let dir = scratch("killed");
    let images = dir.join("images");
    fs::create_dir_all(&images).unwrap();
    let path = images.join("guest.img");
    fs::write(&path, PREVIOUS).unwrap();

    for bypass in [false, true] {
        let mut guest = boot_filled(&qemu, &kernel, &dir, SMALL_MIB);
        pause(&mut guest);
        hold_before_switchover(&mut guest);
        let pid = guest.pid();
        let err = std::thread::scope(|s| {
            let save = s.spawn(|| save_to(&mut guest, &path, bypass, secs(30)));
            wait_partial(&images, (SMALL_MIB << 20) / 2);
            // SAFETY (of the test): kill has no memory arguments; the pid is our QEMU's.
            assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
            save.join().unwrap().unwrap_err()
        });
        assert_eq!(
            (err.code, err.domain),
            (VIR_ERR_OPERATION_FAILED, VIR_FROM_QEMU)
        );
        assert_eq!(
            err.message, "operation failed: QEMU unexpectedly closed the monitor",
            "bypass {bypass}"
        );
        assert_nothing_left(&path);
        assert!(guest.wait_exit(secs(5)));
        guest.kill().unwrap();
        assert_gone(pid);
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_save_past_its_deadline_is_cancelled_and_the_guest_goes_on() {
    let Some((qemu, kernel)) = tools() else {
        return;
    };
    let _one_at_a_time = serial();
    let dir = scratch("deadline");
    let images = dir.join("images");
    fs::create_dir_all(&images).unwrap();
    let path = images.join("guest.img");
    fs::write(&path, PREVIOUS).unwrap();

    // A fresh guest each time: QEMU 7.2 refuses to migrate again a paused guest whose
    // migration was cancelled in its final phase ("paused due to previous migration").
    for bypass in [false, true] {
        let mut guest = boot_filled(&qemu, &kernel, &dir, SMALL_MIB);
        pause(&mut guest);
        let stopped = Status::read(&mut guest, &dir).counter;
        hold_before_switchover(&mut guest);
        let t = Instant::now();
        let deadline = Instant::now() + Duration::from_millis(500);
        let err = save_to(&mut guest, &path, bypass, deadline).unwrap_err();
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "took {:?}",
            t.elapsed()
        );
        assert_eq!(
            (err.code, err.domain),
            (VIR_ERR_OPERATION_TIMEOUT, VIR_FROM_QEMU)
        );
        assert_eq!(
            err.message,
            "Timed out during operation: job 'domain save' did not complete in time"
        );
        assert_nothing_left(&path);
        let info = guest.monitor().execute("query-migrate", None).unwrap();
        assert_eq!(info["status"], "cancelled");
        resume_and_count(&mut guest, &dir, stopped);
        guest.stop().unwrap();
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_full_disk_fails_the_save_with_enospc_and_the_guest_goes_on() {
    let Some((qemu, kernel)) = tools() else {
        return;
    };
    let _one_at_a_time = serial();
    let dir = scratch("full");
    let small = dir.join("small");
    let Some(mounted) = Mount::new("tmpfs", &small, "size=4m") else {
        return;
    };
    let path = small.join("guest.img");
    fs::write(&path, PREVIOUS).unwrap();

    let mut guest = boot_filled(&qemu, &kernel, &dir, SMALL_MIB);
    pause(&mut guest);
    let stopped = Status::read(&mut guest, &dir).counter;
    for bypass in [false, true] {
        let err = save_to(&mut guest, &path, bypass, secs(30)).unwrap_err();
        eprintln!("full disk, bypass {bypass}: {err}");
        assert_eq!(
            (err.code, err.domain),
            (VIR_ERR_SYSTEM_ERROR, VIR_FROM_QEMU)
        );
        assert_eq!(err.int1, libc::ENOSPC, "{err}");
        assert!(err.message.ends_with(": No space left on device"), "{err}");
        assert_nothing_left(&path);
        // Nothing holds the space any more: QEMU has let go of the partial file too.
        let deadline = secs(5);
        loop {
            let fs = nix::sys::statvfs::statvfs(&small).unwrap();
            let used = (fs.blocks() - fs.blocks_free()) * fs.fragment_size();
            if used < 1 << 20 {
                break;
            }
            assert!(Instant::now() < deadline, "{used} bytes still used");
            sleep(Duration::from_millis(10));
        }
    }
    resume_and_count(&mut guest, &dir, stopped);
    guest.stop().unwrap();
    drop(mounted);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bypass_cache_falls_back_where_o_direct_is_refused() {
    let Some((qemu, kernel)) = tools() else {
        return;
    };
    let _one_at_a_time = serial();
    let dir = scratch("ramfs");
    let mnt = dir.join("ramfs");
    let Some(mounted) = Mount::new("ramfs", &mnt, "mode=700") else {
        return;
    };
    // The premise: this filesystem refuses O_DIRECT.
    let refused = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DIRECT)
        .open(mnt.join("probe"));
    assert_eq!(refused.unwrap_err().raw_os_error(), Some(libc::EINVAL));
    let _ = fs::remove_file(mnt.join("probe"));

    let ram = SMALL_MIB << 20;
    let mut guest = boot_filled(&qemu, &kernel, &dir, SMALL_MIB);
    pause(&mut guest);
    let before = read_phys(&mut guest, &dir, 0, ram);
    let path = mnt.join("guest.img");
    save_to(&mut guest, &path, true, secs(30)).unwrap();
    guest.kill().unwrap();

    let (file, read) = SaveImage::open(&path).unwrap();
    assert!(read.header.complete);
    let mut target = start_incoming(&qemu, &kernel, &dir, SMALL_MIB);
    restore_image(target.monitor(), &file, &read, true, secs(30)).unwrap();
    assert_same_ram(&before, &read_phys(&mut target, &dir, 0, ram));
    target.kill().unwrap();
    drop(mounted);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_images_are_refused_and_their_qemu_can_go() {
    let Some((qemu, kernel)) = tools() else {
        return;
    };
    let _one_at_a_time = serial();
    let dir = scratch("bad");
    let good = dir.join("good.img");
    let mut guest = boot_filled(&qemu, &kernel, &dir, SMALL_MIB);
    pause(&mut guest);
    save_to(&mut guest, &good, false, secs(30)).unwrap();
    guest.kill().unwrap();

    let bytes = fs::read(&good).unwrap();
    let stream = SaveImage::open(&good).unwrap().1.stream_offset() as usize;
    let middle = stream + (bytes.len() - stream) / 2;
    let mut no_magic = bytes.clone();
    no_magic[stream..stream + 4].copy_from_slice(b"QEMU");
    let mut garbage = bytes.clone();
    garbage[middle..middle + (1 << 20)].fill(0xff);
    let cases: [(&str, Vec<u8>, Option<&str>); 4] = [
        ("cut mid-stream", bytes[..middle].to_vec(), None),
        (
            "cut before the stream",
            bytes[..stream].to_vec(),
            Some("operation failed: save image is truncated before its migration stream"),
        ),
        (
            "no stream magic",
            no_magic,
            Some("operation failed: save image holds no QEMU migration stream"),
        ),
        ("garbage mid-stream", garbage, None),
    ];
    for (what, content, message) in cases {
        let path = dir.join("bad.img");
        fs::write(&path, &content).unwrap();
        let (file, read) = SaveImage::open(&path).unwrap();
        let mut target = start_incoming(&qemu, &kernel, &dir, SMALL_MIB);
        let err = restore_image(target.monitor(), &file, &read, false, secs(30)).unwrap_err();
        eprintln!("{what}: {err}");
        assert_eq!(err.domain, VIR_FROM_QEMU, "{what}: {err}");
        match message {
            Some(message) => assert_eq!(err.message, message, "{what}"),
            // QEMU found the fault: it says so in its log, and quits.
            None => {
                assert_eq!(err.code, VIR_ERR_OPERATION_FAILED, "{what}: {err}");
                assert!(target.wait_exit(secs(10)), "{what}: QEMU stays");
                let log = target.log_tail();
                assert!(log.contains("load of migration failed"), "{what}: {log}");
            }
        }
        assert_eq!(fs::read(&path).unwrap(), content, "{what}: image modified");
        let pid = target.pid();
        target.kill().unwrap();
        assert_gone(pid);
    }
    fs::remove_dir_all(&dir).unwrap();
}
