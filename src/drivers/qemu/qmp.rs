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
//! data, which QEMU hands to `getfd` or `add-fd`: [`Monitor::execute_with_fd`].

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    connect, recv, sendmsg, socket, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType,
    UnixAddr,
};
use serde_json::{Map, Value};

use crate::abi::virErrorDomain::VIR_FROM_QEMU;
use crate::abi::virErrorNumber::{
    VIR_ERR_INTERNAL_ERROR, VIR_ERR_OPERATION_FAILED, VIR_ERR_OPERATION_TIMEOUT,
};
use crate::{Error, Result};

/// How long a command may take unless [`Monitor::set_timeout`] says otherwise: far more
/// than any command needs on a loaded machine, short enough that a wedged QEMU is reported.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between connection attempts while QEMU has not opened its socket yet.
const CONNECT_RETRY: Duration = Duration::from_millis(10);
/// Events kept unread at most; the oldest go first, so a monitor nobody drains for a long
/// time does not grow without bound.
const MAX_QUEUED_EVENTS: usize = 1024;
/// The longest line accepted from QEMU: far above any reply, a bound on what a broken
/// peer can make us buffer.
const MAX_LINE: usize = 64 << 20;
/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 64 * 1024;

/// An asynchronous QMP event (`STOP`, `RESUME`, `MIGRATION`, `SHUTDOWN`, …).
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub name: String,
    /// The event's `data` member; `Value::Null` when it has none.
    pub data: Value,
    /// When QEMU emitted it, in microseconds since the epoch (0 if QEMU gave none).
    pub timestamp_us: i64,
}

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
        mut keep_trying: impl FnMut() -> bool,
    ) -> Result<Monitor> {
        let addr = UnixAddr::new(path).map_err(|_| {
            Error::new(
                VIR_ERR_INTERNAL_ERROR,
                VIR_FROM_QEMU,
                format!("Monitor path {} too big for destination", path.display()),
            )
        })?;
        let fd = loop {
            // Non-blocking, so that even a full listen backlog cannot block the connect.
            let fd = socket(
                AddressFamily::Unix,
                SockType::Stream,
                SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
                None,
            )
            .map_err(|e| sys_error(e, "failed to create socket"))?;
            match connect(fd.as_raw_fd(), &addr) {
                Ok(()) => break fd,
                Err(e @ (Errno::ENOENT | Errno::ECONNREFUSED | Errno::EAGAIN)) => {
                    if Instant::now() + CONNECT_RETRY >= deadline || !keep_trying() {
                        return Err(sys_error(e, "monitor socket did not show up"));
                    }
                    sleep(CONNECT_RETRY);
                }
                Err(Errno::EINTR) => {}
                Err(e) => return Err(sys_error(e, "failed to connect to monitor socket")),
            }
        };
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

    /// Writes all of `bytes`, with `fd` attached to the first part that goes out.
    fn send(
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
    fn read_message(&mut self, deadline: Instant, waiting: &str) -> Result<Value> {
        loop {
            if let Some(msg) = self.input.next_message() {
                return msg;
            }
            self.fill(deadline, waiting)?;
        }
    }

    /// Reads what the socket has, waiting for it until `deadline`.
    fn fill(&mut self, deadline: Instant, waiting: &str) -> Result<()> {
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

    fn check_open(&self) -> Result<()> {
        if self.closed {
            Err(self.closed_error())
        } else {
            Ok(())
        }
    }

    /// libvirt's words for a monitor whose QEMU went away.
    fn closed_error(&self) -> Error {
        let detail = match &self.vm {
            Some(vm) => format!("QEMU unexpectedly closed the monitor (vm='{vm}')"),
            None => "QEMU unexpectedly closed the monitor".to_owned(),
        };
        Error::new(VIR_ERR_OPERATION_FAILED, VIR_FROM_QEMU, detail)
    }
}

/// The bytes received from QEMU, cut into messages (one JSON value a line): the part of
/// reading the monitor that needs no socket, so that it can be fuzzed on bytes.
#[derive(Debug, Default)]
pub struct Lines {
    buf: Vec<u8>,
    /// Where the unread bytes start in `buf`: lines read are dropped at the next
    /// [`Lines::push`], all at once, rather than moving the rest after each one.
    start: usize,
    /// How far past `start` has been searched for a newline already.
    scanned: usize,
}

impl Lines {
    /// Adds bytes received from QEMU.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.drain(..self.start);
        self.start = 0;
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, or None until more bytes come. A line that is not JSON
    /// is an error; so is a line longer than any reply, once past that length, for good.
    pub fn next_message(&mut self) -> Option<Result<Value>> {
        loop {
            let unread = &self.buf[self.start..];
            let Some(pos) = unread[self.scanned..].iter().position(|&b| b == b'\n') else {
                self.scanned = unread.len();
                return (unread.len() > MAX_LINE).then(|| {
                    Err(Error::new(
                        VIR_ERR_INTERNAL_ERROR,
                        VIR_FROM_QEMU,
                        "QEMU monitor reply too large",
                    ))
                });
            };
            let line = self.start..self.start + self.scanned + pos;
            self.start = line.end + 1;
            self.scanned = 0;
            let text = self.buf[line].trim_ascii();
            if text.is_empty() {
                continue;
            }
            return Some(serde_json::from_slice(text).map_err(|e| {
                Error::new(
                    VIR_ERR_INTERNAL_ERROR,
                    VIR_FROM_QEMU,
                    format!(
                        "cannot parse QEMU monitor reply '{}': {e}",
                        String::from_utf8_lossy(text)
                    ),
                )
            }));
        }
    }
}

/// QEMU's version (major, minor, micro) from its greeting; libvirt's error when the first
/// message is no greeting.
pub fn greeting_version(greeting: &Value) -> Result<(u64, u64, u64)> {
    let Some(qmp) = greeting.get("QMP") else {
        return Err(Error::new(
            VIR_ERR_INTERNAL_ERROR,
            VIR_FROM_QEMU,
            format!("unexpected QEMU monitor greeting '{greeting}'"),
        ));
    };
    let part = |name: &str| qmp["version"]["qemu"][name].as_u64().unwrap_or(0);
    Ok((part("major"), part("minor"), part("micro")))
}

/// What `msg` says of the command `cmd` tagged `id`: its `return` member, or libvirt's
/// `VIR_ERR_INTERNAL_ERROR` for a QMP error; None when it is not that command's reply (the
/// late reply of a command that timed out).
pub fn reply(mut msg: Value, id: &str, cmd: &str) -> Option<Result<Value>> {
    if msg.get("id").and_then(Value::as_str) != Some(id) {
        return None;
    }
    if let Some(ret) = msg.get_mut("return") {
        return Some(Ok(ret.take()));
    }
    let desc = msg
        .get("error")
        .and_then(|e| e.get("desc"))
        .and_then(Value::as_str)
        .unwrap_or("unknown QEMU command error");
    Some(Err(Error::new(
        VIR_ERR_INTERNAL_ERROR,
        VIR_FROM_QEMU,
        format!("unable to execute QEMU command '{cmd}': {desc}"),
    )))
}

/// `msg` as an event, if it is one.
pub fn as_event(msg: &Value) -> Option<Event> {
    let name = msg.get("event")?.as_str()?.to_owned();
    let ts = &msg["timestamp"];
    let secs = ts["seconds"].as_i64().unwrap_or(0);
    let micros = ts["microseconds"].as_i64().unwrap_or(0);
    Some(Event {
        name,
        data: msg.get("data").cloned().unwrap_or(Value::Null),
        timestamp_us: secs.saturating_mul(1_000_000).saturating_add(micros),
    })
}

/// A failed system call, as libvirt reports it: "`what`: strerror".
fn sys_error(errno: Errno, what: &str) -> Error {
    Error::system(VIR_FROM_QEMU, &io::Error::from(errno), what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::virErrorNumber::VIR_ERR_SYSTEM_ERROR;
    use nix::sys::socket::{recvmsg, ControlMessageOwned};
    use serde_json::json;
    use std::io::{BufRead, BufReader, IoSliceMut, Read, Write};
    use std::os::unix::net::{UnixListener, UnixStream};
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::thread::{self, JoinHandle};

    const GREETING: &str = r#"{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}"#;

    /// A socket path of its own for each fake QEMU.
    fn socket_path() -> PathBuf {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let name = format!("virshim-qmp-{}-{n}.sock", std::process::id());
        std::env::temp_dir().join(name)
    }

    /// Accepts the one client of a fake QEMU; its socket file is not needed any more.
    fn accept(listener: UnixListener, path: &Path) -> UnixStream {
        let (stream, _) = listener.accept().unwrap();
        let _ = std::fs::remove_file(path);
        stream
    }

    /// A fake QEMU: greets, answers `qmp_capabilities`, then hands the connection (and the
    /// reader of its lines) to `script`.
    fn fake_qemu(
        script: impl FnOnce(UnixStream, &mut dyn FnMut() -> Value) + Send + 'static,
    ) -> (PathBuf, JoinHandle<()>) {
        let path = socket_path();
        let listener = UnixListener::bind(&path).unwrap();
        let server_path = path.clone();
        let handle = thread::spawn(move || {
            let mut stream = accept(listener, &server_path);
            writeln!(stream, "{GREETING}\r").unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut next = move || {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                serde_json::from_str::<Value>(&line).unwrap_or(Value::Null)
            };
            let caps = next();
            assert_eq!(caps["execute"], "qmp_capabilities");
            writeln!(stream, "{}\r", json!({"return": {}, "id": caps["id"]})).unwrap();
            script(stream, &mut next);
        });
        (path, handle)
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(10)
    }

    #[test]
    fn commands_get_their_own_reply_and_events_are_kept() {
        let (path, server) = fake_qemu(|mut s, next| {
            let cmd = next();
            assert_eq!(cmd["execute"], "query-status");
            assert_eq!(cmd.get("arguments"), None);
            // An event and a stale reply arrive before the real reply.
            writeln!(
                s,
                r#"{{"event": "STOP", "timestamp": {{"seconds": 2, "microseconds": 5}}}}"#
            )
            .unwrap();
            writeln!(
                s,
                r#"{{"return": {{"status": "old"}}, "id": "someone-else"}}"#
            )
            .unwrap();
            let reply = json!({"return": {"status": "paused", "running": false}, "id": cmd["id"]});
            writeln!(s, "{reply}").unwrap();
            let cmd = next();
            assert_eq!(cmd["arguments"], json!({"uri": "fd:x"}));
            writeln!(s, r#"{{"event": "RESUME", "data": {{"a": 1}}}}"#).unwrap();
            writeln!(s, "{}", json!({"return": {}, "id": cmd["id"]})).unwrap();
            writeln!(
                s,
                r#"{{"event": "MIGRATION", "data": {{"status": "completed"}}}}"#
            )
            .unwrap();
            // Keep the connection open until the client is done.
            let _ = next();
        });
        let mut mon = Monitor::connect(&path, soon()).unwrap();
        assert_eq!(mon.qemu_version(), (7, 2, 22));
        let status = mon.execute("query-status", None).unwrap();
        assert_eq!(status["status"], "paused");
        mon.execute("migrate", Some(json!({"uri": "fd:x"})))
            .unwrap();
        let migration = mon.wait_event("MIGRATION", soon()).unwrap();
        assert_eq!(migration.data["status"], "completed");
        let events = mon.take_events();
        let names: Vec<_> = events.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["STOP", "RESUME"]);
        assert_eq!(events[0].timestamp_us, 2_000_005);
        assert_eq!(events[0].data, Value::Null);
        assert_eq!(events[1].data, json!({"a": 1}));
        drop(mon);
        server.join().unwrap();
    }

    #[test]
    fn qmp_errors_read_as_libvirt_reports_them() {
        let (path, server) = fake_qemu(|mut s, next| {
            let cmd = next();
            let reply =
                json!({"error": {"class": "GenericError", "desc": "boom"}, "id": cmd["id"]});
            writeln!(s, "{reply}").unwrap();
            let _ = next();
        });
        let mut mon = Monitor::connect(&path, soon()).unwrap();
        let err = mon.execute("migrate", None).unwrap_err();
        assert_eq!(err.code, VIR_ERR_INTERNAL_ERROR);
        assert_eq!(err.domain, VIR_FROM_QEMU);
        assert_eq!(
            err.message,
            "internal error: unable to execute QEMU command 'migrate': boom"
        );
        drop(mon);
        server.join().unwrap();
    }

    #[test]
    fn a_closed_monitor_is_reported_every_time() {
        let (path, server) = fake_qemu(|s, next| {
            let _ = next();
            drop(s); // QEMU dies while the command runs
        });
        let mut mon = Monitor::connect(&path, soon()).unwrap();
        mon.set_vm_name("guest");
        let err = mon.execute("query-migrate", None).unwrap_err();
        assert_eq!(err.code, VIR_ERR_OPERATION_FAILED);
        assert_eq!(err.domain, VIR_FROM_QEMU);
        assert_eq!(
            err.message,
            "operation failed: QEMU unexpectedly closed the monitor (vm='guest')"
        );
        server.join().unwrap();
        assert!(mon.is_closed());
        assert_eq!(mon.execute("cont", None).unwrap_err(), err);
        assert!(mon.take_events().is_empty());
    }

    #[test]
    fn a_silent_qemu_times_out() {
        let (path, server) = fake_qemu(|_s, next| {
            let _ = next(); // read the command, never answer
            let _ = next(); // until the client hangs up
        });
        let mut mon = Monitor::connect(&path, soon()).unwrap();
        mon.set_timeout(Duration::from_millis(100));
        let start = Instant::now();
        let err = mon.execute("query-status", None).unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(err.code, VIR_ERR_OPERATION_TIMEOUT);
        assert_eq!(
            err.message,
            "Timed out during operation: no reply from QEMU to command 'query-status' in time"
        );
        let err = mon
            .wait_event("SHUTDOWN", Instant::now() + Duration::from_millis(50))
            .unwrap_err();
        assert_eq!(err.code, VIR_ERR_OPERATION_TIMEOUT);
        drop(mon);
        server.join().unwrap();
    }

    #[test]
    fn a_descriptor_travels_with_its_command() {
        let path = socket_path();
        let listener = UnixListener::bind(&path).unwrap();
        let server_path = path.clone();
        let server = thread::spawn(move || {
            let mut s = accept(listener, &server_path);
            writeln!(s, "{GREETING}").unwrap();
            let mut pending = Vec::new();
            let mut received = None;
            let mut replies = 0;
            while replies < 2 {
                let mut buf = [0u8; 4096];
                let mut cmsg = nix::cmsg_space!([i32; 1]);
                let mut iov = [IoSliceMut::new(&mut buf)];
                let msg =
                    recvmsg::<()>(s.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty())
                        .unwrap();
                for c in msg.cmsgs().unwrap() {
                    if let ControlMessageOwned::ScmRights(fds) = c {
                        received = Some(fds[0]);
                    }
                }
                let n = msg.bytes;
                pending.extend_from_slice(&buf[..n]);
                while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    let cmd: Value = serde_json::from_slice(&line).unwrap();
                    let ret = if cmd["execute"] == "getfd" {
                        // SAFETY: the descriptor just arrived over SCM_RIGHTS and is ours.
                        let mut file = unsafe {
                            <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(
                                received.take().unwrap(),
                            )
                        };
                        let mut text = String::new();
                        file.read_to_string(&mut text).unwrap();
                        json!({"got": text, "name": cmd["arguments"]["fdname"]})
                    } else {
                        json!({})
                    };
                    writeln!(s, "{}", json!({"return": ret, "id": cmd["id"]})).unwrap();
                    replies += 1;
                }
            }
        });
        let (r, w) = nix::unistd::pipe().unwrap();
        std::fs::File::from(w).write_all(b"stream").unwrap();
        let mut mon = Monitor::connect(&path, soon()).unwrap();
        let ret = mon
            .execute_with_fd("getfd", Some(json!({"fdname": "save"})), r.as_fd())
            .unwrap();
        assert_eq!(ret, json!({"got": "stream", "name": "save"}));
        server.join().unwrap();
    }

    #[test]
    fn connecting_fails_cleanly() {
        let missing = socket_path();
        let err =
            Monitor::connect(&missing, Instant::now() + Duration::from_millis(50)).unwrap_err();
        assert_eq!(err.code, VIR_ERR_SYSTEM_ERROR);
        assert_eq!(
            err.message,
            "monitor socket did not show up: No such file or directory"
        );

        let long = PathBuf::from(format!("/tmp/{}", "x".repeat(200)));
        let err = Monitor::connect(&long, soon()).unwrap_err();
        assert!(err.message.contains("too big for destination"), "{err}");

        // Not QMP at all, then garbage: errors, not panics.
        for greeting in ["{\"hello\": 1}", "\u{1}not json"] {
            let path = socket_path();
            let listener = UnixListener::bind(&path).unwrap();
            let server_path = path.clone();
            let server = thread::spawn(move || {
                let mut s = accept(listener, &server_path);
                writeln!(s, "{greeting}").unwrap();
            });
            let err = Monitor::connect(&path, soon()).unwrap_err();
            assert_eq!(err.code, VIR_ERR_INTERNAL_ERROR, "{err}");
            server.join().unwrap();
        }
    }

    #[test]
    fn lines_come_out_whole_however_the_bytes_arrive() {
        let stream = b"{\"a\": 1}\r\n\n  \r\n{\"b\"\n[2]\n{\"c\"";
        for chunk in 1..=stream.len() {
            let mut lines = Lines::default();
            let mut got = Vec::new();
            for part in stream.chunks(chunk) {
                lines.push(part);
                while let Some(msg) = lines.next_message() {
                    got.push(msg.map_err(|e| e.message));
                }
            }
            assert_eq!(got.len(), 3, "reads of {chunk}");
            assert_eq!(got[0], Ok(json!({"a": 1})));
            assert!(got[1]
                .as_ref()
                .unwrap_err()
                .contains("cannot parse QEMU monitor reply '{\"b\"'"));
            assert_eq!(got[2], Ok(json!([2])));
        }
    }

    #[test]
    fn a_line_longer_than_any_reply_is_refused_for_good() {
        let mut lines = Lines::default();
        lines.push(&vec![b' '; MAX_LINE]);
        assert!(lines.next_message().is_none());
        lines.push(b"x");
        for _ in 0..2 {
            let err = lines.next_message().unwrap().unwrap_err();
            assert_eq!(err.message, "internal error: QEMU monitor reply too large");
        }
    }
}
