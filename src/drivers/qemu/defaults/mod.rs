//! The QEMU driver's domain definitions: what libvirt 9.0's QEMU driver (with QEMU 7.2 on
//! x86_64) fills in when it defines a domain, and what a running domain's XML adds.
//!
//! [`parse`] reads domain XML with the generic parser and this driver's defaults at the
//! points where libvirt's QEMU driver adds them ([`DriverDefaults`]), then refuses what
//! virshim cannot run (`support`). The result is the definition libvirt stores on define
//! (`dumpxml --inactive`): machine type resolved, the emulator, the default CPU model, the
//! default devices (USB controller, PCI root, PS/2 mouse and keyboard, `<audio>`, the
//! memory balloon), disk drivers, serial port models and every device address.
//!
//! [`live()`] turns it into the running domain's XML (`dumpxml` of a running guest): device
//! aliases, disk source indexes, pty paths, the CPU features QEMU enabled, the memory QEMU
//! really has and the balloon's size.
//!
//! Every fact here was observed on libvirt 9.0 (`testdata/record.py` records them).
//!
//! Rooms: the defaults of a definition here, the running domain's XML in [`running`].

use std::fs::OpenOptions;

mod running;

use super::support;
use crate::abi::virErrorDomain::VIR_FROM_QEMU;
use crate::abi::virErrorNumber::{VIR_ERR_CONFIG_UNSUPPORTED, VIR_ERR_INVALID_ARG};
use crate::error::{Error, Result};
use crate::xml::{DomainDef, DriverDefaults, Element};
pub use running::{controller_alias, cookie_xml, disk_alias, live, migratable_xml, Runtime};

/// The domain types of this driver.
pub const VIRT_TYPES: &[&str] = &["qemu", "kvm"];
/// The emulator of a definition that names none.
pub const EMULATOR: &str = "/usr/bin/qemu-system-x86_64";
/// The machine type "pc" stands for, and that of a definition that names none.
pub const MACHINE: &str = "pc-i440fx-7.2";
/// The CPU model of a definition that names none (QEMU's default for the machine type).
pub const CPU_MODEL: &str = "qemu64";
/// The features QEMU 7.2 enables for `qemu64` under TCG beyond libvirt's definition of the
/// model: what a running TCG guest's CPU lists, each with policy `require`.
pub const TCG_QEMU64_FEATURES: &[&str] = &["hypervisor", "lahf_lm"];
/// The machine types of QEMU 7.2 virshim runs: the i440FX PCs.
#[rustfmt::skip]
pub const MACHINES: &[&str] = &[
    "pc", "pc-i440fx-7.2", "pc-i440fx-7.1", "pc-i440fx-7.0", "pc-i440fx-6.2", "pc-i440fx-6.1",
    "pc-i440fx-6.0", "pc-i440fx-5.2", "pc-i440fx-5.1", "pc-i440fx-5.0", "pc-i440fx-4.2",
    "pc-i440fx-4.1", "pc-i440fx-4.0", "pc-i440fx-3.1", "pc-i440fx-3.0", "pc-i440fx-2.12",
    "pc-i440fx-2.11", "pc-i440fx-2.10", "pc-i440fx-2.9", "pc-i440fx-2.8", "pc-i440fx-2.7",
    "pc-i440fx-2.6", "pc-i440fx-2.5", "pc-i440fx-2.4", "pc-i440fx-2.3", "pc-i440fx-2.2",
    "pc-i440fx-2.1", "pc-i440fx-2.0", "pc-i440fx-1.7", "pc-i440fx-1.6", "pc-i440fx-1.5",
    "pc-i440fx-1.4",
];
/// PCI slots of bus 0 a device may take: 0 is the host bridge, 1 the PIIX3.
const FIRST_FREE_SLOT: u32 = 2;
const LAST_SLOT: u32 = 31;

/// What the host offers, which decides what a definition may ask for.
#[derive(Clone, Copy, Debug)]
pub struct Host {
    /// Whether `/dev/kvm` can be used: `type='kvm'` needs it.
    pub kvm: bool,
    /// Whether the emulator a definition names must exist (libvirt probes it on define).
    pub check_emulator: bool,
}

impl Host {
    /// This host, as it is now.
    pub fn probe() -> Host {
        let kvm = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .is_ok();
        Host {
            kvm,
            check_emulator: true,
        }
    }
}

