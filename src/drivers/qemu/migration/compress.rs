//! Compressed saves: with `save_image_format` set in `qemu.conf`, libvirt pipes QEMU's
//! migration stream through `gzip -c`, `bzip2 -c` or `xz -c` (and, after 9.0, `zstd -c`)
//! into the image, after the padding. virshim compresses in process, in the pump's sink
//! thread, at the level those programs default to; xz and zstd on every core, as `xz -T0`
//! and `zstd -T0` would (the stream stays one file any `xz -d`/`zstd -d` reads).

use std::fs::File;
use std::io::{self, BufWriter, Write};

use liblzma::stream::{Check, MtStreamBuilder};

use super::super::image::Format;
use crate::abi::virErrorDomain::VIR_FROM_QEMU;
use crate::abi::virErrorNumber::VIR_ERR_OPERATION_UNSUPPORTED;
use crate::{Error, Result};

/// How much compressed output is gathered before each write to the disk.
const OUTPUT_BUFFER: usize = 1 << 20;
/// The levels of `gzip`, `bzip2` and `xz` when none is given.
const GZIP_LEVEL: u32 = 6;
const BZIP2_LEVEL: u32 = 9;
const XZ_PRESET: u32 = 6;
const ZSTD_LEVEL: i32 = 3;

/// A compressor of the stream, writing into the image.
pub(super) trait Encoder: Write + Send {
    /// Writes what the compressor still holds and its trailer.
    fn finish(self: Box<Self>) -> io::Result<()>;
}

impl Encoder for flate2::write::GzEncoder<BufWriter<File>> {
    fn finish(self: Box<Self>) -> io::Result<()> {
        flate2::write::GzEncoder::finish(*self)?.flush()
    }
}

impl Encoder for bzip2::write::BzEncoder<BufWriter<File>> {
    fn finish(self: Box<Self>) -> io::Result<()> {
        bzip2::write::BzEncoder::finish(*self)?.flush()
    }
}

impl Encoder for zstd::stream::write::Encoder<'static, BufWriter<File>> {
    fn finish(self: Box<Self>) -> io::Result<()> {
        zstd::stream::write::Encoder::finish(*self)?.flush()
    }
}

impl Encoder for liblzma::write::XzEncoder<BufWriter<File>> {
    fn finish(self: Box<Self>) -> io::Result<()> {
        liblzma::write::XzEncoder::finish(*self)?.flush()
    }
}

/// Whether saves can be written in `format`: raw, gzip, bzip2, xz (not lzop: no
/// LZO compressor fits virshim's licence).
pub fn check_writable(format: Format) -> Result<()> {
    match format {
        Format::Lzop => Err(Error::new(
            VIR_ERR_OPERATION_UNSUPPORTED,
            VIR_FROM_QEMU,
            "virshim cannot write lzop save images (save_image_format in qemu.conf)",
        )),
        _ => Ok(()),
    }
}

/// A compressor for `format` (not raw) writing into `out`, positioned where the stream
/// starts.
pub(super) fn encoder(format: Format, out: File) -> Result<Box<dyn Encoder>> {
    check_writable(format)?;
    let out = BufWriter::with_capacity(OUTPUT_BUFFER, out);
    Ok(match format {
        Format::Gzip => Box::new(flate2::write::GzEncoder::new(
            out,
            flate2::Compression::new(GZIP_LEVEL),
        )),
        Format::Bzip2 => Box::new(bzip2::write::BzEncoder::new(
            out,
            bzip2::Compression::new(BZIP2_LEVEL),
        )),
        Format::Xz => {
            let stream = MtStreamBuilder::new()
                .preset(XZ_PRESET)
                .check(Check::Crc64)
                .threads(cores())
                .encoder()
                .map_err(|e| cannot_start("xz", e))?;
            Box::new(liblzma::write::XzEncoder::new_stream(out, stream))
        }
        Format::Zstd => {
            let mut encoder = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL)
                .map_err(|e| cannot_start("zstd", e))?;
            encoder
                .multithread(cores())
                .and_then(|()| encoder.include_checksum(true))
                .map_err(|e| cannot_start("zstd", e))?;
            Box::new(encoder)
        }
        Format::Raw | Format::Lzop => {
            return Err(Error::internal(format!(
                "no compressor for {} save images",
                format.name()
            )))
        }
    })
}

/// The threads a parallel compressor uses: one a core.
fn cores() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(1))
}

fn cannot_start(what: &str, e: impl std::fmt::Display) -> Error {
    Error::internal(format!("cannot start the {what} compressor: {e}"))
}
