//! Save images cross between libvirt 9.0's own QEMU driver and virshim's, both ways, for
//! a running and a paused guest (the test guest of `tests/guest/guest.asm`, 32 MiB, TCG),
//! with the same domain XML on both sides:
//!
//! - libvirt saves (flags 0 or `VIR_DOMAIN_SAVE_PAUSED`, as `virsh save [--paused]`),
//!   virshim restores a root-owned copy of the image: the guest comes back running or
//!   paused as saved, its RAM is its fill, its counter goes on;
//! - virshim saves (the same flags), libvirt restores: the same, read through HMP `xp`
//!   and `pmemsave` (as `virsh qemu-monitor-command --hmp`).
//!
//! libvirt's side and the checks are `common::libvirt`'s; without its tools the tests
//! skip, or fail under `CI=true`.

mod common;

use std::fs;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::Path;
use std::time::Instant;

use common::libvirt::*;
use common::*;
use virshim::abi::{CreateFlags, SaveRestoreFlags, XmlFlags};
use virshim::drivers::qemu::image::SaveImage;

fn save_flags(was_running: bool) -> SaveRestoreFlags {
    if was_running {
        SaveRestoreFlags::empty()
    } else {
        SaveRestoreFlags::PAUSED
    }
}

/// libvirt starts and saves the guest; virshim restores a root-readable copy.
fn libvirt_saves_virshim_restores(test: &str, was_running: bool) {
    let Some(kernel) = interop_tools() else {
        return;
    };
    let _serial = serial();
    let started = Instant::now();
    let dirs = Dirs::new(test, &kernel);
    let _stragglers = Stragglers(dirs.base.clone());

    let mut libvirt = Libvirt::open(&dirs);
    libvirt.call("create", dirs.xml().into());
    let libvirt_pid = libvirt.qemu_pid(&dirs);
    let before = libvirt.wait_filled();
    let image = dirs.base.join("libvirt.save");
    let flags = save_flags(was_running);
    let t = Instant::now();
    libvirt.call("save", serde_json::json!([NAME, image, flags.bits()]));
    image_note("libvirt", &image, t.elapsed());
    assert_eq!(libvirt.call("list", serde_json::Value::Null), "");
    drop(libvirt);
    assert_gone(libvirt_pid);

    let copy = dirs.root_copy(&image);
    let (_, parsed) = SaveImage::open(&copy).unwrap();
    assert_eq!(parsed.header.was_running, was_running);

    let conn = open(&dirs.virshim);
    let t = Instant::now();
    conn.restore(&copy).unwrap();
    eprintln!("virshim restored in {:.2} s", t.elapsed().as_secs_f64());
    let pid = pid_of(&dirs.virshim, NAME);
    virshim_check_restored(&conn, &dirs, &before, was_running);
    conn.lookup_by_name(NAME).unwrap().destroy().unwrap();
    assert!(conn.lookup_by_name(NAME).is_err(), "a transient guest goes");
    assert_gone(pid);
    eprintln!("{test}: {:.1} s", started.elapsed().as_secs_f64());
    let _ = fs::remove_dir_all(&dirs.base);
}

/// virshim starts and saves the guest; libvirt restores the image.
fn virshim_saves_libvirt_restores(test: &str, was_running: bool) {
    let Some(kernel) = interop_tools() else {
        return;
    };
    let _serial = serial();
    let started = Instant::now();
    let dirs = Dirs::new(test, &kernel);
    let _stragglers = Stragglers(dirs.base.clone());

    let conn = open(&dirs.virshim);
    let dom = conn.create_xml(&dirs.xml(), CreateFlags::empty()).unwrap();
    let mut q = attach(&dirs.virshim, NAME);
    let pid = q.pid();
    let before = wait_filled(&mut q, &dirs.virshim);
    drop(q);
    let image = dirs.base.join("virshim.save");
    let t = Instant::now();
    dom.save_flags(&image, None, save_flags(was_running))
        .unwrap();
    image_note("virshim", &image, t.elapsed());
    assert_gone(pid);
    assert!(conn.lookup_by_name(NAME).is_err());
    drop(dom);
    drop(conn);
    fs::set_permissions(&image, fs::Permissions::from_mode(0o644)).unwrap();

    let mut libvirt = Libvirt::open(&dirs);
    let t = Instant::now();
    libvirt.call("restore", serde_json::json!(image));
    eprintln!("libvirt restored in {:.2} s", t.elapsed().as_secs_f64());
    let libvirt_pid = libvirt.qemu_pid(&dirs);
    libvirt.check_restored(&dirs, &before, was_running);
    libvirt.on_guest("destroy");
    assert_eq!(libvirt.call("list", serde_json::Value::Null), "");
    drop(libvirt);
    assert_gone(libvirt_pid);
    eprintln!("{test}: {:.1} s", started.elapsed().as_secs_f64());
    let _ = fs::remove_dir_all(&dirs.base);
}

