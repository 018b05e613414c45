//! What virshim's QEMU driver accepts, as a schema: every element, attribute and value
//! of a completed definition that [`super::super::command`] turns into QEMU options (or
//! that only describes the domain), and the check of an element against it.

use crate::error::Result;
use crate::xml::Element;

use super::unsupported;

/// An element virshim accepts: its attributes (with the values allowed, `None` for any),
/// its child elements, and whether it holds text. `opaque` accepts any content.
pub(super) struct Spec {
    name: &'static str,
    attrs: &'static [(&'static str, Option<&'static [&'static str]>)],
    children: &'static [Spec],
    text: bool,
    opaque: bool,
}

const fn el(
    name: &'static str,
    attrs: &'static [(&'static str, Option<&'static [&'static str]>)],
    children: &'static [Spec],
) -> Spec {
    Spec {
        name,
        attrs,
        children,
        text: false,
        opaque: false,
    }
}

/// An element of text, with attributes.
const fn text(
    name: &'static str,
    attrs: &'static [(&'static str, Option<&'static [&'static str]>)],
) -> Spec {
    Spec {
        name,
        attrs,
        children: &[],
        text: true,
        opaque: false,
    }
}

const ANY: Option<&[&str]> = None;
const YES_NO: Option<&[&str]> = Some(&["yes", "no"]);
const ON_OFF: Option<&[&str]> = Some(&["on", "off"]);

/// A security label, at domain level or in a device's `<source>`: host-side, it changes
/// nothing QEMU runs (see [`super::check_seclabels`] for the models virshim applies).
const SECLABEL: Spec = el(
    "seclabel",
    &[("type", ANY), ("model", ANY), ("relabel", YES_NO)],
    &[
        text("label", &[]),
        text("imagelabel", &[]),
        text("baselabel", &[]),
    ],
);

/// The host's resource partition (a cgroup) and Fibre Channel application id: host-side,
/// with no cgroups nothing applies them, and QEMU's command line is the same.
const RESOURCE: Spec = el(
    "resource",
    &[],
    &[
        text("partition", &[]),
        el("fibrechannel", &[("appid", ANY)], &[]),
    ],
);

const PCI_OR_DRIVE_ADDRESS: Spec = el(
    "address",
    &[
        ("type", Some(&["pci", "drive"])),
        ("domain", ANY),
        ("bus", ANY),
        ("slot", ANY),
        ("function", ANY),
        ("controller", ANY),
        ("target", ANY),
        ("unit", ANY),
    ],
    &[],
);
const PCI_ADDRESS: Spec = el(
    "address",
    &[
        ("type", Some(&["pci"])),
        ("domain", ANY),
        ("bus", ANY),
        ("slot", ANY),
        ("function", ANY),
    ],
    &[],
);

const DISK: Spec = el(
    "disk",
    &[
        ("type", Some(&["file", "block"])),
        ("device", Some(&["disk", "cdrom"])),
    ],
    &[
        el(
            "driver",
            &[
                ("name", Some(&["qemu"])),
                ("type", Some(&["raw", "qcow2"])),
                (
                    "cache",
                    Some(&["none", "writeback", "writethrough", "directsync", "unsafe"]),
                ),
            ],
            &[],
        ),
        el("source", &[("file", ANY), ("dev", ANY)], &[SECLABEL]),
        el("backingStore", &[], &[]),
        el(
            "target",
            &[("dev", ANY), ("bus", Some(&["virtio", "ide", "sata"]))],
            &[],
        ),
        el("readonly", &[], &[]),
        text("serial", &[]),
        el("boot", &[("order", ANY)], &[]),
        PCI_OR_DRIVE_ADDRESS,
    ],
);

const CONTROLLER: Spec = el(
    "controller",
    &[
        ("type", Some(&["usb", "pci", "ide", "sata"])),
        ("index", ANY),
        ("model", Some(&["piix3-uhci", "none", "pci-root"])),
    ],
    &[PCI_ADDRESS],
);

const CHARDEV_SOURCE: Spec = el("source", &[("path", ANY), ("append", ON_OFF)], &[SECLABEL]);

const SERIAL: Spec = el(
    "serial",
    &[("type", Some(&["pty", "file", "null"]))],
    &[
        CHARDEV_SOURCE,
        el(
            "target",
            &[("type", Some(&["isa-serial"])), ("port", ANY)],
            &[el("model", &[("name", Some(&["isa-serial"]))], &[])],
        ),
    ],
);

const CONSOLE: Spec = el(
    "console",
    &[("type", Some(&["pty", "file", "null"]))],
    &[
        CHARDEV_SOURCE,
        el("target", &[("type", Some(&["serial"])), ("port", ANY)], &[]),
    ],
);

