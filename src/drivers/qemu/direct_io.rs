//! File I/O that bypasses the page cache where the filesystem allows it (`O_DIRECT`), for
//! `VIR_DOMAIN_SAVE_BYPASS_CACHE` and its restore.
//!
//! `O_DIRECT` moves data between the device and user memory in whole blocks only: the
//! buffer's address, the file offset and the length must all be multiples of the logical
//! block size. [`ALIGN`] (4 KiB) is a multiple of every common block size, and
//! [`AlignedBuf`] gives memory aligned to it.
//!
//! Not every filesystem takes `O_DIRECT`: ramfs and some FUSE or network filesystems
//! refuse it when it is set, others at the first transfer, and no transfer of a stream's
//! unaligned end can use it. [`DirectFile`] then carries on through the page cache: the
//! same bytes land in the same places, and the `fdatasync` that ends every save makes
//! them as durable.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use nix::fcntl::{fcntl, FcntlArg, OFlag};

/// The alignment of every direct transfer: address, offset and length.
pub const ALIGN: usize = 4096;

/// A buffer whose storage starts on an [`ALIGN`] boundary and whose capacity is a multiple
/// of it: the filled part from the start is a valid direct transfer whenever its length is
/// too. It over-allocates by less than one block instead of using a custom allocation, so
/// it needs no unsafe code.
#[derive(Debug)]
pub struct AlignedBuf {
    mem: Vec<u8>,
    /// Where the aligned storage begins in `mem`.
    at: usize,
    cap: usize,
    len: usize,
    /// Where the bytes meant for the consumer begin: a reader that had to start at an
    /// aligned offset before the data it wants skips the bytes in between.
    pub start: usize,
}

impl AlignedBuf {
    /// A zeroed buffer of at least `capacity` bytes, rounded up to a multiple of [`ALIGN`].
    pub fn new(capacity: usize) -> AlignedBuf {
        let cap = capacity.max(1).next_multiple_of(ALIGN);
        let mem = vec![0u8; cap + ALIGN - 1];
        let at = (ALIGN - mem.as_ptr() as usize % ALIGN) % ALIGN;
        AlignedBuf {
            mem,
            at,
            cap,
            len: 0,
            start: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_full(&self) -> bool {
        self.len == self.cap
    }

    /// Empties the buffer for reuse.
    pub fn clear(&mut self) {
        self.len = 0;
        self.start = 0;
    }

    /// The filled part, from the aligned beginning (ignoring `start`).
    pub fn filled(&self) -> &[u8] {
        &self.mem[self.at..self.at + self.len]
    }

    /// The filled part from `start`: what the consumer takes.
    pub fn payload(&self) -> &[u8] {
        &self.filled()[self.start.min(self.len)..]
    }

    /// The unfilled rest, to read into; [`AlignedBuf::advance`] then counts what was read.
    pub fn spare(&mut self) -> &mut [u8] {
        &mut self.mem[self.at + self.len..self.at + self.cap]
    }

    /// Marks `n` more bytes of the spare part as filled.
    pub fn advance(&mut self, n: usize) {
        self.len = (self.len + n).min(self.cap);
    }

    /// Appends as much of `bytes` as fits; how much that was.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.cap - self.len);
        self.spare()[..n].copy_from_slice(&bytes[..n]);
        self.advance(n);
        n
    }
}

/// A file read or written at explicit offsets, with `O_DIRECT` while every transfer is
/// aligned and the filesystem accepts it, through the page cache otherwise.
#[derive(Debug)]
pub struct DirectFile {
    file: File,
    direct: bool,
    /// A direct transfer has succeeded: an `EINVAL` from now on is a real error, not the
    /// filesystem refusing `O_DIRECT`.
    proven: bool,
}

impl DirectFile {
    /// Wraps `file`, turning `O_DIRECT` on when `bypass_cache` and the filesystem accepts
    /// it. `O_DIRECT` belongs to the open file description: `file` should not share it
    /// with users that do unaligned I/O.
    pub fn new(file: File, bypass_cache: bool) -> io::Result<DirectFile> {
        let direct = bypass_cache && set_direct(&file, true)?;
        Ok(DirectFile {
            file,
            direct,
            proven: false,
        })
    }

    /// Goes through the page cache from now on.
    pub fn set_buffered(&mut self) -> io::Result<()> {
        if self.direct {
            set_direct(&self.file, false)?;
            self.direct = false;
        }
        Ok(())
    }

