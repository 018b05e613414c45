//! The pumps of a bypass-cache save and of every restore: two threads of ours move a
//! stream between a UNIX stream socket (QEMU's end of it is QEMU's migration descriptor)
//! and the image file, through a few aligned buffers, so that the disk side can use
//! `O_DIRECT`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{setsockopt, socketpair, sockopt, AddressFamily, SockFlag, SockType};

use super::super::direct_io::AlignedBuf;
use super::worker::Worker;

/// The size of each buffer our threads move a stream through: large enough that a direct
/// transfer costs little more than the disk's time, small enough that [`BUFFERS`] of them
/// keep the process far below 32 MiB.
pub(super) const CHUNK: usize = 4 << 20;
/// How many buffers a stream uses: one being filled, one being drained, one spare.
pub(super) const BUFFERS: usize = 3;
/// The send buffer asked for on each end of a stream socket: room for a few of QEMU's
/// writes between our reads (capped by `/proc/sys/net/core/wmem_max`).
const SOCKET_BUFFER: usize = 1 << 20;
/// How often a thread blocked on a socket checks whether it should stop.
const SOCKET_POLL_MS: u16 = 100;

/// A stream moved by two threads of ours through [`BUFFERS`] aligned buffers: the source
/// thread fills buffers, the sink thread drains them, so that each end (a disk, a socket)
/// is served while the other waits. Every buffer but the last leaves the source full.
///
/// The closures get a flag that is raised when the pump is stopped: a closure blocked on
/// a socket must watch it, a disk transfer ends by itself.
pub(super) struct Pump {
    stop: Arc<AtomicBool>,
    pub(super) source: Worker,
    pub(super) sink: Worker,
}

impl Pump {
    /// Starts the threads; `fill` appends to a buffer until it is full (then `Ok(true)`)
    /// or the source ends (`Ok(false)`), `drain` takes a buffer's bytes. `first` is the
    /// first buffer to fill, possibly with bytes in it already.
    pub(super) fn spawn(
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
    pub(super) fn finish(&mut self, deadline: Instant) -> (io::Result<()>, io::Result<()>) {
        while !(self.source.is_done() && self.sink.is_done()) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        self.stop()
    }

    /// Stops both threads; the outcomes of the source and the sink.
    pub(super) fn stop(&mut self) -> (io::Result<()>, io::Result<()>) {
        self.stop.store(true, Ordering::Release);
        (self.source.join(), self.sink.join())
    }
}

impl Drop for Pump {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// A connected pair of UNIX stream sockets for a stream (see the doc of [`super`] for why
/// not a pipe): ours first, QEMU's second.
pub(super) fn stream_socket() -> io::Result<(File, File)> {
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
pub(super) fn set_nonblocking(file: &File) -> io::Result<()> {
    let flags = OFlag::from_bits_retain(fcntl(file, FcntlArg::F_GETFL)?);
    fcntl(file, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// Reads the socket into `buf` until it is full (`Ok(true)`) or its peer has closed it
/// (`Ok(false)`).
pub(super) fn fill_from_socket(
    socket: &File,
    buf: &mut AlignedBuf,
    stop: &AtomicBool,
) -> io::Result<bool> {
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
pub(super) fn write_to_socket(
    socket: &File,
    mut bytes: &[u8],
    stop: &AtomicBool,
) -> io::Result<()> {
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

pub(super) fn is_stopped(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Other && e.to_string() == STOPPED
}

#[cfg(test)]
mod tests {
    use super::super::super::direct_io::ALIGN;
    use super::*;

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