const DEVICES: Spec = el(
    "devices",
    &[],
    &[
        text("emulator", &[]),
        DISK,
        CONTROLLER,
        SERIAL,
        CONSOLE,
        el(
            "input",
            &[
                ("type", Some(&["mouse", "keyboard"])),
                ("bus", Some(&["ps2"])),
            ],
            &[],
        ),
        el(
            "audio",
            &[("id", Some(&["1"])), ("type", Some(&["none"]))],
            &[],
        ),
        el(
            "memballoon",
            &[("model", Some(&["virtio", "none"]))],
            &[PCI_ADDRESS],
        ),
    ],
);

const OS: Spec = el(
    "os",
    &[],
    &[
        text("type", &[("arch", Some(&["x86_64"])), ("machine", ANY)]),
        text("kernel", &[]),
        text("initrd", &[]),
        text("cmdline", &[]),
        el(
            "boot",
            &[("dev", Some(&["hd", "cdrom", "fd", "network"]))],
            &[],
        ),
        el("bootmenu", &[("enable", YES_NO), ("timeout", ANY)], &[]),
    ],
);

const CPU: Spec = el(
    "cpu",
    &[
        ("mode", Some(&["custom"])),
        ("match", Some(&["exact"])),
        ("check", Some(&["none", "partial", "full"])),
    ],
    &[
        text("model", &[("fallback", Some(&["allow", "forbid"]))]),
        el(
            "topology",
            &[
                ("sockets", ANY),
                ("dies", ANY),
                ("cores", ANY),
                ("threads", ANY),
            ],
            &[],
        ),
        el(
            "feature",
            &[
                ("policy", Some(&["require", "force", "disable", "forbid"])),
                ("name", ANY),
            ],
            &[],
        ),
    ],
);

/// Everything virshim's QEMU driver runs, as a completed definition has it.
pub(super) const DOMAIN: Spec = el(
    "domain",
    &[("type", Some(&["qemu", "kvm"]))],
    &[
        text("name", &[]),
        text("uuid", &[]),
        text("title", &[]),
        text("description", &[]),
        Spec {
            name: "metadata",
            attrs: &[],
            children: &[],
            text: false,
            opaque: true,
        },
        text("memory", &[("unit", Some(&["KiB"]))]),
        text("currentMemory", &[("unit", Some(&["KiB"]))]),
        text(
            "vcpu",
            &[("placement", Some(&["static"])), ("current", ANY)],
        ),
        RESOURCE,
        OS,
        el(
            "features",
            &[],
            &[
                el("acpi", &[], &[]),
                el("apic", &[], &[]),
                el("pae", &[], &[]),
            ],
        ),
        CPU,
        el("clock", &[("offset", Some(&["utc", "localtime"]))], &[]),
        text("on_poweroff", &[]),
        text("on_reboot", &[]),
        text("on_crash", &[]),
        DEVICES,
        SECLABEL,
    ],
);

/// The element against its spec, recursively: the first element, attribute or value that
/// is not allowed is refused.
pub(super) fn check_element(e: &Element, parent: Option<&str>, spec: &Spec) -> Result<()> {
    if spec.opaque {
        return Ok(());
    }
    for (name, value) in &e.attrs {
        // Namespace declarations say nothing about the guest.
        if name == "xmlns" || name.starts_with("xmlns:") {
            continue;
        }
        match spec.attrs.iter().find(|(a, _)| *a == name.as_str()) {
            None => {
                return Err(unsupported(format!(
                    "attribute '{name}' of <{}>{}",
                    e.name,
                    within(parent)
                )))
            }
            Some((_, Some(values))) if !values.contains(&value.as_str()) => {
                return Err(unsupported(format!(
                    "<{} {name}='{value}'>{}",
                    e.name,
                    within(parent)
                )))
            }
            Some(_) => {}
        }
    }
    // Controllers last: the parse adds those that other devices need, and the device a
    // user wrote is the one to name.
    let (controllers, others): (Vec<&Element>, Vec<&Element>) =
        e.elements().partition(|c| c.name == "controller");
    for child in others.into_iter().chain(controllers) {
        match spec.children.iter().find(|s| s.name == child.name.as_str()) {
            None => return Err(unsupported(format!("<{}> in <{}>", child.name, e.name))),
            Some(s) => check_element(child, Some(&e.name), s)?,
        }
    }
    if !spec.text && e.has_text() && !e.text().trim().is_empty() {
        return Err(unsupported(format!("text in <{}>", e.name)));
    }
    Ok(())
}

fn within(parent: Option<&str>) -> String {
    parent.map(|p| format!(" in <{p}>")).unwrap_or_default()
}
