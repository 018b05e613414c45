//! The QEMU runtime (`drivers::qemu::{process, qmp}`) against a real QEMU 7.2 under TCG,
//! running the test guest of `tests/guest/guest.asm` with 32 MiB of RAM.
//!
//! - A guest's memory and CPU state survive a migration into a file and back: every byte
//!   of RAM read after the restore is the byte read before the save, the RAM above 2 MiB
//!   is the guest's xorshift32 stream, and the guest's counter resumes exactly where it
//!   stopped and goes on at its usual pace.
//! - QEMU outlives the handle that started it (it is not our child, nor in our session)
//!   and is found again from its pidfile; stopping it does not wait for init to reap it.
//! - Failures are clean: QEMU killed mid-migration gives libvirt's "QEMU unexpectedly
//!   closed the monitor"; a stream cut short is refused; a QEMU that cannot start, or a
//!   binary that does not exist, is reported with its reason; none leaves a process or
//!   a pidfile behind.
//!
//! These need `qemu-system-x86_64` and `nasm` (Debian: `qemu-system-x86 nasm`). Without
//! them the tests skip with a note, except under `CI=true`, where they fail.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use virshim::abi::virErrorDomain::VIR_FROM_QEMU;
use virshim::abi::virErrorNumber::*;
use virshim::drivers::qemu::process::{Paths, Qemu};
use virshim::drivers::qemu::qmp::Monitor;
use virshim::Error;

const RAM: u64 = 32 << 20;
/// The guest's status block and the start of its fill (see guest.asm).
const STATUS: u64 = 0x18_0000;
const FILL_BASE: usize = 0x20_0000;
const SEED: u32 = 0x2545_F491;

/// `name` from PATH; `None` (with a note) if absent, a failure if absent under CI=true.
fn require(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{name} is required when CI=true (apt-get install qemu-system-x86 nasm)");
        }
        eprintln!("note: {name} not found, test skipped");
    }
    found
}

fn qemu_binary() -> Option<PathBuf> {
    require("qemu-system-x86_64")
}

/// The guest kernel, assembled once per test run.
fn guest_kernel() -> Option<PathBuf> {
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

fn scratch_root() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("qemu_runtime")
}

/// A fresh directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = scratch_root().join(test);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn secs(n: u64) -> Instant {
    Instant::now() + Duration::from_secs(n)
}

/// The machine for the guest; `incoming`: paused, waiting for a migration stream.
fn guest_args(kernel: Option<&Path>, incoming: bool) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "-machine",
        "pc",
        "-accel",
        "tcg",
        "-m",
        "32",
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
fn read_phys(qemu: &mut Qemu, dir: &Path, addr: u64, len: u64) -> Vec<u8> {
    let file = dir.join("pmem.bin");
    let args = json!({"val": addr, "size": len, "filename": file});
    qemu.monitor().execute("pmemsave", Some(args)).unwrap();
    let bytes = fs::read(&file).unwrap();
    assert_eq!(bytes.len() as u64, len);
    bytes
}

/// The guest's status block (see guest.asm).
#[derive(Debug)]
struct Status {
    marker: [u8; 8],
    end: u32,
    seed: u32,
    counter: u64,
}

impl Status {
    fn parse(block: &[u8]) -> Status {
        let u32_at = |o: usize| u32::from_le_bytes(block[o..o + 4].try_into().unwrap());
        Status {
            marker: block[..8].try_into().unwrap(),
            end: u32_at(8),
            seed: u32_at(12),
            counter: u64::from_le_bytes(block[16..24].try_into().unwrap()),
        }
    }

    fn read(qemu: &mut Qemu, dir: &Path) -> Status {
        Status::parse(&read_phys(qemu, dir, STATUS, 24))
    }
}

/// Waits for the guest to finish filling its RAM.
fn wait_filled(qemu: &mut Qemu, dir: &Path) -> Status {
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
fn check_stream(ram: &[u8], end: usize) {
    let mut x = SEED;
    for (i, word) in ram[FILL_BASE..end].chunks_exact(4).enumerate() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let got = u32::from_le_bytes(word.try_into().unwrap());
        assert_eq!(got, x, "stream differs at {:#x}", FILL_BASE + 4 * i);
    }
}

