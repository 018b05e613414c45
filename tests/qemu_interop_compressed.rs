//! Compressed save images cross between libvirt 9.0's embedded QEMU driver and virshim's,
//! both ways, each side writing as `save_image_format` in its own qemu.conf says (libvirt
//! pipes the stream through the external gzip, bzip2, xz and lzop programs, virshim
//! compresses in process). One guest (`tests/guest/guest.asm`, 8 MiB, TCG) travels to
//! and fro: libvirt saves it in a format, virshim restores it and saves it in the same
//! format, libvirt restores that and saves in the next; after each restore its RAM is its
//! fill and its counter goes on. The two images of a format hold the same header, XML and
//! cookie.
//!
//! Needs what `common::libvirt` needs, and gzip, bzip2, xz and lzop; without them the test
//! skips, or fails under `CI=true`.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use common::libvirt::*;
use common::*;
use virshim::drivers::qemu::image::{Format, SaveImage};

/// libvirt's save of the guest in `format`: it restores `from` (virshim's image and the
/// guest's status when saved) or, first, starts the guest; returns its image and the
/// guest's status before the save.
fn libvirt_saves(dirs: &Dirs, format: Format, from: Option<(&Path, &Status)>) -> (PathBuf, Status) {
    dirs.configure(&format!("save_image_format = \"{}\"\n", format.name()));
    let mut libvirt = Libvirt::open(dirs);
    let before = match from {
        Some((image, status)) => {
            let t = Instant::now();
            libvirt.call("restore", serde_json::json!(image));
            eprintln!("libvirt restored in {:.2} s", t.elapsed().as_secs_f64());
            libvirt.check_restored(dirs, status, true)
        }
        None => {
            libvirt.call("create", dirs.xml().into());
            libvirt.wait_filled()
        }
    };
    let pid = libvirt.qemu_pid(dirs);
    let image = dirs.base.join(format!("libvirt.{}", format.name()));
    let t = Instant::now();
    libvirt.call("save", serde_json::json!([NAME, image, 0]));
    image_note("libvirt", &image, t.elapsed());
    drop(libvirt);
    assert_gone(pid);
    (image, before)
}

/// The header of an image, checked to say `format` and a running guest.
fn header_of(image: &Path, format: Format) -> SaveImage {
    let (_, parsed) = SaveImage::open(image).unwrap();
    assert_eq!(parsed.header.format, format as u32, "{}", image.display());
    assert!(parsed.header.was_running);
    parsed
}

#[test]
fn compressed_images_cross_both_ways_with_the_guests_ram() {
    let Some(kernel) = interop_tools() else {
        return;
    };
    let programs = ["gzip", "bzip2", "xz", "lzop"];
    if programs.into_iter().any(|p| require(p).is_none()) {
        return;
    }
    let _serial = serial();
    let started = Instant::now();
    // 8 MiB: the guest's fill does not compress; xz takes up to a second a MiB here.
    let dirs = Dirs::sized("cz", &kernel, 8);
    let _stragglers = Stragglers(dirs.base.clone());

    let mut from: Option<(PathBuf, Status)> = None;
    for format in [Format::Gzip, Format::Bzip2, Format::Xz] {
        let (theirs, before) =
            libvirt_saves(&dirs, format, from.as_ref().map(|(p, s)| (p.as_path(), s)));
        let copy = dirs.root_copy(&theirs);
        let libvirt_header = header_of(&copy, format);

        // virshim restores libvirt's image and saves the guest as its qemu.conf says.
        let conn = open(&dirs.virshim);
        let t = Instant::now();
        conn.restore(&copy)
            .unwrap_or_else(|e| panic!("{format:?}: {}", e.message));
        eprintln!("virshim restored in {:.2} s", t.elapsed().as_secs_f64());
        let pid = pid_of(&dirs.virshim, NAME);
        let status = virshim_check_restored(&conn, &dirs, &before, true);
        let ours = dirs.base.join(format!("virshim.{}", format.name()));
        let t = Instant::now();
        conn.lookup_by_name(NAME).unwrap().save(&ours).unwrap();
        image_note("virshim", &ours, t.elapsed());
        assert_gone(pid);
        drop(conn);
        fs::set_permissions(&ours, fs::Permissions::from_mode(0o644)).unwrap();
        // Header (data length, cookie offset), XML and cookie: libvirt's to the byte.
        assert_eq!(header_of(&ours, format), libvirt_header, "{format:?}");
        for done in [theirs, copy].iter().chain(from.as_ref().map(|(p, _)| p)) {
            fs::remove_file(done).unwrap();
        }
        from = Some((ours, status));
    }

    // libvirt restores virshim's xz image and saves with lzop (which virshim reads but
    // cannot write); virshim restores it.
    let (image, status) = from.unwrap();
    let (theirs, before) = libvirt_saves(&dirs, Format::Lzop, Some((&image, &status)));
    let copy = dirs.root_copy(&theirs);
    header_of(&copy, Format::Lzop);
    let conn = open(&dirs.virshim);
    conn.restore(&copy)
        .unwrap_or_else(|e| panic!("lzop: {}", e.message));
    virshim_check_restored(&conn, &dirs, &before, true);
    let dom = conn.lookup_by_name(NAME).unwrap();
    let pid = pid_of(&dirs.virshim, NAME);
    dom.destroy().unwrap();
    assert_gone(pid);
    assert!(qemus_under(&dirs.base).is_empty());
    eprintln!(
        "compressed interop: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let _ = fs::remove_dir_all(&dirs.base);
}
