//! The data path of a QEMU save and restore: QEMU's migration stream into libvirt's save
//! image (see [`super::image`]) and back out of it, through descriptors passed over QMP.
//!
//! # Save ([`save_image`])
//! The image is written to a temporary file beside its final path, with the partial magic,
//! and becomes the image only once complete: stream on disk (`fdatasync`), final magic on
//! disk (`fdatasync`), rename over the path, directory synced. A failed save removes the
//! temporary file and leaves whatever was at the path untouched.
//!
//! QEMU alone fills the page cache with a guest's memory much faster than a disk drains
//! it, so a save is as fast as the disk is kept busy from the first byte (lab notes:
//! one `fsync` at the end takes 1.5 times as long as the two ways below):
//! - plain: QEMU writes the stream into the file itself, after the data section, while
//!   a thread of ours ([`WriteBehind`]) starts writeback every [`WRITE_BEHIND`] bytes;
//! - bypass cache: QEMU writes into a stream socket, and two threads of ours ([`Pump`])
//!   move the bytes through aligned buffers into the file with `O_DIRECT` (one drains the
//!   socket while the other writes the disk). The first buffer starts with the header and data
//!   section, so that every direct write is aligned from offset 0 although the stream
//!   starts at 92 + data length, as in libvirt's images.
//!
//! # Restore ([`restore_image`])
//! QEMU (started with `-S -incoming defer`) reads the stream from a socket that a
//! [`Pump`] of ours fills from the image in large sequential reads, with `O_DIRECT` when
//! bypassing the cache. QEMU reading a cold image itself, in small reads, was slow and
//! erratic (lab notes); from a warm page cache the socket costs little.
//!
//! # Why a socket pair, not a pipe
//! A pipe's reader and writer copy under one lock, so QEMU's copy in and ours out take
//! turns: a 1 GiB bypass-cache save spent 0.7 s moving the stream through a 1 MiB pipe
//! (slower than the disk), 0.2 to 0.45 s through a UNIX stream socket, whose two ends
//! copy at once. QEMU takes either for `fd:` migration.
//!
//! # Waiting
//! Progress is followed with `query-migrate`, the authority on the state, woken early by
//! QEMU's `MIGRATION` events; our own I/O threads are checked at every step, so an error
//! of ours (a full disk) cancels the migration instead of leaving QEMU blocked on a socket.
//! Memory stays bounded whatever the guest size: [`BUFFERS`] buffers of [`CHUNK`] bytes.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, posix_fadvise, FcntlArg, OFlag, PosixFadviseAdvice};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::socket::{setsockopt, socketpair, sockopt, AddressFamily, SockFlag, SockType};
use serde_json::{json, Value};

use super::direct_io::{set_direct, AlignedBuf, DirectFile, ALIGN};
use super::image::{Format, SaveImage};
use super::qmp::Monitor;
use crate::abi::virErrorDomain::VIR_FROM_QEMU;
use crate::abi::virErrorNumber::{
    VIR_ERR_OPERATION_FAILED, VIR_ERR_OPERATION_INVALID, VIR_ERR_OPERATION_TIMEOUT,
    VIR_ERR_OPERATION_UNSUPPORTED,
};
use crate::drivers::failpoint;
use crate::drivers::files::{Output, Replacement};
use crate::{Error, Result};

/// The size of each buffer our threads move a stream through: large enough that a direct
/// transfer costs little more than the disk's time, small enough that [`BUFFERS`] of them
/// keep the process far below 32 MiB.
pub const CHUNK: usize = 4 << 20;
/// How many buffers a stream uses: one being filled, one being drained, one spare.
pub const BUFFERS: usize = 3;
/// How often (in bytes written by QEMU) a plain save starts writeback.
pub const WRITE_BEHIND: u64 = 16 << 20;
/// How often the write-behind thread looks at the file's size.
const WRITE_BEHIND_POLL: Duration = Duration::from_millis(2);
/// The send buffer asked for on each end of a stream socket: room for a few of QEMU's
/// writes between our reads (capped by `/proc/sys/net/core/wmem_max`).
const SOCKET_BUFFER: usize = 1 << 20;
/// The longest wait without looking at the migration state and our threads.
const POLL: Duration = Duration::from_millis(50);
/// How often a thread blocked on a socket checks whether it should stop.
const SOCKET_POLL_MS: u16 = 100;
/// How long a cancelled migration may take to wind down.
const CANCEL_GRACE: Duration = Duration::from_secs(5);
/// How long QEMU may take to close its end of the socket after a completed save.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// libvirt's "unlimited" migration bandwidth, in bytes per second.
const MAX_BANDWIDTH: i64 = i64::MAX;
/// The names under which QEMU holds the descriptors we pass (`getfd`).
const SAVE_FD: &str = "virshim-save";
const RESTORE_FD: &str = "virshim-restore";

