//! Host-side elements (`<resource>`, `<seclabel>`): what libvirt 9.0's QEMU driver with no
//! security driver and no cgroups (`security_driver = "none"`, run unprivileged) made of
//! each form, observed with its embedded driver; the fixtures `host-resource` and
//! `host-seclabels` hold whole recordings (inactive, live, image XML, command lines).

use crate::abi::virErrorDomain::*;
use crate::abi::virErrorNumber::*;
use crate::drivers::qemu::command::{self, Options};
use crate::drivers::qemu::defaults::{self, Host};
use crate::xml::{DomainDef, FormatFlags};

const HOST: Host = Host {
    kvm: false,
    check_emulator: false,
};

fn domain(body: &str, devices: &str) -> String {
    format!(
        "<domain type='qemu'><name>t</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\
         <memory>32768</memory><os><type>hvm</type><kernel>/k</kernel></os>{body}\
         <devices>{devices}</devices></domain>"
    )
}

fn disk(label: &str) -> String {
    format!(
        "<disk type='file' device='disk'><source file='/d'>{label}</source>\
         <target dev='vda' bus='virtio'/></disk>"
    )
}

fn inactive(def: &DomainDef) -> String {
    let flags = FormatFlags {
        secure: true,
        inactive: true,
        ..FormatFlags::default()
    };
    def.to_xml(None, flags)
}

/// The `<seclabel>` lines of a document, trimmed and joined.
fn labels(xml: &str) -> String {
    xml.lines()
        .map(str::trim)
        .filter(|l| l.contains("seclabel") || l.contains("label>"))
        .collect::<Vec<_>>()
        .join("")
}

#[test]
fn seclabels_read_as_libvirt_reads_them() {
    for (body, devices, want) in [
        ("<seclabel type='none'/>", "", "<seclabel type='none' model='none'/>"),
        ("<seclabel model='none'/>", "", "<seclabel type='none' model='none'/>"),
        ("<seclabel type='dynamic' model='none'/>", "", "<seclabel type='none' model='none'/>"),
        ("<seclabel type='dynamic' relabel='yes'/>", "", "<seclabel type='none' model='none'/>"),
        ("<seclabel type='none' relabel='no'/>", "", "<seclabel type='none' model='none'/>"),
        (
            "<seclabel type='static' model='none' relabel='yes'><label>x</label><imagelabel>y</imagelabel></seclabel>",
            "",
            "<seclabel type='none' model='none'/>",
        ),
        (
            "<seclabel type='dynamic' model='none'><baselabel>x</baselabel></seclabel>",
            "",
            "<seclabel type='none' model='none'/>",
        ),
        ("", &disk("<seclabel model='none' relabel='no'/>"), "<seclabel model='none' relabel='no'/>"),
        (
            "",
            &disk("<seclabel model='none'><label>x</label></seclabel>"),
            "<seclabel model='none' relabel='yes'><label>x</label></seclabel>",
        ),
        // Relabelling with no label of its own: only a running domain shows it.
        ("", &disk("<seclabel model='none'/>"), ""),
        ("", &disk("<seclabel model='none' labelskip='yes'/>"), ""),
    ] {
        let def = defaults::parse(&domain(body, devices), &HOST)
            .unwrap_or_else(|e| panic!("{body}{devices}: {e}"));
        let xml = inactive(&def);
        assert_eq!(labels(&xml), want, "{body}{devices}");
        assert_eq!(inactive(&defaults::parse(&xml, &HOST).unwrap()), xml);
    }
}

