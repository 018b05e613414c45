//! Save images of a libvirt 9.0 host in its default configuration (cgroups and the DAC
//! security driver on), recorded by `tests/realhost/record.sh` from a private system
//! daemon once per `save_image_format`, held against virshim's QEMU driver: its
//! `virDomainSaveImageGetXMLDesc` must give libvirt's output byte for byte, with and without
//! `VIR_DOMAIN_SAVE_IMAGE_XML_SECURE`, and `virDomainSaveImageDefineXML` with libvirt's own
//! XML must leave an image libvirt still reads the same (issue 11); the images restore on
//! virshim as the host wrote them (raw, gzip, bzip2, xz, lzop).
//!
//! The recording needs root, libvirt's daemon and QEMU driver, its Python binding, QEMU
//! and the compressors (Debian: libvirt-daemon libvirt-daemon-driver-qemu python3-libvirt
//! qemu-system-x86 bzip2 xz-utils lzop); without them the tests skip, or fail under
//! `CI=true`. The fixtures of `tests/realhost/fixtures` need nothing.

mod common;

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::*;
use virshim::abi::virErrorDomain::VIR_FROM_SECURITY;
use virshim::abi::virErrorNumber::VIR_ERR_CONFIG_UNSUPPORTED;
use virshim::abi::{ConnectFlags, SaveImageXmlFlags, SaveRestoreFlags, XmlFlags};
use virshim::core::Connection;
use virshim::drivers::qemu::image::SaveImage;

/// The images and the header's `compressed` value libvirt 9.0 writes for each.
const FORMATS: [(&str, u32); 5] = [
    ("raw", 0),
    ("gzip", 1),
    ("bzip2", 2),
    ("xz", 3),
    ("lzop", 4),
];
/// Every recorded image: the five formats and the guest that names its DAC label.
const STEMS: [&str; 6] = ["raw", "raw-seclabel", "gzip", "bzip2", "xz", "lzop"];

fn realhost() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/realhost")
}

/// The recording of this test run (made once, by the first test that asks), or `None`
/// when the test must skip.
fn recording() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        require_root("a private libvirt daemon")?;
        require_file("/usr/sbin/libvirtd", "libvirt-daemon")?;
        require_file(
            "/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so",
            "libvirt-daemon-driver-qemu",
        )?;
        require_file(
            "/usr/lib/python3/dist-packages/libvirt.py",
            "python3-libvirt",
        )?;
        qemu_binary()?;
        for tool in ["bzip2", "xz", "lzop", "unshare", "taskset"] {
            require(tool)?;
        }
        let dir = scratch("recording");
        run_script(&[dir.clone().into()]);
        Some(dir)
    })
    .as_deref()
}

