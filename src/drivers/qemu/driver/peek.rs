//! `virDomainMemoryPeek`: QEMU writes the guest's memory into a private file of the run
//! directory, read back whole.

use std::fs;

use serde_json::json;

use crate::abi::virErrorDomain::VIR_FROM_QEMU;
use crate::abi::virErrorNumber::*;
use crate::abi::MemoryFlags;
use crate::core::{DomainId, MemoryPeek};
use crate::drivers::common::{check_memory_peek_flags, not_running};
use crate::drivers::qemu::store::io_error;
use crate::{Error, Result};

use super::QemuDriver;

/// The most `virDomainMemoryPeek` reads in one call. libvirt's QEMU driver has no bound
/// of its own (its remote protocol caps a peek at 4 MiB); virshim refuses more than this,
/// as the bytes pass through a temporary file and a buffer of their size.
pub const MEMORY_PEEK_MAX: usize = 64 << 20;

impl MemoryPeek for QemuDriver {
    fn memory_peek(
        &self,
        dom: &DomainId,
        start: u64,
        size: usize,
        flags: MemoryFlags,
    ) -> Result<Vec<u8>> {
        check_memory_peek_flags(VIR_FROM_QEMU, flags, "qemuDomainMemoryPeek")?;
        if size > MEMORY_PEEK_MAX {
            return Err(Error::new(
                VIR_ERR_INVALID_ARG,
                VIR_FROM_QEMU,
                format!("size {size} exceeds the maximum of {MEMORY_PEEK_MAX} bytes per call"),
            ));
        }
        self.with_dom(dom, |lock, d| {
            d.run.as_ref().ok_or_else(not_running)?;
            if size == 0 {
                return Ok(Vec::new());
            }
            let mut qemu = self.attach(d)?;
            let file = self.store.mem_file(lock, d.def().name())?;
            // QEMU translates virtual addresses with the current CPU's page tables.
            let cmd = if flags == MemoryFlags::VIRTUAL {
                "memsave"
            } else {
                "pmemsave"
            };
            qemu.monitor().execute(
                cmd,
                Some(json!({"val": start, "size": size, "filename": file.path})),
            )?;
            let bytes = fs::read(&file.path)
                .map_err(|e| io_error(&e, format_args!("cannot read {}", file.path.display())))?;
            if bytes.len() != size {
                return Err(Error::new(
                    VIR_ERR_INTERNAL_ERROR,
                    VIR_FROM_QEMU,
                    format!(
                        "QEMU wrote {} bytes of memory instead of {size}",
                        bytes.len()
                    ),
                ));
            }
            Ok(bytes)
        })
    }
}
