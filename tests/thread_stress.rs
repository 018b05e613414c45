//! Threads hammering `test:///default` through the safe Rust core: 8 threads x 10,000
//! calls, once on one shared connection and once on a connection per thread.
//!
//! Each thread owns a few domains that only it touches, so each call on them has one right
//! outcome (`stress::model`), checked call by call; all threads also race on shared
//! domains, where a call may only fail with an error the race explains. Listings taken
//! during the run must show each thread's own domains as its model says and never a name,
//! UUID or ID twice; at the end, listings, lookups and states agree. A watchdog fails the
//! test if the threads do not finish in time (a deadlock).

mod common;
mod stress;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{connect, scratch, serial, TEST_DEFAULT};
use stress::model::{error_domain, Op, Own, Rng, Run};
use virshim::abi::virDomainState::*;
use virshim::abi::virErrorNumber::*;
use virshim::abi::{
    ConnectFlags, CreateFlags, DomainState, ListDomainsFlags, NoFlags, SaveImageXmlFlags,
    SaveRestoreFlags, XmlFlags,
};
use virshim::core::{Connection, Domain};

const THREADS: usize = 8;
const OPS: usize = 10_000;
/// Domains each thread owns, and domains all threads race on.
const OWN: usize = 4;
const SHARED: usize = 2;
/// Far above a run's time (a few seconds in a debug build): only a stuck thread hits it.
const WATCHDOG: Duration = Duration::from_secs(240);

/// A domain the threads call on.
#[derive(Clone)]
struct Target {
    name: String,
    uuid: [u8; 16],
    xml: String,
    /// Where the calling thread saves it.
    image: PathBuf,
}

impl Target {
    /// Domain `k` of `owner` (`None`: a shared one) in the run tagged `tag`.
    fn new(tag: u8, owner: Option<usize>, k: usize, caller: usize, dir: &Path) -> Target {
        let owner_byte = owner.map_or(0xff, |t| t as u8);
        let name = match owner {
            Some(t) => format!("{tag}-t{t}-own{k}"),
            None => format!("{tag}-shared{k}"),
        };
        let mut uuid = [0u8; 16];
        uuid[..4].copy_from_slice(&[0x5e, tag, owner_byte, k as u8]);
        let xml = format!(
            "<domain type='test'><name>{name}</name><uuid>{}</uuid><memory>1024</memory>\
             <os><type>hvm</type></os></domain>",
            uuid::Uuid::from_bytes(uuid).hyphenated()
        );
        let image = dir.join(format!("{name}-by-t{caller}.img"));
        Target {
            name,
            uuid,
            xml,
            image,
        }
    }
}

/// How the calls of one thread went, per operation: succeeded, failed as expected.
#[derive(Default)]
struct Tally(BTreeMap<String, [usize; 2]>);

impl Tally {
    fn add(&mut self, what: String, ok: bool) {
        self.0.entry(what).or_default()[usize::from(!ok)] += 1;
    }

    fn merge(&mut self, other: Tally) {
        for (what, [ok, failed]) in other.0 {
            let entry = self.0.entry(what).or_default();
            entry[0] += ok;
            entry[1] += failed;
        }
    }
}

struct Worker {
    conn: Connection,
    t: usize,
    rng: Rng,
    own: Vec<(Target, Own)>,
    shared: Vec<Target>,
    /// A handle kept across calls per shared domain, so that calls also go through handles
    /// whose domain was undefined and defined again meanwhile.
    cached: Vec<Option<Domain>>,
    /// Whether the thread may open connections of its own during the run.
    reopen: bool,
    tally: Tally,
}

impl Worker {
    fn run(&mut self) {
        for n in 0..OPS {
            match self.rng.below(100) {
                0..65 => self.own_call(n),
                65..95 => self.shared_call(n),
                95..99 => self.snapshot(),
                _ if self.reopen => self.reopened(),
                _ => self.snapshot(),
            }
        }
    }

