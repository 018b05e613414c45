//! A synchronous client for QEMU's machine protocol (QMP) on a UNIX socket.
//!
//! QMP is one JSON object per line each way: a greeting from QEMU, then commands and their
//! replies, with asynchronous events interleaved. This client tags every command with its
//! own `id` and takes only the reply carrying that id, so a reply that arrives after its
//! command timed out is never mistaken for the answer to a later one; events that arrive
//! meanwhile are queued for [`Monitor::wait_event`] and [`Monitor::take_events`].
//!
//! Nothing here can hang: every read and write waits with `poll` against a deadline, so a
//! QEMU that stops answering becomes a timeout error, and one that dies becomes libvirt's
//! "QEMU unexpectedly closed the monitor". Writes pass `MSG_NOSIGNAL`, because a C program
//! using virshim need not ignore `SIGPIPE` and a dead QEMU must not kill it.
//!
//! A descriptor (a save image, a pipe) travels with a command as `SCM_RIGHTS` ancillary
//! data, which QEMU hands to `getfd` or `add-fd`: [`Monitor::execute_with_fd`].//!
//! Rooms: [`socket`] moves bytes and descriptors over the UNIX socket against deadlines;
//! [`message`] cuts them into messages and reads replies and events, without a socket.

mod message;
mod socket;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::Result;
pub use message::{as_event, greeting_version, reply, Event, Lines};
use socket::connect_socket;

/// How long a command may take unless [`Monitor::set_timeout`] says otherwise: far more
/// than any command needs on a loaded machine, short enough that a wedged QEMU is reported.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Events kept unread at most; the oldest go first, so a monitor nobody drains for a long
/// time does not grow without bound.
const MAX_QUEUED_EVENTS: usize = 1024;

/// A connected, negotiated QMP monitor.
#[derive(Debug)]
pub struct Monitor {
    fd: OwnedFd,
    /// Bytes received and not yet consumed as messages.
    input: Lines,
    events: VecDeque<Event>,
    next_id: u64,
    timeout: Duration,
    /// Set once QEMU closed the connection: every later call fails at once.
    closed: bool,
    /// The guest's name for error messages, as libvirt names the vm in them.
    vm: Option<String>,
    /// QEMU's version from the greeting (major, minor, micro).
    version: (u64, u64, u64),
}

impl Monitor {
    /// Connects to the monitor at `path`, retrying while the socket is missing or refuses
    /// (QEMU still starting), then reads the greeting and negotiates capabilities, all
    /// before `deadline`.
    pub fn connect(path: &Path, deadline: Instant) -> Result<Monitor> {
        Monitor::connect_while(path, deadline, || true)
    }

    /// As [`Monitor::connect`], but gives up retrying as soon as `keep_trying` says so:
    /// a starter passes "is QEMU still alive", so that a QEMU which died before opening its
    /// socket is reported at once rather than at the deadline.
    pub fn connect_while(
        path: &Path,
        deadline: Instant,
        keep_trying: impl FnMut() -> bool,
    ) -> Result<Monitor> {
        let fd = connect_socket(path, deadline, keep_trying)?;
        let mut mon = Monitor {
            fd,
            input: Lines::default(),
            events: VecDeque::new(),
            next_id: 1,
            timeout: DEFAULT_TIMEOUT,
            closed: false,
            vm: None,
            version: (0, 0, 0),
        };
        let greeting = mon.read_message(deadline, "no greeting from the QEMU monitor")?;
        mon.version = greeting_version(&greeting)?;
        mon.run("qmp_capabilities", None, None, deadline)?;
        Ok(mon)
    }

    /// Runs `cmd` with `args` (an object, or `None` for none) and returns its `return`
    /// member. A QMP error becomes libvirt's `VIR_ERR_INTERNAL_ERROR`
    /// `unable to execute QEMU command '<cmd>': <desc>`.
    pub fn execute(&mut self, cmd: &str, args: Option<Value>) -> Result<Value> {
        let deadline = Instant::now() + self.timeout;
        self.run(cmd, args, None, deadline)
    }

    /// As [`Monitor::execute`], passing `fd` along with the command (`SCM_RIGHTS`): for
    /// `getfd` and `add-fd`. QEMU receives its own copy; the caller keeps `fd`.
    pub fn execute_with_fd(
        &mut self,
        cmd: &str,
        args: Option<Value>,
        fd: BorrowedFd<'_>,
    ) -> Result<Value> {
        let deadline = Instant::now() + self.timeout;
        self.run(cmd, args, Some(fd), deadline)
    }

    /// Waits until QEMU emits the event `name` (or finds it already queued), before
    /// `deadline`. Other events stay queued, in order.
    pub fn wait_event(&mut self, name: &str, deadline: Instant) -> Result<Event> {
        if let Some(i) = self.events.iter().position(|e| e.name == name) {
            if let Some(event) = self.events.remove(i) {
                return Ok(event);
            }
        }
        let waiting = format!("QEMU did not emit event '{name}' in time");
        loop {
            let msg = self.read_message(deadline, &waiting)?;
            if let Some(event) = as_event(&msg) {
                if event.name == name {
                    return Ok(event);
                }
                self.queue(event);
            }
            // A reply here belongs to a command that already timed out: dropped.
        }
    }

    /// The events received so far, oldest first, including any waiting unread on the
    /// socket; never blocks. If QEMU has closed the monitor, the events it sent before are
    /// still returned, and the next command reports the closure.
    pub fn take_events(&mut self) -> Vec<Event> {
        while !self.closed {
            match self.read_message(Instant::now(), "") {
                Ok(msg) => {
                    if let Some(event) = as_event(&msg) {
                        self.queue(event);
                    }
                }
                Err(_) => break,
            }
        }
        self.events.drain(..).collect()
    }

    /// How long each command may take from now on.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Names the guest in error messages ("... (vm='NAME')"), as libvirt does.
    pub fn set_vm_name(&mut self, name: &str) {
        self.vm = Some(name.to_owned());
    }

    /// QEMU's version (major, minor, micro) from its greeting.
    pub fn qemu_version(&self) -> (u64, u64, u64) {
        self.version
    }

    /// Whether QEMU has closed the connection (it exited, or dropped this client).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Sends one command and reads until its reply, before `deadline`.
    fn run(
        &mut self,
        cmd: &str,
        args: Option<Value>,
        fd: Option<BorrowedFd<'_>>,
        deadline: Instant,
    ) -> Result<Value> {
        let id = format!("virshim-{}", self.next_id);
        self.next_id += 1;
        let mut request = Map::new();
        request.insert("execute".into(), Value::from(cmd));
        if let Some(args) = args {
            request.insert("arguments".into(), args);
        }
        request.insert("id".into(), Value::from(id.as_str()));
        let mut line = Value::Object(request).to_string().into_bytes();
        line.extend_from_slice(b"\r\n");
        self.send(&line, fd, deadline, cmd)?;

        let waiting = format!("no reply from QEMU to command '{cmd}' in time");
        loop {
            let msg = self.read_message(deadline, &waiting)?;
            if let Some(event) = as_event(&msg) {
                self.queue(event);
            } else if let Some(outcome) = reply(msg, &id, cmd) {
                return outcome;
            }
        }
    }

    fn queue(&mut self, event: Event) {
        if self.events.len() == MAX_QUEUED_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }
}
