//! The save/restore family on `test:///default`, through the safe Rust core: the cycle,
//! virshim's additions, and bad input that must fail cleanly without changing anything.
//!
//! Every test opens its own `test:///default`; the default state is shared while any
//! connection is open, so the tests run one at a time behind a lock.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use common::{connect, TestDefault, TEST_DEFAULT};

use virshim::abi::virDomainState::{VIR_DOMAIN_PAUSED, VIR_DOMAIN_RUNNING, VIR_DOMAIN_SHUTOFF};
use virshim::abi::virErrorDomain::*;
use virshim::abi::virErrorNumber::*;
use virshim::abi::{
    ConnectFlags, CreateFlags, DomainState, MemoryFlags, NoFlags, SaveImageXmlFlags,
    SaveRestoreFlags, XmlFlags,
};

#[test]
fn save_inspect_edit_restore() {
    let env = TestDefault::new("cycle");
    let img = env.saved();
    assert_eq!(env.state(), VIR_DOMAIN_SHUTOFF);
    let xml = env
        .conn
        .save_image_xml_desc(&img, SaveImageXmlFlags::empty())
        .unwrap();
    let edited = xml.replace("/guest/diskimage1", "/guest/elsewhere");
    env.conn
        .save_image_define_xml(&img, &edited, SaveRestoreFlags::empty())
        .unwrap();
    env.conn.restore(&img).unwrap();
    let dom = env.dom();
    assert_eq!(
        dom.state(NoFlags::empty()).map(DomainState::raw).unwrap(),
        (VIR_DOMAIN_RUNNING, 3)
    );
    assert!(dom
        .xml_desc(XmlFlags::empty())
        .unwrap()
        .contains("/guest/elsewhere"));
}

#[test]
fn paused_saves_restore_paused_and_flags_override() {
    let env = TestDefault::new("paused");
    let img = env.path("p.img");
    let dom = env.dom();
    dom.save_flags(&img, None, SaveRestoreFlags::PAUSED)
        .unwrap();
    env.conn.restore(&img).unwrap();
    assert_eq!(env.state(), VIR_DOMAIN_PAUSED);

    env.dom().destroy().unwrap();
    env.conn
        .restore_flags(&img, None, SaveRestoreFlags::RUNNING)
        .unwrap();
    assert_eq!(env.state(), VIR_DOMAIN_RUNNING);

    // Rewriting the recorded state in the image itself.
    env.dom().destroy().unwrap();
    let xml = env
        .conn
        .save_image_xml_desc(&img, SaveImageXmlFlags::empty())
        .unwrap();
    env.conn
        .save_image_define_xml(&img, &xml, SaveRestoreFlags::RUNNING)
        .unwrap();
    env.conn.restore(&img).unwrap();
    assert_eq!(env.state(), VIR_DOMAIN_RUNNING);
}

#[test]
fn a_compatible_dxml_is_stored_and_an_incompatible_one_refused() {
    let env = TestDefault::new("dxml");
    let dom = env.dom();
    let xml = dom.xml_desc(XmlFlags::empty()).unwrap();
    let img = env.path("d.img");
    let moved = xml.replace("/guest/diskimage1", "/guest/moved");
    dom.save_flags(&img, Some(&moved), SaveRestoreFlags::empty())
        .unwrap();
    assert!(env
        .conn
        .save_image_xml_desc(&img, SaveImageXmlFlags::empty())
        .unwrap()
        .contains("/guest/moved"));

    let before = std::fs::read(&img).unwrap();
    let renamed = xml.replace("<name>test</name>", "<name>other</name>");
    let err = env
        .conn
        .restore_flags(&img, Some(&renamed), SaveRestoreFlags::empty())
        .unwrap_err();
    assert_eq!(
        (err.code, err.domain),
        (VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_DOMAIN)
    );
    assert_eq!(
        err.message,
        "unsupported configuration: Target domain name 'other' does not match source 'test'"
    );
    let smaller = xml.replace(
        "<vcpu placement='static'>2</vcpu>",
        "<vcpu placement='static'>1</vcpu>",
    );
    let err = env
        .conn
        .restore_flags(&img, Some(&smaller), SaveRestoreFlags::empty())
        .unwrap_err();
    assert_eq!(err.code, VIR_ERR_CONFIG_UNSUPPORTED);
    assert!(err.message.contains("vCPU"), "{}", err.message);
    assert_eq!(
        std::fs::read(&img).unwrap(),
        before,
        "a refused restore changed the image"
    );
    assert_eq!(env.state(), VIR_DOMAIN_SHUTOFF);
}