/// Polls `query-migrate` until the migration completes; its final statistics, or the
/// error (QMP failure, closed monitor, timeout) that ended it.
fn wait_migration(mon: &mut Monitor, deadline: Instant) -> virshim::Result<Value> {
    loop {
        let info = mon.execute("query-migrate", None)?;
        match info["status"].as_str() {
            Some("completed") => return Ok(info),
            Some("failed" | "cancelled") => {
                let why = info["error-desc"].as_str().unwrap_or("unknown reason");
                return Err(Error::new(
                    VIR_ERR_OPERATION_FAILED,
                    VIR_FROM_QEMU,
                    format!("migration failed: {why}"),
                ));
            }
            _ if Instant::now() > deadline => panic!("migration still running: {info}"),
            _ => sleep(Duration::from_millis(5)),
        }
    }
}

/// Streams the (paused) guest's state into `out` as a save does: the descriptor passed
/// with `getfd`, bandwidth unthrottled, `migrate fd:`.
fn migrate_to(qemu: &mut Qemu, out: &impl AsFd) -> virshim::Result<Value> {
    let mon = qemu.monitor();
    mon.execute_with_fd("getfd", Some(json!({"fdname": "save"})), out.as_fd())?;
    mon.execute(
        "migrate-set-parameters",
        Some(json!({"max-bandwidth": i64::MAX})),
    )?;
    mon.execute("migrate", Some(json!({"uri": "fd:save"})))?;
    wait_migration(mon, secs(30))
}

/// Feeds `stream` to a QEMU started with `-incoming defer`, as a restore does.
fn migrate_from(qemu: &mut Qemu, stream: &File) -> virshim::Result<Value> {
    let mon = qemu.monitor();
    mon.execute_with_fd("getfd", Some(json!({"fdname": "restore"})), stream.as_fd())?;
    mon.execute("migrate-incoming", Some(json!({"uri": "fd:restore"})))?;
    wait_migration(mon, secs(30))
}

/// No process `pid` runs any more (a zombie awaiting init's reaping is not running).
fn assert_gone(pid: i32) {
    if let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) {
        let state = stat.rsplit(')').next().unwrap_or("").trim_start();
        assert!(state.starts_with('Z'), "QEMU {pid} still there: {stat}");
    }
}

/// Kills QEMU `pid` if the test fails while no handle owns it (after [`Qemu::keep`]).
struct KillOnPanic(i32);

impl Drop for KillOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // SAFETY (of the test): kill has no memory arguments.
            unsafe { libc::kill(self.0, libc::SIGKILL) };
        }
    }
}

/// Whether the guest is running, per `query-status`.
fn running(qemu: &mut Qemu) -> bool {
    let status = qemu.monitor().execute("query-status", None).unwrap();
    status["running"].as_bool().unwrap()
}

