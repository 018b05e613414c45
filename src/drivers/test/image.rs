//! The save image of libvirt's test driver: the 15 bytes `"TestGuestMagic\0"`, the XML's
//! length as a native-endian `int`, then the XML without terminator.
//!
//! virshim may append a trailer that records the state a restore should start in (the
//! `VIR_DOMAIN_SAVE_RUNNING`/`PAUSED` flags, which libvirt's test driver refuses). libvirt
//! reads exactly the announced XML and ignores what follows, so such images stay readable
//! by libvirt; images saved without those flags are byte for byte libvirt's.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::abi::virErrorDomain::VIR_FROM_TEST;
use crate::abi::virErrorNumber::VIR_ERR_INTERNAL_ERROR;
use crate::{Error, Result};

const MAGIC: &[u8; 15] = b"TestGuestMagic\0";
/// The largest XML libvirt's test driver accepts in an image.
const MAX_XML: usize = 8192;
/// Marks virshim's trailer, followed by one byte: 1 running, 0 paused.
const STATE_MAGIC: &[u8; 16] = b"VirshimSaveState";

/// What a test-driver save image holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub xml: String,
    /// The state a restore starts in, when the save chose one.
    pub was_running: Option<bool>,
}

impl Image {
    /// Reads and checks an image, with libvirt's errors for each way it can be wrong.
    pub fn read(path: &Path) -> Result<Image> {
        let shown = path.display();
        let mut file = File::open(path).map_err(|e| {
            Error::system(VIR_FROM_TEST, &e, format!("cannot read domain image '{shown}'"))
        })?;
        let mut magic = [0u8; 15];
        read_full(&mut file, &mut magic)
            .map_err(|e| Error::system(VIR_FROM_TEST, &e, format!("incomplete save header in '{shown}'")))?;
        if &magic != MAGIC {
            return Err(Error::new(VIR_ERR_INTERNAL_ERROR, VIR_FROM_TEST, "mismatched header magic"));
        }
        let mut len = [0u8; 4];
        read_full(&mut file, &mut len).map_err(|e| {
            Error::system(VIR_FROM_TEST, &e, format!("failed to read metadata length in '{shown}'"))
        })?;
        let len = i32::from_ne_bytes(len);
        let len = usize::try_from(len)
            .ok()
            .filter(|l| (1..=MAX_XML).contains(l))
            .ok_or_else(|| Error::new(VIR_ERR_INTERNAL_ERROR, VIR_FROM_TEST, "length of metadata out of range"))?;
        let mut xml = vec![0u8; len];
        read_full(&mut file, &mut xml)
            .map_err(|e| Error::system(VIR_FROM_TEST, &e, format!("incomplete metadata in '{shown}'")))?;
        // libvirt hands the XML to its parser as a C string: it ends at the first NUL.
        if let Some(nul) = xml.iter().position(|&b| b == 0) {
            xml.truncate(nul);
        }
        let xml = String::from_utf8(xml).map_err(|_| {
            Error::new(
                VIR_ERR_INTERNAL_ERROR,
                VIR_FROM_TEST,
                format!("domain XML in '{shown}' is not valid UTF-8"),
            )
        })?;
        let mut trailer = [0u8; 17];
        let was_running = match read_full(&mut file, &mut trailer) {
            Ok(()) if &trailer[..16] == STATE_MAGIC => Some(trailer[16] != 0),
            _ => None,
        };
        Ok(Image { xml, was_running })
    }