#[test]
fn an_incompatible_dxml_on_save_leaves_the_guest_running() {
    let env = TestDefault::new("savedxml");
    let dom = env.dom();
    let xml = dom.xml_desc(XmlFlags::empty()).unwrap();
    let bigger = xml.replace(
        "<memory unit='KiB'>8388608</memory>",
        "<memory unit='KiB'>9388608</memory>",
    );
    let img = env.path("s.img");
    let err = dom
        .save_flags(&img, Some(&bigger), SaveRestoreFlags::empty())
        .unwrap_err();
    assert_eq!(err.code, VIR_ERR_CONFIG_UNSUPPORTED);
    assert_eq!(env.state(), VIR_DOMAIN_RUNNING);
    assert!(!img.exists());
}

#[test]
fn bad_images_fail_cleanly_and_stay_untouched() {
    let env = TestDefault::new("bad");
    let good = std::fs::read(env.saved()).unwrap();
    let mut long_len = good.clone();
    long_len[15..19].copy_from_slice(&4000i32.to_ne_bytes());
    let cases: Vec<(&str, Vec<u8>, virshim::abi::virErrorNumber)> = vec![
        ("empty", vec![], VIR_ERR_SYSTEM_ERROR),
        ("truncated-magic", good[..7].to_vec(), VIR_ERR_SYSTEM_ERROR),
        (
            "truncated-length",
            good[..17].to_vec(),
            VIR_ERR_SYSTEM_ERROR,
        ),
        (
            "truncated-xml",
            good[..good.len() - 10].to_vec(),
            VIR_ERR_SYSTEM_ERROR,
        ),
        ("length-past-end", long_len, VIR_ERR_SYSTEM_ERROR),
        (
            "wrong-magic",
            [b"X".as_slice(), &good[1..]].concat(),
            VIR_ERR_INTERNAL_ERROR,
        ),
        (
            "garbage-xml",
            [&good[..19], &vec![b'!'; good.len() - 19][..]].concat(),
            VIR_ERR_XML_DETAIL,
        ),
        (
            "not-utf8",
            [&good[..19], &vec![0xff; good.len() - 19][..]].concat(),
            VIR_ERR_INTERNAL_ERROR,
        ),
    ];
    for (name, bytes, code) in cases {
        let path = env.path(name);
        std::fs::write(&path, &bytes).unwrap();
        for result in [
            env.conn.restore(&path).map(drop),
            env.conn
                .save_image_xml_desc(&path, SaveImageXmlFlags::empty())
                .map(drop),
            env.conn
                .save_image_define_xml(&path, "<domain/>", SaveRestoreFlags::empty())
                .map(drop),
        ] {
            let err = result.unwrap_err();
            assert_eq!(err.code, code, "{name}: {}", err.message);
        }
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "{name}: image changed"
        );
        assert_eq!(env.state(), VIR_DOMAIN_SHUTOFF, "{name}: domain changed");
    }
    let err = env.conn.restore(&env.dir).unwrap_err();
    assert_eq!((err.code, err.int1), (VIR_ERR_SYSTEM_ERROR, libc::EISDIR));
}

#[test]
fn huge_and_malformed_xml_is_refused() {
    let env = TestDefault::new("hugexml");
    let img = env.saved();
    let before = std::fs::read(&img).unwrap();
    let huge = format!(
        "<domain type='test'><name>x</name><description>{}</description></domain>",
        "x".repeat(11 << 20)
    );
    for xml in [
        huge.as_str(),
        "",
        "<domain",
        "<domain type='test'><name>a</name>",
    ] {
        let err = env
            .conn
            .save_image_define_xml(&img, xml, SaveRestoreFlags::empty())
            .unwrap_err();
        assert!(
            [VIR_ERR_XML_ERROR, VIR_ERR_XML_DETAIL].contains(&err.code),
            "{:?}: {}",
            err.code,
            err.message
        );
        assert!(env.conn.define_xml(xml).is_err());
    }
    // Fits the XML parser but not the test driver's image format (8192 bytes of XML).
    let xml = env
        .conn
        .save_image_xml_desc(&img, SaveImageXmlFlags::empty())
        .unwrap();
    let big = xml.replace(
        "<name>test</name>",
        &format!(
            "<name>test</name><description>{}</description>",
            "d".repeat(9000)
        ),
    );
    let err = env
        .conn
        .save_image_define_xml(&img, &big, SaveRestoreFlags::empty())
        .unwrap_err();
    assert_eq!(
        (err.code, err.domain),
        (VIR_ERR_INTERNAL_ERROR, VIR_FROM_TEST)
    );
    assert_eq!(std::fs::read(&img).unwrap(), before);
}

#[test]
fn paths_are_bytes_and_relative_paths_are_made_absolute() {
    let env = TestDefault::new("paths");
    let name = OsStr::from_bytes(b"caf\xe9-\xff.img");
    let img = env.dir.join(name);
    let dom = env.dom();
    dom.save(&img).unwrap();
    assert!(img.exists());
    env.conn.restore(&img).unwrap();

    let cwd = std::env::current_dir().unwrap();
    let relative = Path::new("..")
        .join(cwd.file_name().unwrap())
        .join(format!("rel-{}.img", std::process::id()));
    env.dom().save(&relative).unwrap();
    assert!(cwd.join(relative.file_name().unwrap()).exists());
    env.conn.restore(&relative).unwrap();
    std::fs::remove_file(cwd.join(relative.file_name().unwrap())).unwrap();
}

