//! Device addresses (`<address>` in a device): libvirt 9.0 requires a known type and
//! reads each type's numbers in its own base, PCI ones within PCI's ranges.

use crate::abi::virErrorDomain::{VIR_FROM_DOMAIN, VIR_FROM_NONE};
use crate::abi::virErrorNumber::{VIR_ERR_INTERNAL_ERROR, VIR_ERR_XML_ERROR};
use crate::error::{Error, Result};
use crate::xml::report::{invalid_uint_attr, unsupported};
use crate::xml::tree::Element;
use crate::xml::values;

/// libvirt's address types, bar "none" (which it refuses like an unknown one).
#[rustfmt::skip]
const TYPES: &[&str] = &[
    "pci", "drive", "virtio-serial", "ccid", "usb", "spapr-vio", "virtio-s390", "ccw",
    "virtio-mmio", "isa", "dimm", "unassigned",
];
/// The numbers of each address type and the base libvirt reads them in (0: C's rules,
/// `0x` hexadecimal and a leading `0` octal).
const NUMBERS: &[(&str, &[&str], u32)] = &[
    ("pci", &["domain", "bus", "slot", "function"], 0),
    ("drive", &["controller", "bus", "target", "unit"], 10),
    ("virtio-serial", &["controller", "bus", "port"], 10),
    ("ccid", &["controller", "slot"], 10),
    ("usb", &["bus"], 10),
    ("isa", &["iobase", "irq"], 16),
    ("dimm", &["slot"], 10),
];

/// Checks the `<address>` of every device, and the PCI address a PCI host device names
/// in its `<source>` (read as PCI whatever its type attribute says).
pub fn check(devices: &Element) -> Result<()> {
    for dev in devices.elements() {
        let pci_source = (dev.name == "hostdev" && dev.attr("type") == Some("pci"))
            .then(|| dev.child("source")?.child("address"))
            .flatten();
        if let Some(address) = pci_source {
            check_numbers(address, "pci")?;
        }
        if let Some(address) = dev.child("address") {
            check_one(address)?;
        }
    }
    Ok(())
}

fn check_one(address: &Element) -> Result<()> {
    let Some(kind) = address.attr("type") else {
        return Err(Error::new(
            VIR_ERR_INTERNAL_ERROR,
            VIR_FROM_DOMAIN,
            "No type specified for device address",
        ));
    };
    if !TYPES.contains(&kind) {
        return Err(unsupported(format!("unknown address type '{kind}'")));
    }
    if kind == "virtio-s390" {
        return Err(Error::new(
            VIR_ERR_XML_ERROR,
            VIR_FROM_DOMAIN,
            "virtio-s390 bus doesn't have an address",
        ));
    }
    check_numbers(address, kind)
}

/// The numbers of an address of type `kind`, and a PCI address's ranges.
fn check_numbers(address: &Element, kind: &str) -> Result<()> {
    let Some(&(_, names, base)) = NUMBERS.iter().find(|(t, _, _)| *t == kind) else {
        return Ok(());
    };
    let mut read = [0u32; 4];
    for (slot, name) in read.iter_mut().zip(names) {
        if let Some(v) = address.attr(name) {
            *slot = values::parse_u32_radix(v, base)
                .ok_or_else(|| invalid_uint_attr("address", name, v))?;
        }
    }
    if kind == "pci" {
        let [domain, bus, slot, function] = read;
        let empty = domain == 0 && bus == 0 && slot == 0;
        let range = |what: String| {
            Err(Error::new(
                VIR_ERR_XML_ERROR,
                VIR_FROM_NONE,
                format!("Invalid PCI address {what}"),
            ))
        };
        if !empty && bus > 0xFF {
            return range(format!("bus='{bus:#x}', must be <= 0xFF"));
        }
        if !empty && slot > 0x1F {
            return range(format!("slot='{slot:#x}', must be <= 0x1F"));
        }
        if !empty && function > 7 {
            return range(format!("function={function:#x}, must be <= 7"));
        }
    }
    Ok(())
}
