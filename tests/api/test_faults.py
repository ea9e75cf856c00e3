"""Faults (issue 7): a full disk, and kill -9 while consoles stream. Writes fail with a Redfish error, reads keep working, nothing already
stored is damaged, the live console never stops; after a kill -9 the database, the
Redfish view and the console history agree. Loopback only, bounded in time; the disk
tests mount a small tmpfs (root)."""
import os
import re
import signal
import sqlite3
import subprocess
import threading
import time

import pytest

import conftest

from conftest import ADMIN_PASSWORD, Client, Vscd, assert_error
from helpers_auth import create_account, unique
from helpers_ports import (SERIALS, EchoBeside, FakeUnixVM, allocate, allocate_ok,
                           check_consistency, free, get_json, members, wait_for, wait_port_field)
from test_console_ws import connect

TMPFS_BYTES = 8 << 20


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d" % TMPFS_BYTES, "tmpfs",
                        str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root): %s" % r.stderr.decode().strip())
    yield str(mnt)
    subprocess.run(["umount", "-l", str(mnt)])


def fill(path):
    """Fills the filesystem of `path`; returns the filler's path."""
    filler = os.path.join(path, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def assert_no_space(r):
    assert_error(r, 507, "InsufficientStorage")


def stored_intact(state_dir, user):
    db = sqlite3.connect(os.path.join(state_dir, "vsc.db"))
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT count(*) FROM accounts WHERE user_name = ?",
                          (user,)).fetchone()[0] == 1
    finally:
        db.close()


def test_full_disk(small_disk):
    v = Vscd(os.path.join(small_disk, "state")).start()
    try:
        admin = Client(v.base, auth=("admin", ADMIN_PASSWORD))
        keep = unique("kept")
        create_account(admin, keep, "ReadOnly")
        a = allocate_ok(admin, Backend="unix", HostName="fulldisk")
        port = a["Ports"][0]
        vm = FakeUnixVM.connect_retry(port["BindPath"])
        token, _ = Client(v.base).login("admin", ADMIN_PASSWORD)
        v.token = token
        con = connect(v, port["Id"])

        filler = fill(small_disk)
        # Writes fail with a Redfish error ...
        r = admin.post("/redfish/v1/AccountService/Accounts",
                       json={"UserName": unique("new"), "Password": "pass-word-1",
                             "RoleId": "Operator"})
        assert_no_space(r)
        r = admin.post("/redfish/v1/Managers/bmc/Actions/Oem/Vsc.AllocatePorts",
                       json={"VMUUID": "0d3c2b1a-0000-4000-8000-000000000001",
                             "VMName": "nospace", "PortCount": 1, "Backend": "unix"})
        assert_no_space(r)
        assert "nospace" not in str(members(admin, "/redfish/v1/Systems"))
        # ... reads keep working, and the live console never stops.
        names = [get_json(admin, m)["UserName"]
                 for m in members(admin, "/redfish/v1/AccountService/Accounts")]
        assert keep in names
        assert get_json(admin, a["System"]["@odata.id"])["Id"] == a["VMUUID"]
        vm.send(b"still streaming on a full disk\r\n")
        con.read_bytes(b"still streaming on a full disk")
        assert v.proc.poll() is None

        os.unlink(filler)
        # Space again: writes work; nothing stored earlier was damaged.
        create_account(admin, unique("after"), "Operator")
        con.close()
        vm.close()
    finally:
        v.stop()
    stored_intact(v.state_dir, keep)
    v.start()
    admin = Client(v.base, auth=("admin", ADMIN_PASSWORD))
    assert get_json(admin, a["System"]["@odata.id"])["Id"] == a["VMUUID"]
    v.stop()


class StreamingVM(threading.Thread):
    """A VM printing numbered lines flat out on a unix port, reconnecting (as QEMU's
    reconnect=1) whenever vscd goes away."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self.seq = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                vm = FakeUnixVM.connect_retry(self.path, timeout=20)
            except AssertionError:
                continue
            try:
                while not self.stop.is_set():
                    vm.send(b"".join(b"seq %08d\r\n" % (self.seq + i) for i in range(64)))
                    self.seq += 64
                    time.sleep(0.002)
            except OSError:
                pass  # vscd died: reconnect
            finally:
                vm.close()


LINE = re.compile(rb"^(?:seq ?\d{0,8})?seq (\d{8})$")  # a line torn by a kill runs into the next


def sequence_in(transcript):
    """The sequence numbers of a port's transcript; fails on anything but whole or torn lines."""
    seqs = []
    for line in transcript.split(b"\r\n"):
        if not line or line.startswith(b"[vsc: "):
            continue
        m = LINE.match(line)
        if m:
            seqs.append(int(m.group(1)))
        else:
            assert re.match(rb"^seq ?\d{0,8}$", line), line  # only the very end may be torn
    return seqs