/// The file a new save image for `path` is written to (see [`crate::drivers::files`]): beside the image
/// it replaces (or, if `path` is a symbolic link, beside the link's target), under a
/// temporary name. A missing directory, a directory at `path`, anything but a regular
/// file there, or a directory where no new file may be created fail here, before QEMU is
/// involved.
pub fn new_image_file(path: &Path) -> Result<Replacement> {
    let target = match Output::resolve(path).map_err(|e| create_error(path, &e))? {
        Output::Replace(target) => target,
        Output::InPlace(_) => {
            return Err(Error::new(
                VIR_ERR_OPERATION_INVALID,
                VIR_FROM_QEMU,
                format!("'{}' is not a regular file", path.display()),
            ))
        }
    };
    Replacement::create(&target).map_err(|e| create_error(path, &e))
}

/// Streams the state of the guest behind `monitor` into `file` (from
/// [`new_image_file`] for `path`): the header and data section of `image` (XML, cookie,
/// was-running), then QEMU's migration stream. Returns once the image is complete and on
/// disk under `path` (mode 0600 if new, else the old file's); on failure nothing is left
/// but what was there before.
///
/// The caller pauses the guest first, as libvirt does (a running guest would be migrated
/// live, its last pages converging only slowly), and afterwards stops QEMU or, after a
/// failure, resumes the guest if it was running. QEMU's migration bandwidth is raised for
/// the save and put back after it. QEMU 7.2 leaves a paused guest whose migration
/// completed, or failed in its final phase, in state `postmigrate`: it can be resumed
/// (`cont`) but not saved again.
///
/// `deadline` bounds the wait for the stream; each QMP command is bounded by the
/// monitor's own timeout too.
pub fn save_image(
    monitor: &mut Monitor,
    file: Replacement,
    path: &Path,
    image: &SaveImage,
    bypass_cache: bool,
    deadline: Instant,
) -> Result<()> {
    let mut image = image.clone();
    image.header.complete = false;
    let prefix = image.encode()?;
    let bandwidth = unthrottle(monitor)?;
    let streamed = if bypass_cache {
        save_through_socket(monitor, file.file(), &prefix, path, deadline)
    } else {
        save_directly(monitor, file.file(), &prefix, path, deadline)
    };
    if let Some(old) = bandwidth {
        // Best effort: only a later live migration would notice.
        let _ = monitor.execute(
            "migrate-set-parameters",
            Some(json!({"max-bandwidth": old})),
        );
    }
    streamed?;
    image.header.complete = true;
    commit(file, &image, path)
}

/// Makes the complete image durable under its name. The stream reaches the disk before
/// the final magic does, and the final magic before the name: no crash can leave a
/// complete-looking image with a partial stream.
fn commit(file: Replacement, image: &SaveImage, shown: &Path) -> Result<()> {
    let err = |e: io::Error| write_error(shown, &e);
    set_direct(file.file(), false).map_err(err)?;
    file.file().sync_data().map_err(err)?;
    image.write_at_start(file.file())?;
    file.file().sync_data().map_err(err)?;
    failpoint::kill_at("save-commit");
    file.commit(true).map_err(err)?;
    failpoint::kill_at("save-committed");
    Ok(())
}

/// Ends whatever save QEMU may still be running for a caller that is gone, and closes
/// the image's descriptor if the caller passed it but never started the migration.
pub fn cancel_save(monitor: &mut Monitor) {
    cancel_migration(monitor, SAVE);
    let _ = monitor.execute("closefd", Some(json!({"fdname": SAVE_FD})));
}

