//! Helpers shared by the Rust integration tests: opening connections and the
//! `test:///default` fixture (`connect`); for the tests that run real QEMU guests, finding
//! the tools, building the test guest of `tests/guest/guest.asm`, starting it, reading its
//! memory and status.
//!
//! Whatever a test needs from the machine (QEMU and `nasm`, Debian: `qemu-system-x86 nasm`;
//! libvirt's files; root; the built library) it asks for through [`skip`] and the
//! `require*` helpers: without it the test skips with a note, except under `CI=true`,
//! where it fails.

// Each test crate uses its own part of these helpers.
#![allow(dead_code)]

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::json;
use virshim::drivers::qemu::testing::process::{Paths, Qemu};

mod connect;
mod driver;
mod faults;
/// libvirt's own QEMU driver beside virshim's, for the interop tests.
pub mod libvirt;
// Each test crate uses its own part of these.
#[allow(unused_imports)]
pub use connect::*;
#[allow(unused_imports)]
pub use driver::*;
#[allow(unused_imports)]
pub use faults::*;

/// The guest's status block and the start of its fill (see guest.asm).
pub const STATUS: u64 = 0x18_0000;
pub const FILL_BASE: usize = 0x20_0000;
pub const SEED: u32 = 0x2545_F491;

/// The names in `dir`, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Whether a missing tool or privilege fails the test rather than skipping it.
pub fn strict() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Skips the test with a note about `why`, or fails it under `CI=true`.
pub fn skip(why: &str) {
    if strict() {
        panic!("{why}: required when CI=true");
    }
    eprintln!("note: {why}, test skipped");
}

/// `name` from PATH; `None` (with a note) if absent, a failure if absent under CI=true.
pub fn require(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        skip(&format!(
            "{name} not found (apt-get install qemu-system-x86 nasm)"
        ));
    }
    found
}

pub fn qemu_binary() -> Option<PathBuf> {
    require("qemu-system-x86_64")
}

/// The guest kernel, assembled once per test run.
pub fn guest_kernel() -> Option<PathBuf> {
    static KERNEL: OnceLock<Option<PathBuf>> = OnceLock::new();
    KERNEL
        .get_or_init(|| {
            let nasm = require("nasm")?;
            let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/guest/guest.asm");
            let out = scratch_root().join("guest.bin");
            fs::create_dir_all(scratch_root()).unwrap();
            let status = Command::new(nasm)
                .args(["-f", "bin", "-o"])
                .arg(&out)
                .arg(&source)
                .status()
                .unwrap();
            assert!(status.success(), "nasm failed on {}", source.display());
            Some(out)
        })
        .clone()
}

/// QEMU and the guest kernel, or `None` when the test must skip.
pub fn tools() -> Option<(PathBuf, PathBuf)> {
    Some((qemu_binary()?, guest_kernel()?))
}

/// This test crate's scratch directory.
pub fn scratch_root() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(env!("CARGO_CRATE_NAME"))
}

