//! The save image of libvirt's QEMU driver: a 92-byte header, the domain XML and a cookie
//! (both NUL-terminated) with zero padding up to the header's data length, then QEMU's
//! migration stream.
//!
//! The header is written in host byte order with the "partial" magic until the stream is
//! complete and on disk, then finished with the final magic, so a half-written image is
//! never taken for a whole one. The padding (64 KiB at first save) lets the XML grow when
//! the image is redefined in place.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::abi::virErrorDomain::VIR_FROM_QEMU;
use crate::abi::virErrorNumber::VIR_ERR_OPERATION_FAILED;
use crate::{Error, Result};

/// The magic of a complete image.
pub const MAGIC: &[u8; 16] = b"LibvirtQemudSave";
/// The magic of an image whose stream is not complete yet.
pub const MAGIC_PARTIAL: &[u8; 16] = b"LibvirtQemudPart";
/// The header version virshim writes and the newest it reads.
pub const VERSION: u32 = 2;
/// The header's size.
pub const HEADER_LEN: usize = 92;
/// The room left after the XML and the cookie at first save, for later edits.
pub const PADDING: u32 = 64 * 1024;
/// The largest data section (XML, cookie, padding) virshim reads: far above any real
/// domain XML, and a bound on what a corrupt header can make it allocate.
const MAX_DATA_LEN: u32 = 16 << 20;

/// How the migration stream is stored (libvirt's `virQEMUSaveFormat`): libvirt 9.0's
/// five, and zstd as libvirt writes it since (value 5, `save_image_format = "zstd"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::FromRepr)]
pub enum Format {
    Raw = 0,
    Gzip = 1,
    Bzip2 = 2,
    Xz = 3,
    Lzop = 4,
    Zstd = 5,
}

impl Format {
    /// The format a header's `format` field names, if libvirt 9.0 knows it.
    pub fn of(raw: u32) -> Option<Format> {
        Format::from_repr(usize::try_from(raw).ok()?)
    }

    /// The format `save_image_format` names, if libvirt 9.0 knows it.
    pub fn named(name: &str) -> Option<Format> {
        (0..)
            .map_while(Format::from_repr)
            .find(|f| f.name() == name)
    }

    /// libvirt's name of the format, as `save_image_format` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Gzip => "gzip",
            Format::Bzip2 => "bzip2",
            Format::Xz => "xz",
            Format::Lzop => "lzop",
            Format::Zstd => "zstd",
        }
    }
}

/// The header's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub complete: bool,
    pub version: u32,
    /// Bytes between the header and the stream: XML, cookie, padding.
    pub data_len: u32,
    pub was_running: bool,
    /// `virQEMUSaveFormat` as stored; see [`Format`].
    pub format: u32,
    /// Where the cookie starts within the data section; 0 when there is none.
    pub cookie_offset: u32,
}

/// What an image says about the domain: the header, the XML and the cookie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaveImage {
    pub header: Header,
    pub xml: String,
    pub cookie: Option<String>,
}

fn failed(detail: impl Into<String>) -> Error {
    Error::new(VIR_ERR_OPERATION_FAILED, VIR_FROM_QEMU, detail)
}

