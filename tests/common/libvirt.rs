//! libvirt 9.0's embedded QEMU driver beside virshim's, for the tests that cross save
//! images between them (`qemu_interop`, `qemu_interop_compressed`): the folders of one
//! test, libvirt driven through its Python binding in a child process, and the checks of
//! a guest either side restored.
//!
//! libvirt runs embedded (`qemu:///embed?root=...`) with the qemu.conf of
//! `src/drivers/qemu/testdata/record.py`, as the unprivileged user `nobody` when the tests
//! run as root, driven through its Python binding in one long-lived child process: virsh
//! reads all of a piped stdin before it runs any command, and the embedded driver lives
//! only as long as the process that opened it. The tests need libvirt's QEMU driver,
//! `libvirt_iohelper` and the Python binding (Debian: libvirt-daemon-driver-qemu,
//! libvirt-daemon, python3-libvirt), `qemu-system-x86_64` and `nasm`; without them they
//! skip, or fail under `CI=true`.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::thread::sleep;
use std::time::{Duration, Instant};

use virshim::abi::virDomainState::{self, *};
use virshim::abi::{DomainState, NoFlags};
use virshim::core::Connection;

use super::{
    attach, check_stream, guest_xml_mib, qemus_under, read_phys, require, require_file, running,
    secs, tools, Status, STATUS, UUID,
};

pub const NAME: &str = "guest";
pub const QEMU_CONF: &str = "stdio_handler = \"file\"\nsecurity_driver = \"none\"\n\
                         namespaces = [ ]\ncgroup_controllers = [ ]\n";
pub const NOBODY: u32 = 65534;
/// Debian's Python, which has the libvirt binding (not whatever `python3` PATH finds).
pub const PYTHON: &str = "/usr/bin/python3";

