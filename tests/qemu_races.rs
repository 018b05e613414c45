//! Processes racing on one QEMU root: two processes on one domain, four on two (this test
//! binary, run again as workers) define, start, save, restore, destroy and undefine the
//! same domains and edit their images' XML, each through its own connection, saving to
//! and restoring from the same image paths.
//!
//! Afterwards: no process hung; each call succeeded or failed only as a race explains;
//! a fresh connection lists each domain once, persistent and active as the successful
//! calls allow (the one that finished last decides, or any of those that overlapped it);
//! every QEMU running under the root belongs to an active domain and no active domain
//! lacks one; nothing else is left under the root (no temporary state files, run
//! directories of stopped domains, memory files) and beside the images (no partial
//! saves), and every image there is complete.
//!
//! Needs `qemu-system-x86_64` and `nasm` (see `common`); the guest has 16 MiB under TCG.

mod common;

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use virshim::abi::virErrorNumber::{self, *};
use virshim::abi::{ListDomainsFlags, SaveImageXmlFlags, SaveRestoreFlags};
use virshim::core::Connection;
use virshim::drivers::qemu::image::SaveImage;

/// Set in a worker's environment: its number; the others name the root, the images'
/// directory, the guest kernel and how many calls to make.
const WORKER: &str = "VIRSHIM_RACE_WORKER";
const ROOT: &str = "VIRSHIM_RACE_ROOT";
const IMAGES: &str = "VIRSHIM_RACE_IMAGES";
const KERNEL: &str = "VIRSHIM_RACE_KERNEL";
const CALLS: &str = "VIRSHIM_RACE_CALLS";
const DOMAINS: &str = "VIRSHIM_RACE_DOMAINS";
/// The run's seed: each run draws other calls, printed so that a failure can be rerun.
const SEED: &str = "VIRSHIM_RACE_SEED";

/// One race: how many processes, on how many domains, making how many calls each.
#[derive(Clone, Copy)]
struct Race {
    workers: usize,
    domains: usize,
    calls: usize,
}
/// Far above a worker's time: only a hung process reaches it.
const WORKER_TIMEOUT: Duration = Duration::from_secs(240);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    Define,
    Undefine,
    Create,
    Destroy,
    Save,
    Restore,
    /// The image's XML read, given a new description and written back.
    ImageDefine,
}

const ALL: [Call; 7] = [
    Call::Define,
    Call::Undefine,
    Call::Create,
    Call::Destroy,
    Call::Save,
    Call::Restore,
    Call::ImageDefine,
];

/// How often a worker makes each call of [`ALL`]: those that start and stop QEMU most.
const WEIGHTS: [usize; 7] = [2, 1, 3, 2, 3, 3, 1];

impl Call {
    fn parse(word: &str) -> Call {
        *ALL.iter().find(|c| format!("{c:?}") == word).unwrap()
    }

    /// The errors other processes' calls on the same domain can cause.
    fn racing_errors(self) -> &'static [virErrorNumber] {
        match self {
            Call::Define => &[],
            // Gone meanwhile; transient, running, or not running.
            Call::Undefine | Call::Create | Call::Destroy | Call::Save => {
                &[VIR_ERR_NO_DOMAIN, VIR_ERR_OPERATION_INVALID]
            }
            // Running already; no image saved yet.
            Call::Restore => &[VIR_ERR_OPERATION_INVALID, VIR_ERR_SYSTEM_ERROR],
            Call::ImageDefine => &[VIR_ERR_SYSTEM_ERROR],
        }
    }

    /// What a success makes of the domain: persistent or not, active or not.
    fn persistence(self) -> Option<bool> {
        match self {
            Call::Define => Some(true),
            Call::Undefine => Some(false),
            _ => None,
        }
    }

    fn activity(self) -> Option<bool> {
        match self {
            Call::Create | Call::Restore => Some(true),
            Call::Destroy | Call::Save => Some(false),
            _ => None,
        }
    }
}

fn name(d: usize) -> String {
    format!("race{d}")
}

fn domain_xml(d: usize, kernel: &Path) -> String {
    format!(
        "<domain type='qemu'><name>{}</name><uuid>7ace0000-0000-4000-8000-{d:012}</uuid>\
         <memory unit='MiB'>16</memory><os><type>hvm</type><kernel>{}</kernel></os></domain>",
        name(d),
        kernel.display()
    )
}

/// CLOCK_MONOTONIC in nanoseconds: one clock for every process of the machine.
fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// One call a worker made, as it reports it on a line of its output.
#[derive(Debug)]
struct Record {
    worker: usize,
    domain: usize,
    call: Call,
    /// The error's code and message, if it failed.
    error: Option<(u32, String)>,
    start: u64,
    end: u64,
}