    /// The bytes of the image.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let len = i32::try_from(self.xml.len())
            .ok()
            .filter(|&l| l as usize <= MAX_XML)
            .ok_or_else(|| {
                Error::new(
                    VIR_ERR_INTERNAL_ERROR,
                    VIR_FROM_TEST,
                    format!(
                        "domain XML of {} bytes does not fit in a save image (at most {MAX_XML})",
                        self.xml.len()
                    ),
                )
            })?;
        let mut out = Vec::with_capacity(MAGIC.len() + 4 + self.xml.len() + 17);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&len.to_ne_bytes());
        out.extend_from_slice(self.xml.as_bytes());
        if let Some(running) = self.was_running {
            out.extend_from_slice(STATE_MAGIC);
            out.push(u8::from(running));
        }
        Ok(out)
    }

    /// Writes the image as libvirt does: created or truncated with mode 0600, and removed
    /// again when it cannot be written whole. `what` opens the message of a failure
    /// ("saving domain 'test' to '/x'").
    pub fn write(&self, path: &Path, what: &str) -> Result<()> {
        let bytes = self.encode()?;
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| Error::system(VIR_FROM_TEST, &e, format!("{what}: open failed")))?;
        if let Err(e) = file.write_all(&bytes) {
            drop(file);
            let _ = std::fs::remove_file(path);
            return Err(Error::system(VIR_FROM_TEST, &e, format!("{what}: write failed")));
        }
        Ok(())
    }

    /// Replaces the image at `path` by writing a sibling file and renaming it over, so a
    /// failure part-way leaves the old image whole.
    pub fn replace(&self, path: &Path, what: &str) -> Result<()> {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let tmp = path.with_file_name(format!(".{name}.virshim-{}", std::process::id()));
        self.write(&tmp, what)?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::system(VIR_FROM_TEST, &e, format!("{what}: rename failed"))
        })
    }
}

/// Fills `buf`, or fails with the read's error, or errno 0 at end of file (libvirt shows
/// "Success" there).
fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<()> {
    file.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => io::Error::from_raw_os_error(0),
        _ => e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::virErrorNumber::VIR_ERR_SYSTEM_ERROR;

    fn tmp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("virshim-image-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn plain_images_are_libvirts_bytes() {
        let img = Image { xml: "<domain/>".into(), was_running: None };
        let bytes = img.encode().unwrap();
        assert_eq!(&bytes[..15], b"TestGuestMagic\0");
        assert_eq!(&bytes[15..19], &9i32.to_ne_bytes());
        assert_eq!(&bytes[19..], b"<domain/>");
    }

    #[test]
    fn round_trip_keeps_the_chosen_state() {
        for state in [None, Some(true), Some(false)] {
            let path = tmp(&format!("rt-{state:?}"));
            let img = Image { xml: "<domain type='test'/>".into(), was_running: state };
            img.write(&path, "saving").unwrap();
            assert_eq!(Image::read(&path).unwrap(), img);
        }
    }

    #[test]
    fn bad_images_get_libvirts_errors() {
        let cases: &[(&str, &[u8], &str)] = &[
            ("empty", b"", "incomplete save header in '{}': Success"),
            ("magic", b"TestGuestMagiX\0\x01\0\0\0x", "internal error: mismatched header magic"),
            ("len", b"TestGuestMagic\0\x01\0", "failed to read metadata length in '{}': Success"),
            ("zero", b"TestGuestMagic\0\0\0\0\0", "internal error: length of metadata out of range"),
            ("huge", b"TestGuestMagic\0\x01\x20\0\0", "internal error: length of metadata out of range"),
            ("neg", b"TestGuestMagic\0\xff\xff\xff\xff", "internal error: length of metadata out of range"),
            ("short", b"TestGuestMagic\0\x05\0\0\0<do", "incomplete metadata in '{}': Success"),
        ];
        for (name, bytes, msg) in cases {
            let path = tmp(name);
            std::fs::write(&path, bytes).unwrap();
            let err = Image::read(&path).unwrap_err();
            assert_eq!(err.message, msg.replace("{}", &path.display().to_string()), "{name}");
            assert_eq!(err.domain, VIR_FROM_TEST);
        }
        let err = Image::read(&tmp("missing")).unwrap_err();
        assert_eq!(err.code, VIR_ERR_SYSTEM_ERROR);
        assert!(err.message.ends_with("No such file or directory"));
    }

    #[test]
    fn failed_writes_leave_no_file() {
        let err = Image { xml: "x".repeat(MAX_XML + 1), was_running: None }
            .write(&tmp("big"), "saving")
            .unwrap_err();
        assert_eq!(err.code, VIR_ERR_INTERNAL_ERROR);
        assert!(!tmp("big").exists());
    }
}
