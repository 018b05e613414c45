//! What virshim's QEMU driver can run: every element and attribute of a completed
//! definition must be one that [`super::command`] turns into QEMU options (or that only
//! describes the domain, like `<title>`). Anything else is refused with
//! `VIR_ERR_CONFIG_UNSUPPORTED` from `VIR_FROM_QEMU`, naming it, when the domain is defined
//! or created: never silently dropped.
//!
//! The check is a schema of what is allowed ([`DOMAIN`]) followed by the rules a schema
//! cannot say (addresses, pairs of attributes, paths), some of them libvirt's own checks
//! with libvirt's messages.
//!
//! Rooms: [`schema`] holds the schema; the rules follow here.

mod schema;

use crate::abi::virErrorDomain::{VIR_FROM_QEMU, VIR_FROM_SECURITY};
use crate::abi::virErrorNumber::VIR_ERR_CONFIG_UNSUPPORTED;
use crate::error::{Error, Result};
use crate::xml::{DomainDef, Element};

use super::defaults::{parse_hex, CPU_MODEL};
use schema::{check_element, DOMAIN};

/// The security model of virshim's QEMU driver: it applies no labels (no DAC, SELinux or
/// AppArmor driver), as libvirt 9.0's with `security_driver = "none"` run unprivileged.
pub const SECURITY_MODEL: &str = "none";

/// The lifecycle actions QEMU carries out for virshim.
const LIFECYCLE_ACTIONS: &[&str] = &["destroy", "restart", "preserve"];

/// "unsupported configuration: virshim's QEMU driver cannot run `what`", from QEMU.
pub fn unsupported(what: impl std::fmt::Display) -> Error {
    Error::new(
        VIR_ERR_CONFIG_UNSUPPORTED,
        VIR_FROM_QEMU,
        format!("virshim's QEMU driver cannot run {what}"),
    )
}

/// libvirt's own refusal, in its words.
fn libvirt_unsupported(message: impl Into<String>) -> Error {
    Error::new(VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_QEMU, message)
}

/// Refuses what virshim cannot run in a completed definition (see the module).
pub fn check(def: &DomainDef) -> Result<()> {
    let domain = def.element();
    check_element(domain, None, &DOMAIN)?;
    check_resource(domain)?;
    check_name(def.name())?;
    check_os(domain)?;
    check_cpu(domain, def.max_vcpus())?;
    for name in ["on_poweroff", "on_reboot", "on_crash"] {
        if let Some(action) = domain.child(name).map(Element::text) {
            if !LIFECYCLE_ACTIONS.contains(&&*action) {
                return Err(unsupported(format!("<{name}>{action}</{name}>")));
            }
        }
    }
    let devices = domain
        .child("devices")
        .expect("the parse inserts <devices>");
    check_devices(devices)?;
    check_seclabels(domain, devices)
}

/// libvirt 9.0 fails an empty `<resource/>` without saying why.
fn check_resource(domain: &Element) -> Result<()> {
    match domain.child("resource") {
        Some(resource) if resource.elements().next().is_none() => Err(Error::unknown()),
        _ => Ok(()),
    }
}

/// Security labels of a model virshim has no driver for (every model but
/// [`SECURITY_MODEL`], or none at all on a device) are refused as libvirt 9.0 refuses them
/// when it starts such a guest with no security driver: domain labels first, then those
/// of the devices in their order. (libvirt defines them and fails the start; virshim
/// refuses what it cannot run when it is defined.)
fn check_seclabels(domain: &Element, devices: &Element) -> Result<()> {
    let device_labels = devices
        .elements()
        .filter_map(|dev| dev.child("source"))
        .flat_map(|source| source.children_named("seclabel"));
    for label in domain.children_named("seclabel").chain(device_labels) {
        let model = label.attr("model");
        if model != Some(SECURITY_MODEL) {
            return Err(Error::new(
                VIR_ERR_CONFIG_UNSUPPORTED,
                VIR_FROM_SECURITY,
                format!(
                    "Security driver model '{}' is not available",
                    model.unwrap_or("(null)")
                ),
            ));
        }
    }
    Ok(())
}