    /// A call on one of the thread's domains, whose outcome the model predicts.
    fn own_call(&mut self, n: usize) {
        let k = self.rng.below(OWN);
        let op = self.rng.pick(&Op::ALL);
        let (target, before) = self.own[k].clone();
        let expected = before.expect(op);
        let got = self.call(op, &target, Some(before), n);
        match (expected, got) {
            (Ok(next), Ok(())) => self.own[k].1 = next,
            (Err(code), Err(e)) if e.code == code && e.domain == error_domain(code) => {}
            (expected, got) => panic!(
                "thread {} call {n}: {op:?} on {} ({before:?}): expected {expected:?}, got {:?}",
                self.t,
                target.name,
                got.map_err(|e| e.message)
            ),
        }
        self.tally.add(format!("own {op:?}"), expected.is_ok());
    }

    /// A call on a shared domain: any outcome a race explains.
    fn shared_call(&mut self, n: usize) {
        let k = self.rng.below(SHARED);
        let op = self.rng.pick(&Op::ALL);
        let target = self.shared[k].clone();
        let got = self.call(op, &target, None, n);
        if let Err(e) = &got {
            assert!(
                op.racing_errors().contains(&e.code) && e.domain == error_domain(e.code),
                "thread {} call {n}: {op:?} on {}: no race explains {e:?}",
                self.t,
                target.name
            );
        }
        self.tally.add(format!("shared {op:?}"), got.is_ok());
    }

    /// A handle on `d`: looked up afresh or, for a shared domain, often the one looked up
    /// at an earlier call (its domain may have stopped, gone or come back since).
    fn handle(&mut self, d: &Target, shared: bool) -> virshim::Result<Domain> {
        if shared && self.rng.below(2) == 0 {
            let k = self.shared.iter().position(|s| s.name == d.name).unwrap();
            let fresh = self.conn.lookup_by_uuid(&d.uuid).ok();
            if let Some(earlier) = std::mem::replace(&mut self.cached[k], fresh) {
                return Ok(earlier);
            }
        }
        self.conn.lookup_by_name(&d.name)
    }

    /// Makes call `op` on `d`; `model`: what the domain must be, when only this thread
    /// changes it.
    fn call(&mut self, op: Op, d: &Target, model: Option<Own>, n: usize) -> virshim::Result<()> {
        let shared = model.is_none();
        match op {
            Op::Define => self.conn.define_xml(&d.xml).map(drop),
            Op::Create => self.handle(d, shared)?.create(),
            Op::CreateXml => self.conn.create_xml(&d.xml, CreateFlags::empty()).map(drop),
            Op::Suspend => self.handle(d, shared)?.suspend(),
            Op::Resume => self.handle(d, shared)?.resume(),
            Op::Save { paused } => {
                let flags = if paused {
                    SaveRestoreFlags::PAUSED
                } else {
                    SaveRestoreFlags::empty()
                };
                self.handle(d, shared)?.save_flags(&d.image, None, flags)
            }
            Op::Restore => self.conn.restore(&d.image),
            Op::ImageEdit => {
                let xml = self
                    .conn
                    .save_image_xml_desc(&d.image, SaveImageXmlFlags::empty())?;
                assert!(xml.contains(&format!("<name>{}</name>", d.name)), "{xml}");
                let edited = with_description(&xml, &format!("thread {} call {n}", self.t));
                self.conn
                    .save_image_define_xml(&d.image, &edited, SaveRestoreFlags::empty())?;
                let back = self
                    .conn
                    .save_image_xml_desc(&d.image, SaveImageXmlFlags::empty())?;
                assert!(back.contains(&format!("call {n}<")), "edit lost: {back}");
                Ok(())
            }
            Op::Destroy => self.handle(d, shared)?.destroy(),
            Op::Undefine => self.handle(d, shared)?.undefine(),
            Op::Lookup => self.lookups(d, model),
            Op::Inspect => {
                let dom = self.handle(d, shared)?;
                let (state, _) = dom.state(NoFlags::empty()).map(DomainState::raw)?;
                let info = dom.info()?;
                let active = dom.is_active()?;
                let persistent = dom.is_persistent()?;
                let xml = dom.xml_desc(XmlFlags::empty())?;
                assert!(xml.contains(&format!("<name>{}</name>", d.name)));
                if let Some(m) = model {
                    assert_eq!(
                        (state, info.state, active, persistent),
                        (m.run.state(), state, m.run != Run::Off, m.persistent),
                        "{} ({m:?})",
                        d.name
                    );
                    assert_eq!(xml.contains(" id='"), active, "{xml}");
                }
                Ok(())
            }
        }
    }

