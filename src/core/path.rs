//! Paths as libvirt's public layer makes them: absolute, with `.` and `..` folded away
//! by their spelling alone (symbolic links are not followed, as in GLib's
//! `g_canonicalize_filename`).

use std::path::{Component, Path, PathBuf};

use crate::abi::virErrorDomain::VIR_FROM_DOMAIN;
use crate::abi::virErrorNumber::VIR_ERR_INTERNAL_ERROR;
use crate::{Error, Result};

/// `p` made absolute against the working directory; `which` is "input" or "output",
/// for the message libvirt gives when the working directory cannot be read.
pub(super) fn absolute(p: &Path, which: &str) -> Result<PathBuf> {
    let base = if p.is_absolute() {
        PathBuf::from("/")
    } else {
        std::env::current_dir().map_err(|_| {
            Error::new(
                VIR_ERR_INTERNAL_ERROR,
                VIR_FROM_DOMAIN,
                format!("could not build absolute {which} file path"),
            )
        })?
    };
    Ok(fold(&base, p))
}

fn fold(base: &Path, p: &Path) -> PathBuf {
    let mut out = base.to_path_buf();
    for c in p.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_dots_without_touching_the_disk() {
        assert_eq!(
            fold(Path::new("/w"), Path::new("a/./b/../c")),
            Path::new("/w/a/c")
        );
        assert_eq!(fold(Path::new("/"), Path::new("/../x")), Path::new("/x"));
        assert_eq!(fold(Path::new("/w"), Path::new("")), Path::new("/w"));
    }

    #[test]
    fn relative_paths_join_the_working_directory() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            absolute(Path::new("img"), "output").unwrap(),
            cwd.join("img")
        );
        assert_eq!(
            absolute(Path::new("/tmp//x/"), "input").unwrap(),
            Path::new("/tmp/x")
        );
    }
}