/// A domain's name becomes part of file names under the driver's root: it must be one
/// file name that stays there.
fn check_name(name: &str) -> Result<()> {
    if name == "." || name == ".." || name.contains('\0') {
        return Err(unsupported(format!("the domain name '{name}'")));
    }
    Ok(())
}

fn check_os(domain: &Element) -> Result<()> {
    let os = domain.child("os").expect("checked by the parse");
    for name in ["kernel", "initrd"] {
        if let Some(path) = os.child(name).map(Element::text) {
            absolute(&path, name)?;
        }
    }
    if let Some(menu) = os.child("bootmenu") {
        if let Some(t) = menu.attr("timeout") {
            if t.parse::<u16>().is_err() {
                return Err(unsupported(format!("<bootmenu timeout='{t}'>")));
            }
        }
    }
    Ok(())
}

fn check_cpu(domain: &Element, max_vcpus: u32) -> Result<()> {
    let Some(cpu) = domain.child("cpu") else {
        return Ok(());
    };
    if let Some(model) = cpu.child("model").map(Element::text) {
        if model != CPU_MODEL {
            return Err(unsupported(format!(
                "<model>{model}</model> in <cpu> (only {CPU_MODEL})"
            )));
        }
    }
    for feature in cpu.children_named("feature") {
        let name = feature.attr("name").unwrap_or_default();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        {
            return Err(unsupported(format!("<feature name='{name}'> in <cpu>")));
        }
    }
    if let Some(topology) = cpu.child("topology") {
        let mut product: u64 = 1;
        for attr in ["sockets", "dies", "cores", "threads"] {
            let value = topology.attr(attr).unwrap_or("1");
            let n: u64 = value
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| unsupported(format!("<topology {attr}='{value}'>")))?;
            product = product.saturating_mul(n);
        }
        if product != u64::from(max_vcpus) {
            return Err(libvirt_unsupported(
                "CPU topology doesn't match maximum vcpu count",
            ));
        }
    }
    Ok(())
}

fn check_devices(devices: &Element) -> Result<()> {
    if let Some(emulator) = devices.child("emulator").map(Element::text) {
        absolute(&emulator, "emulator")?;
    }
    for dev in devices.elements() {
        match dev.name.as_str() {
            "disk" => check_disk(dev)?,
            "controller" => check_controller(dev)?,
            "serial" => check_chardev(dev)?,
            "console" => check_console(devices, dev)?,
            _ => {}
        }
        if let Some(address) = dev.child("address") {
            check_address(dev, address)?;
        }
    }
    Ok(())
}

fn check_disk(disk: &Element) -> Result<()> {
    let device = disk.attr("device").unwrap_or("disk");
    let bus = disk
        .child("target")
        .and_then(|t| t.attr("bus"))
        .unwrap_or_default();
    let source_attr = match disk.attr("type") {
        Some("block") => "dev",
        _ => "file",
    };
    match disk.child("source") {
        Some(source) => {
            if let Some((name, _)) = source.attrs.iter().find(|(a, _)| a != source_attr) {
                return Err(unsupported(format!(
                    "attribute '{name}' of <source> in <disk type='{}'>",
                    disk.attr("type").unwrap_or("file")
                )));
            }
            let path = source.attr(source_attr).unwrap_or_default();
            absolute(path, "source")?;
        }
        None if device == "cdrom" => {}
        None => return Err(unsupported("<disk> without <source>")),
    }
    if device == "cdrom" && bus == "virtio" {
        return Err(unsupported(
            "<disk device='cdrom'> on <target bus='virtio'>",
        ));
    }
    if device == "disk" && disk.child("readonly").is_some() && matches!(bus, "ide" | "sata") {
        return Err(libvirt_unsupported(format!(
            "readonly {bus} disks are not supported"
        )));
    }
    if let Some(order) = disk.child("boot").and_then(|b| b.attr("order")) {
        if order.parse::<u32>().is_err() {
            return Err(unsupported(format!("<boot order='{order}'> in <disk>")));
        }
    }
    Ok(())
}