    fn lookups(&mut self, d: &Target, model: Option<Own>) -> virshim::Result<()> {
        let by_name = self.conn.lookup_by_name(&d.name)?;
        assert_eq!(by_name.uuid(), d.uuid);
        let by_uuid = self.conn.lookup_by_uuid(&d.uuid)?;
        assert_eq!(by_uuid.name(), d.name);
        let id = by_name.id();
        if let Some(m) = model {
            assert_eq!(id > 0, m.run != Run::Off, "{} ({m:?})", d.name);
        }
        if id > 0 {
            // IDs are never reused: the ID names this domain or, if it stopped since, none.
            match self.conn.lookup_by_id(id) {
                Ok(dom) => assert_eq!(dom.name(), d.name),
                Err(e) if model.is_none() && e.code == VIR_ERR_NO_DOMAIN => {}
                Err(e) => panic!("{}: lookup of its ID {id}: {e:?}", d.name),
            }
        }
        Ok(())
    }

    /// One listing: no name, UUID or ID twice, and this thread's domains as its model says.
    fn snapshot(&mut self) {
        let listed = self
            .conn
            .list_all_domains(ListDomainsFlags::empty())
            .unwrap();
        assert_unique(&listed);
        for (target, model) in &self.own {
            let found = listed.iter().find(|d| d.name() == target.name);
            assert_eq!(
                found.map(|d| d.id() > 0),
                model.exists().then_some(model.run != Run::Off),
                "thread {}: {} listed wrongly ({model:?})",
                self.t,
                target.name
            );
        }
        self.tally.add("listing".into(), true);
    }

    /// A connection opened and closed while the others stay open: it sees the same state.
    fn reopened(&mut self) {
        let conn = connect(TEST_DEFAULT, ConnectFlags::empty()).unwrap();
        for (target, model) in &self.own {
            assert_eq!(conn.lookup_by_name(&target.name).is_ok(), model.exists());
        }
        self.tally.add("reopen".into(), true);
    }
}

/// `xml` with its description replaced by `text`.
fn with_description(xml: &str, text: &str) -> String {
    let without = match (xml.find("<description>"), xml.find("</description>")) {
        (Some(start), Some(end)) => format!("{}{}", &xml[..start], &xml[end + 14..]),
        _ => xml.to_owned(),
    };
    without.replacen(
        "</name>",
        &format!("</name><description>{text}</description>"),
        1,
    )
}

fn assert_unique(listed: &[Domain]) {
    let mut names = HashSet::new();
    let mut uuids = HashSet::new();
    let mut ids = HashSet::new();
    for d in listed {
        assert!(
            names.insert(d.name().to_owned()),
            "{} listed twice",
            d.name()
        );
        assert!(uuids.insert(d.uuid()), "UUID of {} listed twice", d.name());
        assert!(
            d.id() < 0 || ids.insert(d.id()),
            "ID {} listed twice",
            d.id()
        );
    }
}

/// With no call running: listings, ID and name lists, lookups and states all agree.
fn assert_consistent(conn: &Connection) {
    let listed = conn.list_all_domains(ListDomainsFlags::empty()).unwrap();
    assert_unique(&listed);
    let mut active: Vec<i32> = listed.iter().map(Domain::id).filter(|&i| i > 0).collect();
    let mut ids = conn.active_domain_ids().unwrap();
    active.sort_unstable();
    ids.sort_unstable();
    assert_eq!(ids, active);
    let mut inactive: Vec<String> = listed
        .iter()
        .filter(|d| d.id() < 0)
        .map(|d| d.name().to_owned())
        .collect();
    let mut names = conn.defined_domain_names().unwrap();
    inactive.sort();
    names.sort();
    assert_eq!(names, inactive);
    for d in &listed {
        let (state, _) = d.state(NoFlags::empty()).map(DomainState::raw).unwrap();
        assert_eq!(d.is_active().unwrap(), d.id() > 0, "{}", d.name());
        assert_eq!(state == VIR_DOMAIN_SHUTOFF, d.id() < 0, "{}", d.name());
        assert_eq!(conn.lookup_by_name(d.name()).unwrap().uuid(), d.uuid());
        if d.id() > 0 {
            assert_eq!(conn.lookup_by_id(d.id()).unwrap().name(), d.name());
        } else {
            assert!(
                d.is_persistent().unwrap(),
                "{}: inactive transient",
                d.name()
            );
        }
    }
}