impl Header {
    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..16].copy_from_slice(if self.complete { MAGIC } else { MAGIC_PARTIAL });
        let fields = [
            self.version,
            self.data_len,
            u32::from(self.was_running),
            self.format,
            self.cookie_offset,
        ];
        for (i, v) in fields.iter().enumerate() {
            out[16 + 4 * i..20 + 4 * i].copy_from_slice(&v.to_ne_bytes());
        }
        out
    }

    /// Reads a header with libvirt's checks; an image written on a host of the other byte
    /// order is read by swapping, as libvirt does when the version looks too large.
    fn decode(raw: &[u8; HEADER_LEN]) -> Result<Header> {
        let magic = &raw[..16];
        if magic == MAGIC_PARTIAL {
            return Err(failed("save image is incomplete"));
        }
        if magic != MAGIC {
            return Err(failed("image magic is incorrect"));
        }
        let field =
            |i: usize| u32::from_ne_bytes(raw[16 + 4 * i..20 + 4 * i].try_into().expect("4 bytes"));
        let mut fields = [field(0), field(1), field(2), field(3), field(4)];
        if fields[0] > VERSION {
            fields = fields.map(u32::swap_bytes);
            if fields[0] > VERSION {
                return Err(failed(format!(
                    "image version is not supported ({} > {VERSION})",
                    fields[0] as i32
                )));
            }
        }
        let [version, data_len, was_running, format, cookie_offset] = fields;
        if data_len as i32 <= 0 {
            return Err(failed(format!(
                "invalid header data length: {}",
                data_len as i32
            )));
        }
        Ok(Header {
            complete: true,
            version,
            data_len,
            was_running: was_running != 0,
            format,
            cookie_offset,
        })
    }
}

impl SaveImage {
    /// A new image's metadata: the data section holds the XML, the cookie and 64 KiB of
    /// padding.
    pub fn new(xml: String, cookie: Option<String>, was_running: bool) -> SaveImage {
        let xml_len = xml.len() as u32 + 1;
        let cookie_len = cookie.as_ref().map_or(0, |c| c.len() as u32 + 1);
        SaveImage {
            header: Header {
                complete: false,
                version: VERSION,
                data_len: xml_len + cookie_len + PADDING,
                was_running,
                format: Format::Raw as u32,
                cookie_offset: if cookie.is_some() { xml_len } else { 0 },
            },
            xml,
            cookie,
        }
    }

    /// Where the migration stream starts.
    pub fn stream_offset(&self) -> u64 {
        HEADER_LEN as u64 + u64::from(self.header.data_len)
    }

    /// Header and data section, padded to the header's data length; fails when the XML
    /// and cookie do not fit in it.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.stream_offset() as usize);
        out.extend_from_slice(&self.header.encode());
        out.extend_from_slice(self.xml.as_bytes());
        out.push(0);
        if let Some(cookie) = &self.cookie {
            out.extend_from_slice(cookie.as_bytes());
            out.push(0);
        }
        let end = self.stream_offset() as usize;
        if out.len() > end {
            return Err(failed("new xml too large to fit in file"));
        }
        out.resize(end, 0);
        Ok(out)
    }

    /// Reads the header, XML and cookie of the image open as `file`: never more than the
    /// data section, whatever the size of the stream behind it.
    pub fn read(file: &File) -> Result<SaveImage> {
        SaveImage::read_from(file)
    }

    /// [`SaveImage::read`] on an image's bytes in memory.
    pub fn parse(bytes: &[u8]) -> Result<SaveImage> {
        SaveImage::read_from(bytes)
    }

    fn read_from(source: &(impl ReadAt + ?Sized)) -> Result<SaveImage> {
        let mut raw = [0u8; HEADER_LEN];
        source
            .read_exact_at(&mut raw, 0)
            .map_err(|_| failed("failed to read qemu header"))?;
        let header = Header::decode(&raw)?;
        let (xml_len, cookie_len) = match header.cookie_offset {
            0 => (header.data_len, 0),
            at => (at, header.data_len.saturating_sub(at)),
        };
        let xml = read_c_string(source, HEADER_LEN as u64, xml_len)
            .ok_or_else(|| failed("failed to read domain XML"))?;
        let cookie = match header.cookie_offset {
            0 => None,
            at => Some(
                read_c_string(source, HEADER_LEN as u64 + u64::from(at), cookie_len)
                    .ok_or_else(|| failed("failed to read cookie"))?,
            ),
        };
        Ok(SaveImage {
            header,
            xml,
            cookie,
        })
    }

    /// Opens and reads the image at `path`, as libvirt does before any use of it.
    pub fn open(path: &Path) -> Result<(File, SaveImage)> {
        let file = crate::drivers::files::open_read(path).map_err(|e| open_error(&e, path))?;
        let image = SaveImage::read(&file)?;
        Ok((file, image))
    }

    /// Writes header and data at the start of `file` (the stream, if any, is untouched).
    pub fn write_at_start(&self, file: &File) -> Result<()> {
        let bytes = self.encode()?;
        file.write_all_at(&bytes, 0).map_err(|e| {
            Error::system(
                VIR_FROM_QEMU,
                &e,
                "failed to write header to domain save file",
            )
        })
    }
}

