//! The generated stubs are current and agree with what is written by hand:
//!
//! - scripts/gen-stubs.py, run now on data/libvirt-api.json and data/implemented.txt,
//!   writes exactly the committed `src/ffi/generated/`;
//! - data/implemented.txt lists exactly the functions `src/ffi/` exports by hand (a listed
//!   name without an export would be missing from libvirt.so.0, an unlisted export would
//!   clash with its stub);
//! - `gen-stubs.py --refresh-data`, run on libvirt 9.0's API description, writes exactly
//!   the committed data/libvirt-api.json. That one needs Debian's libvirt-dev for
//!   `/usr/share/libvirt/api/libvirt-api.xml`; without it it is skipped with a note, unless
//!   `CI=true`, where that is a failure.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const API_XML: &str = "/usr/share/libvirt/api/libvirt-api.xml";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs gen-stubs.py with `args` into a fresh directory named `name`, and returns it.
fn generate(name: &str, args: &[&str]) -> PathBuf {
    let out = common::scratch(name);
    let run = Command::new("python3")
        .arg(root().join("scripts/gen-stubs.py"))
        .args(args)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("cannot run python3");
    assert!(
        run.status.success(),
        "scripts/gen-stubs.py failed:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    out
}

/// The files of `files` whose fresh copy under `out` differs from the committed one.
fn stale(out: &Path, files: &[&str]) -> Vec<String> {
    files
        .iter()
        .filter_map(|file| {
            let fresh = fs::read_to_string(out.join(file)).unwrap();
            let committed = fs::read_to_string(root().join(file)).unwrap_or_default();
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
        .collect()
}

#[test]
fn generated_stubs_are_current() {
    let out = generate("stubs_current", &[]);
    let stale = stale(
        &out,
        &[
            "src/ffi/generated/mod.rs",
            "src/ffi/generated/stubs.rs",
            "src/ffi/generated/types.rs",
        ],
    );
    assert!(
        stale.is_empty(),
        "the generated stubs are stale: run `make stubs` and commit them\n{}",
        stale.join("\n")
    );
}

#[test]
fn api_facts_are_current() {
    let Some(_) = common::require_file(API_XML, "libvirt-dev") else {
        return;
    };
    let out = generate("facts_current", &["--refresh-data", API_XML]);
    let stale = stale(&out, &["data/libvirt-api.json"]);
    assert!(
        stale.is_empty(),
        "data/libvirt-api.json is stale: run `scripts/gen-stubs.py --refresh-data`\n{}",
        stale.join("\n")
    );
}

/// The names data/implemented.txt declares.
fn declared() -> BTreeSet<String> {
    fs::read_to_string(root().join("data/implemented.txt"))
        .unwrap()
        .lines()
        .map(|l| l.split('#').next().unwrap().trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The functions the hand-written files below `src/ffi/` declare with `ffi_fn!` (or its
/// typed-parameter forms): the identifier after `fn` (or `@keep_error fn`) at the start of
/// a line.
fn exported_by_hand() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut dirs = vec![root().join("src/ffi")];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                // The generated stubs are not hand-written.
                if path.file_name().is_none_or(|n| n != "generated") {
                    dirs.push(path);
                }
            } else if path.extension().is_some_and(|x| x == "rs") {
                names.extend(exported_in(&path));
            }
        }
    }
    names
}

/// The `vir*` functions `path` declares with a line starting `fn NAME(`.
fn exported_in(path: &Path) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in fs::read_to_string(path).unwrap().lines() {
        let line = line.trim_start();
        let Some(rest) = line
            .strip_prefix("@keep_error fn ")
            .or_else(|| line.strip_prefix("fn "))
        else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name.starts_with("vir") && rest[name.len()..].starts_with('(') {
            names.insert(name);
        }
    }
    names
}

#[test]
fn implemented_list_matches_the_hand_written_exports() {
    let declared = declared();
    let exported = exported_by_hand();
    let unlisted: Vec<_> = exported.difference(&declared).collect();
    let missing: Vec<_> = declared.difference(&exported).collect();
    assert!(
        unlisted.is_empty() && missing.is_empty(),
        "data/implemented.txt and src/ffi/ disagree (then run `make stubs`):\n\
         exported by hand but not listed: {unlisted:?}\nlisted but not exported: {missing:?}"
    );
}
