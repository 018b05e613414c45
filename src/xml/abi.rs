//! Whether one definition may stand in for another under a running (or saved) guest: what
//! the guest sees must not change. The checks, their order and their words are libvirt
//! 9.0's `virDomainDefCheckABIStability` as its QEMU driver's save-image-define shows them.

use super::domain::DomainDef;
use super::tree::Element;
use super::values;
use crate::error::{Error, Result};

/// Features in libvirt's order; others follow in document order.
#[rustfmt::skip]
const FEATURES: &[&str] = &[
    "acpi", "apic", "pae", "hap", "viridian", "privnet", "hyperv", "kvm", "pvspinlock",
    "capabilities", "pmu", "vmport", "gic", "smm", "ioapic", "hpt", "vmcoreinfo", "htm",
    "nested-hv", "msrs", "ccf-assist", "xen", "cfpc", "sbbc", "ibs", "tcg", "async-teardown",
];

/// Controller models by type, in libvirt's enumeration order: libvirt reports a model
/// difference by these numbers.
#[rustfmt::skip]
const CONTROLLER_MODELS: &[(&str, &[&str])] = &[
    ("scsi", &[
        "auto", "buslogic", "lsilogic", "lsisas1068", "vmpvscsi", "ibmvscsi", "virtio-scsi",
        "lsisas1078", "virtio-transitional", "virtio-non-transitional", "ncr53c90", "am53c974",
        "dc390",
    ]),
    ("usb", &[
        "piix3-uhci", "piix4-uhci", "ehci", "ich9-ehci1", "ich9-uhci1", "ich9-uhci2", "ich9-uhci3",
        "vt82c686b-uhci", "pci-ohci", "nec-xhci", "qusb1", "qusb2", "qemu-xhci", "none",
    ]),
    ("pci", &[
        "pci-root", "pcie-root", "pci-bridge", "dmi-to-pci-bridge", "pcie-root-port",
        "pcie-switch-upstream-port", "pcie-switch-downstream-port", "pci-expander-bus",
        "pcie-expander-bus", "pcie-to-pci-bridge",
    ]),
    ("ide", &["piix3", "piix4", "ich6"]),
    ("virtio-serial", &["virtio", "virtio-transitional", "virtio-non-transitional"]),
];

/// Whether `new` may replace `old` across a save and restore (same name, UUID, memory,
/// vCPUs, device layout; a disk's source may change), else VIR_ERR_CONFIG_UNSUPPORTED
/// naming the first difference, as libvirt's ABI stability check does.
pub fn check_abi_stability(old: &DomainDef, new: &DomainDef) -> Result<()> {
    let (src, dst) = (old, new);
    same("domain virt type", src.virt_type(), dst.virt_type())?;
    same("domain uuid", &src.uuid_string(), &dst.uuid_string())?;
    let (s, d) = (src.root(), dst.root());
    same("domain genid", &text(s, "genid"), &text(d, "genid"))?;
    same("domain name", &quoted(src.name()), &quoted(dst.name()))?;
    same(
        "domain max memory",
        &src.max_memory_kib(),
        &dst.max_memory_kib(),
    )?;
    same(
        "domain current memory",
        &src.current_memory_kib(),
        &dst.current_memory_kib(),
    )?;
    same("domain vCPU max", &src.max_vcpus(), &dst.max_vcpus())?;
    if src.vcpus() != dst.vcpus() {
        let vcpu = src.vcpus().min(dst.vcpus());
        return Err(differs(format!(
            "State of vCPU '{vcpu}' differs between source and destination definitions"
        )));
    }
    same(
        "domain iothreads count",
        &count(s, "iothreads"),
        &count(d, "iothreads"),
    )?;
    let os_type = |e: &Element| {
        e.child("os")
            .and_then(|os| os.child("type"))
            .cloned()
            .unwrap_or_default()
    };
    let (so, dso) = (os_type(s), os_type(d));
    same("domain OS type", &so.text(), &dso.text())?;
    same(
        "domain architecture",
        &attr(&so, "arch"),
        &attr(&dso, "arch"),
    )?;
    same(
        "domain machine type",
        &attr(&so, "machine"),
        &attr(&dso, "machine"),
    )?;
    features(s, d)?;
    cpu(s, d)?;
    devices(s, d)
}

fn differs(message: String) -> Error {
    super::report::unsupported(message)
}

/// libvirt's usual wording: `Target <what> <new> does not match source <old>`.
fn same<T: PartialEq + std::fmt::Display + ?Sized>(what: &str, src: &T, dst: &T) -> Result<()> {
    if src == dst {
        return Ok(());
    }
    Err(differs(format!(
        "Target {what} {dst} does not match source {src}"
    )))
}

fn quoted(s: &str) -> String {
    format!("'{s}'")
}

/// An optional string as libvirt prints a NULL one.
fn or_null(s: Option<&str>) -> String {
    s.unwrap_or("<null>").to_owned()
}

fn attr(e: &Element, name: &str) -> String {
    or_null(e.attr(name))
}

