//! Boot order checks libvirt 9.0 makes after parsing: per-device boot orders are unique
//! and exclude `<os><boot dev>`, and a boot menu waits at most 65535 ms.

use super::report::{enum_attr, invalid_uint_attr, unsupported};
use super::tree::Element;
use super::values;
use crate::error::Result;

/// libvirt's check of device boot orders on HVM guests (after its memory defaults).
pub fn check_order(root: &Element) -> Result<()> {
    let Some(devices) = root.child("devices") else {
        return Ok(());
    };
    let mut orders: Vec<&str> = Vec::new();
    let boots = devices
        .elements()
        .flat_map(|d| d.children_named("boot"))
        .filter_map(|b| b.attr("order"));
    for order in boots {
        if orders.contains(&order) {
            return Err(unsupported(format!(
                "boot order '{order}' used for more than one device"
            )));
        }
        orders.push(order);
    }
    let os_boot = root
        .child("os")
        .is_some_and(|os| os.child("boot").is_some());
    if os_boot && !orders.is_empty() {
        return Err(unsupported(
            "per-device boot elements cannot be used together with os/boot elements",
        ));
    }
    Ok(())
}

/// The boot menu as libvirt reads it: a yes/no switch, and a timeout when enabled.
pub fn check_menu(root: &Element) -> Result<()> {
    let Some(menu) = root.child("os").and_then(|os| os.child("bootmenu")) else {
        return Ok(());
    };
    if enum_attr(menu, "enable", &["yes", "no"])? == Some("yes") {
        if let Some(t) = menu
            .attr("timeout")
            .filter(|t| values::parse_u32(t).is_none())
        {
            return Err(invalid_uint_attr("bootmenu", "timeout", t));
        }
    }
    Ok(())
}

/// libvirt's validation of an enabled boot menu's timeout.
pub fn validate_menu(root: &Element) -> Result<()> {
    let timeout = root
        .child("os")
        .and_then(|os| os.child("bootmenu"))
        .filter(|m| m.attr("enable") == Some("yes"))
        .and_then(|m| m.attr("timeout"))
        .and_then(values::parse_u64);
    if timeout.is_some_and(|t| t > 65535) {
        return Err(unsupported(
            "invalid value for boot menu timeout, must be in range [0,65535]",
        ));
    }
    Ok(())
}