/// Feeds the migration stream of the image open as `file` (read by [`SaveImage::read`]
/// into `image`) to the QEMU behind `monitor`, started with `-S -incoming defer`, and
/// returns once QEMU has loaded it all: the guest is then paused, for the caller to run
/// or not. The image is only read.
///
/// On failure QEMU has usually exited (QEMU 7.2 quits after a failed incoming migration);
/// the caller must kill it in any case, as it cannot run the guest.
pub fn restore_image(
    monitor: &mut Monitor,
    file: &File,
    image: &SaveImage,
    bypass_cache: bool,
    deadline: Instant,
) -> Result<()> {
    check_restorable(file, image)?;
    let err = |e: &io::Error| Error::system(VIR_FROM_QEMU, e, "cannot read save image");
    // A description of our own, so that neither our O_DIRECT nor anything else touches
    // the caller's; without /proc, a shared one read at explicit offsets, cached.
    let (input, bypass_cache) = match reopen(file) {
        Ok(own) => (own, bypass_cache),
        Err(_) => (file.try_clone().map_err(|e| err(&e))?, false),
    };
    let mut input = DirectFile::new(input, bypass_cache).map_err(|e| err(&e))?;
    let (writer, to_qemu) = stream_socket().map_err(|e| err(&e))?;
    set_nonblocking(&writer).map_err(|e| err(&e))?;

    // Direct reads start on a block boundary: the first buffer skips what lies before
    // the stream.
    let stream = image.stream_offset();
    let mut offset = stream - stream % ALIGN as u64;
    let mut first = AlignedBuf::new(CHUNK);
    first.start = (stream - offset) as usize;
    let mut pump = Pump::spawn(
        first,
        move |buf, _| {
            let n = input.read_full_at(buf.spare(), offset)?;
            buf.advance(n);
            offset += n as u64;
            Ok(buf.is_full())
        },
        move |buf, stop| write_to_socket(&writer, buf.payload(), stop),
    )
    .map_err(|e| err(&e))?;

    start_migration(monitor, RESTORE, to_qemu.as_fd())?;
    drop(to_qemu); // QEMU's copy is the reader now: if QEMU dies, our writes fail at once
    let loaded = wait_migration(monitor, RESTORE, deadline, || match pump.source.failure() {
        Some(e) => Err(err(e)),
        None => Ok(()),
    });
    // Whatever the image holds after the stream is not QEMU's business.
    let (read, _) = pump.stop();
    match (loaded, read) {
        (Ok(_), _) => Ok(()),
        // A read error of ours is the cause of whatever QEMU says.
        (Err(_), Err(e)) if !is_stopped(&e) => Err(err(&e)),
        (Err(e), _) => Err(e),
    }
}

/// Migrates the guest into `fd` (a file at its current offset, a pipe, a socket),
/// unthrottled, and waits until QEMU is done; QEMU's final `query-migrate` report. The
/// stream alone, without an image around it: for tools and tests.
pub fn migrate_to_fd(
    monitor: &mut Monitor,
    fd: BorrowedFd<'_>,
    deadline: Instant,
) -> Result<Value> {
    let bandwidth = unthrottle(monitor)?;
    let migrated = start_migration(monitor, MIGRATION_OUT, fd)
        .and_then(|()| wait_migration(monitor, MIGRATION_OUT, deadline, || Ok(())));
    if let Some(old) = bandwidth {
        let _ = monitor.execute(
            "migrate-set-parameters",
            Some(json!({"max-bandwidth": old})),
        );
    }
    migrated
}

/// Feeds the stream readable from `fd` to a QEMU started with `-incoming defer` and waits
/// until it is loaded; QEMU's final `query-migrate` report.
pub fn migrate_from_fd(
    monitor: &mut Monitor,
    fd: BorrowedFd<'_>,
    deadline: Instant,
) -> Result<Value> {
    start_migration(monitor, MIGRATION_IN, fd)?;
    wait_migration(monitor, MIGRATION_IN, deadline, || Ok(()))
}

/// A migration's direction, and its name in libvirt's error messages.
#[derive(Clone, Copy)]
struct Job {
    name: &'static str,
    outgoing: bool,
}

const SAVE: Job = Job {
    name: "domain save",
    outgoing: true,
};
const RESTORE: Job = Job {
    name: "domain restore",
    outgoing: false,
};
const MIGRATION_OUT: Job = Job {
    name: "migration out",
    outgoing: true,
};
const MIGRATION_IN: Job = Job {
    name: "migration in",
    outgoing: false,
};

impl Job {
    /// libvirt's error for a migration QEMU reports failed, with QEMU's reason. A reason
    /// that ends in the words of a disk error becomes a system error with its errno, as
    /// libvirt reports its own I/O: QEMU runs in the C locale, so its words are known.
    fn failed(self, desc: Option<&str>) -> Error {
        const DISK_ERRORS: [(i32, &str); 4] = [
            (libc::ENOSPC, "No space left on device"),
            (libc::EDQUOT, "Disk quota exceeded"),
            (libc::EFBIG, "File too large"),
            (libc::EIO, "Input/output error"),
        ];
        let Some(desc) = desc else {
            let detail = format!("job '{}' unexpectedly failed", self.name);
            return Error::new(VIR_ERR_OPERATION_FAILED, VIR_FROM_QEMU, detail);
        };
        match DISK_ERRORS.iter().find(|(_, words)| desc.ends_with(words)) {
            Some(&(errno, _)) => Error::system(
                VIR_FROM_QEMU,
                &io::Error::from_raw_os_error(errno),
                format!("job '{}' failed", self.name),
            ),
            None => Error::new(
                VIR_ERR_OPERATION_FAILED,
                VIR_FROM_QEMU,
                format!("job '{}' failed: {desc}", self.name),
            ),
        }
    }
}

