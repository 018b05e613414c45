//! The on-disk layout of a QEMU root, in one place: what every file under it is called,
//! what it holds, and who may write it.
//!
//! - `etc/qemu/NAME.xml`: the persistent definition of domain NAME.
//! - `run/qemu/NAME/`: running domain NAME: `def.xml` (the definition it was started
//!   from), `live.xml` (its live XML), `status` (its ID, state and reason), `job` (a save
//!   under way, see [`super::job`]), QEMU's pidfile and monitor socket, and the temporary
//!   files of memory peeks.
//! - `run/qemu/next-id`: the next domain ID; `run/qemu/driver.lock`: the root's lock.
//! - `log/qemu/NAME.log`: QEMU's log; `lib/qemu/save/`: managed saves.
//!
//! Several processes may open one root at once: every change is made under the root's
//! exclusive lock, so a writer here takes the [`Locked`] token as an argument, and so do
//! the readers whose answer a later write depends on. A domain's files are named only from
//! names checked here, so nothing lands outside the root.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::fcntl::{Flock, FlockArg};

use super::defaults::VIRT_TYPES;
use super::process::{private_dir, qemu_pid, Paths};
use super::root::Root;
use super::state::{Run, Status};
use crate::abi::virErrorDomain::VIR_FROM_QEMU;
use crate::abi::virErrorNumber::VIR_ERR_OPERATION_FAILED;
use crate::xml::{DomainDef, FormatFlags};
use crate::{Error, Result};

/// The files under one root.
pub(super) struct Store {
    root: Root,
}

/// Holds the root's lock until dropped; writers of the [`Store`] take it as proof.
pub(super) struct Locked {
    _lock: Flock<File>,
}

impl Store {
    pub(super) fn new(root: Root) -> Store {
        Store { root }
    }

    fn dir(&self) -> &Path {
        self.root.dir()
    }

    /// Creates the directory tree (mode 0700: guests' memory and definitions are private).
    pub(super) fn create(&self) -> Result<()> {
        ["etc/qemu", "run/qemu", "lib/qemu/save", "log/qemu"]
            .iter()
            .try_for_each(|sub| private_dir(&self.dir().join(sub)))
    }