/// Parses domain XML as libvirt 9.0's QEMU driver does on define or create, refusing
/// what virshim cannot turn into QEMU options (`VIR_ERR_CONFIG_UNSUPPORTED`, from
/// `VIR_FROM_QEMU`, naming the element). The result is the inactive definition, complete.
/// A definition this returned (or libvirt wrote) parses to itself.
pub fn parse(xml: &str, host: &Host) -> Result<DomainDef> {
    let def = DomainDef::parse_with(xml, VIRT_TYPES, &QemuDefaults { host, run: true })?;
    support::check(&def)?;
    Ok(def)
}

/// Parses the domain XML of a save image to show or edit it, as libvirt 9.0's QEMU
/// driver does in `virDomainSaveImageGetXMLDesc` and `virDomainSaveImageDefineXML`: with
/// libvirt's validation of the XML itself, and never refused for what virshim cannot run
/// (restore and define say that). The defaults are completed only on the machines virshim
/// knows (an image libvirt wrote holds them all already, so another machine's XML stays
/// as written); no emulator, machine type or KVM is required of this host, where libvirt
/// would insist on them (a superset: libvirt on this host could not read a RHEL host's
/// image naming `/usr/libexec/qemu-kvm`).
pub fn parse_image_xml(xml: &str, host: &Host) -> Result<DomainDef> {
    DomainDef::parse_with(xml, VIRT_TYPES, &QemuDefaults { host, run: false })
}

/// The QEMU driver's defaults, at libvirt's two post-parse points.
struct QemuDefaults<'a> {
    host: &'a Host,
    /// The definition is to run here (define, create, restore), not only to be read.
    run: bool,
}

impl QemuDefaults<'_> {
    /// Whether this driver's defaults apply: to a definition that is to run, and to one
    /// of the machines it knows.
    fn completes(&self, domain: &Element) -> bool {
        self.run || machine_of(domain).is_none_or(|m| MACHINES.contains(&m))
    }
}

impl DriverDefaults for QemuDefaults<'_> {
    fn domain(&self, domain: &mut Element) -> Result<()> {
        if !self.completes(domain) {
            return Ok(());
        }
        if self.run {
            os(domain)?;
        }
        let host = Host {
            check_emulator: self.host.check_emulator && self.run,
            kvm: self.host.kvm || !self.run,
        };
        let emulator = emulator(domain, &host)?;
        machine(domain, &emulator, &host)?;
        cpu(domain);
        default_devices(domain.child_or_insert("devices"));
        Ok(())
    }

    fn devices(&self, domain: &mut Element) -> Result<()> {
        if !self.completes(domain) {
            return Ok(());
        }
        let devices = domain.child_or_insert("devices");
        device_defaults(devices);
        pci_addresses(devices)
    }

    fn security_model(&self) -> Option<&str> {
        Some(support::SECURITY_MODEL)
    }
}

/// The machine type a definition names, if any.
fn machine_of(domain: &Element) -> Option<&str> {
    domain
        .child("os")
        .and_then(|os| os.child("type"))
        .and_then(|t| t.attr("machine"))
}

/// Only x86_64 HVM guests: virshim's QEMU is qemu-system-x86_64.
fn os(domain: &Element) -> Result<()> {
    let type_el = domain.child("os").and_then(|os| os.child("type"));
    let os_type = type_el.map(Element::text).unwrap_or_default();
    if os_type != "hvm" {
        return Err(support::unsupported(format!(
            "<type>{os_type}</type> in <os>"
        )));
    }
    let arch = type_el.and_then(|t| t.attr("arch")).unwrap_or_default();
    if arch != "x86_64" {
        return Err(support::unsupported(format!(
            "<type arch='{arch}'> in <os>"
        )));
    }
    Ok(())
}

/// The emulator, the default one when none is named; it must exist (when the host says
/// so), as libvirt probes it.
fn emulator(domain: &mut Element, host: &Host) -> Result<String> {
    let devices = domain.child_or_insert("devices");
    if devices
        .child("emulator")
        .is_none_or(|e| e.text().is_empty())
    {
        devices.remove_children("emulator");
        let mut e = Element::new("emulator");
        e.set_text(EMULATOR);
        devices.prepend(e);
    }
    let path = devices
        .child("emulator")
        .expect("inserted")
        .text()
        .into_owned();
    if host.check_emulator {
        if let Err(e) = std::fs::metadata(&path) {
            return Err(Error::system(
                VIR_FROM_QEMU,
                &e,
                format!("Cannot check QEMU binary {path}"),
            ));
        }
    }
    Ok(path)
}

