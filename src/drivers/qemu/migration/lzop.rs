//! lzop's file format, as `lzop -c` writes it for libvirt's `save_image_format = "lzop"`,
//! read as a stream. No maintained crate reads the container, so it is parsed here; the
//! LZO1X blocks inside are decoded by the `lzo` crate.
//!
//! A file is one or more members, each: the magic, a header (big-endian: version, library
//! version, version needed to extract, method, level, flags, optional filter, mode, mtime,
//! name, then an Adler-32 or CRC-32 of those fields, and an optional extra field with its
//! own checksum), then blocks, each its uncompressed length (0 ends the member), its
//! compressed length (equal: the block is stored as is), the checksums the flags announce
//! and the data. Everything read is bounded by lzop's block size ([`MAX_BLOCK`]), and
//! every checksum the flags announce is verified.

use std::io::{self, Read};

use adler2::Adler32;
use crc32fast::Hasher as Crc32;

/// What every lzop member starts with.
const MAGIC: [u8; 9] = *b"\x89LZO\x00\r\n\x1a\n";

/// lzop's block size: the largest block it writes, and the largest read here, so that a
/// member's stated length never decides how much memory is taken.
pub const MAX_BLOCK: usize = 256 * 1024;

// The header's flags (lzop 1.04's meanings).
/// Each block carries the Adler-32 of its uncompressed data.
const ADLER32_D: u32 = 0x0001;
/// Each compressed block carries the Adler-32 of its compressed data.
const ADLER32_C: u32 = 0x0002;
/// An extra field, with its own checksum, follows the header.
const EXTRA_FIELD: u32 = 0x0040;
/// Each block carries the CRC-32 of its uncompressed data.
const CRC32_D: u32 = 0x0100;
/// Each compressed block carries the CRC-32 of its compressed data.
const CRC32_C: u32 = 0x0200;
/// Part of a split file: lzop itself never implemented reading them.
const MULTIPART: u32 = 0x0400;
/// The data went through one of lzop's filters before compression.
const FILTER: u32 = 0x0800;
/// The header's checksum is a CRC-32, not an Adler-32.
const HEADER_CRC32: u32 = 0x1000;
/// Bits that must be zero: all but the flags (0x3fff), the creator's OS (0xff000000) and
/// the name's character set (0x00f00000).
const RESERVED: u32 = !(0x3fff | 0xff00_0000 | 0x00f0_0000);

/// lzop 0.90, the first public version: no file states an older one.
const FIRST_VERSION: u16 = 0x0900;
/// From lzop 0.94 on, the header carries the version needed to extract, the level and the
/// mtime's high half.
const LONG_HEADER: u16 = 0x0940;
/// lzop 1.04, the newest: a member needing a later version has features unknown here.
const NEWEST_VERSION: u16 = 0x1040;

/// A reader of the data inside an lzop stream.
pub struct LzopDecoder<R> {
    input: R,
    state: State,
    /// The current member's header flags.
    flags: u32,
    /// The current block's compressed data (at most [`MAX_BLOCK`] bytes).
    packed: Vec<u8>,
    /// The current block's data (at most [`MAX_BLOCK`] bytes), handed out from `pos`.
    block: Vec<u8>,
    pos: usize,
}

/// Where in the stream the decoder is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first member.
    Start,
    /// Among a member's blocks.
    Blocks,
    /// After a member's end: another member, zero bytes or the end of the input follow.
    Between,
    /// The whole stream read.
    Done,
    /// An error ended the stream: reading on would hand out what no checksum vouched for.
    Failed,
}

impl<R: Read> LzopDecoder<R> {
    /// A decoder of the lzop stream `input` starts with.
    pub fn new(input: R) -> Self {
        LzopDecoder {
            input,
            state: State::Start,
            flags: 0,
            packed: Vec::new(),
            block: Vec::new(),
            pos: 0,
        }
    }

    /// Makes the next block current; false at the end of the stream.
    fn next_block(&mut self) -> io::Result<bool> {
        loop {
            match self.state {
                State::Start => {
                    let mut magic = [0; MAGIC.len()];
                    self.input.read_exact(&mut magic)?;
                    if magic != MAGIC {
                        return Err(corrupt("no lzop magic at its start"));
                    }
                    self.header()?;
                }
                State::Between => {
                    if !self.another_member()? {
                        self.state = State::Done;
                        return Ok(false);
                    }
                    self.header()?;
                }
                State::Blocks => {
                    if self.block()? {
                        return Ok(true);
                    }
                    self.state = State::Between;
                }
                State::Done => return Ok(false),
                State::Failed => return Err(corrupt("an earlier error ended the lzop stream")),
            }
        }
    }

