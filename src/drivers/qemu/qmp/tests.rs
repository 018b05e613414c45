//! The monitor against fake QEMUs, and its message reader on bytes.

use super::message::MAX_LINE;
use super::*;
use crate::abi::virErrorDomain::VIR_FROM_QEMU;
use crate::abi::virErrorNumber::{
    VIR_ERR_INTERNAL_ERROR, VIR_ERR_OPERATION_FAILED, VIR_ERR_OPERATION_TIMEOUT,
    VIR_ERR_SYSTEM_ERROR,
};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use serde_json::json;
use std::io::{BufRead, BufReader, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};

const GREETING: &str = r#"{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}"#;

/// A socket path of its own for each fake QEMU.
fn socket_path() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let name = format!("virshim-qmp-{}-{n}.sock", std::process::id());
    std::env::temp_dir().join(name)
}

/// Accepts the one client of a fake QEMU; its socket file is not needed any more.
fn accept(listener: UnixListener, path: &Path) -> UnixStream {
    let (stream, _) = listener.accept().unwrap();
    let _ = std::fs::remove_file(path);
    stream
}

/// A fake QEMU: greets, answers `qmp_capabilities`, then hands the connection (and the
/// reader of its lines) to `script`.
fn fake_qemu(
    script: impl FnOnce(UnixStream, &mut dyn FnMut() -> Value) + Send + 'static,
) -> (PathBuf, JoinHandle<()>) {
    let path = socket_path();
    let listener = UnixListener::bind(&path).unwrap();
    let server_path = path.clone();
    let handle = thread::spawn(move || {
        let mut stream = accept(listener, &server_path);
        writeln!(stream, "{GREETING}\r").unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut next = move || {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            serde_json::from_str::<Value>(&line).unwrap_or(Value::Null)
        };
        let caps = next();
        assert_eq!(caps["execute"], "qmp_capabilities");
        writeln!(stream, "{}\r", json!({"return": {}, "id": caps["id"]})).unwrap();
        script(stream, &mut next);
    });
    (path, handle)
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

#[test]
fn commands_get_their_own_reply_and_events_are_kept() {
    let (path, server) = fake_qemu(|mut s, next| {
        let cmd = next();
        assert_eq!(cmd["execute"], "query-status");
        assert_eq!(cmd.get("arguments"), None);
        // An event and a stale reply arrive before the real reply.
        writeln!(
            s,
            r#"{{"event": "STOP", "timestamp": {{"seconds": 2, "microseconds": 5}}}}"#
        )
        .unwrap();
        writeln!(
            s,
            r#"{{"return": {{"status": "old"}}, "id": "someone-else"}}"#
        )
        .unwrap();
        let reply = json!({"return": {"status": "paused", "running": false}, "id": cmd["id"]});
        writeln!(s, "{reply}").unwrap();
        let cmd = next();
        assert_eq!(cmd["arguments"], json!({"uri": "fd:x"}));
        writeln!(s, r#"{{"event": "RESUME", "data": {{"a": 1}}}}"#).unwrap();
        writeln!(s, "{}", json!({"return": {}, "id": cmd["id"]})).unwrap();
        writeln!(
            s,
            r#"{{"event": "MIGRATION", "data": {{"status": "completed"}}}}"#
        )
        .unwrap();
        // Keep the connection open until the client is done.
        let _ = next();
    });
    let mut mon = Monitor::connect(&path, soon()).unwrap();
    assert_eq!(mon.qemu_version(), (7, 2, 22));
    let status = mon.execute("query-status", None).unwrap();
    assert_eq!(status["status"], "paused");
    mon.execute("migrate", Some(json!({"uri": "fd:x"})))
        .unwrap();
    let migration = mon.wait_event("MIGRATION", soon()).unwrap();
    assert_eq!(migration.data["status"], "completed");
    let events = mon.take_events();
    let names: Vec<_> = events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["STOP", "RESUME"]);
    assert_eq!(events[0].timestamp_us, 2_000_005);
    assert_eq!(events[0].data, Value::Null);
    assert_eq!(events[1].data, json!({"a": 1}));
    drop(mon);
    server.join().unwrap();
}

#[test]
fn qmp_errors_read_as_libvirt_reports_them() {
    let (path, server) = fake_qemu(|mut s, next| {
        let cmd = next();
        let reply = json!({"error": {"class": "GenericError", "desc": "boom"}, "id": cmd["id"]});
        writeln!(s, "{reply}").unwrap();
        let _ = next();
    });
    let mut mon = Monitor::connect(&path, soon()).unwrap();
    let err = mon.execute("migrate", None).unwrap_err();
    assert_eq!(err.code, VIR_ERR_INTERNAL_ERROR);
    assert_eq!(err.domain, VIR_FROM_QEMU);
    assert_eq!(
        err.message,
        "internal error: unable to execute QEMU command 'migrate': boom"
    );
    drop(mon);
    server.join().unwrap();
}

#[test]
fn a_closed_monitor_is_reported_every_time() {
    let (path, server) = fake_qemu(|s, next| {
        let _ = next();
        drop(s); // QEMU dies while the command runs
    });
    let mut mon = Monitor::connect(&path, soon()).unwrap();
    mon.set_vm_name("guest");
    let err = mon.execute("query-migrate", None).unwrap_err();
    assert_eq!(err.code, VIR_ERR_OPERATION_FAILED);
    assert_eq!(err.domain, VIR_FROM_QEMU);
    assert_eq!(
        err.message,
        "operation failed: QEMU unexpectedly closed the monitor (vm='guest')"
    );
    server.join().unwrap();
    assert!(mon.is_closed());
    assert_eq!(mon.execute("cont", None).unwrap_err(), err);
    assert!(mon.take_events().is_empty());
}

#[test]
fn a_silent_qemu_times_out() {
    let (path, server) = fake_qemu(|_s, next| {
        let _ = next(); // read the command, never answer
        let _ = next(); // until the client hangs up
    });
    let mut mon = Monitor::connect(&path, soon()).unwrap();
    mon.set_timeout(Duration::from_millis(100));
    let start = Instant::now();
    let err = mon.execute("query-status", None).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(err.code, VIR_ERR_OPERATION_TIMEOUT);
    assert_eq!(
        err.message,
        "Timed out during operation: no reply from QEMU to command 'query-status' in time"
    );
    let err = mon
        .wait_event("SHUTDOWN", Instant::now() + Duration::from_millis(50))
        .unwrap_err();
    assert_eq!(err.code, VIR_ERR_OPERATION_TIMEOUT);
    drop(mon);
    server.join().unwrap();
}

#[test]
fn a_descriptor_travels_with_its_command() {
    let path = socket_path();
    let listener = UnixListener::bind(&path).unwrap();
    let server_path = path.clone();
    let server = thread::spawn(move || {
        let mut s = accept(listener, &server_path);
        writeln!(s, "{GREETING}").unwrap();
        let mut pending = Vec::new();
        let mut received = None;
        let mut replies = 0;
        while replies < 2 {
            let mut buf = [0u8; 4096];
            let mut cmsg = nix::cmsg_space!([i32; 1]);
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg =
                recvmsg::<()>(s.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty()).unwrap();
            for c in msg.cmsgs().unwrap() {
                if let ControlMessageOwned::ScmRights(fds) = c {
                    received = Some(fds[0]);
                }
            }
            let n = msg.bytes;
            pending.extend_from_slice(&buf[..n]);
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let cmd: Value = serde_json::from_slice(&line).unwrap();
                let ret = if cmd["execute"] == "getfd" {
                    // SAFETY: the descriptor just arrived over SCM_RIGHTS and is ours.
                    let mut file = unsafe {
                        <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(
                            received.take().unwrap(),
                        )
                    };
                    let mut text = String::new();
                    file.read_to_string(&mut text).unwrap();
                    json!({"got": text, "name": cmd["arguments"]["fdname"]})
                } else {
                    json!({})
                };
                writeln!(s, "{}", json!({"return": ret, "id": cmd["id"]})).unwrap();
                replies += 1;
            }
        }
    });
    let (r, w) = nix::unistd::pipe().unwrap();
    std::fs::File::from(w).write_all(b"stream").unwrap();
    let mut mon = Monitor::connect(&path, soon()).unwrap();
    let ret = mon
        .execute_with_fd("getfd", Some(json!({"fdname": "save"})), r.as_fd())
        .unwrap();
    assert_eq!(ret, json!({"got": "stream", "name": "save"}));
    server.join().unwrap();
}