#[test]
fn guest_state_survives_migration_to_a_file_and_back() {
    let (Some(qemu), Some(kernel)) = (qemu_binary(), guest_kernel()) else {
        return;
    };
    let dir = scratch("survives");
    let paths = Paths::in_dir(&dir.join("run"));

    // Boot; wait for the fill; measure how fast the counter goes.
    let mut source =
        Qemu::start(&qemu, &guest_args(Some(&kernel), false), &paths, secs(20)).unwrap();
    let first = wait_filled(&mut source, &dir);
    let t0 = Instant::now();
    let c0 = Status::read(&mut source, &dir).counter;
    sleep(Duration::from_millis(100));
    let c1 = Status::read(&mut source, &dir).counter;
    let rate = (c1 - c0) as f64 / t0.elapsed().as_secs_f64();
    assert!(rate > 0.0, "the counter does not move");

    // Pause, as a save does, and read all of RAM.
    source.monitor().execute("stop", None).unwrap();
    source.monitor().wait_event("STOP", secs(10)).unwrap();
    let before = read_phys(&mut source, &dir, 0, RAM);
    let status = Status::parse(&before[STATUS as usize..]);
    assert_eq!(&status.marker, b"FILLDONE");
    assert_eq!(status.seed, SEED);
    assert_eq!(status.end, first.end);
    let end = status.end as usize;
    assert!(
        end > 30 << 20 && end <= RAM as usize,
        "fill ends at {end:#x}"
    );
    check_stream(&before, end);
    assert!(status.counter >= c1);

    // Save: migrate into a file through a passed descriptor.
    let image = dir.join("guest.stream");
    let out = File::create(&image).unwrap();
    let t = Instant::now();
    let info = migrate_to(&mut source, &out).unwrap();
    let save_time = t.elapsed();
    drop(out);
    let size = fs::metadata(&image).unwrap().len();
    let mut magic = [0u8; 4];
    File::open(&image).unwrap().read_exact(&mut magic).unwrap();
    assert_eq!(&magic, b"QEVM");
    assert!(
        size > (end - FILL_BASE) as u64,
        "a {size}-byte stream cannot hold the fill"
    );
    assert!(info["ram"]["total"].as_u64() >= Some(RAM), "{info}");

    let pid = source.pid();
    let t = Instant::now();
    source.stop().unwrap();
    let stop_time = t.elapsed();
    assert_gone(pid);
    assert!(!paths.pidfile.exists() && !paths.socket.exists());
    assert!(
        stop_time < Duration::from_millis(1500),
        "stop took {stop_time:?}"
    );

    // Restore: a new QEMU, paused, fed the file.
    let mut target =
        Qemu::start(&qemu, &guest_args(Some(&kernel), true), &paths, secs(20)).unwrap();
    let t = Instant::now();
    migrate_from(&mut target, &File::open(&image).unwrap()).unwrap();
    let restore_time = t.elapsed();
    assert!(!running(&mut target));
    let after = read_phys(&mut target, &dir, 0, RAM);
    if let Some(at) = before.iter().zip(&after).position(|(a, b)| a != b) {
        panic!("guest RAM differs after the restore at {at:#x}");
    }
    assert_eq!(
        Status::parse(&after[STATUS as usize..]).counter,
        status.counter
    );

    // Continue: the counter goes on from where it stopped, at its usual pace.
    target.monitor().execute("cont", None).unwrap();
    target.monitor().wait_event("RESUME", secs(10)).unwrap();
    let t = Instant::now();
    sleep(Duration::from_millis(200));
    let later = Status::read(&mut target, &dir);
    let ran = t.elapsed().as_secs_f64();
    assert_eq!(&later.marker, b"FILLDONE");
    assert!(later.counter > status.counter, "the counter did not resume");
    let gained = (later.counter - status.counter) as f64;
    assert!(
        gained < rate * ran * 5.0,
        "counter gained {gained} in {ran:.2} s at {rate:.0}/s: not a resumed guest"
    );
    eprintln!(
        "32 MiB guest: save {save_time:?} ({size} bytes), restore {restore_time:?}, \
         stop {stop_time:?}; counter {} -> {} ({:.0}/s before, {:.0}/s after)",
        status.counter,
        later.counter,
        rate,
        gained / ran
    );
    target.stop().unwrap();

    // The same stream cut short is refused, and the QEMU that read it does not linger.
    let cut = dir.join("cut.stream");
    fs::write(&cut, &fs::read(&image).unwrap()[..size as usize / 2]).unwrap();
    let mut target =
        Qemu::start(&qemu, &guest_args(Some(&kernel), true), &paths, secs(20)).unwrap();
    let err = migrate_from(&mut target, &File::open(&cut).unwrap()).unwrap_err();
    assert_eq!(err.domain, VIR_FROM_QEMU);
    assert!(
        target.wait_exit(secs(10)),
        "QEMU stays after a failed restore"
    );
    assert!(
        target.log_tail().contains("load of migration failed"),
        "{}",
        target.log_tail()
    );
    let pid = target.pid();
    target.kill().unwrap();
    assert_gone(pid);
    assert!(!paths.pidfile.exists());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn qemu_killed_mid_migration_fails_cleanly() {
    let (Some(qemu), Some(kernel)) = (qemu_binary(), guest_kernel()) else {
        return;
    };
    let dir = scratch("killed");
    let paths = Paths::in_dir(&dir.join("run"));
    let mut source =
        Qemu::start(&qemu, &guest_args(Some(&kernel), false), &paths, secs(20)).unwrap();
    wait_filled(&mut source, &dir);
    source.monitor().execute("stop", None).unwrap();

    // A pipe nobody drains: the migration fills it and stalls there.
    let (reader, writer) = nix::unistd::pipe().unwrap();
    let mon = source.monitor();
    mon.execute_with_fd("getfd", Some(json!({"fdname": "save"})), writer.as_fd())
        .unwrap();
    drop(writer);
    mon.execute("migrate", Some(json!({"uri": "fd:save"})))
        .unwrap();
    let deadline = secs(10);
    loop {
        let info = mon.execute("query-migrate", None).unwrap();
        if info["status"] == "active" && info["ram"]["transferred"].as_u64() > Some(0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the migration never got going: {info}"
        );
        sleep(Duration::from_millis(5));
    }

    // SAFETY (of the test): kill has no memory arguments; the pid is our QEMU's.
    assert_eq!(unsafe { libc::kill(source.pid(), libc::SIGKILL) }, 0);
    let err = wait_migration(source.monitor(), secs(10)).unwrap_err();
    assert_eq!(err.code, VIR_ERR_OPERATION_FAILED);
    assert_eq!(err.domain, VIR_FROM_QEMU);
    assert_eq!(
        err.message,
        "operation failed: QEMU unexpectedly closed the monitor"
    );
    assert!(source.wait_exit(secs(5)));
    assert!(!source.is_running());
    let mut start = [0u8; 4];
    File::from(reader).read_exact(&mut start).unwrap();
    assert_eq!(&start, b"QEVM");

    let pid = source.pid();
    source.stop().unwrap();
    assert_gone(pid);
    assert!(!paths.pidfile.exists() && !paths.socket.exists());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn qemu_outlives_its_handle_and_is_found_again() {
    let Some(qemu) = qemu_binary() else {
        return;
    };
    let dir = scratch("outlives");
    let paths = Paths::in_dir(&dir.join("run"));
    // No kernel and -S: a machine that exists but runs nothing, costing no CPU.
    let mut args = guest_args(None, false);
    args.push("-S".into());
    let mut started = Qemu::start(&qemu, &args, &paths, secs(20)).unwrap();
    let pid = started.pid();
    let _cleanup = KillOnPanic(pid);

    // Not our child, not in our session: it survives us.
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let (ppid, sid): (u32, i32) = (fields[1].parse().unwrap(), fields[3].parse().unwrap());
    assert_ne!(ppid, std::process::id());
    // SAFETY (of the test): getsid has no memory arguments.
    assert_ne!(sid, unsafe { libc::getsid(0) });

    // Starting a second QEMU on the same paths is refused; the first keeps running.
    let err = Qemu::start(&qemu, &args, &paths, secs(20)).unwrap_err();
    assert_eq!(err.code, VIR_ERR_OPERATION_INVALID, "{err}");
    assert!(started.is_running());

    // Handed over to its run directory, it survives the handle and is found again.
    started.keep();
    drop(started);
    let mut found = Qemu::attach(&paths, secs(10))
        .unwrap()
        .expect("QEMU is gone");
    assert_eq!(found.pid(), pid);
    assert!(!running(&mut found));
    assert!(
        found.log_tail().contains("(QEMU wrote nothing"),
        "{}",
        found.log_tail()
    );

    // Stopping returns as soon as QEMU exits, without waiting for init to reap it.
    let t = Instant::now();
    found.stop().unwrap();
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "stop took {:?}",
        t.elapsed()
    );
    assert_gone(pid);
    assert!(Qemu::attach(&paths, secs(1)).unwrap().is_none());

    // A handle that was never kept takes its QEMU down with it.
    let owned = Qemu::start(&qemu, &args, &paths, secs(20)).unwrap();
    let pid = owned.pid();
    drop(owned);
    assert_gone(pid);
    assert!(!paths.pidfile.exists());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn start_failures_are_reported_and_leave_nothing() {
    // A missing binary: no QEMU needed.
    let dir = scratch("failures");
    let paths = Paths::in_dir(&dir.join("run"));
    let err = Qemu::start(
        Path::new("/nonexistent/qemu-system-x86_64"),
        &[],
        &paths,
        secs(5),
    )
    .unwrap_err();
    assert_eq!(err.code, VIR_ERR_SYSTEM_ERROR);
    assert_eq!(err.domain, VIR_FROM_QEMU);
    assert_eq!(
        err.message,
        "Cannot find QEMU binary /nonexistent/qemu-system-x86_64: No such file or directory"
    );
    assert!(!paths.pidfile.exists());

    // A QEMU that exits at once: its own words, and no pidfile left.
    let Some(qemu) = qemu_binary() else {
        return;
    };
    let args: Vec<OsString> = ["-machine", "no-such-machine", "-display", "none"]
        .map(OsString::from)
        .to_vec();
    let t = Instant::now();
    let err = Qemu::start(&qemu, &args, &paths, secs(20)).unwrap_err();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(err.code, VIR_ERR_INTERNAL_ERROR, "{err}");
    assert!(
        err.message
            .starts_with("internal error: process exited while connecting to monitor: "),
        "{err}"
    );
    assert!(err.message.contains("unsupported machine type"), "{err}");
    assert!(!paths.pidfile.exists() && !paths.socket.exists());
    let log = fs::read_to_string(&paths.log).unwrap();
    assert!(log.starts_with("virshim: starting "), "{log}");
    fs::remove_dir_all(&dir).unwrap();
}