impl Record {
    fn parse(worker: usize, line: &str) -> Option<Record> {
        let mut words = line.strip_prefix("RACE ")?.splitn(6, ' ');
        let mut next = || words.next().unwrap();
        let (domain, call, start, end, code) = (next(), next(), next(), next(), next());
        let code: u32 = code.parse().unwrap();
        Some(Record {
            worker,
            domain: domain.parse().unwrap(),
            call: Call::parse(call),
            error: (code != 0).then(|| (code, words.next().unwrap_or("").to_owned())),
            start: start.parse().unwrap(),
            end: end.parse().unwrap(),
        })
    }
}

/// The calls of one worker process, on domains and calls its number seeds.
#[test]
#[ignore = "a worker of processes_race_on_one_root, which runs it in other processes"]
fn race_worker() {
    let Ok(worker) = std::env::var(WORKER) else {
        return;
    };
    let var = |key| std::env::var(key).unwrap();
    let root = PathBuf::from(var(ROOT));
    let images = PathBuf::from(var(IMAGES));
    let kernel = PathBuf::from(var(KERNEL));
    let calls: usize = var(CALLS).parse().unwrap();
    let domains: usize = var(DOMAINS).parse().unwrap();
    let mut seed: u64 = worker
        .parse::<u64>()
        .unwrap()
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        | 1;
    let mut below = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 33) as usize % n
    };
    let conn = open(&root);
    let mut pick = |n: usize| {
        let mut w = below(WEIGHTS.iter().sum());
        let call = ALL.iter().zip(WEIGHTS).find(|(_, weight)| {
            let hit = w < *weight;
            w = w.saturating_sub(*weight);
            hit
        });
        (below(n), *call.unwrap().0)
    };
    for n in 0..calls {
        let (d, call) = pick(domains);
        let image = images.join(format!("{}.img", name(d)));
        let start = now_ns();
        let result = match call {
            Call::Define => conn.define_xml(&domain_xml(d, &kernel)).map(drop),
            Call::Restore => conn.restore(&image),
            Call::ImageDefine => conn
                .save_image_xml_desc(&image, SaveImageXmlFlags::empty())
                .and_then(|xml| {
                    let text = format!("worker {worker} call {n}");
                    let edited = match (xml.find("<description>"), xml.find("</description>")) {
                        (Some(a), Some(b)) => format!("{}{text}{}", &xml[..a + 13], &xml[b..]),
                        _ => xml.replacen(
                            "</uuid>",
                            &format!("</uuid><description>{text}</description>"),
                            1,
                        ),
                    };
                    conn.save_image_define_xml(&image, &edited, SaveRestoreFlags::empty())
                }),
            _ => conn.lookup_by_name(&name(d)).and_then(|dom| match call {
                Call::Undefine => dom.undefine(),
                Call::Create => dom.create(),
                Call::Destroy => dom.destroy(),
                _ => dom.save(&image),
            }),
        };
        let end = now_ns();
        let (code, message) = match result {
            Ok(()) => (0, String::new()),
            Err(e) => (e.code as u32, e.message.replace('\n', " ")),
        };
        println!("RACE {d} {call:?} {start} {end} {code} {message}");
    }
}

