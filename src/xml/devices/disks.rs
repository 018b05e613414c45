//! Disks: their checks, the bus and drive address libvirt derives from the target name,
//! and the controllers those addresses need.

use super::{controllers, insertion};
use crate::abi::virErrorDomain::VIR_FROM_DOMAIN;
use crate::abi::virErrorNumber::{VIR_ERR_INTERNAL_ERROR, VIR_ERR_NO_SOURCE, VIR_ERR_NO_TARGET};
use crate::error::{Error, Result};
use crate::xml::report::{enum_attr, unsupported, xml_error};
use crate::xml::tree::{Element, SmallStr};
use crate::xml::values;

#[rustfmt::skip]
const TYPES: &[&str] = &[
    "file", "block", "dir", "network", "volume", "nvme", "vhostuser",
];
const DEVICES: &[&str] = &["disk", "cdrom", "floppy", "lun"];
const BUSES: &[&str] = &[
    "ide", "fdc", "scsi", "virtio", "xen", "usb", "uml", "sata", "sd",
];
/// Buses whose disks get drive addresses, with the units one controller holds.
const DRIVE_BUSES: &[(&str, u64)] = &[("scsi", 7), ("fdc", 2), ("ide", 4), ("sata", 6)];
/// The bus a target name implies (a floppy's is fdc whatever its name; others' ide).
const BUS_BY_PREFIX: &[(&str, &str)] = &[
    ("hd", "ide"),
    ("sd", "scsi"),
    ("vd", "virtio"),
    ("xvd", "xen"),
    ("ubd", "uml"),
];
/// Highest drive controller index libvirt is asked to fill in below.
const MAX_CONTROLLER: u64 = 255;

/// Disk image formats libvirt knows for `<driver type>`.
#[rustfmt::skip]
const FORMATS: &[&str] = &[
    "raw", "dir", "bochs", "cloop", "dmg", "iso", "vpc", "vdi", "fat", "vhd", "ploop", "cow",
    "qcow", "qcow2", "qed", "vmdk",
    "aio", // Xen's old name for raw
];

/// What libvirt checks while reading disks.
pub fn check(devices: &Element) -> Result<()> {
    for disk in devices.children_named("disk") {
        enum_attr(disk, "type", TYPES)?;
        enum_attr(disk, "device", DEVICES)?;
        if let Some(target) = disk.child("target") {
            enum_attr(target, "bus", BUSES)?;
        }
        if let Some(format) = disk.child("driver").and_then(|d| d.attr("type")) {
            if !FORMATS.contains(&format) {
                return Err(unsupported(format!(
                    "unknown driver format value '{format}'"
                )));
            }
        }
    }
    Ok(())
}

/// A disk without target: libvirt's first validation of a disk, but virshim completes
/// nothing without one, so it is checked once every device is read.
pub fn check_targets(devices: &Element) -> Result<()> {
    for disk in devices.children_named("disk") {
        if disk.child("target").and_then(|t| t.attr("dev")).is_none() {
            return Err(match source_name(disk) {
                Some(path) => Error::new(VIR_ERR_NO_TARGET, VIR_FROM_DOMAIN, path),
                None => Error::bare(VIR_ERR_NO_TARGET, VIR_FROM_DOMAIN),
            });
        }
    }
    Ok(())
}

/// Orders disks as libvirt inserts them (by the bus given, if any, and drive index), then
/// fills in type, device, bus, `<readonly/>` for CD-ROMs, drive addresses, controllers.
pub fn complete(devices: &mut Element) -> Result<()> {
    insertion::sort(devices, "disk", |d| {
        let bus = d
            .child("target")
            .and_then(|t| t.attr("bus"))
            .unwrap_or_default();
        let index = values::disk_index(target_dev(d)).and_then(|i| i64::try_from(i).ok());
        (SmallStr::new(bus), Some(index.unwrap_or(-1)))
    });
    let mut controllers_used: Vec<(&str, u64)> = Vec::new();
    for disk in devices.children_named_mut("disk") {
        if disk.attr("type").is_none() {
            disk.set_attr_after(&[], "type", "file");
        }
        if disk.attr("device").is_none() {
            disk.set_attr_after(&["type"], "device", "disk");
        }
        let device = SmallStr::new(disk.attr("device").unwrap_or_default());
        let dev = SmallStr::new(target_dev(disk));
        let target = disk.child_mut("target").expect("checked while parsing");
        if target.attr("bus").is_none() {
            let bus = if device == "floppy" {
                "fdc"
            } else {
                BUS_BY_PREFIX
                    .iter()
                    .find(|(p, _)| dev.starts_with(p))
                    .map_or("ide", |&(_, bus)| bus)
            };
            target.set_attr_after(&["dev"], "bus", bus);
        }
        let bus = SmallStr::new(target.attr("bus").unwrap_or_default());
        if device == "cdrom" && disk.child("readonly").is_none() {
            disk.push(Element::new("readonly"));
        }
        let drive_bus = DRIVE_BUSES.iter().find(|(b, _)| bus == *b);
        if disk.child("address").is_none() {
            let index = values::disk_index(&dev).ok_or_else(|| {
                xml_error(format!(
                    "Unknown disk name '{dev}' and no address specified"
                ))
            })?;
            if let Some(&(bus, units)) = drive_bus {
                disk.push(drive_address(bus, units, index));
            }
        }
        if let Some(&(bus, _)) = drive_bus {
            let address = disk
                .child("address")
                .filter(|a| a.attr("type") == Some("drive"));
            let controller = address
                .and_then(|a| a.attr("controller"))
                .and_then(values::parse_u64);
            controllers_used.push((bus, controller.unwrap_or(0)));
        }
    }
    // A drive address needs its controller, and libvirt adds the ones below it too.
    for &(bus, _) in DRIVE_BUSES {
        if let Some(max) = controllers_used
            .iter()
            .filter(|(b, _)| *b == bus)
            .map(|&(_, c)| c)
            .max()
        {
            for index in 0..=max.min(MAX_CONTROLLER) {
                controllers::ensure(devices, bus, index);
            }
        }
    }
    Ok(())
}

