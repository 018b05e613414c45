//! The test driver's domains and their life cycle, with libvirt's test-driver errors.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::abi::virDomainPausedReason::{VIR_DOMAIN_PAUSED_MIGRATION, VIR_DOMAIN_PAUSED_USER};
use crate::abi::virDomainRunningReason::*;
use crate::abi::virDomainShutoffReason::{self, *};
use crate::abi::virDomainState::{self, *};
use crate::abi::virErrorDomain::{VIR_FROM_DOMAIN, VIR_FROM_TEST};
use crate::abi::virErrorNumber::*;
use crate::abi::{DomainState, ListDomainsFlags, XmlFlags};
use crate::core::{DomainId, DomainInfo};
use crate::drivers::common::{list_filter_matches, no_domain_with_uuid, not_running, same_domain};
use crate::xml::{DomainDef, FormatFlags};
use crate::{Error, Result};

/// The domain every fresh `test:///default` starts with, running as ID 1.
const DEFAULT_DOMAIN: &str = include_str!("default-domain.xml");

/// Why a domain is being started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StartReason {
    /// Running when the driver started, for no recorded reason.
    Preloaded,
    Booted,
    Restored,
    /// Restored and left paused, as libvirt's QEMU driver leaves a paused restore.
    RestoredPaused,
}

/// One domain of the test driver.
pub(super) struct Dom {
    /// The live definition while active, else the persistent one.
    pub def: DomainDef,
    /// A persistent definition waiting for the running domain to stop.
    pub next_def: Option<DomainDef>,
    pub id: i32,
    pub state: DomainState,
    pub persistent: bool,
}

impl Dom {
    /// A domain that has not run yet.
    fn inactive(def: DomainDef, persistent: bool) -> Dom {
        Dom {
            def,
            next_def: None,
            id: -1,
            state: DomainState::Shutoff(VIR_DOMAIN_SHUTOFF_UNKNOWN),
            persistent,
        }
    }

    pub fn key(&self) -> DomainId {
        DomainId {
            name: self.def.name().to_owned(),
            uuid: self.def.uuid(),
            id: self.id,
        }
    }

    pub fn is_active(&self) -> bool {
        self.id >= 0
    }

    pub fn xml(&self, flags: XmlFlags) -> Result<String> {
        let inactive = flags.contains(XmlFlags::INACTIVE);
        let def = match &self.next_def {
            Some(next) if inactive => next,
            _ => &self.def,
        };
        let id = (self.is_active() && !inactive).then_some(self.id);
        Ok(def.to_xml(
            id,
            FormatFlags {
                secure: flags.contains(XmlFlags::SECURE),
                inactive,
                migratable: flags.contains(XmlFlags::MIGRATABLE),
            },
        ))
    }

    pub fn info(&self) -> DomainInfo {
        let cpu_time_ns = if self.is_active() {
            // libvirt's test driver reports the wall clock as CPU time.
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        } else {
            0
        };
        DomainInfo {
            state: self.state.state(),
            max_mem_kib: self.def.max_memory_kib(),
            memory_kib: self.def.current_memory_kib(),
            vcpus: self.def.vcpus(),
            cpu_time_ns,
        }
    }

    fn matches(&self, flags: ListDomainsFlags) -> bool {
        list_filter_matches(flags, self.is_active(), self.persistent, self.state.state())
    }
}

/// All domains of one test driver.
pub(super) struct State {
    doms: Vec<Dom>,
    next_id: i32,
}

fn not_found() -> Error {
    Error::bare(VIR_ERR_NO_DOMAIN, VIR_FROM_TEST)
}

impl State {
    pub fn empty() -> State {
        State {
            doms: Vec::new(),
            next_id: 1,
        }
    }

    pub fn with_default_domain() -> Result<State> {
        let mut state = State::empty();
        let def = DomainDef::parse(DEFAULT_DOMAIN, super::VIRT_TYPES)?;
        state.load(def, true, true)?;
        Ok(state)
    }

    /// Adds a domain of the driver's configuration, running or not.
    pub fn load(&mut self, def: DomainDef, running: bool, persistent: bool) -> Result<()> {
        self.define(def)?;
        let i = self.doms.len() - 1;
        self.doms[i].persistent = persistent;
        if running {
            self.run(i, StartReason::Preloaded);
        }
        Ok(())
    }

    pub fn by_name(&self, name: &str) -> Result<&Dom> {
        self.doms
            .iter()
            .find(|d| d.def.name() == name)
            .ok_or_else(not_found)
    }

    pub fn by_id(&self, id: i32) -> Result<&Dom> {
        self.doms
            .iter()
            .find(|d| d.is_active() && d.id == id)
            .ok_or_else(not_found)
    }

    pub fn by_uuid(&self, uuid: &[u8; 16]) -> Result<&Dom> {
        self.doms
            .iter()
            .find(|d| &d.def.uuid() == uuid)
            .ok_or_else(not_found)
    }

    fn index(&self, dom: &DomainId) -> Result<usize> {
        self.doms
            .iter()
            .position(|d| d.def.uuid() == dom.uuid)
            .ok_or_else(|| no_domain_with_uuid(VIR_FROM_TEST, dom))
    }

    /// The domain a handle names, found by UUID as libvirt's drivers do.
    pub fn find(&self, dom: &DomainId) -> Result<&Dom> {
        self.index(dom).map(|i| &self.doms[i])
    }

    pub fn find_active(&self, dom: &DomainId) -> Result<&Dom> {
        let d = self.find(dom)?;
        if !d.is_active() {
            return Err(not_running());
        }
        Ok(d)
    }

    pub fn list(&self, flags: ListDomainsFlags) -> Vec<DomainId> {
        self.doms
            .iter()
            .filter(|d| d.matches(flags))
            .map(Dom::key)
            .collect()
    }

