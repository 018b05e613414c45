//! Input devices: libvirt 9.0 requires a type and knows its types, models and buses.

use crate::abi::virErrorDomain::VIR_FROM_DOMAIN;
use crate::abi::virErrorNumber::VIR_ERR_INTERNAL_ERROR;
use crate::error::{Error, Result};
use crate::xml::report::unsupported;
use crate::xml::tree::Element;

const TYPES: &[&str] = &["mouse", "tablet", "keyboard", "passthrough", "evdev"];
/// Models; "default" is libvirt's name for none given, refused when written.
const MODELS: &[&str] = &["virtio", "virtio-transitional", "virtio-non-transitional"];
const BUSES: &[&str] = &["ps2", "usb", "xen", "parallels", "virtio", "none"];

/// `usb_disabled`: a USB controller of model none disables USB input devices.
pub fn check(devices: &Element, usb_disabled: bool) -> Result<()> {
    for input in devices.children_named("input") {
        let Some(kind) = input.attr("type") else {
            return Err(Error::new(
                VIR_ERR_INTERNAL_ERROR,
                VIR_FROM_DOMAIN,
                "missing input device type",
            ));
        };
        if !TYPES.contains(&kind) {
            return Err(unsupported(format!("unknown input device type '{kind}'")));
        }
        if let Some(model) = input.attr("model").filter(|m| !MODELS.contains(m)) {
            return Err(unsupported(format!("unknown input model '{model}'")));
        }
        if let Some(bus) = input.attr("bus").filter(|b| !BUSES.contains(b)) {
            return Err(unsupported(format!("unknown input bus type '{bus}'")));
        }
        // A tablet's bus is USB unless given.
        let bus = input
            .attr("bus")
            .unwrap_or(if kind == "tablet" { "usb" } else { "ps2" });
        if usb_disabled && bus == "usb" {
            return Err(unsupported(
                "Can't add USB input device. USB bus is disabled",
            ));
        }
    }
    Ok(())
}
