//! The monitor's socket: connecting, and sending and receiving against a deadline, so
//! that a QEMU that stops answering becomes a timeout and one that dies becomes libvirt's
//! "QEMU unexpectedly closed the monitor".

use std::io::{self, IoSlice};
use std::os::fd::BorrowedFd;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    connect, recv, sendmsg, socket, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType,
    UnixAddr,
};
use serde_json::Value;

use super::Monitor;
use crate::abi::virErrorDomain::VIR_FROM_QEMU;
use crate::abi::virErrorNumber::{
    VIR_ERR_INTERNAL_ERROR, VIR_ERR_OPERATION_FAILED, VIR_ERR_OPERATION_TIMEOUT,
};
use crate::{Error, Result};

/// Pause between connection attempts while QEMU has not opened its socket yet.
const CONNECT_RETRY: Duration = Duration::from_millis(10);
/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 64 * 1024;

/// A connected socket to the monitor at `path`, retried while the socket is missing or
/// refuses (QEMU still starting) until `deadline` or until `keep_trying` says no.
pub(super) fn connect_socket(
    path: &Path,
    deadline: Instant,
    mut keep_trying: impl FnMut() -> bool,
) -> Result<OwnedFd> {
    let addr = UnixAddr::new(path).map_err(|_| {
        Error::new(
            VIR_ERR_INTERNAL_ERROR,
            VIR_FROM_QEMU,
            format!("Monitor path {} too big for destination", path.display()),
        )
    })?;
    loop {
        // Non-blocking, so that even a full listen backlog cannot block the connect.
        let fd = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        )
        .map_err(|e| sys_error(e, "failed to create socket"))?;
        match connect(fd.as_raw_fd(), &addr) {
            Ok(()) => return Ok(fd),
            Err(e @ (Errno::ENOENT | Errno::ECONNREFUSED | Errno::EAGAIN)) => {
                if Instant::now() + CONNECT_RETRY >= deadline || !keep_trying() {
                    return Err(sys_error(e, "monitor socket did not show up"));
                }
                sleep(CONNECT_RETRY);
            }
            Err(Errno::EINTR) => {}
            Err(e) => return Err(sys_error(e, "failed to connect to monitor socket")),
        }
    }
}

impl Monitor {
    /// Writes all of `bytes`, with `fd` attached to the first part that goes out.
    pub(super) fn send(
        &mut self,
        bytes: &[u8],
        fd: Option<BorrowedFd<'_>>,
        deadline: Instant,
        cmd: &str,
    ) -> Result<()> {
        let fds: Vec<i32> = fd.iter().map(|fd| fd.as_raw_fd()).collect();
        let mut sent = 0;
        while sent < bytes.len() {
            self.check_open()?;
            let waiting = format!("QEMU did not accept command '{cmd}' in time");
            self.wait_ready(PollFlags::POLLOUT, deadline, &waiting)?;
            let iov = [IoSlice::new(&bytes[sent..])];
            let rights = [ControlMessage::ScmRights(&fds)];
            let cmsgs: &[ControlMessage] = if sent == 0 && !fds.is_empty() {
                &rights
            } else {
                &[]
            };
            let flags = MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT;
            match sendmsg::<()>(self.fd.as_raw_fd(), &iov, cmsgs, flags, None) {
                Ok(n) => sent += n,
                Err(Errno::EAGAIN | Errno::EINTR) => {}
                Err(Errno::EPIPE | Errno::ECONNRESET) => {
                    self.closed = true;
                    return Err(self.closed_error());
                }
                Err(e) => return Err(sys_error(e, "Unable to write to monitor")),
            }
        }
        Ok(())
    }

    /// The next complete message, reading from the socket as needed until `deadline`.
    pub(super) fn read_message(&mut self, deadline: Instant, waiting: &str) -> Result<Value> {
        loop {
            if let Some(msg) = self.input.next_message() {
                return msg;
            }
            self.fill(deadline, waiting)?;
        }
    }

    /// Reads what the socket has, waiting for it until `deadline`.
    pub(super) fn fill(&mut self, deadline: Instant, waiting: &str) -> Result<()> {
        self.check_open()?;
        self.wait_ready(PollFlags::POLLIN, deadline, waiting)?;
        let mut chunk = vec![0u8; READ_CHUNK];
        match recv(self.fd.as_raw_fd(), &mut chunk, MsgFlags::MSG_DONTWAIT) {
            Ok(0) | Err(Errno::ECONNRESET) => {
                self.closed = true;
                Err(self.closed_error())
            }
            Ok(n) => {
                self.input.push(&chunk[..n]);
                Ok(())
            }
            Err(Errno::EAGAIN | Errno::EINTR) => Ok(()),
            Err(e) => Err(sys_error(e, "Unable to read from monitor")),
        }
    }

    /// Waits until the socket is ready for `events`; polls once even when `deadline` has
    /// passed, so a zero wait still sees what is already there.
    fn wait_ready(&self, events: PollFlags, deadline: Instant, waiting: &str) -> Result<()> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            // Round up, so that a wait of less than a millisecond does not spin.
            let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
            let timeout = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(self.fd.as_fd(), events)];
            match poll(&mut fds, timeout) {
                Ok(0) if Instant::now() >= deadline => {
                    return Err(Error::new(
                        VIR_ERR_OPERATION_TIMEOUT,
                        VIR_FROM_QEMU,
                        waiting,
                    ))
                }
                Ok(0) | Err(Errno::EINTR) => {}
                Ok(_) => return Ok(()),
                Err(e) => return Err(sys_error(e, "Unable to wait for monitor")),
            }
        }
    }

    pub(super) fn check_open(&self) -> Result<()> {
        if self.closed {
            Err(self.closed_error())
        } else {
            Ok(())
        }
    }

    /// libvirt's words for a monitor whose QEMU went away.
    pub(super) fn closed_error(&self) -> Error {
        let detail = match &self.vm {
            Some(vm) => format!("QEMU unexpectedly closed the monitor (vm='{vm}')"),
            None => "QEMU unexpectedly closed the monitor".to_owned(),
        };
        Error::new(VIR_ERR_OPERATION_FAILED, VIR_FROM_QEMU, detail)
    }
}

/// A failed system call, as libvirt reports it: "`what`: strerror".
fn sys_error(errno: Errno, what: &str) -> Error {
    Error::system(VIR_FROM_QEMU, &io::Error::from(errno), what)
}