    /// Reads a member's header (after its magic), and checks that its blocks can be read.
    fn header(&mut self) -> io::Result<()> {
        let mut fields = Summed::new(&mut self.input);
        let version = fields.u16()?;
        if version < FIRST_VERSION {
            return Err(corrupt(format!(
                "its lzop header states version {version:#06x}, before any lzop"
            )));
        }
        let _library_version = fields.u16()?;
        let long = version >= LONG_HEADER;
        if long {
            let needed = fields.u16()?;
            if needed > NEWEST_VERSION {
                return Err(unsupported(format!(
                    "needs lzop {}.{:03x} to extract",
                    needed >> 12,
                    needed & 0xfff
                )));
            }
            if needed < FIRST_VERSION {
                return Err(corrupt(format!(
                    "its lzop header needs version {needed:#06x}, before any lzop"
                )));
            }
        }
        let method = fields.u8()?;
        if long {
            let _level = fields.u8()?;
        }
        let flags = fields.u32()?;
        if flags & FILTER != 0 {
            let _filter = fields.u32()?;
        }
        let _mode = fields.u32()?;
        let _mtime_low = fields.u32()?;
        if long {
            let _mtime_high = fields.u32()?;
        }
        let name = fields.u8()?;
        fields.skip(name.into())?;
        fields.check(flags, "header")?;
        // lzop's order: a damaged header is said to be damaged before anything it states.
        if !(1..=3).contains(&method) {
            return Err(unsupported(format!(
                "is lzop with method {method}, not LZO1X"
            )));
        }
        if flags & RESERVED != 0 {
            return Err(corrupt(format!(
                "its lzop header has reserved flags set ({flags:#010x})"
            )));
        }
        if flags & FILTER != 0 {
            return Err(unsupported("is lzop with a filter"));
        }
        if flags & MULTIPART != 0 {
            return Err(unsupported("is part of a split lzop file"));
        }
        if flags & EXTRA_FIELD != 0 {
            // Unused by lzop; its checksum covers its length too.
            let mut extra = Summed::new(&mut self.input);
            let length = extra.u32()?;
            extra.skip(length.into())?;
            extra.check(flags, "header's extra field")?;
        }
        self.flags = flags;
        self.state = State::Blocks;
        Ok(())
    }

    /// Decodes the next block of a member into `self.block`; false at the member's end.
    fn block(&mut self) -> io::Result<bool> {
        self.block.clear();
        self.pos = 0;
        let length = block_length(read_u32(&mut self.input)?)?;
        if length == 0 {
            return Ok(false);
        }
        let packed = block_length(read_u32(&mut self.input)?)?;
        if packed == 0 || packed > length {
            return Err(corrupt(format!(
                "an lzop block of {length} bytes states {packed} compressed bytes"
            )));
        }
        let data_sums = self.sums(ADLER32_D, CRC32_D)?;
        if packed == length {
            // Stored as is: no compressed data to sum apart from the data.
            self.block.resize(length, 0);
            self.input.read_exact(&mut self.block)?;
        } else {
            let packed_sums = self.sums(ADLER32_C, CRC32_C)?;
            self.packed.resize(packed, 0);
            self.input.read_exact(&mut self.packed)?;
            packed_sums.verify(&self.packed, "compressed")?;
            self.block.resize(length, 0);
            let n = lzo::decompress_into(&self.packed, &mut self.block)
                .map_err(|e| corrupt(format!("an lzop block does not decompress ({e})")))?;
            if n != length {
                return Err(corrupt(format!(
                    "an lzop block of {length} bytes decompresses to {n}"
                )));
            }
        }
        data_sums.verify(&self.block, "uncompressed")?;
        Ok(true)
    }

    /// The checksums of a block that the member's flags announce, `adler` and `crc` the
    /// flags for the data they sum.
    fn sums(&mut self, adler: u32, crc: u32) -> io::Result<Sums> {
        let mut read_if = |flag| match self.flags & flag {
            0 => Ok(None),
            _ => read_u32(&mut self.input).map(Some),
        };
        Ok(Sums {
            adler32: read_if(adler)?,
            crc32: read_if(crc)?,
        })
    }

    /// After a member's end: whether another member follows (its magic read). Zero bytes
    /// up to the end of the input are padding, as lzop takes them; anything else is not.
    fn another_member(&mut self) -> io::Result<bool> {
        let mut magic = [0; MAGIC.len()];
        let n = read_up_to(&mut self.input, &mut magic)?;
        if n == 0 {
            return Ok(false);
        }
        if magic == MAGIC {
            return Ok(true);
        }
        if magic.iter().all(|&b| b == 0) && self.only_zeros_follow()? {
            return Ok(false);
        }
        Err(corrupt("bytes that are not lzop follow the lzop stream"))
    }