    pub fn active_ids(&self) -> Vec<i32> {
        self.doms
            .iter()
            .filter(|d| d.is_active())
            .map(|d| d.id)
            .collect()
    }

    pub fn defined_names(&self) -> Vec<String> {
        self.doms
            .iter()
            .filter(|d| !d.is_active())
            .map(|d| d.def.name().to_owned())
            .collect()
    }

    /// `virDomainDefineXML`: a new persistent domain, or a new definition for one.
    pub fn define(&mut self, def: DomainDef) -> Result<DomainId> {
        match same_domain(self.doms.iter().map(|d| &d.def), &def)? {
            Some(i) => {
                let d = &mut self.doms[i];
                if d.is_active() {
                    d.next_def = Some(def);
                } else {
                    d.def = def;
                }
                d.persistent = true;
                Ok(d.key())
            }
            None => {
                self.doms.push(Dom::inactive(def, true));
                Ok(self.doms[self.doms.len() - 1].key())
            }
        }
    }

    /// Starts `def` as a live domain: a new transient one, or the live side of an inactive
    /// persistent one (whose definition waits until it stops).
    pub fn add_live(&mut self, def: DomainDef, why: StartReason) -> Result<DomainId> {
        let i = match same_domain(self.doms.iter().map(|d| &d.def), &def)? {
            Some(i) if self.doms[i].is_active() => {
                return Err(Error::new(
                    VIR_ERR_OPERATION_INVALID,
                    VIR_FROM_DOMAIN,
                    format!("domain '{}' is already active", def.name()),
                ));
            }
            Some(i) => {
                let d = &mut self.doms[i];
                d.next_def = Some(std::mem::replace(&mut d.def, def));
                i
            }
            None => {
                self.doms.push(Dom::inactive(def, false));
                self.doms.len() - 1
            }
        };
        self.run(i, why);
        Ok(self.doms[i].key())
    }

    fn run(&mut self, i: usize, why: StartReason) {
        let id = self.next_id;
        self.next_id += 1;
        let d = &mut self.doms[i];
        d.id = id;
        d.state = match why {
            StartReason::Preloaded => DomainState::Running(VIR_DOMAIN_RUNNING_UNKNOWN),
            StartReason::Booted => DomainState::Running(VIR_DOMAIN_RUNNING_BOOTED),
            StartReason::Restored => DomainState::Running(VIR_DOMAIN_RUNNING_RESTORED),
            StartReason::RestoredPaused => DomainState::Paused(VIR_DOMAIN_PAUSED_MIGRATION),
        };
    }

    /// `virDomainCreate`: boots an inactive persistent domain.
    pub fn start(&mut self, dom: &DomainId) -> Result<()> {
        let i = self.index(dom)?;
        if self.doms[i].is_active() {
            return Err(Error::new(
                VIR_ERR_INTERNAL_ERROR,
                VIR_FROM_TEST,
                format!("Domain '{}' is already running", dom.name),
            ));
        }
        self.run(i, StartReason::Booted);
        Ok(())
    }

    /// Stops an active domain; a transient one is gone afterwards.
    fn stop(&mut self, dom: &DomainId, reason: virDomainShutoffReason) -> Result<()> {
        let i = self.index(dom)?;
        if !self.doms[i].is_active() {
            return Err(not_running());
        }
        let d = &mut self.doms[i];
        if !d.persistent {
            self.doms.remove(i);
            return Ok(());
        }
        d.id = -1;
        d.state = DomainState::Shutoff(reason);
        if let Some(next) = d.next_def.take() {
            d.def = next;
        }
        Ok(())
    }

    pub fn destroy(&mut self, dom: &DomainId) -> Result<()> {
        self.stop(dom, VIR_DOMAIN_SHUTOFF_DESTROYED)
    }

    pub fn stop_saved(&mut self, dom: &DomainId) -> Result<()> {
        self.stop(dom, VIR_DOMAIN_SHUTOFF_SAVED)
    }

    /// `virDomainSuspend`: a running domain pauses.
    pub fn suspend(&mut self, dom: &DomainId) -> Result<()> {
        self.switch(
            dom,
            VIR_DOMAIN_RUNNING,
            "not running",
            DomainState::Paused(VIR_DOMAIN_PAUSED_USER),
        )
    }

    /// `virDomainResume`: a paused domain runs again.
    pub fn resume(&mut self, dom: &DomainId) -> Result<()> {
        let unpaused = DomainState::Running(VIR_DOMAIN_RUNNING_UNPAUSED);
        self.switch(dom, VIR_DOMAIN_PAUSED, "not paused", unpaused)
    }

    /// Moves a domain in state `from` to `to`, or fails as the test driver does, saying
    /// the domain is `not_from`.
    fn switch(
        &mut self,
        dom: &DomainId,
        from: virDomainState,
        not_from: &str,
        to: DomainState,
    ) -> Result<()> {
        let i = self.index(dom)?;
        let d = &mut self.doms[i];
        if d.state.state() != from {
            return Err(Error::new(
                VIR_ERR_INTERNAL_ERROR,
                VIR_FROM_TEST,
                format!("domain '{}' {not_from}", dom.name),
            ));
        }
        d.state = to;
        Ok(())
    }

    /// `virDomainUndefine`: an inactive domain goes; a running one becomes (or stays)
    /// transient.
    pub fn undefine(&mut self, dom: &DomainId) -> Result<()> {
        let i = self.index(dom)?;
        let d = &mut self.doms[i];
        if d.is_active() {
            d.persistent = false;
            d.next_def = None;
        } else {
            self.doms.remove(i);
        }
        Ok(())
    }
}