/// The machine type: "pc" and none stand for [`MACHINE`]; `type='kvm'` needs KVM.
fn machine(domain: &mut Element, emulator: &str, host: &Host) -> Result<()> {
    let type_el = domain
        .child_mut("os")
        .and_then(|os| os.child_mut("type"))
        .expect("checked by the parse");
    let given = type_el.attr("machine").map(str::to_owned);
    if domain.attr("type") == Some("kvm") && !host.kvm {
        return Err(match given {
            None => Error::new(
                VIR_ERR_INVALID_ARG,
                VIR_FROM_QEMU,
                format!("could not get preferred machine for {emulator} type=kvm"),
            ),
            Some(_) => Error::new(
                VIR_ERR_CONFIG_UNSUPPORTED,
                VIR_FROM_QEMU,
                format!("Emulator '{emulator}' does not support virt type 'kvm'"),
            ),
        });
    }
    let machine = match given.as_deref() {
        None | Some("pc") => MACHINE,
        Some(m) if MACHINES.contains(&m) => return Ok(()),
        Some(m) => {
            return Err(support::unsupported(format!(
                "<type machine='{m}'> in <os> (virshim runs the i440FX PC machines)"
            )))
        }
    };
    let type_el = domain
        .child_mut("os")
        .and_then(|os| os.child_mut("type"))
        .expect("checked by the parse");
    type_el.set_attr_after(&["arch"], "machine", machine);
    Ok(())
}

/// The guest CPU: QEMU's default model for the machine unless one is named, with the
/// attributes libvirt fills in for a custom CPU.
fn cpu(domain: &mut Element) {
    let Some(cpu) = domain.child_mut("cpu") else {
        domain.push(
            Element::new("cpu")
                .with_attr("mode", "custom")
                .with_attr("match", "exact")
                .with_attr("check", "none")
                .with_child(default_model()),
        );
        return;
    };
    if cpu.attr("mode").is_none() {
        cpu.set_attr_after(&[], "mode", "custom");
    }
    if cpu.attr("mode") != Some("custom") {
        return;
    }
    if cpu.attr("match").is_none() {
        cpu.set_attr_after(&["mode"], "match", "exact");
    }
    if cpu.attr("check").is_none() {
        cpu.set_attr_after(&["mode", "match"], "check", "none");
    }
    match cpu.child_mut("model") {
        None => cpu.prepend(default_model()),
        Some(model) if model.attr("fallback").is_none() => {
            model.set_attr_after(&[], "fallback", "allow");
        }
        Some(_) => {}
    }
    for feature in cpu.children_named_mut("feature") {
        let policy = feature.remove_attr("policy").unwrap_or("require".into());
        feature.set_attr_after(&[], "policy", policy);
    }
}

fn default_model() -> Element {
    let mut model = Element::new("model").with_attr("fallback", "forbid");
    model.set_text(CPU_MODEL);
    model
}

/// The devices libvirt's QEMU driver adds to every i440FX PC, in its order: the USB
/// controller, the PCI root, PS/2 mouse and keyboard, an audio backend, the balloon.
fn default_devices(devices: &mut Element) {
    let controller = |devices: &Element, kind: &str| {
        devices.children_named("controller").any(|c| {
            c.attr("type") == Some(kind) && c.attr("index").is_none_or(|i| i.trim() == "0")
        })
    };
    if !controller(devices, "usb") {
        devices.push(
            Element::new("controller")
                .with_attr("type", "usb")
                .with_attr("index", "0")
                .with_attr("model", "piix3-uhci"),
        );
    }
    if !controller(devices, "pci") {
        devices.push(
            Element::new("controller")
                .with_attr("type", "pci")
                .with_attr("index", "0")
                .with_attr("model", "pci-root"),
        );
    }
    for input in devices.children_named_mut("input") {
        if input.attr("bus").is_none() {
            let bus = if input.attr("type") == Some("tablet") {
                "usb"
            } else {
                "ps2"
            };
            input.set_attr_after(&["type"], "bus", bus);
        }
    }
    for kind in ["mouse", "keyboard"] {
        let present = devices
            .children_named("input")
            .any(|i| i.attr("type") == Some(kind) && i.attr("bus") == Some("ps2"));
        if !present {
            devices.push(
                Element::new("input")
                    .with_attr("type", kind)
                    .with_attr("bus", "ps2"),
            );
        }
    }
    if devices.child("audio").is_none() && devices.child("graphics").is_none() {
        devices.push(
            Element::new("audio")
                .with_attr("id", "1")
                .with_attr("type", "none"),
        );
    }
    if devices.child("memballoon").is_none() {
        devices.push(Element::new("memballoon").with_attr("model", "virtio"));
    }
}

