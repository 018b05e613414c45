//! The QEMU driver: `qemu:///embed?root=DIR` (and `qemu:///session`), daemonless.
//!
//! All state is on disk under the root (see [`super::store`]), so that another process
//! opening the same root sees the same domains. Every call takes the root's lock and
//! reads the state afresh; a run directory whose QEMU is gone is cleaned up on the way.
//!
//! Rooms: [`domains`] reads the domains of the root under its lock; [`lifecycle`] starts,
//! pauses and stops them; [`save`] saves and restores them; [`peek`] reads their memory.

mod domains;
mod lifecycle;
mod peek;
mod save;

use std::collections::HashMap;
use std::ffi::CStr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::command::Options;
use super::config::Config;
use super::defaults::{self, Host};
use super::process::{kill_pid, Qemu};
use super::root::Root;
use super::state::Dom;
use super::store::Store;
use crate::abi::virDomainShutoffReason::{self, *};
use crate::abi::virErrorDomain::VIR_FROM_QEMU;
use crate::abi::virErrorNumber::*;
use crate::abi::{
    CreateFlags, DefineFlags, DestroyFlags, DomainState, ListDomainsFlags, NoFlags, UndefineFlags,
    XmlFlags,
};
use crate::core::{DomainId, DomainInfo, Driver, MemoryPeek, SaveRestore};
use crate::drivers::common::{not_running, same_domain};
use crate::xml::{DomainDef, FormatFlags};
use crate::{Error, Result};

use domains::no_domain;
use lifecycle::{boot_state, cpu_time_ns, qemu_version};
pub use peek::MEMORY_PEEK_MAX;

/// How long attaching to a running QEMU's monitor may take.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(10);

/// The QEMU driver of one root.
pub struct QemuDriver {
    store: Store,
    host: Host,
    /// What `qemu.conf` says, read when the connection opens, as libvirt reads it when its
    /// driver starts.
    config: Config,
    /// Why each domain that this driver stopped is shut off (libvirt keeps this in
    /// memory only, too).
    shutoff: Mutex<HashMap<[u8; 16], virDomainShutoffReason>>,
}

impl QemuDriver {
    /// The driver of `root`, whose directories are created if missing.
    pub fn new(root: Root) -> Result<QemuDriver> {
        let config = Config::load(&root.config_file()?)?;
        let store = Store::new(root);
        store.create()?;
        Ok(QemuDriver {
            store,
            host: Host::probe(),
            config,
            shutoff: Mutex::new(HashMap::new()),
        })
    }

    fn parse(&self, xml: &str) -> Result<DomainDef> {
        defaults::parse(xml, &self.host)
    }

    /// A save image's XML, read to be shown or edited, not run.
    fn parse_image_xml(&self, xml: &str) -> Result<DomainDef> {
        defaults::parse_image_xml(xml, &self.host)
    }

    fn set_shutoff(&self, uuid: [u8; 16], reason: virDomainShutoffReason) {
        self.shutoff
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(uuid, reason);
    }

    fn shutoff_reason(&self, uuid: &[u8; 16]) -> virDomainShutoffReason {
        self.shutoff
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(uuid)
            .copied()
            .unwrap_or(VIR_DOMAIN_SHUTOFF_UNKNOWN)
    }
}

