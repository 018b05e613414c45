//! The QEMU driver (`qemu:///embed?root=DIR`) through the Rust core, with the test guest
//! of `tests/guest/guest.asm` (32 MiB of RAM) under TCG:
//!
//! - define, create, suspend, resume, save, edit the image's XML, restore, destroy and
//!   undefine a persistent domain, with libvirt's states and reasons at each step; the
//!   guest's RAM and counter survive the save and restore;
//! - a second connection (a new driver on the same root) sees the same domains, IDs and
//!   states, as a later process would;
//! - a transient domain is gone once saved or destroyed, and a paused save restores
//!   paused;
//! - flags, missing domains and oversized image XML fail in libvirt's words;
//! - connections on one root at once (as separate processes) lose nothing and never
//!   share an ID;
//! - a plain save leaves only its last few write-behind windows in the page cache.
//!
//! The guest tests need `qemu-system-x86_64` and `nasm` (see `common`).

mod common;

use std::fs;
use std::path::Path;

use common::*;
use virshim::abi::virDomainPausedReason::*;
use virshim::abi::virDomainRunningReason::*;
use virshim::abi::virDomainShutoffReason::*;
use virshim::abi::virDomainState::*;
use virshim::abi::virErrorDomain::*;
use virshim::abi::virErrorNumber::*;
use virshim::abi::{
    ConnectFlags, CreateFlags, DomainState, ListDomainsFlags, NoFlags, SaveImageXmlFlags,
    SaveRestoreFlags, XmlFlags,
};
use virshim::drivers::qemu::image::SaveImage;
use virshim::drivers::qemu::testing::migration::WRITE_BEHIND;

