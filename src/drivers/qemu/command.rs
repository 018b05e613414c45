//! The QEMU command line of a domain: the machine libvirt 9.0's QEMU driver starts for
//! the same definition, argument for argument, so that a migration stream (a save image)
//! passes between a guest virshim runs and one libvirt runs, both ways.
//!
//! [`build`] takes a definition completed by [`super::defaults::parse`] (which also
//! refused whatever this module cannot express) and gives the arguments after the
//! binary ([`emulator`]). They are libvirt's logged command line except where virshim
//! must differ:
//!
//! - the monitor: libvirt passes a listening socket's descriptor (`-chardev
//!   socket,id=charmonitor,fd=N,server=on,wait=off -mon chardev=charmonitor,...`);
//!   virshim's [`super::process::Qemu::start`] appends its own socket path instead;
//! - libvirt's secret for encrypted passwords (`-object secret,id=masterKey0,...`), which
//!   no option here uses;
//! - a serial port written to a file: libvirt opens the file itself and passes it
//!   (`-add-fd set=N,fd=M,...` and `path=/dev/fdset/N,append=on`); virshim lets QEMU
//!   open the path, appending only when `<source append='on'>` says so (libvirt truncates
//!   the file itself otherwise), so the file ends up the same.
//!
//! Everything that makes the machine is identical: `-machine` and its RAM backend
//! `pc.ram`, `-accel`, `-cpu`, `-m`, `-smp`, `-uuid`, `-nodefaults`, `-rtc`, `-boot`,
//! the kernel, every `-device` with libvirt's id, bus and address, `-blockdev` with
//! libvirt's node names (`libvirt-N-storage`, `libvirt-N-format`), `-chardev`, `-audiodev`.

use std::fmt::Write as _;
use std::fs::File;
use std::io::Read;

use serde_json::{json, Value};

use super::defaults::{controller_alias, disk_alias, parse_hex};
use crate::abi::virErrorDomain::VIR_FROM_QEMU;
use crate::abi::virErrorNumber::VIR_ERR_CONFIG_UNSUPPORTED;
use crate::error::{Error, Result};
use crate::xml::{DomainDef, Element};

/// How QEMU is started.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options<'a> {
    /// Wait for a migration stream (`-incoming defer`): a restore.
    pub incoming: bool,
    /// The guest CPU as a save image's cookie records it (`<cpu>` of `<cookie>`), which
    /// libvirt starts a restored guest with instead of the definition's.
    pub cpu: Option<&'a Element>,
}

/// The emulator binary of a completed definition.
pub fn emulator(def: &DomainDef) -> String {
    def.element()
        .child("devices")
        .and_then(|d| d.child("emulator"))
        .map_or_else(
            || super::defaults::EMULATOR.to_owned(),
            |e| e.text().into_owned(),
        )
}

