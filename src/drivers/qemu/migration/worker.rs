//! The threads of ours that move a stream's bytes, and how each one ended.

use std::io;
use std::thread::{self, JoinHandle};

use nix::sys::signal::{SigSet, Signal};

/// A thread of ours doing I/O, and how it ended.
pub(super) struct Worker {
    handle: Option<JoinHandle<io::Result<()>>>,
    outcome: Option<io::Result<()>>,
}

impl Worker {
    pub(super) fn spawn(
        name: &str,
        work: impl FnOnce() -> io::Result<()> + Send + 'static,
    ) -> io::Result<Worker> {
        let handle = thread::Builder::new().name(name.into()).spawn(move || {
            // A write to a socket whose reader died must fail with EPIPE, not raise a
            // SIGPIPE that kills a C program which does not ignore it.
            let mut pipe = SigSet::empty();
            pipe.add(Signal::SIGPIPE);
            let _ = pipe.thread_block();
            work()
        })?;
        Ok(Worker {
            handle: Some(handle),
            outcome: None,
        })
    }

    /// Whether the thread has ended; never blocks.
    pub(super) fn is_done(&mut self) -> bool {
        if self.handle.as_ref().is_some_and(JoinHandle::is_finished) {
            self.reap();
        }
        self.handle.is_none()
    }

    /// The error the thread ended with, once it has ended; never blocks.
    pub(super) fn failure(&mut self) -> Option<&io::Error> {
        if !self.is_done() {
            return None;
        }
        self.outcome.as_ref()?.as_ref().err()
    }

    pub(super) fn unpark(&self) {
        if let Some(handle) = &self.handle {
            handle.thread().unpark();
        }
    }

    /// Waits for the thread to end; how it did (once: `Ok` afterwards).
    pub(super) fn join(&mut self) -> io::Result<()> {
        self.reap();
        self.outcome.take().unwrap_or(Ok(()))
    }

    fn reap(&mut self) {
        if let Some(handle) = self.handle.take() {
            let outcome = handle
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("stream thread panicked")));
            self.outcome = Some(outcome);
        }
    }
}
