//! Against files the real lzop 1.04 wrote (testdata/make.py), whole, cut and damaged, and
//! headers made here for what lzop does not write by default.

use super::*;

/// The data every file of testdata/ holds but `empty` and `named` (make.py's `data()`):
/// two blocks that compress, then 8 KiB of noise that lzop stores.
pub(in super::super) fn data() -> Vec<u8> {
    let mut out: Vec<u8> = (0..512 * 1024u32)
        .map(|i| ((i % 251) ^ (i >> 16)) as u8)
        .collect();
    let mut x: u32 = 0x9e37_79b9;
    for _ in 0..8 * 1024 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.push(x as u8);
    }
    out
}

/// testdata/`stem`.lzo.
pub(in super::super) fn sample(stem: &str) -> Vec<u8> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/drivers/qemu/migration/lzop/testdata"
    );
    std::fs::read(format!("{dir}/{stem}.lzo")).unwrap()
}

fn decode(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    LzopDecoder::new(bytes).read_to_end(&mut out)?;
    Ok(out)
}

fn error(bytes: &[u8]) -> io::Error {
    decode(bytes).expect_err("decoded")
}

const EVERY_WAY: [&str; 7] = [
    "default",
    "fast",
    "best",
    "crc32",
    "no-checksum",
    "adler32-both",
    "crc32-both",
];

/// The length of testdata/empty.lzo's header, magic included: its end marker follows.
const EMPTY_HEADER: usize = 38;

#[test]
fn what_lzop_writes_reads_back() {
    let data = data();
    let noise = &data[512 * 1024..];
    for stem in EVERY_WAY {
        let file = sample(stem);
        assert_eq!(decode(&file).unwrap(), data, "{stem}");
        // The noise is a stored block.
        assert!(file.windows(noise.len()).any(|w| w == noise), "{stem}");
    }
    assert_eq!(decode(&sample("empty")).unwrap(), b"");
    assert_eq!(sample("empty").len(), EMPTY_HEADER + 4);
    assert_eq!(
        decode(&sample("named")).unwrap(),
        b"a small file with a name\n".repeat(8)
    );
}

