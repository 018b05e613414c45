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
//! libvirt runs embedded (`qemu:///embed?root=...`) with the qemu.conf of
//! `src/drivers/qemu/testdata/record.py`, as the unprivileged user `nobody` when the tests
//! run as root, driven through its Python binding in one long-lived child process: virsh
//! reads all of a piped stdin before it runs any command, and the embedded driver lives
//! only as long as the process that opened it. The tests need libvirt's QEMU driver,
//! `libvirt_iohelper` and the Python binding (Debian: libvirt-daemon-driver-qemu,
//! libvirt-daemon, python3-libvirt), `qemu-system-x86_64` and `nasm`; without them they
//! skip, or fail under `CI=true`.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::*;
use virshim::abi::virDomainState::{self, *};
use virshim::abi::{CreateFlags, DomainState, NoFlags, SaveRestoreFlags, XmlFlags};
use virshim::drivers::qemu::image::SaveImage;
use virshim::drivers::qemu::testing::process::{Paths, Qemu};

const NAME: &str = "guest";
const UUID: &str = "c7a5fdbd-edaf-9455-926a-d65c16db1809";
const RAM: u64 = 32 << 20;
const QEMU_CONF: &str = "stdio_handler = \"file\"\nsecurity_driver = \"none\"\n\
                         namespaces = [ ]\ncgroup_controllers = [ ]\n";
const NOBODY: u32 = 65534;
/// Debian's Python, which has the libvirt binding (not whatever `python3` PATH finds).
const PYTHON: &str = "/usr/bin/python3";

