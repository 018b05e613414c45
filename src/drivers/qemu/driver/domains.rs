//! The domains of a root as one call sees them: read afresh under the root's lock, a
//! run directory whose QEMU is gone cleaned up, an interrupted save recovered.

use std::time::Instant;

use crate::abi::virDomainShutoffReason::*;
use crate::abi::virErrorDomain::VIR_FROM_QEMU;
use crate::abi::virErrorNumber::*;
use crate::core::DomainId;
use crate::drivers::common::{no_domain_with_uuid, same_domain};
use crate::drivers::qemu::job::SaveJob;
use crate::drivers::qemu::process::{kill_pid, Qemu};
use crate::drivers::qemu::state::{Dom, Run};
use crate::drivers::qemu::store::Locked;
use crate::xml::DomainDef;
use crate::{Error, Result};

use super::{QemuDriver, ATTACH_TIMEOUT};

pub(super) fn no_domain(detail: String) -> Error {
    Error::new(VIR_ERR_NO_DOMAIN, VIR_FROM_QEMU, detail)
}

impl QemuDriver {
    /// Every domain, read afresh; the caller holds the lock. Run directories of QEMUs
    /// that are gone are removed.
    pub(super) fn scan(&self, lock: &Locked) -> Result<Vec<Dom>> {
        let mut doms: Vec<Dom> = self
            .store
            .read_configs(lock)?
            .into_iter()
            .map(|def| Dom {
                config: Some(def),
                run: None,
            })
            .collect();
        for name in self.store.run_names(lock)? {
            let Some(run) = self.read_run(lock, &name)? else {
                continue;
            };
            let uuid = run.live.uuid();
            match doms.iter_mut().find(|d| d.def().uuid() == uuid) {
                Some(dom) => dom.run = Some(run),
                None => doms.push(Dom {
                    config: None,
                    run: Some(run),
                }),
            }
        }
        doms.sort_by(|a, b| a.def().name().cmp(b.def().name()));
        Ok(doms)
    }

    /// The running domain `name`, if its QEMU still runs; else its leftovers go. A save
    /// whose caller died is recovered on the way (see [`SaveJob`]).
    fn read_run(&self, lock: &Locked, name: &str) -> Result<Option<Run>> {
        let paths = self.store.process_paths(name)?;
        match self.store.read_run(lock, name)? {
            Some(mut run) => {
                // A recovery that fails (QEMU does not answer) is tried again by the next
                // call; the other domains of the root stay usable meanwhile.
                if let Some(job) = SaveJob::find(&self.store, lock, name) {
                    let attached = Qemu::attach(&paths, Instant::now() + ATTACH_TIMEOUT);
                    if let Ok(Some(mut qemu)) = attached {
                        let id = run.status.id;
                        if let Ok(status) = job.recover(&self.store, lock, name, &mut qemu, id) {
                            run.status = status;
                        }
                    }
                }
                Ok(Some(run))
            }
            None => {
                // Still starting (no status yet) cannot happen under the lock: the
                // starter writes everything before releasing it.
                if let Some(def) = self.store.started_def(lock, name) {
                    self.set_shutoff(def.uuid(), VIR_DOMAIN_SHUTOFF_CRASHED);
                }
                // A QEMU without its state files (its starter died): not one to keep.
                kill_pid(&paths);
                if let Some(job) = SaveJob::find(&self.store, lock, name) {
                    job.abandon(&self.store, lock, name);
                }
                self.store.remove_run(lock, name);
                Ok(None)
            }
        }
    }

    pub(super) fn find<'a>(&self, doms: &'a [Dom], dom: &DomainId) -> Result<&'a Dom> {
        doms.iter()
            .find(|d| d.def().uuid() == dom.uuid)
            .ok_or_else(|| no_domain_with_uuid(VIR_FROM_QEMU, dom))
    }

    /// Runs `f` on the domain `dom` names, under the lock.
    pub(super) fn with_dom<T>(
        &self,
        dom: &DomainId,
        f: impl FnOnce(&Locked, &Dom) -> Result<T>,
    ) -> Result<T> {
        let lock = self.store.lock()?;
        let doms = self.scan(&lock)?;
        f(&lock, self.find(&doms, dom)?)
    }

    /// Checks that `def` may start: no other domain has its name or UUID, and it does
    /// not run already.
    pub(super) fn check_startable(doms: &[Dom], def: &DomainDef) -> Result<()> {
        if let Some(i) = same_domain(doms.iter().map(Dom::def), def)? {
            if doms[i].run.is_some() {
                return Err(Error::new(
                    VIR_ERR_OPERATION_INVALID,
                    VIR_FROM_QEMU,
                    format!("domain '{}' is already active", def.name()),
                ));
            }
        }
        Ok(())
    }
}
