//! Compressed save images, as a libvirt host with `save_image_format` writes them: the
//! header's format field says gzip, bzip2, xz, lzop or zstd, and the compressed
//! migration stream follows the padding. A raw image of the test guest (8 MiB),
//! recompressed so, restores on the
//! QEMU driver with the guest's RAM intact (paused, then counting on); a truncated or
//! corrupt stream fails the restore in a few words and leaves no QEMU behind.
//!
//! Needs `qemu-system-x86_64`, `nasm` (see `common`) and `lzop`, which writes the lzop
//! images as libvirt has it write them (`lzop -c`): no maintained crate writes lzop files.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use virshim::abi::virDomainPausedReason::VIR_DOMAIN_PAUSED_MIGRATION;
use virshim::abi::virDomainState::*;
use virshim::abi::virErrorDomain::VIR_FROM_QEMU;
use virshim::abi::virErrorNumber::*;
use virshim::abi::{ConnectFlags, DomainState, NoFlags, SaveImageXmlFlags, SaveRestoreFlags};
use virshim::core::{Connection, Domain};
use virshim::drivers::qemu::image::{Format, SaveImage};

/// The guest's RAM: small, as it does not compress and every format compresses it.
const RAM_MIB: u64 = 8;

/// The test guest with [`RAM_MIB`], defined, started, its RAM filled.
fn small_guest(conn: &Connection, root: &Path, kernel: &Path) -> Domain {
    let dom = conn
        .define_xml(&guest_xml_mib("guest", UUID, kernel, RAM_MIB))
        .unwrap();
    dom.create().unwrap();
    wait_filled(&mut attach(root, "guest"), root);
    dom
}

