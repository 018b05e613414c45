//! Every libvirt function called with a NULL object (connection, domain, network, stream,
//! ...) fails on virshim exactly as on libvirt 9.0: the same return value, error code,
//! error domain and message. That covers the object checks of all the generated stubs and
//! of the hand-written calls. Where libvirt 9.0 itself crashes, virshim must only not.
//!
//! Runs tests/null_objects.py on both libraries. Needs the built library (as
//! tests/packaging.rs: skipped without one unless `CI=true` or `VIRSHIM_REQUIRE_LIB` is set) and
//! Debian's libvirt0 and libvirt-dev.

mod common;

use std::collections::BTreeMap;
use std::env;
use std::path::Path;
use std::process::Command;

const SYSTEM_LIB: &str = "/usr/lib/x86_64-linux-gnu/libvirt.so.0";
const API_XML: &str = "/usr/share/libvirt/api/libvirt-api.xml";

/// Function name -> what the call returned and the error it left, as JSON text.
type Results = BTreeMap<String, String>;

fn probe(lib: &Path) -> Results {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/null_objects.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(lib)
        .arg(API_XML)
        .output()
        .expect("cannot run python3");
    assert!(
        out.status.success(),
        "null_objects.py {} failed:\n{}",
        lib.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (name, result) = l.split_once('\t').unwrap();
            (name.to_string(), result.to_string())
        })
        .collect()
}

#[test]
fn null_objects_fail_as_in_libvirt() {
    let Some(ours) = common::built_library() else {
        return;
    };
    let ours = ours.join("libvirt.so.0");
    for needed in [SYSTEM_LIB, API_XML] {
        assert!(
            Path::new(needed).exists(),
            "{needed} is missing: install Debian's libvirt0 and libvirt-dev (libvirt 9.0)"
        );
    }
    let virshim = probe(&ours);
    let libvirt = probe(Path::new(SYSTEM_LIB));
    assert!(
        libvirt.len() > 400,
        "only {} functions probed",
        libvirt.len()
    );
    assert_eq!(
        virshim.keys().collect::<Vec<_>>(),
        libvirt.keys().collect::<Vec<_>>()
    );

    let mut differ = Vec::new();
    let mut libvirt_crashes = Vec::new();
    for (name, theirs) in &libvirt {
        let mine = &virshim[name];
        assert!(
            !mine.starts_with("[\"crash\""),
            "{name} crashes on virshim: {mine}"
        );
        if theirs.starts_with("[\"crash\"") {
            libvirt_crashes.push(name.as_str());
        } else if mine != theirs {
            differ.push(format!(
                "  {name}\n    virshim: {mine}\n    libvirt: {theirs}"
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "{} functions fail otherwise than libvirt 9.0 on a NULL object:\n{}",
        differ.len(),
        differ.join("\n")
    );
    eprintln!(
        "{} functions fail as libvirt 9.0 does on a NULL object; {} crash libvirt but not \
         virshim: {}",
        libvirt.len() - libvirt_crashes.len(),
        libvirt_crashes.len(),
        libvirt_crashes.join(" ")
    );
}
