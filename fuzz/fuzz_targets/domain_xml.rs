//! Domain XML as both drivers read it: the generic parse with the test driver's and the
//! QEMU driver's virtualization types, and the QEMU driver's own (its defaults, then what
//! it can run). A definition that parses must format in every form, and its formatted
//! XML must parse again: what a save writes, a restore reads. The QEMU driver's parse
//! must also give back the same definition (its documented promise); the generic parse
//! need not, as libvirt's does not (a second virtio console is numbered 0, then 1).
#![no_main]

use libfuzzer_sys::fuzz_target;
use virshim::drivers::qemu::testing::defaults::{self, Host};
use virshim::drivers::test;
use virshim::xml::{DomainDef, FormatFlags};

const HOST: Host = Host {
    kvm: true,
    check_emulator: false,
};

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else {
        return;
    };
    for types in [test::VIRT_TYPES, defaults::VIRT_TYPES] {
        if let Ok(def) = DomainDef::parse(xml, types) {
            check_formats(&def, |xml| DomainDef::parse(xml, types));
        }
    }
    if let Ok(def) = defaults::parse(xml, &HOST) {
        let (xml, again) = check_formats(&def, |xml| defaults::parse(xml, &HOST));
        assert_eq!(
            again, xml,
            "the QEMU driver's definition changed on a second parse"
        );
        let live = defaults::live(&def, &defaults::Runtime::tcg(Vec::new(), None));
        let _ = defaults::migratable_xml(&def, &live);
        let _ = defaults::cookie_xml(&live);
    }
});

/// Formats `def` in every form; its inactive form must parse again. Returns that form
/// and the same form of what it parsed to.
fn check_formats(
    def: &DomainDef,
    parse: impl Fn(&str) -> virshim::Result<DomainDef>,
) -> (String, String) {
    for bits in 0..8u8 {
        let flags = FormatFlags {
            secure: bits & 1 != 0,
            inactive: bits & 2 != 0,
            migratable: bits & 4 != 0,
        };
        def.to_xml(Some(1), flags);
    }
    let inactive = FormatFlags {
        secure: true,
        inactive: true,
        migratable: false,
    };
    let xml = def.to_xml(None, inactive);
    let again = parse(&xml).unwrap_or_else(|e| panic!("{xml}\ndoes not parse again: {e:?}"));
    (xml, again.to_xml(None, inactive))
}
