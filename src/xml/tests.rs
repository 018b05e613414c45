//! The domain XML model against libvirt 9.0: every expected string below is what
//! `virsh -c test:///default` (or the Python binding's `defineXML`) printed for the same
//! input, unless a comment says the difference is deliberate.

use super::{check_abi_stability, DomainDef, FormatFlags};
use crate::abi::virErrorDomain::{self, *};
use crate::abi::virErrorNumber::{self, *};

const TEST: &[&str] = &["test"];
const QEMU: &[&str] = &["qemu", "kvm"];
const UUID: &str = "c7a5fdbd-cdaf-9455-926a-d65c16db1809";

fn secure() -> FormatFlags {
    FormatFlags {
        secure: true,
        ..FormatFlags::default()
    }
}

fn parse(xml: &str) -> DomainDef {
    DomainDef::parse(xml, TEST).unwrap_or_else(|e| panic!("{}: {xml}", e.message))
}

/// A test-driver domain named "a" with a fixed UUID around `body`.
fn domain(body: &str) -> String {
    format!("<domain type='test'><name>a</name><uuid>{UUID}</uuid>{body}</domain>")
}

#[test]
fn minimal_domain_gets_libvirts_defaults() {
    let def = parse(&domain("<memory>1024</memory><os><type>hvm</type></os>"));
    let want = format!(
        "<domain type='test'>
  <name>a</name>
  <uuid>{UUID}</uuid>
  <memory unit='KiB'>1024</memory>
  <currentMemory unit='KiB'>1024</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='i686'>hvm</type>
    <boot dev='hd'/>
  </os>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
  </devices>
</domain>
"
    );
    assert_eq!(def.to_xml(None, secure()), want);
    assert_eq!(
        (def.name(), def.virt_type(), def.uuid_string().as_str()),
        ("a", "test", UUID)
    );
    assert_eq!(
        (
            def.max_memory_kib(),
            def.current_memory_kib(),
            def.vcpus(),
            def.max_vcpus()
        ),
        (1024, 1024, 1, 1)
    );
}

#[test]
fn missing_uuid_is_generated() {
    let xml =
        "<domain type='test'><name>a</name><memory>1</memory><os><type>hvm</type></os></domain>";
    let (a, b) = (parse(xml), parse(xml));
    assert_ne!(a.uuid(), b.uuid());
    assert_eq!(uuid::Uuid::from_bytes(a.uuid()).get_version_num(), 4);
    assert!(a
        .to_xml(None, secure())
        .contains(&format!("<uuid>{}</uuid>", a.uuid_string())));
}

#[test]
fn the_test_drivers_default_domain_round_trips_exactly() {
    let xml = include_str!("testdata/test-default.xml");
    let def = parse(xml);
    assert_eq!(def.to_xml(Some(1), secure()), xml);
    let inactive = def.to_xml(
        Some(1),
        FormatFlags {
            inactive: true,
            ..secure()
        },
    );
    assert_eq!(inactive, xml.replacen(" id='1'", "", 1));
    assert_eq!(
        (def.max_memory_kib(), def.current_memory_kib(), def.vcpus()),
        (8388608, 2097152, 2)
    );
}

#[test]
fn a_rich_domain_is_normalized_like_libvirt() {
    let mut def = parse(include_str!("testdata/rich-in.xml"));
    def.name_interfaces("testnet");
    assert_eq!(
        def.to_xml(None, FormatFlags::default()),
        include_str!("testdata/rich-out.xml")
    );
    let with_secrets = def.to_xml(None, secure());
    assert!(with_secrets
        .contains("<graphics type='vnc' port='-1' autoport='yes' passwd='secret&apos;&quot;x'>"));
    assert_eq!(
        (
            def.max_memory_kib(),
            def.current_memory_kib(),
            def.vcpus(),
            def.max_vcpus()
        ),
        (524288, 262144, 1, 4)
    );
}

#[test]
fn devices_get_libvirts_order_defaults_and_addresses() {
    let mut def = parse(include_str!("testdata/devices-in.xml"));
    def.name_interfaces("testnet");
    assert_eq!(
        def.to_xml(None, secure()),
        include_str!("testdata/devices-out.xml")
    );
}

#[test]
fn known_elements_take_libvirts_order() {
    let def = parse(include_str!("testdata/scrambled-in.xml"));
    assert_eq!(
        def.to_xml(None, secure()),
        include_str!("testdata/scrambled-out.xml")
    );
}