def test_kill_9_while_consoles_stream(tmp_path):
    v = Vscd(str(tmp_path / "state")).start()
    admin = Client(v.base, auth=("admin", ADMIN_PASSWORD))
    a = allocate_ok(admin, count=2, Backend="unix", HostName="streamer")
    vms = [StreamingVM(p["BindPath"]) for p in a["Ports"]]
    for vm in vms:
        vm.start()
    transcript = a["System"]["@odata.id"] + "/LogServices/Console/Oem/Vsc/Transcript"
    try:
        for round_ in range(3):
            time.sleep(0.4 + 0.3 * round_)
            v.stop(sig=signal.SIGKILL)  # checks the log for sanitizer reports
            v.start()
            admin = Client(v.base, auth=("admin", ADMIN_PASSWORD))
            view = check_consistency(admin, v.state_dir)
            assert set(view) == {a["VMUUID"]}
            assert {str(i): p["Id"] for i, p in view[a["VMUUID"]]["ports"].items()} == \
                {str(p["Index"]): p["Id"] for p in a["Ports"]}, view
            for p in a["Ports"]:
                wait_port_field(admin, p["Id"], "PortState", "Connected", timeout=20)
        time.sleep(0.3)
        for vm in vms:
            vm.stop.set()
        for p in a["Ports"]:
            r = admin.get(transcript, params={"Port": p["Index"], "Tail": 16 << 20})
            assert r.status_code == 200
            seqs = sequence_in(r.content)
            assert len(seqs) > 1000, len(seqs)
            assert all(b > a_ for a_, b in zip(seqs, seqs[1:])), "history out of order"
        db = sqlite3.connect(os.path.join(v.state_dir, "vsc.db"))
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.close()
    finally:
        for vm in vms:
            vm.stop.set()
        v.stop()


SHIM = os.path.join(os.path.dirname(os.path.abspath(conftest.VSCD)), "..", "readonlyfs.so")


def read_only_capable_vscd(tmp_path):
    """A vscd under the read-only shim: its state dir turns read-only while the returned
    flag file exists."""
    if not os.path.exists(SHIM):
        pytest.skip("build/readonlyfs.so is built by make test")
    flag = str(tmp_path / "read-only-now")
    state = str(tmp_path / "state")
    env = {"LD_PRELOAD": os.path.abspath(SHIM), "VSC_RO_DIR": state, "VSC_RO_FLAG": flag,
           "ASAN_OPTIONS": "verify_asan_link_order=0:detect_leaks=1"}
    return Vscd(state, env=env).start(), flag


def test_read_only_state_dir_while_running(tmp_path):
    """The state directory turns read-only under a running vscd (tests/faultfs: EROFS for
    every write under it while a flag file exists, as after a filesystem error): writes
    answer a Redfish error, reads and the live console go on, and once the directory is
    writable again everything works and nothing stored was damaged."""
    v, flag = read_only_capable_vscd(tmp_path)
    try:
        admin = Client(v.base, auth=("admin", ADMIN_PASSWORD))
        keep = unique("kept")
        create_account(admin, keep, "ReadOnly")
        a = allocate_ok(admin, Backend="unix", HostName="rofs")
        port = a["Ports"][0]
        vm = FakeUnixVM.connect_retry(port["BindPath"])
        v.token, _ = Client(v.base).login("admin", ADMIN_PASSWORD)
        con = connect(v, port["Id"])
        vm.send(b"Linux version 6.1.0\r\n")
        con.read_bytes(b"Linux version")

        open(flag, "w").close()  # read-only from now on
        r = admin.post("/redfish/v1/AccountService/Accounts",
                       json={"UserName": unique("ro"), "Password": "pass-word-1",
                             "RoleId": "Operator"})
        assert r.status_code >= 500 and r.json()["error"]["@Message.ExtendedInfo"], r.text
        r = admin.patch("/redfish/v1/Managers/bmc/SerialInterfaces/" + port["Id"],
                        json={"BitRate": "9600"})
        assert r.status_code >= 500 and r.json()["error"]["@Message.ExtendedInfo"], r.text
        assert get_json(admin, "/redfish/v1/Managers/bmc/SerialInterfaces/" +
                        port["Id"])["BitRate"] == "115200"  # not half-changed
        names = [get_json(admin, m)["UserName"]
                 for m in members(admin, "/redfish/v1/AccountService/Accounts")]
        assert keep in names
        vm.send(b"still streaming read-only\r\n")
        con.read_bytes(b"still streaming read-only")
        assert v.proc.poll() is None

        os.unlink(flag)  # writable again
        create_account(admin, unique("after"), "Operator")
        con.close()
        vm.close()
    finally:
        if os.path.exists(flag):
            os.unlink(flag)
        v.stop()
    stored_intact(v.state_dir, keep)


