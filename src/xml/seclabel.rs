//! Security labels (`<seclabel>`) as libvirt 9.0's inactive parse reads them, for a driver
//! that names its host's security model: at domain level and in the `<source>` of disks
//! and character devices. They configure the host, not the guest; whether the driver can
//! apply them is the driver's question.
//!
//! Observed on libvirt 9.0's embedded QEMU driver with `security_driver = "none"`, run
//! unprivileged (no DAC driver), on define (`dumpxml --inactive`):
//! - domain level: `type` (default dynamic) and `relabel` (yes unless type none) are
//!   checked, then `model='none'` turns the label into `type='none'` with nothing else;
//!   other models keep `<label>` only when static, `<baselabel>` only when dynamic, never
//!   `<imagelabel>` (the running domain's);
//! - a lone label without a model takes the host's model when it is of type none, or
//!   dynamic without a base label (the model is required otherwise);
//! - device level: `relabel` (default yes) and `<label>` are kept, `labelskip` (status XML
//!   only) is not; a label with relabel and no `<label>` is kept but not written in the
//!   inactive form (`write`), so only a running domain's XML shows it.

use super::report::{enum_attr, invalid_attr, unsupported, xml_error};
use super::tree::Element;
use crate::abi::virErrorDomain::VIR_FROM_DOMAIN;
use crate::abi::virErrorNumber::VIR_ERR_XML_DETAIL;
use crate::error::{Error, Result};

const TYPES: &[&str] = &["dynamic", "static", "none"];
const YES_NO: &[&str] = &["yes", "no"];

/// Reads and completes every security label of `domain` (see the module); `host_model` is
/// the model of the host's first security driver.
pub fn complete(domain: &mut Element, host_model: &str) -> Result<()> {
    let mut models: Vec<Option<String>> = Vec::new();
    for label in domain.children_named_mut("seclabel") {
        domain_label(label)?;
        let model = label.attr("model").map(str::to_owned);
        if models.contains(&model) {
            return Err(Error::new(
                VIR_ERR_XML_DETAIL,
                VIR_FROM_DOMAIN,
                format!(
                    "seclabel for model {} is already provided",
                    model.as_deref().unwrap_or("(null)")
                ),
            ));
        }
        models.push(model);
    }
    if let [None] = models[..] {
        let label = domain.child_mut("seclabel").expect("one label");
        let kind = label.attr("type").unwrap_or_default();
        if kind != "none" && (kind != "dynamic" || label.child("baselabel").is_some()) {
            return Err(xml_error("missing security model in domain seclabel"));
        }
        label.set_attr_after(&["type"], "model", host_model);
        if host_model == "none" {
            none(label);
        }
    }
    let unrelabelled: Vec<String> = domain
        .children_named("seclabel")
        .filter(|l| l.attr("relabel") != Some("yes"))
        .filter_map(|l| l.attr("model").map(str::to_owned))
        .collect();
    let Some(devices) = domain.child_mut("devices") else {
        return Ok(());
    };
    for dev in devices.elements_mut() {
        if !matches!(
            dev.name.as_str(),
            "disk" | "serial" | "console" | "parallel" | "channel"
        ) {
            continue;
        }
        let Some(source) = dev.child_mut("source") else {
            continue;
        };
        for label in source.children_named_mut("seclabel") {
            device_label(label)?;
            if label
                .attr("model")
                .is_some_and(|m| unrelabelled.iter().any(|u| u == m))
            {
                return Err(unsupported(
                    "label overrides require relabeling to be enabled at the domain level",
                ));
            }
        }
    }
    Ok(())
}

fn domain_label(label: &mut Element) -> Result<()> {
    let kind = enum_attr(label, "type", TYPES)?
        .unwrap_or("dynamic")
        .to_owned();
    let relabel = match enum_attr(label, "relabel", YES_NO)? {
        Some(r) => r == "yes",
        None => kind != "none",
    };
    if kind == "dynamic" && !relabel {
        return Err(unsupported(
            "dynamic label type must use resource relabeling",
        ));
    }
    if kind == "none" && relabel {
        return Err(unsupported(
            "resource relabeling is not compatible with 'none' label type",
        ));
    }
    let model = label.attr("model").map(str::to_owned);
    label.attrs.clear();
    label.set_attr("type", kind.as_str());
    if let Some(model) = &model {
        label.set_attr("model", model.as_str());
    }
    if model.as_deref() == Some("none") || kind == "none" {
        none(label);
        return Ok(());
    }
    label.set_attr("relabel", if relabel { "yes" } else { "no" });
    let label_text = text_of(label, "label");
    let base = text_of(label, "baselabel");
    label.children.clear();
    match (kind.as_str(), label_text, base) {
        ("static", Some(text), _) => label.push(text_element("label", &text)),
        ("static", None, _) => return Err(xml_error("security label is missing")),
        ("dynamic", _, Some(base)) => label.push(text_element("baselabel", &base)),
        _ => {}
    }
    Ok(())
}

/// A label of type none: its model, nothing else.
fn none(label: &mut Element) {
    label.set_attr("type", "none");
    label.attrs.retain(|(k, _)| k == "type" || k == "model");
    label.children.clear();
}

fn device_label(label: &mut Element) -> Result<()> {
    let relabel = enum_attr(label, "relabel", YES_NO)?
        .unwrap_or("yes")
        .to_owned();
    if let Some(skip) = label.attr("labelskip") {
        if !YES_NO.contains(&skip) {
            return Err(invalid_attr("seclabel", "labelskip", skip));
        }
    }
    let model = label.attr("model").map(str::to_owned);
    let text = text_of(label, "label");
    label.attrs.clear();
    label.children.clear();
    if let Some(model) = model {
        label.set_attr("model", model.as_str());
    }
    label.set_attr("relabel", relabel.as_str());
    if let Some(text) = text {
        label.push(text_element("label", &text));
    }
    Ok(())
}

/// Whether the inactive form leaves out this device label: it relabels, with no label of
/// its own (libvirt writes it only for a running domain).
pub fn inactive_hides(label: &Element) -> bool {
    label.name == "seclabel"
        && label.attr("relabel") == Some("yes")
        && label.child("label").is_none()
}

fn text_of(e: &Element, name: &str) -> Option<String> {
    e.child(name)
        .map(|c| c.text().into_owned())
        .filter(|t| !t.is_empty())
}

fn text_element(name: &str, text: &str) -> Element {
    let mut e = Element::new(name);
    e.set_text(text);
    e
}