/// Runs the workers and waits for them all, failing if one hangs or fails.
fn run_workers(race: Race, seed: u64, root: &Path, images: &Path, kernel: &Path) -> Vec<Record> {
    let exe = std::env::current_exe().unwrap();
    let mut children: Vec<Child> = (0..race.workers)
        .map(|w| {
            Command::new(&exe)
                .args(["--exact", "race_worker", "--ignored", "--nocapture"])
                .env(WORKER, (w + 1).to_string())
                .env(ROOT, root)
                .env(IMAGES, images)
                .env(KERNEL, kernel)
                .env(CALLS, race.calls.to_string())
                .env(DOMAINS, race.domains.to_string())
                .env(SEED, seed.to_string())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let deadline = Instant::now() + WORKER_TIMEOUT;
    while children.iter_mut().any(|c| c.try_wait().unwrap().is_none()) {
        if Instant::now() > deadline {
            for c in &mut children {
                let _ = c.kill();
            }
            panic!("a worker hung for {WORKER_TIMEOUT:?} (a deadlock)");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut records = Vec::new();
    for (w, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "worker {w} failed: {:?}", out.status);
        let text = String::from_utf8(out.stdout).unwrap();
        let mine: Vec<Record> = text.lines().filter_map(|l| Record::parse(w, l)).collect();
        assert_eq!(mine.len(), race.calls, "worker {w}:\n{text}");
        records.extend(mine);
    }
    records
}

/// The values the calls that set a property allow at the end: the value of each
/// successful call that no other one started after it ended (those may have been last).
fn possible(records: &[&Record], initial: bool, effect: fn(Call) -> Option<bool>) -> Vec<bool> {
    let set: Vec<(&Record, bool)> = records
        .iter()
        .filter(|r| r.error.is_none())
        .filter_map(|r| effect(r.call).map(|e| (*r, e)))
        .collect();
    if set.is_empty() {
        return vec![initial];
    }
    set.iter()
        .filter(|(x, _)| !set.iter().any(|(y, _)| y.start > x.end))
        .map(|(_, e)| *e)
        .collect()
}

#[test]
fn two_processes_race_on_one_domain() {
    race(
        "two",
        Race {
            workers: 2,
            domains: 1,
            calls: 100,
        },
    );
}

#[test]
fn four_processes_race_on_two_domains() {
    race(
        "four",
        Race {
            workers: 4,
            domains: 2,
            calls: 60,
        },
    );
}

fn race(test: &str, race: Race) {
    let Some((_qemu, kernel)) = tools() else {
        return;
    };
    let (_serial, _stragglers, root) = setup(test);
    let images = root.join("images");
    fs::create_dir(&images).unwrap();
    let conn = open(&root);
    for d in 0..race.domains {
        conn.define_xml(&domain_xml(d, &kernel)).unwrap();
    }
    let seed = std::env::var(SEED).map_or_else(|_| now_ns(), |s| s.parse().unwrap());
    eprintln!("{test}: {SEED}={seed}");
    let started = Instant::now();
    let records = run_workers(race, seed, &root, &images, &kernel);
    let elapsed = started.elapsed();

    // Each call succeeded or failed as a race explains.
    for r in &records {
        if let Some((code, message)) = &r.error {
            assert!(
                r.call.racing_errors().iter().any(|&c| c as u32 == *code),
                "no race explains worker {}'s {r:?}: {message}",
                r.worker
            );
        }
    }
    let fresh = open(&root);
    let listed = fresh.list_all_domains(ListDomainsFlags::empty()).unwrap();
    let mut names = HashSet::new();
    for d in &listed {
        assert!(names.insert(d.name().to_owned()), "{} twice", d.name());
        assert!(d.name().starts_with("race"), "{} from nowhere", d.name());
    }
    // Each domain as the successful calls allow.
    for d in 0..race.domains {
        let mine: Vec<&Record> = records.iter().filter(|r| r.domain == d).collect();
        let persistent = possible(&mine, true, Call::persistence);
        let active = possible(&mine, false, Call::activity);
        let found = listed.iter().find(|dom| dom.name() == name(d));
        let (p, a) = found.map_or((false, false), |dom| {
            (dom.is_persistent().unwrap(), dom.is_active().unwrap())
        });
        assert!(
            persistent.contains(&p) && active.contains(&a),
            "{}: persistent {p} (allowed {persistent:?}), active {a} (allowed {active:?}) \
             after {mine:#?}",
            name(d)
        );
        assert_eq!(found.is_some(), p || a, "{}", name(d));
    }
    check_leftovers(&fresh, &root, &images);
    let ok = records.iter().filter(|r| r.error.is_none()).count();
    eprintln!(
        "{} processes, {} calls ({ok} succeeded) in {elapsed:?}",
        race.workers,
        records.len()
    );
    for d in listed.iter().filter(|d| d.is_active().unwrap()) {
        d.destroy().unwrap();
    }
    drop(conn);
    fs::remove_dir_all(&root).unwrap();
}

/// Every QEMU under the root is an active domain's and the reverse; no file under the
/// root or among the images that the domains' state does not explain; images complete.
fn check_leftovers(conn: &Connection, root: &Path, images: &Path) {
    let active: Vec<String> = conn
        .list_all_domains(ListDomainsFlags::empty())
        .unwrap()
        .iter()
        .filter(|d| d.is_active().unwrap())
        .map(|d| d.name().to_owned())
        .collect();
    let mut owned: Vec<i32> = active.iter().map(|n| pid_of(root, n)).collect();
    let mut running = qemus_under(root);
    owned.sort_unstable();
    running.sort_unstable();
    assert_eq!(
        running, owned,
        "QEMUs running vs QEMUs of active {active:?}"
    );

    let persistent: Vec<String> = conn
        .list_all_domains(ListDomainsFlags::empty())
        .unwrap()
        .iter()
        .filter(|d| d.is_persistent().unwrap())
        .map(|d| format!("{}.xml", d.name()))
        .collect();
    let mut expected = persistent.clone();
    expected.sort();
    assert_eq!(listing(&root.join("etc/qemu")), expected, "definitions");
    let mut expected_run: Vec<String> = active.clone();
    expected_run.extend(["driver.lock".into(), "next-id".into()]);
    expected_run.sort();
    assert_eq!(listing(&root.join("run/qemu")), expected_run, "run/qemu");
    for dom in &active {
        for file in listing(&root.join("run/qemu").join(dom)) {
            let known = ["def.xml", "live.xml", "status", "qemu.pid", "monitor.sock"];
            assert!(known.contains(&file.as_str()), "{dom}: stray {file}");
        }
    }
    assert!(listing(&root.join("lib/qemu/save")).is_empty());
    for file in listing(images) {
        let path = images.join(&file);
        assert!(
            file.ends_with(".img") && !file.starts_with('.'),
            "stray {file} beside the images"
        );
        SaveImage::open(&path).unwrap_or_else(|e| panic!("{file}: {e:?}"));
        conn.save_image_xml_desc(&path, SaveImageXmlFlags::empty())
            .unwrap();
    }
}