/// The QEMU arguments (after the binary) for a definition completed and checked by
/// [`super::defaults::parse`], without the monitor (see the module).
///
/// Fails on a qcow2 image that has a backing file: libvirt would open its chain, which
/// virshim does not do yet (an image it cannot read is left for QEMU to report).
pub fn build(def: &DomainDef, options: &Options) -> Result<Vec<String>> {
    let domain = def.element();
    let os = domain.child("os").expect("checked by the parse");
    let devices = domain.child("devices").expect("inserted by the parse");
    for disk in devices.children_named("disk") {
        refuse_backing_file(disk)?;
    }
    let mut args = Args::default();

    args.pair(
        "-name",
        format!("guest={},debug-threads=on", commas(def.name())),
    );
    args.one("-S");
    let machine = os
        .child("type")
        .and_then(|t| t.attr("machine"))
        .unwrap_or(super::defaults::MACHINE);
    args.pair(
        "-machine",
        format!("{machine},usb=off,dump-guest-core=off,memory-backend=pc.ram"),
    );
    let accel = if def.virt_type() == "kvm" {
        "kvm"
    } else {
        "tcg"
    };
    args.pair("-accel", accel);
    if let Some(cpu) = options.cpu.or_else(|| domain.child("cpu")) {
        args.pair("-cpu", cpu_model(cpu));
    }
    let mib = def.max_memory_kib().div_ceil(1024);
    args.pair("-m", mib.to_string());
    args.pair(
        "-object",
        Json::obj([
            ("qom-type", Json::str("memory-backend-ram")),
            ("id", Json::str("pc.ram")),
            ("size", Json::Num(mib << 20)),
        ]),
    );
    args.pair("-overcommit", "mem-lock=off");
    args.pair("-smp", smp(def, domain.child("cpu")));
    args.pair("-uuid", def.uuid_string());
    args.pair("-display", "none");
    args.one("-no-user-config");
    args.one("-nodefaults");
    let clock = domain
        .child("clock")
        .and_then(|c| c.attr("offset"))
        .unwrap_or("utc");
    args.pair("-rtc", format!("base={clock}"));
    args.one("-no-shutdown");
    let acpi = domain
        .child("features")
        .is_some_and(|f| f.child("acpi").is_some());
    if !acpi {
        args.one("-no-acpi");
    }
    args.pair("-boot", boot(os));
    for (option, element) in [
        ("-kernel", "kernel"),
        ("-initrd", "initrd"),
        ("-append", "cmdline"),
    ] {
        if let Some(value) = os.child(element) {
            args.pair(option, value.text());
        }
    }

    controllers(&mut args, devices);
    disks(&mut args, devices, os);
    serials(&mut args, devices);
    if devices.child("audio").is_some() {
        args.pair(
            "-audiodev",
            Json::obj([("id", Json::str("audio1")), ("driver", Json::str("none"))]),
        );
    }
    // libvirt places the migration source here, between the audio and the balloon.
    if options.incoming {
        args.pair("-incoming", "defer");
    }
    if let Some(balloon) = devices
        .child("memballoon")
        .filter(|b| b.attr("model") == Some("virtio"))
    {
        args.device(Json::obj([
            ("driver", Json::str("virtio-balloon-pci")),
            ("id", Json::str("balloon0")),
            ("bus", Json::str("pci.0")),
            ("addr", Json::str(pci_addr(balloon))),
        ]));
    }
    args.pair(
        "-sandbox",
        "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
    );
    args.pair("-msg", "timestamp=on");
    Ok(args.0)
}

/// The QMP commands libvirt sends a freshly started QEMU (still paused by `-S`) that
/// concern the guest, in its order: the balloon's target size, and what a guest reboot
/// does when `<on_reboot>` is `destroy` (libvirt 9.0 uses `set-action` for it, not
/// `-no-reboot`).
pub fn startup_commands(def: &DomainDef) -> Vec<(&'static str, Value)> {
    let domain = def.element();
    let mut commands = Vec::new();
    let balloon = domain
        .child("devices")
        .and_then(|d| d.child("memballoon"))
        .is_some_and(|b| b.attr("model") == Some("virtio"));
    if balloon {
        let bytes = def.current_memory_kib() << 10;
        commands.push(("balloon", json!({ "value": bytes })));
    }
    if domain
        .child("on_reboot")
        .is_some_and(|r| r.text() == "destroy")
    {
        commands.push(("set-action", json!({ "reboot": "shutdown" })));
    }
    commands
}

#[derive(Default)]
struct Args(Vec<String>);

impl Args {
    fn one(&mut self, arg: &str) {
        self.0.push(arg.to_owned());
    }

    fn pair(&mut self, option: &str, value: impl ToString) {
        self.0.push(option.to_owned());
        self.0.push(value.to_string());
    }

    fn device(&mut self, json: Json) {
        self.pair("-device", json);
    }
}

