//! `qemu:///session`: the QEMU driver rooted in the user's data directory
//! (`$XDG_DATA_HOME/virshim/qemu`, else `~/.local/share/virshim/qemu`), the same driver
//! as `qemu:///embed?root=` on that directory.
//!
//! This crate holds one test, because it changes the process's environment.

mod common;

use std::fs;

use common::*;
use virshim::abi::virDomainRunningReason::VIR_DOMAIN_RUNNING_RESTORED;
use virshim::abi::virDomainState::VIR_DOMAIN_RUNNING;
use virshim::abi::virErrorNumber::VIR_ERR_OPERATION_FAILED;
use virshim::abi::{ConnectFlags, DomainState, ListDomainsFlags, NoFlags};
use virshim::core::Connection;

fn session() -> virshim::Result<Connection> {
    connect("qemu:///session", ConnectFlags::empty())
}

#[test]
fn the_session_driver_lives_in_the_users_data_directory() {
    let Some((_qemu, kernel)) = tools() else {
        return;
    };
    let dir = scratch_dir("session");
    let data = dir.join("data");
    let home = dir.join("home");
    std::env::set_var("XDG_DATA_HOME", &data);
    std::env::set_var("HOME", &home);
    let root = data.join("virshim/qemu");
    let _stragglers = Stragglers(root.clone());

    // A guest defined, run, saved and restored on the session...
    let conn = session().unwrap();
    assert_eq!(conn.uri(), "qemu:///session");
    let dom = conn.define_xml(&guest_xml("guest", UUID, &kernel)).unwrap();
    assert!(root.join("etc/qemu/guest.xml").is_file());
    dom.create().unwrap();
    wait_filled(&mut attach(&root, "guest"), &root);
    let image = dir.join("guest.save");
    dom.save(&image).unwrap();
    conn.restore(&image).unwrap();

    // ... is the guest of the embedded driver on that root.
    let embed = open(&root);
    let seen = embed.lookup_by_name("guest").unwrap();
    assert_eq!(
        seen.state(NoFlags::empty()).map(DomainState::raw).unwrap(),
        (VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_RESTORED as i32)
    );
    assert_eq!(seen.id(), conn.lookup_by_name("guest").unwrap().id());
    seen.destroy().unwrap();
    seen.undefine().unwrap();
    assert!(session()
        .unwrap()
        .list_all_domains(ListDomainsFlags::empty())
        .unwrap()
        .is_empty());

    // Without XDG_DATA_HOME (or with a relative one, which XDG says to ignore): under HOME.
    for xdg in [None, Some("relative/data")] {
        match xdg {
            Some(value) => std::env::set_var("XDG_DATA_HOME", value),
            None => std::env::remove_var("XDG_DATA_HOME"),
        }
        let conn = session().unwrap();
        conn.define_xml(&guest_xml("other", UUID, &kernel)).unwrap();
        let file = home.join(".local/share/virshim/qemu/etc/qemu/other.xml");
        assert!(file.is_file(), "{xdg:?}");
        conn.lookup_by_name("other").unwrap().undefine().unwrap();
        assert!(!file.exists());
    }

    // Neither: a clear error.
    std::env::remove_var("XDG_DATA_HOME");
    std::env::remove_var("HOME");
    let err = match session() {
        Ok(_) => panic!("a session without a home opened"),
        Err(e) => e,
    };
    assert_eq!(
        (err.code, err.message.as_str()),
        (
            VIR_ERR_OPERATION_FAILED,
            "operation failed: cannot find the user's data directory: neither XDG_DATA_HOME nor HOME is set"
        )
    );
    fs::remove_dir_all(&dir).unwrap();
}