#[test]
fn small_reads_see_the_same_stream() {
    let file = sample("default");
    let mut decoder = LzopDecoder::new(&file[..]);
    let mut out = Vec::new();
    let mut buf = [0; 4093];
    for size in (1..).cycle() {
        let n = decoder.read(&mut buf[..size % 4093 + 1]).unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    assert_eq!(out, data());
    assert_eq!(decoder.read(&mut buf).unwrap(), 0);
}

#[test]
fn members_follow_one_another_and_zeros_end_the_stream() {
    let mut two = sample("default");
    two.extend(sample("named"));
    let mut both = data();
    both.extend(b"a small file with a name\n".repeat(8));
    assert_eq!(decode(&two).unwrap(), both);

    let mut padded = sample("default");
    padded.extend([0; 10_000]);
    assert_eq!(decode(&padded).unwrap(), data());
    for tail in [&b"junk"[..], &[0; 20], &b"\x89LZO\x00\r\n\x1a\x0b"[..]] {
        let mut garbage = sample("empty");
        garbage.extend([0; 5000]);
        garbage.extend(tail.iter().map(|b| b ^ 1));
        let e = error(&garbage);
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
        assert!(e.to_string().contains("not lzop"), "{e}");
    }
}

#[test]
fn truncated_streams_are_said_to_be() {
    let empty = sample("empty");
    let mut cuts: Vec<&[u8]> = (0..empty.len()).map(|n| &empty[..n]).collect();
    let whole = sample("adler32-both");
    cuts.extend((0..whole.len()).step_by(211).map(|n| &whole[..n]));
    cuts.push(&whole[..whole.len() - 1]);
    for cut in cuts {
        let e = error(cut);
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{}: {e}", cut.len());
    }
}

/// `bytes` with the byte at `at` changed.
fn flipped(mut bytes: Vec<u8>, at: usize) -> Vec<u8> {
    bytes[at] ^= 0x10;
    bytes
}

fn assert_corrupt(bytes: &[u8], says: &str) {
    let e = error(bytes);
    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    assert!(e.to_string().contains(says), "{e}: not {says:?}");
}

#[test]
fn damaged_streams_are_said_to_be() {
    // Every field of the header is summed: version, method, flags, name.
    for at in [10, 12, 15, 16, 17, 30, EMPTY_HEADER - 1] {
        assert_corrupt(&flipped(sample("empty"), at), "header does not match");
    }
    let named = sample("named");
    assert_corrupt(&flipped(named.clone(), 40), "header does not match");

    // The stored noise block is last, its end marker after it; the first block's
    // compressed data starts before byte 100 (past the header and 5 block fields).
    let last = sample("default").len() - 5;
    let early = 100;
    for (stem, at, says) in [
        (
            "default",
            last,
            "uncompressed data does not match its Adler-32",
        ),
        ("crc32", last, "uncompressed data does not match its CRC-32"),
        (
            "adler32-both",
            early,
            "compressed data does not match its Adler-32",
        ),
        (
            "crc32-both",
            early,
            "compressed data does not match its CRC-32",
        ),
    ] {
        assert_corrupt(&flipped(sample(stem), at), says);
    }
    // Without checksums, damage shows only where LZO1X itself notices.
    let unsummed = decode(&flipped(sample("no-checksum"), early));
    assert!(unsummed.map_or(true, |d| d != data()));
}

/// testdata/empty.lzo's header followed by one block with the fields `fields`.
fn block(fields: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = sample("empty")[..EMPTY_HEADER].to_vec();
    out.extend(fields.iter().flat_map(|f| f.to_be_bytes()));
    out.extend_from_slice(data);
    out.extend([0; 4]);
    out
}

#[test]
fn block_lengths_are_bounded() {
    let big = MAX_BLOCK as u32 + 1;
    let sum = adler2::adler32_slice(b"abc");
    assert_eq!(decode(&block(&[3, 3, sum], b"abc")).unwrap(), b"abc");
    for fields in [[big, big, 0], [u32::MAX, 1, 0], [10, 11, 0], [10, 0, 0]] {
        let e = error(&block(&fields, b""));
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    }
    assert_corrupt(&block(&[big, 1, 0], b""), "more than lzop's 262144");
    assert_corrupt(&block(&[10, 11, 0], b""), "states 11 compressed bytes");
    // A compressed block must fill its length exactly (named.lzo: one block of 200 bytes
    // after a header named "named").
    let at = EMPTY_HEADER + "named".len();
    let named = sample("named");
    assert_eq!(named[at..at + 4], 200u32.to_be_bytes());
    for (length, says) in [
        (201u32, "decompresses to 200"),
        (199, "does not decompress"),
    ] {
        let mut wrong = named.clone();
        wrong[at..at + 4].copy_from_slice(&length.to_be_bytes());
        assert_corrupt(&wrong, says);
    }
}

#[test]
fn a_failed_stream_stays_failed() {
    // A bad checksum, and LZO1X data that does not decode (found by fuzzing).
    let mut undecodable = sample("named");
    let at = EMPTY_HEADER + "named".len() + 12;
    undecodable[at..at + 8].fill(0xff);
    for bad in [
        flipped(sample("default"), sample("default").len() - 5),
        undecodable,
    ] {
        let mut decoder = LzopDecoder::new(&bad[..]);
        let mut out = Vec::new();
        assert!(decoder.read_to_end(&mut out).is_err());
        let mut buf = [0; 100];
        let again = decoder.read(&mut buf).unwrap_err();
        assert!(again.to_string().contains("earlier error"), "{again}");
    }
}

/// A member's header, as lzop lays it out for `version`, summed as `flags` say.
struct Header {
    version: u16,
    needed: u16,
    method: u8,
    flags: u32,
    name: &'static [u8],
    /// The extra field, and whether its checksum is right.
    extra: Option<(&'static [u8], bool)>,
}

const LZOP_1_04: Header = Header {
    version: 0x1040,
    needed: 0x0940,
    method: 1,
    flags: 0x0300_0001,
    name: b"",
    extra: None,
};

impl Header {
    /// The member with this header and `data` in one stored block.
    fn member(&self, data: &[u8]) -> Vec<u8> {
        let long = self.version >= 0x0940;
        let mut fields = self.version.to_be_bytes().to_vec();
        fields.extend(0x20a0u16.to_be_bytes());
        if long {
            fields.extend(self.needed.to_be_bytes());
        }
        fields.push(self.method);
        if long {
            fields.push(5);
        }
        fields.extend(self.flags.to_be_bytes());
        if self.flags & FILTER != 0 {
            fields.extend(1u32.to_be_bytes());
        }
        fields.extend([0; 8]);
        if long {
            fields.extend([0; 4]);
        }
        fields.push(self.name.len() as u8);
        fields.extend_from_slice(self.name);
        let mut out = MAGIC.to_vec();
        out.extend(&fields);
        out.extend(self.sum(&fields).to_be_bytes());
        if let Some((extra, right)) = self.extra {
            let mut summed = (extra.len() as u32).to_be_bytes().to_vec();
            summed.extend_from_slice(extra);
            out.extend(&summed);
            out.extend((self.sum(&summed) ^ u32::from(!right)).to_be_bytes());
        }
        let length = (data.len() as u32).to_be_bytes();
        out.extend(length.iter().chain(&length));
        if self.flags & ADLER32_D != 0 {
            out.extend(adler2::adler32_slice(data).to_be_bytes());
        }
        out.extend_from_slice(data);
        out.extend([0; 4]);
        out
    }

    fn sum(&self, bytes: &[u8]) -> u32 {
        if self.flags & HEADER_CRC32 != 0 {
            crc32fast::hash(bytes)
        } else {
            adler2::adler32_slice(bytes)
        }
    }
}

#[test]
fn headers_lzop_can_write_read() {
    let data = b"stored data";
    let cases = [
        LZOP_1_04,
        Header {
            name: b"some/path/name",
            flags: 0x0300_2001 | HEADER_CRC32,
            ..LZOP_1_04
        },
        Header {
            extra: Some((b"extra bytes", true)),
            flags: 0x0300_0001 | EXTRA_FIELD,
            ..LZOP_1_04
        },
        // Before 0.94: no version needed, level or mtime high half.
        Header {
            version: 0x0930,
            ..LZOP_1_04
        },
    ];
    for (i, header) in cases.iter().enumerate() {
        assert_eq!(decode(&header.member(data)).unwrap(), data, "case {i}");
    }
}

#[test]
fn headers_beyond_this_reader_are_refused_as_such() {
    let unsupported = |header: Header, says: &str| {
        let e = error(&header.member(b"x"));
        assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{e}");
        let message = e.to_string();
        assert!(message.contains(says), "{message}: not {says:?}");
        assert!(message.contains("virshim cannot read"), "{message}");
    };
    unsupported(
        Header {
            method: 128,
            ..LZOP_1_04
        },
        "method 128",
    );
    unsupported(
        Header {
            needed: 0x2000,
            ..LZOP_1_04
        },
        "needs lzop 2.000",
    );
    unsupported(
        Header {
            flags: LZOP_1_04.flags | MULTIPART,
            ..LZOP_1_04
        },
        "split",
    );
    let e = error(&sample("filter"));
    assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("filter"), "{e}");
}

#[test]
fn damaged_headers_are_refused_as_such() {
    let corrupt = |header: Header, says: &str| assert_corrupt(&header.member(b"x"), says);
    corrupt(
        Header {
            version: 0x0800,
            ..LZOP_1_04
        },
        "before any lzop",
    );
    corrupt(
        Header {
            needed: 0x0100,
            ..LZOP_1_04
        },
        "before any lzop",
    );
    corrupt(
        Header {
            flags: LZOP_1_04.flags | 0x4000,
            ..LZOP_1_04
        },
        "reserved flags",
    );
    corrupt(
        Header {
            extra: Some((b"extra", false)),
            flags: LZOP_1_04.flags | EXTRA_FIELD,
            ..LZOP_1_04
        },
        "extra field does not match",
    );
    let mut not_lzop = sample("empty");
    not_lzop[0] = b'L';
    assert_corrupt(&not_lzop, "no lzop magic");
}