fn text(e: &Element, child: &str) -> String {
    or_null(e.child(child).map(Element::text).as_deref())
}

fn count(e: &Element, child: &str) -> u64 {
    e.child(child)
        .and_then(|c| values::parse_u64(&c.text()))
        .unwrap_or(0)
}

fn features(s: &Element, d: &Element) -> Result<()> {
    let state = |e: &Element, name: &str| -> String {
        let feature = e.child("features").and_then(|f| f.child(name));
        feature
            .map_or("default", |f| f.attr("state").unwrap_or("on"))
            .to_owned()
    };
    let listed = |e: &Element| -> Vec<String> {
        e.child("features").map_or(Vec::new(), |f| {
            f.elements().map(|x| x.name.to_string()).collect()
        })
    };
    let mut names: Vec<String> = FEATURES.iter().map(|&n| n.to_owned()).collect();
    for name in listed(s).into_iter().chain(listed(d)) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    for name in &names {
        let (from, to) = (state(s, name), state(d, name));
        if from != to {
            return Err(differs(format!(
                "State of feature '{name}' differs: source: '{from}', destination: '{to}'"
            )));
        }
    }
    Ok(())
}

fn cpu(s: &Element, d: &Element) -> Result<()> {
    let (Some(sc), Some(dc)) = (s.child("cpu"), d.child("cpu")) else {
        return Ok(());
    };
    same("CPU mode", &attr(sc, "mode"), &attr(dc, "mode"))?;
    same("CPU model", &text(sc, "model"), &text(dc, "model"))
}

fn list<'a>(e: &'a Element, class: &'a str) -> Vec<&'a Element> {
    e.child("devices")
        .map_or(Vec::new(), |d| d.children_named(class).collect())
}

/// The device checks, class by class in libvirt's order.
fn devices(s: &Element, d: &Element) -> Result<()> {
    type PerDevice = fn(&Element, &Element) -> Result<()>;
    let classes: &[(&str, &str, PerDevice)] = &[
        ("disk", "disk count", disk),
        ("controller", "controller count", controller),
        ("filesystem", "filesystem count", filesystem),
        ("interface", "net card count", net),
        ("input", "input device count", input),
        ("sound", "sound card count", sound),
        ("video", "video card count", video),
        ("hostdev", "host device count", address),
        ("smartcard", "smartcard count", address),
        ("serial", "serial port count", serial),
        ("parallel", "parallel port count", parallel),
        ("channel", "channel count", channel),
        ("console", "console count", console),
        ("hub", "hub device count", address),
        ("redirdev", "redirected devices count", address),
        ("watchdog", "watchdog count", watchdog),
        ("memballoon", "memballoon count", memballoon),
        ("rng", "RNG device count", rng),
        ("panic", "panic device count", panic),
        ("shmem", "shared memory device count", address),
        ("tpm", "TPM device count", address),
        ("memory", "memory device count", address),
    ];
    for &(class, what, per_device) in classes {
        let (sl, dl) = (list(s, class), list(d, class));
        same(&format!("domain {what}"), &sl.len(), &dl.len())?;
        for (a, b) in sl.iter().zip(&dl) {
            per_device(a, b)?;
        }
    }
    for (class, what) in [("iommu", "IOMMU"), ("vsock", "vsock")] {
        if list(s, class).len() != list(d, class).len() {
            return Err(differs(format!(
                "Target domain {what} device count does not match source"
            )));
        }
    }
    Ok(())
}

fn target(e: &Element, name: &str) -> String {
    or_null(e.child("target").and_then(|t| t.attr(name)))
}

fn disk(s: &Element, d: &Element) -> Result<()> {
    same("disk device", &attr(s, "device"), &attr(d, "device"))?;
    same("disk bus", &target(s, "bus"), &target(d, "bus"))?;
    same("disk", &target(s, "dev"), &target(d, "dev"))?;
    for what in ["serial", "wwn", "vendor", "product"] {
        same(&format!("disk {what}"), &text(s, what), &text(d, what))?;
    }
    address(s, d)
}

fn controller(s: &Element, d: &Element) -> Result<()> {
    same("controller type", &attr(s, "type"), &attr(d, "type"))?;
    same("controller index", &attr(s, "index"), &attr(d, "index"))?;
    same(
        "controller model",
        &controller_model(s),
        &controller_model(d),
    )?;
    address(s, d)
}

/// The model as libvirt's enumeration numbers it, -1 for the default.
fn controller_model(c: &Element) -> i64 {
    let models = CONTROLLER_MODELS
        .iter()
        .find(|(t, _)| c.attr("type") == Some(*t))
        .map(|(_, m)| *m);
    match (c.attr("model"), models) {
        (Some(model), Some(models)) => models
            .iter()
            .position(|&m| m == model)
            .map_or(-1, |i| i as i64),
        _ => -1,
    }
}

fn filesystem(s: &Element, d: &Element) -> Result<()> {
    same(
        "filesystem guest target",
        &target(s, "dir"),
        &target(d, "dir"),
    )?;
    address(s, d)
}