#[test]
fn a_qemu_save_image_definition_comes_back_unchanged() {
    let xml = include_str!("testdata/qemu-image.xml");
    let def = DomainDef::parse(xml, QEMU).unwrap();
    assert_eq!(def.to_xml(None, secure()), xml);
    let hidden = def.to_xml(None, FormatFlags::default());
    assert_eq!(hidden, xml.replace(" passwd='sekrit'", ""));
}

// Deliberate: libvirt drops what it does not know; this model keeps it in place.
#[test]
fn what_libvirt_does_not_know_is_kept() {
    let xml = domain(
        "<memory unit='MiB'>64</memory><os><type>hvm</type></os><!-- note -->\
         <x:y xmlns:x='urn:x' k='v'>text &amp; more</x:y>\
         <devices><disk><source file='/s'/><target dev='vda'/><unknown a='1'/></disk><gizmo/></devices>",
    )
    .replace("type='test'>", "type='test' id='5' foo='bar'>");
    let out = parse(&xml).to_xml(None, secure());
    let want = format!(
        "<domain type='test' foo='bar'>
  <name>a</name>
  <uuid>{UUID}</uuid>
  <memory unit='KiB'>65536</memory>
  <currentMemory unit='KiB'>65536</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='i686'>hvm</type>
    <boot dev='hd'/>
  </os>
  <!-- note -->
  <x:y xmlns:x='urn:x' k='v'>text &amp; more</x:y>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <source file='/s'/>
      <target dev='vda' bus='virtio'/>
      <unknown a='1'/>
    </disk>
    <gizmo/>
  </devices>
</domain>
"
    );
    assert_eq!(out, want);
    assert_eq!(parse(&out).to_xml(None, secure()), want);
}

#[test]
fn ids_and_secrets_follow_the_flags() {
    let def = parse(&domain(
        "<memory>1024</memory><currentMemory>512</currentMemory><vcpu current='1'>2</vcpu>\
         <os><type>hvm</type></os><devices><graphics type='vnc' passwd='pw'/></devices>",
    ));
    let live = def.to_xml(Some(3), FormatFlags::default());
    assert!(live.starts_with("<domain type='test' id='3'>\n"));
    assert!(live.contains("  <vcpu placement='static' current='1'>2</vcpu>\n"));
    assert!(live.contains(
        "    <graphics type='vnc' port='-1' autoport='yes'>\n      <listen type='address'/>\n    </graphics>\n    <video>\n      <model type='cirrus' vram='16384' heads='1' primary='yes'/>\n    </video>\n"
    ));
    assert!(def
        .to_xml(Some(3), secure())
        .contains("autoport='yes' passwd='pw'>"));
    let inactive = def.to_xml(
        Some(3),
        FormatFlags {
            inactive: true,
            migratable: true,
            secure: false,
        },
    );
    assert!(inactive.starts_with("<domain type='test'>\n"));
    assert_eq!(
        def.to_xml(
            Some(3),
            FormatFlags {
                migratable: true,
                ..FormatFlags::default()
            }
        ),
        live
    );
    assert_eq!(
        (def.current_memory_kib(), def.vcpus(), def.max_vcpus()),
        (512, 1, 2)
    );
}

#[test]
fn live_state_is_forgotten_by_the_parse() {
    let def = parse(&domain(
        "<memory>1</memory><os><type>hvm</type></os><devices>\
         <interface type='network'><source network='default'/><target dev='vnet3'/><alias name='net0'/></interface>\
         <interface type='bridge'><source bridge='br0'/><target dev='mytap'/><alias name='ua-x'/></interface>\
         <serial type='pty'><source path='/dev/pts/3'/><target port='0'/></serial></devices>",
    ));
    let out = def.to_xml(None, secure());
    assert!(!out.contains("vnet3") && !out.contains("net0") && !out.contains("/dev/pts/3"));
    assert!(out.contains("<target dev='mytap'/>\n      <alias name='ua-x'/>"));
}

#[test]
fn interfaces_are_named_like_the_test_driver_names_them() {
    let mut def = parse(&domain(
        "<memory>1</memory><os><type>hvm</type></os><devices>\
         <interface type='network'><mac address='52:54:00:00:00:01'/><source network='default'/><model type='virtio'/></interface>\
         <interface type='bridge'><mac address='52:54:00:00:00:02'/><source bridge='br0'/><target dev='testnet0'/></interface>\
         <interface type='user'><mac address='52:54:00:00:00:03'/></interface></devices>",
    ));
    def.name_interfaces("testnet");
    let out = def.to_xml(None, secure());
    assert!(out.contains(
        "<source network='default'/>\n      <target dev='testnet1'/>\n      <model type='virtio'/>"
    ));
    assert!(out.contains("<mac address='52:54:00:00:00:03'/>\n      <target dev='testnet2'/>"));
}