/// `-cpu`: the model and each feature on or off, with QEMU's names for libvirt's.
fn cpu_model(cpu: &Element) -> String {
    let mut arg = cpu
        .child("model")
        .map(|m| m.text().into_owned())
        .unwrap_or_else(|| super::defaults::CPU_MODEL.to_owned());
    for feature in cpu.children_named("feature") {
        let name = feature.attr("name").unwrap_or_default();
        let on = match feature.attr("policy") {
            Some("disable" | "forbid") => "off",
            _ => "on",
        };
        let _ = write!(arg, ",{}={on}", qemu_feature(name));
    }
    arg
}

/// QEMU's name of a libvirt x86 CPU feature: dashes for underscores, and one renamed.
fn qemu_feature(name: &str) -> String {
    match name {
        "pclmuldq" => "pclmulqdq".to_owned(),
        _ => name.replace('_', "-"),
    }
}

/// `-smp`: the vCPUs and their topology (all sockets unless `<topology>` says otherwise).
fn smp(def: &DomainDef, cpu: Option<&Element>) -> String {
    let (current, max) = (def.vcpus(), def.max_vcpus());
    let mut arg = current.to_string();
    if current != max {
        let _ = write!(arg, ",maxcpus={max}");
    }
    match cpu.and_then(|c| c.child("topology")) {
        Some(t) => {
            let get = |name| t.attr(name).unwrap_or("1");
            let _ = write!(
                arg,
                ",sockets={},dies={},cores={},threads={}",
                get("sockets"),
                get("dies"),
                get("cores"),
                get("threads")
            );
        }
        None => {
            let _ = write!(arg, ",sockets={max},cores=1,threads=1");
        }
    }
    arg
}

/// `-boot`: the boot menu, and strict boot order (the order itself is in `bootindex`).
fn boot(os: &Element) -> String {
    let mut arg = String::new();
    if let Some(menu) = os.child("bootmenu") {
        match menu.attr("enable") {
            Some("yes") => {
                arg.push_str("menu=on,");
                if let Some(timeout) = menu.attr("timeout") {
                    let _ = write!(arg, "splash-time={timeout},");
                }
            }
            Some(_) => arg.push_str("menu=off,"),
            None => {}
        }
    }
    arg.push_str("strict=on");
    arg
}

/// The controllers that are devices of their own, in libvirt's order of types (the
/// PCI root and the PIIX3's IDE controller are part of the machine).
fn controllers(args: &mut Args, devices: &Element) {
    for kind in ["usb", "sata"] {
        for c in devices
            .children_named("controller")
            .filter(|c| c.attr("type") == Some(kind))
        {
            let driver = match (kind, c.attr("model")) {
                ("usb", Some("piix3-uhci")) => "piix3-usb-uhci",
                ("sata", _) => "ahci",
                _ => continue,
            };
            args.device(Json::obj([
                ("driver", Json::str(driver)),
                ("id", Json::str(controller_alias(c).unwrap_or_default())),
                ("bus", Json::str("pci.0")),
                ("addr", Json::str(pci_addr(c))),
            ]));
        }
    }
}

