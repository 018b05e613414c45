//! The memory balloon: libvirt 9.0 requires its model.

use crate::abi::virErrorDomain::VIR_FROM_XML;
use crate::abi::virErrorNumber::VIR_ERR_XML_ERROR;
use crate::error::{Error, Result};
use crate::xml::report::enum_attr;
use crate::xml::tree::Element;

#[rustfmt::skip]
const MODELS: &[&str] = &[
    "virtio", "xen", "none", "virtio-transitional", "virtio-non-transitional",
];

pub fn check(devices: &Element) -> Result<()> {
    for balloon in devices.children_named("memballoon") {
        if balloon.attr("model").is_none() {
            return Err(Error::new(
                VIR_ERR_XML_ERROR,
                VIR_FROM_XML,
                "Missing required attribute 'model' in element 'memballoon'",
            ));
        }
        enum_attr(balloon, "model", MODELS)?;
    }
    Ok(())
}