fn model(e: &Element) -> String {
    or_null(e.child("model").and_then(|m| m.attr("type")))
}

fn net(s: &Element, d: &Element) -> Result<()> {
    let mac = |e: &Element| or_null(e.child("mac").and_then(|m| m.attr("address")));
    same("network card mac", &mac(s), &mac(d))?;
    same("network card model", &model(s), &model(d))?;
    address(s, d)
}

fn input(s: &Element, d: &Element) -> Result<()> {
    same("input device type", &attr(s, "type"), &attr(d, "type"))?;
    same("input device bus", &attr(s, "bus"), &attr(d, "bus"))?;
    address(s, d)
}

fn sound(s: &Element, d: &Element) -> Result<()> {
    same("sound card model", &attr(s, "model"), &attr(d, "model"))?;
    address(s, d)
}

fn video(s: &Element, d: &Element) -> Result<()> {
    same("video card model", &model(s), &model(d))?;
    let size = |e: &Element, what: &str| {
        e.child("model")
            .and_then(|m| m.attr(what))
            .and_then(values::parse_u64)
            .unwrap_or(0)
    };
    for what in ["ram", "vram", "vram64", "vgamem", "heads"] {
        same(
            &format!("video card {what}"),
            &size(s, what),
            &size(d, what),
        )?;
    }
    address(s, d)
}

fn serial(s: &Element, d: &Element) -> Result<()> {
    same("serial type", &target(s, "type"), &target(d, "type"))?;
    same("serial port", &target(s, "port"), &target(d, "port"))?;
    address(s, d)
}

fn parallel(s: &Element, d: &Element) -> Result<()> {
    same("parallel port", &target(s, "port"), &target(d, "port"))?;
    address(s, d)
}

fn channel(s: &Element, d: &Element) -> Result<()> {
    same("channel type", &target(s, "type"), &target(d, "type"))?;
    same("channel name", &target(s, "name"), &target(d, "name"))?;
    address(s, d)
}

fn console(s: &Element, d: &Element) -> Result<()> {
    same("console type", &target(s, "type"), &target(d, "type"))?;
    address(s, d)
}

fn watchdog(s: &Element, d: &Element) -> Result<()> {
    same("watchdog model", &attr(s, "model"), &attr(d, "model"))?;
    address(s, d)
}

fn memballoon(s: &Element, d: &Element) -> Result<()> {
    same("balloon model", &attr(s, "model"), &attr(d, "model"))?;
    for what in ["autodeflate", "freePageReporting"] {
        let (a, b) = (
            s.attr(what).unwrap_or("default"),
            d.attr(what).unwrap_or("default"),
        );
        if a != b {
            return Err(differs(format!(
                "Target balloon {what} attribute value '{b}' does not match source '{a}'"
            )));
        }
    }
    address(s, d)
}

fn rng(s: &Element, d: &Element) -> Result<()> {
    same(
        "RNG model",
        &quoted(&attr(s, "model")),
        &quoted(&attr(d, "model")),
    )?;
    address(s, d)
}

fn panic(s: &Element, d: &Element) -> Result<()> {
    same(
        "panic model",
        &quoted(&attr(s, "model")),
        &quoted(&attr(d, "model")),
    )?;
    address(s, d)
}

/// The device's guest address, as libvirt compares the address types it knows.
fn address(s: &Element, d: &Element) -> Result<()> {
    let (sa, da) = (s.child("address"), d.child("address"));
    let kind = |a: Option<&Element>| a.and_then(|a| a.attr("type")).unwrap_or("none").to_owned();
    same("device address type", &kind(sa), &kind(da))?;
    let (Some(sa), Some(da)) = (sa, da) else {
        return Ok(());
    };
    let num = |a: &Element, what: &str| -> u64 {
        let v = a.attr(what).unwrap_or("0");
        match v.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).unwrap_or(0),
            None => values::parse_u64(v).unwrap_or(0),
        }
    };
    let fields = |a: &Element, names: &[&str]| names.iter().map(|n| num(a, n)).collect::<Vec<_>>();
    let (what, names): (&str, &[&str]) = match kind(Some(sa)).as_str() {
        "pci" => ("PCI address", &["domain", "bus", "slot", "function"]),
        "drive" => ("drive address", &["controller", "bus", "unit"]),
        "virtio-serial" => ("virtio serial address", &["controller", "bus", "port"]),
        "ccid" => ("ccid address", &["controller", "slot"]),
        _ => return Ok(()),
    };
    let (sf, df) = (fields(sa, names), fields(da, names));
    if sf == df {
        return Ok(());
    }
    let show = |f: &[u64]| match what {
        "PCI address" => format!("{:04x}:{:02x}:{:02x}.{}", f[0], f[1], f[2], f[3]),
        _ => f.iter().map(u64::to_string).collect::<Vec<_>>().join(":"),
    };
    // libvirt 9.0's PCI message lacks the space before "does".
    let gap = if what == "PCI address" { "" } else { " " };
    Err(differs(format!(
        "Target device {what} {}{gap}does not match source {}",
        show(&df),
        show(&sf)
    )))
}
