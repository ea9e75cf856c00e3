"""Bytes through real ports: a fake VM on the published path (a pty it opens like QEMU's
-serial /dev/pts/N, or a Unix socket it connects to like -chardev socket,reconnect=1) and
clients on the port's ConsoleSocket. And what survives a vscd restart: the ports, their
paths and settings, and a VM that reattaches; stray paths are cleaned up at start."""
import os
import re
import socket
import termios
import threading
import time

import pytest

from helpers_ports import (FREE, NOTICE_NO_VM, SERIALS, SYSTEMS, ConsoleClient, FakePtyVM,
                           FakeUnixVM, allocate_ok, attach_console, check_consistency, fake_vm,
                           fs_tree, get_json, members, port_oem, port_uri, vscd_factory,
                           wait_port_field, wait_port_state)


@pytest.fixture
def make_vscd():
    """Starts vscds with short state dirs (helpers_ports.VscdFactory)."""
    yield from vscd_factory()


@pytest.fixture
def pvscd(make_vscd):
    """A fresh vscd; its Client as admin is pvscd.admin."""
    return make_vscd()


@pytest.fixture
def padmin(pvscd):
    return pvscd.admin


BACKENDS = ["pty", "unix"]
BINARY = bytes(range(256))


def one_port(admin, backend, name):
    p = allocate_ok(admin, name=name, count=1, Backend=backend)["Ports"][0]
    assert p["Backend"] == backend
    return p


