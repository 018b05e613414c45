//! Packaging tests: what a C user of libvirt meets before any call runs.
//!
//! - The committed headers in `include/libvirt/` are what build.rs generates now.
//! - They compile, alone and in either order, as C99 and C++, and declare what libvirt 9.0's
//!   headers declare: the same enumerator values, struct layouts and function types, and
//!   every function of libvirt's API.
//! - The built `libvirt.so.0` exports libvirt's symbols in libvirt's version nodes and
//!   nothing else; a program linked against the system's libvirt with full RELRO runs on
//!   it, even one that binds every function of libvirt's API; an install of virshim builds
//!   libvirt programs through pkg-config and has the API description its `libvirt.pc` names.
//!
//! The library tests use `VIRSHIM_LIBDIR` and `VIRSHIM_PREFIX` (set by `make test`,
//! defaulting to `target/virshim/lib` and `target/virshim/prefix`). Without a built library
//! they are skipped with a note, unless `CI=true` or `VIRSHIM_REQUIRE_LIB` is set, as
//! `make test` does.
//! The comparisons with libvirt 9.0 need Debian's `libvirt-dev`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::scratch;

const GENERATED: &str = env!("VIRSHIM_GENERATED_INCLUDE");
const SYSTEM_HEADER: &str = "/usr/include/libvirt/libvirt.h";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn committed_include() -> PathBuf {
    root().join("include")
}

/// Runs `cmd`, failing the test with its output unless it exits 0.
fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({})\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The `*.h` files of `dir`, by name.
fn headers_in(dir: &Path) -> BTreeMap<String, String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "h"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read_to_string(&p).unwrap())
        })
        .collect()
}

#[test]
fn committed_headers_are_current() {
    let fresh = headers_in(&Path::new(GENERATED).join("libvirt"));
    let committed = headers_in(&committed_include().join("libvirt"));
    assert!(
        fresh.contains_key("libvirt.h"),
        "build.rs generated no headers in {GENERATED}"
    );

    let mut stale = Vec::new();
    let names: BTreeSet<&String> = fresh.keys().chain(committed.keys()).collect();
    for name in names {
        match (fresh.get(name), committed.get(name)) {
            (Some(a), Some(b)) if a == b => {}
            (Some(a), Some(b)) => {
                let (line, (new, old)) = a
                    .lines()
                    .chain(std::iter::repeat(""))
                    .zip(b.lines().chain(std::iter::repeat("")))
                    .enumerate()
                    .find(|(_, (x, y))| x != y)
                    .unwrap();
                stale.push(format!(
                    "include/libvirt/{name} differs from line {}:\n  committed: {old}\n  generated: {new}",
                    line + 1
                ));
            }
            (Some(_), None) => stale.push(format!("include/libvirt/{name} is missing")),
            (None, Some(_)) => stale.push(format!("include/libvirt/{name} is no longer generated")),
            (None, None) => unreachable!(),
        }
    }
    assert!(
        stale.is_empty(),
        "the committed headers are stale: run `make headers` and commit include/libvirt/\n{}",
        stale.join("\n")
    );
}

/// Compiles `source` with the committed headers, as C99 (or C++ if `cxx`), warnings as
/// errors.
fn compile_with_our_headers(test: &str, source: &str, cxx: bool) {
    let dir = scratch(test);
    let file = dir.join(if cxx { "t.cc" } else { "t.c" });
    fs::write(&file, source).unwrap();
    let mut cmd = Command::new(if cxx { "c++" } else { "cc" });
    cmd.arg(if cxx { "-std=c++11" } else { "-std=c99" })
        .args([
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-fsyntax-only",
            "-I",
        ])
        .arg(committed_include())
        .arg(&file);
    run(&mut cmd);
}

