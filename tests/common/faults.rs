//! Helpers of the fault tests: small filesystems to fill, saves held mid-stream, and the
//! QEMUs a test may have left behind.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::json;
use virshim::drivers::qemu::testing::process::Qemu;

use super::{secs, skip};

/// A small filesystem mounted for one test, unmounted after it (even when it fails).
pub struct Mount(PathBuf);

impl Mount {
    /// Mounts `fstype` at `dir`; `None` (skip, or fail under CI=true) when not allowed.
    pub fn new(fstype: &str, dir: &Path, options: &str) -> Option<Mount> {
        fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", fstype, "-o", options, fstype])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            skip(&format!("cannot mount {fstype} (needs root)"));
            return None;
        }
        Some(Mount(dir.to_owned()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Makes the next migration stop before its switch-over, with most of the stream
/// written: a save is then certainly still running, and never finishes by itself.
pub fn hold_before_switchover(guest: &mut Qemu) {
    let cap = json!({"capabilities": [{"capability": "pause-before-switchover", "state": true}]});
    guest
        .monitor()
        .execute("migrate-set-capabilities", Some(cap))
        .unwrap();
}

/// Waits until a partial image of more than `bytes` is in `dir`.
pub fn wait_partial(dir: &Path, bytes: u64) {
    let deadline = secs(20);
    loop {
        let big = fs::read_dir(dir).unwrap().any(|e| {
            let e = e.unwrap();
            e.file_name().to_string_lossy().ends_with(".part")
                && e.metadata().is_ok_and(|m| m.len() > bytes)
        });
        if big {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no partial image grew in {dir:?}"
        );
        sleep(Duration::from_millis(5));
    }
}

/// The QEMUs whose command lines name a file under `base` (either driver's).
pub fn qemus_under(base: &Path) -> Vec<i32> {
    let needle = format!("{}/", base.display());
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            comm.starts_with("qemu")
                && String::from_utf8_lossy(&cmdline).contains(&needle)
                && !fs::read_to_string(format!("/proc/{pid}/stat"))
                    .unwrap_or_default()
                    .rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
        })
        .collect()
}

/// Kills any QEMU either driver left running under the test's folder, when dropped.
pub struct Stragglers(pub PathBuf);

impl Drop for Stragglers {
    fn drop(&mut self) {
        for pid in qemus_under(&self.0) {
            // SAFETY: kill has no memory arguments; the pid is a QEMU of this test.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// A filesystem on a disk that fails: ext4 (no journal, `errors=continue`, so that it
/// stays writable) on a loop device that shrinks to 8 MiB under its 64 MiB. Writing past
/// the new end fails in the block layer, as on a failing disk: `EIO` for direct I/O.
pub struct FailingDisk {
    dir: PathBuf,
    device: String,
}

impl FailingDisk {
    /// Mounts it at `dir`, its backing file beside; `None` (skip, or fail under CI=true)
    /// where loop devices or mounts are not allowed.
    pub fn new(dir: &Path) -> Option<FailingDisk> {
        fs::create_dir_all(dir).unwrap();
        let backing = dir.with_extension("img");
        let run = |cmd: &mut Command| cmd.status().is_ok_and(|s| s.success());
        fs::File::create(&backing)
            .unwrap()
            .set_len(64 << 20)
            .unwrap();
        if !run(Command::new("mkfs.ext4")
            .args(["-q", "-F", "-O", "^has_journal"])
            .arg(&backing))
        {
            skip("mkfs.ext4 failed (apt-get install e2fsprogs)");
            return None;
        }
        if !run(Command::new("mount")
            .args(["-o", "loop,errors=continue"])
            .arg(&backing)
            .arg(dir))
        {
            skip("cannot mount a loop device (needs root)");
            return None;
        }
        let out = Command::new("findmnt")
            .args(["-n", "-o", "SOURCE"])
            .arg(dir)
            .output()
            .unwrap();
        let device = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        let disk = FailingDisk {
            dir: dir.to_owned(),
            device,
        };
        fs::File::options()
            .write(true)
            .open(&backing)
            .unwrap()
            .set_len(8 << 20)
            .unwrap();
        assert!(run(Command::new("losetup").arg("-c").arg(&disk.device)));
        Some(disk)
    }
}

impl Drop for FailingDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        // Mostly gone already: `mount -o loop` detaches it on unmount.
        let _ = Command::new("losetup")
            .arg("-d")
            .arg(&self.device)
            .stderr(std::process::Stdio::null())
            .status();
    }
}
