//! Files a caller names, as both drivers open and write them: a call never removes or
//! truncates a file it did not create, never blocks on a FIFO nobody else holds, and a
//! failed write leaves whatever was at the path exactly as it was.
//!
//! A regular file (or a new one) is written as a [`Replacement`]: a temporary file beside
//! it, renamed over it only once complete, with the old file's mode and owner. Anything
//! else at the path (a character device, a FIFO with a reader) is written in place, as
//! libvirt does, but never created, truncated or removed.
//!
//! Temporary files are named `.virshim-save-*.part` and locked (`flock`) by whoever writes
//! them: their creator, and QEMU, which shares the open file through a passed descriptor.
//! One nobody holds was left by a caller that died; [`sweep_stale`] removes those.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::fcntl::{fcntl, renameat2, FcntlArg, Flock, FlockArg, OFlag, RenameFlags, AT_FDCWD};
use nix::unistd::{access, AccessFlags};

/// The start of every temporary file's name.
const TEMP_PREFIX: &str = ".virshim-save-";
/// The end of every temporary file's name.
const TEMP_SUFFIX: &str = ".part";
/// The mode of a new file (guests' memory and definitions are private); the umask may
/// only take from it.
const NEW_MODE: u32 = 0o600;
/// How many directories a process remembers as swept before it starts afresh.
const SWEPT_MAX: usize = 1024;
/// How often a process sweeps one directory at most.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Opens `path` for reading without waiting for a FIFO's writer: a FIFO nobody writes
/// reads as empty at once instead of hanging the call.
pub fn open_read(path: &Path) -> io::Result<File> {
    open_without_waiting(OpenOptions::new().read(true), path)
}

/// Where a write to `path` goes, checked as libvirt's `open(O_WRONLY|O_CREAT|O_TRUNC)`
/// would check it (a directory is `EISDIR`, a read-only file `EACCES`), without touching
/// anything yet.
#[derive(Debug)]
pub enum Output {
    /// A regular file, or none yet: written as a [`Replacement`] of this path (the file a
    /// symbolic link leads to, so that the link stays).
    Replace(PathBuf),
    /// A device or a FIFO: written in place.
    InPlace(PathBuf),
}

impl Output {
    pub fn resolve(path: &Path) -> io::Result<Output> {
        let (target, meta) = match fs::symlink_metadata(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Output::Replace(path.into()))
            }
            Err(e) => return Err(e),
            Ok(meta) if meta.is_symlink() => match fs::canonicalize(path) {
                Ok(target) => {
                    let meta = fs::metadata(&target)?;
                    (target, meta)
                }
                // A dangling link: the new file takes its place, as open would create it.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Ok(Output::Replace(path.into()))
                }
                Err(e) => return Err(e),
            },
            Ok(meta) => (path.to_owned(), meta),
        };
        if meta.is_dir() {
            return Err(io::Error::from_raw_os_error(libc::EISDIR));
        }
        access(&target, AccessFlags::W_OK)?;
        Ok(if meta.is_file() {
            Output::Replace(target)
        } else {
            Output::InPlace(target)
        })
    }

    /// Opens an in-place output for writing, never waiting for a FIFO's reader (none:
    /// `ENXIO`) and never truncating.
    pub fn open_in_place(path: &Path) -> io::Result<File> {
        open_without_waiting(OpenOptions::new().write(true), path)
    }
}

/// A new file being written to replace `target`: removed on drop unless committed.
#[derive(Debug)]
pub struct Replacement {
    path: PathBuf,
    target: PathBuf,
    file: Flock<File>,
    committed: bool,
}

