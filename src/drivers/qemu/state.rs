//! The driver's state on disk, as every call reads it afresh under the root's lock: a
//! domain is a persistent definition (`etc/qemu/NAME.xml`), a running QEMU (its run
//! directory's `def.xml`, `live.xml` and `status`, and a pidfile naming a live process),
//! or both.

use std::fs::{self, File};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::defaults::VIRT_TYPES;
use super::process::Paths;
use crate::abi::virDomainState::{self, *};
use crate::abi::virErrorDomain::VIR_FROM_QEMU;
use crate::abi::{
    virDomainPausedReason, virDomainRunningReason, virDomainShutoffReason, DomainState,
    ListDomainsFlags,
};
use crate::core::DomainId;
use crate::drivers::common::list_filter_matches;
use crate::xml::DomainDef;
use crate::{Error, Result};

/// The state of a running domain, as its `status` file records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Status {
    pub(super) id: i32,
    /// Running or paused, with the reason.
    pub(super) state: DomainState,
}

impl Status {
    pub(super) fn running(id: i32, reason: virDomainRunningReason) -> Status {
        Status {
            id,
            state: DomainState::Running(reason),
        }
    }

    pub(super) fn paused(id: i32, reason: virDomainPausedReason) -> Status {
        Status {
            id,
            state: DomainState::Paused(reason),
        }
    }

    pub(super) fn is_paused(&self) -> bool {
        matches!(self.state, DomainState::Paused(_))
    }

    pub(super) fn to_json(self) -> String {
        self.to_value().to_string()
    }

    pub(super) fn from_json(text: &str) -> Option<Status> {
        Status::from_value(&serde_json::from_str(text).ok()?)
    }

    /// The status as a JSON value, for records that hold one.
    pub(super) fn to_value(self) -> Value {
        let (paused, reason) = (self.is_paused(), self.state.reason());
        json!({"id": self.id, "paused": paused, "reason": reason})
    }

    pub(super) fn from_value(v: &Value) -> Option<Status> {
        let state = match v["paused"].as_bool()? {
            true => VIR_DOMAIN_PAUSED,
            false => VIR_DOMAIN_RUNNING,
        };
        let reason = i32::try_from(v["reason"].as_i64()?).ok()?;
        Some(Status {
            id: i32::try_from(v["id"].as_i64()?).ok()?,
            state: DomainState::from_raw(state as i32, reason)?,
        })
    }
}

/// A running domain.
pub(super) struct Run {
    pub(super) status: Status,
    /// The definition QEMU was started from.
    pub(super) def: DomainDef,
    /// Its live XML.
    pub(super) live: DomainDef,
    pub(super) pid: i32,
}

/// One domain: persistent, running, or both.
pub(super) struct Dom {
    pub(super) config: Option<DomainDef>,
    pub(super) run: Option<Run>,
}

impl Dom {
    pub(super) fn def(&self) -> &DomainDef {
        match (&self.run, &self.config) {
            (Some(run), _) => &run.live,
            (None, Some(config)) => config,
            (None, None) => unreachable!("a domain is persistent or running"),
        }
    }

    pub(super) fn key(&self) -> DomainId {
        let def = self.def();
        DomainId {
            name: def.name().to_owned(),
            uuid: def.uuid(),
            id: self.run.as_ref().map_or(-1, |r| r.status.id),
        }
    }

    /// The state, `shutoff_reason` saying why when it is not running.
    pub(super) fn status(&self, shutoff_reason: virDomainShutoffReason) -> DomainState {
        match &self.run {
            Some(run) => run.status.state,
            None => DomainState::Shutoff(shutoff_reason),
        }
    }

    pub(super) fn state(&self) -> virDomainState {
        match &self.run {
            Some(run) => run.status.state.state(),
            None => VIR_DOMAIN_SHUTOFF,
        }
    }

    pub(super) fn matches(&self, flags: ListDomainsFlags) -> bool {
        list_filter_matches(
            flags,
            self.run.is_some(),
            self.config.is_some(),
            self.state(),
        )
    }
}

pub(super) fn io_error(e: &std::io::Error, what: impl std::fmt::Display) -> Error {
    Error::system(VIR_FROM_QEMU, e, what)
}

/// Writes `text` to `path` through a temporary file and a rename, so that a reader never
/// sees half of it.
pub(super) fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("new");
    fs::write(&tmp, text)
        .and_then(|()| File::open(&tmp)?.sync_all())
        .and_then(|()| fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io_error(&e, format_args!("cannot write '{}'", path.display()))
        })
}

pub(super) fn read_def(path: &Path) -> Result<DomainDef> {
    let xml = fs::read_to_string(path)
        .map_err(|e| io_error(&e, format_args!("cannot read '{}'", path.display())))?;
    DomainDef::parse(&xml, VIRT_TYPES)
}

/// Whether the QEMU recorded at `paths` still runs: its pidfile names a live process
/// whose command line has this monitor socket. Its pid if so.
pub(super) fn qemu_pid(paths: &Paths) -> Option<i32> {
    let pid: i32 = fs::read_to_string(&paths.pidfile)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    if pid <= 1 {
        return None;
    }
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let socket = paths.socket.as_os_str().as_encoded_bytes();
    if !cmdline.windows(socket.len()).any(|w| w == socket) {
        return None;
    }
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let state = stat.rsplit(')').next()?.trim_start();
    (!state.starts_with('Z')).then_some(pid)
}

/// Kills the QEMU recorded at `paths` by its pid, and waits (a while) until it is gone.
pub(super) fn kill_pid(paths: &Paths) {
    let Some(pid) = qemu_pid(paths) else { return };
    // SAFETY: kill has no memory arguments.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while qemu_pid(paths).is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn status_round_trips() {
        let s = Status::paused(3, virDomainPausedReason::VIR_DOMAIN_PAUSED_MIGRATION);
        assert_eq!(s.to_json(), r#"{"id":3,"paused":true,"reason":2}"#);
        assert_eq!(Status::from_json(&s.to_json()), Some(s));
        assert!(Status::from_json("{}").is_none());
        let unknown_reason = r#"{"id":3,"paused":true,"reason":99}"#;
        assert!(Status::from_json(unknown_reason).is_none());
    }
}