    /// Writes all of `buf` at `offset`: whole blocks directly, and anything unaligned
    /// (a stream's tail, the rest after a short write on a full disk) through the page
    /// cache, after which the file stays buffered.
    pub fn write_all_at(&mut self, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            self.align_or_buffer(buf.as_ptr(), buf.len(), offset)?;
            let len = if self.direct {
                buf.len() / ALIGN * ALIGN
            } else {
                buf.len()
            };
            match self.file.write_at(&buf[..len], offset) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.proven |= self.direct;
                    buf = &buf[n..];
                    offset += n as u64;
                }
                Err(e) => self.retry_buffered(e)?,
            }
        }
        Ok(())
    }

    /// Reads into `buf` from `offset` until `buf` is full or the file ends; the count.
    pub fn read_full_at(&mut self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut got = 0;
        while got < buf.len() {
            let rest = &mut buf[got..];
            let at = offset + got as u64;
            self.align_or_buffer(rest.as_ptr(), rest.len(), at)?;
            let len = if self.direct {
                rest.len() / ALIGN * ALIGN
            } else {
                rest.len()
            };
            match self.file.read_at(&mut rest[..len], at) {
                Ok(0) => break,
                Ok(n) => {
                    self.proven |= self.direct;
                    got += n;
                }
                Err(e) => self.retry_buffered(e)?,
            }
        }
        Ok(got)
    }

    /// Leaves `O_DIRECT` before a transfer it cannot make.
    fn align_or_buffer(&mut self, ptr: *const u8, len: usize, offset: u64) -> io::Result<()> {
        let aligned = ptr as usize % ALIGN == 0 && len >= ALIGN && offset % ALIGN as u64 == 0;
        if !aligned {
            self.set_buffered()?;
        }
        Ok(())
    }

    /// After a failed transfer: `Ok` to try again (interrupted, or `O_DIRECT` refused at
    /// the first transfer, now off), the error otherwise.
    fn retry_buffered(&mut self, e: io::Error) -> io::Result<()> {
        match e.raw_os_error() {
            Some(libc::EINTR) => Ok(()),
            Some(libc::EINVAL) if self.direct && !self.proven => self.set_buffered(),
            _ => Err(e),
        }
    }
}

/// Sets or clears `O_DIRECT` on `file`'s open file description; `Ok(false)` when the
/// filesystem does not support it.
pub fn set_direct(file: &File, on: bool) -> io::Result<bool> {
    let flags = OFlag::from_bits_retain(fcntl(file, FcntlArg::F_GETFL)?);
    let wanted = if on {
        flags | OFlag::O_DIRECT
    } else {
        flags - OFlag::O_DIRECT
    };
    match fcntl(file, FcntlArg::F_SETFL(wanted)) {
        Ok(_) => Ok(on),
        Err(nix::errno::Errno::EINVAL) if on => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn scratch(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("virshim-direct-io-{name}-{}", std::process::id()))
    }

    #[test]
    fn buffers_are_aligned_and_bounded() {
        for cap in [0, 1, 4095, 4096, 4097, 3 << 20] {
            let mut buf = AlignedBuf::new(cap);
            assert_eq!(buf.filled().as_ptr() as usize % ALIGN, 0);
            assert_eq!(buf.cap % ALIGN, 0);
            assert!(buf.cap >= cap.max(1));
            assert_eq!(buf.spare().len(), buf.cap);
            let n = buf.extend_from_slice(&vec![7u8; buf.cap + 10]);
            assert_eq!(n, buf.cap);
            assert!(buf.is_full());
            buf.start = 5;
            assert_eq!(buf.payload().len(), buf.cap - 5);
            buf.clear();
            assert!(buf.len() == 0 && buf.payload().is_empty());
        }
    }

    /// Unaligned offsets, lengths and tails: the bytes land where they belong, direct or
    /// not, and reads give them back.
    #[test]
    fn unaligned_transfers_fall_back_to_the_page_cache() {
        let path = scratch("unaligned");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        let mut out = DirectFile::new(file.try_clone().unwrap(), true).unwrap();
        let mut buf = AlignedBuf::new(3 * ALIGN);
        let pattern: Vec<u8> = (0..3 * ALIGN + 100).map(|i| (i % 251) as u8).collect();
        buf.extend_from_slice(&pattern);
        let direct = out.direct;
        out.write_all_at(buf.filled(), 0).unwrap();
        assert_eq!(out.direct, direct, "whole blocks stay direct");
        out.write_all_at(&pattern[..100], buf.len() as u64).unwrap();
        assert!(!out.direct, "an unaligned tail goes through the page cache");
        let mut whole = vec![0u8; pattern.len() + ALIGN];
        let mut back = DirectFile::new(file, true).unwrap();
        let mut aligned = AlignedBuf::new(whole.len());
        let n = back.read_full_at(aligned.spare(), 0).unwrap();
        aligned.advance(n);
        whole.truncate(n);
        whole.copy_from_slice(aligned.filled());
        assert_eq!(&whole[..buf.len()], buf.filled());
        assert_eq!(&whole[buf.len()..], &pattern[..100]);
        // From an unaligned offset, through the page cache.
        let mut mid = [0u8; 10];
        assert_eq!(back.read_full_at(&mut mid, 1).unwrap(), 10);
        assert_eq!(&mid, &pattern[1..11]);
    }
}