def test_read_only_state_dir_keeps_a_patch_all_or_nothing(tmp_path):
    """A PATCH of line settings and Oem.Vsc.Mode whose write fails changes neither: the
    console's mode is not taken when the line settings could not be stored."""
    v, flag = read_only_capable_vscd(tmp_path)
    try:
        admin = Client(v.base, auth=("admin", ADMIN_PASSWORD))
        port = allocate_ok(admin, Backend="unix", HostName="rofsmode")["Ports"][0]
        uri = "/redfish/v1/Managers/bmc/SerialInterfaces/" + port["Id"]
        open(flag, "w").close()  # read-only from now on
        r = admin.patch(uri, json={"BitRate": "9600", "Oem": {"Vsc": {"Mode": "Private"}}})
        assert r.status_code >= 500 and r.json()["error"]["@Message.ExtendedInfo"], r.text
        after = get_json(admin, uri)
        assert after["BitRate"] == "115200"
        assert (after["Oem"]["Vsc"]["Mode"], after["Oem"]["Vsc"]["ModeHolder"]) == ("Free", None)
        os.unlink(flag)
    finally:
        if os.path.exists(flag):
            os.unlink(flag)
        v.stop()


def test_unreadable_ports_are_not_half_loaded(tmp_path):
    """A database whose ports table cannot be read whole at start (one of its pages
    damaged, as after a disk error): vscd refuses to start rather than serve the ports it
    read before the damage and remove the published paths of the rest as strays (a
    hypervisor's QEMU would lose its socket for good)."""
    v = Vscd(str(tmp_path / "state")).start()
    try:
        admin = Client(v.base, auth=("admin", ADMIN_PASSWORD))
        paths = [p["BindPath"] for i in range(8)
                 for p in allocate_ok(admin, count=8, Backend="unix",
                                      HostName="damaged%d" % i)["Ports"]]
    finally:
        v.stop()
    db_path = os.path.join(v.state_dir, "vsc.db")
    db = sqlite3.connect(db_path)
    try:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        leaves = [n for (n,) in db.execute("SELECT pageno FROM dbstat WHERE name = 'ports' "
                                           "AND pagetype = 'leaf' ORDER BY path")]
    finally:
        db.close()
    assert len(leaves) >= 2, leaves  # the damage must come after some readable rows
    with open(db_path, "r+b") as f:
        f.seek((leaves[-1] - 1) * page_size)
        f.write(b"\0" * page_size)
    try:
        with pytest.raises(RuntimeError, match="cannot load ports"):
            v.start()
    finally:
        v.stop()  # a vscd that did start is not left running
    assert [p for p in paths if not os.path.exists(p)] == []


