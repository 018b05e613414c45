//! The save image of libvirt's test driver: the 15 bytes `"TestGuestMagic\0"`, the XML's
//! length as a native-endian `int`, then the XML without terminator.
//!
//! virshim may append a trailer that records the state a restore should start in (the
//! `VIR_DOMAIN_SAVE_RUNNING`/`PAUSED` flags, which libvirt's test driver refuses). libvirt
//! reads exactly the announced XML and ignores what follows, so such images stay readable
//! by libvirt; images saved without those flags are byte for byte libvirt's.

use std::io::{self, Read, Write};
use std::path::Path;

use crate::abi::virErrorDomain::VIR_FROM_TEST;
use crate::abi::virErrorNumber::VIR_ERR_INTERNAL_ERROR;
use crate::drivers::files::{self, Output, Replacement};
use crate::{Error, Result};

const MAGIC: &[u8; 15] = b"TestGuestMagic\0";
/// The magic and the XML length.
const HEADER: usize = 19;
/// The largest XML libvirt's test driver accepts in an image.
const MAX_XML: usize = 8192;
/// Marks virshim's trailer, followed by one byte: 1 running, 0 paused.
const STATE_MAGIC: &[u8; 16] = b"VirshimSaveState";
/// The trailer's size.
const TRAILER: usize = 17;

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
        let mut file = files::open_read(path).map_err(|e| {
            Error::system(
                VIR_FROM_TEST,
                &e,
                format!("cannot read domain image '{}'", path.display()),
            )
        })?;
        // One bounded read: nothing past the largest image virshim writes matters.
        let mut bytes = Vec::with_capacity(HEADER + MAX_XML + TRAILER);
        let read = (&mut file)
            .take((HEADER + MAX_XML + TRAILER) as u64)
            .read_to_end(&mut bytes);
        // libvirt appends errno to a short read's message, which holds 0 after end of file.
        let errno = read
            .err()
            .unwrap_or_else(|| io::Error::from_raw_os_error(0));
        Image::decode(&bytes, path, &errno)
    }

    /// Checks the bytes of an image read whole from `path` (named in errors), as
    /// [`Image::read`] does.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Image> {
        Image::decode(bytes, path, &io::Error::from_raw_os_error(0))
    }

    /// [`Image::parse`], with `errno` the reason given for bytes that end too soon.
    fn decode(bytes: &[u8], path: &Path, errno: &io::Error) -> Result<Image> {
        let shown = path.display();
        let short = |what: String| Error::system(VIR_FROM_TEST, errno, what);
        if bytes.len() < MAGIC.len() {
            return Err(short(format!("incomplete save header in '{shown}'")));
        }
        if &bytes[..MAGIC.len()] != MAGIC {
            return Err(Error::new(
                VIR_ERR_INTERNAL_ERROR,
                VIR_FROM_TEST,
                "mismatched header magic",
            ));
        }
        let Some(len) = bytes.get(MAGIC.len()..HEADER) else {
            return Err(short(format!(
                "failed to read metadata length in '{shown}'"
            )));
        };
        let len = usize::try_from(i32::from_ne_bytes(len.try_into().expect("4 bytes")))
            .ok()
            .filter(|l| (1..=MAX_XML).contains(l))
            .ok_or_else(|| {
                Error::new(
                    VIR_ERR_INTERNAL_ERROR,
                    VIR_FROM_TEST,
                    "length of metadata out of range",
                )
            })?;
        let Some(xml) = bytes.get(HEADER..HEADER + len) else {
            return Err(short(format!("incomplete metadata in '{shown}'")));
        };
        // libvirt hands the XML to its parser as a C string: it ends at the first NUL.
        let xml = c_string(xml).map(str::to_owned).ok_or_else(|| {
            Error::new(
                VIR_ERR_INTERNAL_ERROR,
                VIR_FROM_TEST,
                format!("domain XML in '{shown}' is not valid UTF-8"),
            )
        })?;
        let was_running = match bytes.get(HEADER + len..) {
            Some([state @ .., flag]) if state == STATE_MAGIC => Some(*flag != 0),
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
        let mut out = Vec::with_capacity(HEADER + self.xml.len() + TRAILER);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&len.to_ne_bytes());
        out.extend_from_slice(self.xml.as_bytes());
        if let Some(running) = self.was_running {
            out.extend_from_slice(STATE_MAGIC);
            out.push(u8::from(running));
        }
        Ok(out)
    }

    /// Writes the image to `path`. A regular file (or a new one, mode 0600) is replaced
    /// whole or not at all (see [`files`]); a device or a FIFO with a reader is written in
    /// place, as libvirt does, and never removed. `what` opens the message of a failure
    /// ("saving domain 'test' to '/x'").
    pub fn write(&self, path: &Path, what: &str) -> Result<()> {
        let bytes = self.encode()?;
        let failed = |step: &str, e: io::Error| {
            Error::system(VIR_FROM_TEST, &e, format!("{what}: {step} failed"))
        };
        match Output::resolve(path).map_err(|e| failed("open", e))? {
            Output::InPlace(device) => Output::open_in_place(&device)
                .map_err(|e| failed("open", e))?
                .write_all(&bytes)
                .map_err(|e| failed("write", e)),
            Output::Replace(target) => {
                let new = Replacement::create(&target).map_err(|e| failed("open", e))?;
                new.file()
                    .write_all(&bytes)
                    .map_err(|e| failed("write", e))?;
                new.commit(false).map_err(|e| failed("write", e))
            }
        }
    }
}

