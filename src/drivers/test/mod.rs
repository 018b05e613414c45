//! `test:///default`: an in-process hypervisor that behaves like libvirt 9.0's test driver.
//!
//! Every connection open at the same time shares one state; when the last one closes the
//! state goes, and the next connection starts again from the default domain `test`, as
//! in libvirt.

mod image;
mod node;
mod state;

use std::ffi::CStr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use url::Url;

use crate::abi::virErrorDomain::VIR_FROM_TEST;
use crate::abi::virErrorNumber::VIR_ERR_INVALID_ARG;
use crate::abi::{
    ConnectFlags, CreateFlags, DefineFlags, DestroyFlags, DomainState, HostnameFlags,
    ListDomainsFlags, MemoryFlags, NoFlags, SaveImageXmlFlags, SaveRestoreFlags, UndefineFlags,
    XmlFlags,
};
use crate::core::{DomainId, DomainInfo, Driver, MemoryPeek, SaveRestore};
use crate::drivers::common::check_memory_peek_flags;
use crate::drivers::Scheme;
use crate::xml::{check_abi_stability, DomainDef, FormatFlags};
use crate::{Error, Result};

pub use image::Image;
use state::{StartReason, State};

/// The virtualization types the test driver's guests may have.
pub const VIRT_TYPES: &[&str] = &["test"];

/// `test:///default` (shared by every connection) and `test:///PATH` (a configuration
/// file of libvirt's test driver format, a driver of its own).
pub const SCHEME: Scheme = Scheme {
    name: "test",
    open: open_uri,
};

fn open_uri(uri: &Url, flags: ConnectFlags) -> Result<Arc<dyn Driver>> {
    let known = ConnectFlags::RO | ConnectFlags::NO_ALIASES;
    Error::check_flags(VIR_FROM_TEST, flags, known, "testConnectOpen")?;
    match uri.path() {
        "/default" => Ok(TestDriver::default_shared()?),
        "/" | "" => Err(Error::new(
            VIR_ERR_INVALID_ARG,
            VIR_FROM_TEST,
            "testOpen: supply a path or use test:///default",
        )),
        path => Ok(TestDriver::from_file(Path::new(path))?),
    }
}

/// The test driver: one shared state behind a lock.
pub struct TestDriver {
    state: Mutex<State>,
}

/// The state every `test:///default` connection shares while any is open.
static DEFAULT: Mutex<Weak<TestDriver>> = Mutex::new(Weak::new());

impl TestDriver {
    /// The shared default driver, made afresh when no connection holds it.
    pub fn default_shared() -> Result<Arc<TestDriver>> {
        let mut slot = DEFAULT.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(driver) = slot.upgrade() {
            return Ok(driver);
        }
        let driver = Arc::new(TestDriver {
            state: Mutex::new(State::with_default_domain()?),
        });
        *slot = Arc::downgrade(&driver);
        Ok(driver)
    }