/// Passes `fd` to QEMU and starts the migration through it.
fn start_migration(monitor: &mut Monitor, job: Job, fd: BorrowedFd<'_>) -> Result<()> {
    let events = json!({"capabilities": [{"capability": "events", "state": true}]});
    monitor.execute("migrate-set-capabilities", Some(events))?;
    let (name, command) = match job.outgoing {
        true => (SAVE_FD, "migrate"),
        false => (RESTORE_FD, "migrate-incoming"),
    };
    monitor.execute_with_fd("getfd", Some(json!({"fdname": name})), fd)?;
    let uri = format!("fd:{name}");
    if let Err(e) = monitor.execute(command, Some(json!({"uri": uri}))) {
        // Unused, QEMU would keep the descriptor, and with it the file or pipe, open.
        let _ = monitor.execute("closefd", Some(json!({"fdname": name})));
        return Err(e);
    }
    Ok(())
}

/// Waits until the migration completes (QEMU's final report), fails, or `deadline`
/// passes, calling `check` at every step: an error from it (our I/O failed) ends the wait
/// with that error, cancelling an outgoing migration first.
fn wait_migration(
    monitor: &mut Monitor,
    job: Job,
    deadline: Instant,
    mut check: impl FnMut() -> Result<()>,
) -> Result<Value> {
    loop {
        if let Err(e) = check() {
            cancel_migration(monitor, job);
            return Err(e);
        }
        let info = monitor.execute("query-migrate", None)?;
        match info["status"].as_str() {
            Some("completed") => return Ok(info),
            Some("failed" | "cancelled") => return Err(job.failed(info["error-desc"].as_str())),
            _ => {}
        }
        let now = Instant::now();
        if now >= deadline {
            cancel_migration(monitor, job);
            let detail = format!("job '{}' did not complete in time", job.name);
            return Err(Error::new(VIR_ERR_OPERATION_TIMEOUT, VIR_FROM_QEMU, detail));
        }
        // Any MIGRATION event (even a stale one) only means "look again".
        match monitor.wait_event("MIGRATION", (now + POLL).min(deadline)) {
            Err(e) if e.code != VIR_ERR_OPERATION_TIMEOUT => return Err(e),
            _ => {}
        }
    }
}

/// Cancels an outgoing migration and waits a little for QEMU to leave it, so that the
/// guest can be resumed. An incoming one cannot be cancelled: its QEMU must go.
fn cancel_migration(monitor: &mut Monitor, job: Job) {
    if !job.outgoing || monitor.execute("migrate_cancel", None).is_err() {
        return;
    }
    let grace = Instant::now() + CANCEL_GRACE;
    while Instant::now() < grace {
        let Ok(info) = monitor.execute("query-migrate", None) else {
            return;
        };
        if matches!(
            info["status"].as_str(),
            None | Some("completed" | "failed" | "cancelled")
        ) {
            return;
        }
        let _ = monitor.wait_event("MIGRATION", (Instant::now() + POLL).min(grace));
    }
}

/// Lifts QEMU's default 32 MiB/s cap on migration bandwidth, as libvirt does for a save;
/// the previous cap, to put back.
fn unthrottle(monitor: &mut Monitor) -> Result<Option<u64>> {
    let params = monitor.execute("query-migrate-parameters", None)?;
    let max = json!({"max-bandwidth": MAX_BANDWIDTH});
    monitor.execute("migrate-set-parameters", Some(max))?;
    Ok(params["max-bandwidth"].as_u64())
}

/// Plain save: QEMU writes the stream into the file itself, after the data section, while
/// [`WriteBehind`] keeps the disk busy.
fn save_directly(
    monitor: &mut Monitor,
    file: &File,
    prefix: &[u8],
    shown: &Path,
    deadline: Instant,
) -> Result<()> {
    let err = |e: io::Error| write_error(shown, &e);
    file.write_all_at(prefix, 0).map_err(err)?;
    // QEMU writes at the offset of the descriptor, whose description it shares with ours.
    (&*file)
        .seek(SeekFrom::Start(prefix.len() as u64))
        .map_err(err)?;
    let mut behind = WriteBehind::start(file.try_clone().map_err(err)?).map_err(err)?;
    let migrated = start_migration(monitor, SAVE, file.as_fd()).and_then(|()| {
        wait_migration(monitor, SAVE, deadline, || match behind.worker.failure() {
            Some(e) => Err(write_error(shown, e)),
            None => Ok(()),
        })
    });
    // A disk error seen by our thread is the cause of whatever QEMU reports.
    behind.stop().map_err(err)?;
    migrated.map(drop)
}

