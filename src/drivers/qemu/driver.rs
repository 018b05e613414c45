//! The QEMU driver: `qemu:///embed?root=DIR` (and `qemu:///session`), daemonless.
//!
//! All state is on disk under the root (see [`super::store`]), so that another process
//! opening the same root sees the same domains. Every call takes the root's lock and
//! reads the state afresh; a run directory whose QEMU is gone is cleaned up on the way.

use std::collections::HashMap;
use std::ffi::{CStr, OsString};
use std::fs::{self, OpenOptions};
use std::path::Path;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::command::{self, Options};
use super::defaults::{self, Host, Runtime};
use super::image::SaveImage;
use super::job::SaveJob;
use super::migration;
use super::process::{kill_pid, Qemu};
use super::root::Root;
use super::state::{Dom, Run, Status};
use super::store::{io_error, Locked, Store};
use crate::abi::virDomainPausedReason::*;
use crate::abi::virDomainRunningReason::*;
use crate::abi::virDomainShutoffReason::{self, *};
use crate::abi::virErrorDomain::VIR_FROM_QEMU;
use crate::abi::virErrorNumber::*;
use crate::abi::{
    CreateFlags, DefineFlags, DestroyFlags, DomainState, ListDomainsFlags, MemoryFlags, NoFlags,
    SaveImageXmlFlags, SaveRestoreFlags, UndefineFlags, XmlFlags,
};
use crate::core::{DomainId, DomainInfo, Driver, MemoryPeek, SaveRestore};
use crate::drivers::common::{
    check_memory_peek_flags, no_domain_with_uuid, not_running, same_domain,
};
use crate::drivers::failpoint;
use crate::xml::{check_abi_stability, parse_tree, DomainDef, Element, FormatFlags};
use crate::{Error, Result};

/// How long QEMU may take to start and answer on its monitor.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long attaching to a running QEMU's monitor may take.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a save or restore may stream.
const STREAM_TIMEOUT: Duration = Duration::from_secs(3600);
/// The most `virDomainMemoryPeek` reads in one call. libvirt's QEMU driver has no bound
/// of its own (its remote protocol caps a peek at 4 MiB); virshim refuses more than this,
/// as the bytes pass through a temporary file and a buffer of their size.
pub const MEMORY_PEEK_MAX: usize = 64 << 20;

/// The flags saves take: the state a restore starts in, and the page cache bypassed.
const SAVE_FLAGS: SaveRestoreFlags = SaveRestoreFlags::BYPASS_CACHE
    .union(SaveRestoreFlags::RUNNING)
    .union(SaveRestoreFlags::PAUSED);
/// How long a QEMU that failed a restore has to exit and say why in its log.
const EXIT_GRACE: Duration = Duration::from_millis(500);

fn no_domain(detail: String) -> Error {
    Error::new(VIR_ERR_NO_DOMAIN, VIR_FROM_QEMU, detail)
}

/// CPU time of process `pid` in nanoseconds, from `/proc`.
fn cpu_time_ns(pid: i32) -> u64 {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    // SAFETY: sysconf has no memory arguments.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    ticks * 1_000_000_000 / hz
}

/// The QEMU version of `qemu-system-x86_64 --version` as major*1e6+minor*1e3+micro.
fn qemu_version() -> u64 {
    static VERSION: OnceLock<u64> = OnceLock::new();
    *VERSION.get_or_init(|| {
        let Ok(out) = std::process::Command::new(defaults::EMULATOR)
            .arg("--version")
            .output()
        else {
            return 0;
        };
        parse_version(&String::from_utf8_lossy(&out.stdout)).unwrap_or(0)
    })
}

