//! A running domain's XML, and the XML and cookie of its save image: the definition as
//! QEMU runs it (see [`live()`]).

use super::{TCG_QEMU64_FEATURES, VIRT_TYPES};
use crate::error::Result;
use crate::xml::{disk_index, tree_to_string, DomainDef, Element, FormatFlags, Node};

/// What a running guest's XML shows beyond its definition, learnt from QEMU.
#[derive(Clone, Debug, Default)]
pub struct Runtime {
    /// The pty of each serial port of type pty, by alias ("serial0"), from `query-chardev`.
    pub ptys: Vec<(String, String)>,
    /// The balloon's size in KiB (`query-balloon`); `None` without a balloon, or to show
    /// all of the guest's memory.
    pub balloon_kib: Option<u64>,
    /// The CPU features QEMU enabled (`require`) or left out (`disable`) against libvirt's
    /// definition of the model, as (policy, name): `TCG_QEMU64_FEATURES` under TCG.
    pub cpu_features: Vec<(String, String)>,
}

impl Runtime {
    /// What a TCG guest with the default CPU model shows, with the given ptys and balloon.
    pub fn tcg(ptys: Vec<(String, String)>, balloon_kib: Option<u64>) -> Runtime {
        Runtime {
            ptys,
            balloon_kib,
            cpu_features: TCG_QEMU64_FEATURES
                .iter()
                .map(|f| ("require".to_owned(), (*f).to_owned()))
                .collect(),
        }
    }
}

/// The running domain's definition (what `dumpxml` shows while it runs, with the running
/// domain's id given to `to_xml`): the memory QEMU has (rounded up to whole MiB), the
/// balloon's size, the CPU as QEMU made it, device aliases, disk source indexes and
/// backing stores, pty paths.
///
/// The machine is the one `command` builds from `def`; nothing here changes it.
pub fn live(def: &DomainDef, runtime: &Runtime) -> DomainDef {
    let mut live = def.clone();
    let memory = def.max_memory_kib().div_ceil(1024) * 1024;
    live.set_memory_kib(memory, runtime.balloon_kib.unwrap_or(memory));
    live.edit(|domain| {
        if let Some(cpu) = domain
            .child_mut("cpu")
            .filter(|c| c.attr("mode") == Some("custom"))
        {
            cpu.set_attr("check", "full");
            for (policy, name) in &runtime.cpu_features {
                let known = cpu
                    .children_named("feature")
                    .any(|f| f.attr("name") == Some(name));
                if !known {
                    cpu.push(
                        Element::new("feature")
                            .with_attr("policy", policy.as_str())
                            .with_attr("name", name.as_str()),
                    );
                }
            }
        }
        if let Some(devices) = domain.child_mut("devices") {
            live_devices(devices, runtime);
        }
    });
    live
}

/// The XML libvirt writes into the save image of a running domain (its migratable form)
/// for the running domain `live` defined by `def`: what the running domain is, without
/// what only a running QEMU has (aliases, source indexes, pty paths), with the CPU as
/// defined rather than as QEMU made it (the image's cookie records that one), and
/// without the devices libvirt adds to every definition that older libvirt versions did
/// not know: the PIIX3 USB controller, the PCI root, the PS/2 keyboard, the `none`
/// audio backend (a libvirt reading the image adds them back).
pub fn migratable_xml(def: &DomainDef, live: &DomainDef) -> Result<String> {
    let inactive = FormatFlags {
        secure: true,
        inactive: true,
        migratable: true,
    };
    // Read back as libvirt reads a definition, which forgets what only runs.
    let mut image = DomainDef::parse(&live.to_xml(None, inactive), VIRT_TYPES)?;
    let cpu = def.element().child("cpu").cloned();
    image.edit(|domain| {
        domain.remove_children("cpu");
        if let Some(cpu) = cpu {
            domain.push(cpu);
        }
        let devices = domain.child_or_insert("devices");
        devices.children.retain(|node| {
            let Node::Element(dev) = node else {
                return true;
            };
            let is = |name: &str, attrs: &[(&str, &str)]| {
                dev.name == name && attrs.iter().all(|(k, v)| dev.attr(k) == Some(v))
            };
            !(is(
                "controller",
                &[("type", "usb"), ("index", "0"), ("model", "piix3-uhci")],
            ) || is(
                "controller",
                &[("type", "pci"), ("index", "0"), ("model", "pci-root")],
            ) || is("input", &[("type", "keyboard"), ("bus", "ps2")])
                || is("audio", &[("id", "1"), ("type", "none")]))
        });
    });
    Ok(image.to_xml(None, inactive))
}