/// Each disk: its file (or device) and format as block nodes, numbered from the last
/// disk as libvirt numbers them, then the guest device.
fn disks(args: &mut Args, devices: &Element, os: &Element) {
    let disks: Vec<&Element> = devices.children_named("disk").collect();
    let boot_indexes = boot_indexes(&disks, os);
    let mut node = disks.iter().filter(|d| d.child("source").is_some()).count();
    for (disk, bootindex) in disks.iter().zip(boot_indexes) {
        let driver = disk.child("driver");
        let cache = driver.and_then(|d| d.attr("cache")).map(cache_mode);
        let readonly = disk.child("readonly").is_some();
        let drive = disk.child("source").map(|source| {
            let storage = format!("libvirt-{node}-storage");
            let format = format!("libvirt-{node}-format");
            node -= 1;
            let (driver_name, path) = match disk.attr("type") {
                Some("block") => ("host_device", source.attr("dev")),
                _ => ("file", source.attr("file")),
            };
            let mut fields = vec![
                ("driver", Json::str(driver_name)),
                ("filename", Json::str(path.unwrap_or_default())),
                ("node-name", Json::str(&storage)),
            ];
            if let Some(c) = &cache {
                fields.push(("cache", c.json()));
            }
            fields.push(("auto-read-only", Json::Bool(true)));
            fields.push(("discard", Json::str("unmap")));
            args.pair("-blockdev", Json::Obj(fields));

            let image_format = driver.and_then(|d| d.attr("type")).unwrap_or("raw");
            let mut fields = vec![
                ("node-name", Json::str(&format)),
                ("read-only", Json::Bool(readonly)),
            ];
            if let Some(c) = &cache {
                fields.push(("cache", c.json()));
            }
            fields.push(("driver", Json::str(image_format)));
            fields.push(("file", Json::str(&storage)));
            if image_format == "qcow2" {
                fields.push(("backing", Json::Null));
            }
            args.pair("-blockdev", Json::Obj(fields));
            format
        });

        let target = disk.child("target");
        let bus = target.and_then(|t| t.attr("bus")).unwrap_or_default();
        let address = disk.child("address");
        let field = |name| {
            address
                .and_then(|a| a.attr(name))
                .and_then(parse_hex)
                .unwrap_or(0)
        };
        let cdrom = disk.attr("device") == Some("cdrom");
        let mut fields = match bus {
            "virtio" => vec![
                ("driver", Json::str("virtio-blk-pci")),
                ("bus", Json::str("pci.0")),
                ("addr", Json::str(pci_addr(disk))),
            ],
            "ide" => vec![
                ("driver", Json::str(if cdrom { "ide-cd" } else { "ide-hd" })),
                ("bus", Json::str(format!("ide.{}", field("bus")))),
                ("unit", Json::Num(field("unit").into())),
            ],
            _ => vec![
                ("driver", Json::str(if cdrom { "ide-cd" } else { "ide-hd" })),
                (
                    "bus",
                    Json::str(format!("sata{}.{}", field("controller"), field("unit"))),
                ),
            ],
        };
        if let Some(drive) = drive {
            fields.push(("drive", Json::str(drive)));
        }
        fields.push(("id", Json::str(disk_alias(disk))));
        if let Some(index) = bootindex {
            fields.push(("bootindex", Json::Num(index.into())));
        }
        if let Some(c) = &cache {
            let on = if c.write_cache { "on" } else { "off" };
            fields.push(("write-cache", Json::str(on)));
        }
        if let Some(serial) = disk.child("serial") {
            fields.push(("serial", Json::str(serial.text())));
        }
        args.device(Json::Obj(fields));
    }
}

/// Refuses a disk whose qcow2 image names a backing file (header field at byte 8).
fn refuse_backing_file(disk: &Element) -> Result<()> {
    let qcow2 = disk.child("driver").and_then(|d| d.attr("type")) == Some("qcow2");
    let Some(source) = disk.child("source").filter(|_| qcow2) else {
        return Ok(());
    };
    let Some(path) = source.attr("file").or_else(|| source.attr("dev")) else {
        return Ok(());
    };
    let mut header = [0u8; 16];
    let read = File::open(path).and_then(|mut f| f.read_exact(&mut header));
    if read.is_ok() && &header[..4] == b"QFI\xfb" && header[8..16] != [0; 8] {
        return Err(Error::new(
            VIR_ERR_CONFIG_UNSUPPORTED,
            VIR_FROM_QEMU,
            format!(
                "virshim's QEMU driver cannot run the qcow2 image '{path}' with a backing \
                 file"
            ),
        ));
    }
    Ok(())
}