#[test]
fn headers_compile_alone_and_in_either_order() {
    let check_version = "
#if !LIBVIR_CHECK_VERSION(9, 0, 0) || LIBVIR_CHECK_VERSION(9, 0, 1) || LIBVIR_VERSION_NUMBER != 9000000
#error LIBVIR_CHECK_VERSION or LIBVIR_VERSION_NUMBER does not say 9.0.0
#endif
int main(void) { return (int)VIR_DOMAIN_RUNNING + (int)VIR_ERR_OK; }
";
    let orders = [
        ("libvirt_only", "#include <libvirt/libvirt.h>\n"),
        ("virterror_only", "#include <libvirt/virterror.h>\n"),
        ("virterror_first", "#include <libvirt/virterror.h>\n#include <libvirt/libvirt.h>\n"),
        ("libvirt_first", "#include <libvirt/libvirt.h>\n#include <libvirt/virterror.h>\n"),
        ("sub_headers", "#include <libvirt/libvirt-common.h>\n#include <libvirt/libvirt-host.h>\n#include <libvirt/libvirt-domain.h>\n"),
    ];
    for (name, includes) in orders {
        compile_with_our_headers(
            &format!("c_{name}"),
            &format!("{includes}{check_version}"),
            false,
        );
        compile_with_our_headers(
            &format!("cxx_{name}"),
            &format!("{includes}{check_version}"),
            true,
        );
    }
}

/// What the committed headers declare, read back from their text (cbindgen's layout: one
/// enumerator or field per line, `} name;` closing a typedef).
#[derive(Default)]
struct Declared {
    enumerators: Vec<String>,
    enums: Vec<String>,
    /// Struct typedef name, then its fields.
    structs: Vec<(String, Vec<String>)>,
    /// Function declarations, whitespace-normalised, without the final `;`.
    functions: Vec<String>,
}

fn declared() -> Declared {
    let mut d = Declared::default();
    for name in ["libvirt.h", "virterror.h"] {
        let text = fs::read_to_string(committed_include().join("libvirt").join(name)).unwrap();
        let mut block: Option<(&str, Vec<String>)> = None;
        let mut statement = String::new();
        let mut in_comment = false;
        let mut in_directive = false;
        for line in text.lines() {
            let t = line.trim();
            if in_comment || t.starts_with("/*") {
                in_comment = !t.contains("*/");
                continue;
            }
            if in_directive || t.starts_with('#') {
                in_directive = t.ends_with('\\');
                continue;
            }
            let extern_c =
                t == "extern \"C\" {" || t.starts_with('}') && t.contains("extern \"C\"");
            if t.is_empty() || t.starts_with("//") || extern_c {
                continue;
            }
            if t == "typedef enum {" || t == "typedef struct {" {
                block = Some((
                    if t.contains("enum") { "enum" } else { "struct" },
                    Vec::new(),
                ));
                continue;
            }
            if let Some((kind, members)) = block.as_mut() {
                if let Some(name) = t.strip_prefix("} ").and_then(|r| r.strip_suffix(';')) {
                    if *kind == "enum" {
                        d.enums.push(name.to_string());
                    } else {
                        d.structs.push((name.to_string(), std::mem::take(members)));
                    }
                    block = None;
                } else if *kind == "enum" {
                    d.enumerators
                        .push(t.split([' ', '=', ',']).next().unwrap().to_string());
                } else {
                    // `char field[LEN];` names `field`, the whole array.
                    let decl = t.trim_end_matches(';').split('[').next().unwrap();
                    let field = decl.rsplit([' ', '*']).next().unwrap();
                    members.push(field.to_string());
                }
                continue;
            }
            if t.starts_with("typedef ") || t.starts_with("extern ") {
                continue;
            }
            statement.push_str(t);
            statement.push(' ');
            if t.ends_with(';') {
                let decl = statement.trim().trim_end_matches(';').to_string();
                if decl.contains('(') {
                    d.functions.push(decl);
                }
                statement.clear();
            }
        }
    }
    d
}