fn check_controller(controller: &Element) -> Result<()> {
    let kind = controller.attr("type").unwrap_or_default();
    let index = controller.attr("index").unwrap_or("0");
    let model = controller.attr("model");
    let ok = match kind {
        "usb" => index == "0" && matches!(model, Some("piix3-uhci" | "none")),
        "pci" => index == "0" && model == Some("pci-root"),
        "ide" => index == "0" && model.is_none(),
        "sata" => model.is_none(),
        _ => false,
    };
    if !ok {
        let model = model.map(|m| format!(" model='{m}'")).unwrap_or_default();
        return Err(unsupported(format!(
            "<controller type='{kind}' index='{index}'{model}>"
        )));
    }
    Ok(())
}

fn check_chardev(dev: &Element) -> Result<()> {
    let source = dev.child("source");
    match dev.attr("type") {
        Some("file") => {
            let path = source.and_then(|s| s.attr("path")).unwrap_or_default();
            absolute(path, "source")?;
        }
        _ => {
            if source.is_some() {
                return Err(unsupported(format!(
                    "<source> in <{} type='{}'>",
                    dev.name,
                    dev.attr("type").unwrap_or_default()
                )));
            }
        }
    }
    Ok(())
}

/// A console is the first serial port seen from the console's side: libvirt's console
/// compatibility makes it so, and virshim runs no other console.
fn check_console(devices: &Element, console: &Element) -> Result<()> {
    let first = devices.children_named("console").next();
    let serial = devices.child("serial");
    let mirrors = serial.is_some_and(|s| {
        s.attr("type") == console.attr("type")
            && s.child("source").map(|x| &x.attrs) == console.child("source").map(|x| &x.attrs)
    });
    let port = console.child("target").and_then(|t| t.attr("port"));
    if !std::ptr::eq(first.expect("a console"), console) || !mirrors || port != Some("0") {
        return Err(unsupported(
            "a <console> other than the first serial port's",
        ));
    }
    Ok(())
}

/// Addresses virshim can give QEMU: PCI slots of bus 0, and drive addresses an i440FX
/// PC's IDE controller or an AHCI controller has.
fn check_address(dev: &Element, address: &Element) -> Result<()> {
    let field = |name: &str| address.attr(name).map(parse_hex).unwrap_or(Some(0));
    let bad = || {
        let attrs: String = address
            .attrs
            .iter()
            .map(|(k, v)| format!(" {k}='{v}'"))
            .collect();
        unsupported(format!("<address{attrs}> in <{}>", dev.name))
    };
    let bus = dev
        .child("target")
        .and_then(|t| t.attr("bus"))
        .unwrap_or_default();
    match address.attr("type") {
        Some("pci") => {
            let piix3 = dev.name == "controller"
                && matches!(dev.attr("type"), Some("usb" | "ide"))
                && field("slot") == Some(1);
            let (Some(0), Some(0), Some(slot), Some(function)) = (
                field("domain"),
                field("bus"),
                field("slot"),
                field("function"),
            ) else {
                return Err(bad());
            };
            let ok = if piix3 {
                function
                    == if dev.attr("type") == Some("usb") {
                        2
                    } else {
                        1
                    }
            } else {
                (2..=31).contains(&slot) && function == 0
            };
            if !ok || (dev.name == "disk" && bus != "virtio") {
                return Err(bad());
            }
        }
        Some("drive") => {
            let (Some(controller), Some(drive_bus), Some(0), Some(unit)) = (
                field("controller"),
                field("bus"),
                field("target"),
                field("unit"),
            ) else {
                return Err(bad());
            };
            let ok = match bus {
                "ide" => controller == 0 && drive_bus < 2 && unit < 2,
                "sata" => drive_bus == 0 && unit < 6,
                _ => false,
            };
            if !ok {
                return Err(bad());
            }
        }
        _ => return Err(bad()),
    }
    Ok(())
}

/// Paths QEMU opens must be absolute: it runs in `/`, and virshim passes no relative
/// path on to it.
fn absolute(path: &str, element: &str) -> Result<()> {
    if !path.starts_with('/') || path.contains('\0') {
        return Err(unsupported(format!(
            "the relative path '{path}' of <{element}>"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
