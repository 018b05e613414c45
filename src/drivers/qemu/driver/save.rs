//! Save and restore of a domain, and the save image's XML: the driver's side (state,
//! job record, failures) around the data path in [`crate::drivers::qemu::migration`].

use std::fs::OpenOptions;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::abi::virDomainPausedReason::*;
use crate::abi::virDomainRunningReason::*;
use crate::abi::virDomainShutoffReason::*;
use crate::abi::virErrorDomain::VIR_FROM_QEMU;
use crate::abi::{DomainState, SaveImageXmlFlags, SaveRestoreFlags};
use crate::core::{DomainId, SaveRestore};
use crate::drivers::common::not_running;
use crate::drivers::failpoint;
use crate::drivers::qemu::command::Options;
use crate::drivers::qemu::defaults;
use crate::drivers::qemu::image::SaveImage;
use crate::drivers::qemu::job::SaveJob;
use crate::drivers::qemu::migration;
use crate::drivers::qemu::process::Qemu;
use crate::drivers::qemu::state::{Dom, Status};
use crate::drivers::qemu::store::{io_error, Locked};
use crate::xml::{check_abi_stability, parse_tree, DomainDef, FormatFlags};
use crate::{Error, Result};

use super::QemuDriver;

/// How long a save or restore may stream.
const STREAM_TIMEOUT: Duration = Duration::from_secs(3600);
/// The flags saves take: the state a restore starts in, and the page cache bypassed.
const SAVE_FLAGS: SaveRestoreFlags = SaveRestoreFlags::BYPASS_CACHE
    .union(SaveRestoreFlags::RUNNING)
    .union(SaveRestoreFlags::PAUSED);
/// How long a QEMU that failed a restore has to exit and say why in its log.
const EXIT_GRACE: Duration = Duration::from_millis(500);

impl QemuDriver {
    /// After a failed save of `dom`: a guest that ran runs again (reason save canceled);
    /// a QEMU that died leaves the domain shut off as crashed.
    fn save_failed(&self, lock: &Locked, dom: &Dom, qemu: &mut Qemu, was_running: bool) {
        if !qemu.is_running() {
            self.stopped(lock, dom, VIR_DOMAIN_SHUTOFF_CRASHED);
        } else if was_running && qemu.monitor().execute("cont", None).is_ok() {
            let id = dom.key().id;
            let status = Status::running(id, VIR_DOMAIN_RUNNING_SAVE_CANCELED);
            let _ = self.store.write_status(lock, dom.def().name(), status);
        }
    }

    /// The XML a save image keeps, `dxml` if given and compatible with the domain's.
    fn image_xml(&self, def: &DomainDef, live: &DomainDef, dxml: Option<&str>) -> Result<String> {
        let xml = defaults::migratable_xml(def, live)?;
        let Some(dxml) = dxml else { return Ok(xml) };
        let current = self.parse(&xml)?;
        let new = self.parse(dxml)?;
        check_abi_stability(&current, &new)?;
        Ok(new.to_xml(None, migratable_flags()))
    }
}

fn migratable_flags() -> FormatFlags {
    FormatFlags {
        secure: true,
        inactive: true,
        migratable: true,
    }
}

impl SaveRestore for QemuDriver {
    fn save(
        &self,
        dom: &DomainId,
        to: &Path,
        dxml: Option<&str>,
        flags: SaveRestoreFlags,
    ) -> Result<()> {
        Error::check_flags(VIR_FROM_QEMU, flags, SAVE_FLAGS, "qemuDomainSaveFlags")?;
        // As libvirt, the configured format is checked before anything else is looked at.
        let format = self.config.save_format()?;
        migration::check_writable(format)?;
        self.with_dom(dom, |lock, d| {
            let run = d.run.as_ref().ok_or_else(not_running)?;
            let xml = self.image_xml(&run.def, &run.live, dxml)?;
            let was_running = !run.status.is_paused();
            let mut image = SaveImage::new(
                xml,
                Some(defaults::cookie_xml(&run.live)),
                flags.requested_state().unwrap_or(was_running),
            );
            image.header.format = format as u32;
            let mut qemu = self.attach(d)?;
            let name = d.def().name();
            let id = run.status.id;
            let mut job = SaveJob::begin(&self.store, lock, name, run.status)?;
            // As libvirt does, the guest is paused before anything can fail, so that a
            // failure resumes it with reason save canceled.
            let paused = if was_running {
                qemu.monitor().execute("stop", None).and_then(|_| {
                    let status = Status::paused(id, VIR_DOMAIN_PAUSED_SAVE);
                    self.store.write_status(lock, name, status)
                })
            } else {
                Ok(())
            };
            let file = paused
                .and_then(|()| migration::new_image_file(to))
                .and_then(|file| {
                    job.writing(&self.store, lock, name, file.path())
                        .map(|()| file)
                });
            let file = match file {
                Ok(file) => file,
                Err(e) => {
                    self.save_failed(lock, d, &mut qemu, was_running);
                    SaveJob::finish(&self.store, lock, name);
                    return Err(e);
                }
            };
            failpoint::kill_at("save-paused");
            let saved = migration::save_image(
                qemu.monitor(),
                file,
                to,
                &image,
                flags.contains(SaveRestoreFlags::BYPASS_CACHE),
                Instant::now() + STREAM_TIMEOUT,
            );
            if let Err(e) = saved {
                self.save_failed(lock, d, &mut qemu, was_running);
                SaveJob::finish(&self.store, lock, name);
                return Err(e);
            }
            let _ = qemu.stop();
            self.stopped(lock, d, VIR_DOMAIN_SHUTOFF_SAVED);
            Ok(())
        })
    }