    /// A driver of its own for the configuration file `path`, as `test:///path` opens.
    pub fn from_file(path: &Path) -> Result<Arc<TestDriver>> {
        Ok(Arc::new(TestDriver {
            state: Mutex::new(node::load(path)?),
        }))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held cannot leave a half-made change visible: every
        // change is prepared first and applied with plain assignments.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A definition as the test driver takes it: parsed, and its unnamed interfaces named.
fn parse(xml: &str) -> Result<DomainDef> {
    let mut def = DomainDef::parse(xml, VIRT_TYPES)?;
    def.name_interfaces("testnet");
    Ok(def)
}

/// An image and the definition it holds, both checked, as every image call starts.
fn open_image(path: &Path) -> Result<(Image, DomainDef)> {
    let image = Image::read(path)?;
    let def = DomainDef::parse(&image.xml, VIRT_TYPES)?;
    Ok((image, def))
}

/// The save flags the test driver knows: a save records, and a restore obeys, the state
/// to start in.
const SAVE_STATE_FLAGS: SaveRestoreFlags =
    SaveRestoreFlags::RUNNING.union(SaveRestoreFlags::PAUSED);

/// The XML of `dxml` when it may stand in for `current`, as libvirt checks it.
fn replacement(current: &DomainDef, dxml: Option<&str>) -> Result<Option<DomainDef>> {
    let Some(dxml) = dxml else { return Ok(None) };
    let new = parse(dxml)?;
    check_abi_stability(current, &new)?;
    Ok(Some(new))
}

impl Driver for TestDriver {
    fn type_name(&self) -> &'static CStr {
        c"TEST"
    }

    fn hypervisor_version(&self) -> u64 {
        2
    }

    fn lookup_by_name(&self, name: &str) -> Result<DomainId> {
        self.state().by_name(name).map(|d| d.key())
    }

    fn lookup_by_id(&self, id: i32) -> Result<DomainId> {
        self.state().by_id(id).map(|d| d.key())
    }

    fn lookup_by_uuid(&self, uuid: &[u8; 16]) -> Result<DomainId> {
        self.state().by_uuid(uuid).map(|d| d.key())
    }

    fn list_all(&self, flags: ListDomainsFlags) -> Result<Vec<DomainId>> {
        Error::check_flags(
            VIR_FROM_TEST,
            flags,
            ListDomainsFlags::all(),
            "testConnectListAllDomains",
        )?;
        Ok(self.state().list(flags))
    }

    fn active_ids(&self) -> Result<Vec<i32>> {
        Ok(self.state().active_ids())
    }

    fn defined_names(&self) -> Result<Vec<String>> {
        Ok(self.state().defined_names())
    }

    fn define_xml(&self, xml: &str, flags: DefineFlags) -> Result<DomainId> {
        let validate = DefineFlags::VALIDATE;
        Error::check_flags(VIR_FROM_TEST, flags, validate, "testDomainDefineXMLFlags")?;
        let def = parse(xml)?;
        if flags.contains(validate) {
            def.validate_schema()?;
        }
        self.state().define(def)
    }

    fn create_xml(&self, xml: &str, flags: CreateFlags) -> Result<DomainId> {
        Error::check_flags(
            VIR_FROM_TEST,
            flags,
            CreateFlags::empty(),
            "testDomainCreateXML",
        )?;
        let def = parse(xml)?;
        self.state().add_live(def, StartReason::Booted)
    }

    fn create(&self, dom: &DomainId, flags: CreateFlags) -> Result<()> {
        let none = CreateFlags::empty();
        Error::check_flags(VIR_FROM_TEST, flags, none, "testDomainCreateWithFlags")?;
        self.state().start(dom)
    }

    fn destroy(&self, dom: &DomainId, flags: DestroyFlags) -> Result<()> {
        let graceful = DestroyFlags::GRACEFUL;
        Error::check_flags(VIR_FROM_TEST, flags, graceful, "testDomainDestroyFlags")?;
        self.state().destroy(dom)
    }

    fn suspend(&self, dom: &DomainId) -> Result<()> {
        self.state().suspend(dom)
    }

    fn resume(&self, dom: &DomainId) -> Result<()> {
        self.state().resume(dom)
    }

    fn undefine(&self, dom: &DomainId, flags: UndefineFlags) -> Result<()> {
        // Managed saves and snapshot metadata of the test driver live in memory only, and
        // go with the domain, so asking for their removal is accepted.
        let known = UndefineFlags::MANAGED_SAVE | UndefineFlags::SNAPSHOTS_METADATA;
        Error::check_flags(VIR_FROM_TEST, flags, known, "testDomainUndefineFlags")?;
        self.state().undefine(dom)
    }

    fn xml_desc(&self, dom: &DomainId, flags: XmlFlags) -> Result<String> {
        let known = XmlFlags::all();
        Error::check_flags(VIR_FROM_TEST, flags, known, "testDomainGetXMLDesc")?;
        self.state().find(dom)?.xml(flags)
    }

    fn state(&self, dom: &DomainId, flags: NoFlags) -> Result<DomainState> {
        Error::check_flags(VIR_FROM_TEST, flags, NoFlags::empty(), "testDomainGetState")?;
        Ok(self.state().find(dom)?.state)
    }

    fn info(&self, dom: &DomainId) -> Result<DomainInfo> {
        Ok(self.state().find(dom)?.info())
    }

    fn is_active(&self, dom: &DomainId) -> Result<bool> {
        Ok(self.state().find(dom)?.is_active())
    }

    fn is_persistent(&self, dom: &DomainId) -> Result<bool> {
        Ok(self.state().find(dom)?.persistent)
    }

    fn hostname(&self, dom: &DomainId, flags: HostnameFlags) -> Result<String> {
        // As libvirt's test driver: no flag known, and a name made up from the domain's.
        let none = HostnameFlags::empty();
        Error::check_flags(VIR_FROM_TEST, flags, none, "testDomainGetHostname")?;
        self.state().find_active(dom)?;
        Ok(format!("{}host", dom.name))
    }

    fn save_restore(&self) -> Option<&dyn SaveRestore> {
        Some(self)
    }

    fn memory_peek(&self) -> Option<&dyn MemoryPeek> {
        Some(self)
    }
}

impl MemoryPeek for TestDriver {
    fn memory_peek(
        &self,
        dom: &DomainId,
        start: u64,
        size: usize,
        flags: MemoryFlags,
    ) -> Result<Vec<u8>> {
        // As libvirt's test driver: byte i of the answer is the low byte of start + i.
        check_memory_peek_flags(VIR_FROM_TEST, flags, "testDomainMemoryPeek")?;
        self.state().find_active(dom)?;
        let mut bytes = Vec::new();
        bytes
            .try_reserve_exact(size)
            .map_err(|_| Error::internal(format!("cannot allocate {size} bytes")))?;
        bytes.extend((0..size).map(|i| start.wrapping_add(i as u64) as u8));
        Ok(bytes)
    }
}

impl SaveRestore for TestDriver {
    fn save(
        &self,
        dom: &DomainId,
        to: &Path,
        dxml: Option<&str>,
        flags: SaveRestoreFlags,
    ) -> Result<()> {
        Error::check_flags(
            VIR_FROM_TEST,
            flags,
            SAVE_STATE_FLAGS,
            "testDomainSaveFlags",
        )?;
        let mut state = self.state();
        let domain = state.find_active(dom)?;
        let replaced = replacement(&domain.def, dxml)?;
        let def = replaced.as_ref().unwrap_or(&domain.def);
        let image = Image {
            xml: def.to_xml(
                Some(domain.id),
                FormatFlags {
                    secure: true,
                    ..FormatFlags::default()
                },
            ),
            was_running: flags.requested_state(),
        };
        image.write(
            to,
            &format!("saving domain '{}' to '{}'", dom.name, to.display()),
        )?;
        state.stop_saved(dom)
    }