/// What libvirt refuses on define, and what it defines but refuses to start with no
/// security driver (virshim refuses that on define, with libvirt's error).
#[test]
fn host_side_refusals_are_libvirts() {
    let dac = "unsupported configuration: Security driver model 'dac' is not available";
    for (body, devices, code, domain_, message) in [
        ("<resource/>", "", VIR_ERR_INTERNAL_ERROR, VIR_FROM_NONE, "An error occurred, but the cause is unknown"),
        ("<seclabel type='bogus'/>", "", VIR_ERR_XML_ERROR, VIR_FROM_XML, "XML error: Invalid value for attribute 'type' in element 'seclabel': 'bogus'."),
        ("<seclabel type='none' model='none' relabel='maybe'/>", "", VIR_ERR_XML_ERROR, VIR_FROM_XML, "XML error: Invalid value for attribute 'relabel' in element 'seclabel': 'maybe'."),
        ("", &disk("<seclabel model='none' relabel='maybe'/>"), VIR_ERR_XML_ERROR, VIR_FROM_XML, "XML error: Invalid value for attribute 'relabel' in element 'seclabel': 'maybe'."),
        ("<seclabel type='none' relabel='yes'/>", "", VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_DOMAIN, "unsupported configuration: resource relabeling is not compatible with 'none' label type"),
        ("<seclabel type='dynamic' model='none' relabel='no'/>", "", VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_DOMAIN, "unsupported configuration: dynamic label type must use resource relabeling"),
        ("<seclabel type='static' model='dac'/>", "", VIR_ERR_XML_ERROR, VIR_FROM_DOMAIN, "XML error: security label is missing"),
        ("<seclabel type='static'><label>x</label></seclabel>", "", VIR_ERR_XML_ERROR, VIR_FROM_DOMAIN, "XML error: missing security model in domain seclabel"),
        ("<seclabel type='none' model='none'/><seclabel type='none' model='none'/>", "", VIR_ERR_XML_DETAIL, VIR_FROM_DOMAIN, "seclabel for model none is already provided"),
        ("<seclabel type='none'/><seclabel type='none'/>", "", VIR_ERR_XML_DETAIL, VIR_FROM_DOMAIN, "seclabel for model (null) is already provided"),
        ("<seclabel type='none' model='none'/>", &disk("<seclabel model='none' relabel='no'/>"), VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_DOMAIN, "unsupported configuration: label overrides require relabeling to be enabled at the domain level"),
        ("<seclabel type='dynamic' model='dac' relabel='yes'/>", "", VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_SECURITY, dac),
        ("<seclabel type='none' model='dac'/>", "", VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_SECURITY, dac),
        ("<seclabel type='dynamic' model='selinux'/>", "", VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_SECURITY, "unsupported configuration: Security driver model 'selinux' is not available"),
        ("<seclabel type='dynamic' model='apparmor' relabel='yes'/>", "", VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_SECURITY, "unsupported configuration: Security driver model 'apparmor' is not available"),
        ("", &disk("<seclabel model='dac' relabel='no'/>"), VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_SECURITY, dac),
        ("", &disk("<seclabel relabel='no'/>"), VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_SECURITY, "unsupported configuration: Security driver model '(null)' is not available"),
        ("", &disk("<seclabel model='none' relabel='no'/><seclabel model='dac' relabel='no'/>"), VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_SECURITY, dac),
    ] {
        let err = match defaults::parse(&domain(body, devices), &HOST) {
            Ok(def) => panic!("accepted:\n{}", inactive(&def)),
            Err(e) => e,
        };
        assert_eq!(
            (err.code, err.domain, err.message.as_str()),
            (code, domain_, message),
            "{body}{devices}"
        );
    }
}

/// Host-side elements change nothing QEMU runs, on start or restore.
#[test]
fn host_side_elements_leave_the_command_line_unchanged() {
    let serial =
        |label: &str| format!("<serial type='file'><source path='/s'>{label}</source></serial>");
    let plain = domain("", &(disk("") + &serial("")));
    let host_side = domain(
        "<resource><partition>/machine</partition><fibrechannel appid='app'/></resource>",
        &(disk("<seclabel model='none'/>") + &serial("<seclabel model='none' relabel='no'/>")),
    );
    let labelled = domain("<seclabel type='none'/>", &(disk("") + &serial("")));
    let plain = defaults::parse(&plain, &HOST).unwrap();
    for xml in [host_side, labelled] {
        let def = defaults::parse(&xml, &HOST).unwrap();
        for incoming in [false, true] {
            let options = Options {
                incoming,
                cpu: None,
            };
            assert_eq!(
                command::build(&def, &options).unwrap(),
                command::build(&plain, &options).unwrap(),
                "{xml}"
            );
        }
    }
}
