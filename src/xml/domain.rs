//! The domain definition: the document as given, with what libvirt interprets checked and
//! normalized as libvirt 9.0 does, and typed access to what save and restore rely on.

use super::tree::{Element, SmallStr};
use super::{boot, devices, layout, platform, read, report, seclabel, values, write};
use crate::abi::virErrorDomain::{VIR_FROM_DOMAIN, VIR_FROM_XML};
use crate::abi::virErrorNumber::{
    VIR_ERR_INTERNAL_ERROR, VIR_ERR_NO_NAME, VIR_ERR_XML_ERROR, VIR_ERR_XML_INVALID_SCHEMA,
};
use crate::error::{Error, Result};
use report::{enum_attr, invalid_attr, invalid_uint_attr, unsupported, xml_error};

/// Every hypervisor type libvirt 9.0 knows (`virDomainVirtType`).
#[rustfmt::skip]
const VIRT_TYPES: &[&str] = &[
    "none", "qemu", "kqemu", "kvm", "xen", "lxc", "uml", "openvz", "test", "vmware", "hyperv",
    "vbox", "phyp", "parallels", "bhyve", "vz", "hvf",
];
const OS_TYPES: &[&str] = &["hvm", "xen", "linux", "exe", "uml", "xenpvh"];
/// libvirt 9.0's architectures (`virArch`), bar "none".
#[rustfmt::skip]
const ARCHES: &[&str] = &[
    "alpha", "armv6l", "armv7l", "armv7b", "aarch64", "cris", "i686", "ia64", "lm32", "m68k",
    "microblaze", "microblazeel", "mips", "mipsel", "mips64", "mips64el", "openrisc", "parisc",
    "parisc64", "ppc", "ppcle", "ppc64", "ppc64le", "ppcemb", "riscv32", "riscv64", "s390",
    "s390x", "sh4", "sh4eb", "sparc", "sparc64", "unicore32", "x86_64", "xtensa", "xtensaeb",
];
const BOOT_DEVICES: &[&str] = &["fd", "cdrom", "hd", "network"];
const CLOCK_OFFSETS: &[&str] = &["utc", "localtime", "timezone", "variable", "absolute"];
const PLACEMENTS: &[&str] = &["static", "auto"];
const STOP_ACTIONS: &[&str] = &["destroy", "restart", "preserve", "rename-restart"];
#[rustfmt::skip]
const CRASH_ACTIONS: &[&str] = &[
    "destroy", "restart", "preserve", "rename-restart", "coredump-destroy", "coredump-restart",
];
/// Lifecycle elements in the order libvirt parses them, with their actions and default.
const LIFECYCLE: &[(&str, &[&str], &str)] = &[
    ("on_reboot", STOP_ACTIONS, "restart"),
    ("on_poweroff", STOP_ACTIONS, "destroy"),
    ("on_crash", CRASH_ACTIONS, "destroy"),
];

/// A parsed domain definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainDef {
    root: Element,
    name: SmallStr,
    uuid: [u8; 16],
    virt_type: SmallStr,
    max_memory_kib: u64,
    current_memory_kib: u64,
    max_vcpus: u32,
    vcpus: u32,
}

/// A hypervisor driver's completion of a definition, at the two points where libvirt 9.0's
/// parser calls its driver: the driver inserts what it adds in any place (the parse puts
/// everything in libvirt's order afterwards).
pub trait DriverDefaults {
    /// Once the generic elements are read and checked, before the devices are completed
    /// (libvirt's domain post-parse callback): machine, emulator, the devices the driver
    /// always adds. Devices added here come before the controllers the generic completion
    /// adds for disks, as in libvirt.
    fn domain(&self, domain: &mut Element) -> Result<()>;

    /// After the generic completion of devices (implicit controllers, the serial console)
    /// and of memory: the driver's device defaults, then its addresses.
    fn devices(&self, domain: &mut Element) -> Result<()>;

