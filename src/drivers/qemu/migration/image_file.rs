//! The file a save image is written to: a temporary beside the image it replaces, marked
//! partial until the stream is on disk, then finished and renamed over the path (see
//! [`crate::drivers::files`]), so that no crash leaves a complete-looking image with a
//! partial stream, nor anything but the old file at the path after a failure.

use std::io;
use std::path::Path;

use super::super::direct_io::set_direct;
use super::super::image::SaveImage;
use crate::abi::virErrorDomain::VIR_FROM_QEMU;
use crate::abi::virErrorNumber::VIR_ERR_OPERATION_INVALID;
use crate::drivers::failpoint;
use crate::drivers::files::{Output, Replacement};
use crate::{Error, Result};

/// The file a new save image for `path` is written to: beside the image it replaces (or,
/// if `path` is a symbolic link, beside the link's target), under a temporary name. A
/// missing directory, a directory at `path`, anything but a regular file there, or a
/// directory where no new file may be created fail here, before QEMU is involved.
pub fn new_image_file(path: &Path) -> Result<Replacement> {
    let target = match Output::resolve(path).map_err(|e| create_error(path, &e))? {
        Output::Replace(target) => target,
        Output::InPlace(_) => {
            return Err(Error::new(
                VIR_ERR_OPERATION_INVALID,
                VIR_FROM_QEMU,
                format!("'{}' is not a regular file", path.display()),
            ))
        }
    };
    Replacement::create(&target).map_err(|e| create_error(path, &e))
}

/// Makes the complete image durable under its name. The stream reaches the disk before
/// the final magic does, and the final magic before the name: no crash can leave a
/// complete-looking image with a partial stream.
pub(super) fn commit(file: Replacement, image: &SaveImage, shown: &Path) -> Result<()> {
    let err = |e: io::Error| write_error(shown, &e);
    set_direct(file.file(), false).map_err(err)?;
    file.file().sync_data().map_err(err)?;
    image.write_at_start(file.file())?;
    file.file().sync_data().map_err(err)?;
    failpoint::kill_at("save-commit");
    file.commit(true).map_err(err)?;
    failpoint::kill_at("save-committed");
    Ok(())
}

fn create_error(path: &Path, e: &io::Error) -> Error {
    Error::system(
        VIR_FROM_QEMU,
        e,
        format!("Failed to create file '{}'", path.display()),
    )
}

pub(super) fn write_error(path: &Path, e: &io::Error) -> Error {
    Error::system(
        VIR_FROM_QEMU,
        e,
        format!("cannot write save image '{}'", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::virErrorNumber::VIR_ERR_SYSTEM_ERROR;
    use std::fs;
    use std::os::unix::fs::FileExt;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("virshim-migration-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn an_image_replaces_a_regular_file_only_when_committed() {
        let dir = scratch("target");
        let real = dir.join("real.img");
        fs::write(&real, b"old").unwrap();
        let link = dir.join("link.img");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = new_image_file(&dir).unwrap_err();
        assert_eq!(err.code, VIR_ERR_SYSTEM_ERROR);
        assert_eq!(
            err.message,
            format!("Failed to create file '{}': Is a directory", dir.display())
        );
        let err = new_image_file(Path::new("/dev/null")).unwrap_err();
        assert_eq!(err.code, VIR_ERR_OPERATION_INVALID);
        let err = new_image_file(&dir.join("missing/x.img")).unwrap_err();
        assert_eq!(err.code, VIR_ERR_SYSTEM_ERROR);
        assert!(err.message.starts_with("Failed to create file '"), "{err}");

        // Uncommitted: gone, and the file at the path untouched.
        let tmp = new_image_file(&link).unwrap();
        let part = tmp.path().to_owned();
        assert_eq!(part.parent().unwrap(), fs::canonicalize(&dir).unwrap());
        let mode = fs::metadata(&part).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        drop(tmp);
        assert!(!part.exists());
        assert_eq!(fs::read(&real).unwrap(), b"old");

        // Committed: the complete image, with the final magic, under the link's target.
        let mut image = SaveImage::new("<domain/>".into(), None, true);
        let tmp = new_image_file(&link).unwrap();
        tmp.file()
            .write_all_at(&image.encode().unwrap(), 0)
            .unwrap();
        tmp.file()
            .write_all_at(b"QEVM", image.stream_offset())
            .unwrap();
        image.header.complete = true;
        commit(tmp, &image, &link).unwrap();
        let (_, read) = SaveImage::open(&link).unwrap();
        assert_eq!(read, image);
        assert!(fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            2,
            "no partial file left"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