/// The address libvirt assigns the disk with drive `index` on `bus`.
fn drive_address(bus: &str, units: u64, index: u64) -> Element {
    let (controller, drive_bus, unit) = match bus {
        "ide" => (index / units, (index % units) / 2, index % 2),
        _ => (index / units, 0, index % units),
    };
    Element::new("address")
        .with_attr("type", "drive")
        .with_attr("controller", controller.to_string())
        .with_attr("bus", drive_bus.to_string())
        .with_attr("target", "0")
        .with_attr("unit", unit.to_string())
}

/// Target name prefixes libvirt accepts for disks and LUNs.
const DISK_PREFIXES: &[&str] = &["hd", "sd", "vd", "xvd", "ubd"];

/// libvirt's validation of disks, one by one: the bus a floppy needs, target names, a
/// source for disks (CD-ROMs, floppies and LUNs may be empty); then duplicate targets.
pub fn validate(devices: &Element) -> Result<()> {
    let disks: Vec<&Element> = devices.children_named("disk").collect();
    for disk in &disks {
        let dev = target_dev(disk);
        let device = disk.attr("device").unwrap_or("disk");
        let bus = disk
            .child("target")
            .and_then(|t| t.attr("bus"))
            .unwrap_or_default();
        let internal =
            |message: String| Error::new(VIR_ERR_INTERNAL_ERROR, VIR_FROM_DOMAIN, message);
        if device == "lun" {
            validate_lun(disk)?;
        }
        let address = disk.child("address").and_then(|a| a.attr("type"));
        if let Some(kind) = address.filter(|&t| t != "drive") {
            if matches!(bus, "ide" | "fdc" | "scsi" | "sata") {
                return Err(unsupported(format!(
                    "Invalid address type '{kind}' for the disk '{dev}' with the bus type '{bus}'"
                )));
            }
        }
        if device == "floppy" && bus != "fdc" {
            return Err(internal(format!(
                "Invalid bus type '{bus}' for floppy disk"
            )));
        }
        if device != "floppy" && bus == "fdc" {
            return Err(internal(format!("Invalid bus type '{bus}' for disk")));
        }
        if matches!(device, "disk" | "lun") && !DISK_PREFIXES.iter().any(|p| dev.starts_with(p)) {
            return Err(internal(format!("Invalid harddisk device name: {dev}")));
        }
        if device == "floppy" && !dev.starts_with("fd") {
            return Err(internal(format!("Invalid floppy device name: {dev}")));
        }
        if device == "disk" && !has_source(disk) {
            return Err(Error::new(VIR_ERR_NO_SOURCE, VIR_FROM_DOMAIN, dev));
        }
    }
    for (i, a) in disks.iter().enumerate() {
        if let Some(b) = disks[i + 1..]
            .iter()
            .find(|b| target_dev(b) == target_dev(a))
        {
            let source = |d: &Element| source_path(d).unwrap_or_else(|| "<null>".into());
            return Err(xml_error(format!(
                "target '{}' duplicated for disk sources '{}' and '{}'",
                target_dev(a),
                source(a),
                source(b)
            )));
        }
    }
    Ok(())
}

/// A LUN passes SCSI commands through: libvirt wants a block device, a volume or an iSCSI
/// target, in raw format.
fn validate_lun(disk: &Element) -> Result<()> {
    match disk.attr("type") {
        Some("network") => {
            let protocol = disk.child("source").and_then(|s| s.attr("protocol"));
            if protocol != Some("iscsi") {
                return Err(unsupported(format!(
                    "disk device='lun' is not supported for protocol='{}'",
                    protocol.unwrap_or("none")
                )));
            }
        }
        Some("block" | "volume") => {}
        _ => {
            return Err(unsupported(
                "disk device='lun' is only valid for block type disk source",
            ))
        }
    }
    let format = disk.child("driver").and_then(|d| d.attr("type"));
    if !matches!(format, None | Some("raw" | "aio")) {
        return Err(unsupported("disk device 'lun' must use 'raw' format"));
    }
    Ok(())
}

fn target_dev(disk: &Element) -> &str {
    disk.child("target")
        .and_then(|t| t.attr("dev"))
        .unwrap_or_default()
}

/// The path, device, directory or name of a disk's source, as libvirt names a disk: the
/// attribute its type reads (a disk without type is a file).
fn source_path(disk: &Element) -> Option<String> {
    let attr = match disk.attr("type") {
        None | Some("file") => "file",
        Some("block") => "dev",
        Some("dir") => "dir",
        Some("network") => "name",
        _ => return None,
    };
    disk.child("source")?
        .attr(attr)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
}

/// How libvirt names a disk without target: its source path, or its volume.
fn source_name(disk: &Element) -> Option<String> {
    let source = disk.child("source")?;
    match (
        disk.attr("type"),
        source.attr("pool"),
        source.attr("volume"),
    ) {
        (Some("volume"), Some(pool), Some(volume)) => {
            Some(format!("pool = '{pool}', volume = '{volume}'"))
        }
        _ => source_path(disk),
    }
}

fn has_source(disk: &Element) -> bool {
    match disk.attr("type") {
        Some("file" | "block" | "dir") | None => source_path(disk).is_some(),
        _ => disk.child("source").is_some(),
    }
}