/// (body inside a test domain named "a", expected max memory KiB, current memory KiB)
#[test]
fn memory_sizes_are_kib_and_current_is_capped() {
    let os = "<os><type>hvm</type></os>";
    for (body, max, current) in [
        ("<memory unit='MiB'>64</memory>", 65536, 65536),
        ("<memory unit='G'>1</memory>", 1048576, 1048576),
        ("<memory unit='b'>1000000</memory>", 977, 977),
        ("<memory unit='bytes'>1025</memory>", 2, 2),
        (
            "<memory>1024</memory><currentMemory>2048</currentMemory>",
            1024,
            1024,
        ),
        (
            "<memory>1024</memory><currentMemory>0</currentMemory>",
            1024,
            1024,
        ),
        (
            "<memory>1024</memory><currentMemory unit='b'>1000</currentMemory>",
            1024,
            1,
        ),
        ("<memory>1<x>2</x></memory>", 12, 12),
    ] {
        let def = parse(&domain(&format!("{body}{os}")));
        assert_eq!(
            (def.max_memory_kib(), def.current_memory_kib()),
            (max, current),
            "{body}"
        );
    }
}

/// Each input below, defined on libvirt 9.0's test driver, fails with this error.
#[test]
fn invalid_domains_fail_as_in_libvirt() {
    type Case = (&'static str, virErrorNumber, virErrorDomain, &'static str);
    let os = "<os><type>hvm</type></os>";
    let body = |s: &str| format!("<domain type='test'><name>a</name>{s}</domain>");
    let cases: Vec<(String, virErrorNumber, virErrorDomain, &str)> = [
        ("", VIR_ERR_XML_DETAIL, VIR_FROM_DOMAIN, "(domain_definition):1: Document is empty\n(null)\n^"),
        ("<domain", VIR_ERR_XML_DETAIL, VIR_FROM_DOMAIN,
         "(domain_definition):1: Couldn't find end of Start Tag domain line 1\n<domain\n-------^"),
        ("<foo type='test'/>", VIR_ERR_XML_ERROR, VIR_FROM_XML, "XML error: expecting root element of 'domain', not 'foo'"),
        ("<domain><name>a</name></domain>", VIR_ERR_INTERNAL_ERROR, VIR_FROM_DOMAIN, "internal error: missing domain type attribute"),
        ("<domain type=''><name>a</name></domain>", VIR_ERR_INTERNAL_ERROR, VIR_FROM_DOMAIN, "internal error: missing domain type attribute"),
        ("<domain type='bogus'><name>a</name></domain>", VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_DOMAIN, "unsupported configuration: invalid domain type bogus"),
        ("<domain type='ch'><name>a</name></domain>", VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_DOMAIN, "unsupported configuration: invalid domain type ch"),
        ("<domain type='test'><memory>1</memory></domain>", VIR_ERR_NO_NAME, VIR_FROM_DOMAIN, "missing name information"),
        ("<domain type='test'><name></name></domain>", VIR_ERR_NO_NAME, VIR_FROM_DOMAIN, "missing name information"),
    ]
    .into_iter()
    .map(|(x, c, d, m): Case| (x.to_owned(), c, d, m))
    .chain(
        [
            ("<uuid>zzz</uuid>".into(), VIR_ERR_INTERNAL_ERROR, VIR_FROM_DOMAIN, "internal error: malformed uuid element"),
            ("<uuid>6695eb01-f6a4-8304-79aa-97f2502e193f0</uuid>".into(), VIR_ERR_INTERNAL_ERROR, VIR_FROM_DOMAIN, "internal error: malformed uuid element"),
            (format!("<genid>x</genid>{os}"), VIR_ERR_INTERNAL_ERROR, VIR_FROM_DOMAIN, "internal error: malformed genid element"),
            ("<memory>1024</memory>".into(), VIR_ERR_XML_ERROR, VIR_FROM_DOMAIN, "XML error: an os <type> must be specified"),
            ("<os><type></type></os>".into(), VIR_ERR_XML_ERROR, VIR_FROM_DOMAIN, "XML error: an os <type> must be specified"),
            ("<os><type>bogus</type></os>".into(), VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_DOMAIN, "unsupported configuration: unknown OS type 'bogus'"),
            ("<os><type arch='bogus'>hvm</type></os>".into(), VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_DOMAIN, "unsupported configuration: Unknown architecture bogus"),
            ("<os><type>exe</type></os><memory>1</memory>".into(), VIR_ERR_XML_ERROR, VIR_FROM_DOMAIN, "XML error: init binary must be specified"),
            (format!("<title>a&#10;b</title>{os}<memory>x</memory>"), VIR_ERR_XML_ERROR, VIR_FROM_DOMAIN, "XML error: Domain title can't contain newlines"),
            (os.into(), VIR_ERR_XML_ERROR, VIR_FROM_DOMAIN, "XML error: Memory size must be specified via <memory> or in the <numa> configuration"),
            (format!("<memory>0</memory>{os}"), VIR_ERR_XML_ERROR, VIR_FROM_DOMAIN, "XML error: Memory size must be specified via <memory> or in the <numa> configuration"),
            (format!("<memory>abc</memory>{os}"), VIR_ERR_XML_ERROR, VIR_FROM_XML, "XML error: Invalid value 'abc' for element or attribute './memory[1]'"),
            (format!("<memory>-5</memory>{os}"), VIR_ERR_XML_ERROR, VIR_FROM_XML, "XML error: Invalid value '-5' for element or attribute './memory[1]'"),
            (format!("<memory>1</memory><currentMemory>x</currentMemory>{os}"), VIR_ERR_XML_ERROR, VIR_FROM_XML, "XML error: Invalid value 'x' for element or attribute './currentMemory[1]'"),
            (format!("<memory>1</memory><memtune><hard_limit>x</hard_limit></memtune>{os}"), VIR_ERR_XML_ERROR, VIR_FROM_XML, "XML error: Invalid value 'x' for element or attribute './memtune/hard_limit[1]'"),
            (format!("<memory unit='XB'>1</memory>{os}"), VIR_ERR_INVALID_ARG, VIR_FROM_NONE, "invalid argument: unknown suffix 'XB'"),
            (format!("<memory>18014398509481984</memory>{os}"), VIR_ERR_OVERFLOW, VIR_FROM_NONE, "numerical overflow: value too large: 18014398509481984"),
            (format!("<memory unit='b'>9223372036854775807</memory>{os}"), VIR_ERR_OVERFLOW, VIR_FROM_DOMAIN, "numerical overflow: size value too large"),
            (format!("<memory>1</memory><vcpu>0</vcpu>{os}"), VIR_ERR_INTERNAL_ERROR, VIR_FROM_DOMAIN, "internal error: CPU IDs in <numa> exceed the <vcpu> count"),
            (format!("<memory>1</memory><vcpu>x</vcpu>{os}"), VIR_ERR_XML_ERROR, VIR_FROM_DOMAIN, "XML error: maximum vcpus count must be an integer"),
            (format!("<memory>1</memory><vcpu></vcpu>{os}"), VIR_ERR_XML_ERROR, VIR_FROM_DOMAIN, "XML error: maximum vcpus count must be an integer"),
            (format!("<memory>1</memory><vcpu>99999999999</vcpu>{os}"), VIR_ERR_XML_ERROR, VIR_FROM_DOMAIN, "XML error: maximum vcpus count must be an integer"),
            // libvirt 9.0 crashes on this one; the message is the one for other bad counts.
            (format!("<memory>1</memory><vcpu>-1</vcpu>{os}"), VIR_ERR_XML_ERROR, VIR_FROM_DOMAIN, "XML error: maximum vcpus count must be an integer"),
            (format!("<memory>1</memory><vcpu current='x'>4</vcpu>{os}"), VIR_ERR_XML_ERROR, VIR_FROM_XML, "XML error: Invalid value for attribute 'current' in element 'vcpu': 'x'. Expected non-negative integer value"),
            (format!("<memory>1</memory><vcpu current='5'>4</vcpu>{os}"), VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_DOMAIN, "unsupported configuration: maximum vCPU count must not be less than current vCPU count"),
            (format!("<memory>1</memory><vcpu current='9' placement='x'>2</vcpu>{os}"), VIR_ERR_XML_ERROR, VIR_FROM_XML, "XML error: Invalid value for attribute 'placement' in element 'vcpu': 'x'."),
            (format!("<memory>1</memory>{os}<on_reboot>x</on_reboot><on_poweroff>x</on_poweroff>"), VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_DOMAIN, "unsupported configuration: unknown on_reboot action: x"),
            (format!("<memory>1</memory>{os}<on_crash>x</on_crash><on_poweroff>x</on_poweroff>"), VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_DOMAIN, "unsupported configuration: unknown on_poweroff action: x"),
            (format!("<memory>1</memory>{os}<on_crash>x</on_crash>"), VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_DOMAIN, "unsupported configuration: unknown on_crash action: x"),
            ("<memory>1</memory><os><type>hvm</type><boot dev='x'/></os><clock offset='x'/>".into(), VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_DOMAIN, "unsupported configuration: unknown clock offset 'x'"),
            ("<memory>1</memory><os><type>hvm</type><boot dev='floppy'/></os><devices><disk type='x'/></devices>".into(), VIR_ERR_XML_ERROR, VIR_FROM_XML, "XML error: Invalid value for attribute 'dev' in element 'boot': 'floppy'."),
            ("<memory>1</memory><os><type>hvm</type><boot/></os>".into(), VIR_ERR_XML_ERROR, VIR_FROM_XML, "XML error: Missing required attribute 'dev' in element 'boot'"),
            (format!("<memory>1</memory>{os}<devices><disk type='bogus'/></devices>"), VIR_ERR_XML_ERROR, VIR_FROM_XML, "XML error: Invalid value for attribute 'type' in element 'disk': 'bogus'."),
            (format!("<memory>1</memory>{os}<devices><disk><source file='/x'/><target/></disk></devices>"), VIR_ERR_NO_TARGET, VIR_FROM_DOMAIN, "missing target information for device /x"),
            (format!("<memory>1</memory>{os}<devices><disk device='cdrom'><target/></disk></devices>"), VIR_ERR_NO_TARGET, VIR_FROM_DOMAIN, "missing target information for device"),
            (format!("<memory>1</memory>{os}<devices><disk><source file='/x'/><target dev='vda' bus='none'/></disk></devices>"), VIR_ERR_XML_ERROR, VIR_FROM_XML, "XML error: Invalid value for attribute 'bus' in element 'target': 'none'."),
            (format!("<memory>1</memory>{os}<devices><interface type='user'><mac address='zz'/></interface></devices>"), VIR_ERR_XML_ERROR, VIR_FROM_DOMAIN, "XML error: unable to parse mac address 'zz'"),
            (format!("<memory>1</memory>{os}<devices><interface type='user'><mac address='01:00:00:00:00:00'/></interface></devices>"), VIR_ERR_XML_ERROR, VIR_FROM_DOMAIN, "XML error: expected unicast mac address, found multicast '01:00:00:00:00:00'"),
            (format!("<memory>1</memory>{os}<devices><interface type='bogus'/></devices>"), VIR_ERR_XML_ERROR, VIR_FROM_XML, "XML error: Invalid value for attribute 'type' in element 'interface': 'bogus'."),
            (format!("{os}<vcpu>0</vcpu><devices><disk><target dev='xyz'/><source file='/x'/></disk></devices>"), VIR_ERR_INTERNAL_ERROR, VIR_FROM_DOMAIN, "internal error: CPU IDs in <numa> exceed the <vcpu> count"),
            (format!("{os}<devices><disk><target dev='xyz'/><source file='/x'/></disk></devices>"), VIR_ERR_XML_ERROR, VIR_FROM_DOMAIN, "XML error: Unknown disk name 'xyz' and no address specified"),
            (format!("<memory>1</memory>{os}<devices><disk><source file='/x'/><target dev='xyz'/><address type='drive' controller='0' bus='0' target='0' unit='0'/></disk></devices>"), VIR_ERR_INTERNAL_ERROR, VIR_FROM_DOMAIN, "internal error: Invalid harddisk device name: xyz"),
            (format!("<memory>1</memory>{os}<devices><disk device='floppy'><target dev='hdb'/></disk></devices>"), VIR_ERR_INTERNAL_ERROR, VIR_FROM_DOMAIN, "internal error: Invalid floppy device name: hdb"),
            (format!("<memory>1</memory>{os}<devices><disk><target dev='vda'/></disk><disk><target dev='vda'/><source file='/x'/></disk></devices>"), VIR_ERR_NO_SOURCE, VIR_FROM_DOMAIN, "missing source information for device vda"),
            (format!("<memory>1</memory>{os}<devices><disk><target dev='vda'/><source file='/s'/></disk><disk><target dev='vda'/><source file='/s'/></disk></devices>"), VIR_ERR_XML_ERROR, VIR_FROM_DOMAIN, "XML error: target 'vda' duplicated for disk sources '/s' and '/s'"),
            (format!("<memory>1</memory>{os}<devices><disk device='cdrom'><target dev='hdc'/></disk><disk device='cdrom'><target dev='hdc'/></disk></devices>"), VIR_ERR_XML_ERROR, VIR_FROM_DOMAIN, "XML error: target 'hdc' duplicated for disk sources '<null>' and '<null>'"),
            (format!("<memory>1</memory>{os}<devices><video><model type='none'/></video><video/></devices>"), VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_DOMAIN, "unsupported configuration: a 'none' video type must be the only video device defined for the domain"),
            (format!("<memory>1</memory>{os}<devices><redirdev bus='usb' type='spicevmc'/></devices>"), VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_DOMAIN, "unsupported configuration: cannot add redirected USB device: USB is disabled for this domain"),
        ]
        .into_iter()
        .map(|(s, c, d, m)| (body(&s), c, d, m)),
    )
    .chain([(
        format!("<domain type='test'><name>a/b</name><memory>1</memory>{os}<devices><disk><target dev='vda'/></disk></devices></domain>"),
        VIR_ERR_XML_ERROR,
        VIR_FROM_DOMAIN,
        "XML error: name a/b cannot contain '/'",
    )])
    .collect();
    for (xml, code, domain, message) in cases {
        let e = DomainDef::parse(&xml, TEST).expect_err(&xml);
        assert_eq!(
            (e.message.as_str(), e.code, e.domain),
            (message, code, domain),
            "{xml}"
        );
    }
}