/// Bypass-cache save: QEMU writes into a socket, a [`Pump`] moves the bytes into the file.
fn save_through_socket(
    monitor: &mut Monitor,
    file: &File,
    prefix: &[u8],
    shown: &Path,
    deadline: Instant,
) -> Result<()> {
    let err = |e: io::Error| write_error(shown, &e);
    let (reader, from_qemu) = stream_socket().map_err(err)?;
    set_nonblocking(&reader).map_err(err)?;
    let mut out = DirectFile::new(file.try_clone().map_err(err)?, true).map_err(err)?;
    let mut first = AlignedBuf::new(prefix.len().max(CHUNK));
    first.extend_from_slice(prefix);
    let mut offset = 0u64;
    let mut pump = Pump::spawn(
        first,
        move |buf, stop| fill_from_socket(&reader, buf, stop),
        move |buf, _| {
            out.write_all_at(buf.filled(), offset)?;
            offset += buf.len() as u64;
            Ok(())
        },
    )
    .map_err(err)?;

    let started = start_migration(monitor, SAVE, from_qemu.as_fd());
    drop(from_qemu); // QEMU's copy is the writer now: its close is our end of stream
    let migrated = started.and_then(|()| {
        wait_migration(monitor, SAVE, deadline, || match pump.sink.failure() {
            Some(e) => Err(write_error(shown, e)),
            None => Ok(()),
        })
    });
    let (read, written) = match migrated {
        Ok(_) => pump.finish(deadline.max(Instant::now() + CLOSE_GRACE)),
        Err(_) => pump.stop(),
    };
    // A disk error of ours is the cause of whatever QEMU reports.
    written.map_err(err)?;
    migrated?;
    read.map_err(err)
}

/// Refuses an image whose stream QEMU could not load, before QEMU sees it.
fn check_restorable(file: &File, image: &SaveImage) -> Result<()> {
    let failed = |detail: &str| Error::new(VIR_ERR_OPERATION_FAILED, VIR_FROM_QEMU, detail);
    if !image.header.complete {
        return Err(failed("save image is incomplete"));
    }
    if image.header.format != Format::Raw as u32 {
        return Err(Error::new(
            VIR_ERR_OPERATION_UNSUPPORTED,
            VIR_FROM_QEMU,
            format!("unsupported save image format: {}", image.header.format),
        ));
    }
    let mut magic = [0u8; 4];
    match file.read_exact_at(&mut magic, image.stream_offset()) {
        Ok(()) if &magic == b"QEVM" => Ok(()),
        Ok(()) => Err(failed("save image holds no QEMU migration stream")),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(failed(
            "save image is truncated before its migration stream",
        )),
        Err(e) => Err(Error::system(VIR_FROM_QEMU, &e, "cannot read save image")),
    }
}

/// A new open file description of `file`, through `/proc`.
fn reopen(file: &File) -> io::Result<File> {
    File::open(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

fn create_error(path: &Path, e: &io::Error) -> Error {
    Error::system(
        VIR_FROM_QEMU,
        e,
        format!("Failed to create file '{}'", path.display()),
    )
}

fn write_error(path: &Path, e: &io::Error) -> Error {
    Error::system(
        VIR_FROM_QEMU,
        e,
        format!("cannot write save image '{}'", path.display()),
    )
}

/// Pushes what QEMU writes into a plain save to disk while it is still writing: each time
/// [`WRITE_BEHIND`] more bytes are there, starts their writeback, waits for the range
/// before, so the disk works all along and the final `fdatasync` finds little left, and
/// drops that range from the page cache. A save then holds a few windows of cache rather
/// than a guest's RAM: it pushes no other file's pages out, and QEMU writes into pages
/// just freed rather than fresh ones (on a VM whose host takes back free memory, fresh
/// pages cost more than the disk: a 1 GiB save took 0.5 to 1.3 s without the drop, 0.41
/// to 0.49 s with).
struct WriteBehind {
    stop: Arc<AtomicBool>,
    worker: Worker,
}

impl WriteBehind {
    fn start(file: File) -> io::Result<WriteBehind> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let kill_after = failpoint::kill_after("save-stream");
        let worker = Worker::spawn("virshim-sync", move || {
            let mut next = 0; // the first byte whose writeback has not been started
            loop {
                let stopping = flag.load(Ordering::Acquire);
                let size = file.metadata()?.len();
                if kill_after.is_some_and(|n| size >= n) {
                    failpoint::die();
                }
                while size >= next + WRITE_BEHIND {
                    sync_range(&file, next, libc::SYNC_FILE_RANGE_WRITE)?;
                    if next >= WRITE_BEHIND {
                        let wait = libc::SYNC_FILE_RANGE_WAIT_BEFORE
                            | libc::SYNC_FILE_RANGE_WRITE
                            | libc::SYNC_FILE_RANGE_WAIT_AFTER;
                        sync_range(&file, next - WRITE_BEHIND, wait)?;
                        drop_cached(&file, next - WRITE_BEHIND);
                    }
                    next += WRITE_BEHIND;
                }
                if stopping {
                    return Ok(()); // the rest is the final fdatasync's
                }
                thread::park_timeout(WRITE_BEHIND_POLL);
            }
        })?;
        Ok(WriteBehind { stop, worker })
    }

    /// Stops the thread; the error it stopped on, if any.
    fn stop(mut self) -> io::Result<()> {
        self.stop.store(true, Ordering::Release);
        self.worker.unpark();
        self.worker.join()
    }
}

impl Drop for WriteBehind {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.worker.unpark();
        let _ = self.worker.join();
    }
}

