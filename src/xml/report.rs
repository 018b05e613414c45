//! The shapes of error libvirt's domain XML parser reports, so that every check words and
//! files its failure the same way.

use super::tree::Element;
use crate::abi::virErrorDomain::{VIR_FROM_DOMAIN, VIR_FROM_XML};
use crate::abi::virErrorNumber::{VIR_ERR_CONFIG_UNSUPPORTED, VIR_ERR_XML_ERROR};
use crate::error::{Error, Result};

/// "XML error: ..." from the domain parser itself.
pub fn xml_error(detail: impl Into<String>) -> Error {
    Error::new(VIR_ERR_XML_ERROR, VIR_FROM_DOMAIN, detail)
}

/// "unsupported configuration: ...".
pub fn unsupported(detail: impl Into<String>) -> Error {
    Error::new(VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_DOMAIN, detail)
}

/// An attribute outside its enumeration, as libvirt's XML helpers reject it.
pub fn invalid_attr(element: &str, attr: &str, value: &str) -> Error {
    Error::new(
        VIR_ERR_XML_ERROR,
        VIR_FROM_XML,
        format!("Invalid value for attribute '{attr}' in element '{element}': '{value}'."),
    )
}

/// A numeric attribute that is not a non-negative integer.
pub fn invalid_uint_attr(element: &str, attr: &str, value: &str) -> Error {
    Error::new(
        VIR_ERR_XML_ERROR,
        VIR_FROM_XML,
        format!(
            "Invalid value for attribute '{attr}' in element '{element}': '{value}'. \
             Expected non-negative integer value"
        ),
    )
}

/// The attribute's value, refused unless it is one of `allowed`.
pub fn enum_attr<'a>(e: &'a Element, attr: &str, allowed: &[&str]) -> Result<Option<&'a str>> {
    match e.attr(attr) {
        Some(v) if !allowed.contains(&v) => Err(invalid_attr(&e.name, attr, v)),
        v => Ok(v),
    }
}
