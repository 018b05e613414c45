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
//!   a thread of ours ([`WriteBehind`]) starts writeback every
//!   [`WRITE_BEHIND`] bytes;
//! - bypass cache: QEMU writes into a stream socket, and two threads of ours
//!   ([`Pump`]) move the bytes through aligned buffers into the file with
//!   `O_DIRECT` (one drains the socket while the other writes the disk). The first buffer
//!   starts with the header and data section, so that every direct write is aligned from
//!   offset 0 although the stream starts at 92 + data length, as in libvirt's images.
//!
//! # Restore ([`restore_image`])
//! QEMU (started with `-S -incoming defer`) reads the stream from a socket that a
//! [`Pump`] of ours fills from the image in large sequential reads, with
//! `O_DIRECT` when bypassing the cache. QEMU reading a cold image itself, in small reads,
//! was slow and erratic (lab notes); from a warm page cache the socket costs little. A
//! compressed image ([`decompress`]) is decompressed by the same pump's source thread.
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
//! Memory stays bounded whatever the guest size: [`BUFFERS`](pump::BUFFERS) buffers of
//! [`CHUNK`] bytes.
//!
//! # Rooms
//! [`job`]: the migration as a QMP job (start, wait, cancel); [`image_file`]: the
//! temporary file that becomes the image; [`write_behind`]: writeback during a plain
//! save; [`pump`]: the socket pair and the threads that drain it ([`worker`]);
//! [`decompress`]: the compressed images of libvirt's `save_image_format`; [`lzop`]: lzop's
//! container, read as a stream.

mod compress;
mod decompress;
mod image_file;
mod job;
mod lzop;
mod pump;
mod worker;
mod write_behind;

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::direct_io::{AlignedBuf, DirectFile, ALIGN};
use super::image::{Format, SaveImage};
use super::qmp::Monitor;
use crate::abi::virErrorDomain::VIR_FROM_QEMU;
use crate::abi::virErrorNumber::{VIR_ERR_OPERATION_FAILED, VIR_ERR_OPERATION_UNSUPPORTED};
use crate::drivers::files::Replacement;
use crate::{Error, Result};
pub use compress::check_writable;
pub use image_file::new_image_file;
use image_file::{commit, write_error};
pub use job::{cancel_save, migrate_from_fd, migrate_to_fd};
use job::{rethrottle, start_migration, unthrottle, wait_migration, RESTORE, SAVE};
pub use lzop::LzopDecoder;
use pump::{
    fill_from_socket, is_stopped, set_nonblocking, stream_socket, write_to_socket, Pump, CHUNK,
};
use write_behind::WriteBehind;
pub use write_behind::WRITE_BEHIND;

/// How long QEMU may take to close its end of the socket after a completed save.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

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
    let format = Format::of(image.header.format).unwrap_or(Format::Raw);
    let sink = match format {
        Format::Raw if bypass_cache => Some(Sink::Direct),
        Format::Raw => None,
        _ => Some(Sink::Compressed(format)),
    };
    let bandwidth = unthrottle(monitor)?;
    let streamed = match sink {
        Some(sink) => save_through_socket(monitor, file.file(), &prefix, path, deadline, sink),
        None => save_directly(monitor, file.file(), &prefix, path, deadline),
    };
    rethrottle(monitor, bandwidth);
    streamed?;
    image.header.complete = true;
    commit(file, &image, path)
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
    let format = check_restorable(file, image)?;
    let err = |e: &io::Error| Error::system(VIR_FROM_QEMU, e, "cannot read save image");
    // A description of our own, so that neither our O_DIRECT nor anything else touches
    // the caller's; without /proc, a shared one read at explicit offsets, cached.
    let (input, bypass_cache) = match reopen(file) {
        Ok(own) => (own, bypass_cache),
        Err(_) => (file.try_clone().map_err(|e| err(&e))?, false),
    };
    let (writer, to_qemu) = stream_socket().map_err(|e| err(&e))?;
    set_nonblocking(&writer).map_err(|e| err(&e))?;
    let drain = move |buf: &AlignedBuf, stop: &_| write_to_socket(&writer, buf.payload(), stop);

    let stream = image.stream_offset();
    let mut pump = if format == Format::Raw {
        let mut input = DirectFile::new(input, bypass_cache).map_err(|e| err(&e))?;
        // Direct reads start on a block boundary: the first buffer skips what lies before
        // the stream.
        let mut offset = stream - stream % ALIGN as u64;
        let mut first = AlignedBuf::new(CHUNK);
        first.start = (stream - offset) as usize;
        let fill = move |buf: &mut AlignedBuf, _: &_| {
            let n = input.read_full_at(buf.spare(), offset)?;
            buf.advance(n);
            offset += n as u64;
            Ok(buf.is_full())
        };
        Pump::spawn(first, fill, drain)
    } else {
        let mut input = input;
        input.seek(SeekFrom::Start(stream)).map_err(|e| err(&e))?;
        let mut decoder = decompress::decoder(format, input)?;
        // The first buffer, decompressed before QEMU starts, shows whether this is a
        // migration stream at all.
        let mut first = AlignedBuf::new(CHUNK);
        decompress::fill(&mut *decoder, &mut first).map_err(|e| err(&e))?;
        if !first.payload().starts_with(MIGRATION_MAGIC) {
            return Err(no_stream());
        }
        Pump::spawn(
            first,
            move |buf, _| decompress::fill(&mut *decoder, buf),
            drain,
        )
    }
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
        wait_migration(monitor, SAVE, deadline, || match behind.failure() {
            Some(e) => Err(write_error(shown, e)),
            None => Ok(()),
        })
    });
    // A disk error seen by our thread is the cause of whatever QEMU reports.
    behind.stop().map_err(err)?;
    migrated.map(drop)
}