    /// Takes the root's lock, waiting for another process that holds it.
    pub(super) fn lock(&self) -> Result<Locked> {
        let path = self.dir().join("run/qemu/driver.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| {
                io_error(
                    &e,
                    format_args!("cannot open lock file '{}'", path.display()),
                )
            })?;
        let lock = Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| {
            io_error(
                &io::Error::from(errno),
                format_args!("cannot lock '{}'", path.display()),
            )
        })?;
        Ok(Locked { _lock: lock })
    }

    /// The persistent definition of domain `name`.
    fn config(&self, name: &str) -> Result<PathBuf> {
        Ok(self
            .dir()
            .join("etc/qemu")
            .join(format!("{}.xml", checked(name)?)))
    }

    /// Every persistent definition, by file name; a file that does not parse is skipped,
    /// as libvirt skips it on load.
    pub(super) fn read_configs(&self, _lock: &Locked) -> Result<Vec<DomainDef>> {
        let mut found: Vec<PathBuf> = read_dir(&self.dir().join("etc/qemu"))?
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "xml"))
            .collect();
        found.sort();
        Ok(found.iter().filter_map(|p| read_def(p).ok()).collect())
    }

    pub(super) fn write_config(&self, _lock: &Locked, def: &DomainDef) -> Result<()> {
        let path = self.config(def.name())?;
        write_atomic(&path, &def.to_xml(None, FormatFlags::default()))
    }

    pub(super) fn remove_config(&self, _lock: &Locked, name: &str) -> Result<()> {
        let path = self.config(name)?;
        fs::remove_file(&path)
            .map_err(|e| io_error(&e, format_args!("cannot remove config {}", path.display())))
    }

    /// The directory of running domain `name`.
    fn run_dir(&self, name: &str) -> Result<PathBuf> {
        Ok(self.dir().join("run/qemu").join(checked(name)?))
    }

    /// The names of every run directory, sorted.
    pub(super) fn run_names(&self, _lock: &Locked) -> Result<Vec<String>> {
        let mut names: Vec<String> = read_dir(&self.dir().join("run/qemu"))?
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        Ok(names)
    }

    /// The process files of running domain `name`, with its log beside the others.
    pub(super) fn process_paths(&self, name: &str) -> Result<Paths> {
        let run = self.run_dir(name)?;
        let paths = Paths {
            log: self
                .dir()
                .join("log/qemu")
                .join(format!("{}.log", checked(name)?)),
            ..Paths::in_dir(&run)
        };
        Ok(paths)
    }

    /// A fresh run directory for domain `name`, the leftovers of an earlier run that ended
    /// without us removed; the process files of the QEMU to start there.
    pub(super) fn new_run(&self, lock: &Locked, name: &str) -> Result<Paths> {
        self.remove_run(lock, name);
        private_dir(&self.run_dir(name)?)?;
        self.process_paths(name)
    }

    /// The running domain `name` as its run directory records it, if its QEMU still runs
    /// and every state file is there.
    pub(super) fn read_run(&self, _lock: &Locked, name: &str) -> Result<Option<Run>> {
        let dir = self.run_dir(name)?;
        let paths = self.process_paths(name)?;
        let read = || -> Option<Run> {
            let pid = qemu_pid(&paths)?;
            let status = Status::from_json(&fs::read_to_string(dir.join("status")).ok()?)?;
            let def = read_def(&dir.join("def.xml")).ok()?;
            let live = read_live_def(&dir.join("live.xml")).ok()?;
            Some(Run {
                status,
                def,
                live,
                pid,
            })
        };
        Ok(read())
    }

    /// The definition running domain `name` was started from, if it is still there.
    pub(super) fn started_def(&self, _lock: &Locked, name: &str) -> Option<DomainDef> {
        read_def(&self.run_dir(name).ok()?.join("def.xml")).ok()
    }

    /// Records a started domain: the definition it was started from, its live XML, and
    /// its status, last (a run directory with a status is complete).
    pub(super) fn write_run(
        &self,
        lock: &Locked,
        def: &DomainDef,
        live: &DomainDef,
        status: Status,
    ) -> Result<()> {
        let dir = self.run_dir(def.name())?;
        write_atomic(
            &dir.join("def.xml"),
            &def.to_xml(None, FormatFlags::default()),
        )?;
        write_atomic(
            &dir.join("live.xml"),
            &live.to_xml(Some(status.id), FormatFlags::default()),
        )?;
        self.write_status(lock, def.name(), status)
    }

    pub(super) fn write_status(&self, _lock: &Locked, name: &str, status: Status) -> Result<()> {
        write_atomic(&self.run_dir(name)?.join("status"), &status.to_json())
    }

    /// Forgets running domain `name`, best effort (its QEMU is gone, or must go).
    pub(super) fn remove_run(&self, _lock: &Locked, name: &str) {
        if let Ok(dir) = self.run_dir(name) {
            let _ = fs::remove_dir_all(dir);
        }
    }

    /// The record of a save of domain `name` under way, if any.
    pub(super) fn read_job(&self, _lock: &Locked, name: &str) -> Option<String> {
        fs::read_to_string(self.run_dir(name).ok()?.join("job")).ok()
    }

    pub(super) fn write_job(&self, _lock: &Locked, name: &str, record: &str) -> Result<()> {
        write_atomic(&self.run_dir(name)?.join("job"), record)
    }

    pub(super) fn remove_job(&self, _lock: &Locked, name: &str) {
        if let Ok(dir) = self.run_dir(name) {
            let _ = fs::remove_file(dir.join("job"));
        }
    }

    /// The next domain ID.
    pub(super) fn next_id(&self, _lock: &Locked) -> Result<i32> {
        let path = self.dir().join("run/qemu/next-id");
        let id = fs::read_to_string(&path)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
            .filter(|&id| id > 0)
            .unwrap_or(1);
        write_atomic(&path, &format!("{}\n", id.checked_add(1).unwrap_or(1)))?;
        Ok(id)
    }

    /// A new private file in the run directory of domain `name`, for QEMU to write peeked
    /// memory into.
    pub(super) fn mem_file(&self, _lock: &Locked, name: &str) -> Result<MemFile> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = self.run_dir(name)?;
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("qemu.mem.{}.{n}", std::process::id()));
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
            {
                Ok(_) => return Ok(MemFile { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(io_error(
                        &e,
                        format_args!("cannot create {}", path.display()),
                    ))
                }
            }
        }
    }
}

