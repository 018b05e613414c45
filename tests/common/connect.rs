//! How the Rust integration tests open connections, and the fixture of the tests on
//! `test:///default`: one place that follows the core's way of opening a URI.

use std::path::{Path, PathBuf};
use std::sync::MutexGuard;

use virshim::abi::{virDomainState, ConnectFlags, DomainState, NoFlags};
use virshim::core::{Connection, Domain};

use super::{scratch, serial};

pub const TEST_DEFAULT: &str = "test:///default";

/// Opens `uri` with `flags` (`ConnectFlags::RO` for a read-only connection).
pub fn connect(uri: &str, flags: ConnectFlags) -> virshim::Result<Connection> {
    virshim::drivers::connect(Some(uri), flags)
}

/// The URI of the daemonless QEMU driver rooted at `root`.
pub fn embed_uri(root: &Path) -> String {
    format!("qemu:///embed?root={}", root.display())
}

/// A fresh default state of `test:///default` (its domain `test` running, as libvirt's
/// test driver starts) and a scratch directory. The state is shared by every connection
/// of the process while one is open, so the fixture holds the crate's tests to one at a
/// time.
pub struct TestDefault {
    pub conn: Connection,
    pub dir: PathBuf,
    _serial: MutexGuard<'static, ()>,
}

impl TestDefault {
    pub fn new(test: &str) -> TestDefault {
        let serial = serial();
        let dir = scratch(test);
        let conn = connect(TEST_DEFAULT, ConnectFlags::empty()).unwrap();
        assert_eq!(
            conn.lookup_by_name("test").unwrap().id(),
            1,
            "state left over"
        );
        TestDefault {
            conn,
            dir,
            _serial: serial,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The default domain `test`.
    pub fn dom(&self) -> Domain {
        self.conn.lookup_by_name("test").unwrap()
    }

    pub fn state(&self) -> virDomainState {
        self.dom()
            .state(NoFlags::empty())
            .map(DomainState::raw)
            .unwrap()
            .0
    }

    /// Saves `test` into the scratch directory and returns the image's path.
    pub fn saved(&self) -> PathBuf {
        let img = self.path("test.img");
        self.dom().save(&img).unwrap();
        img
    }
}

impl Drop for TestDefault {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