/// The [`WRITE_BEHIND`] bytes from `offset` as the kernel's offset and length; `None`
/// beyond any file.
fn window(offset: u64) -> Option<(i64, i64)> {
    Some((
        i64::try_from(offset).ok()?,
        i64::try_from(WRITE_BEHIND).ok()?,
    ))
}

/// `sync_file_range` on [`WRITE_BEHIND`] bytes from `offset`.
fn sync_range(file: &File, offset: u64, flags: libc::c_uint) -> io::Result<()> {
    let Some((offset, len)) = window(offset) else {
        return Ok(()); // beyond any file: nothing to push
    };
    // SAFETY: sync_file_range takes no memory arguments, and `file` is open for the call.
    let rc = unsafe { libc::sync_file_range(file.as_raw_fd(), offset, len, flags) };
    match rc {
        0 => Ok(()),
        _ => match io::Error::last_os_error() {
            e if e.kind() == io::ErrorKind::Interrupted => Ok(()), // a hint; fdatasync follows
            e => Err(e),
        },
    }
}

/// Drops [`WRITE_BEHIND`] bytes from `offset`, written back already, from the page cache.
/// Only advice: pages it cannot drop stay cached, which costs memory, not data.
fn drop_cached(file: &File, offset: u64) {
    if let Some((offset, len)) = window(offset) {
        let _ = posix_fadvise(file, offset, len, PosixFadviseAdvice::POSIX_FADV_DONTNEED);
    }
}

/// A stream moved by two threads of ours through [`BUFFERS`] aligned buffers: the source
/// thread fills buffers, the sink thread drains them, so that each end (a disk, a socket)
/// is served while the other waits. Every buffer but the last leaves the source full.
///
/// The closures get a flag that is raised when the pump is stopped: a closure blocked on
/// a socket must watch it, a disk transfer ends by itself.
struct Pump {
    stop: Arc<AtomicBool>,
    source: Worker,
    sink: Worker,
}

impl Pump {
    /// Starts the threads; `fill` appends to a buffer until it is full (then `Ok(true)`)
    /// or the source ends (`Ok(false)`), `drain` takes a buffer's bytes. `first` is the
    /// first buffer to fill, possibly with bytes in it already.
    fn spawn(
        first: AlignedBuf,
        mut fill: impl FnMut(&mut AlignedBuf, &AtomicBool) -> io::Result<bool> + Send + 'static,
        mut drain: impl FnMut(&AlignedBuf, &AtomicBool) -> io::Result<()> + Send + 'static,
    ) -> io::Result<Pump> {
        let stop = Arc::new(AtomicBool::new(false));
        let (full_tx, full_rx) = sync_channel::<AlignedBuf>(BUFFERS);
        let (free_tx, free_rx) = sync_channel::<AlignedBuf>(BUFFERS);
        for _ in 1..BUFFERS {
            let _ = free_tx.send(AlignedBuf::new(CHUNK));
        }
        let flag = stop.clone();
        let source = Worker::spawn("virshim-stream-in", move || {
            let mut buf = first;
            loop {
                let more = fill(&mut buf, &flag)?;
                // Sends fail only once the sink has ended (on an error of its own).
                if full_tx.send(buf).is_err() || !more {
                    return Ok(());
                }
                buf = match free_rx.recv() {
                    Ok(buf) => buf,
                    Err(_) => return Ok(()),
                };
                buf.clear();
            }
        })?;
        let flag = stop.clone();
        let sink = Worker::spawn("virshim-stream-out", move || {
            for buf in full_rx {
                drain(&buf, &flag)?;
                let _ = free_tx.send(buf);
            }
            Ok(())
        });
        let sink = match sink {
            Ok(sink) => sink,
            Err(e) => {
                // The source's channel is gone with the closure: it ends at its next send.
                stop.store(true, Ordering::Release);
                let mut source = source;
                let _ = source.join();
                return Err(e);
            }
        };
        Ok(Pump { stop, source, sink })
    }