/// Where a save through a socket puts the stream.
enum Sink {
    /// Into the file with `O_DIRECT` (bypass cache).
    Direct,
    /// Compressed into the file, after the data section.
    Compressed(Format),
}

/// Bypass-cache or compressed save: QEMU writes into a socket, a [`Pump`] moves the bytes
/// into the file (the first buffer starts with `prefix`, the header and data section), or
/// through a compressor into the file after `prefix`.
fn save_through_socket(
    monitor: &mut Monitor,
    file: &File,
    prefix: &[u8],
    shown: &Path,
    deadline: Instant,
    sink: Sink,
) -> Result<()> {
    let err = |e: io::Error| write_error(shown, &e);
    let (reader, from_qemu) = stream_socket().map_err(err)?;
    set_nonblocking(&reader).map_err(err)?;
    let fill = move |buf: &mut AlignedBuf, stop: &_| fill_from_socket(&reader, buf, stop);
    // The compressor, shared with the sink thread, finished here once the stream ends.
    let encoder = Arc::new(Mutex::new(None));
    let mut pump = match sink {
        Sink::Direct => {
            let mut out = DirectFile::new(file.try_clone().map_err(err)?, true).map_err(err)?;
            let mut first = AlignedBuf::new(prefix.len().max(CHUNK));
            first.extend_from_slice(prefix);
            let mut offset = 0u64;
            Pump::spawn(first, fill, move |buf, _| {
                out.write_all_at(buf.filled(), offset)?;
                offset += buf.len() as u64;
                Ok(())
            })
        }
        Sink::Compressed(format) => {
            file.write_all_at(prefix, 0).map_err(err)?;
            let mut out = file.try_clone().map_err(err)?;
            out.seek(SeekFrom::Start(prefix.len() as u64))
                .map_err(err)?;
            *lock(&encoder) = Some(compress::encoder(format, out)?);
            let shared = Arc::clone(&encoder);
            Pump::spawn(AlignedBuf::new(CHUNK), fill, move |buf, _| {
                match lock(&shared).as_mut() {
                    Some(encoder) => encoder.write_all(buf.payload()),
                    None => Err(io::Error::other("the compressor is gone")),
                }
            })
        }
    }
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
    read.map_err(err)?;
    let encoder = lock(&encoder).take();
    match encoder {
        Some(encoder) => encoder.finish().map_err(err),
        None => Ok(()),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic in the sink thread leaves the compressor to be dropped, never half used.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The first bytes of QEMU's migration stream.
const MIGRATION_MAGIC: &[u8] = b"QEVM";

fn no_stream() -> Error {
    Error::new(
        VIR_ERR_OPERATION_FAILED,
        VIR_FROM_QEMU,
        "save image holds no QEMU migration stream",
    )
}

/// Refuses an image whose stream QEMU could not load, before QEMU sees it; the format of
/// the stream otherwise (a compressed stream's magic is checked once decompressed).
fn check_restorable(file: &File, image: &SaveImage) -> Result<Format> {
    let failed = |detail: &str| Error::new(VIR_ERR_OPERATION_FAILED, VIR_FROM_QEMU, detail);
    if !image.header.complete {
        return Err(failed("save image is incomplete"));
    }
    let format = Format::of(image.header.format).ok_or_else(|| {
        Error::new(
            VIR_ERR_OPERATION_UNSUPPORTED,
            VIR_FROM_QEMU,
            format!("unsupported save image format: {}", image.header.format),
        )
    })?;
    let mut magic = [0u8; 4];
    match file.read_exact_at(&mut magic, image.stream_offset()) {
        Ok(()) if format != Format::Raw || magic == MIGRATION_MAGIC => Ok(format),
        Ok(()) => Err(no_stream()),
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
