//! A domain's state with its reason, typed so that a reason always belongs to its state.

use super::*;

/// What `virDomainGetState` reports: the state, and why the domain is in it. Not
/// C-visible; [`DomainState::state`] and [`DomainState::reason`] give libvirt's numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DomainState {
    NoState(virDomainNostateReason),
    Running(virDomainRunningReason),
    Blocked(virDomainBlockedReason),
    Paused(virDomainPausedReason),
    Shutdown(virDomainShutdownReason),
    Shutoff(virDomainShutoffReason),
    Crashed(virDomainCrashedReason),
    PmSuspended(virDomainPMSuspendedReason),
}

impl DomainState {
    /// The state alone.
    pub fn state(self) -> virDomainState {
        use virDomainState::*;
        match self {
            DomainState::NoState(_) => VIR_DOMAIN_NOSTATE,
            DomainState::Running(_) => VIR_DOMAIN_RUNNING,
            DomainState::Blocked(_) => VIR_DOMAIN_BLOCKED,
            DomainState::Paused(_) => VIR_DOMAIN_PAUSED,
            DomainState::Shutdown(_) => VIR_DOMAIN_SHUTDOWN,
            DomainState::Shutoff(_) => VIR_DOMAIN_SHUTOFF,
            DomainState::Crashed(_) => VIR_DOMAIN_CRASHED,
            DomainState::PmSuspended(_) => VIR_DOMAIN_PMSUSPENDED,
        }
    }

    /// The reason, as the number of its state's reason enumeration.
    pub fn reason(self) -> i32 {
        match self {
            DomainState::NoState(r) => r as i32,
            DomainState::Running(r) => r as i32,
            DomainState::Blocked(r) => r as i32,
            DomainState::Paused(r) => r as i32,
            DomainState::Shutdown(r) => r as i32,
            DomainState::Shutoff(r) => r as i32,
            DomainState::Crashed(r) => r as i32,
            DomainState::PmSuspended(r) => r as i32,
        }
    }

    /// The state and the reason's number, as `virDomainGetState` reports them to C.
    pub fn raw(self) -> (virDomainState, i32) {
        (self.state(), self.reason())
    }

    /// The state and reason libvirt's numbers name, if they name one.
    pub fn from_raw(state: i32, reason: i32) -> Option<DomainState> {
        let state = virDomainState::from_repr(usize::try_from(state).ok()?)?;
        let r = usize::try_from(reason).ok()?;
        use virDomainState::*;
        Some(match state {
            VIR_DOMAIN_NOSTATE => DomainState::NoState(virDomainNostateReason::from_repr(r)?),
            VIR_DOMAIN_RUNNING => DomainState::Running(virDomainRunningReason::from_repr(r)?),
            VIR_DOMAIN_BLOCKED => DomainState::Blocked(virDomainBlockedReason::from_repr(r)?),
            VIR_DOMAIN_PAUSED => DomainState::Paused(virDomainPausedReason::from_repr(r)?),
            VIR_DOMAIN_SHUTDOWN => DomainState::Shutdown(virDomainShutdownReason::from_repr(r)?),
            VIR_DOMAIN_SHUTOFF => DomainState::Shutoff(virDomainShutoffReason::from_repr(r)?),
            VIR_DOMAIN_CRASHED => DomainState::Crashed(virDomainCrashedReason::from_repr(r)?),
            VIR_DOMAIN_PMSUSPENDED => {
                DomainState::PmSuspended(virDomainPMSuspendedReason::from_repr(r)?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_libvirt_numbers() {
        let saved = DomainState::Shutoff(virDomainShutoffReason::VIR_DOMAIN_SHUTOFF_SAVED);
        assert_eq!((saved.state() as i32, saved.reason()), (5, 5));
        assert_eq!(DomainState::from_raw(5, 5), Some(saved));
        let paused = DomainState::Paused(virDomainPausedReason::VIR_DOMAIN_PAUSED_SAVE);
        assert_eq!(DomainState::from_raw(3, 3), Some(paused));
        assert_eq!(DomainState::from_raw(5, 99), None);
        assert_eq!(DomainState::from_raw(-1, 0), None);
        assert_eq!(DomainState::from_raw(8, 0), None);
    }
}