    /// Waits until both threads are done, but not past `deadline`; then stops them. The
    /// outcomes of the source and the sink.
    fn finish(&mut self, deadline: Instant) -> (io::Result<()>, io::Result<()>) {
        while !(self.source.is_done() && self.sink.is_done()) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        self.stop()
    }

    /// Stops both threads; the outcomes of the source and the sink.
    fn stop(&mut self) -> (io::Result<()>, io::Result<()>) {
        self.stop.store(true, Ordering::Release);
        (self.source.join(), self.sink.join())
    }
}

impl Drop for Pump {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// A thread of ours doing I/O, and how it ended.
struct Worker {
    handle: Option<JoinHandle<io::Result<()>>>,
    outcome: Option<io::Result<()>>,
}

impl Worker {
    fn spawn(
        name: &str,
        work: impl FnOnce() -> io::Result<()> + Send + 'static,
    ) -> io::Result<Worker> {
        let handle = thread::Builder::new().name(name.into()).spawn(move || {
            // A write to a socket whose reader died must fail with EPIPE, not raise a
            // SIGPIPE that kills a C program which does not ignore it.
            let mut pipe = SigSet::empty();
            pipe.add(Signal::SIGPIPE);
            let _ = pipe.thread_block();
            work()
        })?;
        Ok(Worker {
            handle: Some(handle),
            outcome: None,
        })
    }

    /// Whether the thread has ended; never blocks.
    fn is_done(&mut self) -> bool {
        if self.handle.as_ref().is_some_and(JoinHandle::is_finished) {
            self.reap();
        }
        self.handle.is_none()
    }

    /// The error the thread ended with, once it has ended; never blocks.
    fn failure(&mut self) -> Option<&io::Error> {
        if !self.is_done() {
            return None;
        }
        self.outcome.as_ref()?.as_ref().err()
    }

    fn unpark(&self) {
        if let Some(handle) = &self.handle {
            handle.thread().unpark();
        }
    }

    /// Waits for the thread to end; how it did (once: `Ok` afterwards).
    fn join(&mut self) -> io::Result<()> {
        self.reap();
        self.outcome.take().unwrap_or(Ok(()))
    }

    fn reap(&mut self) {
        if let Some(handle) = self.handle.take() {
            let outcome = handle
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("stream thread panicked")));
            self.outcome = Some(outcome);
        }
    }
}

/// A connected pair of UNIX stream sockets for a stream (see the module's doc for why
/// not a pipe): ours first, QEMU's second.
fn stream_socket() -> io::Result<(File, File)> {
    let (ours, qemus) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    for end in [&ours, &qemus] {
        let _ = setsockopt(end, sockopt::SndBuf, &SOCKET_BUFFER); // capped, never refused
    }
    Ok((File::from(ours), File::from(qemus)))
}