#[test]
fn the_test_driver_takes_every_type_libvirt_knows() {
    let xml = |t: &str| {
        format!(
            "<domain type='{t}'><name>a</name><memory>1</memory><os><type>hvm</type></os></domain>"
        )
    };
    assert_eq!(parse(&xml("kvm")).virt_type(), "kvm");
    let e = DomainDef::parse(&xml("xen"), QEMU).unwrap_err();
    assert_eq!(e.code, VIR_ERR_CONFIG_UNSUPPORTED);
    assert!(DomainDef::parse(&xml("qemu"), QEMU).is_ok());
}

#[test]
fn no_input_makes_the_parser_panic() {
    let rich = include_str!("testdata/rich-in.xml");
    for end in (0..=rich.len()).filter(|&i| rich.is_char_boundary(i)) {
        let _ = DomainDef::parse(&rich[..end], TEST);
    }
    // A fixed xorshift stream: random bytes, and random picks of XML's own characters.
    let mut state: u32 = 0x9e37_79b9;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    let alphabet = b"<>/='\"&;#x!-?[] \nabdomintype:0123456789";
    for round in 0..3000 {
        let len = (next() % 200) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                if round % 2 == 0 {
                    next() as u8
                } else {
                    alphabet[next() as usize % alphabet.len()]
                }
            })
            .collect();
        let _ = DomainDef::parse(&String::from_utf8_lossy(&bytes), TEST);
        let prefix = format!(
            "<domain type='test'><name>a</name>{}",
            String::from_utf8_lossy(&bytes)
        );
        let _ = DomainDef::parse(&prefix, TEST);
    }
}

