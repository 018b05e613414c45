//! lzop's container, as a restore reads an lzop-compressed image's stream
//! (`LzopDecoder`): whatever the bytes, the data or the error is the same however large
//! the reads that take it.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use virshim::drivers::qemu::testing::migration::LzopDecoder;

fuzz_target!(|data: &[u8]| {
    // The first byte is the size of the reads (at least one).
    let Some((&size, stream)) = data.split_first() else {
        return;
    };
    let whole = decoded(stream, 1 << 20);
    assert_eq!(decoded(stream, usize::from(size).max(1)), whole);
});

/// What `stream` decodes to, read `size` bytes at a time; an error as its message, with
/// what came before it.
fn decoded(stream: &[u8], size: usize) -> (Vec<u8>, Option<String>) {
    let mut decoder = LzopDecoder::new(stream);
    let mut out = Vec::new();
    let mut buf = vec![0; size];
    loop {
        match decoder.read(&mut buf) {
            Ok(0) => return (out, None),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => {
                // An error ends the stream for good.
                assert!(decoder.read(&mut buf).is_err());
                return (out, Some(e.to_string()));
            }
        }
    }
}