def test_a_failed_free_frees_nothing(tmp_path):
    """FreePorts is all or nothing: when the database refuses to free the VM's second port
    (a fault injected as a trigger, as a full disk or an I/O error could refuse that
    statement), the first stays allocated too. So the hypervisor's next start of the VM
    (the same AllocatePorts) gets its ports back instead of a conflict with a half-freed
    VM, and a later FreePorts frees both."""
    v = Vscd(str(tmp_path / "state")).start()
    try:
        admin = Client(v.base, auth=("admin", ADMIN_PASSWORD))
        a = allocate_ok(admin, count=2, Backend="unix", HostName="halffree")
        ids = [p["Id"] for p in a["Ports"]]
    finally:
        v.stop()
    db_path = os.path.join(v.state_dir, "vsc.db")
    db = sqlite3.connect(db_path)
    db.execute("CREATE TRIGGER injected_fault BEFORE UPDATE OF freed_at ON ports "
               "WHEN NEW.id = %d BEGIN SELECT RAISE(ABORT, 'injected fault'); END" % int(ids[1]))
    db.commit()
    db.close()
    v.start()
    try:
        admin = Client(v.base, auth=("admin", ADMIN_PASSWORD))
        for body in ({"VMUUID": a["VMUUID"]}, {"SerialInterfaces": ids}):
            r = free(admin, **body)
            assert r.status_code == 500 and r.json()["error"]["@Message.ExtendedInfo"], r.text
            assert [m.rsplit("/", 1)[1] for m in members(admin, SERIALS)] == ids, body
            assert all(os.path.exists(p["BindPath"]) for p in a["Ports"]), body
        r = allocate(admin, a["VMUUID"], a["Ports"][0]["BindPath"].split("/")[-2], 2,
                     Backend="unix", HostName="halffree")
        assert r.status_code == 200, r.text
        assert [p["Id"] for p in r.json()["Ports"]] == ids
    finally:
        v.stop()
    db = sqlite3.connect(db_path)
    try:
        assert db.execute("SELECT count(*) FROM ports WHERE freed_at IS NULL").fetchone()[0] == 2
        assert db.execute("SELECT freed_at FROM vms").fetchall() == [(None,)]
        db.execute("DROP TRIGGER injected_fault")
        db.commit()
    finally:
        db.close()
    v.start()
    try:
        admin = Client(v.base, auth=("admin", ADMIN_PASSWORD))
        r = free(admin, VMUUID=a["VMUUID"])
        assert r.status_code == 200 and sorted(r.json()["Freed"]) == sorted(ids), r.text
    finally:
        v.stop()


SLOW_SYNC = os.path.join(os.path.dirname(os.path.abspath(conftest.VSCD)), "..", "slowsync.so")


def slow_disk_vscd(tmp_path, settings=(), **slow):
    """vscd under tests/faultfs/slowsync.c. slow: its variables by suffix, "{state}" in a
    value standing for the state directory (its real path, as /proc/self/fd shows it)."""
    if not os.path.exists(SLOW_SYNC):
        pytest.skip("build/slowsync.so is built by make test")
    state = os.path.realpath(str(tmp_path)) + "/state"
    env = {"LD_PRELOAD": os.path.abspath(SLOW_SYNC),
           "ASAN_OPTIONS": "verify_asan_link_order=0:detect_leaks=1"}
    env.update({"VSC_SLOW_" + k: v.format(state=state) for k, v in slow.items()})
    return Vscd(state, env=env, extra_args=[a for kv in settings for a in ("--set", kv)]).start()


def vm_and_a_watched_neighbour(v, name):
    """A VM (one unix port) and a second one whose console a WebSocket watches:
    (admin client, the first allocation, its VM side, the neighbour's VM side, the viewer)."""
    admin = Client(v.base, auth=("admin", ADMIN_PASSWORD))
    a = allocate_ok(admin, Backend="unix", HostName=name)
    vm = FakeUnixVM.connect_retry(a["Ports"][0]["BindPath"])
    b = allocate_ok(admin, Backend="unix", HostName=name + "-beside")
    other = FakeUnixVM.connect_retry(b["Ports"][0]["BindPath"])
    v.token, _ = Client(v.base).login("admin", ADMIN_PASSWORD)
    return admin, a, vm, other, connect(v, b["Ports"][0]["Id"])