/// The cookie libvirt writes into the save image of the running domain `live`: the CPU
/// as QEMU made it, which a restore starts QEMU with (see `command::Options::cpu`).
pub fn cookie_xml(live: &DomainDef) -> String {
    let mut cookie = Element::new("cookie");
    if let Some(cpu) = live.element().child("cpu") {
        cookie.push(cpu.clone());
    }
    cookie.push(Element::new("slirpHelper"));
    tree_to_string(&cookie)
}

fn live_devices(devices: &mut Element, runtime: &Runtime) {
    // Disk sources are numbered from the last disk, as libvirt names their block nodes.
    let mut node = devices
        .children_named("disk")
        .filter(|d| d.child("source").is_some())
        .count();
    let mut serials = 0;
    let mut inputs = 0;
    let mut first_serial: Option<(String, Option<String>)> = None;
    for dev in devices.elements_mut() {
        let alias = match dev.name.as_str() {
            "disk" => {
                if let Some(source) = dev.child_mut("source") {
                    source.set_attr("index", node.to_string());
                    node -= 1;
                    if dev.child("backingStore").is_none() {
                        dev.push(Element::new("backingStore"));
                    }
                }
                Some(disk_alias(dev))
            }
            "controller" => controller_alias(dev),
            "serial" => {
                let alias = format!("serial{serials}");
                serials += 1;
                let pty = pty_path(dev, &alias, runtime);
                if let Some(path) = &pty {
                    set_source_path(dev, path);
                }
                first_serial.get_or_insert((alias.clone(), pty));
                Some(alias)
            }
            "console" => {
                let (alias, pty) = first_serial.clone().unwrap_or_default();
                if let Some(path) = pty {
                    dev.set_attr("tty", path.as_str());
                    set_source_path(dev, &path);
                }
                Some(alias)
            }
            "input" => {
                inputs += 1;
                Some(format!("input{}", inputs - 1))
            }
            "memballoon" if dev.attr("model") != Some("none") => Some("balloon0".to_owned()),
            _ => None,
        };
        if let Some(alias) = alias.filter(|a| !a.is_empty()) {
            if dev.child("alias").is_none() {
                dev.push(Element::new("alias").with_attr("name", alias));
            }
        }
    }
}

fn pty_path(dev: &Element, alias: &str, runtime: &Runtime) -> Option<String> {
    if dev.attr("type") != Some("pty") {
        return None;
    }
    runtime
        .ptys
        .iter()
        .find(|(a, _)| a == alias)
        .map(|(_, path)| path.clone())
}

fn set_source_path(dev: &mut Element, path: &str) {
    let source = dev.child_or_insert("source");
    source.set_attr("path", path);
}

/// The alias (and QEMU device id) libvirt gives a disk: `virtio-disk1` for vdb,
/// `ide0-1-0` or `sata0-0-2` after its drive address.
pub fn disk_alias(disk: &Element) -> String {
    let target = disk.child("target");
    let bus = target.and_then(|t| t.attr("bus")).unwrap_or_default();
    let dev = target.and_then(|t| t.attr("dev")).unwrap_or_default();
    match bus {
        "virtio" => format!("virtio-disk{}", disk_index(dev).unwrap_or(0)),
        _ => {
            let address = disk.child("address");
            let get = |name| address.and_then(|a| a.attr(name)).unwrap_or("0");
            format!("{bus}{}-{}-{}", get("controller"), get("bus"), get("unit"))
        }
    }
}

/// The alias (and QEMU id) libvirt gives a controller: `usb`, `pci.0`, `ide`, `sata0`.
pub fn controller_alias(controller: &Element) -> Option<String> {
    let index = controller.attr("index").unwrap_or("0");
    let alias = match controller.attr("type")? {
        "pci" => format!("pci.{index}"),
        kind @ ("usb" | "ide") if index == "0" => kind.to_owned(),
        kind => format!("{kind}{index}"),
    };
    Some(alias)
}