/// A change to a definition's text.
type Edit = Box<dyn Fn(&str) -> String>;

/// The QEMU image's definition, edited by `edit`, against the original.
fn abi(edit: impl Fn(&str) -> String) -> Result<(), String> {
    let xml = include_str!("testdata/qemu-image.xml");
    let old = DomainDef::parse(xml, QEMU).unwrap();
    let new = DomainDef::parse(&edit(xml), QEMU).unwrap();
    check_abi_stability(&old, &new).map_err(|e| {
        assert_eq!(
            (e.code, e.domain),
            (VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_DOMAIN)
        );
        e.message
    })
}

fn replace(from: &'static str, to: &'static str) -> impl Fn(&str) -> String {
    move |xml| {
        assert!(xml.contains(from), "{from}");
        xml.replacen(from, to, 1)
    }
}

/// Each edit, applied with `virsh save-image-define` to a QEMU 7.2 image saved by
/// libvirt 9.0, fails with this message.
#[test]
fn abi_differences_are_reported_in_libvirts_words() {
    let cpu_and_features = |xml: &str| xml.replace("qemu64", "qemu32").replace("<acpi/>", "");
    let cases: Vec<(Edit, &str)> = vec![
        (Box::new(replace("<name>q2<", "<name>q3<")), "Target domain name 'q3' does not match source 'q2'"),
        (
            Box::new(|x: &str| x.replace("<name>q2<", "<name>q3<").replace("1111-2222", "1111-2223")),
            "Target domain uuid 11111111-2223-3333-4444-555555555555 does not match source 11111111-2222-3333-4444-555555555555",
        ),
        (Box::new(replace("<memory unit='KiB'>65536", "<memory unit='KiB'>131072")), "Target domain max memory 131072 does not match source 65536"),
        (Box::new(replace("<currentMemory unit='KiB'>65536", "<currentMemory unit='KiB'>32768")), "Target domain current memory 32768 does not match source 65536"),
        (Box::new(replace("current='1'>2<", "current='1'>3<")), "Target domain vCPU max 3 does not match source 2"),
        (Box::new(replace("current='1'>2<", "current='2'>2<")), "State of vCPU '1' differs between source and destination definitions"),
        (Box::new(replace("arch='x86_64'", "arch='i686'")), "Target domain architecture i686 does not match source x86_64"),
        (Box::new(replace("pc-i440fx-7.2", "pc-i440fx-7.1")), "Target domain machine type pc-i440fx-7.1 does not match source pc-i440fx-7.2"),
        (Box::new(replace("<acpi/>", "")), "State of feature 'acpi' differs: source: 'on', destination: 'default'"),
        (Box::new(replace("<apic/>", "<apic/><pae/>")), "State of feature 'pae' differs: source: 'default', destination: 'on'"),
        (Box::new(cpu_and_features), "State of feature 'acpi' differs: source: 'on', destination: 'default'"),
        (Box::new(replace("qemu64", "qemu32")), "Target CPU model qemu32 does not match source qemu64"),
        (Box::new(|x: &str| x.replace("qemu64", "qemu32").replace("dev='vda'", "dev='vdb'")), "Target CPU model qemu32 does not match source qemu64"),
        (Box::new(|x: &str| cut(x, "<disk type='file' device='cdrom'>", "</disk>")), "Target domain disk count 2 does not match source 3"),
        (Box::new(replace("dev='vda'", "dev='vdb'")), "Target disk vdb does not match source vda"),
        (Box::new(replace("dev='sda' bus='scsi'", "dev='sda' bus='sata'")), "Target disk bus sata does not match source scsi"),
        (Box::new(replace("<serial>SER1", "<serial>SER2")), "Target disk serial SER2 does not match source SER1"),
        (Box::new(replace("      <serial>SER1</serial>\n", "")), "Target disk serial <null> does not match source SER1"),
        (Box::new(replace("slot='0x06'", "slot='0x0a'")), "Target device PCI address 0000:00:0a.0does not match source 0000:00:06.0"),
        (Box::new(replace("unit='0'/>", "unit='1'/>")), "Target device drive address 0:0:1 does not match source 0:0:0"),
        (
            Box::new(|x: &str| x.replace("dev='vda'", "dev='vdb'").replace("model='virtio-scsi'", "model='lsilogic'")),
            "Target disk vdb does not match source vda",
        ),
        (Box::new(replace("model='virtio-scsi'", "model='lsilogic'")), "Target controller model 2 does not match source 6"),
        (Box::new(replace("model='piix3-uhci'", "model='ich9-ehci1'")), "Target controller model 3 does not match source 0"),
        (
            Box::new(replace("<controller type='pci' index='0' model='pci-root'/>", "<controller type='pci' index='0' model='pci-root'/><controller type='pci' index='1' model='pci-bridge'/>")),
            "Target domain controller count 5 does not match source 4",
        ),
        (Box::new(replace("34:56", "34:58")), "Target network card mac 52:54:00:12:34:58 does not match source 52:54:00:12:34:56"),
        (Box::new(replace("'e1000'", "'rtl8139'")), "Target network card model rtl8139 does not match source e1000"),
        (
            Box::new(|x: &str| x.replace("'e1000'", "'rtl8139'").replace("model='virtio-scsi'", "model='lsilogic'")),
            "Target controller model 2 does not match source 6",
        ),
        (Box::new(|x: &str| cut(x, "<interface type='user'>\n      <mac address='52:54:00:12:34:57'/>", "</interface>")), "Target domain net card count 1 does not match source 2"),
        (Box::new(replace("<input type='tablet' bus='usb'>", "<input type='mouse' bus='usb'>")), "Target input device type mouse does not match source tablet"),
        (Box::new(replace("<input type='tablet' bus='usb'>", "<input type='tablet' bus='virtio'>")), "Target input device bus virtio does not match source usb"),
        (
            Box::new(replace("<input type='keyboard' bus='ps2'/>", "<input type='keyboard' bus='ps2'/><input type='keyboard' bus='usb'/>")),
            "Target domain input device count 4 does not match source 3",
        ),
        (Box::new(replace("<audio id='1' type='none'/>", "<audio id='1' type='none'/><sound model='ich6'/>")), "Target domain sound card count 1 does not match source 0"),
        (Box::new(replace("vram='16384'", "vram='8192'")), "Target video card vram 8192 does not match source 16384"),
        (Box::new(replace("<model type='cirrus'", "<model type='vga'")), "Target video card model vga does not match source cirrus"),
        (Box::new(|x: &str| cut(&cut(x, "<serial type='pty'>", "</serial>"), "<console type='pty'>", "</console>")), "Target domain serial port count 0 does not match source 1"),
        (Box::new(replace("<target type='isa-serial' port='0'>", "<target type='isa-serial' port='1'>")), "Target serial port 1 does not match source 0"),
        (Box::new(|x: &str| cut(x, "<watchdog", "</watchdog>")), "Target domain watchdog count 0 does not match source 1"),
        (Box::new(replace("<memballoon model='virtio'>", "<memballoon model='none'>")), "Target balloon model none does not match source virtio"),
        (
            Box::new(replace("<memballoon model='virtio'>", "<memballoon model='virtio' autodeflate='on'>")),
            "Target balloon autodeflate attribute value 'on' does not match source 'default'",
        ),
        (
            Box::new(replace("<memballoon model='virtio'>", "<memballoon model='virtio' freePageReporting='on'>")),
            "Target balloon freePageReporting attribute value 'on' does not match source 'default'",
        ),
        (Box::new(|x: &str| cut(x, "<rng model", "</rng>")), "Target domain RNG device count 0 does not match source 1"),
        (Box::new(|x: &str| cut(&cut(x, "<rng model", "</rng>"), "<watchdog", "</watchdog>")), "Target domain watchdog count 0 does not match source 1"),
        (Box::new(|x: &str| cut(x, "<rng model", "</rng>").replace("<memballoon model='virtio'>", "<memballoon model='none'>")), "Target balloon model none does not match source virtio"),
        (Box::new(with_device("<panic model='isa'/>")), "Target domain panic device count 1 does not match source 0"),
        (Box::new(with_device("<parallel type='pty'/>")), "Target domain parallel port count 1 does not match source 0"),
        (Box::new(with_device("<hub type='usb'/>")), "Target domain hub device count 1 does not match source 0"),
        (Box::new(with_device("<filesystem type='mount'><source dir='/tmp'/><target dir='x'/></filesystem>")), "Target domain filesystem count 1 does not match source 0"),
        (
            Box::new(with_device("<hostdev mode='subsystem' type='usb'><source><vendor id='0x1234'/><product id='0xbeef'/></source></hostdev>")),
            "Target domain host device count 1 does not match source 0",
        ),
        (Box::new(with_device("<tpm model='tpm-tis'><backend type='emulator'/></tpm>")), "Target domain TPM device count 1 does not match source 0"),
        (Box::new(with_device("<vsock model='virtio'><cid auto='yes'/></vsock>")), "Target domain vsock device count does not match source"),
        (Box::new(|x: &str| with_device("<panic model='isa'/><parallel type='pty'/><hub type='usb'/>")(&cut(x, "<rng model", "</rng>"))), "Target domain parallel port count 1 does not match source 0"),
        (Box::new(|x: &str| with_device("<panic model='isa'/><tpm model='tpm-tis'><backend type='emulator'/></tpm>")(&cut(x, "<rng model", "</rng>"))), "Target domain RNG device count 0 does not match source 1"),
    ];
    for (edit, message) in cases {
        assert_eq!(
            abi(edit),
            Err(format!("unsupported configuration: {message}"))
        );
    }
}

