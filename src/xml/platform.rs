//! `<cpu>` and `<features>`: virshim keeps both as given, but refuses the values libvirt
//! 9.0's parser refuses (modes, match and check policies, feature states and names).

use super::report::{enum_attr, unsupported};
use super::tree::Element;
use super::values;
use crate::abi::virErrorDomain::{VIR_FROM_CPU, VIR_FROM_DOMAIN, VIR_FROM_XML};
use crate::abi::virErrorNumber::{
    VIR_ERR_CONFIG_UNSUPPORTED, VIR_ERR_INTERNAL_ERROR, VIR_ERR_XML_ERROR,
};
use crate::error::{Error, Result};

const CPU_MODES: &[&str] = &["custom", "host-model", "host-passthrough", "maximum"];
const CPU_MATCHES: &[&str] = &["exact", "minimum", "strict"];
const CPU_CHECKS: &[&str] = &["default", "none", "partial", "full"];
/// libvirt's tristate switch.
const SWITCH: &[&str] = &["on", "off"];

#[rustfmt::skip]
const FEATURES: &[&str] = &[
    "acpi", "apic", "pae", "hap", "viridian", "privnet", "hyperv", "kvm", "pvspinlock",
    "capabilities", "pmu", "vmport", "gic", "smm", "ioapic", "hpt", "vmcoreinfo", "htm",
    "nested-hv", "msrs", "ccf-assist", "xen", "cfpc", "sbbc", "ibs", "tcg",
];
/// Features whose optional `state` is a switch.
#[rustfmt::skip]
const SWITCHED: &[&str] = &[
    "hap", "pmu", "pvspinlock", "vmport", "smm", "vmcoreinfo", "htm", "nested-hv", "ccf-assist",
];
#[rustfmt::skip]
const HYPERV: &[&str] = &[
    "relaxed", "vapic", "spinlocks", "vpindex", "runtime", "synic", "stimer", "reset",
    "vendor_id", "frequencies", "reenlightenment", "tlbflush", "ipi", "evmcs", "avic",
];
const KVM: &[&str] = &[
    "hidden",
    "hint-dedicated",
    "poll-control",
    "pv-ipi",
    "dirty-ring",
];
const GIC_VERSIONS: &[&str] = &["host", "2", "3"];

/// The guest CPU's mode (reported by libvirt's CPU code), then its match and check.
pub fn check_cpu(root: &Element) -> Result<()> {
    let Some(cpu) = root.child("cpu") else {
        return Ok(());
    };
    let mode = cpu.attr("mode").unwrap_or("custom");
    if !CPU_MODES.contains(&mode) {
        return Err(Error::new(
            VIR_ERR_CONFIG_UNSUPPORTED,
            VIR_FROM_CPU,
            format!("Invalid mode attribute '{mode}'"),
        ));
    }
    if enum_attr(cpu, "migratable", SWITCH)?.is_some()
        && !matches!(mode, "host-passthrough" | "maximum")
    {
        return Err(Error::new(
            VIR_ERR_CONFIG_UNSUPPORTED,
            VIR_FROM_CPU,
            "Attribute migratable is only allowed for 'host-passthrough' / 'maximum' CPU mode",
        ));
    }
    enum_attr(cpu, "match", CPU_MATCHES)?;
    enum_attr(cpu, "check", CPU_CHECKS)?;
    Ok(())
}

/// Feature names, and the switches and versions libvirt reads from them.
pub fn check_features(root: &Element) -> Result<()> {
    let Some(features) = root.child("features") else {
        return Ok(());
    };
    for feature in features.elements() {
        let name = feature.name.as_str();
        if !FEATURES.contains(&name) {
            return Err(unsupported(format!("unexpected feature '{name}'")));
        }
        match name {
            "apic" => {
                enum_attr(feature, "eoi", SWITCH)?;
            }
            "gic" => {
                enum_attr(feature, "version", GIC_VERSIONS)?;
            }
            "hyperv" => enlightenments(feature, HYPERV, "HyperV Enlightenment")?,
            "kvm" => enlightenments(feature, KVM, "KVM")?,
            _ if SWITCHED.contains(&name) => {
                enum_attr(feature, "state", SWITCH)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Hyper-V and KVM features: known names, each with a required switch.
fn enlightenments(group: &Element, known: &[&str], what: &str) -> Result<()> {
    for e in group.elements() {
        if !known.contains(&e.name.as_str()) {
            return Err(unsupported(format!(
                "unsupported {what} feature: {}",
                e.name
            )));
        }
        if enum_attr(e, "state", SWITCH)?.is_none() {
            return Err(Error::new(
                VIR_ERR_XML_ERROR,
                VIR_FROM_XML,
                format!("Missing required attribute 'state' in element '{}'", e.name),
            ));
        }
    }
    Ok(())
}

/// The guest NUMA cells: each one's memory, then the vCPUs they hold, which libvirt
/// refuses beyond the maximum vCPU count. Returns the cells' memory in KiB.
pub fn check_numa(root: &Element, max_vcpus: u32) -> Result<u64> {
    let Some(numa) = root.child("cpu").and_then(|c| c.child("numa")) else {
        return Ok(0);
    };
    let mut memory = 0u64;
    for cell in numa.children_named("cell") {
        let kib = values::parse_kib(cell.attr("memory"), cell.attr("unit"), "./@memory")?
            .ok_or_else(|| {
                Error::new(
                    VIR_ERR_XML_ERROR,
                    VIR_FROM_XML,
                    "missing element or attribute './@memory'",
                )
            })?;
        memory = memory.saturating_add(kib);
        enum_attr(cell, "memAccess", &["shared", "private"])?;
        enum_attr(cell, "discard", &["yes", "no"])?;
    }
    let count: Option<u64> = numa
        .children_named("cell")
        .filter_map(|c| c.attr("cpus"))
        .map(cpu_count)
        .sum();
    if count.is_some_and(|n| n > u64::from(max_vcpus)) {
        return Err(Error::new(
            VIR_ERR_INTERNAL_ERROR,
            VIR_FROM_DOMAIN,
            "Number of CPUs in <numa> exceeds the <vcpu> count",
        ));
    }
    Ok(memory)
}

/// Highest CPU number counted; a larger one leaves the list to libvirt's other checks.
const MAX_CPU: u32 = 1 << 16;

/// How many CPUs a list such as `0-3,^2,8` names; `None` if it is not one.
fn cpu_count(list: &str) -> Option<u64> {
    let mut cpus = vec![false; MAX_CPU as usize];
    for item in list.split(',').map(str::trim) {
        let (negated, item) = match item.strip_prefix('^') {
            Some(rest) => (true, rest),
            None => (false, item),
        };
        let (first, last) = match item.split_once('-') {
            Some((a, b)) => (a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?),
            None => (item.parse::<u32>().ok()?, item.parse::<u32>().ok()?),
        };
        if first > last || last >= MAX_CPU {
            return None;
        }
        cpus[first as usize..=last as usize].fill(!negated);
    }
    Some(cpus.iter().filter(|&&c| c).count() as u64)
}