    fn restore(&self, from: &Path, dxml: Option<&str>, flags: SaveRestoreFlags) -> Result<()> {
        Error::check_flags(
            VIR_FROM_TEST,
            flags,
            SAVE_STATE_FLAGS,
            "testDomainRestoreFlags",
        )?;
        let (image, saved) = open_image(from)?;
        let def = replacement(&saved, dxml)?.unwrap_or(saved);
        let running = flags
            .requested_state()
            .or(image.was_running)
            .unwrap_or(true);
        let reason = if running {
            StartReason::Restored
        } else {
            StartReason::RestoredPaused
        };
        self.state().add_live(def, reason).map(drop)
    }

    fn save_image_xml(&self, file: &Path, flags: SaveImageXmlFlags) -> Result<String> {
        let secure = SaveImageXmlFlags::SECURE;
        Error::check_flags(
            VIR_FROM_TEST,
            flags,
            secure,
            "testDomainSaveImageGetXMLDesc",
        )?;
        let (_, def) = open_image(file)?;
        Ok(def.to_xml(
            None,
            FormatFlags {
                secure: true,
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
        Error::check_flags(
            VIR_FROM_TEST,
            flags,
            SAVE_STATE_FLAGS,
            "testDomainSaveImageDefineXML",
        )?;
        let (old, _) = open_image(file)?;
        // libvirt's test driver keeps whatever the caller gives, renames included: no
        // compatibility check here, only a well-formed definition.
        let def = parse(dxml)?;
        let image = Image {
            xml: def.to_xml(
                None,
                FormatFlags {
                    secure: true,
                    ..FormatFlags::default()
                },
            ),
            was_running: flags.requested_state().or(old.was_running),
        };
        image.write(
            file,
            &format!("saving domain '{}' to '{}'", def.name(), file.display()),
        )
    }
}

#[cfg(test)]
mod tests;