    /// Reads the input to its end: whether it holds nothing but zero bytes.
    fn only_zeros_follow(&mut self) -> io::Result<bool> {
        let mut chunk = [0; 4096];
        loop {
            match read_up_to(&mut self.input, &mut chunk)? {
                0 => return Ok(true),
                n if chunk[..n].iter().any(|&b| b != 0) => return Ok(false),
                _ => {}
            }
        }
    }
}

impl<R: Read> Read for LzopDecoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.pos == self.block.len() {
            match self.next_block() {
                Ok(true) => {}
                Ok(false) => return Ok(0),
                Err(e) => {
                    // Nothing of a block that failed may be handed out.
                    self.block.clear();
                    self.pos = 0;
                    self.state = State::Failed;
                    return Err(e);
                }
            }
        }
        let n = buf.len().min(self.block.len() - self.pos);
        buf[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A block's stated length, refused beyond lzop's block size.
fn block_length(stated: u32) -> io::Result<usize> {
    match usize::try_from(stated) {
        Ok(n) if n <= MAX_BLOCK => Ok(n),
        _ => Err(corrupt(format!(
            "an lzop block states {stated} bytes, more than lzop's {MAX_BLOCK}"
        ))),
    }
}

/// The checksums a block states for some of its data.
struct Sums {
    adler32: Option<u32>,
    crc32: Option<u32>,
}

impl Sums {
    /// Checks `data`, the `what` data of a block, against the stated checksums.
    fn verify(&self, data: &[u8], what: &str) -> io::Result<()> {
        let adler_ok = self
            .adler32
            .is_none_or(|sum| adler2::adler32_slice(data) == sum);
        let crc_ok = self.crc32.is_none_or(|sum| crc32fast::hash(data) == sum);
        if adler_ok && crc_ok {
            return Ok(());
        }
        let which = if adler_ok { "CRC-32" } else { "Adler-32" };
        Err(corrupt(format!(
            "an lzop block's {what} data does not match its {which}"
        )))
    }
}

/// A reader of header fields that sums what it reads, both ways: the flags say which sum
/// the header states.
struct Summed<'a, R> {
    input: &'a mut R,
    adler32: Adler32,
    crc32: Crc32,
}

impl<'a, R: Read> Summed<'a, R> {
    fn new(input: &'a mut R) -> Self {
        Summed {
            input,
            adler32: Adler32::new(),
            crc32: Crc32::new(),
        }
    }

    fn fill(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.input.read_exact(buf)?;
        self.adler32.write_slice(buf);
        self.crc32.update(buf);
        Ok(())
    }

    fn bytes<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let mut buf = [0; N];
        self.fill(&mut buf)?;
        Ok(buf)
    }

    fn u8(&mut self) -> io::Result<u8> {
        Ok(self.bytes::<1>()?[0])
    }

    fn u16(&mut self) -> io::Result<u16> {
        self.bytes().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> io::Result<u32> {
        self.bytes().map(u32::from_be_bytes)
    }

    /// Sums and drops the next `n` bytes.
    fn skip(&mut self, mut n: u64) -> io::Result<()> {
        let mut chunk = [0; 512];
        while n > 0 {
            let k = usize::try_from(n).map_or(chunk.len(), |n| n.min(chunk.len()));
            self.fill(&mut chunk[..k])?;
            n -= k as u64;
        }
        Ok(())
    }

    /// Reads the checksum that follows the fields, and checks it: a CRC-32 if `flags` say
    /// so, an Adler-32 otherwise.
    fn check(self, flags: u32, what: &str) -> io::Result<()> {
        let sum = if flags & HEADER_CRC32 != 0 {
            self.crc32.finalize()
        } else {
            self.adler32.checksum()
        };
        if read_u32(self.input)? != sum {
            return Err(corrupt(format!(
                "the lzop {what} does not match its checksum"
            )));
        }
        Ok(())
    }
}

fn read_u32(input: &mut impl Read) -> io::Result<u32> {
    let mut buf = [0; 4];
    input.read_exact(&mut buf)?;
    Ok(u32::from_be_bytes(buf))
}

/// Fills `buf` from `input` as far as the input goes: the count read.
fn read_up_to(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Damaged data, said as what is wrong (the caller says which stream).
fn corrupt(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// A valid stream with a feature this reader lacks.
fn unsupported(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("the compressed migration stream {what}, which virshim cannot read"),
    )
}

#[cfg(test)]
pub(super) mod tests;
