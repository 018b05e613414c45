//! Device checks against libvirt 9.0's answers for the same devices.

use crate::xml::DomainDef;

/// None when libvirt accepts, else its error's code, domain and message.
type Answer = Option<(i32, i32, &'static str)>;

// Each answer is libvirt 9.0's test driver's for the same devices (issue 9, defect 5).
#[test]
#[rustfmt::skip]
fn devices_are_checked_like_libvirt() {
    let with = |devices: &str| {
        format!("<domain type='test'><name>a</name><memory>1024</memory><os><type>hvm</type></os><devices>{devices}</devices></domain>")
    };
    let cases: &[(&str, Answer)] = &[
        ("<disk type='file'><source file='/a'/><target dev='vda'/><address type='pci' domain='0' bus='0z01' slot='1' function='0'/></disk>", Some((27, 5, "XML error: Invalid value for attribute 'bus' in element 'address': '0z01'. Expected non-negative integer value"))),
        ("<disk type='file'><source file='/a'/><target dev='vda'/><address domain='0' bus='0' slot='1' function='0'/></disk>", Some((1, 20, "internal error: No type specified for device address"))),
        ("<disk type='file'><source file='/a'/><target dev='vda'/><address type='pci' domain='0' bus='0' slot='0x20' function='0'/></disk>", Some((27, 0, "XML error: Invalid PCI address slot='0x20', must be <= 0x1F"))),
        ("<disk type='file'><source file='/a'/><target dev='vda'/><address type='pci' domain='0' bus='0' slot='010' function='0'/></disk>", None),
        ("<memballoon/>", Some((27, 5, "XML error: Missing required attribute 'model' in element 'memballoon'"))),
        ("<interface type='network'/>", Some((27, 20, "XML error: interface type='network' requires a 'source' element"))),
        ("<disk type='file' device='cdrom'><target dev='hdc'/></disk>", None),
        ("<disk type='file' device='cdrom'><source file='/a'/><target dev='fda'/></disk>", None),
        ("<disk type='file'><source file='/a'/><target dev='vdA'/><address type='pci' domain='0' bus='0' slot='5' function='0'/></disk>", None),
        ("<disk type='file' device='floppy'><source file='/a'/><target dev='fda' bus='ide'/></disk>", Some((1, 20, "internal error: Invalid bus type 'ide' for floppy disk"))),
        ("<controller type='usb' index='-1'/>", Some((27, 5, "XML error: Invalid value for attribute 'index' in element 'controller': '-1'. Expected non-negative value"))),
        ("<input type='mouse' bus='bogus'/>", Some((67, 20, "unsupported configuration: unknown input bus type 'bogus'"))),
    ];
    for &(devices, want) in cases {
        let got = DomainDef::parse(&with(devices), &["test"])
            .err()
            .map(|e| (e.code as i32, e.domain as i32, e.message));
        let want = want.map(|(c, d, m)| (c, d, m.to_owned()));
        assert_eq!(got, want, "{devices}");
    }
}