    /// The model of the host's first security driver, which a lone `<seclabel>` without
    /// one takes (`seclabel`); `None` leaves security labels as written.
    fn security_model(&self) -> Option<&str> {
        None
    }
}

/// What `to_xml` includes, after libvirt's `VIR_DOMAIN_XML_*` flags.
#[derive(Clone, Copy, Debug, Default)]
pub struct FormatFlags {
    /// Include secrets (graphics passwords, network disk cookies).
    pub secure: bool,
    /// The persistent form: no `id`. (Live-only state is already dropped by the parse.)
    pub inactive: bool,
    /// For another host: the same as the plain form here; QEMU's own defaults are the
    /// QEMU driver's to remove.
    pub migratable: bool,
}

impl DomainDef {
    /// Parses, validates and normalizes domain XML the way libvirt 9.0 does when a driver
    /// whose guests have one of `virt_types` (e.g. `&["test"]`) parses it. Any `id`
    /// attribute is ignored (libvirt's inactive parse). Errors carry libvirt's codes and
    /// messages; the checks run in libvirt's order, so the first failure is libvirt's.
    ///
    /// libvirt's test driver checks no capabilities: when `virt_types` holds "test", every
    /// type libvirt knows is accepted, as `test:///default` accepts `type='kvm'`.
    pub fn parse(xml: &str, virt_types: &[&str]) -> Result<DomainDef> {
        Self::parse_inner(xml, virt_types, None, false)
    }

    /// A running domain's XML read back as libvirt reads its status XML: what only a
    /// running domain has (device aliases, pty paths, disk source indexes, the names the
    /// host gave interfaces) is kept, where [`DomainDef::parse`] forgets it.
    pub fn parse_live(xml: &str, virt_types: &[&str]) -> Result<DomainDef> {
        Self::parse_inner(xml, virt_types, None, true)
    }

    /// [`DomainDef::parse`] for a driver that completes definitions with its own defaults
    /// (`driver`), called where libvirt calls its driver's post-parse callbacks.
    pub fn parse_with(
        xml: &str,
        virt_types: &[&str],
        driver: &dyn DriverDefaults,
    ) -> Result<DomainDef> {
        Self::parse_inner(xml, virt_types, Some(driver), false)
    }