fn is_root() -> bool {
    // SAFETY: geteuid has no arguments and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The guest kernel, once libvirt, its QEMU driver and Python binding, QEMU and nasm are
/// there; `None` when the test must skip.
fn interop_tools() -> Option<PathBuf> {
    let (_qemu, kernel) = tools()?;
    require_file(PYTHON, "python3")?;
    require_file(
        "/usr/lib/python3/dist-packages/libvirt_qemu.py",
        "python3-libvirt",
    )?;
    require_file(
        "/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so",
        "libvirt-daemon-driver-qemu",
    )?;
    require_file("/usr/lib/libvirt/libvirt_iohelper", "libvirt-daemon")?;
    if is_root() {
        require("setpriv")?;
    }
    Some(kernel)
}

/// The folders of one test, short for UNIX socket paths: `base` (libvirt's user owns it),
/// libvirt's root `base/l`, virshim's root `base/v` (root's), images in `base`.
struct Dirs {
    base: PathBuf,
    libvirt: PathBuf,
    virshim: PathBuf,
    kernel: PathBuf,
}

impl Dirs {
    fn new(test: &str, kernel: &Path) -> Dirs {
        let base = std::env::temp_dir().join(format!("virshim-interop-{test}"));
        let _ = fs::remove_dir_all(&base);
        let libvirt = base.join("l");
        let virshim = base.join("v");
        fs::create_dir_all(libvirt.join("etc")).unwrap();
        fs::create_dir_all(base.join("home/run")).unwrap();
        fs::write(libvirt.join("etc/qemu.conf"), QEMU_CONF).unwrap();
        let guest = base.join("guest.bin");
        fs::copy(kernel, &guest).unwrap();
        fs::set_permissions(&guest, fs::Permissions::from_mode(0o644)).unwrap();
        if is_root() {
            for entry in [&base, &libvirt, &libvirt.join("etc"), &base.join("home")] {
                chown(entry, Some(NOBODY), Some(NOBODY)).unwrap();
            }
            chown(libvirt.join("etc/qemu.conf"), Some(NOBODY), Some(NOBODY)).unwrap();
            chown(base.join("home/run"), Some(NOBODY), Some(NOBODY)).unwrap();
        }
        fs::set_permissions(&base, fs::Permissions::from_mode(0o755)).unwrap();
        fs::create_dir_all(&virshim).unwrap();
        Dirs {
            base,
            libvirt,
            virshim,
            kernel: guest,
        }
    }

    fn xml(&self) -> String {
        format!(
            "<domain type='qemu'><name>{NAME}</name><uuid>{UUID}</uuid>\
             <memory unit='MiB'>32</memory><os><type>hvm</type><kernel>{}</kernel></os>\
             </domain>",
            self.kernel.display()
        )
    }
}

/// libvirt's side, a Python program on the libvirt binding: one JSON request a line, one
/// JSON answer a line.
const DRIVER: &str = r#"
import json, sys, threading
import libvirt, libvirt_qemu
libvirt.virEventRegisterDefaultImpl()
def events():
    while True:
        libvirt.virEventRunDefaultImpl()
threading.Thread(target=events, daemon=True).start()
conn = libvirt.open(sys.argv[1])
for line in sys.stdin:
    op, arg = json.loads(line)
    try:
        out = ""
        if op == "create":
            conn.createXML(arg, 0)
        elif op == "define":
            out = conn.defineXML(arg).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        elif op == "restore":
            conn.restore(arg)
        elif op == "list":
            out = " ".join(d.name() for d in conn.listAllDomains(0))
        else:
            dom = conn.lookupByName(arg[0])
            if op == "hmp":
                out = libvirt_qemu.qemuMonitorCommand(
                    dom, arg[1], libvirt_qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP)
            elif op == "save":
                dom.saveFlags(arg[1], None, arg[2])
            elif op == "state":
                out = str(dom.state(0)[0])
            elif op == "resume":
                dom.resume()
            elif op == "destroy":
                dom.destroy()
            elif op == "start":
                dom.create()
                out = dom.XMLDesc(0)
            elif op == "undefine":
                dom.undefine()
        print(json.dumps({"ok": out}), flush=True)
    except libvirt.libvirtError as e:
        print(json.dumps({"error": str(e)}), flush=True)
"#;

/// libvirt 9.0's embedded QEMU driver, in a child process.
struct Libvirt {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Libvirt {
    fn open(dirs: &Dirs) -> Libvirt {
        let uri = format!("qemu:///embed?root={}", dirs.libvirt.display());
        let mut command = Command::new(if is_root() { "setpriv" } else { PYTHON });
        if is_root() {
            command.args([
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                PYTHON,
            ]);
        }
        let mut child = command
            .args(["-c", DRIVER, &uri])
            .env("HOME", dirs.base.join("home"))
            .env("XDG_RUNTIME_DIR", dirs.base.join("home/run"))
            .current_dir(&dirs.base)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(dirs.base.join("libvirt.err")).unwrap())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (send, lines) = channel();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Libvirt {
            child,
            stdin: Some(stdin),
            lines,
        }
    }

    /// What `op` answers; a failure if libvirt reports an error.
    fn call(&mut self, op: &str, arg: serde_json::Value) -> String {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{}", serde_json::json!([op, arg])).unwrap();
        stdin.flush().unwrap();
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("libvirt: no answer to {op}"));
        let answer: serde_json::Value = serde_json::from_str(&line).unwrap();
        match answer["ok"].as_str() {
            Some(out) => out.to_string(),
            None => panic!("libvirt {op}: {}", answer["error"]),
        }
    }

    fn on_guest(&mut self, op: &str) -> String {
        self.call(op, serde_json::json!([NAME]))
    }

    fn hmp(&mut self, command: &str) -> String {
        self.call("hmp", serde_json::json!([NAME, command]))
    }

    /// The guest's status block, through HMP `xp`.
    fn status(&mut self) -> Status {
        let out = self.hmp(&format!("xp /6wx {STATUS:#x}"));
        let words: Vec<u32> = out
            .split_whitespace()
            .filter(|w| w.starts_with("0x"))
            .map(|w| u32::from_str_radix(&w[2..], 16).unwrap())
            .collect();
        assert_eq!(words.len(), 6, "{out}");
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        Status::parse(&bytes)
    }

    /// All of the guest's RAM, through HMP `pmemsave` into a file of `dir`.
    fn ram(&mut self, dir: &Path) -> Vec<u8> {
        let file = dir.join("ram.bin");
        // Quoted: HMP would read `SIZE /tmp` as a division.
        let out = self.hmp(&format!("pmemsave 0 {RAM} \"{}\"", file.display()));
        let bytes = fs::read(&file).unwrap_or_else(|e| panic!("{e}: {out}"));
        fs::remove_file(&file).unwrap();
        assert_eq!(bytes.len() as u64, RAM);
        bytes
    }

    fn state(&mut self) -> virDomainState {
        match self.on_guest("state").as_str() {
            "1" => VIR_DOMAIN_RUNNING,
            "3" => VIR_DOMAIN_PAUSED,
            other => panic!("state {other}"),
        }
    }

    fn wait_filled(&mut self) -> Status {
        let deadline = secs(30);
        loop {
            let status = self.status();
            match &status.marker {
                b"FILLDONE" => return status,
                b"FAILED!!" => panic!("the guest found no multiboot memory size"),
                _ => assert!(Instant::now() < deadline, "the guest never filled its RAM"),
            }
            sleep(Duration::from_millis(50));
        }
    }

    /// The pid of the running guest's QEMU.
    fn qemu_pid(&self, dirs: &Dirs) -> i32 {
        let pids = qemus_under(&dirs.libvirt);
        assert_eq!(pids.len(), 1, "libvirt's QEMUs: {pids:?}");
        pids[0]
    }
}

