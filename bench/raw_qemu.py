#!/usr/bin/python3
"""The raw QEMU anchor of bench/qemu.sh: what QEMU 7.2 alone does with the same guest.

Usage: raw_qemu.py KERNEL DIR [MIB]   (as root: it drops the page cache)

0. Times the first touch of MIB MiB of fresh anonymous memory (one byte a page), for
   what allocating a restored guest's RAM costs on this machine.

1. Starts qemu-system-x86_64 with the test guest (TCG, MIB MiB, default 1024, the
   machine type libvirt 9.0 picks), waits for "FILLDONE" at 0x180000 (HMP `xp`), stops
   the guest, lifts the migration bandwidth cap, passes the descriptor of a fresh file
   (SCM_RIGHTS, QMP `getfd`) and migrates into it (`migrate fd:raw`), then fsyncs it.
   save = migrate start to fsync done (migrate and fsync also shown apart).
2. Drops the page cache and starts QEMU with `-S -incoming defer`; passes the file's
   descriptor and runs `migrate-incoming fd:raw`: restore = from that command until
   `query-migrate` says completed (QEMU's start until QMP answers is shown apart).
3. The same restore with `-incoming exec:cat FILE` instead, also from a cold cache; this
   one is timed from QEMU's start (the migration starts with QEMU).
After each restore the guest's status block must still say FILLDONE.

Before each timed step the page cache is dropped, followed by a wait of BENCH_SETTLE
seconds (environment, default 0). Prints one "key value" line per figure.
"""
import json
import mmap
import os
import socket
import subprocess
import sys
import time

STATUS = 0x180000


def drop_caches():
    """Drops the page cache, then waits BENCH_SETTLE seconds (see bench/qemu_save.c)."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3")
    time.sleep(float(os.environ.get("BENCH_SETTLE", "0")))


class Qmp:
    def __init__(self, path, deadline):
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.005)
        self.file = self.sock.makefile("rb")
        self.read()  # greeting
        self.execute("qmp_capabilities")

    def read(self):
        line = self.file.readline()
        if not line:
            raise RuntimeError("QMP connection closed")
        return json.loads(line)

    def execute(self, cmd, args=None, fd=None):
        msg = {"execute": cmd}
        if args is not None:
            msg["arguments"] = args
        data = json.dumps(msg).encode() + b"\n"
        if fd is None:
            self.sock.sendall(data)
        else:
            socket.send_fds(self.sock, [data], [fd])
        while True:
            reply = self.read()
            if "event" in reply:
                continue
            if "error" in reply:
                raise RuntimeError(f"{cmd}: {reply['error']}")
            return reply["return"]

    def hmp(self, line):
        return self.execute("human-monitor-command", {"command-line": line})

    def marker(self):
        out = self.hmp(f"xp /8bx {STATUS:#x}")
        return bytes(int(w, 16) for w in out.split()[1:9])

    def wait_migration(self, deadline):
        while True:
            info = self.execute("query-migrate")
            status = info.get("status")
            if status == "completed":
                return info
            if status in ("failed", "cancelled"):
                raise RuntimeError(f"migration {status}: {info.get('error-desc')}")
            if time.monotonic() > deadline:
                raise RuntimeError("migration did not complete in time")
            time.sleep(0.002)


def start_qemu(kernel, qmp_path, mib, incoming):
    args = [
        "qemu-system-x86_64",
        "-machine", "pc-i440fx-7.2,usb=off,dump-guest-core=off",
        "-accel", "tcg",
        "-cpu", "qemu64",
        "-m", str(mib),
        "-smp", "1",
        "-display", "none",
        "-no-user-config",
        "-nodefaults",
        "-chardev", f"socket,id=qmp,path={qmp_path},server=on,wait=off",
        "-mon", "chardev=qmp,mode=control",
        "-kernel", kernel,
    ]
    if incoming:
        args += ["-S", "-incoming", incoming]
    try:
        os.unlink(qmp_path)
    except FileNotFoundError:
        pass
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL)
    qmp = Qmp(qmp_path, time.monotonic() + 30)
    return proc, qmp


def stop_qemu(proc, qmp):
    try:
        qmp.execute("quit")
    except (RuntimeError, OSError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main():
    kernel, out = sys.argv[1], sys.argv[2]
    mib = int(sys.argv[3]) if len(sys.argv) > 3 else 1024
    qmp_path = os.path.join(out, "raw.qmp")
    image = os.path.join(out, "raw.stream")

    def report(key, value):
        print(f"{key} {value}", flush=True)

    # 0. The machine: first touch of MIB MiB of fresh anonymous memory after the page cache
    # is dropped, as a restoring QEMU does with its guest RAM (costly in some VMs, whose
    # host takes freed memory back).
    drop_caches()
    t = time.monotonic()
    ram = mmap.mmap(-1, mib << 20)
    for at in range(0, mib << 20, 4096):
        ram[at] = 1
    report("touch_s", f"{time.monotonic() - t:.3f}")
    ram.close()

    # 1. Save.
    proc, qmp = start_qemu(kernel, qmp_path, mib, None)
    try:
        deadline = time.monotonic() + 600
        t = time.monotonic()
        while qmp.marker() != b"FILLDONE":
            if time.monotonic() > deadline:
                raise RuntimeError("the guest never filled its RAM")
            time.sleep(0.1)
        report("raw_fill_s", f"{time.monotonic() - t:.3f}")
        qmp.execute("stop")
        qmp.execute("migrate-set-parameters", {"max-bandwidth": 2**63 - 1})
        try:
            os.unlink(image)
        except FileNotFoundError:
            pass
        drop_caches()
        fd = os.open(image, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        qmp.execute("getfd", {"fdname": "raw"}, fd=fd)
        t0 = time.monotonic()
        qmp.execute("migrate", {"uri": "fd:raw"})
        qmp.wait_migration(time.monotonic() + 600)
        t1 = time.monotonic()
        os.fsync(fd)
        t2 = time.monotonic()
        os.close(fd)
        report("raw_migrate_s", f"{t1 - t0:.3f}")
        report("raw_fsync_s", f"{t2 - t1:.3f}")
        report("raw_save_s", f"{t2 - t0:.3f}")
        report("raw_stream_bytes", os.path.getsize(image))
    finally:
        stop_qemu(proc, qmp)

    # 2. Restore through fd:, 3. through exec:cat, each from a cold page cache.
    for key, incoming in (("raw_restore_s", "defer"), ("raw_restore_cat_s", f"exec:cat {image}")):
        drop_caches()
        t = time.monotonic()
        proc, qmp = start_qemu(kernel, qmp_path, mib, incoming)
        try:
            if incoming == "defer":
                report("raw_start_s", f"{time.monotonic() - t:.3f}")
                fd = os.open(image, os.O_RDONLY)
                qmp.execute("getfd", {"fdname": "raw"}, fd=fd)
                os.close(fd)
                t = time.monotonic()
                qmp.execute("migrate-incoming", {"uri": "fd:raw"})
            qmp.wait_migration(time.monotonic() + 600)
            report(key, f"{time.monotonic() - t:.3f}")
            if qmp.marker() != b"FILLDONE":
                raise RuntimeError("the restored guest's RAM differs")
        finally:
            stop_qemu(proc, qmp)
    os.unlink(image)


if __name__ == "__main__":
    main()
