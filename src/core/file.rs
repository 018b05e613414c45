//! Opening the save images callers name, which may be anything at all: a FIFO, a device.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::fcntl::{fcntl, FcntlArg, OFlag};

/// Opens `path` for reading without waiting for a writer: `open` of a FIFO nobody writes
/// to blocks for ever (libvirt's restore hangs there). Reads block as usual once it is
/// open, and a FIFO without a writer reads as empty, so it fails as a short image.
pub fn open_for_reading(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let flags = OFlag::from_bits_retain(fcntl(&file, FcntlArg::F_GETFL)?);
    fcntl(&file, FcntlArg::F_SETFL(flags - OFlag::O_NONBLOCK))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_fifo_without_writer_opens_at_once_and_reads_empty() {
        let dir = std::env::temp_dir().join(format!("virshim-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("fifo");
        let _ = std::fs::remove_file(&fifo);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRUSR).unwrap();
        let mut file = open_for_reading(&fifo).unwrap();
        let flags = OFlag::from_bits_retain(fcntl(&file, FcntlArg::F_GETFL).unwrap());
        assert!(!flags.contains(OFlag::O_NONBLOCK));
        let mut bytes = Vec::new();
        assert_eq!(file.read_to_end(&mut bytes).unwrap(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
