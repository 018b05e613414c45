//! Points where a test can have this process die in the middle of a call, as a caller
//! killed by its user dies: `VIRSHIM_KILL_AT=NAME` kills the process (`SIGKILL`) when it
//! reaches the point NAME, and `VIRSHIM_KILL_AT=NAME:N` when a point that counts bytes
//! reaches N. Debug builds only: the library built for callers (release) has no such
//! points, and reads no such variable.

use std::sync::OnceLock;

/// The point and byte count asked for, read once.
fn wanted() -> Option<&'static (String, u64)> {
    static WANTED: OnceLock<Option<(String, u64)>> = OnceLock::new();
    WANTED
        .get_or_init(|| {
            if !cfg!(debug_assertions) {
                return None;
            }
            let text = std::env::var("VIRSHIM_KILL_AT").ok()?;
            Some(match text.split_once(':') {
                Some((name, n)) => (name.to_owned(), n.parse().ok()?),
                None => (text, 0),
            })
        })
        .as_ref()
}

/// Dies here if asked to die at `point`.
pub(crate) fn kill_at(point: &str) {
    if wanted().is_some_and(|(name, _)| name == point) {
        die();
    }
}

/// The byte count at which to die at `point`, if asked: for loops that count.
pub(crate) fn kill_after(point: &str) -> Option<u64> {
    wanted().filter(|(name, _)| name == point).map(|&(_, n)| n)
}

pub(crate) fn die() -> ! {
    // SAFETY: raise has no memory arguments; SIGKILL cannot be caught, so it does not
    // return.
    unsafe { libc::raise(libc::SIGKILL) };
    unreachable!("SIGKILL returned")
}