/// A fresh directory for one test; QEMUs an earlier run of it left there are killed.
pub fn scratch(test: &str) -> PathBuf {
    let dir = scratch_root().join(test);
    drop(Stragglers(dir.clone()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Holds the tests of one crate to one at a time, where timings or memory are measured.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn secs(n: u64) -> Instant {
    Instant::now() + Duration::from_secs(n)
}

/// The machine for the guest, with `ram_mib` of RAM; `incoming`: paused, waiting for a
/// migration stream.
pub fn guest_args(kernel: Option<&Path>, incoming: bool, ram_mib: u64) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "-machine",
        "pc",
        "-accel",
        "tcg",
        "-m",
        &ram_mib.to_string(),
        "-display",
        "none",
        "-nodefaults",
        "-no-user-config",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    if let Some(kernel) = kernel {
        args.extend(["-kernel".into(), kernel.into()]);
    }
    if incoming {
        args.extend(["-S", "-incoming", "defer"].map(OsString::from));
    }
    args
}

/// Guest-physical memory, through QMP `pmemsave` into a file of `dir`.
pub fn read_phys(qemu: &mut Qemu, dir: &Path, addr: u64, len: u64) -> Vec<u8> {
    let file = dir.join("pmem.bin");
    let args = json!({"val": addr, "size": len, "filename": file});
    qemu.monitor().execute("pmemsave", Some(args)).unwrap();
    let bytes = fs::read(&file).unwrap();
    fs::remove_file(&file).unwrap();
    assert_eq!(bytes.len() as u64, len);
    bytes
}

/// The guest's status block (see guest.asm).
#[derive(Debug)]
pub struct Status {
    pub marker: [u8; 8],
    pub end: u32,
    pub seed: u32,
    pub counter: u64,
}

impl Status {
    pub fn parse(block: &[u8]) -> Status {
        let u32_at = |o: usize| u32::from_le_bytes(block[o..o + 4].try_into().unwrap());
        Status {
            marker: block[..8].try_into().unwrap(),
            end: u32_at(8),
            seed: u32_at(12),
            counter: u64::from_le_bytes(block[16..24].try_into().unwrap()),
        }
    }

    /// The status block within a copy of all of RAM.
    pub fn in_ram(ram: &[u8]) -> Status {
        Status::parse(&ram[STATUS as usize..])
    }

    pub fn read(qemu: &mut Qemu, dir: &Path) -> Status {
        Status::parse(&read_phys(qemu, dir, STATUS, 24))
    }
}

/// Waits for the guest to finish filling its RAM.
pub fn wait_filled(qemu: &mut Qemu, dir: &Path) -> Status {
    let deadline = secs(30);
    loop {
        let status = Status::read(qemu, dir);
        match &status.marker {
            b"FILLDONE" => return status,
            b"FAILED!!" => panic!("the guest found no multiboot memory size"),
            _ => assert!(Instant::now() < deadline, "the guest never filled its RAM"),
        }
        sleep(Duration::from_millis(20));
    }
}

/// Checks that RAM from 2 MiB up to the guest's end is its xorshift32 stream.
pub fn check_stream(ram: &[u8], end: usize) {
    let mut x = SEED;
    for (i, word) in ram[FILL_BASE..end].chunks_exact(4).enumerate() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let got = u32::from_le_bytes(word.try_into().unwrap());
        assert_eq!(got, x, "stream differs at {:#x}", FILL_BASE + 4 * i);
    }
}

/// Starts the guest with `ram_mib` of RAM in `dir/run` and waits until it has filled its
/// RAM and counts.
pub fn boot_filled(qemu: &Path, kernel: &Path, dir: &Path, ram_mib: u64) -> Qemu {
    let args = guest_args(Some(kernel), false, ram_mib);
    let mut guest = start_in(qemu, &args, &dir.join("run"));
    wait_filled(&mut guest, dir);
    guest
}

/// A QEMU for `ram_mib` in `dir/run`, paused and waiting for an incoming stream.
pub fn start_incoming(qemu: &Path, kernel: &Path, dir: &Path, ram_mib: u64) -> Qemu {
    start_in(
        qemu,
        &guest_args(Some(kernel), true, ram_mib),
        &dir.join("run"),
    )
}

/// QEMU with `args`, its socket, pidfile and log in `run`.
pub fn start_in(qemu: &Path, args: &[OsString], run: &Path) -> Qemu {
    Qemu::start(qemu, args, &Paths::in_dir(run), secs(20)).unwrap()
}

/// Pauses the guest, as a save does.
pub fn pause(qemu: &mut Qemu) {
    qemu.monitor().execute("stop", None).unwrap();
    qemu.monitor().wait_event("STOP", secs(10)).unwrap();
}

/// Resumes the guest and checks that its counter goes on from `from`.
pub fn resume_and_count(qemu: &mut Qemu, dir: &Path, from: u64) -> u64 {
    qemu.monitor().execute("cont", None).unwrap();
    qemu.monitor().wait_event("RESUME", secs(10)).unwrap();
    sleep(Duration::from_millis(100));
    let later = Status::read(qemu, dir);
    assert_eq!(&later.marker, b"FILLDONE");
    assert!(later.counter > from, "the counter did not resume");
    later.counter
}

/// Whether the guest is running, per `query-status`.
pub fn running(qemu: &mut Qemu) -> bool {
    let status = qemu.monitor().execute("query-status", None).unwrap();
    status["running"].as_bool().unwrap()
}

/// No process `pid` runs any more (a zombie awaiting init's reaping is not running).
pub fn assert_gone(pid: i32) {
    if let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) {
        let state = stat.rsplit(')').next().unwrap_or("").trim_start();
        assert!(state.starts_with('Z'), "QEMU {pid} still there: {stat}");
    }
}

/// Kills QEMU `pid` if the test fails while no handle owns it (after [`Qemu::keep`]).
pub struct KillOnPanic(pub i32);

impl Drop for KillOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // SAFETY (of the test): kill has no memory arguments.
            unsafe { libc::kill(self.0, libc::SIGKILL) };
        }
    }
}

/// A file a package installs; `None` (with a note) if absent, a failure under CI=true.
pub fn require_file(path: &str, package: &str) -> Option<PathBuf> {
    let path = PathBuf::from(path);
    if path.exists() {
        Some(path)
    } else {
        skip(&format!(
            "{} not found (apt-get install {package})",
            path.display()
        ));
        None
    }
}

/// Whether the tests run as root (which `why` needs); if not, skips with a note, or fails
/// under CI=true.
pub fn require_root(why: &str) -> Option<()> {
    // SAFETY: geteuid has no arguments and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return Some(());
    }
    skip(&format!("not root ({why} needs it)"));
    None
}

/// The directory of virshim's built `libvirt.so.0` (`VIRSHIM_LIBDIR`, default
/// `target/virshim/lib`); `None` (with a note) if there is none, a failure under `CI=true`
/// or with `VIRSHIM_REQUIRE_LIB` set (as `make test` sets it).
pub fn built_library() -> Option<PathBuf> {
    let dir = std::env::var_os("VIRSHIM_LIBDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/virshim/lib"));
    if dir.join("libvirt.so.0").exists() {
        return Some(dir);
    }
    let why = format!("no libvirt.so.0 in {} (run `make lib`)", dir.display());
    assert!(
        std::env::var_os("VIRSHIM_REQUIRE_LIB").is_none(),
        "{why}: required with VIRSHIM_REQUIRE_LIB set"
    );
    skip(&why);
    None
}
