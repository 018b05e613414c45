//! Save jobs that outlive their caller.
//!
//! A save holds the root's lock from start to end, and QEMU migrates on its own: a caller
//! killed in the middle leaves QEMU writing a temporary file, and the guest paused (reason
//! save) for every later process. So a save first records itself in its run directory
//! (`job`: the caller's pid, the temporary file, the state before the save), and whoever
//! takes the lock next and finds a record recovers the job as libvirt recovers an
//! interrupted save when it reconnects to a guest: the migration is cancelled, the
//! temporary file removed, and a guest that ran before the save runs again (reason save
//! canceled); one that was paused stays paused as it was.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::migration;
use super::process::Qemu;
use super::state::Status;
use super::store::{Locked, Store};
use crate::abi::virDomainRunningReason::VIR_DOMAIN_RUNNING_SAVE_CANCELED;
use crate::drivers::files;
use crate::Result;

/// An interrupted or running save, as recorded.
#[derive(Debug, PartialEq)]
pub(super) struct SaveJob {
    /// The process that ran the save, and when it started (clock ticks since boot), so
    /// that a recycled pid is not taken for it.
    owner: (i32, u64),
    /// The image being written, under its temporary name, once there is one.
    temp: Option<PathBuf>,
    /// The domain's state before the save.
    before: Status,
}

impl SaveJob {
    /// Records a save by this process of running domain `name`, before it changes
    /// anything; the record goes when the run directory does, or by [`SaveJob::finish`].
    pub(super) fn begin(
        store: &Store,
        lock: &Locked,
        name: &str,
        before: Status,
    ) -> Result<SaveJob> {
        let pid = std::process::id() as i32;
        let job = SaveJob {
            owner: (pid, start_time(pid).unwrap_or(0)),
            temp: None,
            before,
        };
        job.write(store, lock, name)?;
        Ok(job)
    }

    /// Records the temporary file the image is being written to.
    pub(super) fn writing(
        &mut self,
        store: &Store,
        lock: &Locked,
        name: &str,
        temp: &Path,
    ) -> Result<()> {
        self.temp = Some(temp.to_owned());
        self.write(store, lock, name)
    }

    fn write(&self, store: &Store, lock: &Locked, name: &str) -> Result<()> {
        let record = json!({
            "job": "save",
            "owner": self.owner.0,
            "owner-start": self.owner.1,
            "temp": self.temp,
            "before": self.before.to_value(),
        });
        store.write_job(lock, name, &record.to_string())
    }

    /// The save recorded for running domain `name`, if any (a record that does not parse
    /// is none).
    pub(super) fn find(store: &Store, lock: &Locked, name: &str) -> Option<SaveJob> {
        let v: Value = serde_json::from_str(&store.read_job(lock, name)?).ok()?;
        if v["job"] != "save" {
            return None;
        }
        Some(SaveJob {
            owner: (
                i32::try_from(v["owner"].as_i64()?).ok()?,
                v["owner-start"].as_u64()?,
            ),
            temp: v["temp"].as_str().map(PathBuf::from),
            before: Status::from_value(&v["before"])?,
        })
    }

    /// Forgets the record of a save that ended.
    pub(super) fn finish(store: &Store, lock: &Locked, name: &str) {
        store.remove_job(lock, name);
    }

    /// Whether the process that ran the save is gone (or is this one, whose call ended
    /// without finishing it).
    fn owner_gone(&self) -> bool {
        let (pid, started) = self.owner;
        pid == std::process::id() as i32 || start_time(pid) != Some(started)
    }

    /// Removes the temporary file, if it still is one of ours (after a completed rename
    /// it is the image, under another name).
    fn remove_temp(&self) {
        if let Some(temp) = self.temp.as_ref().filter(|t| files::is_temporary(t)) {
            let _ = fs::remove_file(temp);
        }
    }

    /// Recovers the interrupted save of domain `name`, running in `qemu`: its state
    /// afterwards, as recorded in its run directory. The caller holds the root's lock, so
    /// no save of this domain is under way.
    pub(super) fn recover(
        self,
        store: &Store,
        lock: &Locked,
        name: &str,
        qemu: &mut Qemu,
        id: i32,
    ) -> Result<Status> {
        migration::cancel_save(qemu.monitor());
        let after = if self.before.is_paused() {
            Status { id, ..self.before }
        } else {
            qemu.monitor().execute("cont", None)?;
            Status::running(id, VIR_DOMAIN_RUNNING_SAVE_CANCELED)
        };
        store.write_status(lock, name, after)?;
        self.remove_temp();
        note(
            &qemu.paths().log,
            &format!(
                "virshim: save job of process {} interrupted ({}); recovered, {}\n",
                self.owner.0,
                if self.owner_gone() {
                    "the process is gone"
                } else {
                    "its call ended"
                },
                if after.is_paused() {
                    "left paused"
                } else {
                    "guest resumed"
                },
            ),
        );
        SaveJob::finish(store, lock, name);
        Ok(after)
    }

    /// Cleans up after a save whose QEMU is gone too.
    pub(super) fn abandon(self, store: &Store, lock: &Locked, name: &str) {
        self.remove_temp();
        SaveJob::finish(store, lock, name);
    }
}

/// When process `pid` started, in clock ticks since boot (field 22 of its `stat`).
fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces and parentheses.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

/// Appends a line to the domain's log, best effort.
fn note(log: &Path, line: &str) {
    if let Ok(mut file) = fs::OpenOptions::new().append(true).open(log) {
        let _ = file.write_all(line.as_bytes());
    }
}

#[cfg(test)]
mod unit {
    use super::*;
    use crate::abi::virDomainPausedReason::VIR_DOMAIN_PAUSED_USER;

    #[test]
    fn records_round_trip_and_name_their_owner() {
        let dir = std::env::temp_dir().join(format!("virshim-job-{}", std::process::id()));
        let uri = url::Url::parse(&format!("qemu:///embed?root={}", dir.display())).unwrap();
        let store = Store::new(crate::drivers::qemu::Root::from_uri(&uri).unwrap());
        store.create().unwrap();
        let lock = store.lock().unwrap();
        let name = "saved";
        store.new_run(&lock, name).unwrap();
        let before = Status::paused(4, VIR_DOMAIN_PAUSED_USER);
        let mut job = SaveJob::begin(&store, &lock, name, before).unwrap();
        assert_eq!(SaveJob::find(&store, &lock, name).unwrap(), job);
        job.writing(&store, &lock, name, &dir.join(".virshim-save-x.part"))
            .unwrap();
        let found = SaveJob::find(&store, &lock, name).unwrap();
        assert_eq!(found, job);
        assert!(
            found.owner_gone(),
            "this process's own record is stale once found"
        );
        let dead = SaveJob {
            owner: (i32::MAX, 0),
            ..found
        };
        assert!(dead.owner_gone());
        SaveJob::finish(&store, &lock, name);
        assert!(SaveJob::find(&store, &lock, name).is_none());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn start_times_are_read_past_odd_command_names() {
        let me = std::process::id() as i32;
        assert!(start_time(me).is_some());
        assert_eq!(start_time(i32::MAX), None);
    }
}