def test_local_console_full_says_so(pvscd, padmin):
    """The local console socket takes 16 clients a port; the 17th is told why it is closed
    (not a silent close, which looks like a console with nothing to say), and once one of
    the 16 leaves a new client is taken again."""
    p = one_port(padmin, "unix", "localfull")
    clients = [ConsoleClient(p["ConsoleSocket"]) for _ in range(16)]
    try:
        wait_port_field(padmin, p["Id"], "AttachedClients", 16)
        extra = ConsoleClient(p["ConsoleSocket"])
        extra.read_until(b"[vsc: local console full: 16 clients on this port]\r\n")
        assert extra.wait_eof(), "the 17th client stayed open"
        extra.close()
        assert port_oem(padmin, p["Id"])["AttachedClients"] == 16
        clients.pop().close()
        wait_port_field(padmin, p["Id"], "AttachedClients", 15)
        clients.append(ConsoleClient(p["ConsoleSocket"]))
        wait_port_field(padmin, p["Id"], "AttachedClients", 16)
    finally:
        for c in clients:
            c.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_bytes_both_ways(pvscd, padmin, backend):
    """VM output reaches every console client, byte for byte; client input reaches the VM;
    PortState follows the VM (Waiting -> Connected -> Waiting -> Connected); the counters
    count; AttachedClients counts the clients."""
    p = one_port(padmin, backend, "data" + backend)
    pid = p["Id"]
    assert port_oem(padmin, pid)["PortState"] == "Waiting"
    c1 = attach_console(padmin, pid, p["ConsoleSocket"], 1)
    c2 = attach_console(padmin, pid, p["ConsoleSocket"], 2)
    vm = fake_vm(backend, p["BindPath"])
    try:
        wait_port_state(padmin, pid, "Connected")
        out = b"boot: hello from the VM\r\n" + BINARY + b"login: "
        vm.send(out)
        for c in (c1, c2):
            c.read_until(b"login: ")
            assert c.take() == out
        c1.send(b"root\r")
        assert vm.read_until(b"root\r") == b"root\r"
        vm.take()
        c2.send(BINARY)
        vm.read_until(BINARY[-16:])
        assert vm.take() == BINARY
        wait_port_field(padmin, pid, "BytesFromVM", len(out))
        wait_port_field(padmin, pid, "BytesToVM", 5 + len(BINARY))
        # input from one client is not echoed to the clients by vscd
        assert c1.read_for(0.3) == b"" and c2.read_for(0.01) == b""
        c2.close()
        wait_port_field(padmin, pid, "AttachedClients", 1)
        vm.close()
        wait_port_state(padmin, pid, "Waiting")
        vm = fake_vm(backend, p["BindPath"])
        wait_port_state(padmin, pid, "Connected")
        vm.send(b"second boot\r\n")
        c1.read_until(b"second boot\r\n")
        assert c1.take() == b"second boot\r\n"
        c1.send(b"again")
        assert vm.read_until(b"again") == b"again"
        oem = port_oem(padmin, pid)
        assert oem["BytesFromVM"] == len(out) + 13
        wait_port_field(padmin, pid, "BytesToVM", 5 + len(BINARY) + 5)
    finally:
        vm.close()
        c1.close()
        c2.close()
    wait_port_state(padmin, pid, "Waiting")
    wait_port_field(padmin, pid, "AttachedClients", 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_input_without_vm_gets_notice(pvscd, padmin, backend):
    """Input while no VM is attached is answered with a '[vsc: ...]' notice and reaches
    nothing: not the VM that attaches later, not the counters."""
    p = one_port(padmin, backend, "notice" + backend)
    pid = p["Id"]
    c = attach_console(padmin, pid, p["ConsoleSocket"], 1)
    other = attach_console(padmin, pid, p["ConsoleSocket"], 2)
    vm = None
    try:
        c.send(b"lost input\r")
        c.read_until(NOTICE_NO_VM)
        assert b"lost input" not in c.take()
        assert other.read_for(0.3) == b"", "the notice is for the sender only"
        vm = fake_vm(backend, p["BindPath"])
        wait_port_state(padmin, pid, "Connected")
        assert vm.read_for(0.5) == b"", "input sent before the VM attached reached it"
        c.send(b"after")
        assert vm.read_until(b"after") == b"after"
        wait_port_field(padmin, pid, "BytesToVM", 5)
        assert NOTICE_NO_VM not in c.read_for(0.2)
        vm.close()
        vm = None
        wait_port_state(padmin, pid, "Waiting")
        c.send(b"into the void")
        c.read_until(NOTICE_NO_VM)
        vm = fake_vm(backend, p["BindPath"])
        wait_port_state(padmin, pid, "Connected")
        assert vm.read_for(0.5) == b""
        assert port_oem(padmin, pid)["BytesToVM"] == 5
    finally:
        if vm:
            vm.close()
        c.close()
        other.close()


def test_second_unix_vm_connection_refused(pvscd, padmin):
    """One VM connection per unix port: a second connection is closed at once and its bytes
    go nowhere; the first keeps working both ways."""
    p = one_port(padmin, "unix", "single")
    pid = p["Id"]
    c = attach_console(padmin, pid, p["ConsoleSocket"], 1)
    vm1 = FakeUnixVM(p["BindPath"])
    vm2 = None
    try:
        wait_port_state(padmin, pid, "Connected")
        vm2 = FakeUnixVM(p["BindPath"])  # the listener accepts, then closes it
        try:
            vm2.send(b"intruder output")
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert vm2.wait_eof(3), "the second VM connection was not closed"
        assert port_oem(padmin, pid)["PortState"] == "Connected"
        vm1.send(b"first VM output")
        c.read_until(b"first VM output")
        assert c.take() == b"first VM output"
        c.send(b"to the first")
        assert vm1.read_until(b"to the first") == b"to the first"
        assert b"intruder" not in c.read_for(0.3)
        assert port_oem(padmin, pid)["BytesFromVM"] == len(b"first VM output")
    finally:
        vm1.close()
        if vm2:
            vm2.close()
        c.close()
    wait_port_state(padmin, pid, "Waiting")


def test_a_client_that_stopped_reading_is_told_what_it_skipped(make_vscd):
    """A console client that stops reading falls a ring behind and skips ahead; when it reads
    again its stream says how much ("[vsc: N bytes skipped]"), although the skip happened
    while its socket was full: what it got and what it was told it skipped add up to what
    the VM printed."""
    v = make_vscd(["--set", "console_ring_bytes=4096"])
    p = one_port(v.admin, "unix", "behind")
    pid = p["Id"]
    c = attach_console(v.admin, pid, p["ConsoleSocket"], 1)
    vm = FakeUnixVM(p["BindPath"])
    try:
        wait_port_state(v.admin, pid, "Connected")
        line = b"y" * 1023 + b"\n"
        total = 2048 * len(line)  # 2 MiB: far more than the client's socket holds
        for _ in range(2048):
            vm.send(line)
        wait_port_field(v.admin, pid, "BytesFromVM", total)
        got = c.read_for(1.0)
        notice = re.compile(rb"\r\n\[vsc: (\d+) bytes skipped\]\r\n")
        skipped = [int(n) for n in notice.findall(got)]
        assert skipped, "no skip notice in %d bytes read" % len(got)
        payload = notice.sub(b"", got)
        assert payload.strip(b"y\n") == b"", payload[:200]
        assert len(payload) + sum(skipped) == total, (len(payload), skipped)
    finally:
        vm.close()
        c.close()


def stable_view(client, port_id):
    """What must not change over a restart (runtime counters and state aside)."""
    si = get_json(client, port_uri(port_id))
    oem = dict(si.pop("Oem")["Vsc"])
    for k in ("PortState", "Error", "AttachedClients", "BytesFromVM", "BytesToVM"):
        oem.pop(k)
    si["Oem"] = oem
    return si


def test_ports_survive_restart(pvscd, padmin):
    """After a restart every port keeps its Id, BindPath, VM, ComPort/Label and line
    settings; the pty symlink leads to a new working pty (with the stored speed); a unix VM
    that reconnects like QEMU's reconnect=1 works again."""
    a = allocate_ok(padmin, name="keep-pty", count=2, HostName="keep.example",
                    Ports=[{"ComPort": "COM1", "Label": "console"},
                           {"ComPort": "COM2", "Label": "gdb"}])
    b = allocate_ok(padmin, name="keep-unix", count=1, Backend="unix",
                    Ports=[{"ComPort": "ttyS0", "Label": "serial"}])
    pty1, pty2 = a["Ports"]
    sock = b["Ports"][0]
    r = padmin.patch(port_uri(pty1["Id"]), json={"BitRate": "9600", "Parity": "Odd",
                                                  "DataBits": "7", "StopBits": "2",
                                                  "FlowControl": "Software"})
    assert r.status_code == 200, r.text
    r = padmin.patch(port_uri(sock["Id"]), json={"BitRate": "38400"})
    assert r.status_code == 200, r.text
    ids = [pty1["Id"], pty2["Id"], sock["Id"]]
    before = {i: stable_view(padmin, i) for i in ids}
    systems = {u: get_json(padmin, u) for u in members(padmin, SYSTEMS)}
    serials = members(padmin, SERIALS)

    pvm = FakePtyVM(pty1["BindPath"])
    uvm = FakeUnixVM(sock["BindPath"])
    reconnected = {}
    try:
        wait_port_state(padmin, pty1["Id"], "Connected")
        wait_port_state(padmin, sock["Id"], "Connected")
        pvscd.stop()
        assert pvm.wait_eof(3), "the pty VM's old pty still works with vscd stopped"
        assert uvm.wait_eof(3), "the unix VM's connection survived vscd stopping"
        uvm.close()

        def reconnect():  # QEMU reconnect=1: retries while vscd is down
            try:
                reconnected["vm"] = FakeUnixVM.connect_retry(sock["BindPath"], timeout=30)
            except AssertionError as e:
                reconnected["error"] = e

        t = threading.Thread(target=reconnect, daemon=True)
        t.start()
        pvscd.start()
        t.join(5)
        assert not t.is_alive(), "the unix VM could not reconnect within 5 s of the restart"
        assert "vm" in reconnected, reconnected.get("error")
        uvm = reconnected["vm"]

        assert members(padmin, SERIALS) == serials
        assert {u: get_json(padmin, u) for u in members(padmin, SYSTEMS)} == systems
        for i in ids:
            assert stable_view(padmin, i) == before[i], i
        check_consistency(padmin, pvscd.state_dir)

        # the unix VM is back
        wait_port_state(padmin, sock["Id"], "Connected")
        c = attach_console(padmin, sock["Id"], sock["ConsoleSocket"], 1)
        try:
            uvm.send(b"still here")
            assert c.read_until(b"still here") == b"still here"
            c.send(b"welcome back")
            assert uvm.read_until(b"welcome back") == b"welcome back"
        finally:
            c.close()

        # the pty symlink leads to a new, working pty with the stored speed
        target = os.readlink(pty1["BindPath"])
        assert target.startswith("/dev/pts/") and os.path.exists(target), target
        pvm.close()
        assert port_oem(padmin, pty1["Id"])["PortState"] == "Waiting"
        pvm = FakePtyVM(pty1["BindPath"])
        assert termios.tcgetattr(pvm.fd)[5] == termios.B9600
        wait_port_state(padmin, pty1["Id"], "Connected")
        c = attach_console(padmin, pty1["Id"], pty1["ConsoleSocket"], 1)
        try:
            pvm.send(b"pty after restart")
            assert c.read_until(b"pty after restart") == b"pty after restart"
            c.send(b"pty input")
            assert pvm.read_until(b"pty input") == b"pty input"
        finally:
            c.close()
    finally:
        pvm.close()
        uvm.close()
        if "vm" in reconnected:
            reconnected["vm"].close()


def test_restart_twice_and_free_after_restart(pvscd, padmin):
    """Restored ports are real ports: freeing one after two restarts removes its resource
    and path, and its Id is not reused."""
    a = allocate_ok(padmin, name="twice", count=2, Backend="unix")
    pvscd.restart()
    pvscd.restart()
    check_consistency(padmin, pvscd.state_dir)
    first, second = a["Ports"]
    r = padmin.post(FREE, json={"SerialInterfaces": [first["Id"]]})
    assert r.status_code == 200 and r.json()["Freed"] == [first["Id"]], r.text
    assert not os.path.lexists(first["BindPath"])
    assert os.path.lexists(second["BindPath"])
    b = allocate_ok(padmin, name="after", count=1)
    assert int(b["Ports"][0]["Id"]) > int(second["Id"])
    check_consistency(padmin, pvscd.state_dir)


def test_strays_removed_on_start(pvscd, padmin):
    """At start, paths under <state>/ports that no active port owns are removed — files,
    symlinks, sockets, directories, whole VM folders — and the active ports' paths stay."""
    a = allocate_ok(padmin, name="owner", count=1)
    b = allocate_ok(padmin, name="sockowner", count=2, Backend="unix")
    ports_dir = os.path.join(pvscd.state_dir, "ports")
    expected = fs_tree(ports_dir)
    assert set(expected) == {"owner", "owner/1", "sockowner", "sockowner/1", "sockowner/2"}

    def touch(rel):
        path = os.path.join(ports_dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "w").close()

    touch("owner/7")  # a port index nobody owns, in an active VM's folder
    os.symlink("/dev/null", os.path.join(ports_dir, "owner", "1.new"))  # half-made symlink
    touch("owner/junkdir/inner")  # a directory in an active VM's folder
    touch("ghost/1")  # a VM that has no ports
    os.symlink("/dev/pts/999", os.path.join(ports_dir, "ghost", "2"))
    touch("ghostdir/sub/deeper/file")  # nested
    os.makedirs(os.path.join(ports_dir, "emptyvm"))
    touch("topfile")  # not even in a VM folder
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(os.path.join(ports_dir, "sockowner", "3"))  # a socket nobody owns
    s.close()
    pvscd.restart()
    tree = fs_tree(ports_dir)
    left = sorted(set(tree) - set(expected))
    assert not left, "stray paths survived the start: %s" % left
    kinds = lambda t: {k: v.split(" ")[0] for k, v in t.items()}  # noqa: E731
    assert kinds(tree) == kinds(expected), (tree, expected)
    check_consistency(padmin, pvscd.state_dir)
    for p in a["Ports"] + b["Ports"]:
        assert port_oem(padmin, p["Id"])["PortState"] == "Waiting"
    vm = FakeUnixVM(b["Ports"][1]["BindPath"])
    try:
        wait_port_state(padmin, b["Ports"][1]["Id"], "Connected")
    finally:
        vm.close()


def test_restart_keeps_disabled_port_down(pvscd, padmin):
    """A disabled port stays disabled over a restart (Down, with its Error) and comes up
    when enabled again."""
    p = one_port(padmin, "unix", "keepdown")
    r = padmin.patch(port_uri(p["Id"]), json={"InterfaceEnabled": False})
    assert r.status_code == 200, r.text
    pvscd.restart()
    oem = port_oem(padmin, p["Id"])
    assert oem["PortState"] == "Down" and oem["Error"], oem
    t0 = time.time()
    try:
        FakeUnixVM(p["BindPath"]).close()
        connected = True
    except (ConnectionRefusedError, FileNotFoundError):
        connected = False
    assert not connected, "a disabled unix port accepted a VM after the restart"
    assert time.time() - t0 < 5
    r = padmin.patch(port_uri(p["Id"]), json={"InterfaceEnabled": True})
    assert r.status_code == 200, r.text
    vm = FakeUnixVM(p["BindPath"])
    try:
        wait_port_state(padmin, p["Id"], "Connected")
    finally:
        vm.close()
