//! Where one QEMU driver keeps its state: `qemu:///embed?root=DIR` keeps everything under
//! DIR, laid out as libvirt's embedded driver does (see [`super::store`]);
//! `qemu:///session` uses a root in the user's data directory.

use std::path::{Path, PathBuf};

use url::Url;

use crate::abi::virErrorDomain::{VIR_FROM_QEMU, VIR_FROM_URI};
use crate::abi::virErrorNumber::{VIR_ERR_INVALID_ARG, VIR_ERR_OPERATION_FAILED};
use crate::{Error, Result};

/// The state directory of one driver instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Root {
    dir: PathBuf,
    /// `qemu:///session`, whose configuration is the user's libvirt one.
    session: bool,
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
                Ok(Root {
                    dir: root,
                    session: false,
                })
            }
            "/session" => Ok(Root {
                dir: session_dir()?,
                session: true,
            }),
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

    /// The `qemu.conf` libvirt reads for this URI: the root's own for an embedded driver,
    /// the user's libvirt configuration for the session.
    pub fn config_file(&self) -> Result<PathBuf> {
        if !self.session {
            return Ok(self.dir.join("etc/qemu.conf"));
        }
        let config = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
        Ok(config.unwrap_or_default().join("libvirt/qemu.conf"))
    }
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
}
