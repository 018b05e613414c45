//! Host devices: libvirt 9.0 reads none without a source type, and refuses two that
//! name the same host device.

use crate::error::Result;
use crate::xml::report::{unsupported, xml_error};
use crate::xml::tree::Element;
use crate::xml::values;

/// Source types of host devices in each mode.
const SUBSYSTEM_TYPES: &[&str] = &["usb", "pci", "scsi", "scsi_host", "mdev"];
const CAPABILITY_TYPES: &[&str] = &["storage", "misc", "net"];

/// libvirt reads no host device without a known mode and a source type of that mode.
pub fn check(devices: &Element) -> Result<()> {
    for hostdev in devices.children_named("hostdev") {
        let types = match hostdev.attr("mode").unwrap_or("subsystem") {
            "subsystem" => SUBSYSTEM_TYPES,
            "capabilities" => CAPABILITY_TYPES,
            mode => return Err(unsupported(format!("unknown hostdev mode '{mode}'"))),
        };
        source_type(hostdev.attr("type"), types)?;
    }
    Ok(())
}

/// The source type of a host device, or of an interface of type hostdev (its source
/// address's type): required, and one of `types`.
fn source_type(kind: Option<&str>, types: &[&str]) -> Result<()> {
    match kind {
        None => Err(xml_error("missing source address type")),
        Some(t) if !types.contains(&t) => Err(unsupported(format!(
            "unknown host device source address type '{t}'"
        ))),
        Some(_) => Ok(()),
    }
}

/// An interface of type hostdev names a subsystem host device by its source address.
pub fn check_interface(net: &Element) -> Result<()> {
    let kind = net
        .child("source")
        .and_then(|s| s.child("address"))
        .and_then(|a| a.attr("type"));
    source_type(kind, SUBSYSTEM_TYPES)
}

/// Two host devices naming the same host device are refused.
pub fn validate(devices: &Element) -> Result<()> {
    let hostdevs: Vec<&Element> = devices.children_named("hostdev").collect();
    for (i, a) in hostdevs.iter().enumerate() {
        if hostdevs[i + 1..].iter().any(|b| same_source(a, b)) {
            return Err(xml_error(
                "Hostdev already exists in the domain configuration",
            ));
        }
    }
    Ok(())
}

/// A number as libvirt reads source addresses (C's rules: `0x` hexadecimal); none as 0.
fn number(e: Option<&Element>, attr: &str) -> Option<u32> {
    match e.and_then(|e| e.attr(attr)) {
        None => Some(0),
        Some(v) => values::parse_u32_radix(v, 0),
    }
}

fn child<'a>(e: Option<&'a Element>, name: &str) -> Option<&'a Element> {
    e.and_then(|e| e.child(name))
}

fn attr<'a>(e: Option<&'a Element>, name: &str) -> Option<&'a str> {
    e.and_then(|e| e.attr(name))
}

/// The numbers `names` of `e`, if all read.
fn numbers(e: Option<&Element>, names: &[&str]) -> Option<Vec<u32>> {
    names.iter().map(|n| number(e, n)).collect()
}

/// Whether `x` and `y` have the numbers `names`, all read and equal.
fn same_numbers(x: Option<&Element>, y: Option<&Element>, names: &[&str]) -> bool {
    let a = numbers(x, names);
    a.is_some() && a == numbers(y, names)
}

/// Whether both have the value, and the same one.
fn same<T: PartialEq>(x: Option<T>, y: Option<T>) -> bool {
    x.is_some() && x == y
}

/// Whether `a` and `b` name the same host device, as far as virshim reads sources (host
/// devices in capabilities mode are not compared).
fn same_source(a: &Element, b: &Element) -> bool {
    let mode = a.attr("mode").unwrap_or("subsystem");
    if mode != b.attr("mode").unwrap_or("subsystem")
        || mode != "subsystem"
        || a.attr("type") != b.attr("type")
    {
        return false;
    }
    let (sa, sb) = (a.child("source"), b.child("source"));
    let (aa, ab) = (child(sa, "address"), child(sb, "address"));
    match a.attr("type").unwrap_or_default() {
        "pci" => same_numbers(aa, ab, &["domain", "bus", "slot", "function"]),
        "usb" => match numbers(aa, &["bus", "device"]) {
            Some(v) if v.iter().all(|&n| n != 0) => same_numbers(aa, ab, &["bus", "device"]),
            _ => {
                same_numbers(child(sa, "vendor"), child(sb, "vendor"), &["id"])
                    && same_numbers(child(sa, "product"), child(sb, "product"), &["id"])
            }
        },
        "scsi" if attr(sa, "protocol") != attr(sb, "protocol") => false,
        "scsi" if attr(sa, "protocol") == Some("iscsi") => {
            let (ha, hb) = (child(sa, "host"), child(sb, "host"));
            attr(ha, "name") == attr(hb, "name")
                && attr(ha, "port") == attr(hb, "port")
                && same(attr(sa, "name"), attr(sb, "name"))
        }
        "scsi" => {
            same(
                attr(child(sa, "adapter"), "name"),
                attr(child(sb, "adapter"), "name"),
            ) && same_numbers(aa, ab, &["bus", "target", "unit"])
        }
        "scsi_host" => {
            attr(sa, "protocol") == attr(sb, "protocol") && same(attr(sa, "wwpn"), attr(sb, "wwpn"))
        }
        "mdev" => same(attr(aa, "uuid"), attr(ab, "uuid")),
        _ => false,
    }
}