/// Builds `source` against the given include directory (None: the system's) and returns
/// what it prints.
fn build_and_run(dir: &Path, name: &str, source: &str, include: Option<&Path>) -> String {
    let file = dir.join(format!("{name}.c"));
    let exe = dir.join(name);
    fs::write(&file, source).unwrap();
    let mut cmd = Command::new("cc");
    cmd.args(["-std=gnu99", "-w"]);
    if let Some(inc) = include {
        cmd.arg("-I").arg(inc);
    }
    run(cmd.arg("-o").arg(&exe).arg(&file));
    stdout(&run(&mut Command::new(&exe)))
}

fn require_system_headers() {
    assert!(
        Path::new(SYSTEM_HEADER).exists(),
        "{SYSTEM_HEADER} is missing: install Debian's libvirt-dev (libvirt 9.0) to compare with it"
    );
}

#[test]
fn enumerators_and_struct_layouts_match_libvirt() {
    require_system_headers();
    let d = declared();
    assert!(
        d.enumerators.len() > 100,
        "found only {} enumerators",
        d.enumerators.len()
    );
    let mut body = String::new();
    for e in &d.enumerators {
        body += &format!("    printf(\"%s = %lld\\n\", \"{e}\", (long long){e});\n");
    }
    for t in &d.enums {
        body += &format!("    printf(\"sizeof({t}) = %zu\\n\", sizeof({t}));\n");
    }
    for (t, fields) in &d.structs {
        body += &format!("    printf(\"sizeof({t}) = %zu\\n\", sizeof({t}));\n");
        for f in fields {
            body += &format!(
                "    printf(\"{t}.{f}: offset %zu, size %zu\\n\", offsetof({t}, {f}), \
                 sizeof(((({t} *)0)->{f})));\n"
            );
        }
    }
    let source = format!(
        "#include <stddef.h>\n#include <stdio.h>\n#include <libvirt/libvirt.h>\n\
         #include <libvirt/virterror.h>\nint main(void) {{\n{body}    return 0;\n}}\n"
    );
    let dir = scratch("layouts");
    let ours = build_and_run(&dir, "ours", &source, Some(&committed_include()));
    let theirs = build_and_run(&dir, "libvirt", &source, None);
    let diff: Vec<String> = ours
        .lines()
        .zip(theirs.lines())
        .filter(|(a, b)| a != b)
        .map(|(a, b)| format!("  virshim: {a}\n  libvirt: {b}"))
        .collect();
    assert!(
        diff.is_empty(),
        "virshim's headers differ from libvirt 9.0's:\n{}",
        diff.join("\n")
    );
}