/// Device defaults: disk drivers, controller models, serial port models.
fn device_defaults(devices: &mut Element) {
    for dev in devices.elements_mut() {
        match dev.name.as_str() {
            "disk" => {
                if dev.child("driver").is_none() {
                    dev.prepend(Element::new("driver"));
                }
                let driver = dev.child_mut("driver").expect("inserted");
                if driver.attr("name").is_none() {
                    driver.set_attr_after(&[], "name", "qemu");
                }
                if driver.attr("type").is_none() {
                    driver.set_attr_after(&["name"], "type", "raw");
                }
            }
            "controller" => {
                let model = match (dev.attr("type"), dev.attr("index")) {
                    (Some("usb"), _) => "piix3-uhci",
                    (Some("pci"), Some("0")) => "pci-root",
                    _ => continue,
                };
                if dev.attr("model").is_none() {
                    dev.set_attr_after(&["type", "index"], "model", model);
                }
            }
            "serial" => {
                let target = dev.child_or_insert("target");
                if target.attr("type").is_none() {
                    target.set_attr_after(&[], "type", "isa-serial");
                }
                if target.attr("type") == Some("isa-serial") && target.child("model").is_none() {
                    target.push(Element::new("model").with_attr("name", "isa-serial"));
                }
            }
            _ => {}
        }
    }
}

/// PCI addresses on bus 0, as libvirt assigns them on an i440FX PC: the PIIX3's USB and
/// IDE functions in slot 1, then the first free slot to each controller, each virtio disk
/// and the balloon, in that order, around the slots the definition already gives.
fn pci_addresses(devices: &mut Element) -> Result<()> {
    for dev in devices.children_named_mut("controller") {
        let function = match (dev.attr("type"), dev.attr("index"), dev.attr("model")) {
            (Some("usb"), Some("0"), Some("piix3-uhci")) => 2,
            (Some("ide"), Some("0"), _) => 1,
            _ => continue,
        };
        if dev.child("address").is_none() {
            dev.push(pci_address(1, function));
        }
    }
    let mut taken: Vec<u32> = devices
        .elements()
        .filter_map(|d| d.child("address"))
        .filter(|a| a.attr("type") == Some("pci"))
        .filter_map(|a| parse_hex(a.attr("slot")?))
        .collect();
    for class in ["controller", "disk", "memballoon"] {
        for dev in devices.children_named_mut(class) {
            let wants_slot = match class {
                "controller" => dev.attr("type") == Some("sata"),
                "disk" => dev.child("target").and_then(|t| t.attr("bus")) == Some("virtio"),
                _ => dev.attr("model") == Some("virtio"),
            };
            if !wants_slot || dev.child("address").is_some() {
                continue;
            }
            let slot = (FIRST_FREE_SLOT..=LAST_SLOT)
                .find(|s| !taken.contains(s))
                .ok_or_else(|| {
                    Error::new(
                        VIR_ERR_CONFIG_UNSUPPORTED,
                        VIR_FROM_QEMU,
                        format!(
                            "no free PCI slot on bus 0 for <{class}> (virshim adds no PCI bridges)"
                        ),
                    )
                })?;
            taken.push(slot);
            dev.push(pci_address(slot, 0));
        }
    }
    Ok(())
}

fn pci_address(slot: u32, function: u32) -> Element {
    Element::new("address")
        .with_attr("type", "pci")
        .with_attr("domain", "0x0000")
        .with_attr("bus", "0x00")
        .with_attr("slot", format!("0x{slot:02x}"))
        .with_attr("function", format!("0x{function:x}"))
}

/// A number written `0x1f` or `31`, as libvirt reads address fields.
pub fn parse_hex(s: &str) -> Option<u32> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}