pub fn is_root() -> bool {
    // SAFETY: geteuid has no arguments and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The guest kernel, once libvirt, its QEMU driver and Python binding, QEMU and nasm are
/// there; `None` when the test must skip.
pub fn interop_tools() -> Option<PathBuf> {
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
pub struct Dirs {
    pub base: PathBuf,
    pub libvirt: PathBuf,
    pub virshim: PathBuf,
    pub kernel: PathBuf,
    /// The guest's RAM in MiB.
    pub ram_mib: u64,
}

impl Dirs {
    /// A test's folders, for the guest with 32 MiB of RAM.
    pub fn new(test: &str, kernel: &Path) -> Dirs {
        Dirs::sized(test, kernel, 32)
    }

    /// A test's folders, for the guest with `ram_mib` of RAM.
    pub fn sized(test: &str, kernel: &Path, ram_mib: u64) -> Dirs {
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
            ram_mib,
        }
    }

    pub fn xml(&self) -> String {
        guest_xml_mib(NAME, UUID, &self.kernel, self.ram_mib)
    }

    /// The guest's RAM in bytes.
    pub fn ram(&self) -> u64 {
        self.ram_mib << 20
    }

    /// Both sides' qemu.conf with `extra` added (e.g. `save_image_format = "xz"`); each
    /// side reads it when it next opens a connection.
    pub fn configure(&self, extra: &str) {
        fs::write(
            self.libvirt.join("etc/qemu.conf"),
            format!("{QEMU_CONF}{extra}"),
        )
        .unwrap();
        fs::create_dir_all(self.virshim.join("etc")).unwrap();
        fs::write(self.virshim.join("etc/qemu.conf"), extra).unwrap();
    }

    /// A root-only copy of libvirt's `image` in virshim's root: what virshim reads is not
    /// libvirt's file.
    pub fn root_copy(&self, image: &Path) -> PathBuf {
        let copy = self.virshim.join("copy.save");
        fs::copy(image, &copy).unwrap();
        fs::set_permissions(&copy, fs::Permissions::from_mode(0o600)).unwrap();
        copy
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
pub struct Libvirt {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Libvirt {
    pub fn open(dirs: &Dirs) -> Libvirt {
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
    pub fn call(&mut self, op: &str, arg: serde_json::Value) -> String {
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

    pub fn on_guest(&mut self, op: &str) -> String {
        self.call(op, serde_json::json!([NAME]))
    }

    pub fn hmp(&mut self, command: &str) -> String {
        self.call("hmp", serde_json::json!([NAME, command]))
    }

    /// The guest's status block, through HMP `xp`.
    pub fn status(&mut self) -> Status {
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

    /// All of the guest's RAM, through HMP `pmemsave` into a file of the base folder.
    pub fn ram(&mut self, dirs: &Dirs) -> Vec<u8> {
        let file = dirs.base.join("ram.bin");
        // Quoted: HMP would read `SIZE /tmp` as a division.
        let len = dirs.ram();
        let out = self.hmp(&format!("pmemsave 0 {len} \"{}\"", file.display()));
        let bytes = fs::read(&file).unwrap_or_else(|e| panic!("{e}: {out}"));
        fs::remove_file(&file).unwrap();
        assert_eq!(bytes.len() as u64, len);
        bytes
    }

    pub fn state(&mut self) -> virDomainState {
        match self.on_guest("state").as_str() {
            "1" => VIR_DOMAIN_RUNNING,
            "3" => VIR_DOMAIN_PAUSED,
            other => panic!("state {other}"),
        }
    }

    pub fn wait_filled(&mut self) -> Status {
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
    pub fn qemu_pid(&self, dirs: &Dirs) -> i32 {
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

pub fn image_note(who: &str, image: &Path, took: Duration) {
    let size = fs::metadata(image).unwrap().len();
    eprintln!(
        "{who} saved {} bytes ({} KiB) in {:.2} s",
        size,
        size >> 10,
        took.as_secs_f64()
    );
}

/// Checks the RAM of a restored guest against its status when saved: the fill whole, the
/// counter not behind; returns the restored status.
pub fn check_restored_ram(ram: &[u8], before: &Status) -> Status {
    let restored = Status::in_ram(ram);
    assert_eq!(&restored.marker, b"FILLDONE");
    assert_eq!((restored.end, restored.seed), (before.end, before.seed));
    assert!(
        restored.counter >= before.counter,
        "{restored:?} {before:?}"
    );
    check_stream(ram, restored.end as usize);
    restored
}

fn expected_state(was_running: bool) -> virDomainState {
    if was_running {
        VIR_DOMAIN_RUNNING
    } else {
        VIR_DOMAIN_PAUSED
    }
}

impl Libvirt {
    /// After libvirt restored the guest: running or paused as saved, its RAM as when saved
    /// (`before`), then running (resumed if paused) and counting on; returns its status.
    pub fn check_restored(&mut self, dirs: &Dirs, before: &Status, was_running: bool) -> Status {
        assert_eq!(self.state(), expected_state(was_running));
        let restored = check_restored_ram(&self.ram(dirs), before);
        if !was_running {
            assert_eq!(self.status().counter, restored.counter);
            self.on_guest("resume");
            assert_eq!(self.state(), VIR_DOMAIN_RUNNING);
        }
        sleep(Duration::from_millis(200));
        let later = self.status();
        assert!(
            later.counter > restored.counter,
            "the counter did not go on"
        );
        later
    }
}

/// After virshim restored the guest on `conn`: the same checks as
/// [`Libvirt::check_restored`], through QMP.
pub fn virshim_check_restored(
    conn: &Connection,
    dirs: &Dirs,
    before: &Status,
    was_running: bool,
) -> Status {
    let dom = conn.lookup_by_name(NAME).unwrap();
    let (state, _) = dom.state(NoFlags::empty()).map(DomainState::raw).unwrap();
    assert_eq!(state, expected_state(was_running));
    let mut q = attach(&dirs.virshim, NAME);
    assert_eq!(running(&mut q), was_running);
    let restored = check_restored_ram(&read_phys(&mut q, &dirs.virshim, 0, dirs.ram()), before);
    drop(q);
    if !was_running {
        dom.resume().unwrap();
    }
    sleep(Duration::from_millis(200));
    let later = Status::read(&mut attach(&dirs.virshim, NAME), &dirs.virshim);
    assert!(
        later.counter > restored.counter,
        "the counter did not go on"
    );
    later
}