impl Replacement {
    /// Creates the temporary file beside `target` (mode 0600; the mode and owner of a file
    /// at `target` are taken over when it is replaced), locked as ours.
    pub fn create(target: &Path) -> io::Result<Replacement> {
        let dir = parent_dir(target);
        loop {
            let name = format!(
                "{TEMP_PREFIX}{}{TEMP_SUFFIX}",
                uuid::Uuid::new_v4().simple()
            );
            let path = dir.join(name);
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(NEW_MODE)
                .open(&path)?;
            let file = lock(file, FlockArg::LockExclusive)?;
            // A sweeper may have taken it for stale between its creation and our lock.
            if file.metadata()?.nlink() == 0 {
                continue;
            }
            return Ok(Replacement {
                path,
                target: target.to_owned(),
                file,
                committed: false,
            });
        }
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    /// The temporary file's path (recorded by jobs that outlive their caller).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Puts the complete file in place of its target, atomically; with `durable`, the
    /// rename is on disk when this returns (the data must have been synced before).
    /// Temporary files that killed callers left in the same directory go too
    /// ([`sweep_stale`]).
    ///
    /// An existing target is swapped with the new file (`RENAME_EXCHANGE`) and then
    /// removed under the temporary name: ext4 starts writing a file's data back as soon
    /// as it is renamed over another one, which made every test-driver save wait about
    /// half a millisecond; a swap does not. Where the filesystem cannot swap, a rename.
    pub fn commit(mut self, durable: bool) -> io::Result<()> {
        let swapped = match fs::metadata(&self.target) {
            Ok(old) => {
                inherit(&self.file, &old)?;
                let (from, to) = (self.path.as_path(), self.target.as_path());
                renameat2(AT_FDCWD, from, AT_FDCWD, to, RenameFlags::RENAME_EXCHANGE).is_ok()
            }
            Err(_) => false,
        };
        if swapped {
            // The old file bears the temporary name now (swept later, should we die
            // before removing it).
            let _ = fs::remove_file(&self.path);
        } else {
            fs::rename(&self.path, &self.target)?;
        }
        self.committed = true;
        if durable {
            match File::open(parent_dir(&self.target)).and_then(|dir| dir.sync_all()) {
                // Some filesystems cannot sync a directory: nothing more to do there.
                Err(e) if e.raw_os_error() != Some(libc::EINVAL) => return Err(e),
                _ => {}
            }
        }
        sweep_stale(parent_dir(&self.target));
        Ok(())
    }
}

impl Drop for Replacement {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Whether `path` names one of our temporary files (by its name alone).
pub fn is_temporary(path: &Path) -> bool {
    path.file_name()
        .and_then(OsStr::to_str)
        .is_some_and(|n| n.starts_with(TEMP_PREFIX) && n.ends_with(TEMP_SUFFIX))
}

/// Removes the temporary files in `dir` that nobody holds: what callers killed in the
/// middle of a write left. Best effort: a file that cannot be looked at is left alone.
///
/// At most once a `SWEEP_EVERY` (10 s) per directory and process: within a process an
/// unfinished file is removed as its call unwinds, so only other processes leave any, and
/// reading a large directory at every save of the test driver (thousands a second) would
/// cost more than the save.
pub fn sweep_stale(dir: &Path) {
    static SWEPT: Mutex<Option<HashMap<PathBuf, Instant>>> = Mutex::new(None);
    {
        let mut swept = SWEPT.lock().unwrap_or_else(PoisonError::into_inner);
        let swept = swept.get_or_insert_with(HashMap::new);
        if swept.len() >= SWEPT_MAX {
            swept.clear();
        }
        let now = Instant::now();
        if swept
            .get(dir)
            .is_some_and(|&last| now.duration_since(last) < SWEEP_EVERY)
        {
            return;
        }
        swept.insert(dir.to_owned(), now);
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !is_temporary(Path::new(&name)) || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        let opened = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path);
        // Held while removing, so that its creator sees it unlinked (see `create`).
        if let Ok(Ok(_held)) = opened.map(|f| lock(f, FlockArg::LockExclusiveNonblock)) {
            let _ = fs::remove_file(&path);
        }
    }
}

/// The folder `path` is in (`.` for a bare name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Opens `path` as `options` say with `O_NONBLOCK`, so that opening a FIFO does not wait
/// for its other end, then clears `O_NONBLOCK` for the reads and writes that follow.
fn open_without_waiting(options: &mut OpenOptions, path: &Path) -> io::Result<File> {
    let file = options.custom_flags(libc::O_NONBLOCK).open(path)?;
    let flags = OFlag::from_bits_truncate(fcntl(file.as_fd(), FcntlArg::F_GETFL)?);
    fcntl(file.as_fd(), FcntlArg::F_SETFL(flags - OFlag::O_NONBLOCK))?;
    Ok(file)
}

fn lock(file: File, how: FlockArg) -> io::Result<Flock<File>> {
    Flock::lock(file, how).map_err(|(_, errno)| errno.into())
}

/// Gives the replacement the mode and owner of the file it replaces, as an overwrite
/// would have kept them (the owner only where we may give files away).
fn inherit(file: &File, old: &fs::Metadata) -> io::Result<()> {
    let mode = old.permissions().mode() & 0o7777;
    if mode != NEW_MODE {
        file.set_permissions(fs::Permissions::from_mode(mode))?;
    }
    // SAFETY: geteuid and getegid have no arguments and cannot fail.
    let ours = unsafe { (libc::geteuid(), libc::getegid()) };
    if ours != (old.uid(), old.gid()) {
        let _ = std::os::unix::fs::fchown(file, Some(old.uid()), Some(old.gid()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::FileTypeExt;

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("virshim-files-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_replacement_appears_whole_with_the_old_mode_or_not_at_all() {
        let d = dir("replace");
        let target = d.join("image");
        fs::write(&target, b"old").unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o640)).unwrap();
        let mut r = Replacement::create(&target).unwrap();
        r.file.write_all(b"new").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"old");
        drop(r);
        assert_eq!(
            fs::read_dir(&d).unwrap().count(),
            1,
            "the temporary file is gone"
        );
        let mut r = Replacement::create(&target).unwrap();
        r.file.write_all(b"new").unwrap();
        r.commit(true).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1, "the old file is gone");
        let mode = fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
    }

    #[test]
    fn outputs_are_resolved_as_open_would_see_them() {
        let d = dir("resolve");
        let err = Output::resolve(&d).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EISDIR));
        let link = d.join("link");
        std::os::unix::fs::symlink(d.join("real"), &link).unwrap();
        fs::write(d.join("real"), b"x").unwrap();
        match Output::resolve(&link).unwrap() {
            Output::Replace(p) => assert_eq!(p, fs::canonicalize(d.join("real")).unwrap()),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Output::resolve(Path::new("/dev/null")).unwrap(),
            Output::InPlace(_)
        ));
        let missing = d.join("new");
        assert!(matches!(Output::resolve(&missing).unwrap(), Output::Replace(p) if p == missing));
    }

    #[test]
    fn fifos_never_block() {
        let d = dir("fifo");
        let fifo = d.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
        let err = Output::open_in_place(&fifo).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENXIO));
        let mut empty = Vec::new();
        let read = std::io::Read::read_to_end(&mut open_read(&fifo).unwrap(), &mut empty);
        assert_eq!(read.unwrap(), 0);
    }

    #[test]
    fn only_unheld_temporary_files_are_swept() {
        let d = dir("sweep");
        let live = Replacement::create(&d.join("a")).unwrap();
        let stale = d.join(".virshim-save-0123.part");
        fs::write(&stale, b"left by a dead caller").unwrap();
        let other = d.join("keep.part");
        fs::write(&other, b"not ours").unwrap();
        sweep_stale(&d);
        assert!(live.path().exists());
        assert!(!stale.exists());
        assert!(other.exists());
    }
}
