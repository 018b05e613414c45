//! Test-driver configuration files (`test:///path/to/node.xml`): a `<node>` document whose
//! `<domain>` children, inline or in files named by a `file` attribute, are the domains a
//! connection starts with, running unless the test namespace says otherwise.

use std::path::Path;

use super::state::State;
use crate::abi::virDomainState;
use crate::abi::virErrorDomain::VIR_FROM_TEST;
use crate::abi::virErrorNumber::VIR_ERR_XML_ERROR;
use crate::xml::{parse_tree, tree_to_string, DomainDef, Element};
use crate::{Error, Result};

/// The test driver's XML namespace, for `<test:runstate>` and `<test:transient/>`.
const TEST_NS: &str = "http://libvirt.org/schemas/domain/test/1.0";

fn unparsable(path: &Path) -> Error {
    Error::new(
        VIR_ERR_XML_ERROR,
        VIR_FROM_TEST,
        format!("failed to parse xml document '{}'", path.display()),
    )
}

fn read_tree(path: &Path) -> Result<Element> {
    let text = std::fs::read_to_string(path).map_err(|_| {
        // libvirt's XML library says this on stderr too, before libvirt's own error.
        eprintln!(
            "I/O warning : failed to load external entity \"{}\"",
            path.display()
        );
        unparsable(path)
    })?;
    parse_tree(&text, &path.display().to_string(), VIR_FROM_TEST)
}

/// The state a connection to the configuration file `path` starts with.
pub(super) fn load(path: &Path) -> Result<State> {
    let node = read_tree(path)?;
    if node.name != "node" {
        return Err(Error::new(
            VIR_ERR_XML_ERROR,
            VIR_FROM_TEST,
            "Root element is not 'node'",
        ));
    }
    let dir = path.parent().unwrap_or(Path::new("/"));
    let mut state = State::empty();
    for el in node.children_named("domain") {
        let el = match el.attr("file") {
            Some(file) => read_tree(&dir.join(file))?,
            None => el.clone(),
        };
        let (running, persistent) = test_namespace(&el);
        let def = DomainDef::parse(&tree_to_string(&el), super::VIRT_TYPES)?;
        state.load(def, running, persistent)?;
    }
    Ok(state)
}

/// What `<test:runstate>` and `<test:transient/>` say: whether the domain starts running,
/// and whether it is persistent.
fn test_namespace(domain: &Element) -> (bool, bool) {
    let prefix = domain
        .attrs
        .iter()
        .find(|(name, value)| name.starts_with("xmlns:") && value == TEST_NS)
        .map(|(name, _)| name["xmlns:".len()..].to_owned());
    let Some(prefix) = prefix else {
        return (true, true);
    };
    let runstate = domain
        .child(&format!("{prefix}:runstate"))
        .and_then(|e| e.text().trim().parse::<i32>().ok());
    let running = runstate.is_none_or(|s| s != virDomainState::VIR_DOMAIN_SHUTOFF as i32);
    let transient = domain.child(&format!("{prefix}:transient")).is_some();
    (running, !transient)
}
