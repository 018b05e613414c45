//! The order libvirt writes elements in. Elements it knows go to their canonical place;
//! anything else keeps its place after whatever preceded it in the input.

use super::tree::{Element, Node};

/// Children of `<domain>`, in libvirt 9.0's order (observed by defining a shuffled domain).
#[rustfmt::skip]
const DOMAIN: &[&str] = &[
    "name", "uuid", "genid", "title", "description", "metadata", "maxMemory", "memory",
    "currentMemory", "blkiotune", "memtune", "memoryBacking", "vcpu", "vcpus", "iothreads",
    "iothreadids", "defaultiothread", "cputune", "numatune", "resource", "sysinfo",
    "bootloader", "bootloader_args", "os", "idmap", "features", "cpu", "clock", "on_poweroff",
    "on_reboot", "on_crash", "on_lockfailure", "pm", "perf", "devices", "seclabel", "keywrap",
    "launchSecurity",
];

/// Children of `<os>`.
#[rustfmt::skip]
const OS: &[&str] = &[
    "type", "firmware", "loader", "nvram", "kernel", "initrd", "cmdline", "dtb", "acpi", "root",
    "init", "initarg", "initenv", "initdir", "inituser", "initgroup", "boot", "bootmenu",
    "bios", "smbios",
];

/// Children of `<devices>`: device classes in the order libvirt lists them.
#[rustfmt::skip]
const DEVICES: &[&str] = &[
    "emulator", "disk", "controller", "lease", "filesystem", "interface", "smartcard", "serial",
    "parallel", "console", "channel", "input", "tpm", "graphics", "sound", "audio", "video",
    "hostdev", "redirdev", "redirfilter", "hub", "watchdog", "memballoon", "rng", "panic",
    "shmem", "memory", "iommu", "vsock", "crypto",
];

/// Children of a disk, an interface, a character device (observed by defining shuffled
/// ones); the device information libvirt writes last for every device closes each.
#[rustfmt::skip]
const DISK: &[&str] = &[
    "driver", "source", "backingStore", "backenddomain", "geometry", "blockio", "target",
    "iotune", "readonly", "shareable", "transient", "serial", "wwn", "vendor", "product",
    "boot", "alias", "address",
];
#[rustfmt::skip]
const INTERFACE: &[&str] = &[
    "mac", "source", "virtualport", "ip", "route", "script", "downscript", "backenddomain",
    "target", "guest", "model", "driver", "backend", "filterref", "tune", "teaming", "link",
    "mtu", "coalesce", "boot", "alias", "rom", "address",
];
const CHARDEV: &[&str] = &["source", "protocol", "log", "target", "alias", "address"];
/// The device information libvirt writes last for every device.
const DEVICE_INFO: &[&str] = &["boot", "alias", "address"];

/// The first child of `<domain>` or `<devices>` that libvirt's schema does not allow
/// (neither an element libvirt knows there nor one of another namespace), with its parent.
pub fn unknown_child(domain: &Element) -> Option<(&'static str, &str)> {
    fn stray<'a>(parent: &'a Element, known: &[&str]) -> Option<&'a str> {
        parent
            .elements()
            .map(|e| e.name.as_str())
            .find(|name| !name.contains(':') && !known.contains(name))
    }
    stray(domain, DOMAIN)
        .map(|name| ("domain", name))
        .or_else(|| {
            let devices = domain.child("devices")?;
            stray(devices, DEVICES).map(|name| ("devices", name))
        })
}

pub fn order_domain(domain: &mut Element) {
    sort(domain, DOMAIN);
}

pub fn order_os(os: &mut Element) {
    sort(os, OS);
}

/// Orders the device classes, and the children of the devices whose order is known.
pub fn order_devices(devices: &mut Element) {
    sort(devices, DEVICES);
    for dev in devices.elements_mut() {
        match dev.name.as_str() {
            "disk" => sort(dev, DISK),
            "interface" => sort(dev, INTERFACE),
            "serial" | "parallel" | "console" | "channel" => sort(dev, CHARDEV),
            _ => {}
        }
    }
}