#[test]
fn connecting_fails_cleanly() {
    let missing = socket_path();
    let err = Monitor::connect(&missing, Instant::now() + Duration::from_millis(50)).unwrap_err();
    assert_eq!(err.code, VIR_ERR_SYSTEM_ERROR);
    assert_eq!(
        err.message,
        "monitor socket did not show up: No such file or directory"
    );

    let long = PathBuf::from(format!("/tmp/{}", "x".repeat(200)));
    let err = Monitor::connect(&long, soon()).unwrap_err();
    assert!(err.message.contains("too big for destination"), "{err}");

    // Not QMP at all, then garbage: errors, not panics.
    for greeting in ["{\"hello\": 1}", "\u{1}not json"] {
        let path = socket_path();
        let listener = UnixListener::bind(&path).unwrap();
        let server_path = path.clone();
        let server = thread::spawn(move || {
            let mut s = accept(listener, &server_path);
            writeln!(s, "{greeting}").unwrap();
        });
        let err = Monitor::connect(&path, soon()).unwrap_err();
        assert_eq!(err.code, VIR_ERR_INTERNAL_ERROR, "{err}");
        server.join().unwrap();
    }
}

#[test]
fn lines_come_out_whole_however_the_bytes_arrive() {
    let stream = b"{\"a\": 1}\r\n\n  \r\n{\"b\"\n[2]\n{\"c\"";
    for chunk in 1..=stream.len() {
        let mut lines = Lines::default();
        let mut got = Vec::new();
        for part in stream.chunks(chunk) {
            lines.push(part);
            while let Some(msg) = lines.next_message() {
                got.push(msg.map_err(|e| e.message));
            }
        }
        assert_eq!(got.len(), 3, "reads of {chunk}");
        assert_eq!(got[0], Ok(json!({"a": 1})));
        assert!(got[1]
            .as_ref()
            .unwrap_err()
            .contains("cannot parse QEMU monitor reply '{\"b\"'"));
        assert_eq!(got[2], Ok(json!([2])));
    }
}

#[test]
fn a_line_longer_than_any_reply_is_refused_for_good() {
    let mut lines = Lines::default();
    lines.push(&vec![b' '; MAX_LINE]);
    assert!(lines.next_message().is_none());
    lines.push(b"x");
    for _ in 0..2 {
        let err = lines.next_message().unwrap().unwrap_err();
        assert_eq!(err.message, "internal error: QEMU monitor reply too large");
    }
}
