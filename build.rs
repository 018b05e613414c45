//! Generates virshim's C headers with cbindgen.
//!
//! `libvirt.h` comes from `src/abi/{common,event,domain}.rs` and every `.rs` file below
//! `src/ffi/` but `error.rs` (the generated `src/ffi/generated/*.rs` too); `virterror.h` from
//! `src/abi/virterror.rs` and `src/ffi/error.rs`. Each header is given
//! only its own files, so each declares only its own items. The files of `src/ffi/`
//! declare their entry points with macros, which cbindgen does not expand: it reads them
//! as `build/declarations.rs` rewrites them, into `$OUT_DIR/cbindgen/`. The headers, plus the thin
//! `libvirt-*.h` that only include `libvirt.h`, go to `$OUT_DIR/include/libvirt/`; the
//! committed copies in `include/libvirt/` are refreshed by `make headers`, and
//! `tests/packaging.rs` fails when they differ. `VIRSHIM_GENERATED_INCLUDE` tells the tests
//! (and `make headers`) where the fresh ones are.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

#[path = "build/declarations.rs"]
mod declarations;

/// Headers that only include `libvirt.h`, for programs that name libvirt's sub-headers.
const THIN_HEADERS: &[&str] = &["libvirt-common.h", "libvirt-host.h", "libvirt-domain.h"];

/// The enumerations of `libvirt.h`, in the order the header declares them.
const LIBVIRT_ABI: &[&str] = &["src/abi/common.rs", "src/abi/event.rs", "src/abi/domain.rs"];

/// Files under `src/ffi/` (in any of its directories) that declare no C items of their own.
const NOT_C_API: &[&str] = &["mod.rs", "macros.rs"];

fn main() {
    let root = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let include = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR")).join("include");
    let out = include.join("libvirt");
    fs::create_dir_all(&out).expect("create $OUT_DIR/include/libvirt");

    for input in [
        "build.rs",
        "cbindgen-libvirt.toml",
        "cbindgen-virterror.toml",
        "src/abi/common.rs",
        "src/abi/event.rs",
        "src/abi/domain.rs",
        "src/abi/virterror.rs",
        "build/declarations.rs",
        // A directory: cargo reruns us when any file below it changes, appears or goes.
        "src/ffi",
    ] {
        println!("cargo:rerun-if-changed={input}");
    }

    let ffi = ffi_sources(&root.join("src/ffi"));
    let ffi = declared(
        &root.join("src/ffi"),
        ffi,
        &include.with_file_name("cbindgen"),
    );
    let (error_rs, other_ffi): (Vec<_>, Vec<_>) = ffi
        .into_iter()
        .partition(|(p, _)| p.file_name().is_some_and(|n| n == "error.rs"));

    let as_is = |f: &str| (root.join(f), root.join(f));
    let mut libvirt_src: Vec<_> = LIBVIRT_ABI.iter().map(|f| as_is(f)).collect();
    libvirt_src.extend(other_ffi);
    let mut virterror_src = vec![as_is("src/abi/virterror.rs")];
    virterror_src.extend(error_rs);

    generate(
        &root.join("cbindgen-libvirt.toml"),
        &libvirt_src,
        &out.join("libvirt.h"),
    );
    generate(
        &root.join("cbindgen-virterror.toml"),
        &virterror_src,
        &out.join("virterror.h"),
    );
    for name in THIN_HEADERS {
        write_if_changed(&out.join(name), &thin_header(name));
    }

    println!(
        "cargo:rustc-env=VIRSHIM_GENERATED_INCLUDE={}",
        include.display()
    );
}

/// The `.rs` files below `src/ffi/`, at any depth, that may hold C declarations, sorted
/// (by path) so the header's order does not depend on the file system.
fn ffi_sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue; // No C API yet: the headers carry the enumerations only.
        };
        for path in entries.map(|e| e.expect("read src/ffi").path()) {
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|x| x == "rs")
                && !NOT_C_API
                    .iter()
                    .any(|n| path.file_name().is_some_and(|f| f == *n))
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Writes what cbindgen is to read of each of `files` (under `root`) to the same path
/// under `out` (see `declarations`), and pairs each file with that copy. A file that does
/// not parse is copied as it is: rustc will report it.
fn declared(root: &Path, files: Vec<PathBuf>, out: &Path) -> Vec<(PathBuf, PathBuf)> {
    files
        .into_iter()
        .map(|src| {
            let text =
                fs::read_to_string(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
            let dest = out.join(src.strip_prefix(root).expect("a file of src/ffi"));
            fs::create_dir_all(dest.parent().expect("a file's directory"))
                .unwrap_or_else(|e| panic!("{}: {e}", dest.display()));
            write_if_changed(&dest, &declarations::rewrite(&text).unwrap_or(text));
            (src, dest)
        })
        .collect()
}

/// Runs cbindgen with the settings in `config` on `sources`, each a file and the copy of
/// it cbindgen is to read, exporting every libvirt-named item they declare, and writes the
/// header to `dest`.
fn generate(config: &Path, sources: &[(PathBuf, PathBuf)], dest: &Path) {
    let mut config =
        cbindgen::Config::from_file(config).unwrap_or_else(|e| panic!("{}: {e}", config.display()));
    let mut builder = cbindgen::Builder::new();
    for (src, input) in sources {
        let text = fs::read_to_string(src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        config.export.include.extend(libvirt_items(&text));
        builder = builder.with_src(input);
    }
    match builder.with_config(config).generate() {
        Ok(bindings) => {
            let mut header = Vec::new();
            bindings.write(&mut header);
            write_if_changed(
                dest,
                &String::from_utf8(header).expect("cbindgen wrote UTF-8"),
            );
        }
        // A file cbindgen cannot parse will not compile either: let rustc report it, and
        // leave no header behind, so the header test fails too.
        Err(e) => {
            println!(
                "cargo:warning=cbindgen could not generate {}: {e}",
                dest.display()
            );
            let _ = fs::remove_file(dest);
        }
    }
}

/// The names of the public items in `text` that carry libvirt's names (`vir*`, `_vir*`,
/// `VIR_*`, `LIBVIR_*`), one declaration per line as rustfmt writes them.
fn libvirt_items(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix("pub ")?;
            let rest = [
                "enum ",
                "struct ",
                "union ",
                "type ",
                "const ",
                "static mut ",
                "static ",
            ]
            .iter()
            .find_map(|kw| rest.strip_prefix(kw))?;
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let libvirt_named = ["vir", "_vir", "VIR_", "LIBVIR_"]
                .iter()
                .any(|p| name.starts_with(p));
            libvirt_named.then_some(name)
        })
        .collect()
}

fn thin_header(name: &str) -> String {
    let guard = format!(
        "LIBVIRT_{}",
        name.trim_end_matches(".h").trim_start_matches("libvirt-")
    )
    .to_ascii_uppercase()
    .replace('-', "_");
    format!(
        "/*\n * {name}: part of virshim's libvirt API, all of which libvirt.h declares.\n *\n \
         * Generated by build.rs. Do not edit: run `make headers`.\n */\n\n\
         #ifndef {guard}_H\n#define {guard}_H\n\n#include <libvirt/libvirt.h>\n\n\
         #endif /* {guard}_H */\n"
    )
}

/// Writes `text` to `path` unless it already holds it, keeping the mtime of a fresh file.
fn write_if_changed(path: &Path, text: &str) {
    if fs::read_to_string(path).is_ok_and(|old| old == text) {
        return;
    }
    fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}