/// A private temporary file (mode 0600) that QEMU writes peeked memory into; removed when
/// dropped.
pub(super) struct MemFile {
    pub(super) path: PathBuf,
}

impl Drop for MemFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// `name`, if it is safe as one path component: domain names become file names.
fn checked(name: &str) -> Result<&str> {
    let unsafe_name = name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']);
    if unsafe_name {
        return Err(Error::new(
            VIR_ERR_OPERATION_FAILED,
            VIR_FROM_QEMU,
            format!("domain name '{name}' cannot be used as a file name"),
        ));
    }
    Ok(name)
}

pub(super) fn io_error(e: &io::Error, what: impl std::fmt::Display) -> Error {
    Error::system(VIR_FROM_QEMU, e, what)
}

/// The readable entries of directory `dir`.
fn read_dir(dir: &Path) -> Result<impl Iterator<Item = fs::DirEntry>> {
    let entries = fs::read_dir(dir).map_err(|e| {
        io_error(
            &e,
            format_args!("cannot read directory '{}'", dir.display()),
        )
    })?;
    Ok(entries.filter_map(|e| e.ok()))
}

/// Writes `text` to `path` through a temporary file and a rename, so that a reader never
/// sees half of it.
fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("new");
    fs::write(&tmp, text)
        .and_then(|()| File::open(&tmp)?.sync_all())
        .and_then(|()| fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io_error(&e, format_args!("cannot write '{}'", path.display()))
        })
}

fn read_def(path: &Path) -> Result<DomainDef> {
    DomainDef::parse(&read_text(path)?, VIRT_TYPES)
}

/// A running domain's XML, with its runtime state (aliases, pty paths, source indexes).
fn read_live_def(path: &Path) -> Result<DomainDef> {
    DomainDef::parse_live(&read_text(path)?, VIRT_TYPES)
}

fn read_text(path: &Path) -> Result<String> {
    fs::read_to_string(path)
        .map_err(|e| io_error(&e, format_args!("cannot read '{}'", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &str) -> Store {
        let uri = url::Url::parse(&format!("qemu:///embed?root={dir}")).unwrap();
        Store::new(Root::from_uri(&uri).unwrap())
    }

    #[test]
    fn names_never_leave_the_root() {
        let s = store("/srv/vm");
        assert_eq!(
            s.config("web").unwrap(),
            Path::new("/srv/vm/etc/qemu/web.xml")
        );
        assert_eq!(s.run_dir("web").unwrap(), Path::new("/srv/vm/run/qemu/web"));
        assert_eq!(
            s.process_paths("web").unwrap().log,
            Path::new("/srv/vm/log/qemu/web.log")
        );
        for bad in ["", ".", "..", "a/b", "../x", "nul\0"] {
            assert!(s.run_dir(bad).is_err(), "{bad:?}");
            assert!(s.config(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_lock_serializes_two_holders() {
        let dir = std::env::temp_dir().join(format!("virshim-root-{}", std::process::id()));
        let s = store(&dir.display().to_string());
        s.create().unwrap();
        let first = s.lock().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let other = store(&dir.display().to_string());
        let waiter = std::thread::spawn(move || {
            let _second = other.lock().unwrap();
            tx.send(()).unwrap();
        });
        assert!(
            rx.recv_timeout(std::time::Duration::from_millis(200))
                .is_err(),
            "lock not exclusive"
        );
        drop(first);
        rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        waiter.join().unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }
}