/// libvirt's public function names, from the committed symbol table.
fn libvirt_functions() -> Vec<String> {
    fs::read_to_string(root().join("data/libvirt-public-symbols.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && l.ends_with(" func"))
        .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
        .collect()
}

#[test]
fn function_declarations_match_libvirt() {
    require_system_headers();
    let libvirt = libvirt_functions();
    let mut checks = String::new();
    let mut checked = 0;
    let mut missing: BTreeSet<&str> = libvirt.iter().map(String::as_str).collect();
    for decl in declared().functions {
        let open = decl.find('(').unwrap();
        let name = decl[..open].rsplit([' ', '*']).next().unwrap();
        if !missing.remove(name) {
            continue; // virshim's own addition: nothing to compare with
        }
        // `int virX(args)` becomes `int (*check_virX)(args) = virX;`, which the compiler
        // accepts only if the two function types are compatible.
        let prefix = &decl[..open - name.len()];
        checks += &format!("{prefix}(*check_{name}){} = {name};\n", &decl[open..]);
        checked += 1;
    }
    let source = format!(
        "#include <libvirt/libvirt.h>\n#include <libvirt/virterror.h>\n{checks}int main(void) {{ return 0; }}\n"
    );
    let dir = scratch("functions");
    let file = dir.join("functions.c");
    fs::write(&file, &source).unwrap();
    // Against libvirt's own headers.
    run(Command::new("cc")
        .args([
            "-std=gnu99",
            "-fsyntax-only",
            "-Werror=incompatible-pointer-types",
        ])
        .args(["-Werror=discarded-qualifiers", "-Werror=int-conversion"])
        .arg(&file));
    assert!(
        missing.is_empty(),
        "libvirt functions the headers do not declare: {missing:?}"
    );
    eprintln!("{checked} function declarations have libvirt 9.0's types");
}

#[test]
fn library_exports_libvirt_symbols_in_libvirt_nodes_only() {
    let Some(lib) = common::built_library() else {
        return;
    };
    run(Command::new("python3")
        .arg(root().join("scripts/check-exports.py"))
        .arg(lib.join("libvirt.so.0"))
        .arg(root().join("data/libvirt-public-symbols.txt")));
}

/// A libvirt program that prints the version and which file `virGetVersion` came from.
const WHERE_FROM: &str = r#"#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <libvirt/libvirt.h>

int main(void)
{
    unsigned long version = 0;
    Dl_info info;
    if (virGetVersion(&version, NULL, NULL) < 0 || !dladdr((void *)virGetVersion, &info))
        return 1;
    printf("%lu %s\n", version, info.dli_fname);
    return 0;
}
"#;

/// Runs `exe` with `libdir` first in the search path; checks that it runs silently (no loader
/// message), reports libvirt 9.0.0 and binds virGetVersion from `libdir`.
fn runs_on_virshim(exe: &Path, libdir: &Path) {
    let out = run(Command::new(exe).env("LD_LIBRARY_PATH", libdir));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.is_empty(),
        "{} printed on stderr:\n{stderr}",
        exe.display()
    );
    let text = stdout(&out);
    let (version, from) = text.trim().split_once(' ').unwrap();
    assert_eq!(version, "9000000");
    let from = fs::canonicalize(from).unwrap();
    assert!(
        from.starts_with(fs::canonicalize(libdir).unwrap()),
        "virGetVersion came from {}, not from {}",
        from.display(),
        libdir.display()
    );
}

#[test]
fn program_linked_against_system_libvirt_runs_on_virshim() {
    let Some(lib) = common::built_library() else {
        return;
    };
    require_system_headers();
    let dir = scratch("system_linked");
    let file = dir.join("where.c");
    let exe = dir.join("where");
    fs::write(&file, WHERE_FROM).unwrap();
    let flags = stdout(&run(Command::new("pkg-config")
        .env_remove("PKG_CONFIG_PATH")
        .args(["--cflags", "--libs", "libvirt"])));
    // Full RELRO: every symbol and version is resolved at load time.
    run(Command::new("cc")
        .arg("-o")
        .arg(&exe)
        .arg(&file)
        .args(flags.split_whitespace())
        .args(["-Wl,-z,relro", "-Wl,-z,now"]));
    runs_on_virshim(&exe, &lib);
}

/// A program that refers to every function of libvirt's API, then calls two that virshim
/// does not implement and prints the errors.
fn every_function_program() -> String {
    let refs: String = libvirt_functions()
        .iter()
        .map(|f| format!("    (void (*)(void))&{f},\n"))
        .collect();
    format!(
        r#"#include <stdio.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

static void (*const all[])(void) = {{
{refs}}};

static void quiet(void *data, virErrorPtr err) {{ (void)data; (void)err; }}

int main(void)
{{
    virSetErrorFunc(NULL, quiet);
    virConnectPtr conn = virConnectOpen("test:///default");
    virDomainPtr dom = virDomainLookupByName(conn, "test");
    char garbage[64];
    if (!conn || !dom)
        return 1;
    if (virConnectGetHostname(conn) == NULL)
        printf("%d %d %s\n", virGetLastErrorCode(), virGetLastErrorDomain(), virGetLastErrorMessage());
    if (virDomainScreenshot(dom, (virStreamPtr)garbage, 0, 0) == NULL)
        printf("%d %d %s\n", virGetLastErrorCode(), virGetLastErrorDomain(), virGetLastErrorMessage());
    printf("%zu functions\n", sizeof(all) / sizeof(all[0]));
    virDomainFree(dom);
    virConnectClose(conn);
    return 0;
}}
"#
    )
}

#[test]
fn every_libvirt_function_binds_from_virshim_with_bind_now() {
    let Some(lib) = common::built_library() else {
        return;
    };
    require_system_headers();
    let dir = scratch("every_function");
    let file = dir.join("all.c");
    let exe = dir.join("all");
    fs::write(&file, every_function_program()).unwrap();
    let flags = stdout(&run(Command::new("pkg-config")
        .env_remove("PKG_CONFIG_PATH")
        .args(["--cflags", "--libs", "libvirt"])));
    // Built and linked against the system's libvirt, with full RELRO: the loader binds every
    // function, at its version, before main runs.
    run(Command::new("cc")
        .arg("-o")
        .arg(&exe)
        .arg(&file)
        .args(flags.split_whitespace())
        .args(["-Wl,-z,relro", "-Wl,-z,now"]));
    let out = run(Command::new(&exe).env("LD_LIBRARY_PATH", &lib));
    assert!(
        out.stderr.is_empty(),
        "{} printed on stderr:\n{}",
        exe.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let unsupported = "3 20 this function is not supported by the connection driver:";
    assert_eq!(
        stdout(&out),
        format!(
            "{unsupported} virConnectGetHostname\n{unsupported} virDomainScreenshot\n\
             {} functions\n",
            libvirt_functions().len()
        )
    );
}

#[test]
fn installed_virshim_builds_libvirt_programs_with_pkg_config() {
    let Some(_) = common::built_library() else {
        return;
    };
    let prefix = env::var_os("VIRSHIM_PREFIX")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/virshim/prefix"));
    let pc_dir = prefix.join("lib/pkgconfig");
    assert!(
        pc_dir.join("libvirt.pc").exists(),
        "no libvirt.pc in {}: run `make install PREFIX={}`",
        pc_dir.display(),
        prefix.display()
    );
    let pkg_config = |args: &[&str]| {
        stdout(&run(Command::new("pkg-config")
            .env("PKG_CONFIG_PATH", &pc_dir)
            .args(args)))
        .trim()
        .to_string()
    };
    assert_eq!(pkg_config(&["--modversion", "libvirt"]), "9.0.0");
    let api = pkg_config(&["--variable=libvirt_api", "libvirt"]);
    assert!(
        api.ends_with("/share/libvirt/api/libvirt-api.xml"),
        "libvirt_api = {api}"
    );
    // The API description is installed, names every function, and carries no doc text.
    let description = fs::read_to_string(&api).unwrap_or_else(|e| panic!("{api}: {e}"));
    assert!(
        description.contains("<api name=\"libvirt\">"),
        "{api} is no API description"
    );
    assert_eq!(
        description.matches("<function ").count(),
        libvirt_functions().len(),
        "{api} does not describe every function"
    );
    assert!(
        !description.contains("<info>"),
        "{api} carries documentation text"
    );

    let dir = scratch("pkg_config");
    let file = dir.join("where.c");
    let exe = dir.join("where");
    fs::write(&file, WHERE_FROM).unwrap();
    let flags = pkg_config(&["--cflags", "--libs", "libvirt"]);
    // The program must see virshim's headers, not the system's.
    let deps = stdout(&run(Command::new("cc")
        .arg("-M")
        .arg(&file)
        .args(flags.split_whitespace())));
    let ours = fs::canonicalize(prefix.join("include/libvirt/libvirt.h")).unwrap();
    assert!(
        deps.split_whitespace()
            .any(|d| fs::canonicalize(d).is_ok_and(|d| d == ours)),
        "{} was not compiled with {}:\n{deps}",
        file.display(),
        ours.display()
    );
    run(Command::new("cc")
        .arg("-Wall")
        .arg("-o")
        .arg(&exe)
        .arg(&file)
        .args(flags.split_whitespace()));
    runs_on_virshim(&exe, &prefix.join("lib"));
}
