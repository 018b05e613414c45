//! The QEMU driver's definitions and command lines against libvirt 9.0's own QEMU driver.
//!
//! Every case of `testdata/` holds an input and what libvirt 9.0 made of it (recorded by
//! `testdata/record.py`): the inactive XML after define, the running domain's XML, its
//! QEMU command line, the XML and cookie of its save image, the command line of the
//! restore and the restored domain's XML. virshim must give the same XML byte for byte,
//! and the same command line but for the parts listed in [`libvirt_argv`].

use std::fs;
use std::path::PathBuf;

use super::command::{self, Options};
use super::defaults::{self, Host, Runtime};
use crate::abi::virErrorDomain::*;
use crate::abi::virErrorNumber::*;
use crate::xml::{parse_tree, DomainDef, Element, FormatFlags};

const CASES: &[&str] = &[
    "minimal",
    "virtio-raw",
    "ide-qcow2",
    "serial-console",
    "smp-balloon",
    "lifecycle-boot",
    "sata-block",
    "host-resource",
    "host-seclabels",
];

/// A host like CI's: no KVM; the emulator is not looked for (tests need no QEMU).
const HOST: Host = Host {
    kvm: false,
    check_emulator: false,
};

fn testdata(case: &str, file: &str) -> String {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "src/drivers/qemu/testdata",
        case,
        file,
    ]
    .iter()
    .collect();
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn tree(xml: &str) -> Element {
    parse_tree(xml, "(test)", VIR_FROM_XML).unwrap()
}

fn parse(xml: &str) -> DomainDef {
    defaults::parse(xml, &HOST).unwrap_or_else(|e| panic!("{e}\n{xml}"))
}

fn xml(def: &DomainDef, id: Option<i32>) -> String {
    let flags = FormatFlags {
        secure: true,
        inactive: id.is_none(),
        ..FormatFlags::default()
    };
    def.to_xml(id, flags)
}

/// What the running guest of a recorded XML learnt from QEMU: its id, ptys and balloon.
fn runtime_of(live_xml: &str) -> (i32, Runtime) {
    let tree = tree(live_xml);
    let id = tree.attr("id").unwrap().parse().unwrap();
    let devices = tree.child("devices").unwrap();
    let ptys = devices
        .children_named("serial")
        .filter(|s| s.attr("type") == Some("pty"))
        .map(|s| {
            let alias = s.child("alias").unwrap().attr("name").unwrap();
            let path = s.child("source").unwrap().attr("path").unwrap();
            (alias.to_owned(), path.to_owned())
        })
        .collect();
    let balloon = tree.child("currentMemory").unwrap().text().parse().unwrap();
    (id, Runtime::tcg(ptys, Some(balloon)))
}