fn run_script(args: &[OsString]) {
    let out = Command::new(realhost().join("record.sh"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "record.sh failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// virshim's QEMU driver on a root of its own.
fn virshim(test: &str) -> (Connection, PathBuf) {
    let dir = scratch(test);
    let root = dir.join("root");
    (
        connect(&embed_uri(&root), ConnectFlags::empty()).unwrap(),
        dir,
    )
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap()
}

/// libvirt's `STEM.xml` of the image `STEM.img` in `dir`.
fn libvirts_xml(dir: &Path, stem: &str) -> String {
    read(&dir.join(format!("{stem}.xml")))
}

/// The host-side element libvirt's daemon writes into every image (which virshim's QEMU
/// driver refuses today).
const RESOURCE: &str = "  <resource>\n    <partition>/machine</partition>\n  </resource>\n";

#[test]
fn images_have_libvirts_headers_and_xml() {
    let Some(dir) = recording() else { return };
    let raw = libvirts_xml(dir, "raw");
    assert!(raw.contains(RESOURCE));
    for (stem, compressed) in FORMATS {
        let (_, image) = SaveImage::open(&dir.join(format!("{stem}.img"))).unwrap();
        assert_eq!(image.header.format, compressed, "{stem}");
        assert!(image.header.was_running, "{stem}");
        // libvirt shows the same domain whatever the stream's compression, secure or not.
        assert_eq!(libvirts_xml(dir, stem), raw, "{stem}");
        assert_eq!(read(&dir.join(format!("{stem}.secure.xml"))), raw, "{stem}");
    }
    // The daemon ran the guest in cgroups it made for it (v1 or v2).
    let cgroups = read(&dir.join("cgroups.txt"));
    let placed = |line: &&str| line.contains(":/machine/qemu-1-realhost.libvirt-qemu");
    let ours: Vec<&str> = cgroups.lines().filter(placed).collect();
    assert!(!ours.is_empty(), "{cgroups}");
    assert!(
        ours.iter().all(|line| line.ends_with("\texists")),
        "{cgroups}"
    );
}

#[test]
fn image_xml_is_libvirts() {
    let Some(dir) = recording() else { return };
    let (conn, _scratch) = virshim("xml");
    for stem in STEMS {
        for (flags, libvirts) in [
            (SaveImageXmlFlags::empty(), "xml"),
            (SaveImageXmlFlags::SECURE, "secure.xml"),
        ] {
            let image = dir.join(format!("{stem}.img"));
            let ours = conn.save_image_xml_desc(&image, flags);
            let ours = ours.unwrap_or_else(|e| panic!("{stem}: {}", e.message));
            assert_eq!(
                ours,
                read(&dir.join(format!("{stem}.{libvirts}"))),
                "{stem}"
            );
        }
    }
}

#[test]
fn image_defined_with_libvirts_xml_reads_the_same_on_libvirt() {
    let Some(dir) = recording() else { return };
    let (conn, scratch) = virshim("define");
    let mut args = vec![OsString::from("--read"), scratch.clone().into()];
    for stem in STEMS {
        let image = scratch.join(format!("{stem}.img"));
        fs::copy(dir.join(format!("{stem}.img")), &image).unwrap();
        conn.save_image_define_xml(&image, &libvirts_xml(dir, stem), SaveRestoreFlags::empty())
            .unwrap_or_else(|e| panic!("{stem}: {}", e.message));
        args.push(image.into());
    }
    run_script(&args);
    for stem in STEMS {
        for libvirts in ["xml", "secure.xml"] {
            let again = read(&scratch.join(format!("{stem}.img.{libvirts}")));
            assert_eq!(
                again,
                read(&dir.join(format!("{stem}.{libvirts}"))),
                "{stem}"
            );
        }
    }
}

/// Every image restores as the host wrote it (`<resource>` kept), compressed ones
/// included, and a guest that names its DAC label is refused as libvirt 9.0 refuses it with
/// no security driver (virshim runs none).
#[test]
fn images_restore_as_the_host_wrote_them() {
    let Some(dir) = recording() else { return };
    let (conn, scratch) = virshim("restore");
    for stem in STEMS {
        let image = scratch.join(format!("{stem}.img"));
        fs::copy(dir.join(format!("{stem}.img")), &image).unwrap();
        let restored = conn.restore(&image);
        match stem {
            "raw-seclabel" => {
                let err = restored.fails();
                assert_eq!(
                    (err.code, err.domain),
                    (VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_SECURITY)
                );
                assert_eq!(
                    err.message,
                    "unsupported configuration: Security driver model 'dac' is not available"
                );
            }
            _ => {
                restored.unwrap_or_else(|e| panic!("{stem}: {}", e.message));
                let dom = conn.lookup_by_name("realhost").unwrap();
                assert!(dom.is_active().unwrap(), "{stem}");
                let live = dom.xml_desc(XmlFlags::empty()).unwrap();
                assert!(live.contains("<partition>/machine</partition>"), "{live}");
                dom.destroy().unwrap();
                continue;
            }
        }
        assert!(conn.lookup_by_name("realhost").is_err(), "{stem}");
    }
}

/// The committed fixtures: a real host's image data sections, read without a daemon.
#[test]
fn fixtures_xml_is_libvirts() {
    let (conn, scratch) = virshim("fixtures");
    let fixtures = realhost().join("fixtures");
    for stem in ["raw", "raw-seclabel"] {
        let image = scratch.join(format!("{stem}.img"));
        fs::copy(fixtures.join(format!("{stem}.head")), &image).unwrap();
        let ours = conn.save_image_xml_desc(&image, SaveImageXmlFlags::empty());
        let ours = ours.unwrap_or_else(|e| panic!("{stem}: {}", e.message));
        assert_eq!(ours, libvirts_xml(&fixtures, stem), "{stem}");
    }
}
