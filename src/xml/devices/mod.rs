//! `<devices>`: the checks, defaults, addresses and implicit devices libvirt 9.0 applies
//! when its test driver parses a domain (no hypervisor's own defaults), class by class.

mod addresses;
mod char_sources;
mod chardevs;
mod controllers;
mod disks;
mod display;
mod hostdevs;
mod inputs;
mod insertion;
mod interfaces;
mod memballoon;

use super::layout;
use super::tree::{Element, Node};
use crate::error::Result;
use crate::xml::report::{unsupported, xml_error};

pub use controllers::reject_duplicates as reject_duplicate_controllers;
pub use interfaces::name_interfaces;

#[cfg(test)]
mod tests;

/// What libvirt checks while it reads devices, in its order of device classes, then
/// the addresses.
pub fn check(devices: &Element) -> Result<()> {
    disks::check(devices)?;
    controllers::check(devices)?;
    interfaces::check(devices)?;
    char_sources::check(devices)?;
    display::check(devices)?;
    let usb_disabled = controllers::usb_disabled(devices);
    inputs::check(devices, usb_disabled)?;
    hostdevs::check(devices)?;
    memballoon::check(devices)?;
    for tpm in devices.children_named("tpm") {
        match tpm.children_named("backend").count() {
            0 => return Err(xml_error("missing TPM device backend")),
            1 => {}
            _ => return Err(xml_error("only one TPM backend is supported")),
        }
    }
    if usb_disabled
        && devices
            .children_named("hub")
            .any(|h| h.attr("type") == Some("usb"))
    {
        return Err(unsupported(
            "Can't add USB hub: USB is disabled for this domain",
        ));
    }
    // An interrupt-capable shared memory device needs a server to signal it.
    if devices
        .children_named("shmem")
        .any(|s| s.child("msi").is_some() && s.child("server").is_none())
    {
        return Err(xml_error("msi option is only supported with a server"));
    }
    addresses::check(devices)?;
    disks::check_targets(devices)
}

/// libvirt's completion of devices after parsing; `live`: a running domain's XML, whose
/// runtime state stays.
pub fn complete(devices: &mut Element, hvm: bool, live: bool) -> Result<()> {
    if !live {
        forget_live_state(devices);
    }
    disks::complete(devices)?;
    controllers::complete(devices);
    interfaces::complete(devices);
    chardevs::complete(devices, hvm);
    display::complete(devices, hvm);
    simple_defaults(devices);
    layout::order_devices(devices);
    Ok(())
}

/// libvirt's validation of devices.
pub fn validate(devices: &Element) -> Result<()> {
    disks::validate(devices)?;
    hostdevs::validate(devices)?;
    display::validate(devices)?;
    controllers::validate(devices)?;
    char_sources::validate(devices)
}

/// The inactive parse forgets runtime state: aliases libvirt made up (not the user's
/// `ua-` ones), pty paths, interface names the host generated, disk source indexes.
fn forget_live_state(devices: &mut Element) {
    for dev in devices.elements_mut() {
        dev.children.retain(|n| match n {
            Node::Element(e) if e.name == "alias" => {
                e.attr("name").is_some_and(|a| a.starts_with("ua-"))
            }
            _ => true,
        });
        match dev.name.as_str() {
            "serial" | "parallel" | "console" | "channel" if dev.attr("type") == Some("pty") => {
                dev.remove_attr("tty");
                if let Some(source) = dev.child_mut("source") {
                    source.remove_attr("path");
                }
                dev.children.retain(|n| match n {
                    Node::Element(e) => {
                        e.name != "source" || !(e.attrs.is_empty() && e.children.is_empty())
                    }
                    _ => true,
                });
            }
            "interface" => interfaces::forget_generated_name(dev),
            "disk" => {
                if let Some(source) = dev.child_mut("source") {
                    source.remove_attr("index");
                }
            }
            _ => {}
        }
    }
}

/// Defaults that are one attribute or one child.
fn simple_defaults(devices: &mut Element) {
    for dev in devices.elements_mut() {
        match dev.name.as_str() {
            "filesystem"
                if dev.attr("type") == Some("mount") && dev.attr("accessmode").is_none() =>
            {
                dev.set_attr_after(&["type"], "accessmode", "passthrough");
            }
            "hostdev" if dev.attr("mode") == Some("subsystem") && dev.attr("managed").is_none() => {
                dev.set_attr_after(&["mode", "type"], "managed", "no");
            }
            "shmem" if dev.child("model").is_none() => {
                dev.prepend(Element::new("model").with_attr("type", "ivshmem"));
            }
            _ => {}
        }
    }
}
