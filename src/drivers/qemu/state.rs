//! The domains of a root, as every call reads them afresh from its [`super::store`] under
//! the root's lock: a domain is a persistent definition, a running QEMU, or both.

use serde_json::{json, Value};

use crate::abi::virDomainState::{self, *};
use crate::abi::{
    virDomainPausedReason, virDomainRunningReason, virDomainShutoffReason, DomainState,
    ListDomainsFlags,
};
use crate::core::DomainId;
use crate::drivers::common::list_filter_matches;
use crate::xml::DomainDef;

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
