//! QEMU's log: each start appends the command line, after [`HEADER`], then QEMU's own
//! output; errors quote the end of what the last start wrote.

use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::abi::virErrorDomain::VIR_FROM_QEMU;
use crate::{Error, Result};

/// The most of QEMU's log quoted in an error.
const LOG_TAIL: u64 = 4096;
/// How the line that starts each QEMU's part of the log begins.
const HEADER: &[u8] = b"virshim: starting";

/// Opens (appending) the log, writes the command line to it, and returns it with the
/// offset where QEMU's own output will begin.
pub(super) fn open_log(path: &Path, binary: &Path, args: &[OsString]) -> Result<(File, u64)> {
    let err = |e: io::Error| {
        Error::system(
            VIR_FROM_QEMU,
            &e,
            format!("failed to create logfile {}", path.display()),
        )
    };
    let mut log = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    let mut line = HEADER.to_vec();
    for word in std::iter::once(binary.as_os_str()).chain(args.iter().map(OsString::as_os_str)) {
        line.push(b' ');
        line.extend_from_slice(&shell_quote(word));
    }
    line.push(b'\n');
    log.write_all(&line).map_err(err)?;
    let start = log.seek(SeekFrom::End(0)).map_err(err)?;
    Ok((log, start))
}

/// `word` quoted for a shell when it needs it, so the logged command can be rerun.
fn shell_quote(word: &OsStr) -> Vec<u8> {
    let bytes = word.as_bytes();
    let plain = |b: &u8| b.is_ascii_alphanumeric() || b"-_=,./:@%+".contains(b);
    if !bytes.is_empty() && bytes.iter().all(plain) {
        return bytes.to_vec();
    }
    let mut quoted = vec![b'\''];
    for &b in bytes {
        if b == b'\'' {
            quoted.extend_from_slice(b"'\\''");
        } else {
            quoted.push(b);
        }
    }
    quoted.push(b'\'');
    quoted
}

/// The last part (up to [`LOG_TAIL`] bytes, whole lines) of the log from `start` on.
pub(super) fn log_tail(path: &Path, start: u64) -> String {
    let read = || -> io::Result<Vec<u8>> {
        let mut f = File::open(path)?;
        let end = f.seek(SeekFrom::End(0))?;
        let from = start.max(end.saturating_sub(LOG_TAIL)).min(end);
        f.seek(SeekFrom::Start(from))?;
        let mut buf = Vec::new();
        f.take(LOG_TAIL).read_to_end(&mut buf)?;
        if from > start {
            // Started mid-line: drop the partial first line.
            if let Some(nl) = buf.iter().position(|&b| b == b'\n') {
                buf.drain(..=nl);
            }
        }
        // Only what QEMU wrote since virshim last started one here.
        if let Some(header) = buf
            .windows(HEADER.len() + 1)
            .rposition(|w| w[0] == b'\n' && &w[1..] == HEADER)
            .map(|i| i + 1)
            .or_else(|| buf.starts_with(HEADER).then_some(0))
        {
            let end = buf[header..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(buf.len(), |nl| header + nl + 1);
            buf.drain(..end);
        }
        Ok(buf)
    };
    let text = read().unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_owned();
    if text.is_empty() {
        "(QEMU wrote nothing to its log)".to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn logged_words_are_quoted_for_a_shell() {
        assert_eq!(shell_quote(OsStr::new("-m")), b"-m");
        assert_eq!(shell_quote(OsStr::new("it's")), b"'it'\\''s'");
    }

    #[test]
    fn log_tails_keep_whole_lines() {
        let dir = std::env::temp_dir().join(format!("virshim-log-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let log = dir.join("qemu.log");
        fs::write(&log, "virshim: starting x\n").unwrap();
        assert_eq!(log_tail(&log, 20), "(QEMU wrote nothing to its log)");
        assert_eq!(log_tail(&log, 0), "(QEMU wrote nothing to its log)");
        let mut f = OpenOptions::new().append(true).open(&log).unwrap();
        for i in 0..1000 {
            writeln!(f, "line {i}").unwrap();
        }
        let tail = log_tail(&log, 20);
        assert!(tail.len() <= LOG_TAIL as usize);
        assert!(
            tail.starts_with("line ") && tail.ends_with("line 999"),
            "{tail}"
        );
        // An attached QEMU (start 0): only the output after the last start.
        writeln!(f, "virshim: starting y\nqemu: it broke").unwrap();
        assert_eq!(log_tail(&log, 0), "qemu: it broke");
        fs::remove_dir_all(&dir).unwrap();
    }
}
