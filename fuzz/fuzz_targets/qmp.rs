//! What QEMU writes on its monitor socket: the bytes cut into messages however they
//! arrive, then each read as the client reads it (greeting, event, reply).
#![no_main]

use libfuzzer_sys::fuzz_target;
use virshim::drivers::qemu::testing::qmp::{as_event, greeting_version, reply, Lines};

fuzz_target!(|data: &[u8]| {
    // The first byte cuts the rest into reads of that many bytes (at least one).
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let whole = messages(stream, stream.len().max(1));
    assert_eq!(messages(stream, usize::from(chunk).max(1)), whole);
    for (i, msg) in whole.into_iter().enumerate() {
        let Ok(msg) = msg else { continue };
        if i == 0 {
            let _ = greeting_version(&msg);
        } else if as_event(&msg).is_none() {
            let _ = reply(msg, "virshim-1", "query-status");
        }
    }
});

/// The messages in `stream` received `chunk` bytes at a time, errors as their messages.
fn messages(stream: &[u8], chunk: usize) -> Vec<Result<serde_json::Value, String>> {
    let mut lines = Lines::default();
    let mut out = Vec::new();
    for part in stream.chunks(chunk) {
        lines.push(part);
        while let Some(msg) = lines.next_message() {
            out.push(msg.map_err(|e| e.message));
        }
    }
    out
}