impl Driver for QemuDriver {
    fn type_name(&self) -> &'static CStr {
        c"QEMU"
    }

    fn hypervisor_version(&self) -> u64 {
        qemu_version()
    }

    fn lookup_by_name(&self, name: &str) -> Result<DomainId> {
        let lock = self.store.lock()?;
        self.scan(&lock)?
            .iter()
            .find(|d| d.def().name() == name)
            .map(Dom::key)
            .ok_or_else(|| no_domain(format!("no domain with matching name '{name}'")))
    }

    fn lookup_by_id(&self, id: i32) -> Result<DomainId> {
        let lock = self.store.lock()?;
        self.scan(&lock)?
            .iter()
            .find(|d| d.run.as_ref().is_some_and(|r| r.status.id == id))
            .map(Dom::key)
            .ok_or_else(|| no_domain(format!("no domain with matching id {id}")))
    }

    fn lookup_by_uuid(&self, uuid: &[u8; 16]) -> Result<DomainId> {
        let lock = self.store.lock()?;
        self.scan(&lock)?
            .iter()
            .find(|d| &d.def().uuid() == uuid)
            .map(Dom::key)
            .ok_or_else(|| {
                no_domain(format!(
                    "no domain with matching uuid '{}'",
                    crate::xml::format_uuid(uuid)
                ))
            })
    }

    fn list_all(&self, flags: ListDomainsFlags) -> Result<Vec<DomainId>> {
        Error::check_flags(
            VIR_FROM_QEMU,
            flags,
            ListDomainsFlags::all(),
            "qemuConnectListAllDomains",
        )?;
        let lock = self.store.lock()?;
        Ok(self
            .scan(&lock)?
            .iter()
            .filter(|d| d.matches(flags))
            .map(Dom::key)
            .collect())
    }

    fn active_ids(&self) -> Result<Vec<i32>> {
        let lock = self.store.lock()?;
        Ok(self
            .scan(&lock)?
            .iter()
            .filter_map(|d| d.run.as_ref().map(|r| r.status.id))
            .collect())
    }

    fn defined_names(&self) -> Result<Vec<String>> {
        let lock = self.store.lock()?;
        Ok(self
            .scan(&lock)?
            .iter()
            .filter(|d| d.run.is_none())
            .map(|d| d.def().name().to_owned())
            .collect())
    }

    fn define_xml(&self, xml: &str, flags: DefineFlags) -> Result<DomainId> {
        let validate = DefineFlags::VALIDATE;
        Error::check_flags(VIR_FROM_QEMU, flags, validate, "qemuDomainDefineXMLFlags")?;
        let def = self.parse(xml)?;
        if flags.contains(validate) {
            def.validate_schema()?;
        }
        let lock = self.store.lock()?;
        let doms = self.scan(&lock)?;
        let existing = same_domain(doms.iter().map(Dom::def), &def)?;
        self.store.write_config(&lock, &def)?;
        let id = existing
            .and_then(|i| doms[i].run.as_ref())
            .map_or(-1, |r| r.status.id);
        Ok(DomainId {
            name: def.name().to_owned(),
            uuid: def.uuid(),
            id,
        })
    }

    fn create_xml(&self, xml: &str, flags: CreateFlags) -> Result<DomainId> {
        let paused = CreateFlags::START_PAUSED;
        Error::check_flags(VIR_FROM_QEMU, flags, paused, "qemuDomainCreateXML")?;
        let def = self.parse(xml)?;
        let lock = self.store.lock()?;
        let doms = self.scan(&lock)?;
        Self::check_startable(&doms, &def)?;
        let qemu = self.start_qemu(&lock, &def, &Options::default())?;
        self.launch(&lock, qemu, &def, None, boot_state(flags))
    }

    fn create(&self, dom: &DomainId, flags: CreateFlags) -> Result<()> {
        let paused = CreateFlags::START_PAUSED;
        Error::check_flags(VIR_FROM_QEMU, flags, paused, "qemuDomainCreateWithFlags")?;
        let lock = self.store.lock()?;
        let doms = self.scan(&lock)?;
        let d = self.find(&doms, dom)?;
        if d.run.is_some() {
            return Err(Error::new(
                VIR_ERR_OPERATION_INVALID,
                VIR_FROM_QEMU,
                "domain is already running",
            ));
        }
        let def = d.config.as_ref().expect("an inactive domain is persistent");
        let qemu = self.start_qemu(&lock, def, &Options::default())?;
        self.launch(&lock, qemu, def, None, boot_state(flags))
            .map(drop)
    }

    fn destroy(&self, dom: &DomainId, flags: DestroyFlags) -> Result<()> {
        let graceful = DestroyFlags::GRACEFUL;
        Error::check_flags(VIR_FROM_QEMU, flags, graceful, "qemuDomainDestroyFlags")?;
        self.with_dom(dom, |lock, d| {
            if d.run.is_none() {
                return Err(not_running());
            }
            let paths = self.store.process_paths(d.def().name())?;
            match Qemu::attach(&paths, Instant::now() + ATTACH_TIMEOUT) {
                Ok(Some(qemu)) if flags.contains(graceful) => qemu.stop()?,
                Ok(Some(qemu)) => qemu.kill()?,
                Ok(None) => {}
                // A monitor that does not answer (busy with another client, or hung)
                // does not keep a destroy from killing QEMU.
                Err(_) => kill_pid(&paths),
            }
            self.stopped(lock, d, VIR_DOMAIN_SHUTOFF_DESTROYED);
            Ok(())
        })
    }

    fn suspend(&self, dom: &DomainId) -> Result<()> {
        self.switch(dom, true)
    }

    fn resume(&self, dom: &DomainId) -> Result<()> {
        self.switch(dom, false)
    }

    fn undefine(&self, dom: &DomainId, flags: UndefineFlags) -> Result<()> {
        // Every flag libvirt 9.0 defines: the driver keeps none of what they remove.
        let known = UndefineFlags::all();
        Error::check_flags(VIR_FROM_QEMU, flags, known, "qemuDomainUndefineFlags")?;
        self.with_dom(dom, |lock, d| {
            let Some(config) = &d.config else {
                return Err(Error::new(
                    VIR_ERR_OPERATION_INVALID,
                    VIR_FROM_QEMU,
                    "cannot undefine transient domain",
                ));
            };
            self.store.remove_config(lock, config.name())
        })
    }

    fn xml_desc(&self, dom: &DomainId, flags: XmlFlags) -> Result<String> {
        let known = XmlFlags::all();
        Error::check_flags(VIR_FROM_QEMU, flags, known, "qemuDomainGetXMLDesc")?;
        let inactive = flags.contains(XmlFlags::INACTIVE);
        let format = FormatFlags {
            secure: flags.contains(XmlFlags::SECURE),
            inactive,
            migratable: flags.contains(XmlFlags::MIGRATABLE),
        };
        self.with_dom(dom, |_, d| {
            Ok(match (&d.run, &d.config) {
                (Some(run), _) if !inactive => run.live.to_xml(Some(run.status.id), format),
                (_, Some(config)) => config.to_xml(None, format),
                (Some(run), None) => run.def.to_xml(None, format),
                (None, None) => unreachable!("a domain is persistent or running"),
            })
        })
    }

    fn state(&self, dom: &DomainId, flags: NoFlags) -> Result<DomainState> {
        Error::check_flags(VIR_FROM_QEMU, flags, NoFlags::empty(), "qemuDomainGetState")?;
        self.with_dom(dom, |_, d| Ok(d.status(self.shutoff_reason(&dom.uuid))))
    }

    fn info(&self, dom: &DomainId) -> Result<DomainInfo> {
        self.with_dom(dom, |_, d| {
            let def = d.def();
            Ok(DomainInfo {
                state: d.state(),
                max_mem_kib: def.max_memory_kib(),
                memory_kib: def.current_memory_kib(),
                vcpus: def.vcpus(),
                cpu_time_ns: d.run.as_ref().map_or(0, |r| cpu_time_ns(r.pid)),
            })
        })
    }

    fn is_active(&self, dom: &DomainId) -> Result<bool> {
        self.with_dom(dom, |_, d| Ok(d.run.is_some()))
    }

    fn is_persistent(&self, dom: &DomainId) -> Result<bool> {
        self.with_dom(dom, |_, d| Ok(d.config.is_some()))
    }

    fn save_restore(&self) -> Option<&dyn SaveRestore> {
        Some(self)
    }

    fn memory_peek(&self) -> Option<&dyn MemoryPeek> {
        Some(self)
    }
}