fn parse_version(text: &str) -> Option<u64> {
    let rest = text.split("version ").nth(1)?;
    let word = rest
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()?;
    let mut parts = word.split('.').map(|p| p.parse::<u64>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let micro = parts.next().flatten().unwrap_or(0);
    Some(major * 1_000_000 + minor * 1_000 + micro)
}

/// What the running guest shows in its live XML, from QEMU.
fn runtime(qemu: &mut Qemu, def: &DomainDef) -> Runtime {
    let mut ptys = Vec::new();
    if let Ok(Value::Array(chardevs)) = qemu.monitor().execute("query-chardev", None) {
        for c in chardevs {
            let (Some(label), Some(file)) = (c["label"].as_str(), c["filename"].as_str()) else {
                continue;
            };
            if let (Some(alias), Some(pty)) =
                (label.strip_prefix("char"), file.strip_prefix("pty:"))
            {
                ptys.push((alias.to_owned(), pty.to_owned()));
            }
        }
    }
    let has_balloon = def
        .element()
        .child("devices")
        .and_then(|d| d.child("memballoon"))
        .is_some_and(|b| b.attr("model") == Some("virtio"));
    let balloon_kib = if has_balloon {
        qemu.monitor()
            .execute("query-balloon", None)
            .ok()
            .and_then(|b| b["actual"].as_u64())
            .map(|bytes| bytes >> 10)
    } else {
        None
    };
    if def.virt_type() == "kvm" {
        Runtime {
            ptys,
            balloon_kib,
            cpu_features: Vec::new(),
        }
    } else {
        Runtime::tcg(ptys, balloon_kib)
    }
}

/// The QEMU driver of one root.
pub struct QemuDriver {
    store: Store,
    host: Host,
    /// Why each domain that this driver stopped is shut off (libvirt keeps this in
    /// memory only, too).
    shutoff: Mutex<HashMap<[u8; 16], virDomainShutoffReason>>,
}

impl QemuDriver {
    /// The driver of `root`, whose directories are created if missing.
    pub fn new(root: Root) -> Result<QemuDriver> {
        let store = Store::new(root);
        store.create()?;
        Ok(QemuDriver {
            store,
            host: Host::probe(),
            shutoff: Mutex::new(HashMap::new()),
        })
    }

    fn parse(&self, xml: &str) -> Result<DomainDef> {
        defaults::parse(xml, &self.host)
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

    /// Every domain, read afresh; the caller holds the lock. Run directories of QEMUs
    /// that are gone are removed.
    fn scan(&self, lock: &Locked) -> Result<Vec<Dom>> {
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

    fn find<'a>(&self, doms: &'a [Dom], dom: &DomainId) -> Result<&'a Dom> {
        doms.iter()
            .find(|d| d.def().uuid() == dom.uuid)
            .ok_or_else(|| no_domain_with_uuid(VIR_FROM_QEMU, dom))
    }

    /// Runs `f` on the domain `dom` names, under the lock.
    fn with_dom<T>(&self, dom: &DomainId, f: impl FnOnce(&Locked, &Dom) -> Result<T>) -> Result<T> {
        let lock = self.store.lock()?;
        let doms = self.scan(&lock)?;
        f(&lock, self.find(&doms, dom)?)
    }

    /// Checks that `def` may start: no other domain has its name or UUID, and it does
    /// not run already.
    fn check_startable(doms: &[Dom], def: &DomainDef) -> Result<()> {
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

    /// Starts QEMU for `def`, paused, and sends it the startup commands.
    fn start_qemu(&self, lock: &Locked, def: &DomainDef, options: &Options) -> Result<Qemu> {
        let args: Vec<OsString> = command::build(def, options)?
            .into_iter()
            .map(OsString::from)
            .collect();
        let binary = command::emulator(def);
        let paths = self.store.new_run(lock, def.name())?;
        let mut qemu = match Qemu::start(
            Path::new(&binary),
            &args,
            &paths,
            Instant::now() + START_TIMEOUT,
        ) {
            Ok(qemu) => qemu,
            Err(e) => {
                self.store.remove_run(lock, def.name());
                return Err(e);
            }
        };
        qemu.monitor().set_vm_name(def.name());
        for (cmd, args) in command::startup_commands(def) {
            if let Err(e) = qemu.monitor().execute(cmd, Some(args)) {
                let _ = qemu.kill();
                self.store.remove_run(lock, def.name());
                return Err(e);
            }
        }
        Ok(qemu)
    }

    /// Records the state of the freshly started `qemu` for `def` in its run directory,
    /// runs the guest unless `paused`, and leaves QEMU running. On failure QEMU is killed
    /// and the run directory removed. `cpu`: the CPU QEMU was started with when it is not
    /// the definition's (a restore's, from the image's cookie).
    fn launch(
        &self,
        lock: &Locked,
        mut qemu: Qemu,
        def: &DomainDef,
        cpu: Option<&Element>,
        state: DomainState,
    ) -> Result<DomainId> {
        let result = (|| {
            let id = self.store.next_id(lock)?;
            let mut base = def.clone();
            if let Some(cpu) = cpu {
                base.edit(|domain| {
                    domain.remove_children("cpu");
                    domain.push(cpu.clone());
                });
            }
            let live = defaults::live(&base, &runtime(&mut qemu, def));
            let status = Status { id, state };
            self.store.write_run(lock, def, &live, status)?;
            if !status.is_paused() {
                qemu.monitor().execute("cont", None)?;
            }
            Ok(DomainId {
                name: def.name().to_owned(),
                uuid: def.uuid(),
                id,
            })
        })();
        match result {
            Ok(key) => {
                qemu.keep();
                Ok(key)
            }
            Err(e) => {
                let _ = qemu.kill();
                self.store.remove_run(lock, def.name());
                Err(e)
            }
        }
    }

    /// Attaches to the QEMU of the running domain `dom`.
    fn attach(&self, dom: &Dom) -> Result<Qemu> {
        let name = dom.def().name();
        let paths = self.store.process_paths(name)?;
        let mut qemu =
            Qemu::attach(&paths, Instant::now() + ATTACH_TIMEOUT)?.ok_or_else(not_running)?;
        qemu.monitor().set_vm_name(name);
        Ok(qemu)
    }

    /// Forgets the running domain `name` (its QEMU is gone) and records why it stopped.
    fn stopped(&self, lock: &Locked, dom: &Dom, reason: virDomainShutoffReason) {
        let def = dom.def();
        self.store.remove_run(lock, def.name());
        if dom.config.is_some() {
            self.set_shutoff(def.uuid(), reason);
        }
    }

    /// After a failed save of `dom`: a guest that ran runs again (reason save canceled);
    /// a QEMU that died leaves the domain shut off as crashed.
    fn save_failed(&self, lock: &Locked, dom: &Dom, qemu: &mut Qemu, was_running: bool) {
        if !qemu.is_running() {
            self.stopped(lock, dom, VIR_DOMAIN_SHUTOFF_CRASHED);
        } else if was_running && qemu.monitor().execute("cont", None).is_ok() {
            let id = dom.key().id;
            let status = Status::running(id, VIR_DOMAIN_RUNNING_SAVE_CANCELED);
            let _ = self.store.write_status(lock, dom.def().name(), status);
        }
    }

    /// Pauses or resumes the running domain `dom` through QMP.
    fn switch(&self, dom: &DomainId, pause: bool) -> Result<()> {
        self.with_dom(dom, |lock, d| {
            let run = d.run.as_ref().ok_or_else(not_running)?;
            if run.status.is_paused() == pause {
                return Ok(());
            }
            let mut qemu = self.attach(d)?;
            qemu.monitor()
                .execute(if pause { "stop" } else { "cont" }, None)?;
            let id = run.status.id;
            let status = if pause {
                Status::paused(id, VIR_DOMAIN_PAUSED_USER)
            } else {
                Status::running(id, VIR_DOMAIN_RUNNING_UNPAUSED)
            };
            self.store.write_status(lock, d.def().name(), status)
        })
    }

    /// The XML a save image keeps, `dxml` if given and compatible with the domain's.
    fn image_xml(&self, def: &DomainDef, live: &DomainDef, dxml: Option<&str>) -> Result<String> {
        let xml = defaults::migratable_xml(def, live)?;
        let Some(dxml) = dxml else { return Ok(xml) };
        let current = self.parse(&xml)?;
        let new = self.parse(dxml)?;
        check_abi_stability(&current, &new)?;
        Ok(new.to_xml(None, migratable_flags()))
    }
}

fn migratable_flags() -> FormatFlags {
    FormatFlags {
        secure: true,
        inactive: true,
        migratable: true,
    }
}

/// Paused or not, and why, for a guest started with `virDomainCreate*` `flags`.
fn boot_state(flags: CreateFlags) -> DomainState {
    if flags.contains(CreateFlags::START_PAUSED) {
        DomainState::Paused(VIR_DOMAIN_PAUSED_USER)
    } else {
        DomainState::Running(VIR_DOMAIN_RUNNING_BOOTED)
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

impl MemoryPeek for QemuDriver {
    fn memory_peek(
        &self,
        dom: &DomainId,
        start: u64,
        size: usize,
        flags: MemoryFlags,
    ) -> Result<Vec<u8>> {
        check_memory_peek_flags(VIR_FROM_QEMU, flags, "qemuDomainMemoryPeek")?;
        if size > MEMORY_PEEK_MAX {
            return Err(Error::new(
                VIR_ERR_INVALID_ARG,
                VIR_FROM_QEMU,
                format!("size {size} exceeds the maximum of {MEMORY_PEEK_MAX} bytes per call"),
            ));
        }
        self.with_dom(dom, |lock, d| {
            d.run.as_ref().ok_or_else(not_running)?;
            if size == 0 {
                return Ok(Vec::new());
            }
            let mut qemu = self.attach(d)?;
            let file = self.store.mem_file(lock, d.def().name())?;
            // QEMU translates virtual addresses with the current CPU's page tables.
            let cmd = if flags == MemoryFlags::VIRTUAL {
                "memsave"
            } else {
                "pmemsave"
            };
            qemu.monitor().execute(
                cmd,
                Some(json!({"val": start, "size": size, "filename": file.path})),
            )?;
            let bytes = fs::read(&file.path)
                .map_err(|e| io_error(&e, format_args!("cannot read {}", file.path.display())))?;
            if bytes.len() != size {
                return Err(Error::new(
                    VIR_ERR_INTERNAL_ERROR,
                    VIR_FROM_QEMU,
                    format!(
                        "QEMU wrote {} bytes of memory instead of {size}",
                        bytes.len()
                    ),
                ));
            }
            Ok(bytes)
        })
    }
}

impl SaveRestore for QemuDriver {
    fn save(
        &self,
        dom: &DomainId,
        to: &Path,
        dxml: Option<&str>,
        flags: SaveRestoreFlags,
    ) -> Result<()> {
        Error::check_flags(VIR_FROM_QEMU, flags, SAVE_FLAGS, "qemuDomainSaveFlags")?;
        self.with_dom(dom, |lock, d| {
            let run = d.run.as_ref().ok_or_else(not_running)?;
            let xml = self.image_xml(&run.def, &run.live, dxml)?;
            let was_running = !run.status.is_paused();
            let image = SaveImage::new(
                xml,
                Some(defaults::cookie_xml(&run.live)),
                flags.requested_state().unwrap_or(was_running),
            );
            let mut qemu = self.attach(d)?;
            let name = d.def().name();
            let id = run.status.id;
            let mut job = SaveJob::begin(&self.store, lock, name, run.status)?;
            // As libvirt does, the guest is paused before anything can fail, so that a
            // failure resumes it with reason save canceled.
            let paused = if was_running {
                qemu.monitor().execute("stop", None).and_then(|_| {
                    let status = Status::paused(id, VIR_DOMAIN_PAUSED_SAVE);
                    self.store.write_status(lock, name, status)
                })
            } else {
                Ok(())
            };
            let file = paused
                .and_then(|()| migration::new_image_file(to))
                .and_then(|file| {
                    job.writing(&self.store, lock, name, file.path())
                        .map(|()| file)
                });
            let file = match file {
                Ok(file) => file,
                Err(e) => {
                    self.save_failed(lock, d, &mut qemu, was_running);
                    SaveJob::finish(&self.store, lock, name);
                    return Err(e);
                }
            };
            failpoint::kill_at("save-paused");
            let saved = migration::save_image(
                qemu.monitor(),
                file,
                to,
                &image,
                flags.contains(SaveRestoreFlags::BYPASS_CACHE),
                Instant::now() + STREAM_TIMEOUT,
            );
            if let Err(e) = saved {
                self.save_failed(lock, d, &mut qemu, was_running);
                SaveJob::finish(&self.store, lock, name);
                return Err(e);
            }
            let _ = qemu.stop();
            self.stopped(lock, d, VIR_DOMAIN_SHUTOFF_SAVED);
            Ok(())
        })
    }

    fn restore(&self, from: &Path, dxml: Option<&str>, flags: SaveRestoreFlags) -> Result<()> {
        // RESET_NVRAM is accepted as libvirt accepts it; the driver runs no guest with an
        // NVRAM (`<loader>`/`<nvram>` are refused), so there is nothing to reset.
        let known = SAVE_FLAGS | SaveRestoreFlags::RESET_NVRAM;
        Error::check_flags(VIR_FROM_QEMU, flags, known, "qemuDomainRestoreFlags")?;
        // Under the lock, so that no image edit of this root is half done.
        let lock = self.store.lock()?;
        let (file, image) = SaveImage::open(from)?;
        let saved = self.parse(&image.xml)?;
        let def = match dxml {
            Some(dxml) => {
                let new = self.parse(dxml)?;
                check_abi_stability(&saved, &new)?;
                new
            }
            None => saved,
        };
        let cookie = match &image.cookie {
            Some(text) => Some(parse_tree(text, "(save cookie)", VIR_FROM_QEMU)?),
            None => None,
        };
        let options = Options {
            incoming: true,
            cpu: cookie.as_ref().and_then(|c| c.child("cpu")),
        };
        let doms = self.scan(&lock)?;
        Self::check_startable(&doms, &def)?;
        // As in libvirt, a restore that fails once QEMU is asked for leaves the domain
        // shut off as failed.
        let failed = |e: Error| {
            self.set_shutoff(def.uuid(), VIR_DOMAIN_SHUTOFF_FAILED);
            e
        };
        let mut qemu = self.start_qemu(&lock, &def, &options).map_err(failed)?;
        let restored = migration::restore_image(
            qemu.monitor(),
            &file,
            &image,
            flags.contains(SaveRestoreFlags::BYPASS_CACHE),
            Instant::now() + STREAM_TIMEOUT,
        );
        if let Err(mut e) = restored {
            // A stream QEMU could not load makes it quit; its log says why.
            if qemu.wait_exit(Instant::now() + EXIT_GRACE) {
                e.message = format!("{}: {}", e.message, qemu.log_tail());
            }
            let _ = qemu.kill();
            self.store.remove_run(&lock, def.name());
            return Err(failed(e));
        }
        let running = flags.requested_state().unwrap_or(image.header.was_running);
        let state = if running {
            DomainState::Running(VIR_DOMAIN_RUNNING_RESTORED)
        } else {
            DomainState::Paused(VIR_DOMAIN_PAUSED_MIGRATION)
        };
        self.launch(&lock, qemu, &def, options.cpu, state)
            .map(drop)
            .map_err(failed)
    }

    fn save_image_xml(&self, file: &Path, flags: SaveImageXmlFlags) -> Result<String> {
        let secure = SaveImageXmlFlags::SECURE;
        Error::check_flags(
            VIR_FROM_QEMU,
            flags,
            secure,
            "qemuDomainSaveImageGetXMLDesc",
        )?;
        let (_, image) = SaveImage::open(file)?;
        let def = self.parse(&image.xml)?;
        Ok(def.to_xml(
            None,
            FormatFlags {
                secure: flags.contains(secure),
                ..FormatFlags::default()
            },
        ))
    }

    fn save_image_define_xml(
        &self,
        file: &Path,
        dxml: &str,
        flags: SaveRestoreFlags,
    ) -> Result<()> {
        let known = SaveRestoreFlags::RUNNING | SaveRestoreFlags::PAUSED;
        Error::check_flags(VIR_FROM_QEMU, flags, known, "qemuDomainSaveImageDefineXML")?;
        // Restores of this root read images under the lock: none sees half an edit.
        let _lock = self.store.lock()?;
        let handle = OpenOptions::new()
            .read(true)
            .write(true)
            .open(file)
            .map_err(|e| super::image::open_error(&e, file))?;
        let mut image = SaveImage::read(&handle)?;
        let old = self.parse(&image.xml)?;
        let new = self.parse(dxml)?;
        check_abi_stability(&old, &new)?;
        image.xml = new.to_xml(None, migratable_flags());
        if image.cookie.is_some() {
            image.header.cookie_offset = image.xml.len() as u32 + 1;
        }
        if let Some(running) = flags.requested_state() {
            image.header.was_running = running;
        }
        image.write_at_start(&handle)?;
        handle.sync_all().map_err(|e| {
            io_error(
                &e,
                format_args!("unable to sync save file '{}'", file.display()),
            )
        })
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn versions_parse_as_libvirt_numbers() {
        assert_eq!(
            parse_version("QEMU emulator version 7.2.0 (Debian 1:7.2+dfsg-7)\nCopyright"),
            Some(7_002_000)
        );
        assert_eq!(parse_version("QEMU emulator version 8.1"), Some(8_001_000));
        assert_eq!(parse_version("nothing"), None);
    }
}
