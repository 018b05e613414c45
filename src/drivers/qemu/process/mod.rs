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
//!
//! Rooms: [`spawn`] starts QEMU, [`watch`] follows and ends it, [`log`] keeps its output.

mod log;
mod spawn;
mod watch;

use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::qmp::Monitor;
use crate::abi::virErrorDomain::VIR_FROM_QEMU;
use crate::abi::virErrorNumber::{
    VIR_ERR_INTERNAL_ERROR, VIR_ERR_OPERATION_FAILED, VIR_ERR_OPERATION_INVALID,
    VIR_ERR_OPERATION_TIMEOUT,
};
use crate::{Error, Result};
use log::{log_tail, open_log};
pub(crate) use spawn::private_dir;
use spawn::{spawn_detached, write_pidfile};
use watch::Proc;
pub(crate) use watch::{kill_pid, qemu_pid};

/// The chardev id of virshim's monitor; with the socket path it identifies our QEMU.
const MONITOR_ID: &str = "virshim-monitor";
/// How long `quit` may take before [`Qemu::stop`] turns to signals.
const QUIT_GRACE: Duration = Duration::from_secs(5);
/// How long QEMU may take to exit on SIGTERM before it gets SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(3);

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
    pub(super) fn chardev(&self) -> OsString {
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
    pub(super) fn remove_runtime_files(&self) {
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
}
