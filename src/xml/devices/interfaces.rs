//! Network interfaces: type and MAC address checks and defaults, and their host names.

use crate::error::Result;
use crate::xml::layout;
use crate::xml::report::{enum_attr, invalid_uint_attr, xml_error};
use crate::xml::tree::Element;
use crate::xml::values;

#[rustfmt::skip]
const TYPES: &[&str] = &[
    "user", "ethernet", "vhostuser", "server", "client", "mcast", "network", "bridge",
    "internal", "direct", "hostdev", "udp", "vdpa", "null", "vds",
];
/// Types that libvirt refuses without a `<source>`.
#[rustfmt::skip]
const SOURCED: &[&str] = &[
    "network", "vds", "internal", "bridge", "direct", "vhostuser", "vdpa", "server",
    "client", "mcast", "udp",
];
/// Prefixes of the names a host generates for interfaces; the inactive parse forgets them.
const GENERATED_NAMES: &[&str] = &["vnet", "macvtap", "macvlan"];

pub fn check(devices: &Element) -> Result<()> {
    for net in devices.children_named("interface") {
        let kind = enum_attr(net, "type", TYPES)?;
        if let Some(kind) = kind.filter(|k| SOURCED.contains(k) && net.child("source").is_none()) {
            return Err(xml_error(format!(
                "interface type='{kind}' requires a 'source' element"
            )));
        }
        if let Some(mac) = net.child("mac").and_then(|m| m.attr("address")) {
            let parsed = values::parse_mac(mac)
                .ok_or_else(|| xml_error(format!("unable to parse mac address '{mac}'")))?;
            if parsed[0] & 1 == 1 {
                return Err(xml_error(format!(
                    "expected unicast mac address, found multicast '{mac}'"
                )));
            }
        }
        if kind == Some("hostdev") {
            super::hostdevs::check_interface(net)?;
        }
        virtio_driver(net)?;
    }
    Ok(())
}

/// The `<driver>` options libvirt reads for a virtio interface (not a host device).
fn virtio_driver(net: &Element) -> Result<()> {
    let model = net.child("model").and_then(|m| m.attr("type"));
    let virtio = matches!(
        model,
        Some("virtio" | "virtio-transitional" | "virtio-non-transitional")
    );
    let Some(driver) = net
        .child("driver")
        .filter(|_| virtio && net.attr("type") != Some("hostdev"))
    else {
        return Ok(());
    };
    enum_attr(driver, "name", &["qemu", "vhost"])?;
    enum_attr(driver, "txmode", &["iothread", "timer"])?;
    enum_attr(driver, "ioeventfd", &["on", "off"])?;
    enum_attr(driver, "event_idx", &["on", "off"])?;
    if let Some(q) = driver
        .attr("queues")
        .filter(|q| values::parse_u32(q).is_none())
    {
        return Err(invalid_uint_attr("driver", "queues", q));
    }
    Ok(())
}

/// `user` by default, and a MAC address, written in lower case, generated when missing.
pub fn complete(devices: &mut Element) {
    for net in devices.children_named_mut("interface") {
        if net.attr("type").is_none() {
            net.set_attr_after(&[], "type", "user");
        }
        let given = net
            .child("mac")
            .and_then(|m| m.attr("address"))
            .and_then(values::parse_mac);
        let mac = values::format_mac(&given.unwrap_or_else(values::generate_mac));
        match net.child_mut("mac") {
            Some(m) => m.set_attr("address", mac),
            None => net.push(Element::new("mac").with_attr("address", mac)),
        }
    }
}

pub fn forget_generated_name(net: &mut Element) {
    let dev = net.child("target").and_then(|t| t.attr("dev"));
    if dev.is_some_and(|d| GENERATED_NAMES.iter().any(|p| d.starts_with(p))) {
        net.remove_children("target");
    }
}

/// Gives every interface without a name the first `prefixN` no interface uses.
pub fn name_interfaces(devices: &mut Element, prefix: &str) {
    name_each(devices, prefix);
    layout::order_devices(devices);
}

fn name_each(devices: &mut Element, prefix: &str) {
    let name_of = |net: &Element| {
        net.child("target")
            .and_then(|t| t.attr("dev"))
            .map(str::to_owned)
    };
    let mut used: Vec<String> = devices
        .children_named("interface")
        .filter_map(name_of)
        .collect();
    for net in devices
        .children_named_mut("interface")
        .filter(|n| name_of(n).is_none())
    {
        let name = (0..)
            .map(|i| format!("{prefix}{i}"))
            .find(|n| !used.contains(n))
            .expect("unbounded");
        used.push(name.clone());
        match net.child_mut("target") {
            Some(target) => target.set_attr_after(&[], "dev", name),
            None => net.push(Element::new("target").with_attr("dev", name)),
        }
    }
}
