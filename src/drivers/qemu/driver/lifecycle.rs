//! Starting a domain's QEMU and recording it in its run directory, pausing and resuming
//! it, forgetting it once stopped; what the running guest and its QEMU report.

use std::ffi::OsString;
use std::fs;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::abi::virDomainPausedReason::*;
use crate::abi::virDomainRunningReason::*;
use crate::abi::virDomainShutoffReason;
use crate::abi::{CreateFlags, DomainState};
use crate::core::DomainId;
use crate::drivers::common::not_running;
use crate::drivers::qemu::command::{self, Options};
use crate::drivers::qemu::defaults::{self, Runtime};
use crate::drivers::qemu::process::Qemu;
use crate::drivers::qemu::state::{Dom, Status};
use crate::drivers::qemu::store::Locked;
use crate::xml::{DomainDef, Element};
use crate::Result;

use super::{QemuDriver, ATTACH_TIMEOUT};

/// How long QEMU may take to start and answer on its monitor.
const START_TIMEOUT: Duration = Duration::from_secs(30);

impl QemuDriver {
    /// Starts QEMU for `def`, paused, and sends it the startup commands.
    pub(super) fn start_qemu(
        &self,
        lock: &Locked,
        def: &DomainDef,
        options: &Options,
    ) -> Result<Qemu> {
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
    pub(super) fn launch(
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
    pub(super) fn attach(&self, dom: &Dom) -> Result<Qemu> {
        let name = dom.def().name();
        let paths = self.store.process_paths(name)?;
        let mut qemu =
            Qemu::attach(&paths, Instant::now() + ATTACH_TIMEOUT)?.ok_or_else(not_running)?;
        qemu.monitor().set_vm_name(name);
        Ok(qemu)
    }

    /// Forgets the running domain `name` (its QEMU is gone) and records why it stopped.
    pub(super) fn stopped(&self, lock: &Locked, dom: &Dom, reason: virDomainShutoffReason) {
        let def = dom.def();
        self.store.remove_run(lock, def.name());
        if dom.config.is_some() {
            self.set_shutoff(def.uuid(), reason);
        }
    }

    /// Pauses or resumes the running domain `dom` through QMP.
    pub(super) fn switch(&self, dom: &DomainId, pause: bool) -> Result<()> {
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
}

/// Paused or not, and why, for a guest started with `virDomainCreate*` `flags`.
pub(super) fn boot_state(flags: CreateFlags) -> DomainState {
    if flags.contains(CreateFlags::START_PAUSED) {
        DomainState::Paused(VIR_DOMAIN_PAUSED_USER)
    } else {
        DomainState::Running(VIR_DOMAIN_RUNNING_BOOTED)
    }
}

/// CPU time of process `pid` in nanoseconds, from `/proc`.
pub(super) fn cpu_time_ns(pid: i32) -> u64 {
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
pub(super) fn qemu_version() -> u64 {
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