/// What may change under a saved guest, as libvirt's save-image-define accepts it.
#[test]
fn host_side_and_descriptive_changes_keep_the_abi() {
    let allowed: Vec<Edit> = vec![
        Box::new(|x: &str| x.to_owned()),
        Box::new(replace("d1.img", "d2.img")),
        Box::new(|x: &str| {
            x.replace("<title>t<", "<title>u<")
                .replace("<description>d<", "<description>e<")
                .replace("on_crash>destroy", "on_crash>restart")
        }),
        Box::new(replace(
            "<clock offset='utc'/>",
            "<clock offset='localtime'/>",
        )),
        Box::new(replace("type='raw'/>", "type='qcow2'/>")),
        Box::new(|x: &str| cut(x, "<graphics", "</graphics>")),
        Box::new(replace("action='reset'", "action='poweroff'")),
        Box::new(replace(
            "placement='static' current='1'",
            "placement='auto' current='1'",
        )),
        Box::new(replace("<on_poweroff>destroy", "<on_poweroff>restart")),
        Box::new(replace("/dev/urandom", "/dev/random")),
    ];
    for edit in allowed {
        assert_eq!(abi(edit), Ok(()));
    }
}

/// `xml` without the first element from `start` through `end`.
fn cut(xml: &str, start: &str, end: &str) -> String {
    let from = xml.find(start).expect(start);
    let to = from + xml[from..].find(end).expect(end) + end.len();
    format!("{}{}", &xml[..from], &xml[to..])
}

/// Adds `device` after the PS/2 keyboard.
fn with_device(device: &'static str) -> impl Fn(&str) -> String {
    move |xml| {
        xml.replacen(
            "<input type='keyboard' bus='ps2'/>",
            &format!("<input type='keyboard' bus='ps2'/>{device}"),
            1,
        )
    }
}
