//! QEMU processes that outlive the process that started them.
//!
//! virshim has no daemon: a guest started by one program must keep running after that
//! program exits, and a later program must find it again. So QEMU is started by a double
//! fork (it is nobody's child but init's, in a session of its own, its stdin `/dev/null`,
//! stdout and stderr appended to a log), its pid is recorded in a pidfile, and its QMP
//! monitor listens on a UNIX socket; all three live at the [`Paths`] the caller chooses.
//!
//! A pid alone does not identify a process for long: pids are recycled. Whenever the
//! pidfile is trusted again, the process must carry this socket's monitor option in its
//! `/proc/PID/cmdline`, checked after a pidfd has pinned the process, so that the check and
//! every later signal concern one and the same process.
//!
//! Waiting for QEMU to end does not wait for it to be reaped: it is not our child, and
//! init may reap slowly (about every 2 s on the CI machines). A pidfd becomes readable
//! the moment the process exits, zombie or not; without pidfds (Linux < 5.3), the
//! process state in `/proc` tells the same.
//!
//! A freshly started QEMU belongs to the operation that started it: dropping its [`Qemu`]
//! kills it, so no error path leaves a stray QEMU behind, until [`Qemu::keep`] hands it
//! over to its run directory.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;

use super::qmp::Monitor;
use crate::abi::virErrorDomain::VIR_FROM_QEMU;
use crate::abi::virErrorNumber::{
    VIR_ERR_INTERNAL_ERROR, VIR_ERR_OPERATION_FAILED, VIR_ERR_OPERATION_INVALID,
    VIR_ERR_OPERATION_TIMEOUT,
};
use crate::{Error, Result};

/// The chardev id of virshim's monitor; with the socket path it identifies our QEMU.
const MONITOR_ID: &str = "virshim-monitor";
/// How long `quit` may take before [`Qemu::stop`] turns to signals.
const QUIT_GRACE: Duration = Duration::from_secs(5);
/// How long QEMU may take to exit on SIGTERM before it gets SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(3);
/// How long a SIGKILLed process may take to exit (unless stuck in the kernel: immediate).
const KILL_GRACE: Duration = Duration::from_secs(5);
/// The most of QEMU's log quoted in an error.
const LOG_TAIL: u64 = 4096;
/// How the line that starts each QEMU's part of the log begins.
const HEADER: &[u8] = b"virshim: starting";
/// Poll interval where nothing better than polling exists.
const POLL_STEP: Duration = Duration::from_millis(5);

/// Where a QEMU keeps its monitor socket, pidfile and log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    pub socket: PathBuf,
    pub pidfile: PathBuf,
    pub log: PathBuf,
}

impl Paths {
    /// `monitor.sock`, `qemu.pid` and `qemu.log` in `dir`, one guest's run directory.
    /// The socket path must fit a UNIX socket address (107 bytes).
    pub fn in_dir(dir: &Path) -> Paths {
        Paths {
            socket: dir.join("monitor.sock"),
            pidfile: dir.join("qemu.pid"),
            log: dir.join("qemu.log"),
        }
    }

    /// The `-chardev` value of the monitor: QEMU's option syntax doubles commas.
    fn chardev(&self) -> OsString {
        let mut arg = format!("socket,id={MONITOR_ID},path=").into_bytes();
        for &b in self.socket.as_os_str().as_bytes() {
            arg.push(b);
            if b == b',' {
                arg.push(b',');
            }
        }
        arg.extend_from_slice(b",server=on,wait=off");
        OsString::from_vec(arg)
    }

    /// The options that put the monitor on the socket.
    fn monitor_args(&self) -> [OsString; 4] {
        [
            "-chardev".into(),
            self.chardev(),
            "-mon".into(),
            format!("chardev={MONITOR_ID},mode=control").into(),
        ]
    }

    /// Removes the socket and pidfile of a QEMU that is gone; the log stays.
    fn remove_runtime_files(&self) {
        let _ = fs::remove_file(&self.socket);
        let _ = fs::remove_file(&self.pidfile);
    }
}