#[test]
fn a_persistent_guest_lives_saves_and_restores_across_connections() {
    let Some((_qemu, kernel)) = tools() else {
        return;
    };
    let (_serial, _stragglers, root) = setup("persistent");
    let conn = open(&root);
    assert_eq!(conn.type_name(), c"QEMU");
    assert!(conn.hypervisor_version() >= 1_000_000);

    // Define: on disk, shut off, seen by a second connection.
    let dom = conn.define_xml(&guest_xml("guest", UUID, &kernel)).unwrap();
    assert!(root.join("etc/qemu/guest.xml").is_file());
    assert_eq!(
        dom.state(NoFlags::empty()).map(DomainState::raw).unwrap(),
        (VIR_DOMAIN_SHUTOFF, 0)
    );
    assert!(dom.is_persistent().unwrap() && !dom.is_active().unwrap());
    assert_eq!(conn.defined_domain_names().unwrap(), ["guest"]);
    let other = open(&root);
    let seen = other.lookup_by_uuid_string(UUID).unwrap();
    assert_eq!((seen.name(), seen.id()), ("guest", -1));
    let inactive = seen.xml_desc(XmlFlags::empty()).unwrap();
    assert!(inactive.contains("<name>guest</name>"), "{inactive}");

    // Create: running, booted, with an ID both connections agree on.
    dom.create().unwrap();
    assert_eq!(
        dom.state(NoFlags::empty()).map(DomainState::raw).unwrap(),
        (VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_BOOTED as i32)
    );
    let id = conn.lookup_by_name("guest").unwrap().id();
    assert!(id > 0);
    assert_eq!(conn.active_domain_ids().unwrap(), [id]);
    assert_eq!(other.lookup_by_id(id).unwrap().name(), "guest");
    assert!(other.lookup_by_name("guest").unwrap().is_active().unwrap());
    let live = dom.xml_desc(XmlFlags::empty()).unwrap();
    assert!(live.contains(&format!("id='{id}'")), "{live}");
    assert!(root.join("run/qemu/guest/live.xml").is_file());
    let info = dom.info().unwrap();
    assert_eq!((info.max_mem_kib, info.vcpus), (32 << 10, 1));

    let mut q = attach(&root, "guest");
    wait_filled(&mut q, &root);
    drop(q);

    // Suspend and resume.
    dom.suspend().unwrap();
    assert_eq!(
        other
            .lookup_by_name("guest")
            .unwrap()
            .state(NoFlags::empty())
            .map(DomainState::raw)
            .unwrap(),
        (VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_USER as i32)
    );
    dom.resume().unwrap();
    assert_eq!(
        dom.state(NoFlags::empty()).map(DomainState::raw).unwrap(),
        (VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_UNPAUSED as i32)
    );

    // A save that cannot create its file fails, and the guest runs on (libvirt pauses
    // it first, and says why it runs again).
    let err = dom.save(&root.join("missing/guest.save")).fails();
    assert_eq!(err.domain, VIR_FROM_QEMU, "{}", err.message);
    assert_eq!(
        dom.state(NoFlags::empty()).map(DomainState::raw).unwrap(),
        (VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_SAVE_CANCELED as i32)
    );
    // A directory, or an empty path (the working directory), is libvirt's system error.
    let cwd = std::env::current_dir().unwrap();
    for (path, shown) in [
        (root.as_path(), root.as_path()),
        (Path::new(""), cwd.as_path()),
    ] {
        let err = dom.save(path).fails();
        assert_eq!(
            (err.code, err.domain),
            (VIR_ERR_SYSTEM_ERROR, VIR_FROM_QEMU)
        );
        let want = format!(
            "Failed to create file '{}': Is a directory",
            shown.display()
        );
        assert_eq!(err.message, want);
    }

    // Save: shut off with reason saved, QEMU gone.
    let pid = pid_of(&root, "guest");
    let image = root.join("guest.save");
    dom.save(&image).unwrap();
    assert_gone(pid);
    assert!(!root.join("run/qemu/guest").exists());
    assert_eq!(
        dom.state(NoFlags::empty()).map(DomainState::raw).unwrap(),
        (VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_SAVED as i32)
    );
    assert!(!other.lookup_by_name("guest").unwrap().is_active().unwrap());
    let (_, header) = SaveImage::open(&image).unwrap();
    assert!(header.header.was_running && header.cookie.is_some());

    // The image's XML, edited in place.
    let xml = conn
        .save_image_xml_desc(&image, SaveImageXmlFlags::empty())
        .unwrap();
    assert!(xml.contains(&format!("<uuid>{UUID}</uuid>")), "{xml}");
    assert!(xml.starts_with("<domain type='qemu'>"), "{xml}");
    let edited = xml.replace("</name>", "</name>\n  <description>edited</description>");
    conn.save_image_define_xml(&image, &edited, SaveRestoreFlags::empty())
        .unwrap();
    let xml = other
        .save_image_xml_desc(&image, SaveImageXmlFlags::empty())
        .unwrap();
    assert!(xml.contains("<description>edited</description>"), "{xml}");

    // A truncated image is refused, leaving no QEMU and no domain running.
    let cut = root.join("cut.save");
    let bytes = fs::read(&image).unwrap();
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert!(conn.restore(&cut).is_err());
    assert!(!root.join("run/qemu/guest").exists());
    assert!(conn.active_domain_ids().unwrap().is_empty());
    fs::remove_file(&cut).unwrap();

    // Restore: running again, the RAM and counter as they were.
    other.restore(&image).unwrap();
    let dom = conn.lookup_by_name("guest").unwrap();
    assert_eq!(
        dom.state(NoFlags::empty()).map(DomainState::raw).unwrap(),
        (VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_RESTORED as i32)
    );
    assert!(dom.is_persistent().unwrap());
    assert!(dom
        .xml_desc(XmlFlags::empty())
        .unwrap()
        .contains("<description>edited</description>"));
    let mut q = attach(&root, "guest");
    pause(&mut q);
    let ram = read_phys(&mut q, &root, 0, 32 << 20);
    let status = Status::in_ram(&ram);
    assert_eq!(&status.marker, b"FILLDONE");
    check_stream(&ram, status.end as usize);
    resume_and_count(&mut q, &root, status.counter);
    drop(q);

    // Destroy: no QEMU left; undefine: gone.
    let pid = pid_of(&root, "guest");
    dom.destroy().unwrap();
    assert_gone(pid);
    assert_eq!(
        dom.state(NoFlags::empty()).map(DomainState::raw).unwrap(),
        (VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_DESTROYED as i32)
    );
    assert!(conn.active_domain_ids().unwrap().is_empty());
    let err = dom.destroy().fails();
    assert_eq!(
        (err.code, err.domain),
        (VIR_ERR_OPERATION_INVALID, VIR_FROM_DOMAIN)
    );

    // A QEMU that dies behind the driver's back leaves a domain shut off, cleaned up.
    dom.create().unwrap();
    let pid = pid_of(&root, "guest");
    // SAFETY (of the test): kill has no memory arguments.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let deadline = secs(5);
    while fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z")) {
        assert!(
            std::time::Instant::now() < deadline,
            "QEMU {pid} survived SIGKILL"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(
        dom.state(NoFlags::empty()).map(DomainState::raw).unwrap(),
        (VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_CRASHED as i32)
    );
    assert!(!root.join("run/qemu/guest").exists());

    dom.undefine().unwrap();
    let err = other.lookup_by_name("guest").fails();
    assert_eq!((err.code, err.domain), (VIR_ERR_NO_DOMAIN, VIR_FROM_QEMU));
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_transient_guest_goes_with_its_save_and_restores_paused() {
    let Some((_qemu, kernel)) = tools() else {
        return;
    };
    let (_serial, _stragglers, root) = setup("transient");
    let conn = open(&root);
    let uuid = "0c7a3b1e-1111-4222-8333-444455556666";
    let dom = conn
        .create_xml(&guest_xml("temp", uuid, &kernel), CreateFlags::empty())
        .unwrap();
    assert!(!dom.is_persistent().unwrap());
    assert!(!root.join("etc/qemu/temp.xml").exists());
    let err = conn
        .create_xml(&guest_xml("temp", uuid, &kernel), CreateFlags::empty())
        .fails();
    assert_eq!(err.code, VIR_ERR_OPERATION_INVALID, "{}", err.message);
    let err = dom.undefine().fails();
    assert_eq!(
        err.message,
        "Requested operation is not valid: cannot undefine transient domain"
    );

    let image = root.join("temp.save");
    dom.save_flags(&image, None, SaveRestoreFlags::PAUSED)
        .unwrap();
    let err = conn.lookup_by_name("temp").fails();
    assert_eq!(err.code, VIR_ERR_NO_DOMAIN);
    assert!(conn
        .list_all_domains(ListDomainsFlags::empty())
        .unwrap()
        .is_empty());

    conn.restore(&image).unwrap();
    let dom = open(&root).lookup_by_name("temp").unwrap();
    assert_eq!(
        dom.state(NoFlags::empty()).map(DomainState::raw).unwrap(),
        (VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_MIGRATION as i32)
    );
    // Restoring it again while it runs is refused, and leaves it as it was.
    let err = conn.restore(&image).fails();
    assert_eq!(err.code, VIR_ERR_OPERATION_INVALID, "{}", err.message);
    assert_eq!(
        dom.state(NoFlags::empty()).map(DomainState::raw).unwrap(),
        (VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_MIGRATION as i32)
    );

    // A restored guest saves again (its cookie's CPU kept), and restores running when
    // asked to.
    let again = root.join("again.save");
    dom.save(&again).unwrap();
    let (_, saved) = SaveImage::open(&again).unwrap();
    assert!(!saved.header.was_running);
    conn.restore_flags(&again, None, SaveRestoreFlags::RUNNING)
        .unwrap();
    let dom = conn.lookup_by_name("temp").unwrap();
    assert_eq!(
        dom.state(NoFlags::empty()).map(DomainState::raw).unwrap(),
        (VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_RESTORED as i32)
    );
    let pid = pid_of(&root, "temp");
    dom.destroy().unwrap();
    assert_gone(pid);
    assert!(conn.lookup_by_name("temp").is_err());
    assert!(!root.join("run/qemu/temp").exists());
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn bad_calls_fail_in_libvirts_words() {
    let root = scratch_dir("errors");
    let conn = open(&root);
    let err = connect(&embed_uri(&root), ConnectFlags::from_bits_retain(0x100)).fails();
    assert_eq!(
        err.message,
        "unsupported flags (0x100) in function qemuConnectOpen"
    );
    let err = connect("qemu:///embed?root=relative/dir", ConnectFlags::empty()).fails();
    assert_eq!(err.code, VIR_ERR_INVALID_ARG, "{}", err.message);
    let err = conn.lookup_by_name("nope").fails();
    assert_eq!((err.code, err.domain), (VIR_ERR_NO_DOMAIN, VIR_FROM_QEMU));
    assert_eq!(
        err.message,
        "Domain not found: no domain with matching name 'nope'"
    );

    // A definition that needs no QEMU to exist: the emulator is only probed.
    let Some(_) = qemu_binary() else { return };
    let dom = conn
        .define_xml(&guest_xml("idle", UUID, Path::new("/nonexistent/kernel")))
        .unwrap();
    let err = dom.save(&root.join("x.save")).fails();
    assert_eq!(
        (err.code, err.domain, err.message.as_str()),
        (
            VIR_ERR_OPERATION_INVALID,
            VIR_FROM_DOMAIN,
            "Requested operation is not valid: domain is not running"
        )
    );
    let err = dom
        .save_flags(
            &root.join("x.save"),
            None,
            SaveRestoreFlags::from_bits_retain(0x40),
        )
        .fails();
    assert_eq!(
        err.message,
        "unsupported flags (0x40) in function qemuDomainSaveFlags"
    );
    let err = dom.suspend().fails();
    assert_eq!(err.code, VIR_ERR_OPERATION_INVALID);
    // Another name for the same UUID is refused.
    let err = conn
        .define_xml(&guest_xml("other", UUID, Path::new("/k")))
        .fails();
    assert_eq!(err.code, VIR_ERR_OPERATION_FAILED, "{}", err.message);

    // An image whose new XML does not fit is left as it was.
    let xml = dom.xml_desc(XmlFlags::empty()).unwrap();
    let mut image = SaveImage::new(xml.clone(), Some("<cookie/>".into()), true);
    image.header.complete = true;
    let path = root.join("small.save");
    fs::write(&path, image.encode().unwrap()).unwrap();
    let before = fs::read(&path).unwrap();
    let huge = xml.replace(
        "</name>",
        &format!("</name><description>{}</description>", "x".repeat(70_000)),
    );
    let err = conn
        .save_image_define_xml(&path, &huge, SaveRestoreFlags::empty())
        .fails();
    assert_eq!(
        err.message,
        "operation failed: new xml too large to fit in file"
    );
    assert_eq!(fs::read(&path).unwrap(), before);
    let err = conn
        .save_image_xml_desc(&path, SaveImageXmlFlags::from_bits_retain(0x2))
        .fails();
    assert_eq!(
        err.message,
        "unsupported flags (0x2) in function qemuDomainSaveImageGetXMLDesc"
    );
    // What fits is written, and read back.
    let small = xml.replace("</name>", "</name><description>fits</description>");
    conn.save_image_define_xml(&path, &small, SaveRestoreFlags::empty())
        .unwrap();
    assert!(conn
        .save_image_xml_desc(&path, SaveImageXmlFlags::empty())
        .unwrap()
        .contains("<description>fits</description>"));
    assert_eq!(fs::metadata(&path).unwrap().len(), before.len() as u64);
    dom.undefine().unwrap();
    fs::remove_dir_all(&root).unwrap();
}

/// Connections on one root, as separate processes would be (each its own driver), define,
/// undefine and start domains at the same time: nothing is lost, IDs are never shared.
#[test]
fn connections_on_one_root_at_once_keep_its_state_whole() {
    let Some((_qemu, kernel)) = tools() else {
        return;
    };
    let (_serial, _stragglers, root) = setup("concurrent");
    let uuid = |t: usize, i: usize| format!("00000000-0000-4000-8000-{:06}{:06}", t, i);
    std::thread::scope(|s| {
        for t in 0..4 {
            let (root, kernel) = (&root, &kernel);
            s.spawn(move || {
                let conn = open(root);
                for i in 0..10 {
                    let name = format!("d{t}-{i}");
                    let dom = conn
                        .define_xml(&guest_xml(&name, &uuid(t, i), kernel))
                        .unwrap();
                    if i % 2 == 1 {
                        dom.undefine().unwrap();
                    }
                }
            });
        }
        for t in 0..2 {
            let (root, kernel) = (&root, &kernel);
            s.spawn(move || {
                let conn = open(root);
                let name = format!("run{t}");
                conn.create_xml(&guest_xml(&name, &uuid(9, t), kernel), CreateFlags::empty())
                    .unwrap();
            });
        }
    });
    let conn = open(&root);
    let mut expected: Vec<String> = (0..4)
        .flat_map(|t| (0..10).step_by(2).map(move |i| format!("d{t}-{i}")))
        .collect();
    expected.sort();
    let mut defined = conn.defined_domain_names().unwrap();
    defined.sort();
    assert_eq!(defined, expected);
    let mut ids = conn.active_domain_ids().unwrap();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 2, "{ids:?}");
    for t in 0..2 {
        conn.lookup_by_name(&format!("run{t}"))
            .unwrap()
            .destroy()
            .unwrap();
    }
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_plain_save_leaves_little_of_its_image_in_the_page_cache() {
    let Some((_qemu, kernel)) = tools() else {
        return;
    };
    let (_serial, _stragglers, root) = setup("cache");
    let conn = open(&root);
    let xml = guest_xml("big", UUID, &kernel).replace(">32<", ">96<");
    let dom = conn.create_xml(&xml, CreateFlags::empty()).unwrap();
    wait_filled(&mut attach(&root, "big"), &root);
    let image = root.join("big.save");
    dom.save(&image).unwrap();

    // Every window but the last two is written back and dropped during the save.
    let size = fs::metadata(&image).unwrap().len();
    assert!(size > 90 << 20, "{size}");
    let cached = cached_bytes(&image);
    assert!(
        cached <= 3 * WRITE_BEHIND,
        "{cached} of {size} bytes cached"
    );
    fs::remove_dir_all(&root).unwrap();
}

/// How many bytes of `path` are in the page cache (`mincore` on a mapping of it).
fn cached_bytes(path: &Path) -> u64 {
    use std::os::fd::AsRawFd;
    let file = fs::File::open(path).unwrap();
    let len = file.metadata().unwrap().len() as usize;
    let page = 4096;
    let mut pages = vec![0u8; len.div_ceil(page)];
    // SAFETY: a read-only shared mapping of a file nobody truncates meanwhile, unmapped
    // before return; mincore writes one byte per page into `pages`, sized for that.
    unsafe {
        let map = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        );
        assert_ne!(map, libc::MAP_FAILED);
        assert_eq!(libc::mincore(map, len, pages.as_mut_ptr()), 0);
        libc::munmap(map, len);
    }
    pages.iter().filter(|&&p| p & 1 == 1).count() as u64 * page as u64
}