/// The text of `bytes` up to the first NUL, if that much is UTF-8. The bytes are checked
/// as UTF-8 first so that the NUL is looked for with `str::find`'s fast search rather
/// than byte by byte.
fn c_string(bytes: &[u8]) -> Option<&str> {
    let valid = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).ok()?,
    };
    match valid.find('\0') {
        Some(nul) => Some(&valid[..nul]),
        None => (valid.len() == bytes.len()).then_some(valid),
    }
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
        let img = Image {
            xml: "<domain/>".into(),
            was_running: None,
        };
        let bytes = img.encode().unwrap();
        assert_eq!(&bytes[..15], b"TestGuestMagic\0");
        assert_eq!(&bytes[15..19], &9i32.to_ne_bytes());
        assert_eq!(&bytes[19..], b"<domain/>");
    }

    #[test]
    fn round_trip_keeps_the_chosen_state() {
        for state in [None, Some(true), Some(false)] {
            let path = tmp(&format!("rt-{state:?}"));
            let img = Image {
                xml: "<domain type='test'/>".into(),
                was_running: state,
            };
            img.write(&path, "saving").unwrap();
            assert_eq!(Image::read(&path).unwrap(), img);
            assert_eq!(Image::parse(&img.encode().unwrap(), &path).unwrap(), img);
        }
    }

    #[test]
    fn bad_images_get_libvirts_errors() {
        let cases: &[(&str, &[u8], &str)] = &[
            ("empty", b"", "incomplete save header in '{}': Success"),
            (
                "magic",
                b"TestGuestMagiX\0\x01\0\0\0x",
                "internal error: mismatched header magic",
            ),
            (
                "len",
                b"TestGuestMagic\0\x01\0",
                "failed to read metadata length in '{}': Success",
            ),
            (
                "zero",
                b"TestGuestMagic\0\0\0\0\0",
                "internal error: length of metadata out of range",
            ),
            (
                "huge",
                b"TestGuestMagic\0\x01\x20\0\0",
                "internal error: length of metadata out of range",
            ),
            (
                "neg",
                b"TestGuestMagic\0\xff\xff\xff\xff",
                "internal error: length of metadata out of range",
            ),
            (
                "short",
                b"TestGuestMagic\0\x05\0\0\0<do",
                "incomplete metadata in '{}': Success",
            ),
        ];
        for (name, bytes, msg) in cases {
            let path = tmp(name);
            std::fs::write(&path, bytes).unwrap();
            let err = Image::read(&path).unwrap_err();
            assert_eq!(
                err.message,
                msg.replace("{}", &path.display().to_string()),
                "{name}"
            );
            assert_eq!(err.domain, VIR_FROM_TEST);
        }
        let err = Image::read(&tmp("missing")).unwrap_err();
        assert_eq!(err.code, VIR_ERR_SYSTEM_ERROR);
        assert!(err.message.ends_with("No such file or directory"));
    }

    #[test]
    fn fifos_and_devices_read_as_bad_images() {
        let fifo = tmp("fifo");
        let _ = std::fs::remove_file(&fifo);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRUSR).unwrap();
        // In a thread, so that a read that blocks fails the test rather than hanging it.
        let (tx, rx) = std::sync::mpsc::channel();
        let path = fifo.clone();
        std::thread::spawn(move || tx.send(Image::read(&path).map_err(|e| e.message)));
        let got = rx.recv_timeout(std::time::Duration::from_secs(10));
        let want = format!("incomplete save header in '{}': Success", fifo.display());
        assert_eq!(got, Ok(Err(want)));
        // As libvirt 9.0 reports them.
        for (device, message) in [
            (
                "/dev/null",
                "incomplete save header in '/dev/null': Success",
            ),
            ("/dev/zero", "internal error: mismatched header magic"),
        ] {
            let err = Image::read(Path::new(device)).unwrap_err();
            assert_eq!(err.message, message);
        }
    }

    #[test]
    fn failed_writes_leave_no_file() {
        let err = Image {
            xml: "x".repeat(MAX_XML + 1),
            was_running: None,
        }
        .write(&tmp("big"), "saving")
        .unwrap_err();
        assert_eq!(err.code, VIR_ERR_INTERNAL_ERROR);
        assert!(!tmp("big").exists());
    }
}