/// A running QEMU and its monitor.
#[derive(Debug)]
pub struct Qemu {
    proc: Proc,
    paths: Paths,
    monitor: Monitor,
    /// Where this QEMU's output begins in the log.
    log_start: u64,
    /// Kill QEMU when this handle is dropped (until [`Qemu::keep`]).
    owned: bool,
}

impl Qemu {
    /// Starts `binary` with `args`, plus the monitor options for `paths.socket`, and
    /// returns once its monitor has answered, before `deadline`. Paths in `args` must be
    /// absolute: QEMU runs in `/`. It inherits no descriptor but stdio: pass descriptors
    /// over the monitor ([`Monitor::execute_with_fd`]).
    ///
    /// Fails if a QEMU of these paths is already running; if QEMU exits first, the error
    /// quotes its log. On any failure no QEMU is left running.
    pub fn start(
        binary: &Path,
        args: &[OsString],
        paths: &Paths,
        deadline: Instant,
    ) -> Result<Qemu> {
        for dir in [&paths.socket, &paths.pidfile, &paths.log]
            .iter()
            .filter_map(|p| p.parent())
        {
            private_dir(dir)?;
        }
        if let Some(running) = Proc::find(paths) {
            return Err(Error::new(
                VIR_ERR_OPERATION_INVALID,
                VIR_FROM_QEMU,
                format!(
                    "QEMU is already running for monitor {} (pid {})",
                    paths.socket.display(),
                    running.pid
                ),
            ));
        }
        if nix::sys::socket::UnixAddr::new(&paths.socket).is_err() {
            return Err(Error::new(
                VIR_ERR_INTERNAL_ERROR,
                VIR_FROM_QEMU,
                format!(
                    "Monitor path {} too big for destination",
                    paths.socket.display()
                ),
            ));
        }
        paths.remove_runtime_files();

        let mut full_args: Vec<OsString> = args.to_vec();
        full_args.extend(paths.monitor_args());
        let (log, log_start) = open_log(&paths.log, binary, &full_args)?;
        let proc = spawn_detached(binary, &full_args, &log, paths.chardev())?;

        // From here on, every failure must take QEMU down with it.
        let fail = |proc: &Proc, err: Error| {
            let _ = proc.kill();
            paths.remove_runtime_files();
            err
        };
        if let Err(e) = write_pidfile(&paths.pidfile, proc.pid) {
            return Err(fail(&proc, e));
        }
        let monitor = match Monitor::connect_while(&paths.socket, deadline, || proc.alive()) {
            Ok(monitor) => monitor,
            Err(e) => {
                // A monitor closed during the handshake means QEMU is exiting: give it a
                // moment, then quote what it said.
                let exited = !proc.alive()
                    || (e.code == VIR_ERR_OPERATION_FAILED
                        && proc.wait_exit(Instant::now() + Duration::from_secs(1)));
                let err = if exited {
                    Error::new(
                        VIR_ERR_INTERNAL_ERROR,
                        VIR_FROM_QEMU,
                        format!(
                            "process exited while connecting to monitor: {}",
                            log_tail(&paths.log, log_start)
                        ),
                    )
                } else if Instant::now() >= deadline {
                    Error::new(
                        VIR_ERR_OPERATION_TIMEOUT,
                        VIR_FROM_QEMU,
                        format!("QEMU did not answer on its monitor in time: {}", e.message),
                    )
                } else {
                    e
                };
                return Err(fail(&proc, err));
            }
        };
        Ok(Qemu {
            proc,
            paths: paths.clone(),
            monitor,
            log_start,
            owned: true,
        })
    }