/// The run tagged `tag`: threads on one shared connection, or on one connection each.
fn stress(tag: u8, one_connection: bool) {
    // The default state is shared by every connection of the process: one run at a time.
    let _serial = serial();
    let dir = scratch(&format!("run-{tag}"));
    let main = connect(TEST_DEFAULT, ConnectFlags::empty()).unwrap();
    for k in 0..SHARED {
        main.define_xml(&Target::new(tag, None, k, 0, &dir).xml)
            .unwrap();
    }
    let started = Instant::now();
    let (done, finished) = mpsc::channel();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let conn = if one_connection {
                main.clone()
            } else {
                connect(TEST_DEFAULT, ConnectFlags::empty()).unwrap()
            };
            let mut worker = Worker {
                conn,
                t,
                rng: Rng::new(u64::from(tag) << 8 | t as u64),
                own: (0..OWN)
                    .map(|k| (Target::new(tag, Some(t), k, t, &dir), Own::default()))
                    .collect(),
                shared: (0..SHARED)
                    .map(|k| Target::new(tag, None, k, t, &dir))
                    .collect(),
                cached: (0..SHARED).map(|_| None).collect(),
                reopen: !one_connection,
                tally: Tally::default(),
            };
            let done = done.clone();
            std::thread::spawn(move || {
                worker.run();
                let own: Vec<_> = worker.own.clone();
                done.send((own, std::mem::take(&mut worker.tally))).unwrap();
            })
        })
        .collect();
    drop(done);
    let mut owned = Vec::new();
    let mut tally = Tally::default();
    let mut reported = 0;
    while reported < THREADS {
        let left = WATCHDOG.saturating_sub(started.elapsed());
        match finished.recv_timeout(left) {
            Ok((own, t)) => {
                reported += 1;
                owned.extend(own);
                tally.merge(t);
            }
            // A thread panicked: its failure is the test's.
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("deadlock: {reported} of {THREADS} threads finished in {WATCHDOG:?}")
            }
        }
    }
    for t in threads {
        if let Err(panic) = t.join() {
            std::panic::resume_unwind(panic);
        }
    }
    let elapsed = started.elapsed();
    assert_consistent(&main);
    // Every domain accounted for: each thread's exactly as its model says.
    for (target, model) in &owned {
        match main.lookup_by_name(&target.name) {
            Ok(d) => {
                assert!(model.exists(), "{} should be gone", target.name);
                assert_eq!(
                    d.state(NoFlags::empty()).map(DomainState::raw).unwrap().0,
                    model.run.state(),
                    "{}",
                    target.name
                );
                assert_eq!(d.is_persistent().unwrap(), model.persistent);
            }
            Err(e) => {
                assert!(!model.exists(), "{} lost ({model:?})", target.name);
                assert_eq!(e.code, VIR_ERR_NO_DOMAIN);
            }
        }
    }
    // The run exercised every call both ways, and the shared domains did race.
    for (what, [ok, failed]) in &tally.0 {
        eprintln!("{what:>24}: {ok:>6} succeeded, {failed:>6} failed as expected");
    }
    for op in Op::ALL {
        let [ok, failed] = tally.0[&format!("own {op:?}")];
        assert!(ok > 0, "own {op:?} never succeeded");
        assert!(failed > 0 || op == Op::Define, "own {op:?} never failed");
    }
    let raced: usize = tally
        .0
        .iter()
        .filter(|(what, _)| what.starts_with("shared"))
        .map(|(_, [_, failed])| failed)
        .sum();
    assert!(raced > 0, "the shared domains never raced");
    eprintln!(
        "{} calls in {elapsed:?} on {}",
        THREADS * OPS,
        if one_connection {
            "one connection"
        } else {
            "a connection per thread"
        }
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn eight_threads_on_one_connection() {
    stress(1, true);
}

#[test]
fn eight_threads_on_a_connection_each() {
    stress(2, false);
}
