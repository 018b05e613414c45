//! Controllers: their type check, the order and indexes libvirt gives them, the ones it
//! adds for devices that need one, and where smart cards sit.

use super::insertion;
use crate::abi::virErrorDomain::{VIR_FROM_DOMAIN, VIR_FROM_XML};
use crate::abi::virErrorNumber::{VIR_ERR_XML_DETAIL, VIR_ERR_XML_ERROR};
use crate::error::{Error, Result};
use crate::xml::report::{enum_attr, unsupported, xml_error};
use crate::xml::tree::{Element, SmallStr};
use crate::xml::values;

#[rustfmt::skip]
const TYPES: &[&str] = &[
    "ide", "fdc", "scsi", "sata", "virtio-serial", "ccid", "usb", "pci", "xenbus", "isa",
];

/// The models libvirt knows for each controller type (fdc, sata, ccid, xenbus: none).
#[rustfmt::skip]
const MODELS: &[(&str, &[&str])] = &[
    ("scsi", &[
        "auto", "buslogic", "lsilogic", "lsisas1068", "vmpvscsi", "ibmvscsi", "virtio-scsi",
        "lsisas1078", "virtio-transitional", "virtio-non-transitional", "ncr53c90", "dc390",
        "am53c974",
    ]),
    ("usb", &[
        "piix3-uhci", "piix4-uhci", "ehci", "ich9-ehci1", "ich9-uhci1", "ich9-uhci2",
        "ich9-uhci3", "vt82c686b-uhci", "pci-ohci", "nec-xhci", "qusb1", "qusb2", "qemu-xhci",
        "none",
    ]),
    ("pci", &[
        "pci-root", "pcie-root", "pci-bridge", "dmi-to-pci-bridge", "pcie-to-pci-bridge",
        "pcie-root-port", "pcie-switch-upstream-port", "pcie-switch-downstream-port",
        "pci-expander-bus", "pcie-expander-bus",
    ]),
    ("ide", &["piix3", "piix4", "ich6"]),
    ("virtio-serial", &["virtio", "virtio-transitional", "virtio-non-transitional"]),
];

/// A controller's type: libvirt reads a missing one as IDE.
fn kind(controller: &Element) -> &str {
    controller.attr("type").unwrap_or("ide")
}

pub fn check(devices: &Element) -> Result<()> {
    let (mut usb_none, mut usb_other) = (false, false);
    for controller in devices.children_named("controller") {
        enum_attr(controller, "type", TYPES)?;
        if let Some(model) = controller.attr("model") {
            let known = MODELS
                .iter()
                .find(|(k, _)| *k == kind(controller))
                .is_some_and(|(_, models)| models.contains(&model));
            if !known {
                return Err(unsupported(format!("Unknown model type '{model}'")));
            }
        }
        if let Some(index) = controller.attr("index") {
            let invalid = |expected: &str| {
                Err(Error::new(
                    VIR_ERR_XML_ERROR,
                    VIR_FROM_XML,
                    format!(
                        "Invalid value for attribute 'index' in element 'controller': \
                         '{index}'. Expected {expected}"
                    ),
                ))
            };
            match values::parse_i32(index) {
                None => return invalid("integer value"),
                Some(i) if i < 0 => return invalid("non-negative value"),
                Some(_) => {}
            }
        }
        // A USB controller of model none disables USB: it must be the only one.
        if kind(controller) == "usb" {
            let none = controller.attr("model") == Some("none");
            if usb_none || (none && usb_other) {
                return Err(Error::new(
                    VIR_ERR_XML_DETAIL,
                    VIR_FROM_DOMAIN,
                    "Can't add another USB controller: USB is disabled for this domain",
                ));
            }
            usb_none = none;
            usb_other |= !none;
        }
    }
    Ok(())
}

/// Whether the document disables USB with a controller of model none.
pub fn usb_disabled(devices: &Element) -> bool {
    devices
        .children_named("controller")
        .any(|c| kind(c) == "usb" && c.attr("model") == Some("none"))
}