    /// Finds the QEMU recorded at `paths` by an earlier process and connects to its
    /// monitor before `deadline`; `None` if none is running there (no pidfile, or one
    /// naming a process that is gone or is not that QEMU). The handle does not own the
    /// process: dropping it leaves QEMU running.
    ///
    /// QEMU serves one monitor client at a time: while another process holds this
    /// monitor, attaching times out at `deadline`.
    pub fn attach(paths: &Paths, deadline: Instant) -> Result<Option<Qemu>> {
        let Some(proc) = Proc::find(paths) else {
            return Ok(None);
        };
        let monitor = Monitor::connect_while(&paths.socket, deadline, || proc.alive())?;
        Ok(Some(Qemu {
            proc,
            paths: paths.clone(),
            monitor,
            log_start: 0,
            owned: false,
        }))
    }

    /// Lets QEMU outlive this handle: from now on it belongs to its run directory, where
    /// [`Qemu::attach`] finds it.
    pub fn keep(&mut self) {
        self.owned = false;
    }

    pub fn pid(&self) -> i32 {
        self.proc.pid
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    pub fn monitor(&mut self) -> &mut Monitor {
        &mut self.monitor
    }

    /// Whether QEMU has not exited yet.
    pub fn is_running(&self) -> bool {
        self.proc.alive()
    }

    /// Waits until QEMU exits, up to `deadline`; whether it did.
    pub fn wait_exit(&self, deadline: Instant) -> bool {
        self.proc.wait_exit(deadline)
    }

    /// The end of what this QEMU wrote to its log (the whole log's end for an attached
    /// one), for error messages.
    pub fn log_tail(&self) -> String {
        log_tail(&self.paths.log, self.log_start)
    }

    /// Shuts QEMU down: `quit` on the monitor, then SIGTERM, then SIGKILL, each after a
    /// grace period, and returns once it has exited; its socket and pidfile are removed.
    /// A QEMU that already exited is only cleaned up after.
    pub fn stop(mut self) -> Result<()> {
        self.owned = false;
        if self.proc.alive() {
            let deadline = Instant::now() + QUIT_GRACE;
            self.monitor.set_timeout(QUIT_GRACE);
            // QEMU answers `quit` and exits; a monitor that closes first means the same.
            let _ = self.monitor.execute("quit", None);
            if !self.proc.wait_exit(deadline) {
                self.proc.signal_and_wait(Signal::SIGTERM, TERM_GRACE)?;
            }
            self.proc.kill()?; // nothing to do if SIGTERM sufficed
        }
        self.paths.remove_runtime_files();
        Ok(())
    }

    /// Kills QEMU at once (SIGKILL), as a destroy or a failed operation does, and returns
    /// once it has exited; its socket and pidfile are removed.
    pub fn kill(mut self) -> Result<()> {
        self.owned = false;
        self.proc.kill()?;
        self.paths.remove_runtime_files();
        Ok(())
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        if self.owned && self.proc.kill().is_ok() {
            self.paths.remove_runtime_files();
        }
    }
}

/// A process identified by pid, pinned by a pidfd where the kernel has them.
#[derive(Debug)]
struct Proc {
    pid: i32,
    pidfd: Option<OwnedFd>,
    /// The monitor option its command line must hold (checked without a pidfd).
    identity: OsString,
}

impl Proc {
    /// The live QEMU that `paths.pidfile` names, if the process with that pid is it.
    fn find(paths: &Paths) -> Option<Proc> {
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

    fn alive(&self) -> bool {
        match &self.pidfd {
            Some(fd) => !readable(fd, 0),
            None => proc_running(self.pid) && cmdline_has(self.pid, &self.identity),
        }
    }

    fn wait_exit(&self, deadline: Instant) -> bool {
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
    fn signal_and_wait(&self, sig: Signal, grace: Duration) -> Result<bool> {
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
    fn kill(&self) -> Result<()> {
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

/// Opens (appending) the log, writes the command line to it, and returns it with the
/// offset where QEMU's own output will begin.
fn open_log(path: &Path, binary: &Path, args: &[OsString]) -> Result<(File, u64)> {
    let err = |e: io::Error| {
        Error::system(
            VIR_FROM_QEMU,
            &e,
            format!("failed to create logfile {}", path.display()),
        )
    };
    let mut log = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    let mut line = HEADER.to_vec();
    for word in std::iter::once(binary.as_os_str()).chain(args.iter().map(OsString::as_os_str)) {
        line.push(b' ');
        line.extend_from_slice(&shell_quote(word));
    }
    line.push(b'\n');
    log.write_all(&line).map_err(err)?;
    let start = log.seek(SeekFrom::End(0)).map_err(err)?;
    Ok((log, start))
}

/// `word` quoted for a shell when it needs it, so the logged command can be rerun.
fn shell_quote(word: &OsStr) -> Vec<u8> {
    let bytes = word.as_bytes();
    let plain = |b: &u8| b.is_ascii_alphanumeric() || b"-_=,./:@%+".contains(b);
    if !bytes.is_empty() && bytes.iter().all(plain) {
        return bytes.to_vec();
    }
    let mut quoted = vec![b'\''];
    for &b in bytes {
        if b == b'\'' {
            quoted.extend_from_slice(b"'\\''");
        } else {
            quoted.push(b);
        }
    }
    quoted.push(b'\'');
    quoted
}

/// Runs `binary` detached: a child starts a new session and forks QEMU, then exits, so
/// QEMU is reparented to init (or the nearest subreaper) and survives us. The child passes
/// QEMU's pid back through a pipe. `Command` reports an exec failure of the grandchild,
/// since its error pipe stays open until the grandchild's exec.
fn spawn_detached(
    binary: &Path,
    args: &[OsString],
    log: &File,
    identity: OsString,
) -> Result<Proc> {
    let cant_exec = |e: &io::Error| {
        let what = if e.kind() == io::ErrorKind::NotFound {
            format!("Cannot find QEMU binary {}", binary.display())
        } else {
            format!("cannot execute binary {}", binary.display())
        };
        Error::system(VIR_FROM_QEMU, e, what)
    };
    let io_err = |e: io::Error| Error::system(VIR_FROM_QEMU, &e, "cannot start QEMU");
    let (pid_read, pid_write) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| io_err(e.into()))?;
    let pid_write_fd: RawFd = pid_write.as_raw_fd();
    let mut cmd = Command::new(binary);
    cmd.args(args)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(io_err)?)
        .stderr(log.try_clone().map_err(io_err)?);
    // SAFETY: the closure runs in the forked child of a possibly multithreaded process,
    // so it calls only async-signal-safe functions (setsid, fork, write, _exit, and the
    // close_range system call) and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            match libc::fork() {
                -1 => Err(io::Error::last_os_error()),
                0 => {
                    // QEMU: keep no descriptor of ours but stdio (close on exec; best
                    // effort, the call is missing before Linux 5.11).
                    libc::syscall(
                        libc::SYS_close_range,
                        3 as libc::c_uint,
                        libc::c_uint::MAX,
                        libc::CLOSE_RANGE_CLOEXEC,
                    );
                    Ok(())
                }
                pid => {
                    let bytes = pid.to_ne_bytes();
                    libc::write(pid_write_fd, bytes.as_ptr().cast(), bytes.len());
                    libc::_exit(0)
                }
            }
        });
    }
    let spawned = cmd.spawn();
    drop(pid_write);
    let mut child = spawned.map_err(|e| cant_exec(&e))?;
    let _ = child.wait(); // the intermediate child, already exiting
    let mut bytes = [0u8; 4];
    File::from(pid_read).read_exact(&mut bytes).map_err(|_| {
        Error::new(
            VIR_ERR_INTERNAL_ERROR,
            VIR_FROM_QEMU,
            "cannot start QEMU: no process id from the starter",
        )
    })?;
    let pid = i32::from_ne_bytes(bytes);
    Ok(Proc {
        pid,
        pidfd: pidfd_open(pid),
        identity,
    })
}