/// libvirt's logged command line without what virshim does differently, on purpose:
///
/// 1. the binary (compared on its own, with [`command::emulator`]);
/// 2. `-object {"qom-type":"secret","id":"masterKey0",...}`: libvirt's secret, unused;
/// 3. `-chardev socket,id=charmonitor,fd=N,...` and `-mon chardev=charmonitor,...`: the
///    monitor, passed as a descriptor by libvirt, a socket path that
///    `process::Qemu::start` appends for virshim;
/// 4. `-add-fd set=N,fd=M,opaque=serialK-source` and `path=/dev/fdset/N,append=on` for a
///    serial port written to a file, which libvirt opens and passes: virshim gives QEMU
///    the path instead (`path=PATH`, with `append=on` only if the XML asks to append).
fn libvirt_argv(args: &str, def: &DomainDef) -> Vec<String> {
    let args: Vec<&str> = args.lines().collect();
    assert_eq!(args[0], command::emulator(def));
    let serial_paths: Vec<(String, bool)> = def
        .element()
        .child("devices")
        .unwrap()
        .children_named("serial")
        .map(|s| {
            let source = s.child("source");
            let path = source.and_then(|s| s.attr("path")).unwrap_or_default();
            let append = source.and_then(|s| s.attr("append")) == Some("on");
            (path.to_owned(), append)
        })
        .collect();
    let mut fdsets: Vec<(String, usize)> = Vec::new();
    let mut out = Vec::new();
    let mut i = 1;
    while i < args.len() {
        let (option, value) = (args[i], args.get(i + 1).copied().unwrap_or_default());
        let dropped = match option {
            "-object" => value.contains(r#""qom-type":"secret","id":"masterKey0""#),
            "-chardev" => value.starts_with("socket,id=charmonitor,"),
            "-mon" => value.starts_with("chardev=charmonitor,"),
            "-add-fd" => {
                let set = value.split(',').next().unwrap().trim_start_matches("set=");
                let serial = value.split("opaque=serial").nth(1).unwrap();
                let serial = serial.trim_end_matches("-source").parse().unwrap();
                fdsets.push((format!("/dev/fdset/{set}"), serial));
                true
            }
            _ => false,
        };
        if dropped {
            i += 2;
            continue;
        }
        let mut value = value.to_owned();
        if option == "-chardev" {
            for (fdset, serial) in &fdsets {
                let (path, append) = &serial_paths[*serial];
                let given = format!("path={fdset},append=on");
                let ours = format!("path={path}{}", if *append { ",append=on" } else { "" });
                value = value.replace(&given, &ours);
            }
        }
        out.push(option.to_owned());
        if !option.starts_with('-') || i + 1 >= args.len() || args[i + 1].starts_with('-') {
            i += 1;
            continue;
        }
        out.push(value);
        i += 2;
    }
    out
}

#[test]
fn define_gives_libvirts_inactive_xml() {
    for case in CASES {
        let want = testdata(case, "inactive.xml");
        let def = parse(&testdata(case, "input.xml"));
        assert_eq!(xml(&def, None), want, "{case}");
        // What libvirt (or virshim) wrote parses to itself.
        assert_eq!(xml(&parse(&want), None), want, "{case}: again");
    }
}

#[test]
fn running_domain_gives_libvirts_live_xml() {
    for case in CASES {
        let want = testdata(case, "live.xml");
        let (id, runtime) = runtime_of(&want);
        let def = parse(&testdata(case, "input.xml"));
        assert_eq!(
            xml(&defaults::live(&def, &runtime), Some(id)),
            want,
            "{case}"
        );
        // What libvirt writes into a save image of it.
        let image = defaults::migratable_xml(&def, &defaults::live(&def, &runtime)).unwrap();
        assert_eq!(image, testdata(case, "image.xml"), "{case}: image");
        let cookie = defaults::cookie_xml(&defaults::live(&def, &runtime));
        assert_eq!(cookie, testdata(case, "cookie.xml"), "{case}: cookie");
        // A running domain's XML read back is its definition, running again the same.
        let again = parse(&want);
        assert_eq!(
            xml(&defaults::live(&again, &runtime), Some(id)),
            want,
            "{case}"
        );
    }
}

#[test]
fn start_runs_libvirts_machine() {
    for case in CASES {
        let def = parse(&testdata(case, "input.xml"));
        let want = libvirt_argv(&testdata(case, "start.args"), &def);
        let ours = command::build(&def, &Options::default()).unwrap();
        assert_eq!(ours, want, "{case}");
    }
}

#[test]
fn save_images_of_libvirt_restore_into_libvirts_machine() {
    for case in CASES {
        // The XML in libvirt's image (its migratable form, without the devices any
        // definition gets) completes to what libvirt reads from it.
        let saved = testdata(case, "saved.xml");
        let def = parse(&testdata(case, "image.xml"));
        assert_eq!(xml(&def, None), saved, "{case}");
        assert_eq!(xml(&parse(&saved), None), saved, "{case}");

        let cookie = tree(&testdata(case, "cookie.xml"));
        let options = Options {
            incoming: true,
            cpu: cookie.child("cpu"),
        };
        let want = libvirt_argv(&testdata(case, "restore.args"), &def);
        assert_eq!(command::build(&def, &options).unwrap(), want, "{case}");

        let restored = testdata(case, "restored.xml");
        let (id, runtime) = runtime_of(&restored);
        assert_eq!(
            xml(&defaults::live(&def, &runtime), Some(id)),
            restored,
            "{case}"
        );
    }
}

#[test]
fn startup_commands_are_libvirts() {
    let def = parse(&testdata("lifecycle-boot", "input.xml"));
    let commands = command::startup_commands(&def);
    let text: Vec<String> = commands.iter().map(|(c, a)| format!("{c} {a}")).collect();
    assert_eq!(
        text,
        [
            r#"balloon {"value":33554432}"#,
            r#"set-action {"reboot":"shutdown"}"#
        ]
    );
    let def = parse(&testdata("smp-balloon", "input.xml"));
    let commands = command::startup_commands(&def);
    assert_eq!(commands.len(), 1);
    assert_eq!(commands[0].1["value"], 48 << 20);
}

/// A domain around `body`, with what every definition needs.
fn domain(body: &str) -> String {
    format!(
        "<domain type='qemu'><name>t</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\
         <memory>32768</memory><os><type>hvm</type><kernel>/k</kernel></os>{body}</domain>"
    )
}

fn refused(xml: &str) -> crate::Error {
    match defaults::parse(xml, &HOST) {
        Ok(def) => panic!("accepted:\n{}", self::xml(&def, None)),
        Err(e) => e,
    }
}

#[test]
fn what_virshim_cannot_run_is_refused_by_name() {
    for (body, named) in [
        ("<devices><graphics type='vnc'/></devices>", "<graphics> in <devices>"),
        ("<devices><interface type='user'/></devices>", "<interface> in <devices>"),
        (
            "<devices><hostdev mode='subsystem' type='pci'/></devices>",
            "<hostdev> in <devices>",
        ),
        ("<devices><video/></devices>", "<video> in <devices>"),
        (
            "<devices><disk type='network'><source protocol='nbd'/><target dev='vda'/></disk></devices>",
            "<disk type='network'> in <devices>",
        ),
        (
            "<devices><disk><driver name='qemu' type='vmdk'/><source file='/d'/><target dev='vda'/></disk></devices>",
            "<driver type='vmdk'> in <disk>",
        ),
        (
            "<devices><disk><driver name='qemu' io='native'/><source file='/d'/><target dev='vda'/></disk></devices>",
            "attribute 'io' of <driver> in <disk>",
        ),
        (
            "<devices><disk><source file='/d'/><target dev='sda' bus='scsi'/></disk></devices>",
            "<target bus='scsi'> in <disk>",
        ),
        (
            "<devices><serial type='tcp'><source mode='bind' host='::' service='4444'/></serial></devices>",
            "<serial type='tcp'> in <devices>",
        ),
        ("<devices><input type='tablet' bus='usb'/></devices>", "<input type='tablet'> in <devices>"),
        ("<memoryBacking><hugepages/></memoryBacking>", "<memoryBacking> in <domain>"),
        ("<features><hyperv/></features>", "<hyperv> in <features>"),
        ("<clock offset='utc'><timer name='rtc'/></clock>", "<timer> in <clock>"),
        ("<cpu mode='host-passthrough'/>", "<cpu mode='host-passthrough'> in <domain>"),
        ("<cpu><model>Haswell</model></cpu>", "<model>Haswell</model> in <cpu> (only qemu64)"),
        ("<on_crash>coredump-destroy</on_crash>", "<on_crash>coredump-destroy</on_crash>"),
        (
            "<devices><disk><source file='disk.img'/><target dev='vda'/></disk></devices>",
            "the relative path 'disk.img' of <source>",
        ),
        (
            "<devices><serial type='file'><source path='../x.log'/></serial></devices>",
            "the relative path '../x.log' of <source>",
        ),
        (
            "<devices><controller type='usb' model='qemu-xhci'/></devices>",
            "<controller model='qemu-xhci'> in <devices>",
        ),
        (
            "<devices><disk><source file='/d'/><target dev='vda'/><address type='pci' domain='0x0000' bus='0x01' slot='0x05' function='0x0'/></disk></devices>",
            "<address type='pci' domain='0x0000' bus='0x01' slot='0x05' function='0x0'> in <disk>",
        ),
        (
            "<devices><console type='pty'><target type='virtio'/></console></devices>",
            "<target type='virtio'> in <console>",
        ),
        ("<qemu:commandline xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'/>", "<qemu:commandline> in <domain>"),
    ] {
        let err = refused(&domain(body));
        assert_eq!(
            (err.code, err.domain),
            (VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_QEMU),
            "{body}: {err}"
        );
        assert_eq!(
            err.message,
            format!("unsupported configuration: virshim's QEMU driver cannot run {named}"),
            "{body}"
        );
    }
    let err = refused(&domain("").replace("<type>hvm", "<type machine='q35'>hvm"));
    assert!(
        err.message.contains("<type machine='q35'> in <os>"),
        "{err}"
    );
    let err = refused(&domain("").replace("<name>t<", "<name>..<"));
    assert!(err.message.ends_with("the domain name '..'"), "{err}");
}

/// libvirt's own refusals, in libvirt's words (observed on libvirt 9.0).
#[test]
fn libvirts_refusals_are_libvirts() {
    for (xml, code, domain_, message) in [
        (
            domain("<devices><disk><source file='/d'/><target dev='hda'/><readonly/></disk></devices>"),
            VIR_ERR_CONFIG_UNSUPPORTED,
            VIR_FROM_QEMU,
            "unsupported configuration: readonly ide disks are not supported",
        ),
        (
            domain("<devices><disk><source file='/d'/><target dev='sda' bus='sata'/><readonly/></disk></devices>"),
            VIR_ERR_CONFIG_UNSUPPORTED,
            VIR_FROM_QEMU,
            "unsupported configuration: readonly sata disks are not supported",
        ),
        (
            domain("<vcpu>3</vcpu><cpu><topology sockets='1' dies='1' cores='2' threads='1'/></cpu>"),
            VIR_ERR_CONFIG_UNSUPPORTED,
            VIR_FROM_QEMU,
            "unsupported configuration: CPU topology doesn't match maximum vcpu count",
        ),
        (
            domain("").replace("type='qemu'", "type='kvm'"),
            VIR_ERR_INVALID_ARG,
            VIR_FROM_QEMU,
            "invalid argument: could not get preferred machine for /usr/bin/qemu-system-x86_64 type=kvm",
        ),
        (
            domain("")
                .replace("type='qemu'", "type='kvm'")
                .replace("<type>", "<type machine='pc'>"),
            VIR_ERR_CONFIG_UNSUPPORTED,
            VIR_FROM_QEMU,
            "unsupported configuration: Emulator '/usr/bin/qemu-system-x86_64' does not support virt type 'kvm'",
        ),
    ] {
        let err = refused(&xml);
        assert_eq!((err.code, err.domain, err.message.as_str()), (code, domain_, message));
    }

    // The emulator must exist, as libvirt probes it on define.
    let host = Host {
        kvm: false,
        check_emulator: true,
    };
    let xml = domain("<devices><emulator>/nonexistent/qemu</emulator></devices>");
    let err = defaults::parse(&xml, &host).unwrap_err();
    assert_eq!(
        (err.code, err.domain, err.message.as_str()),
        (
            VIR_ERR_SYSTEM_ERROR,
            VIR_FROM_QEMU,
            "Cannot check QEMU binary /nonexistent/qemu: No such file or directory"
        )
    );
}

/// KVM, where the host has it: the same machine with `-accel kvm`.
#[test]
fn kvm_guests_run_on_kvm() {
    let host = Host {
        kvm: true,
        check_emulator: false,
    };
    let def = defaults::parse(&domain("").replace("type='qemu'", "type='kvm'"), &host).unwrap();
    let args = command::build(&def, &Options::default()).unwrap();
    let at = args.iter().position(|a| a == "-accel").unwrap();
    assert_eq!(args[at + 1], "kvm");
    assert!(xml(&def, None).starts_with("<domain type='kvm'>"));
}

/// Facts observed on libvirt 9.0 beyond the recorded cases.
#[test]
fn more_of_libvirts_completions() {
    // An empty CD-ROM has a device and no block nodes; a second AHCI controller.
    let def = parse(&domain(
        "<devices><disk device='cdrom'><target dev='hdc'/></disk>\
         <disk><source file='/a'/><target dev='sdg' bus='sata'/></disk></devices>",
    ));
    let args = command::build(&def, &Options::default()).unwrap();
    assert!(
        args.contains(&r#"{"driver":"ide-cd","bus":"ide.1","unit":0,"id":"ide0-1-0"}"#.to_owned())
    );
    assert!(
        args.contains(&r#"{"driver":"ahci","id":"sata1","bus":"pci.0","addr":"0x3"}"#.to_owned())
    );
    assert!(args.contains(&r#"{"driver":"ide-hd","bus":"sata1.0","drive":"libvirt-1-format","id":"sata1-0-0","bootindex":1}"#.to_owned()));

    // Boot devices become boot indexes after their place in the list; slots given in
    // the XML are kept free.
    let def = parse(&domain(
        "<devices><disk><source file='/b'/><target dev='vdb'/>\
         <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/></disk>\
         <disk><source file='/a'/><target dev='vda'/></disk><controller type='sata'/>\
         <memballoon model='virtio'><address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/></memballoon>\
         </devices>",
    )
    .replace("<kernel>/k</kernel>", "<boot dev='network'/><boot dev='fd'/><boot dev='hd'/>"));
    let args = command::build(&def, &Options::default()).unwrap();
    assert!(args.contains(&r#"{"driver":"virtio-blk-pci","bus":"pci.0","addr":"0x5","drive":"libvirt-2-format","id":"virtio-disk0","bootindex":3}"#.to_owned()));
    assert!(
        args.contains(&r#"{"driver":"ahci","id":"sata0","bus":"pci.0","addr":"0x3"}"#.to_owned())
    );

    // Cache modes; a user's CPU keeps its fallback, gains libvirt's attributes.
    let def = parse(&domain(
        "<cpu match='exact'><model>qemu64</model><feature name='x2apic'/>\
         <feature policy='disable' name='svm'/></cpu><devices>\
         <disk><driver name='qemu' type='raw' cache='writethrough'/><source file='/a'/><target dev='vda'/></disk>\
         <disk><driver name='qemu' type='raw' cache='directsync'/><source file='/b'/><target dev='vdb'/></disk>\
         <disk><driver name='qemu' type='qcow2' cache='unsafe'/><source file='/c'/><target dev='vdc'/></disk>\
         </devices>",
    ));
    assert!(xml(&def, None).contains(
        "  <cpu mode='custom' match='exact' check='none'>\n    <model fallback='allow'>qemu64</model>\n    \
         <feature policy='require' name='x2apic'/>\n    <feature policy='disable' name='svm'/>\n  </cpu>\n"
    ));
    let args = command::build(&def, &Options::default()).unwrap();
    for want in [
        "qemu64,x2apic=on,svm=off",
        r#"{"driver":"file","filename":"/a","node-name":"libvirt-3-storage","cache":{"direct":false,"no-flush":false},"auto-read-only":true,"discard":"unmap"}"#,
        r#"{"driver":"virtio-blk-pci","bus":"pci.0","addr":"0x2","drive":"libvirt-3-format","id":"virtio-disk0","bootindex":1,"write-cache":"off"}"#,
        r#"{"node-name":"libvirt-2-format","read-only":false,"cache":{"direct":true,"no-flush":false},"driver":"raw","file":"libvirt-2-storage"}"#,
        r#"{"driver":"virtio-blk-pci","bus":"pci.0","addr":"0x3","drive":"libvirt-2-format","id":"virtio-disk1","write-cache":"off"}"#,
        r#"{"node-name":"libvirt-1-format","read-only":false,"cache":{"direct":false,"no-flush":true},"driver":"qcow2","file":"libvirt-1-storage","backing":null}"#,
        r#"{"driver":"virtio-blk-pci","bus":"pci.0","addr":"0x4","drive":"libvirt-1-format","id":"virtio-disk2","write-cache":"on"}"#,
    ] {
        assert!(args.iter().any(|a| a == want), "{want} not in {args:#?}");
    }

    // Memory rounds up to whole MiB when the guest runs; a topology with dies; a boot
    // menu turned off; a keyboard given before the mouse libvirt adds.
    let def = parse(&domain(
        "<vcpu current='1'>2</vcpu><cpu><topology sockets='1' dies='1' cores='2' threads='1'/></cpu>\
         <devices><input type='keyboard' bus='ps2'/></devices>",
    )
    .replace("<memory>32768</memory>", "<memory>33000</memory>")
    .replace("<kernel>/k</kernel>", "<kernel>/k</kernel><bootmenu enable='no'/>"));
    let args = command::build(&def, &Options::default()).unwrap();
    let arg = |option: &str| {
        let at = args.iter().position(|a| a == option).unwrap();
        args[at + 1].clone()
    };
    assert_eq!(arg("-m"), "33");
    assert_eq!(
        arg("-object"),
        r#"{"qom-type":"memory-backend-ram","id":"pc.ram","size":34603008}"#
    );
    assert_eq!(
        arg("-smp"),
        "1,maxcpus=2,sockets=1,dies=1,cores=2,threads=1"
    );
    assert_eq!(arg("-boot"), "menu=off,strict=on");
    let live = defaults::live(&def, &Runtime::tcg(Vec::new(), None));
    assert_eq!(
        (live.max_memory_kib(), live.current_memory_kib()),
        (33792, 33792)
    );
    let inactive = xml(&def, None);
    let keyboard = inactive.find("<input type='keyboard' bus='ps2'/>").unwrap();
    let mouse = inactive.find("<input type='mouse' bus='ps2'/>").unwrap();
    assert!(keyboard < mouse);

    // A file serial port QEMU appends to.
    let def = parse(&domain(
        "<devices><serial type='file'><source path='/tmp/a,b.log' append='on'/></serial></devices>",
    ));
    let args = command::build(&def, &Options::default()).unwrap();
    assert!(args.contains(&"file,id=charserial0,path=/tmp/a,,b.log,append=on".to_owned()));
    assert!(xml(&def, None)
        .contains("<console type='file'>\n      <source path='/tmp/a,b.log' append='on'/>"));
}

/// A qcow2 image with a backing file is refused when QEMU would start: virshim does not
/// open backing chains yet.
#[test]
fn qcow2_backing_files_are_refused() {
    let dir = std::env::temp_dir().join(format!("virshim-backing-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let image = dir.join("overlay.qcow2");
    // A qcow2 header: magic, version 3, backing file offset 0x1000.
    let mut header = b"QFI\xfb\0\0\0\x03".to_vec();
    header.extend_from_slice(&0x1000u64.to_be_bytes());
    fs::write(&image, &header).unwrap();
    let xml = domain(&format!(
        "<devices><disk><driver name='qemu' type='qcow2'/><source file='{}'/><target dev='vda'/></disk></devices>",
        image.display()
    ));
    let def = parse(&xml);
    let err = command::build(&def, &Options::default()).unwrap_err();
    assert_eq!(
        (err.code, err.domain),
        (VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_QEMU)
    );
    assert!(err.message.contains("with a backing file"), "{err}");
    // Without one it runs.
    header[8..16].fill(0);
    fs::write(&image, &header).unwrap();
    command::build(&def, &Options::default()).unwrap();
    fs::remove_dir_all(&dir).unwrap();
}

/// Elements the completion adds are placed where libvirt writes them, with no
/// disturbance of what the test driver does.
#[test]
fn test_driver_parse_is_unchanged() {
    let xml = "<domain type='test'><name>a</name><memory>1024</memory><os><type>hvm</type></os>\
               <devices><memballoon model='virtio'><address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/><alias name='ua-x'/></memballoon></devices></domain>";
    let def = DomainDef::parse(xml, &["test"]).unwrap();
    let out = def.to_xml(None, FormatFlags::default());
    // The test driver keeps the order it was given.
    assert!(out.contains("<address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>\n      <alias name='ua-x'/>"));
    let tree: Element = tree(&out);
    assert_eq!(tree.attr("type"), Some("test"));
}

/// The XML of a save image is read to be shown or edited whatever the driver can run:
/// a real host's additions (cgroup partition, DAC label) and what virshim would refuse to
/// start (here a q35 machine with its own controllers) come back as written.
#[test]
fn image_xml_is_read_whatever_runs() {
    let host_side = "  <resource>\n    <partition>/machine</partition>\n  </resource>\n";
    let label = "  <seclabel type='dynamic' model='dac' relabel='yes'/>\n";
    for case in CASES {
        let image = testdata(case, "image.xml")
            .replacen("  <os>", &format!("{host_side}  <os>"), 1)
            .replacen("</devices>\n", &format!("</devices>\n{label}"), 1);
        let saved = testdata(case, "saved.xml")
            .replacen("  <os>", &format!("{host_side}  <os>"), 1)
            .replacen("</devices>\n", &format!("</devices>\n{label}"), 1);
        let def = defaults::parse_image_xml(&image, &HOST).unwrap();
        assert_eq!(xml(&def, None), saved, "{case}");
    }
    let q35 = testdata("minimal", "image.xml").replace("pc-i440fx-7.2", "pc-q35-7.2").replace(
        "<input type='mouse' bus='ps2'/>",
        "<controller type='usb' index='0' model='qemu-xhci'/>\n    <input type='mouse' bus='ps2'/>",
    );
    let err = defaults::parse(&q35, &HOST).unwrap_err();
    assert_eq!(err.code, VIR_ERR_CONFIG_UNSUPPORTED);
    let def = defaults::parse_image_xml(&q35, &HOST).unwrap();
    assert_eq!(xml(&def, None), q35);
}
