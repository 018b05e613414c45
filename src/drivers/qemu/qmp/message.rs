//! QMP messages: the bytes from QEMU cut into JSON values, and the greeting, replies and
//! events read from them. No socket here, so that all of it can be fuzzed on bytes.

use serde_json::Value;

use crate::abi::virErrorDomain::VIR_FROM_QEMU;
use crate::abi::virErrorNumber::VIR_ERR_INTERNAL_ERROR;
use crate::{Error, Result};

/// The longest line accepted from QEMU: far above any reply, a bound on what a broken
/// peer can make us buffer.
pub(super) const MAX_LINE: usize = 64 << 20;

/// An asynchronous QMP event (`STOP`, `RESUME`, `MIGRATION`, `SHUTDOWN`, …).
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub name: String,
    /// The event's `data` member; `Value::Null` when it has none.
    pub data: Value,
    /// When QEMU emitted it, in microseconds since the epoch (0 if QEMU gave none).
    pub timestamp_us: i64,
}

/// The bytes received from QEMU, cut into messages (one JSON value a line): the part of
/// reading the monitor that needs no socket, so that it can be fuzzed on bytes.
#[derive(Debug, Default)]
pub struct Lines {
    buf: Vec<u8>,
    /// Where the unread bytes start in `buf`: lines read are dropped at the next
    /// [`Lines::push`], all at once, rather than moving the rest after each one.
    start: usize,
    /// How far past `start` has been searched for a newline already.
    scanned: usize,
}

impl Lines {
    /// Adds bytes received from QEMU.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.drain(..self.start);
        self.start = 0;
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, or None until more bytes come. A line that is not JSON
    /// is an error; so is a line longer than any reply, once past that length, for good.
    pub fn next_message(&mut self) -> Option<Result<Value>> {
        loop {
            let unread = &self.buf[self.start..];
            let Some(pos) = unread[self.scanned..].iter().position(|&b| b == b'\n') else {
                self.scanned = unread.len();
                return (unread.len() > MAX_LINE).then(|| {
                    Err(Error::new(
                        VIR_ERR_INTERNAL_ERROR,
                        VIR_FROM_QEMU,
                        "QEMU monitor reply too large",
                    ))
                });
            };
            let line = self.start..self.start + self.scanned + pos;
            self.start = line.end + 1;
            self.scanned = 0;
            let text = self.buf[line].trim_ascii();
            if text.is_empty() {
                continue;
            }
            return Some(serde_json::from_slice(text).map_err(|e| {
                Error::new(
                    VIR_ERR_INTERNAL_ERROR,
                    VIR_FROM_QEMU,
                    format!(
                        "cannot parse QEMU monitor reply '{}': {e}",
                        String::from_utf8_lossy(text)
                    ),
                )
            }));
        }
    }
}

/// QEMU's version (major, minor, micro) from its greeting; libvirt's error when the first
/// message is no greeting.
pub fn greeting_version(greeting: &Value) -> Result<(u64, u64, u64)> {
    let Some(qmp) = greeting.get("QMP") else {
        return Err(Error::new(
            VIR_ERR_INTERNAL_ERROR,
            VIR_FROM_QEMU,
            format!("unexpected QEMU monitor greeting '{greeting}'"),
        ));
    };
    let part = |name: &str| qmp["version"]["qemu"][name].as_u64().unwrap_or(0);
    Ok((part("major"), part("minor"), part("micro")))
}

/// What `msg` says of the command `cmd` tagged `id`: its `return` member, or libvirt's
/// `VIR_ERR_INTERNAL_ERROR` for a QMP error; None when it is not that command's reply (the
/// late reply of a command that timed out).
pub fn reply(mut msg: Value, id: &str, cmd: &str) -> Option<Result<Value>> {
    if msg.get("id").and_then(Value::as_str) != Some(id) {
        return None;
    }
    if let Some(ret) = msg.get_mut("return") {
        return Some(Ok(ret.take()));
    }
    let desc = msg
        .get("error")
        .and_then(|e| e.get("desc"))
        .and_then(Value::as_str)
        .unwrap_or("unknown QEMU command error");
    Some(Err(Error::new(
        VIR_ERR_INTERNAL_ERROR,
        VIR_FROM_QEMU,
        format!("unable to execute QEMU command '{cmd}': {desc}"),
    )))
}

/// `msg` as an event, if it is one.
pub fn as_event(msg: &Value) -> Option<Event> {
    let name = msg.get("event")?.as_str()?.to_owned();
    let ts = &msg["timestamp"];
    let secs = ts["seconds"].as_i64().unwrap_or(0);
    let micros = ts["microseconds"].as_i64().unwrap_or(0);
    Some(Event {
        name,
        data: msg.get("data").cloned().unwrap_or(Value::Null),
        timestamp_us: secs.saturating_mul(1_000_000).saturating_add(micros),
    })
}