#[test]
fn saving_where_nothing_can_be_written_keeps_the_guest() {
    let env = TestDefault::new("unwritable");
    let dom = env.dom();
    for target in [
        env.dir.join("missing/dir/x.img"),
        env.dir.clone(),
        PathBuf::new(),
    ] {
        let err = dom.save(&target).unwrap_err();
        assert_eq!(
            (err.code, err.domain),
            (VIR_ERR_SYSTEM_ERROR, VIR_FROM_TEST),
            "{target:?}"
        );
        assert_eq!(env.state(), VIR_DOMAIN_RUNNING);
    }
}

#[test]
fn read_only_connections_cannot_save_or_restore() {
    let env = TestDefault::new("ro");
    let img = env.saved();
    let ro = connect(TEST_DEFAULT, ConnectFlags::RO).unwrap();
    for err in [
        ro.restore(&img).unwrap_err(),
        ro.save_image_xml_desc(&img, SaveImageXmlFlags::empty())
            .unwrap_err(),
        ro.save_image_define_xml(&img, "<domain/>", SaveRestoreFlags::empty())
            .unwrap_err(),
    ] {
        assert_eq!(
            (err.code, err.domain),
            (VIR_ERR_OPERATION_DENIED, VIR_FROM_DOMAIN)
        );
    }
    assert_eq!(env.state(), VIR_DOMAIN_SHUTOFF);
}

#[test]
fn concurrent_cycles_on_one_connection_stay_consistent() {
    let env = TestDefault::new("threads");
    let xml = env.dom().xml_desc(XmlFlags::empty()).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let (conn, dir, xml) = (env.conn.clone(), env.dir.clone(), xml.clone());
            s.spawn(move || {
                let name = format!("t{t}");
                let uuid = format!("00000000-0000-4000-8000-00000000000{t}");
                let def = xml
                    .replace("<name>test</name>", &format!("<name>{name}</name>"))
                    .replace("6695eb01-f6a4-8304-79aa-97f2502e193f", &uuid);
                conn.create_xml(&def, CreateFlags::empty()).unwrap();
                let img = dir.join(format!("{name}.img"));
                for _ in 0..50 {
                    conn.lookup_by_name(&name).unwrap().save(&img).unwrap();
                    assert!(
                        conn.lookup_by_name(&name).is_err(),
                        "transient domain survived its save"
                    );
                    conn.restore(&img).unwrap();
                }
                conn.lookup_by_name(&name).unwrap().destroy().unwrap();
            });
        }
    });
    assert_eq!(env.conn.active_domain_ids().unwrap(), vec![1]);
}

#[test]
fn memory_peeks_answer_as_libvirts_test_driver() {
    let env = TestDefault::new("peek");
    let dom = env.dom();
    // Byte i is the low byte of start + i.
    let bytes = dom.memory_peek(0x12f0, 300, MemoryFlags::VIRTUAL).unwrap();
    assert!(bytes
        .iter()
        .enumerate()
        .all(|(i, &b)| b == (0xf0 + i) as u8));
    assert_eq!(
        dom.memory_peek(7, 2, MemoryFlags::PHYSICAL).unwrap(),
        [7, 8]
    );
    assert!(dom
        .memory_peek(0, 0, MemoryFlags::PHYSICAL)
        .unwrap()
        .is_empty());
    let err = dom
        .memory_peek(0, 8, MemoryFlags::from_bits_retain(3))
        .unwrap_err();
    assert_eq!(
        (err.code, err.domain),
        (VIR_ERR_INVALID_ARG, VIR_FROM_DOMAIN)
    );
    let err = dom.memory_peek(0, 8, MemoryFlags::empty()).unwrap_err();
    assert_eq!((err.code, err.domain), (VIR_ERR_INVALID_ARG, VIR_FROM_TEST));
    let err = dom
        .memory_peek(0, 8, MemoryFlags::from_bits_retain(4))
        .unwrap_err();
    assert_eq!(
        err.message,
        "unsupported flags (0x4) in function testDomainMemoryPeek"
    );
    let ro = connect(TEST_DEFAULT, ConnectFlags::RO).unwrap();
    let err = ro
        .lookup_by_name("test")
        .unwrap()
        .memory_peek(0, 8, MemoryFlags::VIRTUAL)
        .unwrap_err();
    assert_eq!(
        (err.code, err.domain),
        (VIR_ERR_OPERATION_DENIED, VIR_FROM_DOMAIN)
    );
    dom.destroy().unwrap();
    let err = dom.memory_peek(0, 8, MemoryFlags::VIRTUAL).unwrap_err();
    assert_eq!(
        (err.code, err.domain),
        (VIR_ERR_OPERATION_INVALID, VIR_FROM_DOMAIN)
    );
}
