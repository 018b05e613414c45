//! A migration as a QMP job: the descriptor passed to QEMU (`getfd`), the migration
//! started through it, followed with `query-migrate` (woken early by QEMU's `MIGRATION`
//! events) until it completes, fails or times out, and cancelled when our side of the
//! stream fails. Also the bare streams into and out of a descriptor, without an image.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::super::qmp::Monitor;
use crate::abi::virErrorDomain::VIR_FROM_QEMU;
use crate::abi::virErrorNumber::{VIR_ERR_OPERATION_FAILED, VIR_ERR_OPERATION_TIMEOUT};
use crate::{Error, Result};

/// The longest wait without looking at the migration state and our threads.
const POLL: Duration = Duration::from_millis(50);
/// How long a cancelled migration may take to wind down.
const CANCEL_GRACE: Duration = Duration::from_secs(5);
/// libvirt's "unlimited" migration bandwidth, in bytes per second.
const MAX_BANDWIDTH: i64 = i64::MAX;
/// The names under which QEMU holds the descriptors we pass (`getfd`).
const SAVE_FD: &str = "virshim-save";
const RESTORE_FD: &str = "virshim-restore";

/// A migration's direction, and its name in libvirt's error messages.
#[derive(Clone, Copy)]
pub(super) struct Job {
    name: &'static str,
    outgoing: bool,
}

pub(super) const SAVE: Job = Job {
    name: "domain save",
    outgoing: true,
};
pub(super) const RESTORE: Job = Job {
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
pub(super) fn start_migration(monitor: &mut Monitor, job: Job, fd: BorrowedFd<'_>) -> Result<()> {
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
pub(super) fn wait_migration(
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
pub(super) fn unthrottle(monitor: &mut Monitor) -> Result<Option<u64>> {
    let params = monitor.execute("query-migrate-parameters", None)?;
    let max = json!({"max-bandwidth": MAX_BANDWIDTH});
    monitor.execute("migrate-set-parameters", Some(max))?;
    Ok(params["max-bandwidth"].as_u64())
}

/// Puts back the cap that [`unthrottle`] lifted, best effort: only a later live migration
/// would notice.
pub(super) fn rethrottle(monitor: &mut Monitor, old: Option<u64>) {
    if let Some(old) = old {
        let _ = monitor.execute(
            "migrate-set-parameters",
            Some(json!({"max-bandwidth": old})),
        );
    }
}

/// Ends whatever save QEMU may still be running for a caller that is gone, and closes
/// the image's descriptor if the caller passed it but never started the migration.
pub fn cancel_save(monitor: &mut Monitor) {
    cancel_migration(monitor, SAVE);
    let _ = monitor.execute("closefd", Some(json!({"fdname": SAVE_FD})));
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
    rethrottle(monitor, bandwidth);
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
