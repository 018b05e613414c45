//! Watching and ending a QEMU that is nobody's child: a pid pinned by a pidfd, checked
//! against the monitor option on its command line (see [`super`] on recycled pids).

use std::ffi::OsStr;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;

use super::Paths;
use crate::abi::virErrorDomain::VIR_FROM_QEMU;
use crate::{Error, Result};

/// How long a SIGKILLed process may take to exit (unless stuck in the kernel: immediate).
const KILL_GRACE: Duration = Duration::from_secs(5);
/// Poll interval where nothing better than polling exists.
const POLL_STEP: Duration = Duration::from_millis(5);

/// A process identified by pid, pinned by a pidfd where the kernel has them.
#[derive(Debug)]
pub(super) struct Proc {
    pub(super) pid: i32,
    pidfd: Option<OwnedFd>,
    /// The monitor option its command line must hold (checked without a pidfd).
    identity: OsString,
}

impl Proc {
    /// The process `pid`, pinned now, whose command line must hold `identity`.
    pub(super) fn new(pid: i32, identity: OsString) -> Proc {
        Proc {
            pid,
            pidfd: pidfd_open(pid),
            identity,
        }
    }

    /// The live QEMU that `paths.pidfile` names, if the process with that pid is it.
    pub(super) fn find(paths: &Paths) -> Option<Proc> {
        let text = fs::read_to_string(&paths.pidfile).ok()?;
        let pid: i32 = text.trim().parse().ok().filter(|&p| p > 1)?;
        let identity = paths.chardev();
        // Pin the process first: if the pid is recycled between here and the cmdline
        // check, the pidfd shows the pinned one has exited, and we refuse it below.
        let pidfd = pidfd_open(pid);
        if !cmdline_has(pid, &identity) {
            return None;
        }
        let proc = Proc {
            pid,
            pidfd,
            identity,
        };
        proc.alive().then_some(proc)
    }

    pub(super) fn alive(&self) -> bool {
        match &self.pidfd {
            Some(fd) => !readable(fd, 0),
            None => proc_running(self.pid) && cmdline_has(self.pid, &self.identity),
        }
    }

    pub(super) fn wait_exit(&self, deadline: Instant) -> bool {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let exited = match &self.pidfd {
                Some(fd) => {
                    let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
                    readable(fd, ms)
                }
                None => !self.alive(),
            };
            if exited {
                self.reap();
                return true;
            }
            if left.is_zero() {
                return false;
            }
            if self.pidfd.is_none() {
                sleep(POLL_STEP.min(left));
            }
        }
    }

    /// Collects the exit status if QEMU happens to be our child after all (we are a
    /// subreaper): otherwise nobody would, and a zombie would stay until we exit.
    fn reap(&self) {
        if let Some(fd) = &self.pidfd {
            // SAFETY: waitid only writes the siginfo_t we own; a pidfd that is not our
            // child's just gives ECHILD.
            unsafe {
                let mut info: libc::siginfo_t = std::mem::zeroed();
                libc::waitid(
                    libc::P_PIDFD,
                    fd.as_raw_fd() as libc::id_t,
                    &mut info,
                    libc::WEXITED | libc::WNOHANG,
                );
            }
        }
    }

    fn signal(&self, sig: Signal) -> io::Result<()> {
        let rc = match &self.pidfd {
            // SAFETY: pidfd_send_signal reads its arguments only; a null siginfo is allowed.
            Some(fd) => unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd.as_raw_fd(),
                    sig as libc::c_int,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                )
            },
            None => {
                if !self.alive() {
                    return Ok(());
                }
                // SAFETY: kill has no memory arguments.
                unsafe { libc::kill(self.pid, sig as libc::c_int) as libc::c_long }
            }
        };
        match rc {
            0 => Ok(()),
            _ => match io::Error::last_os_error() {
                e if e.raw_os_error() == Some(libc::ESRCH) => Ok(()), // already gone
                e => Err(e),
            },
        }
    }

    /// Sends `sig` and waits up to `grace` for the exit; `Ok` whether or not it came, an
    /// error only if the signal could not be sent.
    pub(super) fn signal_and_wait(&self, sig: Signal, grace: Duration) -> Result<bool> {
        self.signal(sig).map_err(|e| {
            Error::system(
                VIR_FROM_QEMU,
                &e,
                format!("Failed to terminate process {} with {}", self.pid, sig),
            )
        })?;
        Ok(self.wait_exit(Instant::now() + grace))
    }

    /// SIGKILL unless already gone, and wait for the exit.
    pub(super) fn kill(&self) -> Result<()> {
        if !self.alive() {
            self.reap();
            return Ok(());
        }
        if self.signal_and_wait(Signal::SIGKILL, KILL_GRACE)? {
            return Ok(());
        }
        Err(Error::system(
            VIR_FROM_QEMU,
            &io::Error::from_raw_os_error(libc::EBUSY),
            format!("Failed to terminate process {} with SIGKILL", self.pid),
        ))
    }
}

/// The pid of the QEMU recorded at `paths`, if it still runs.
pub(crate) fn qemu_pid(paths: &Paths) -> Option<i32> {
    Proc::find(paths).map(|p| p.pid)
}

/// Kills the QEMU recorded at `paths`, if it still runs, without its monitor (which may
/// be busy or hung), and waits (a while) until it is gone.
pub(crate) fn kill_pid(paths: &Paths) {
    if let Some(proc) = Proc::find(paths) {
        let _ = proc.kill();
    }
}

/// A pidfd for `pid`, or `None` if the kernel has none or the process is gone.
fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes no memory arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = RawFd::try_from(fd).ok().filter(|&fd| fd >= 0)?;
    // SAFETY: the kernel just returned this descriptor, and nothing else owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether `fd` polls readable within `ms` milliseconds (a pidfd: the process exited).
fn readable(fd: &OwnedFd, ms: i32) -> bool {
    let timeout = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
    loop {
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Err(Errno::EINTR) => continue,
            Ok(n) => return n > 0,
            Err(_) => return true, // cannot watch it: treat as gone rather than wait forever
        }
    }
}

/// Whether `/proc` shows `pid` as existing and not a zombie.
fn proc_running(pid: i32) -> bool {
    let Ok(stat) = fs::read(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) S ...": the state follows the last ')' (comm may hold anything).
    let Some(close) = stat.iter().rposition(|&b| b == b')') else {
        return false;
    };
    !matches!(stat.get(close + 2), Some(b'Z' | b'X' | b'x') | None)
}

/// Whether the command line of `pid` has the argument `arg`.
fn cmdline_has(pid: i32, arg: &OsStr) -> bool {
    match fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) => cmdline.split(|&b| b == 0).any(|a| a == arg.as_bytes()),
        Err(_) => false,
    }
}