impl Drop for Libvirt {
    fn drop(&mut self) {
        if let Some(stdin) = self.stdin.as_mut() {
            if std::thread::panicking() {
                let _ = writeln!(stdin, "{}", serde_json::json!(["destroy", [NAME]]));
            }
            let _ = stdin.flush();
        }
        self.stdin.take();
        let deadline = secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn attach(root: &Path) -> Qemu {
    let paths = Paths::in_dir(&root.join("run/qemu").join(NAME));
    Qemu::attach(&paths, secs(10)).unwrap().expect("QEMU runs")
}

fn image_note(who: &str, image: &Path, took: Duration) {
    let size = fs::metadata(image).unwrap().len();
    eprintln!(
        "{who} saved {} bytes ({} KiB) in {:.2} s",
        size,
        size >> 10,
        took.as_secs_f64()
    );
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
    let flags = if was_running {
        SaveRestoreFlags::empty()
    } else {
        SaveRestoreFlags::PAUSED
    };
    let t = Instant::now();
    libvirt.call("save", serde_json::json!([NAME, image, flags.bits()]));
    image_note("libvirt", &image, t.elapsed());
    assert_eq!(libvirt.call("list", serde_json::Value::Null), "");
    drop(libvirt);
    assert_gone(libvirt_pid);

    // A copy of root's: what virshim reads is not libvirt's file.
    let copy = dirs.virshim.join("copy.save");
    fs::create_dir_all(&dirs.virshim).unwrap();
    fs::copy(&image, &copy).unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o600)).unwrap();
    let (_, parsed) = SaveImage::open(&copy).unwrap();
    assert_eq!(parsed.header.was_running, was_running);

    let conn = open(&dirs.virshim);
    let t = Instant::now();
    conn.restore(&copy).unwrap();
    eprintln!("virshim restored in {:.2} s", t.elapsed().as_secs_f64());
    let dom = conn.lookup_by_name(NAME).unwrap();
    let (state, _) = dom.state(NoFlags::empty()).map(DomainState::raw).unwrap();
    let expected = if was_running {
        VIR_DOMAIN_RUNNING
    } else {
        VIR_DOMAIN_PAUSED
    };
    assert_eq!(state, expected);

    let mut q = attach(&dirs.virshim);
    let pid = q.pid();
    assert_eq!(running(&mut q), was_running);
    let ram = read_phys(&mut q, &dirs.virshim, 0, RAM);
    let restored = Status::in_ram(&ram);
    assert_eq!(&restored.marker, b"FILLDONE");
    assert_eq!((restored.end, restored.seed), (before.end, before.seed));
    assert!(
        restored.counter >= before.counter,
        "{restored:?} {before:?}"
    );
    check_stream(&ram, restored.end as usize);
    drop(q);

    if !was_running {
        dom.resume().unwrap();
    }
    sleep(Duration::from_millis(200));
    let mut q = attach(&dirs.virshim);
    let later = Status::read(&mut q, &dirs.virshim);
    drop(q);
    assert!(
        later.counter > restored.counter,
        "the counter did not go on"
    );
    dom.destroy().unwrap();
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
    let mut q = attach(&dirs.virshim);
    let pid = q.pid();
    let before = wait_filled(&mut q, &dirs.virshim);
    drop(q);
    let image = dirs.base.join("virshim.save");
    let flags = if was_running {
        SaveRestoreFlags::empty()
    } else {
        SaveRestoreFlags::PAUSED
    };
    let t = Instant::now();
    dom.save_flags(&image, None, flags).unwrap();
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
    let state = libvirt.state();
    let expected = if was_running {
        VIR_DOMAIN_RUNNING
    } else {
        VIR_DOMAIN_PAUSED
    };
    assert_eq!(state, expected);

    let ram = libvirt.ram(&dirs.base);
    let restored = Status::in_ram(&ram);
    assert_eq!(&restored.marker, b"FILLDONE");
    assert_eq!((restored.end, restored.seed), (before.end, before.seed));
    assert!(
        restored.counter >= before.counter,
        "{restored:?} {before:?}"
    );
    check_stream(&ram, restored.end as usize);

    if !was_running {
        assert_eq!(libvirt.status().counter, restored.counter);
        libvirt.on_guest("resume");
        assert_eq!(libvirt.state(), VIR_DOMAIN_RUNNING);
    }
    sleep(Duration::from_millis(200));
    let later = libvirt.status();
    assert!(
        later.counter > restored.counter,
        "the counter did not go on"
    );
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