/// Each disk's `bootindex`: its `<boot order>`, or else its place in `<os>`'s boot list
/// (the first disk for `hd`, the first CD-ROM for `cdrom`), as libvirt turns that list
/// into boot indexes.
fn boot_indexes(disks: &[&Element], os: &Element) -> Vec<Option<u32>> {
    let mut indexes: Vec<Option<u32>> = disks
        .iter()
        .map(|d| {
            d.child("boot")
                .and_then(|b| b.attr("order"))
                .and_then(|o| o.parse().ok())
        })
        .collect();
    if indexes.iter().any(Option::is_some) {
        return indexes;
    }
    for (i, boot) in os.children_named("boot").enumerate() {
        let device = match boot.attr("dev") {
            Some("hd") => "disk",
            Some("cdrom") => "cdrom",
            _ => continue,
        };
        let first = disks
            .iter()
            .position(|d| d.attr("device").unwrap_or("disk") == device);
        if let Some(at) = first {
            if indexes[at].is_none() {
                indexes[at] = Some(i as u32 + 1);
            }
        }
    }
    indexes
}

/// What a disk's `cache` mode asks of QEMU.
struct Cache {
    direct: bool,
    no_flush: bool,
    write_cache: bool,
}

fn cache_mode(mode: &str) -> Cache {
    let (direct, no_flush, write_cache) = match mode {
        "none" => (true, false, true),
        "writethrough" => (false, false, false),
        "directsync" => (true, false, false),
        "unsafe" => (false, true, true),
        _ => (false, false, true),
    };
    Cache {
        direct,
        no_flush,
        write_cache,
    }
}

impl Cache {
    fn json(&self) -> Json {
        Json::obj([
            ("direct", Json::Bool(self.direct)),
            ("no-flush", Json::Bool(self.no_flush)),
        ])
    }
}

/// Serial ports: a character device and an ISA serial port each.
fn serials(args: &mut Args, devices: &Element) {
    for (i, serial) in devices.children_named("serial").enumerate() {
        let alias = format!("serial{i}");
        let chardev = format!("char{alias}");
        let backend = match serial.attr("type") {
            Some("file") => {
                let source = serial.child("source");
                let path = source.and_then(|s| s.attr("path")).unwrap_or_default();
                let mut backend = format!("file,id={chardev},path={}", commas(path));
                if source.and_then(|s| s.attr("append")) == Some("on") {
                    backend.push_str(",append=on");
                }
                backend
            }
            Some("null") => format!("null,id={chardev}"),
            _ => format!("pty,id={chardev}"),
        };
        args.pair("-chardev", backend);
        let port = serial
            .child("target")
            .and_then(|t| t.attr("port"))
            .and_then(|p| p.parse::<u64>().ok())
            .unwrap_or(0);
        args.device(Json::obj([
            ("driver", Json::str("isa-serial")),
            ("chardev", Json::str(chardev)),
            ("id", Json::str(alias)),
            ("index", Json::Num(port)),
        ]));
    }
}

/// A PCI address on bus 0 as QEMU's `addr`: `0x2`, or `0x1.0x2` with a function.
fn pci_addr(dev: &Element) -> String {
    let address = dev.child("address");
    let field = |name| {
        address
            .and_then(|a| a.attr(name))
            .and_then(parse_hex)
            .unwrap_or(0)
    };
    match field("function") {
        0 => format!("{:#x}", field("slot")),
        f => format!("{:#x}.{f:#x}", field("slot")),
    }
}

/// A value within QEMU's comma-separated options: commas doubled.
fn commas(s: &str) -> String {
    s.replace(',', ",,")
}

/// JSON as libvirt writes it for QEMU: compact, members in libvirt's order.
enum Json {
    Str(String),
    Num(u64),
    Bool(bool),
    Null,
    Obj(Vec<(&'static str, Json)>),
}

impl Json {
    fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into())
    }

    fn obj<const N: usize>(fields: [(&'static str, Json); N]) -> Json {
        Json::Obj(fields.into())
    }
}

impl std::fmt::Display for Json {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Json::Str(s) => write!(f, "{}", Value::from(s.as_str())),
            Json::Num(n) => write!(f, "{n}"),
            Json::Bool(b) => write!(f, "{b}"),
            Json::Null => f.write_str("null"),
            Json::Obj(fields) => {
                f.write_str("{")?;
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{}:{v}", Value::from(*k))?;
                }
                f.write_str("}")
            }
        }
    }
}