/// Writes the pidfile whole or not at all (a reader never sees half a pid).
fn write_pidfile(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_extension("pid.new");
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)?;
        writeln!(f, "{pid}")?;
        fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::system(
            VIR_FROM_QEMU,
            &e,
            format!("Failed to write pid file '{}'", path.display()),
        )
    })
}

/// Creates `dir` and its missing parents, mode 0700 (guests' memory, definitions and
/// monitors are private), and makes an existing `dir` 0700 too.
pub fn private_dir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .and_then(|()| fs::set_permissions(dir, fs::Permissions::from_mode(0o700)))
        .map_err(|e| {
            Error::system(
                VIR_FROM_QEMU,
                &e,
                format!("cannot create directory '{}'", dir.display()),
            )
        })
}

/// The last part (up to [`LOG_TAIL`] bytes, whole lines) of the log from `start` on.
fn log_tail(path: &Path, start: u64) -> String {
    let read = || -> io::Result<Vec<u8>> {
        let mut f = File::open(path)?;
        let end = f.seek(SeekFrom::End(0))?;
        let from = start.max(end.saturating_sub(LOG_TAIL)).min(end);
        f.seek(SeekFrom::Start(from))?;
        let mut buf = Vec::new();
        f.take(LOG_TAIL).read_to_end(&mut buf)?;
        if from > start {
            // Started mid-line: drop the partial first line.
            if let Some(nl) = buf.iter().position(|&b| b == b'\n') {
                buf.drain(..=nl);
            }
        }
        // Only what QEMU wrote since virshim last started one here.
        if let Some(header) = buf
            .windows(HEADER.len() + 1)
            .rposition(|w| w[0] == b'\n' && &w[1..] == HEADER)
            .map(|i| i + 1)
            .or_else(|| buf.starts_with(HEADER).then_some(0))
        {
            let end = buf[header..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(buf.len(), |nl| header + nl + 1);
            buf.drain(..end);
        }
        Ok(buf)
    };
    let text = read().unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_owned();
    if text.is_empty() {
        "(QEMU wrote nothing to its log)".to_owned()
    } else {
        text
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

#[cfg(test)]
mod tests {
    use super::*;

    fn run_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("virshim-proc-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_monitor_option_escapes_commas() {
        let paths = Paths::in_dir(Path::new("/run/a,b"));
        assert_eq!(
            paths.chardev(),
            "socket,id=virshim-monitor,path=/run/a,,b/monitor.sock,server=on,wait=off"
        );
        assert_eq!(shell_quote(OsStr::new("-m")), b"-m");
        assert_eq!(shell_quote(OsStr::new("it's")), b"'it'\\''s'");
    }

    #[test]
    fn a_pidfile_naming_another_process_is_not_a_qemu() {
        let dir = run_dir("stale");
        let paths = Paths::in_dir(&dir);
        let deadline = Instant::now() + Duration::from_secs(1);
        assert!(Qemu::attach(&paths, deadline).unwrap().is_none());
        // Our own pid: alive, but not this monitor's QEMU (a recycled pid).
        for text in [
            format!("{}\n", std::process::id()),
            "1\n".into(),
            "junk".into(),
        ] {
            fs::write(&paths.pidfile, text).unwrap();
            assert!(Qemu::attach(&paths, deadline).unwrap().is_none());
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn log_tails_keep_whole_lines() {
        let dir = run_dir("log");
        let log = dir.join("qemu.log");
        fs::write(&log, "virshim: starting x\n").unwrap();
        assert_eq!(log_tail(&log, 20), "(QEMU wrote nothing to its log)");
        assert_eq!(log_tail(&log, 0), "(QEMU wrote nothing to its log)");
        let mut f = OpenOptions::new().append(true).open(&log).unwrap();
        for i in 0..1000 {
            writeln!(f, "line {i}").unwrap();
        }
        let tail = log_tail(&log, 20);
        assert!(tail.len() <= LOG_TAIL as usize);
        assert!(
            tail.starts_with("line ") && tail.ends_with("line 999"),
            "{tail}"
        );
        // An attached QEMU (start 0): only the output after the last start.
        writeln!(f, "virshim: starting y\nqemu: it broke").unwrap();
        assert_eq!(log_tail(&log, 0), "qemu: it broke");
        fs::remove_dir_all(&dir).unwrap();
    }
}
