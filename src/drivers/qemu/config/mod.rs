//! The driver's settings, from `qemu.conf` as libvirt 9.0 reads its own: `ROOT/etc/qemu.conf`
//! for `qemu:///embed?root=ROOT`, `$XDG_CONFIG_HOME/libvirt/qemu.conf` (else
//! `~/.config/libvirt/qemu.conf`) for `qemu:///session`. A missing file means every default;
//! a file that does not parse fails the connection, as in libvirt. Of libvirt's keys,
//! virshim acts on the image formats; the others are read (and so checked) and ignored.

mod syntax;

use std::io;
use std::path::Path;

use super::image::Format;
use crate::abi::virErrorDomain::{VIR_FROM_CONF, VIR_FROM_QEMU};
use crate::abi::virErrorNumber::{VIR_ERR_INTERNAL_ERROR, VIR_ERR_OPERATION_FAILED};
use crate::{Error, Result};
use syntax::Value;

/// What `qemu.conf` says that virshim acts on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// `save_image_format`: how saves (and managed saves) store the migration stream.
    save_image_format: Option<String>,
}

impl Config {
    /// The settings of the file at `path`; every default when there is none.
    pub fn load(path: &Path) -> Result<Config> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => {
                return Err(Error::system(
                    VIR_FROM_CONF,
                    &e,
                    format!("failed to open file '{}'", path.display()),
                ))
            }
        };
        let entries = syntax::parse(&text, path)?;
        let string = |key: &str| -> Result<Option<String>> {
            match entries.get(key) {
                None => Ok(None),
                Some(Value::Str(s)) => Ok(Some(s.clone())),
                Some(_) => Err(Error::new(
                    VIR_ERR_INTERNAL_ERROR,
                    VIR_FROM_CONF,
                    format!(
                        "{}: expected a string for '{key}' parameter",
                        path.display()
                    ),
                )),
            }
        };
        Ok(Config {
            save_image_format: string("save_image_format")?,
        })
    }

    /// The format of a save image, as `save_image_format` says (raw when unset); an
    /// unknown value fails the save, as in libvirt.
    pub fn save_format(&self) -> Result<Format> {
        match self.save_image_format.as_deref() {
            None => Ok(Format::Raw),
            Some(name) => Format::named(name).ok_or_else(|| {
                Error::new(
                    VIR_ERR_OPERATION_FAILED,
                    VIR_FROM_QEMU,
                    "Invalid save image format specified in configuration file",
                )
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config> {
        let dir = std::env::temp_dir().join(format!("virshim-conf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!("{n}.conf"));
        std::fs::write(&path, text).unwrap();
        let config = Config::load(&path);
        std::fs::remove_file(&path).unwrap();
        config
    }

    #[test]
    fn the_save_format_is_libvirts_key() {
        assert_eq!(
            Config::load(Path::new("/nonexistent/qemu.conf"))
                .unwrap()
                .save_format()
                .unwrap(),
            Format::Raw
        );
        let conf = load("# a comment\nuser = \"root\"\nsave_image_format = \"xz\"  # inline\nnamespaces = [ ]\n").unwrap();
        assert_eq!(conf.save_format().unwrap(), Format::Xz);
        let err = load("save_image_format = \"zip\"\n")
            .unwrap()
            .save_format()
            .unwrap_err();
        assert_eq!(err.code, VIR_ERR_OPERATION_FAILED);
        let err = load("save_image_format = 1\n").unwrap_err();
        assert_eq!(
            (err.code, err.domain),
            (VIR_ERR_INTERNAL_ERROR, VIR_FROM_CONF)
        );
    }
}
