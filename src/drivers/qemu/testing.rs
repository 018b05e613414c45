//! Not API: the driver's internals that virshim's own integration tests (`tests/qemu_*.rs`)
//! and fuzz targets (`fuzz/`) drive without a connection. Nothing here is promised to
//! stay; a Rust program uses [`QemuDriver`](super::QemuDriver) through [`crate::core`].

/// The QEMU command line of a definition.
pub mod command {
    pub use super::super::command::{build, emulator, Options};
}

/// Definitions as libvirt's QEMU driver completes them.
pub mod defaults {
    pub use super::super::defaults::{
        cookie_xml, live, migratable_xml, parse, Host, Runtime, VIRT_TYPES,
    };
}

/// The data path of save and restore, and bare migration streams.
pub mod migration {
    pub use super::super::migration::{
        migrate_from_fd, migrate_to_fd, new_image_file, restore_image, save_image, LzopDecoder,
        WRITE_BEHIND,
    };
}

/// QEMU processes that outlive their starter.
pub mod process {
    pub use super::super::process::{Paths, Qemu};
}

/// The QMP client, and its parsers of QEMU's bytes.
pub mod qmp {
    pub use super::super::qmp::{as_event, greeting_version, reply, Event, Lines, Monitor};
}

pub use super::driver::MEMORY_PEEK_MAX;
