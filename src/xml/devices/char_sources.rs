//! Character device sources (serial, parallel, console and channel ports, and the
//! sources of smart cards, USB redirection and RNG daemons): the types and source
//! elements libvirt reads, and the source attributes its validation requires.

use crate::abi::virErrorDomain::{VIR_FROM_DOMAIN, VIR_FROM_XML};
use crate::abi::virErrorNumber::{VIR_ERR_INTERNAL_ERROR, VIR_ERR_INVALID_ARG, VIR_ERR_XML_ERROR};
use crate::error::{Error, Result};
use crate::xml::report::{enum_attr, invalid_uint_attr, unsupported, xml_error};
use crate::xml::tree::Element;
use crate::xml::values;

#[rustfmt::skip]
const TYPES: &[&str] = &[
    "null", "vc", "pty", "dev", "file", "pipe", "stdio", "udp", "tcp", "unix", "spicevmc",
    "spiceport", "nmdm", "qemu-vdagent", "dbus",
];
/// The port classes in the order libvirt reads them.
const PORTS: &[&str] = &["parallel", "serial", "console", "channel"];
/// Target types libvirt numbers 2 in each class, the number a SPICE agent channel needs
/// (it means virtio for channels).
const SPICEVMC_TARGETS: &[(&str, &str)] = &[
    ("channel", "virtio"),
    ("serial", "usb-serial"),
    ("console", "xen"),
];
/// Characters a SPICE port or D-Bus channel name may hold.
fn channel_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// The source type of a character device; libvirt reads none as a pseudo-terminal.
fn kind(dev: &Element) -> &str {
    dev.attr("type").unwrap_or("pty")
}

/// What libvirt checks while reading ports.
pub fn check(devices: &Element) -> Result<()> {
    for &class in PORTS {
        for dev in devices.children_named(class) {
            check_port(class, dev)?;
        }
    }
    Ok(())
}

fn check_port(class: &str, dev: &Element) -> Result<()> {
    let kind = kind(dev);
    if !TYPES.contains(&kind) {
        return Err(unsupported(format!(
            "unknown type presented to host for character device: {kind}"
        )));
    }
    let target = dev.child("target").and_then(|t| t.attr("type"));
    if class == "channel" && target.is_none() {
        return Err(xml_error(
            "target type must be specified for channel device",
        ));
    }
    let sources = dev.children_named("source").count();
    if sources > 1 && kind != "udp" {
        return Err(xml_error(
            "only one source element is allowed for character device",
        ));
    }
    if sources > 2 {
        return Err(xml_error(
            "only two source elements are allowed for character device",
        ));
    }
    if matches!(kind, "tcp" | "udp" | "unix") {
        for source in dev.children_named("source") {
            enum_attr(source, "mode", &["connect", "bind"])?;
            if kind != "udp" {
                reconnect(source)?;
            }
        }
    }
    if kind == "spicevmc" && !SPICEVMC_TARGETS.contains(&(class, target.unwrap_or_default())) {
        return Err(unsupported("spicevmc device type only supports virtio"));
    }
    Ok(())
}

/// `<reconnect>`: when enabled, its timeout is required.
fn reconnect(source: &Element) -> Result<()> {
    let Some(r) = source.child("reconnect") else {
        return Ok(());
    };
    if enum_attr(r, "enabled", &["yes", "no"])? != Some("yes") {
        return Ok(());
    }
    match r.attr("timeout") {
        None => Err(Error::new(
            VIR_ERR_XML_ERROR,
            VIR_FROM_XML,
            "Missing required attribute 'timeout' in element 'reconnect'",
        )),
        Some(t) if values::parse_u32(t).is_none() => {
            Err(invalid_uint_attr("reconnect", "timeout", t))
        }
        Some(_) => Ok(()),
    }
}

/// libvirt's validation of every character device source, in its order of devices.
pub fn validate(devices: &Element) -> Result<()> {
    let smartcards = devices
        .children_named("smartcard")
        .filter(|c| c.attr("mode") == Some("passthrough"));
    for card in smartcards {
        validate_source(card, None)?;
    }
    for class in ["serial", "parallel", "console", "channel"] {
        for dev in devices.children_named(class) {
            validate_source(dev, Some(class))?;
        }
    }
    let rngs = devices
        .children_named("rng")
        .filter_map(|r| r.child("backend"))
        .filter(|b| b.attr("model") == Some("egd"));
    for backend in rngs {
        validate_source(backend, None)?;
    }
    for redirdev in devices.children_named("redirdev") {
        validate_source(redirdev, None)?;
    }
    Ok(())
}

/// The attributes a source of `dev`'s type needs; `class` names a port.
fn validate_source(dev: &Element, class: Option<&str>) -> Result<()> {
    let internal = |m: &str| Err(Error::new(VIR_ERR_INTERNAL_ERROR, VIR_FROM_DOMAIN, m));
    let sources: Vec<&Element> = dev.children_named("source").collect();
    let first = |attr: &str| sources.first().and_then(|s| s.attr(attr));
    let target = dev.child("target").and_then(|t| t.attr("type"));
    match kind(dev) {
        "file" | "dev" | "pipe" if first("path").is_none() => {
            internal("Missing source path attribute for char device")
        }
        "nmdm" if first("master").is_some() != first("slave").is_some() => {
            internal("Should define both master and slave path attributes for nmdm device")
        }
        "tcp" if first("host").is_none() => {
            internal("Missing source host attribute for char device")
        }
        "tcp" if first("service").is_none() => {
            internal("Missing source service attribute for char device")
        }
        "udp" if connect_service(&sources).is_none() => {
            internal("Missing source service attribute for char device")
        }
        "unix"
            if first("path").is_none()
                && !(class == Some("channel") && matches!(target, Some("xen" | "virtio"))) =>
        {
            internal("Missing source path attribute for char device")
        }
        "tcp" | "unix" if listens_and_reconnects(sources.first().copied()) => {
            internal("chardev reconnect is possible only for connect mode")
        }
        // A port needs a channel name; USB redirection and the others do not.
        "spiceport" | "dbus" if class.is_some() => match first("channel") {
            None => Err(unsupported(
                "Missing source channel attribute for char device",
            )),
            Some(name) if !name.chars().all(channel_name_char) => Err(Error::new(
                VIR_ERR_INVALID_ARG,
                VIR_FROM_DOMAIN,
                "Invalid character in source channel for char device",
            )),
            Some(_) => Ok(()),
        },
        _ => Ok(()),
    }
}

/// The service a UDP device sends to: from the first source in connect mode (the
/// default), as libvirt reads at most one per mode.
fn connect_service<'a>(sources: &[&'a Element]) -> Option<&'a str> {
    let connect = sources
        .iter()
        .find(|s| s.attr("mode").unwrap_or("connect") == "connect")?;
    if connect.attr("host").is_none() && connect.attr("service").is_none() {
        // libvirt takes the next connect source only if this one set nothing.
        return sources
            .iter()
            .filter(|s| s.attr("mode").unwrap_or("connect") == "connect")
            .nth(1)
            .and_then(|s| s.attr("service"));
    }
    connect.attr("service")
}

fn listens_and_reconnects(source: Option<&Element>) -> bool {
    source.is_some_and(|s| {
        s.attr("mode") == Some("bind")
            && s.child("reconnect").and_then(|r| r.attr("enabled")) == Some("yes")
    })
}