    fn parse_inner(
        xml: &str,
        virt_types: &[&str],
        driver: Option<&dyn DriverDefaults>,
        live: bool,
    ) -> Result<DomainDef> {
        let mut root = read::parse(xml, "(domain_definition)", VIR_FROM_DOMAIN)?;
        let local_name = root.name.rsplit(':').next().unwrap_or_default();
        if local_name != "domain" {
            return Err(Error::new(
                VIR_ERR_XML_ERROR,
                VIR_FROM_XML,
                format!("expecting root element of 'domain', not '{local_name}'"),
            ));
        }
        let virt_type = virt_type(&mut root, virt_types)?;
        let name = root
            .child("name")
            .map(|e| SmallStr::from(e.text()))
            .unwrap_or_default();
        if name.is_empty() {
            return Err(Error::bare(VIR_ERR_NO_NAME, VIR_FROM_DOMAIN));
        }
        let uuid = uuid_element(&mut root, "uuid", true)?.expect("uuid is required");
        uuid_element(&mut root, "genid", false)?;
        let hvm = os_type(&mut root, virt_types)?;
        if root.child("title").is_some_and(|t| t.text().contains('\n')) {
            return Err(xml_error("Domain title can't contain newlines"));
        }
        let max_memory = memory(&root, "memory", "./memory[1]")?.unwrap_or(0);
        let current_memory = memory(&root, "currentMemory", "./currentMemory[1]")?.unwrap_or(0);
        let max_memory_limit = memory(&root, "maxMemory", "./maxMemory[1]")?;
        memtune(&mut root)?;
        let (max_vcpus, vcpus) = vcpus(&mut root)?;
        platform::check_cpu(&root)?;
        let numa_memory = platform::check_numa(&root, max_vcpus)?;
        platform::check_features(&root)?;
        lifecycle(&mut root)?;
        clock(&mut root)?;
        boot(&mut root, hvm)?;
        boot::check_menu(&root)?;
        let devices = root.child_or_insert("devices");
        devices::check(devices)?;
        if let Some(model) = driver.and_then(|d| d.security_model()) {
            seclabel::complete(&mut root, model)?;
        }
        if let Some(driver) = driver {
            driver.domain(&mut root)?;
        }

        // What libvirt completes after parsing, in its order.
        if max_vcpus == 0 {
            return Err(Error::new(
                VIR_ERR_INTERNAL_ERROR,
                VIR_FROM_DOMAIN,
                "CPU IDs in <numa> exceed the <vcpu> count",
            ));
        }
        let devices = root.child_or_insert("devices");
        devices::complete(devices, hvm, live)?;
        // Without <memory>, the NUMA cells' memory is the guest's.
        let max_memory = if max_memory == 0 {
            numa_memory
        } else {
            max_memory
        };
        if max_memory == 0 {
            return Err(xml_error(
                "Memory size must be specified via <memory> or in the <numa> configuration",
            ));
        }
        devices::reject_duplicate_controllers(
            root.child("devices").expect("devices was inserted"),
        )?;
        if hvm {
            boot::check_order(&root)?;
        }
        let current_memory = match current_memory {
            0 => max_memory,
            c => c.min(max_memory),
        };
        set_kib(&mut root, "memory", max_memory);
        set_kib(&mut root, "currentMemory", current_memory);
        if let Some(max) = max_memory_limit {
            set_kib(&mut root, "maxMemory", max);
        }

        // libvirt's validation.
        if name.contains('/') {
            return Err(xml_error(format!("name {name} cannot contain '/'")));
        }
        boot::validate_menu(&root)?;
        devices::validate(root.child("devices").expect("devices was inserted"))?;
        if let Some(driver) = driver {
            driver.devices(&mut root)?;
            reorder(&mut root);
        }

        layout::order_domain(&mut root);
        Ok(DomainDef {
            root,
            name,
            uuid,
            virt_type,
            max_memory_kib: max_memory,
            current_memory_kib: current_memory,
            max_vcpus,
            vcpus,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn uuid(&self) -> [u8; 16] {
        self.uuid
    }

    /// The UUID as libvirt prints it: "6695eb01-f6a4-8304-79aa-97f2502e193f".
    pub fn uuid_string(&self) -> String {
        values::format_uuid(&self.uuid)
    }

    /// The `type` of `<domain>`: "test", "qemu", ...
    pub fn virt_type(&self) -> &str {
        &self.virt_type
    }

    /// `<memory>` in KiB.
    pub fn max_memory_kib(&self) -> u64 {
        self.max_memory_kib
    }

    /// `<currentMemory>` in KiB, never above `<memory>`.
    pub fn current_memory_kib(&self) -> u64 {
        self.current_memory_kib
    }

    /// The vCPUs the guest runs with: `<vcpu current>`, else `<vcpu>`.
    pub fn vcpus(&self) -> u32 {
        self.vcpus
    }

    /// The vCPU maximum: `<vcpu>`.
    pub fn max_vcpus(&self) -> u32 {
        self.max_vcpus
    }

    /// The root element, for the ABI comparison.
    pub(super) fn root(&self) -> &Element {
        &self.root
    }

    /// The document's tree, for drivers that read what they interpret.
    pub fn element(&self) -> &Element {
        &self.root
    }

    /// Changes the tree with `edit`, then puts what it added or moved in libvirt's order:
    /// the children of `<domain>`, `<os>` and `<devices>`, and of each device (its
    /// `<boot>`, `<alias>` and `<address>` last, in that order). For drivers that complete
    /// a definition after its parse, e.g. with what a running domain adds.
    ///
    /// `edit` must leave the name, UUID, type, memory sizes and vCPU counts as they are:
    /// see [`DomainDef::set_memory_kib`].
    pub fn edit<R>(&mut self, edit: impl FnOnce(&mut Element) -> R) -> R {
        let out = edit(&mut self.root);
        if let Some(os) = self.root.child_mut("os") {
            layout::order_os(os);
        }
        reorder(&mut self.root);
        layout::order_domain(&mut self.root);
        out
    }

    /// Sets `<memory>` and `<currentMemory>` (KiB); the current size is capped at the
    /// maximum as the parse caps it.
    pub fn set_memory_kib(&mut self, max: u64, current: u64) {
        let current = current.min(max);
        set_kib(&mut self.root, "memory", max);
        set_kib(&mut self.root, "currentMemory", current);
        self.max_memory_kib = max;
        self.current_memory_kib = current;
    }

    /// libvirt's `VIR_DOMAIN_DEFINE_VALIDATE` check, as far as virshim knows libvirt's RNG
    /// schema: every child of `<domain>` and `<devices>` must be one libvirt defines there
    /// (or belong to another namespace).
    pub fn validate_schema(&self) -> Result<()> {
        match layout::unknown_child(&self.root) {
            None => Ok(()),
            Some((parent, name)) => Err(Error::new(
                VIR_ERR_XML_INVALID_SCHEMA,
                VIR_FROM_XML,
                format!(
                    "Unable to validate doc against /usr/share/libvirt/schemas/domain.rng\n\
                     Element {parent} has extra content: {name}\n"
                ),
            )),
        }
    }

    /// Names every interface without a `<target dev>` with the first free `prefixN`, as
    /// libvirt's test driver does with "testnet" when it defines or starts a domain.
    pub fn name_interfaces(&mut self, prefix: &str) {
        if let Some(devices) = self.root.child_mut("devices") {
            devices::name_interfaces(devices, prefix);
        }
    }

    /// libvirt's formatting (2-space indent, single quotes, trailing newline), with
    /// `id='N'` on the root when `id` is Some and the form is not inactive.
    pub fn to_xml(&self, id: Option<i32>, flags: FormatFlags) -> String {
        let id = id
            .filter(|_| !flags.inactive)
            .map(|id| SmallStr::from_i64(id.into()));
        let edits = write::Edits {
            id: id.as_deref(),
            hide_secrets_in: self.root.child("devices").filter(|_| !flags.secure),
            inactive: flags.inactive,
        };
        write::to_string_with(&self.root, edits)
    }
}

/// Puts the devices, and the children of each, in libvirt's order.
fn reorder(root: &mut Element) {
    if let Some(devices) = root.child_mut("devices") {
        layout::order_devices(devices);
        layout::order_device_info(devices);
    }
}

/// The root's `type`, moved first as libvirt writes it; drops `id` (inactive parse).
fn virt_type(root: &mut Element, virt_types: &[&str]) -> Result<SmallStr> {
    let t = root
        .remove_attr("type")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Error::new(
                VIR_ERR_INTERNAL_ERROR,
                VIR_FROM_DOMAIN,
                "missing domain type attribute",
            )
        })?;
    if !VIRT_TYPES.contains(&t.as_str()) {
        return Err(unsupported(format!("invalid domain type {t}")));
    }
    if !virt_types.contains(&"test") && !virt_types.contains(&t.as_str()) {
        return Err(unsupported(format!(
            "virt type '{t}' is not supported by this driver"
        )));
    }
    root.remove_attr("id");
    root.attrs.insert(0, ("type".into(), t.clone()));
    Ok(t)
}

/// A `<uuid>`-like element: parsed and written back canonically, generated when empty
/// (and, if `required`, when missing).
fn uuid_element(root: &mut Element, name: &str, required: bool) -> Result<Option<[u8; 16]>> {
    let text = match root.child(name) {
        Some(e) => e.text(),
        None if required => "".into(),
        None => return Ok(None),
    };
    let uuid = if text.is_empty() {
        *uuid::Uuid::new_v4().as_bytes()
    } else {
        values::parse_uuid(&text).ok_or_else(|| {
            Error::new(
                VIR_ERR_INTERNAL_ERROR,
                VIR_FROM_DOMAIN,
                format!("malformed {name} element"),
            )
        })?
    };
    let mut canonical = uuid::Uuid::encode_buffer();
    let canonical = uuid::Uuid::from_bytes(uuid)
        .hyphenated()
        .encode_lower(&mut canonical);
    let e = root.child_or_insert(name);
    // A canonical UUID, as libvirt writes them, stays as it is.
    if !e.is_text(canonical) {
        e.set_text(&*canonical);
    }
    Ok(Some(uuid))
}

/// Checks `<os><type>` and fills in the architecture; tells whether the guest is HVM.
fn os_type(root: &mut Element, virt_types: &[&str]) -> Result<bool> {
    let os_type = root
        .child("os")
        .and_then(|os| os.child("type"))
        .map(Element::text)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| xml_error("an os <type> must be specified"))?;
    if !OS_TYPES.contains(&&*os_type) {
        return Err(unsupported(format!("unknown OS type '{os_type}'")));
    }
    let hvm = os_type == "hvm";
    let type_el = root
        .child_mut("os")
        .and_then(|os| os.child_mut("type"))
        .expect("checked above");
    match type_el.attr("arch") {
        Some(arch) if !ARCHES.contains(&arch) => {
            return Err(unsupported(format!("Unknown architecture {arch}")));
        }
        Some(_) => {}
        None => type_el.set_attr_after(&[], "arch", default_arch(virt_types)),
    }
    Ok(hvm)
}

