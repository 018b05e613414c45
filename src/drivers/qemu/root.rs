//! Where one QEMU driver keeps its state: `qemu:///embed?root=DIR` keeps everything under
//! DIR, laid out as libvirt's embedded driver does (`etc/qemu` for persistent
//! definitions, `run/qemu` for running guests, `lib/qemu/save` for managed saves,
//! `log/qemu` for guest logs); `qemu:///session` uses a root in the user's data directory.
//!
//! Several processes may open one root at once: every change of state is made under an
//! exclusive lock on `run/qemu/driver.lock`, and a domain's files are named only from names
//! checked here, so nothing lands outside the root.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use url::Url;

use super::process::{private_dir, Paths};
use crate::abi::virErrorDomain::{VIR_FROM_QEMU, VIR_FROM_URI};
use crate::abi::virErrorNumber::{VIR_ERR_INVALID_ARG, VIR_ERR_OPERATION_FAILED};
use crate::{Error, Result};

/// The state directory of one driver instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Root {
    dir: PathBuf,
}

/// Holds the driver's lock until dropped.
pub struct Locked {
    _lock: Flock<File>,
}

impl Root {
    /// The root a `qemu:` URI names: `qemu:///embed?root=DIR` (DIR absolute) or
    /// `qemu:///session`.
    pub fn from_uri(uri: &Url) -> Result<Root> {
        match uri.path() {
            "/embed" => {
                let root = uri
                    .query_pairs()
                    .find(|(k, _)| k == "root")
                    .map(|(_, v)| PathBuf::from(v.into_owned()))
                    .ok_or_else(|| Error::new(VIR_ERR_INVALID_ARG, VIR_FROM_URI, "Missing URI parameter 'root'"))?;
                if !root.is_absolute() {
                    return Err(Error::new(
                        VIR_ERR_INVALID_ARG,
                        VIR_FROM_QEMU,
                        format!("root path must be absolute: '{}'", root.display()),
                    ));
                }
                Ok(Root { dir: root })
            }
            "/session" => Ok(Root { dir: session_dir()? }),
            other => Err(Error::new(
                VIR_ERR_INVALID_ARG,
                VIR_FROM_QEMU,
                format!("unexpected QEMU URI path '{other}', try qemu:///session or qemu:///embed?root=DIR"),
            )),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates the directory tree (mode 0700: guests' memory and definitions are private).
    pub fn create(&self) -> Result<()> {
        ["etc/qemu", "run/qemu", "lib/qemu/save", "log/qemu"]
            .iter()
            .try_for_each(|sub| private_dir(&self.dir.join(sub)))
    }

    /// Takes the driver's lock, waiting for another process that holds it.
    pub fn lock(&self) -> Result<Locked> {
        let path = self.dir.join("run/qemu/driver.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| {
                Error::system(
                    VIR_FROM_QEMU,
                    &e,
                    format!("cannot open lock file '{}'", path.display()),
                )
            })?;
        let lock = Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| {
            Error::system(
                VIR_FROM_QEMU,
                &std::io::Error::from(errno),
                format!("cannot lock '{}'", path.display()),
            )
        })?;
        Ok(Locked { _lock: lock })
    }

    /// The persistent definition of domain `name`.
    pub fn config(&self, name: &str) -> Result<PathBuf> {
        Ok(self
            .dir
            .join("etc/qemu")
            .join(format!("{}.xml", checked(name)?)))
    }

    /// The definitions of every persistent domain, by file.
    pub fn configs(&self) -> Result<Vec<PathBuf>> {
        let dir = self.dir.join("etc/qemu");
        let entries = fs::read_dir(&dir).map_err(|e| {
            Error::system(
                VIR_FROM_QEMU,
                &e,
                format!("cannot read directory '{}'", dir.display()),
            )
        })?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "xml"))
            .collect();
        found.sort();
        Ok(found)
    }

    /// The directory of running domain `name`: its live definition, monitor and pidfile.
    pub fn run_dir(&self, name: &str) -> Result<PathBuf> {
        Ok(self.dir.join("run/qemu").join(checked(name)?))
    }

    /// The process files of running domain `name`, with its log beside the others.
    pub fn process_paths(&self, name: &str) -> Result<Paths> {
        let run = self.run_dir(name)?;
        let paths = Paths {
            log: self
                .dir
                .join("log/qemu")
                .join(format!("{}.log", checked(name)?)),
            ..Paths::in_dir(&run)
        };
        Ok(paths)
    }

    /// The managed save image of domain `name`.
    pub fn managed_save(&self, name: &str) -> Result<PathBuf> {
        Ok(self
            .dir
            .join("lib/qemu/save")
            .join(format!("{}.save", checked(name)?)))
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

/// `$XDG_DATA_HOME/virshim/qemu`, else `~/.local/share/virshim/qemu`.
fn session_dir() -> Result<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .ok_or_else(|| {
            Error::new(
                VIR_ERR_OPERATION_FAILED,
                VIR_FROM_QEMU,
                "cannot find the user's data directory: neither XDG_DATA_HOME nor HOME is set",
            )
        })?;
    Ok(data.join("virshim/qemu"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(uri: &str) -> Result<Root> {
        Root::from_uri(&Url::parse(uri).unwrap())
    }

    #[test]
    fn embed_uris_name_an_absolute_root() {
        assert_eq!(
            root("qemu:///embed?root=/srv/vm").unwrap().dir(),
            Path::new("/srv/vm")
        );
        let err = root("qemu:///embed").unwrap_err();
        assert_eq!((err.code, err.domain), (VIR_ERR_INVALID_ARG, VIR_FROM_URI));
        assert_eq!(
            err.message,
            "invalid argument: Missing URI parameter 'root'"
        );
        assert!(root("qemu:///embed?root=relative").is_err());
        assert!(root("qemu:///system").is_err());
    }

    #[test]
    fn names_never_leave_the_root() {
        let r = root("qemu:///embed?root=/srv/vm").unwrap();
        assert_eq!(
            r.config("web").unwrap(),
            Path::new("/srv/vm/etc/qemu/web.xml")
        );
        assert_eq!(r.run_dir("web").unwrap(), Path::new("/srv/vm/run/qemu/web"));
        assert_eq!(
            r.managed_save("web").unwrap(),
            Path::new("/srv/vm/lib/qemu/save/web.save")
        );
        for bad in ["", ".", "..", "a/b", "../x", "nul\0"] {
            assert!(r.run_dir(bad).is_err(), "{bad:?}");
            assert!(r.config(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_lock_serializes_two_holders() {
        let dir = std::env::temp_dir().join(format!("virshim-root-{}", std::process::id()));
        let r = root(&format!("qemu:///embed?root={}", dir.display())).unwrap();
        r.create().unwrap();
        let first = r.lock().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let other = r.clone();
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