/// What an image is read from: its file, or its bytes (for the fuzz target).
trait ReadAt {
    fn size(&self) -> io::Result<u64>;
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
}

impl ReadAt for File {
    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }
}

impl ReadAt for [u8] {
    fn size(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let at = usize::try_from(offset).unwrap_or(usize::MAX);
        let part = self
            .get(at..)
            .and_then(|rest| rest.get(..buf.len()))
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(part);
        Ok(())
    }
}

/// The text of the `len` bytes at `offset`, up to its first NUL, or None when the source
/// is shorter, the length beyond reason, or the text not UTF-8.
fn read_c_string(source: &(impl ReadAt + ?Sized), offset: u64, len: u32) -> Option<String> {
    let size = source.size().ok()?;
    if len > MAX_DATA_LEN || offset + u64::from(len) > size {
        return None;
    }
    let mut buf = vec![0u8; len as usize];
    source.read_exact_at(&mut buf, offset).ok()?;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    buf.truncate(end);
    String::from_utf8(buf).ok()
}

/// libvirt's error for an image it cannot open.
pub fn open_error(e: &io::Error, path: &Path) -> Error {
    Error::system(
        VIR_FROM_QEMU,
        e,
        format!("Failed to open file '{}'", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(bytes: &[u8]) -> File {
        let path = std::env::temp_dir().join(format!(
            "virshim-qemu-image-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::File::create(&path)
            .unwrap()
            .write_all(bytes)
            .unwrap();
        let f = File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        f
    }

    fn complete(xml: &str, cookie: Option<&str>) -> SaveImage {
        let mut img = SaveImage::new(xml.into(), cookie.map(Into::into), true);
        img.header.complete = true;
        img
    }

    #[test]
    fn layout_is_libvirts() {
        // A real libvirt 9.0 image: XML of 793 bytes with its NUL, cookie of 236.
        let img = complete(&"x".repeat(792), Some(&"c".repeat(235)));
        assert_eq!(img.header.data_len, 66565);
        assert_eq!(img.header.cookie_offset, 793);
        let bytes = img.encode().unwrap();
        assert_eq!(&bytes[..16], MAGIC);
        assert_eq!(&bytes[16..20], &2u32.to_ne_bytes());
        assert_eq!(&bytes[20..24], &66565u32.to_ne_bytes());
        assert_eq!(&bytes[24..28], &1u32.to_ne_bytes());
        assert_eq!(&bytes[28..32], &0u32.to_ne_bytes());
        assert_eq!(&bytes[32..36], &793u32.to_ne_bytes());
        assert!(bytes[36..92].iter().all(|&b| b == 0));
        assert_eq!(bytes[92 + 792], 0);
        assert_eq!(bytes.len() as u64, img.stream_offset());
        assert_eq!(img.stream_offset(), 92 + 66565);
    }

    #[test]
    fn round_trip_ignores_the_stream() {
        let img = complete("<domain/>", Some("<cookie/>"));
        let mut bytes = img.encode().unwrap();
        bytes.extend_from_slice(b"QEVM\0\0\0\x03 and the rest of a stream");
        assert_eq!(SaveImage::read(&file_with(&bytes)).unwrap(), img);
        assert_eq!(SaveImage::parse(&bytes).unwrap(), img);
        let bare = complete("<domain/>", None);
        assert_eq!(
            SaveImage::read(&file_with(&bare.encode().unwrap())).unwrap(),
            bare
        );
    }

    #[test]
    fn partial_and_foreign_images_are_refused_with_libvirts_words() {
        let img = complete("<domain/>", None);
        let mut partial = img.clone();
        partial.header.complete = false;
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "operation failed: failed to read qemu header"),
            (
                img.encode().unwrap()[..50].to_vec(),
                "operation failed: failed to read qemu header",
            ),
            (
                partial.encode().unwrap(),
                "operation failed: save image is incomplete",
            ),
            (
                [
                    b"TestGuestMagic\0\0".as_slice(),
                    &img.encode().unwrap()[16..],
                ]
                .concat(),
                "operation failed: image magic is incorrect",
            ),
            (
                img.encode().unwrap()[..200].to_vec(),
                "operation failed: failed to read domain XML",
            ),
        ];
        for (bytes, message) in cases {
            let err = SaveImage::read(&file_with(&bytes)).unwrap_err();
            assert_eq!(
                (err.code, err.domain),
                (VIR_ERR_OPERATION_FAILED, VIR_FROM_QEMU)
            );
            assert_eq!(err.message, message);
        }
    }

    #[test]
    fn versions_and_lengths_are_checked() {
        let mut bytes = complete("<domain/>", None).encode().unwrap();
        bytes[16..20].copy_from_slice(&3u32.to_ne_bytes());
        let err = SaveImage::read(&file_with(&bytes)).unwrap_err();
        assert_eq!(
            err.message,
            "operation failed: image version is not supported (50331648 > 2)"
        );

        let mut swapped = complete("<domain/>", None).encode().unwrap();
        for field in 0..5 {
            let at = 16 + 4 * field;
            let v = u32::from_ne_bytes(swapped[at..at + 4].try_into().unwrap());
            swapped[at..at + 4].copy_from_slice(&v.swap_bytes().to_ne_bytes());
        }
        assert_eq!(
            SaveImage::read(&file_with(&swapped)).unwrap().xml,
            "<domain/>"
        );

        let mut zero = complete("<domain/>", None).encode().unwrap();
        zero[20..24].copy_from_slice(&0u32.to_ne_bytes());
        let err = SaveImage::read(&file_with(&zero)).unwrap_err();
        assert_eq!(
            err.message,
            "operation failed: invalid header data length: 0"
        );

        let mut huge = complete("<domain/>", None).encode().unwrap();
        huge[20..24].copy_from_slice(&0x7fff_0000u32.to_ne_bytes());
        let err = SaveImage::read(&file_with(&huge)).unwrap_err();
        assert_eq!(err.message, "operation failed: failed to read domain XML");
    }

    #[test]
    fn fifos_and_devices_read_as_bad_images() {
        let fifo = std::env::temp_dir().join(format!("virshim-qemu-fifo-{}", std::process::id()));
        let _ = std::fs::remove_file(&fifo);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRUSR).unwrap();
        // In a thread, so that an open that blocks fails the test rather than hanging it.
        let (tx, rx) = std::sync::mpsc::channel();
        let path = fifo.clone();
        std::thread::spawn(move || {
            tx.send(SaveImage::open(&path).map(|_| ()).map_err(|e| e.message))
        });
        let got = rx.recv_timeout(std::time::Duration::from_secs(10));
        std::fs::remove_file(&fifo).unwrap();
        let header = "operation failed: failed to read qemu header";
        assert_eq!(got, Ok(Err(header.to_owned())));
        for (device, message) in [
            ("/dev/null", header),
            ("/dev/zero", "operation failed: image magic is incorrect"),
        ] {
            let err = SaveImage::open(Path::new(device)).unwrap_err();
            assert_eq!(err.message, message);
        }
    }

    #[test]
    fn a_redefinition_must_fit_the_data_section() {
        let mut img = complete("<domain/>", Some("<cookie/>"));
        img.xml = "y".repeat(PADDING as usize + 100);
        assert_eq!(
            img.encode().unwrap_err().message,
            "operation failed: new xml too large to fit in file"
        );
    }
}