    fn restore(&self, from: &Path, dxml: Option<&str>, flags: SaveRestoreFlags) -> Result<()> {
        // RESET_NVRAM is accepted as libvirt accepts it; the driver runs no guest with an
        // NVRAM (`<loader>`/`<nvram>` are refused), so there is nothing to reset.
        let known = SAVE_FLAGS | SaveRestoreFlags::RESET_NVRAM;
        Error::check_flags(VIR_FROM_QEMU, flags, known, "qemuDomainRestoreFlags")?;
        // Under the lock, so that no image edit of this root is half done.
        let lock = self.store.lock()?;
        let (file, image) = SaveImage::open(from)?;
        let saved = self.parse(&image.xml)?;
        let def = match dxml {
            Some(dxml) => {
                let new = self.parse(dxml)?;
                check_abi_stability(&saved, &new)?;
                new
            }
            None => saved,
        };
        let cookie = match &image.cookie {
            Some(text) => Some(parse_tree(text, "(save cookie)", VIR_FROM_QEMU)?),
            None => None,
        };
        let options = Options {
            incoming: true,
            cpu: cookie.as_ref().and_then(|c| c.child("cpu")),
        };
        let doms = self.scan(&lock)?;
        Self::check_startable(&doms, &def)?;
        // As in libvirt, a restore that fails once QEMU is asked for leaves the domain
        // shut off as failed.
        let failed = |e: Error| {
            self.set_shutoff(def.uuid(), VIR_DOMAIN_SHUTOFF_FAILED);
            e
        };
        let mut qemu = self.start_qemu(&lock, &def, &options).map_err(failed)?;
        let restored = migration::restore_image(
            qemu.monitor(),
            &file,
            &image,
            flags.contains(SaveRestoreFlags::BYPASS_CACHE),
            Instant::now() + STREAM_TIMEOUT,
        );
        if let Err(mut e) = restored {
            // A stream QEMU could not load makes it quit; its log says why.
            if qemu.wait_exit(Instant::now() + EXIT_GRACE) {
                e.message = format!("{}: {}", e.message, qemu.log_tail());
            }
            let _ = qemu.kill();
            self.store.remove_run(&lock, def.name());
            return Err(failed(e));
        }
        let running = flags.requested_state().unwrap_or(image.header.was_running);
        let state = if running {
            DomainState::Running(VIR_DOMAIN_RUNNING_RESTORED)
        } else {
            DomainState::Paused(VIR_DOMAIN_PAUSED_MIGRATION)
        };
        self.launch(&lock, qemu, &def, options.cpu, state)
            .map(drop)
            .map_err(failed)
    }

    fn save_image_xml(&self, file: &Path, flags: SaveImageXmlFlags) -> Result<String> {
        let secure = SaveImageXmlFlags::SECURE;
        Error::check_flags(
            VIR_FROM_QEMU,
            flags,
            secure,
            "qemuDomainSaveImageGetXMLDesc",
        )?;
        let (_, image) = SaveImage::open(file)?;
        let def = self.parse_image_xml(&image.xml)?;
        Ok(def.to_xml(
            None,
            FormatFlags {
                secure: flags.contains(secure),
                ..FormatFlags::default()
            },
        ))
    }

    fn save_image_define_xml(
        &self,
        file: &Path,
        dxml: &str,
        flags: SaveRestoreFlags,
    ) -> Result<()> {
        let known = SaveRestoreFlags::RUNNING | SaveRestoreFlags::PAUSED;
        Error::check_flags(VIR_FROM_QEMU, flags, known, "qemuDomainSaveImageDefineXML")?;
        // Restores of this root read images under the lock: none sees half an edit.
        let _lock = self.store.lock()?;
        let handle = OpenOptions::new()
            .read(true)
            .write(true)
            .open(file)
            .map_err(|e| crate::drivers::qemu::image::open_error(&e, file))?;
        let mut image = SaveImage::read(&handle)?;
        let old = self.parse_image_xml(&image.xml)?;
        let new = self.parse_image_xml(dxml)?;
        check_abi_stability(&old, &new)?;
        image.xml = new.to_xml(None, migratable_flags());
        if image.cookie.is_some() {
            image.header.cookie_offset = image.xml.len() as u32 + 1;
        }
        if let Some(running) = flags.requested_state() {
            image.header.was_running = running;
        }
        image.write_at_start(&handle)?;
        handle.sync_all().map_err(|e| {
            io_error(
                &e,
                format_args!("unable to sync save file '{}'", file.display()),
            )
        })
    }
}
