//! The generated stubs are current: scripts/gen-stubs.py, run now on libvirt 9.0's API
//! description and the hand-written files of `src/ffi/`, writes exactly the committed
//! `src/ffi/stubs.rs`, `src/ffi/stub_types.rs` and `data/libvirt-api.json`.
//!
//! Needs Debian's libvirt-dev for `/usr/share/libvirt/api/libvirt-api.xml`; without it the
//! test is skipped with a note, unless `CI=true`, where that is a failure.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;

const API_XML: &str = "/usr/share/libvirt/api/libvirt-api.xml";
const GENERATED: &[&str] = &[
    "src/ffi/stubs.rs",
    "src/ffi/stub_types.rs",
    "data/libvirt-api.json",
];

#[test]
fn generated_stubs_are_current() {
    let Some(_) = common::require_file(API_XML, "libvirt-dev") else {
        return;
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = common::scratch("generated");

    let run = Command::new("python3")
        .arg(root.join("scripts/gen-stubs.py"))
        .arg("--api")
        .arg(API_XML)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("cannot run python3");
    assert!(
        run.status.success(),
        "scripts/gen-stubs.py failed:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );

    let stale: Vec<String> = GENERATED
        .iter()
        .filter_map(|file| {
            let fresh = fs::read_to_string(out.join(file)).unwrap();
            let committed = fs::read_to_string(root.join(file)).unwrap_or_default();
            if fresh == committed {
                return None;
            }
            let line = fresh
                .lines()
                .zip(committed.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| fresh.lines().count().min(committed.lines().count()));
            Some(format!("{file} differs from line {}", line + 1))
        })
        .collect();
    assert!(
        stale.is_empty(),
        "the generated stubs are stale: run `make stubs` (then `make headers`) and commit them\n{}",
        stale.join("\n")
    );
}