fn compress(format: Format, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match format {
        Format::Gzip => {
            let mut e = flate2::write::GzEncoder::new(&mut out, flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap();
        }
        Format::Bzip2 => {
            let mut e = bzip2::write::BzEncoder::new(&mut out, bzip2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap();
        }
        Format::Xz => {
            let mut e = liblzma::write::XzEncoder::new(&mut out, 0);
            e.write_all(data).unwrap();
            e.finish().unwrap();
        }
        Format::Zstd => out = zstd::encode_all(data, 1).unwrap(),
        Format::Lzop => return lzop(data),
        _ => unreachable!("not a compressed format"),
    }
    out
}

/// `data` through `lzop -c`, as libvirt pipes the stream.
fn lzop(data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("lzop")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut out = Vec::new();
    std::thread::scope(|s| {
        let mut stdin = child.stdin.take().unwrap();
        s.spawn(move || stdin.write_all(data).unwrap());
        stdout.read_to_end(&mut out).unwrap();
    });
    assert!(child.wait().unwrap().success());
    out
}

/// `raw`'s image with its stream replaced by `stream`, marked as `format`.
fn recompressed(raw: &Path, format: Format, stream: impl FnOnce(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let bytes = fs::read(raw).unwrap();
    let (_, mut image) = SaveImage::open(raw).unwrap();
    let offset = image.stream_offset() as usize;
    image.header.format = format as u32;
    let mut out = image.encode().unwrap();
    assert_eq!(out.len(), offset);
    out.extend(stream(&bytes[offset..]));
    out
}

#[test]
fn compressed_images_restore_with_the_guests_ram() {
    let Some((_qemu, kernel)) = tools() else {
        return;
    };
    if require("lzop").is_none() {
        return;
    }
    let (_serial, _stragglers, root) = setup("compressed");
    let conn = open(&root);
    let dom = small_guest(&conn, &root, &kernel);
    let raw = root.join("raw.save");
    dom.save(&raw).unwrap();

    for format in [
        Format::Gzip,
        Format::Bzip2,
        Format::Xz,
        Format::Lzop,
        Format::Zstd,
    ] {
        let path = root.join(format!("{}.save", format.name()));
        fs::write(&path, recompressed(&raw, format, |s| compress(format, s))).unwrap();
        // The XML calls read it as any image.
        let xml = conn
            .save_image_xml_desc(&path, SaveImageXmlFlags::empty())
            .unwrap();
        assert!(xml.contains("<name>guest</name>"), "{xml}");

        conn.restore_flags(&path, None, SaveRestoreFlags::PAUSED)
            .unwrap_or_else(|e| panic!("{format:?}: {}", e.message));
        let dom = conn.lookup_by_name("guest").unwrap();
        assert_eq!(
            dom.state(NoFlags::empty()).map(DomainState::raw).unwrap(),
            (VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_MIGRATION as i32)
        );
        let mut q = attach(&root, "guest");
        let ram = read_phys(&mut q, &root, 0, RAM_MIB << 20);
        let status = Status::in_ram(&ram);
        assert_eq!(&status.marker, b"FILLDONE", "{format:?}");
        check_stream(&ram, status.end as usize);
        resume_and_count(&mut q, &root, status.counter);
        drop(q);
        let pid = pid_of(&root, "guest");
        dom.destroy().unwrap();
        assert_gone(pid);
    }

    // Damaged streams: the restore fails, saying so, and no QEMU stays.
    let whole = recompressed(&raw, Format::Gzip, |s| compress(Format::Gzip, s));
    let (_, image) = SaveImage::open(&raw).unwrap();
    let offset = image.stream_offset() as usize;
    let truncated = &whole[..offset + (whole.len() - offset) / 2];
    let mut corrupt = whole.clone();
    let middle = offset + (whole.len() - offset) / 2;
    corrupt[middle..middle + 64].fill(0x55);
    let not_qemu = recompressed(&raw, Format::Gzip, |_| compress(Format::Gzip, &[7; 4096]));
    let mut lzop_corrupt = recompressed(&raw, Format::Lzop, lzop);
    let middle = offset + (lzop_corrupt.len() - offset) / 2;
    lzop_corrupt[middle..middle + 64].fill(0x55);
    for (case, bytes, words) in [
        ("truncated", truncated, "truncated"),
        ("corrupt", &corrupt[..], "corrupt"),
        ("lzop-corrupt", &lzop_corrupt[..], "corrupt"),
        ("not-qemu", &not_qemu[..], "holds no QEMU migration stream"),
    ] {
        let path = root.join(format!("{case}.save"));
        fs::write(&path, bytes).unwrap();
        let err = conn.restore(&path).fails();
        assert_eq!(err.domain, VIR_FROM_QEMU, "{case}: {}", err.message);
        assert!(err.message.contains(words), "{case}: {}", err.message);
        assert!(!root.join("run/qemu/guest").exists(), "{case}: QEMU left");
        let dom = conn.lookup_by_name("guest").unwrap();
        assert_eq!(
            dom.state(NoFlags::empty()).unwrap().state(),
            VIR_DOMAIN_SHUTOFF
        );
    }
    fs::remove_dir_all(&root).unwrap();
}

/// With `save_image_format` in the root's `etc/qemu.conf`, saves are written compressed
/// (header and stream as libvirt writes them: the programs' own tools accept the stream)
/// and restore with the guest's RAM; a format virshim cannot write, or one libvirt does
/// not know, fails the save before the guest is touched.
#[test]
fn saves_are_compressed_as_qemu_conf_says() {
    let Some((_qemu, kernel)) = tools() else {
        return;
    };
    let (_serial, _stragglers, root) = setup("compress-save");
    fs::create_dir_all(root.join("etc")).unwrap();
    let conf = root.join("etc/qemu.conf");
    for (format, tester) in [
        (Format::Gzip, "gzip"),
        (Format::Bzip2, "bzip2"),
        (Format::Xz, "xz"),
        (Format::Zstd, "zstd"),
    ] {
        fs::write(
            &conf,
            format!("save_image_format = \"{}\"\n", format.name()),
        )
        .unwrap();
        let conn = open(&root);
        let dom = match conn.lookup_by_name("guest") {
            Ok(dom) => {
                dom.create().unwrap();
                wait_filled(&mut attach(&root, "guest"), &root);
                dom
            }
            Err(_) => small_guest(&conn, &root, &kernel),
        };
        let path = root.join(format!("{}.save", format.name()));
        dom.save(&path).unwrap();
        let (_, image) = SaveImage::open(&path).unwrap();
        assert_eq!(image.header.format, format as u32);
        let stream = fs::read(&path).unwrap()[image.stream_offset() as usize..].to_vec();
        let stream_file = root.join("stream");
        fs::write(&stream_file, stream).unwrap();
        let tested = std::process::Command::new(require(tester).unwrap())
            .arg("-t")
            .arg(&stream_file)
            .status()
            .unwrap();
        assert!(tested.success(), "{tester} -t refuses virshim's stream");

        conn.restore(&path).unwrap();
        let mut q = attach(&root, "guest");
        pause(&mut q);
        let ram = read_phys(&mut q, &root, 0, RAM_MIB << 20);
        let status = Status::in_ram(&ram);
        assert_eq!(&status.marker, b"FILLDONE", "{format:?}");
        check_stream(&ram, status.end as usize);
        drop(q);
        dom.destroy().unwrap();
    }

    for (value, code) in [
        ("lzop", VIR_ERR_OPERATION_UNSUPPORTED),
        ("zip", VIR_ERR_OPERATION_FAILED),
    ] {
        fs::write(&conf, format!("save_image_format = \"{value}\"\n")).unwrap();
        let conn = open(&root);
        let dom = conn.lookup_by_name("guest").unwrap();
        dom.create().unwrap();
        let err = dom.save(&root.join("refused.save")).fails();
        assert_eq!(
            (err.code, err.domain),
            (code, VIR_FROM_QEMU),
            "{}",
            err.message
        );
        assert_eq!(
            dom.state(NoFlags::empty()).map(DomainState::raw).unwrap(),
            (VIR_DOMAIN_RUNNING, 1),
            "{value}: the guest was touched"
        );
        dom.destroy().unwrap();
    }
    fs::write(&conf, "save_image_format = \n").unwrap();
    let err = connect(&embed_uri(&root), ConnectFlags::empty()).fails();
    assert_eq!(err.code, VIR_ERR_CONF_SYNTAX, "{}", err.message);
    fs::remove_dir_all(&root).unwrap();
}
