//! The QEMU runtime (`drivers::qemu::{process, qmp}`, and the bare stream calls of
//! `migration`) against a real QEMU 7.2 under TCG, running the test guest of
//! `tests/guest/guest.asm` with 32 MiB of RAM.
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
//! These need `qemu-system-x86_64` and `nasm` (see `common`).

mod common;

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::*;
use virshim::abi::virErrorDomain::VIR_FROM_QEMU;
use virshim::abi::virErrorNumber::*;
use virshim::drivers::qemu::testing::migration::{migrate_from_fd, migrate_to_fd};
use virshim::drivers::qemu::testing::process::{Paths, Qemu};

const RAM_MIB: u64 = 32;
const RAM: u64 = RAM_MIB << 20;

#[test]
fn guest_state_survives_migration_to_a_file_and_back() {
    let (Some(qemu), Some(kernel)) = (qemu_binary(), guest_kernel()) else {
        return;
    };
    let dir = scratch("survives");
    let paths = Paths::in_dir(&dir.join("run"));

    // Boot; wait for the fill; measure how fast the counter goes.
    let mut source = boot_filled(&qemu, &kernel, &dir, RAM_MIB);
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
    let info = migrate_to_fd(source.monitor(), out.as_fd(), secs(30)).unwrap();
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
    let mut target = start_incoming(&qemu, &kernel, &dir, RAM_MIB);
    let t = Instant::now();
    let stream = File::open(&image).unwrap();
    migrate_from_fd(target.monitor(), stream.as_fd(), secs(30)).unwrap();
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
    let mut target = start_incoming(&qemu, &kernel, &dir, RAM_MIB);
    let stream = File::open(&cut).unwrap();
    let err = migrate_from_fd(target.monitor(), stream.as_fd(), secs(30)).unwrap_err();
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
    let mut source = boot_filled(&qemu, &kernel, &dir, RAM_MIB);
    source.monitor().execute("stop", None).unwrap();

    // A pipe drained only of the stream's first bytes: the migration fills it and stalls
    // there, and QEMU is killed while it waits.
    let (reader, writer) = nix::unistd::pipe().unwrap();
    let mut reader = File::from(reader);
    let pid = source.pid();
    let err = std::thread::scope(|s| {
        let save = s.spawn(|| migrate_to_fd(source.monitor(), writer.as_fd(), secs(30)));
        let mut start = [0u8; 4];
        reader.read_exact(&mut start).unwrap();
        assert_eq!(&start, b"QEVM");
        sleep(Duration::from_millis(50));
        // SAFETY (of the test): kill has no memory arguments; the pid is our QEMU's.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
        save.join().unwrap().unwrap_err()
    });
    assert_eq!(err.code, VIR_ERR_OPERATION_FAILED);
    assert_eq!(err.domain, VIR_FROM_QEMU);
    assert_eq!(
        err.message,
        "operation failed: QEMU unexpectedly closed the monitor"
    );
    assert!(source.wait_exit(secs(5)));
    assert!(!source.is_running());

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
    let mut args = guest_args(None, false, RAM_MIB);
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