/// The architecture a guest gets without one: the test driver's guests are i686, other
/// drivers' run on the host's architecture.
fn default_arch(virt_types: &[&str]) -> &'static str {
    if virt_types.contains(&"test") {
        return "i686";
    }
    match std::env::consts::ARCH {
        "x86" => "i686",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "powerpc" => "ppc",
        arch => arch,
    }
}

/// A size element (`<memory>`, ...) in KiB; None when absent or empty. `xpath` names it
/// in messages.
fn memory(parent: &Element, name: &str, xpath: &str) -> Result<Option<u64>> {
    let e = parent.child(name);
    let text = e.map(Element::text);
    values::parse_kib(text.as_deref(), e.and_then(|e| e.attr("unit")), xpath)
}

/// Writes a size back as libvirt does: in KiB, `unit` last among the attributes.
fn set_kib(parent: &mut Element, name: &str, kib: u64) {
    let e = parent.child_or_insert(name);
    match e.attrs.last_mut() {
        Some((k, v)) if k == "unit" => *v = "KiB".into(),
        _ => {
            e.remove_attr("unit");
            e.set_attr("unit", "KiB");
        }
    }
    e.set_text(SmallStr::from_u64(kib));
}

/// `<memtune>` limits, in KiB like every size libvirt writes.
fn memtune(root: &mut Element) -> Result<()> {
    let Some(memtune) = root.child_mut("memtune") else {
        return Ok(());
    };
    for name in [
        "hard_limit",
        "soft_limit",
        "swap_hard_limit",
        "min_guarantee",
    ] {
        let xpath = format!("./memtune/{name}[1]");
        if let Some(kib) = memory(memtune, name, &xpath)? {
            set_kib(memtune, name, kib);
        }
    }
    Ok(())
}