/// Puts the device information (`<boot>`, `<alias>`, `<address>`) of every device last,
/// in libvirt's order, for the devices whose other children have no known order.
pub fn order_device_info(devices: &mut Element) {
    for dev in devices.elements_mut() {
        if !matches!(
            dev.name.as_str(),
            "disk" | "interface" | "serial" | "parallel" | "console" | "channel"
        ) {
            sort(dev, DEVICE_INFO);
        }
    }
}

/// Puts an element's attributes in the order libvirt writes them.
pub fn order_attrs(e: &mut Element, order: &[&str]) {
    sort_by_rank(&mut e.attrs, |(name, _)| Some(name.as_str()), order);
}

fn sort(parent: &mut Element, order: &[&str]) {
    sort_by_rank(
        &mut parent.children,
        |node| match node {
            Node::Element(e) => Some(e.name.as_str()),
            _ => None,
        },
        order,
    );
}

/// Stable sort by rank in `order`; an item not in `order` takes the rank of the item
/// before it, so that it moves with its predecessor. Items already in order, as in every
/// document libvirt or virshim wrote, are left as they are without copying.
fn sort_by_rank<T>(items: &mut Vec<T>, name: impl Fn(&T) -> Option<&str>, order: &[&str]) {
    let mut ranks = Ranks::new(order);
    let mut last = 0;
    let sorted = items.iter().all(|item| {
        let rank = ranks.next(name(item));
        let in_order = rank >= last;
        last = rank;
        in_order
    });
    if sorted {
        return;
    }
    let mut ranks = Ranks::new(order);
    let mut ranked: Vec<(usize, T)> = items
        .drain(..)
        .map(|item| (ranks.next(name(&item)), item))
        .collect();
    ranked.sort_by_key(|(r, _)| *r);
    items.extend(ranked.into_iter().map(|(_, item)| item));
}

/// The ranks of a sequence of names: one plus the place in `order` of the name, or of the
/// last name before it that has one; 0 before any.
struct Ranks<'a> {
    order: &'a [&'a str],
    rank: usize,
}

impl<'a> Ranks<'a> {
    fn new(order: &'a [&'a str]) -> Self {
        Ranks { order, rank: 0 }
    }

    fn next(&mut self, name: Option<&str>) -> usize {
        if let Some(place) = name.and_then(|n| self.place(n)) {
            self.rank = place + 1;
        }
        self.rank
    }

    /// Where `name` is in the order: looked for from the last place found first, since
    /// names mostly come in order. The names in an order are distinct.
    fn place(&self, name: &str) -> Option<usize> {
        let from = self.rank.saturating_sub(1);
        let (before, after) = self.order.split_at(from);
        after
            .iter()
            .position(|&o| o == name)
            .map(|i| from + i)
            .or_else(|| before.iter().position(|&o| o == name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(e: &Element) -> Vec<String> {
        e.elements().map(|c| c.name.to_string()).collect()
    }

    #[test]
    fn orders_name_each_element_once() {
        for order in [DOMAIN, OS, DEVICES, DISK, INTERFACE, CHARDEV, DEVICE_INFO] {
            for (i, name) in order.iter().enumerate() {
                assert!(!order[..i].contains(name), "{name}");
            }
        }
    }

    #[test]
    fn attributes_take_libvirts_order() {
        let mut model = Element::new("model");
        for (k, v) in [
            ("heads", "2"),
            ("x-unknown", "1"),
            ("vram", "1024"),
            ("type", "qxl"),
        ] {
            model.set_attr(k, v);
        }
        order_attrs(&mut model, &["type", "ram", "vram", "heads"]);
        let names: Vec<_> = model.attrs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["type", "vram", "heads", "x-unknown"]);
    }

    #[test]
    fn unknown_elements_follow_their_predecessor() {
        let mut d = Element::new("domain");
        for n in [
            "x-lead",
            "devices",
            "x-after-devices",
            "os",
            "name",
            "x-after-name",
            "memory",
        ] {
            d.push(Element::new(n));
        }
        order_domain(&mut d);
        assert_eq!(
            names(&d),
            [
                "x-lead",
                "name",
                "x-after-name",
                "memory",
                "os",
                "devices",
                "x-after-devices"
            ]
        );
    }
}