/// libvirt's refusal of two controllers of one type with one index (USB excepted), checked
/// after its memory defaults: the first type in document order, its lowest index.
pub fn reject_duplicates(devices: &Element) -> Result<()> {
    let controllers: Vec<(&str, u64)> = devices
        .children_named("controller")
        .filter(|c| kind(c) != "usb")
        .filter_map(|c| Some((kind(c), index(c)?)))
        .collect();
    let mut types: Vec<&str> = controllers.iter().map(|&(k, _)| k).collect();
    types.dedup();
    for (n, t) in types.iter().enumerate() {
        if types[..n].contains(t) {
            continue;
        }
        let mut indexes: Vec<u64> = controllers
            .iter()
            .filter(|(k, _)| k == t)
            .map(|&(_, i)| i)
            .collect();
        indexes.sort_unstable();
        if let Some(w) = indexes.windows(2).find(|w| w[0] == w[1]) {
            return Err(xml_error(format!(
                "Multiple '{t}' controllers with index '{}'",
                w[0]
            )));
        }
    }
    Ok(())
}

/// Adds the controllers virtio consoles and channels and smart cards need, orders all by
/// type and index, and numbers those without an index.
pub fn complete(devices: &mut Element) {
    for c in devices.children_named_mut("controller") {
        if c.attr("type").is_none() {
            c.set_attr_after(&[], "type", "ide");
        }
    }
    let virtio_serial = devices.elements().any(|d| {
        matches!(d.name.as_str(), "channel" | "console")
            && d.child("target").and_then(|t| t.attr("type")) == Some("virtio")
    });
    if virtio_serial {
        ensure(devices, "virtio-serial", 0);
    }
    // Smart cards take the slots of the first CCID controller in turn.
    let cards = devices
        .children_named_mut("smartcard")
        .filter(|c| c.child("address").is_none());
    for (slot, card) in cards.enumerate() {
        card.push(
            Element::new("address")
                .with_attr("type", "ccid")
                .with_attr("controller", "0")
                .with_attr("slot", slot.to_string()),
        );
    }
    if devices.child("smartcard").is_some() {
        ensure(devices, "ccid", 0);
    }
    insertion::sort(devices, "controller", |c| {
        let index = index(c).and_then(|i| i64::try_from(i).ok());
        (SmallStr::new(c.attr("type").unwrap_or_default()), index)
    });
    let mut taken: Vec<(String, u64)> = devices
        .children_named("controller")
        .filter_map(|c| Some((c.attr("type")?.to_owned(), index(c)?)))
        .collect();
    for c in devices
        .children_named_mut("controller")
        .filter(|c| c.attr("index").is_none())
    {
        let kind = c.attr("type").unwrap_or_default().to_owned();
        let free = (0..)
            .find(|i| !taken.contains(&(kind.clone(), *i)))
            .expect("unbounded");
        c.set_attr_after(&["type"], "index", free.to_string());
        taken.push((kind, free));
    }
}

/// libvirt refuses an address on a PCI root, and USB redirection without a USB controller.
pub fn validate(devices: &Element) -> Result<()> {
    let roots = devices
        .children_named("controller")
        .filter(|c| kind(c) == "pci" && matches!(c.attr("model"), Some("pci-root" | "pcie-root")));
    for root in roots {
        if root.child("address").is_some() {
            return Err(unsupported(
                "pci-root and pcie-root controllers should not have an address",
            ));
        }
    }
    let has_usb = devices
        .children_named("controller")
        .any(|c| c.attr("type") == Some("usb") && c.attr("model") != Some("none"));
    if !has_usb
        && devices
            .children_named("redirdev")
            .any(|r| r.attr("bus") == Some("usb"))
    {
        return Err(unsupported(
            "cannot add redirected USB device: USB is disabled for this domain",
        ));
    }
    Ok(())
}

/// Adds controller `kind` number `index` unless present; its place is settled later.
pub fn ensure(devices: &mut Element, kind: &str, index: u64) {
    let exists = devices
        .children_named("controller")
        .any(|c| self::kind(c) == kind && self::index(c) == Some(index));
    if !exists {
        devices.push(
            Element::new("controller")
                .with_attr("type", kind)
                .with_attr("index", index.to_string()),
        );
    }
}

fn index(controller: &Element) -> Option<u64> {
    controller.attr("index").and_then(values::parse_u64)
}