/// `<vcpu>`: the maximum, the current count and placement; returns (max, current).
fn vcpus(root: &mut Element) -> Result<(u32, u32)> {
    let max = match root.child("vcpu") {
        None => 1,
        Some(vcpu) => values::parse_u32(&vcpu.text())
            .ok_or_else(|| xml_error("maximum vcpus count must be an integer"))?,
    };
    let vcpu = root.child_or_insert("vcpu");
    let current = match vcpu.attr("current") {
        None => max,
        Some(c) => values::parse_u32(c).ok_or_else(|| invalid_uint_attr("vcpu", "current", c))?,
    };
    let placement = SmallStr::new(enum_attr(vcpu, "placement", PLACEMENTS)?.unwrap_or("static"));
    if current > max {
        return Err(unsupported(
            "maximum vCPU count must not be less than current vCPU count",
        ));
    }
    vcpu.set_attr("placement", placement.clone());
    if current == max {
        vcpu.remove_attr("current");
    } else {
        vcpu.set_attr("current", SmallStr::from_u64(current.into()));
    }
    layout::order_attrs(vcpu, &["placement", "cpuset", "current"]);
    vcpu.set_text(SmallStr::from_u64(max.into()));
    if placement == "auto" && root.child("numatune").is_none() {
        let memory = Element::new("memory")
            .with_attr("mode", "strict")
            .with_attr("placement", "auto");
        root.push(Element::new("numatune").with_child(memory));
    }
    Ok((max, current))
}