def test_a_slow_disk_does_not_stall_the_loop(tmp_path):
    """Checkpoints off the loop (service/db_checkpoint.h). Every sync of the database file
    takes 1.5 s (tests/faultfs/slowsync.c, as a BMC's eMMC or a busy disk could) and vscd
    checkpoints every 8 pages of log, while REST writes go on and, beside them, a console
    echoes: the database file is synced, only ever by another thread than the loop's, and
    neither a request nor a console byte waits for it. What was written is all there."""
    syncs = str(tmp_path / "syncs")
    v = slow_disk_vscd(tmp_path, ["db_checkpoint_pages=8"], SYNC_FILE="{state}/vsc.db",
                       SYNC_MS="1500", SYNC_LOG=syncs)
    state = v.state_dir
    try:
        admin = Client(v.base, auth=("admin", ADMIN_PASSWORD))
        port = allocate_ok(admin, Backend="unix", HostName="slowdisk")["Ports"][0]
        vm = FakeUnixVM.connect_retry(port["BindPath"])
        v.token, _ = Client(v.base).login("admin", ADMIN_PASSWORD)
        con = connect(v, port["Id"])
        before = open(syncs).read().split() if os.path.exists(syncs) else []
        slowest_request = 0.0
        end = time.monotonic() + 5
        i = 0
        with EchoBeside(vm, con) as console:
            while time.monotonic() < end:
                i += 1
                t0 = time.monotonic()
                r = admin.patch("/redfish/v1/SessionService", json={"SessionTimeout": 600 + i})
                slowest_request = max(slowest_request, time.monotonic() - t0)
                assert r.status_code == 200, r.text
        # Read before stopping: at exit, the closing connection checkpoints in the main
        # thread, as SQLite does (the loop has stopped serving by then).
        during = open(syncs).read().split()[len(before):]
        kept = get_json(admin, "/redfish/v1/SessionService")["SessionTimeout"]
        con.close()
        vm.close()
    finally:
        v.stop()
    assert "main" not in during, "the loop thread synced the database: %r" % during
    assert slowest_request < 0.5, "a request waited %.2f s" % slowest_request
    assert console.slowest() < 0.5, "console output waited %.2f s" % console.slowest()
    assert "other" in during, "no checkpoint synced the database in 5 s: %r" % during
    assert kept == 600 + i
    db = sqlite3.connect(os.path.join(state, "vsc.db"))
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT value FROM settings WHERE key = 'session_timeout'"
                          ).fetchone()[0] == str(600 + i)
    finally:
        db.close()


def test_a_slow_disk_does_not_stall_the_loop_when_reading_history(tmp_path):
    """Transcripts are read on the worker thread (res_console_transcript.c). Every read of a
    history file takes 0.2 s (tests/faultfs/slowsync.c): a VM's transcript takes that long to
    come, whole, while another VM's console echoes at once beside it, and no history file is
    read by the loop thread."""
    reads = str(tmp_path / "reads")
    v = slow_disk_vscd(tmp_path, READ_DIR="{state}/history", READ_MS="200", READ_LOG=reads)
    try:
        admin, a, vm, other, con = vm_and_a_watched_neighbour(v, "history")
        lines = b"".join(b"boot line %05d\r\n" % i for i in range(6000))  # 96 KB
        vm.send(lines)
        uri = a["System"]["@odata.id"] + "/LogServices/Console/Oem/Vsc/Transcript"
        with EchoBeside(other, con) as console:
            t0 = time.monotonic()
            r = admin.get(uri, params={"Tail": 1048576})
            took = time.monotonic() - t0
        assert r.status_code == 200, r.text
        assert r.content == lines
        who = open(reads).read().split()
        con.close()
        vm.close()
        other.close()
    finally:
        v.stop()
    assert who and took >= 0.2 * len(who), (took, who)
    assert "main" not in who, "the loop thread read the history: %r" % who
    assert console.slowest() < 0.15, "console output waited %.2f s" % console.slowest()


def test_a_slow_disk_does_not_stall_the_loop_when_writing_history(tmp_path):
    """Console history is written by its own thread (history.c) and the console LogService
    counts what is written without waiting for it. Every write of history takes 0.5 s
    (tests/faultfs/slowsync.c) while a VM prints: its LogService answers at once, another
    VM's console echoes at once, the history is written, and never by the loop thread."""
    writes = str(tmp_path / "writes")
    v = slow_disk_vscd(tmp_path, WRITE_DIR="{state}/history", WRITE_MS="500", WRITE_LOG=writes)
    try:
        admin, a, vm, other, con = vm_and_a_watched_neighbour(v, "printing")
        log = a["System"]["@odata.id"] + "/LogServices/Console"
        slowest_get = 0.0
        with EchoBeside(other, con) as console:
            for i in range(30):
                vm.send(b"boot line %05d\r\n" % i * 20)
                t0 = time.monotonic()
                assert admin.get(log).status_code == 200
                slowest_get = max(slowest_get, time.monotonic() - t0)
                time.sleep(0.1)
        kept = get_json(admin, log)["Oem"]["Vsc"]["HistoryBytes"]
        who = open(writes).read().split()
        con.close()
        vm.close()
        other.close()
    finally:
        v.stop()
    assert "main" not in who, "the loop thread wrote the history: %r" % who
    assert "other" in who and kept > 0, (who, kept)
    assert slowest_get < 0.3, "the console LogService waited %.2f s" % slowest_get
    assert console.slowest() < 0.15, "console output waited %.2f s" % console.slowest()
