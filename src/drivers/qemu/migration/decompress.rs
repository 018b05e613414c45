//! Compressed save images: a libvirt host with `save_image_format` set pipes the migration
//! stream through gzip, bzip2, xz or lzop, and the compressed stream follows the image's
//! padding ([`super::lzop`] reads lzop's container). A restore decompresses it in process,
//! in the pump's source thread, into the socket QEMU reads.

use std::fs::File;
use std::io::{self, BufReader, Read};

use super::super::direct_io::AlignedBuf;
use super::super::image::Format;
use super::lzop::LzopDecoder;
use crate::{Error, Result};

/// How much compressed input each read from the disk takes.
const INPUT_BUFFER: usize = 1 << 20;

/// A reader of the decompressed stream of a `format` image, from `input` positioned at
/// the stream's start.
pub(super) fn decoder(format: Format, input: File) -> Result<Box<dyn Read + Send>> {
    let input = BufReader::with_capacity(INPUT_BUFFER, input);
    Ok(match format {
        Format::Raw => Box::new(input),
        // `gzip -c` writes one member; any further ones (a concatenation) follow on.
        Format::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Format::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(input)),
        Format::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(input)),
        Format::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(input)
                .map_err(|e| Error::internal(format!("cannot start the zstd decoder: {e}")))?,
        ),
        Format::Lzop => Box::new(LzopDecoder::new(input)),
    })
}

/// Fills `buf` from `decoder` until it is full (`Ok(true)`) or the stream ends
/// (`Ok(false)`), as a pump's source does.
pub(super) fn fill(decoder: &mut dyn Read, buf: &mut AlignedBuf) -> io::Result<bool> {
    while !buf.is_full() {
        match decoder.read(buf.spare()) {
            Ok(0) => return Ok(false),
            Ok(n) => buf.advance(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(corrupt(e)),
        }
    }
    Ok(true)
}

/// A decoder's complaint, said as what it is: the compressed stream is damaged.
fn corrupt(e: io::Error) -> io::Error {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the compressed migration stream is truncated",
        ),
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::Other => {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the compressed migration stream is corrupt: {e}"),
            )
        }
        _ => e,
    }
}

#[cfg(test)]
mod tests {
    use super::super::lzop::tests::{data as lzop_data, sample};
    use super::*;
    use std::io::{Seek, SeekFrom, Write};

    /// `data` through virshim's own compressor for `format` (raw: as it is), so that each
    /// format is read back from what virshim writes.
    fn compressed(format: Format, data: &[u8]) -> Vec<u8> {
        if format == Format::Raw {
            return data.to_vec();
        }
        let mut file = anonymous_file();
        let mut encoder =
            super::super::compress::encoder(format, file.try_clone().unwrap()).unwrap();
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap();
        let mut out = Vec::new();
        file.seek(SeekFrom::Start(0)).unwrap();
        file.read_to_end(&mut out).unwrap();
        out
    }

    fn file_with(prefix: &[u8], stream: &[u8]) -> File {
        let mut f = anonymous_file();
        f.write_all(prefix).unwrap();
        f.write_all(stream).unwrap();
        f.seek(SeekFrom::Start(prefix.len() as u64)).unwrap();
        f
    }

    fn anonymous_file() -> File {
        let dir = std::env::temp_dir();
        let path = dir.join(format!(
            "virshim-decompress-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let f = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        f
    }

    fn decoded(format: Format, file: File) -> io::Result<Vec<u8>> {
        let mut d = decoder(format, file).unwrap();
        let mut out = Vec::new();
        loop {
            let mut buf = AlignedBuf::new(4096);
            let more = fill(&mut *d, &mut buf)?;
            out.extend_from_slice(buf.payload());
            if !more {
                return Ok(out);
            }
        }
    }

    #[test]
    fn each_format_decompresses_after_the_padding() {
        let stream: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for format in [
            Format::Raw,
            Format::Gzip,
            Format::Bzip2,
            Format::Xz,
            Format::Zstd,
        ] {
            let file = file_with(b"QEVM-header-and-padding", &compressed(format, &stream));
            assert_eq!(decoded(format, file).unwrap(), stream, "{format:?}");
        }
        // What `lzop -c` wrote (lzop's own tests have every way of calling it).
        let file = file_with(b"QEVM-header-and-padding", &sample("default"));
        assert_eq!(decoded(Format::Lzop, file).unwrap(), lzop_data());
    }

    #[test]
    fn damaged_streams_are_said_to_be() {
        // Little to compress, so that the middle of the compressed stream is data.
        let stream: Vec<u8> = (0..300_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        for format in [Format::Gzip, Format::Bzip2, Format::Xz, Format::Zstd] {
            let whole = compressed(format, &stream);
            let cut = decoded(format, file_with(b"", &whole[..whole.len() / 2])).unwrap_err();
            assert!(cut.to_string().contains("truncated"), "{format:?}: {cut}");
            let mut bad = whole.clone();
            let middle = bad.len() / 2;
            bad[middle..middle + 16].fill(0x55);
            let err = decoded(format, file_with(b"", &bad)).unwrap_err();
            assert!(
                err.to_string().contains("compressed migration stream"),
                "{format:?}: {err}"
            );
        }
        let lzop = sample("default");
        let cut = decoded(Format::Lzop, file_with(b"", &lzop[..lzop.len() / 2])).unwrap_err();
        assert!(cut.to_string().contains("truncated"), "{cut}");
        let bad = decoded(Format::Lzop, file_with(b"", &lzop[1..])).unwrap_err();
        assert_eq!(
            bad.to_string(),
            "the compressed migration stream is corrupt: no lzop magic at its start"
        );
        let filtered = decoded(Format::Lzop, file_with(b"", &sample("filter"))).unwrap_err();
        assert!(
            filtered.to_string().contains("virshim cannot read"),
            "{filtered}"
        );
    }
}