fn lifecycle(root: &mut Element) -> Result<()> {
    for &(name, actions, default) in LIFECYCLE {
        let action = root.child(name).map(Element::text).unwrap_or_default();
        if !action.is_empty() && !actions.contains(&&*action) {
            let event = name.trim_start_matches("on_");
            return Err(unsupported(format!("unknown on_{event} action: {action}")));
        }
        let action = SmallStr::new(if action.is_empty() { default } else { &action });
        root.child_or_insert(name).set_text(action);
    }
    Ok(())
}

fn clock(root: &mut Element) -> Result<()> {
    let clock = root.child_or_insert("clock");
    let offset = SmallStr::new(
        clock
            .attr("offset")
            .filter(|o| !o.is_empty())
            .unwrap_or("utc"),
    );
    if !CLOCK_OFFSETS.contains(&offset.as_str()) {
        return Err(unsupported(format!("unknown clock offset '{offset}'")));
    }
    clock.set_attr("offset", offset.clone());
    if offset == "variable" {
        for (attr, default) in [("adjustment", "0"), ("basis", "utc")] {
            if clock.attr(attr).is_none() {
                clock.set_attr(attr, default);
            }
        }
    }
    layout::order_attrs(clock, &["offset", "adjustment", "basis"]);
    Ok(())
}

/// Boot options: an HVM guest that names no boot device boots from its disk unless a
/// bootloader or a device's `<boot order>` decides.
fn boot(root: &mut Element, hvm: bool) -> Result<()> {
    let booted_by_device = root.child("devices").is_some_and(|d| {
        d.elements().any(|dev| {
            dev.children_named("boot")
                .any(|b| b.attr("order").is_some())
        })
    });
    let has_bootloader = root.child("bootloader").is_some();
    let os = root.child_mut("os").expect("os type was checked");
    if os.child("type").is_some_and(|t| t.text() == "exe") && os.child("init").is_none() {
        return Err(xml_error("init binary must be specified"));
    }
    if hvm {
        for b in os.children_named("boot") {
            match b.attr("dev") {
                None => {
                    return Err(Error::new(
                        VIR_ERR_XML_ERROR,
                        VIR_FROM_XML,
                        "Missing required attribute 'dev' in element 'boot'",
                    ))
                }
                Some(dev) if !BOOT_DEVICES.contains(&dev) => {
                    return Err(invalid_attr("boot", "dev", dev))
                }
                Some(_) => {}
            }
        }
        if os.child("boot").is_none() && !booted_by_device && !has_bootloader {
            os.push(Element::new("boot").with_attr("dev", "hd"));
        }
    }
    layout::order_os(os);
    Ok(())
}
