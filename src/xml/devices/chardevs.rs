//! Character devices: the ports libvirt numbers, and on HVM guests the console that
//! mirrors the first serial port (libvirt's console compatibility).

use crate::xml::tree::{Element, Node};
use crate::xml::values;

pub fn complete(devices: &mut Element, hvm: bool) {
    // Serial and parallel ports without a number follow the highest before them.
    for class in ["serial", "parallel"] {
        let mut highest: Option<u64> = None;
        for dev in devices.children_named_mut(class) {
            let given = dev
                .child("target")
                .and_then(|t| t.attr("port"))
                .and_then(values::parse_u64);
            let port = given.unwrap_or_else(|| highest.map_or(0, |h| h + 1));
            highest = Some(highest.map_or(port, |h| h.max(port)));
            dev.child_or_insert("target")
                .set_attr_after(&["type"], "port", port.to_string());
        }
    }
    // A console's port is its place among consoles, whatever the document says.
    for (i, console) in devices.children_named_mut("console").enumerate() {
        console
            .child_or_insert("target")
            .set_attr_after(&["type"], "port", i.to_string());
    }
    if !hvm {
        return;
    }
    let has_serial = devices.child("serial").is_some();
    match devices.child("console") {
        // A serial console without a serial port becomes one.
        Some(console) if mirrors_serial(console) && !has_serial => {
            let mut serial = console.clone();
            serial.name = "serial".into();
            serial.remove_children("target");
            serial.push(Element::new("target").with_attr("port", "0"));
            devices.push(serial);
        }
        Some(console) if mirrors_serial(console) => {}
        // A serial port gets a console in front of the others.
        _ if has_serial => devices.insert_before(&["console"], Element::new("console")),
        _ => {}
    }
    let serials: Vec<Element> = devices.children_named("serial").cloned().collect();
    for (console, serial) in devices.children_named_mut("console").zip(&serials) {
        if mirrors_serial(console) {
            *console = mirror(serial);
        }
    }
}

/// Whether a console stands for a serial port: its target type is serial or unset.
fn mirrors_serial(console: &Element) -> bool {
    matches!(
        console.child("target").and_then(|t| t.attr("type")),
        None | Some("serial")
    )
}

/// The console libvirt writes for a serial port: the port itself, with a serial target.
fn mirror(serial: &Element) -> Element {
    let port = serial
        .child("target")
        .and_then(|t| t.attr("port"))
        .unwrap_or("0");
    let target = Element::new("target")
        .with_attr("type", "serial")
        .with_attr("port", port);
    let mut console = serial.clone();
    console.name = "console".into();
    for node in &mut console.children {
        if matches!(node, Node::Element(e) if e.name == "target") {
            *node = Node::Element(target.clone());
        }
    }
    console
}
