//! Graphics and video: VNC and SPICE ports and listen addresses, video models' memory,
//! heads and primary card, and the video card libvirt adds for graphics.

use crate::abi::virErrorDomain::{VIR_FROM_DOMAIN, VIR_FROM_XML};
use crate::abi::virErrorNumber::{VIR_ERR_INTERNAL_ERROR, VIR_ERR_XML_ERROR};
use crate::error::{Error, Result};
use crate::xml::layout::order_attrs;
use crate::xml::report::{enum_attr, unsupported, xml_error};
use crate::xml::tree::Element;
use crate::xml::values;

/// Attribute orders of libvirt's formatter.
#[rustfmt::skip]
const GRAPHICS_ATTRS: &[&str] = &[
    "type", "port", "tlsPort", "autoport", "websocket", "websocketGenerated", "listen",
    "keymap", "defaultMode", "sharePolicy", "passwd", "passwdValidTo", "connected",
];
const MODEL_ATTRS: &[&str] = &[
    "type", "ram", "vram", "vram64", "vgamem", "heads", "primary",
];

/// libvirt reads no graphics without a type, nor ports that are not integers.
pub fn check(devices: &Element) -> Result<()> {
    for g in devices.children_named("graphics") {
        let invalid_int = |attr: &str, v: &str| {
            Error::new(
                VIR_ERR_XML_ERROR,
                VIR_FROM_XML,
                format!(
                    "Invalid value for attribute '{attr}' in element 'graphics': '{v}'. \
                     Expected integer value"
                ),
            )
        };
        match g.attr("type") {
            None => {
                return Err(Error::new(
                    VIR_ERR_XML_ERROR,
                    VIR_FROM_XML,
                    "Missing required attribute 'type' in element 'graphics'",
                ))
            }
            Some(kind @ ("vnc" | "rdp")) => {
                listens(g, kind)?;
                if let Some(port) = g.attr("port").filter(|p| values::parse_i32(p).is_none()) {
                    return Err(Error::new(
                        VIR_ERR_INTERNAL_ERROR,
                        VIR_FROM_DOMAIN,
                        format!("cannot parse {kind} port {port}"),
                    ));
                }
                if kind == "vnc" {
                    if let Some(w) = g
                        .attr("websocket")
                        .filter(|w| values::parse_i32(w).is_none())
                    {
                        return Err(invalid_int("websocket", w));
                    }
                }
            }
            Some("spice") => {
                listens(g, "spice")?;
                for attr in ["port", "tlsPort"] {
                    if let Some(v) = g.attr(attr).filter(|v| values::parse_i32(v).is_none()) {
                        return Err(invalid_int(attr, v));
                    }
                }
                enum_attr(g, "autoport", &["yes", "no"])?;
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The `<listen>` elements of VNC, RDP and SPICE graphics; the first must agree with the
/// `listen` and `socket` attributes of old.
fn listens(g: &Element, kind: &str) -> Result<()> {
    for (i, listen) in g.children_named("listen").enumerate() {
        let Some(t) = enum_attr(listen, "type", &["none", "address", "network", "socket"])? else {
            return Err(Error::new(
                VIR_ERR_XML_ERROR,
                VIR_FROM_XML,
                "Missing required attribute 'type' in element 'listen'",
            ));
        };
        if matches!(t, "socket" | "none") && !matches!(kind, "vnc" | "spice") {
            return Err(unsupported(format!(
                "listen type '{t}' is not available for graphics type '{kind}'"
            )));
        }
        for (attr, compat, of) in [
            ("address", "listen", "address"),
            ("socket", "socket", "socket"),
        ] {
            let given = (listen.attr(attr), g.attr(compat));
            if let (true, Some(own), Some(old)) = (i == 0 && t == of, given.0, given.1) {
                if own != old {
                    return Err(unsupported(format!(
                        "graphics '{compat}' attribute '{old}' must match '{attr}' \
                         attribute of first listen element (found '{own}')"
                    )));
                }
            }
        }
        for attr in ["network", "socket"] {
            if listen.attr(attr).is_some_and(|v| !v.is_empty()) && t != attr {
                return Err(xml_error(format!(
                    "'{attr}' attribute is valid only for listen type '{attr}'"
                )));
            }
        }
    }
    Ok(())
}

pub fn complete(devices: &mut Element, hvm: bool) {
    for g in devices.children_named_mut("graphics") {
        match g.attr("type") {
            Some("vnc") => vnc_ports(g),
            Some("spice") => {
                let has_port = g.attr("port").is_some() || g.attr("tlsPort").is_some();
                if has_port && g.attr("autoport").is_none() {
                    g.set_attr("autoport", "no");
                }
                let listens = has_port || g.attr("autoport") == Some("yes");
                listen(g, if listens { "address" } else { "none" });
            }
            _ => {}
        }
        order_attrs(g, GRAPHICS_ATTRS);
    }
    if hvm && devices.child("graphics").is_some() && devices.child("video").is_none() {
        devices.push(Element::new("video"));
    }
    // The first card is the primary one unless the document names one (two are refused).
    let named_primary = devices
        .children_named("video")
        .any(|v| v.child("model").and_then(|m| m.attr("primary")) == Some("yes"));
    for (i, video) in devices.children_named_mut("video").enumerate() {
        if video.child("model").is_none() {
            video.prepend(Element::new("model").with_attr("type", "cirrus"));
        }
        let primary = i == 0 && !named_primary;
        video_model(video.child_mut("model").expect("inserted above"), primary);
    }
}

pub fn validate(devices: &Element) -> Result<()> {
    let listens = devices
        .children_named("graphics")
        .flat_map(|g| g.children_named("listen"));
    for listen in listens {
        if listen.attr("type") == Some("network")
            && listen.attr("network").is_none_or(str::is_empty)
        {
            return Err(xml_error(
                "'network' attribute is required for listen type 'network'",
            ));
        }
    }
    let models: Vec<Option<&str>> = devices
        .children_named("video")
        .map(|v| v.child("model").and_then(|m| m.attr("type")))
        .collect();
    if models.len() > 1 && models.contains(&Some("none")) {
        return Err(unsupported(
            "a 'none' video type must be the only video device defined for the domain",
        ));
    }
    let models: Vec<&Element> = devices
        .children_named("video")
        .filter_map(|v| v.child("model"))
        .collect();
    for model in models.iter().filter(|m| m.attr("type") != Some("qxl")) {
        for attr in ["ram", "vram64", "vgamem"] {
            if model
                .attr(attr)
                .and_then(values::parse_u64)
                .is_some_and(|n| n != 0)
            {
                return Err(unsupported(format!(
                    "{attr} attribute only supported for video type qxl"
                )));
            }
        }
    }
    let ramfb = devices.children_named("video").any(|v| {
        v.child("model").and_then(|m| m.attr("type")) == Some("ramfb")
            && v.child("address").is_some()
    });
    if ramfb {
        return Err(unsupported("address not supported for video type ramfb"));
    }
    if models
        .iter()
        .filter(|m| m.attr("primary") == Some("yes"))
        .count()
        > 1
    {
        return Err(unsupported("Only one primary video device is supported"));
    }
    Ok(())
}

/// A VNC port is -1 under autoport, which is on unless a port is given; port 0 is none.
fn vnc_ports(g: &mut Element) {
    let port = g.remove_attr("port");
    let autoport = match g.attr("autoport") {
        Some(a) => a == "yes",
        None => port.as_deref().is_none_or(|p| p == "-1"),
    };
    let port = if autoport {
        Some("-1".into())
    } else {
        port.filter(|p| p != "0" && p != "-1")
    };
    if let Some(port) = port {
        g.set_attr("port", port);
    }
    g.set_attr("autoport", if autoport { "yes" } else { "no" });
    listen(g, "address");
}

/// The `<listen>` libvirt derives from the `listen` attribute, or a default one; and the
/// attribute back from the first listen address.
fn listen(g: &mut Element, default: &str) {
    if g.child("listen").is_none() {
        let listen = match g.attr("listen") {
            Some(addr) => Element::new("listen")
                .with_attr("type", "address")
                .with_attr("address", addr),
            None => Element::new("listen").with_attr("type", default),
        };
        g.prepend(listen);
    }
    let first = g.child("listen").expect("inserted above");
    if let (Some("address"), Some(addr)) = (first.attr("type"), first.attr("address")) {
        let addr = addr.to_owned();
        g.set_attr("listen", addr);
    }
}

/// A model's default video memory (KiB) and heads; the first card is the primary one.
fn video_model(model: &mut Element, first: bool) {
    if model.attr("type").is_none() {
        model.set_attr("type", "cirrus");
    }
    let (ram, vram) = match model.attr("type").unwrap_or_default() {
        "none" => return,
        "vga" | "cirrus" | "vmvga" | "bochs" => (None, Some("16384")),
        "xen" => (None, Some("4096")),
        "qxl" => (Some("65536"), Some("65536")),
        _ => (None, None),
    };
    let defaults = [
        ("ram", ram),
        ("vram", vram),
        ("heads", Some("1")),
        ("primary", first.then_some("yes")),
    ];
    for (attr, value) in defaults {
        if let (Some(value), None) = (value, model.attr(attr)) {
            model.set_attr(attr, value);
        }
    }
    order_attrs(model, MODEL_ATTRS);
}