/// Makes our end of a socket non-blocking, so that a thread waiting on it can be stopped
/// (QEMU's end is another description, unaffected).
fn set_nonblocking(file: &File) -> io::Result<()> {
    let flags = OFlag::from_bits_retain(fcntl(file, FcntlArg::F_GETFL)?);
    fcntl(file, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// Reads the socket into `buf` until it is full (`Ok(true)`) or its peer has closed it
/// (`Ok(false)`).
fn fill_from_socket(socket: &File, buf: &mut AlignedBuf, stop: &AtomicBool) -> io::Result<bool> {
    while !buf.is_full() {
        match (&*socket).read(buf.spare()) {
            Ok(0) => return Ok(false),
            Ok(n) => buf.advance(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                wait_socket(socket, PollFlags::POLLIN, stop)?
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Writes all of `bytes` into the socket.
fn write_to_socket(socket: &File, mut bytes: &[u8], stop: &AtomicBool) -> io::Result<()> {
    while !bytes.is_empty() {
        match (&*socket).write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                wait_socket(socket, PollFlags::POLLOUT, stop)?
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Waits until the socket is ready for `events` (or closed at the other end), or `stop`.
fn wait_socket(socket: &File, events: PollFlags, stop: &AtomicBool) -> io::Result<()> {
    loop {
        if stop.load(Ordering::Acquire) {
            return Err(io::Error::other(STOPPED));
        }
        let mut fds = [PollFd::new(socket.as_fd(), events)];
        match poll(&mut fds, PollTimeout::from(SOCKET_POLL_MS)) {
            Ok(0) | Err(Errno::EINTR) => {}
            Ok(_) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

/// The error of a socket transfer cut short by [`Pump::stop`]: a consequence, not a cause.
const STOPPED: &str = "stream stopped";

fn is_stopped(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Other && e.to_string() == STOPPED
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::virErrorNumber::VIR_ERR_SYSTEM_ERROR;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("virshim-migration-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn an_image_replaces_a_regular_file_only_when_committed() {
        let dir = scratch("target");
        let real = dir.join("real.img");
        fs::write(&real, b"old").unwrap();
        let link = dir.join("link.img");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = new_image_file(&dir).unwrap_err();
        assert_eq!(err.code, VIR_ERR_SYSTEM_ERROR);
        assert_eq!(
            err.message,
            format!("Failed to create file '{}': Is a directory", dir.display())
        );
        let err = new_image_file(Path::new("/dev/null")).unwrap_err();
        assert_eq!(err.code, VIR_ERR_OPERATION_INVALID);
        let err = new_image_file(&dir.join("missing/x.img")).unwrap_err();
        assert_eq!(err.code, VIR_ERR_SYSTEM_ERROR);
        assert!(err.message.starts_with("Failed to create file '"), "{err}");

        // Uncommitted: gone, and the file at the path untouched.
        let tmp = new_image_file(&link).unwrap();
        let part = tmp.path().to_owned();
        assert_eq!(part.parent().unwrap(), fs::canonicalize(&dir).unwrap());
        let mode = fs::metadata(&part).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        drop(tmp);
        assert!(!part.exists());
        assert_eq!(fs::read(&real).unwrap(), b"old");

        // Committed: the complete image, with the final magic, under the link's target.
        let mut image = SaveImage::new("<domain/>".into(), None, true);
        let tmp = new_image_file(&link).unwrap();
        tmp.file()
            .write_all_at(&image.encode().unwrap(), 0)
            .unwrap();
        tmp.file()
            .write_all_at(b"QEVM", image.stream_offset())
            .unwrap();
        image.header.complete = true;
        commit(tmp, &image, &link).unwrap();
        let (_, read) = SaveImage::open(&link).unwrap();
        assert_eq!(read, image);
        assert!(fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            2,
            "no partial file left"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn qemu_disk_errors_become_system_errors() {
        let err = SAVE.failed(Some("Unable to write to file: No space left on device"));
        assert_eq!(err.code, crate::abi::virErrorNumber::VIR_ERR_SYSTEM_ERROR);
        assert_eq!(err.int1, libc::ENOSPC);
        assert_eq!(
            err.message,
            "job 'domain save' failed: No space left on device"
        );
        let err = RESTORE.failed(Some("Unknown combination of migration flags: 0x5"));
        assert_eq!(err.code, VIR_ERR_OPERATION_FAILED);
        assert_eq!(
            err.message,
            "operation failed: job 'domain restore' failed: Unknown combination of migration flags: 0x5"
        );
        let err = SAVE.failed(None);
        assert_eq!(
            err.message,
            "operation failed: job 'domain save' unexpectedly failed"
        );
    }

    /// The pump delivers every byte in order, the first buffer's prefix included and the
    /// skipped head excluded, with buffers recycled far fewer times than bytes moved.
    #[test]
    fn the_pump_moves_a_stream_intact() {
        let total = 3 * CHUNK + 12345;
        let data: Vec<u8> = (0..total).map(|i| (i * 7 % 253) as u8).collect();
        let source = Arc::new(data.clone());
        let (out_tx, out_rx) = std::sync::mpsc::channel::<Vec<u8>>();
        let mut first = AlignedBuf::new(CHUNK);
        first.extend_from_slice(b"head");
        first.start = 2;
        let mut at = 0;
        let mut pump = Pump::spawn(
            first,
            move |buf, _| {
                let n = buf.extend_from_slice(&source[at..]);
                at += n;
                Ok(at < source.len())
            },
            move |buf, _| {
                let _ = out_tx.send(buf.payload().to_vec());
                Ok(())
            },
        )
        .unwrap();
        let (read, written) = pump.finish(Instant::now() + Duration::from_secs(10));
        read.unwrap();
        written.unwrap();
        let got: Vec<u8> = out_rx.iter().flatten().collect();
        assert_eq!(&got[..2], b"ad");
        assert_eq!(&got[2..], &data[..]);
    }

    /// A failing sink ends the source too, and the error is the sink's.
    #[test]
    fn a_failing_sink_stops_the_pump() {
        let mut pump = Pump::spawn(
            AlignedBuf::new(ALIGN),
            |buf, _| {
                buf.advance(ALIGN);
                Ok(true) // an endless source
            },
            |_, _| Err(io::Error::from_raw_os_error(libc::ENOSPC)),
        )
        .unwrap();
        let (read, written) = pump.finish(Instant::now() + Duration::from_secs(10));
        read.unwrap();
        assert_eq!(written.unwrap_err().raw_os_error(), Some(libc::ENOSPC));
    }
}
