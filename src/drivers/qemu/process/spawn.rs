//! Starting QEMU detached, so that it outlives its starter, and recording its pid.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use nix::fcntl::OFlag;

use super::watch::Proc;
use crate::abi::virErrorDomain::VIR_FROM_QEMU;
use crate::abi::virErrorNumber::VIR_ERR_INTERNAL_ERROR;
use crate::{Error, Result};

/// Runs `binary` detached: a child starts a new session and forks QEMU, then exits, so
/// QEMU is reparented to init (or the nearest subreaper) and survives us. The child passes
/// QEMU's pid back through a pipe. `Command` reports an exec failure of the grandchild,
/// since its error pipe stays open until the grandchild's exec.
pub(super) fn spawn_detached(
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
    Ok(Proc::new(pid, identity))
}

/// Writes the pidfile whole or not at all (a reader never sees half a pid).
pub(super) fn write_pidfile(path: &Path, pid: i32) -> Result<()> {
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
pub(crate) fn private_dir(dir: &Path) -> Result<()> {
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