#[test]
fn libvirt_saves_a_running_guest_virshim_restores_it_running() {
    libvirt_saves_virshim_restores("lr", true);
}

#[test]
fn libvirt_saves_a_guest_paused_virshim_restores_it_paused() {
    libvirt_saves_virshim_restores("lp", false);
}

#[test]
fn virshim_saves_a_running_guest_libvirt_restores_it_running() {
    virshim_saves_libvirt_restores("vr", true);
}

#[test]
fn virshim_saves_a_guest_paused_libvirt_restores_it_paused() {
    virshim_saves_libvirt_restores("vp", false);
}

/// Host-side elements (`<resource>`, `<seclabel>` of model none at domain level and in
/// disk and serial sources): virshim's inactive and running XML are libvirt's, side by side.
#[test]
fn host_side_elements_read_and_run_as_libvirt_shows_them() {
    let Some(kernel) = interop_tools() else {
        return;
    };
    let _serial = serial();
    let dirs = Dirs::new("hs", &kernel);
    let _stragglers = Stragglers(dirs.base.clone());
    let disk = dirs.base.join("disk.raw");
    fs::write(&disk, vec![0; 1 << 20]).unwrap();
    if is_root() {
        chown(&disk, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    let source = |attr: &str, path: &Path, label: &str| {
        format!("<source {attr}='{}'>{label}</source>", path.display())
    };
    let devices = format!(
        "<devices><disk type='file' device='disk'>{}<target dev='vda' bus='virtio'/></disk>\
         <disk type='file' device='disk'>{}<target dev='vdb' bus='virtio'/><readonly/></disk>\
         <serial type='file'>{}</serial></devices>",
        source("file", &disk, "<seclabel model='none' relabel='no'/>"),
        source("file", &dirs.kernel, "<seclabel model='none'/>"),
        source(
            "path",
            &dirs.base.join("serial.log"),
            "<seclabel model='none'><label>l</label></seclabel>"
        ),
    );
    let domain_label = "<seclabel type='dynamic' model='none'/>";
    for (resource, seclabel, devices) in [
        (
            "<partition>/machine</partition><fibrechannel appid='app'/>",
            domain_label,
            "",
        ),
        (
            "<partition>/machine/tenant</partition>",
            "",
            devices.as_str(),
        ),
    ] {
        let xml = dirs.xml().replace(
            "</os>",
            &format!("</os><resource>{resource}</resource>{seclabel}{devices}"),
        );
        let mut libvirt = Libvirt::open(&dirs);
        let inactive = libvirt.call("define", xml.clone().into());
        let live = libvirt.on_guest("start");
        libvirt.on_guest("destroy");
        libvirt.on_guest("undefine");
        drop(libvirt);

        let conn = open(&dirs.virshim);
        let dom = conn.define_xml(&xml).unwrap();
        assert_eq!(dom.xml_desc(XmlFlags::INACTIVE).unwrap(), inactive, "{xml}");
        dom.create().unwrap();
        let ours = dom.xml_desc(XmlFlags::empty()).unwrap();
        assert_eq!(without_id(&ours), without_id(&live), "{xml}");
        dom.destroy().unwrap();
        dom.undefine().unwrap();
    }
    let _ = fs::remove_dir_all(&dirs.base);
}

/// A running domain's XML without its id: libvirt counts from 1 in each new process,
/// virshim's IDs go on counting within a root.
fn without_id(xml: &str) -> String {
    use virshim::abi::virErrorDomain::VIR_FROM_XML;
    use virshim::xml::{parse_tree, tree_to_string};
    let mut tree = parse_tree(xml, "(test)", VIR_FROM_XML).unwrap();
    tree.remove_attr("id");
    tree_to_string(&tree)
}
