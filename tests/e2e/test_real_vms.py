"""End to end with real VMs (docs/e2e.md): tiny Linux VMs under QEMU (tests/vm) whose serial
ports a hypervisor allocated from vscd — one VM through the Redfish action on a `unix` port,
one through the IPMI OEM command on a `pty` port — watched by two users over the console
WebSocket and by an SSE listener, while the VMs boot, run commands, go private, panic,
reboot and power off. Nothing is simulated: the daemon, the sockets, the pseudo-terminals,
QEMU and the Linux kernel are real.

The story runs both VMs at once, one step per test in file order (pytest keeps it); a step
whose predecessor failed is skipped, saying so, rather than failing twice. The restart test
at the end stands alone."""
import os
import re
import signal
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "api"))
sys.path.insert(0, os.path.join(HERE, "..", "vm"))

import qemu_vm  # noqa: E402
from conftest import ADMIN_PASSWORD, Client  # noqa: E402
from helpers_auth import create_account, unique  # noqa: E402
from helpers_ipmi import IpmiSim, tools_present, vscd_with_socket  # noqa: E402
from helpers_ports import (SYSTEMS, allocate_ok, free, get_json, members, new_uuid,  # noqa: E402
                           port_oem, vscd_factory, wait_for, wait_port_state)
from hypervisor import IpmiHypervisor, RedfishHypervisor  # noqa: E402
from test_console_ws import connect  # noqa: E402
from test_events import opened, record  # noqa: E402

pytestmark = [
    pytest.mark.skipif(
        not qemu_vm.qemu_binary() or not qemu_vm.find_kernel(),
        reason="QEMU or a readable /boot/vmlinuz-* missing (`scripts/deps test` installs them)"),
    # vscd's self-signed certificate on loopback (as tests/api/pytest.ini says for its tests).
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]

# A TCG boot takes about 6 s alone (docs/tiny-vm.md); two VMs on two busy cores, more.
BOOT_S = 90.0
STEP_S = 30.0
PANIC_LINE = b"Kernel panic - not syncing: sysrq triggered crash"


class VM:
    """One VM of the story: its allocation, QEMU, and the two viewers' WebSockets."""

    def __init__(self, lab, host, backend, hypervisor):
        self.lab, self.host, self.backend, self.hv = lab, host, backend, hypervisor
        self.uuid = new_uuid()
        self.port = hypervisor.allocate(self.uuid, host, backend)
        self.pid = self.port["Id"]
        self.system = "%s/%s" % (SYSTEMS, self.uuid)
        self.log = self.system + "/LogServices/Console"
        self.prompt = ("root@%s:~# " % host).encode()
        where = ({"device_path": self.port["BindPath"]} if backend == "pty"
                 else {"socket_path": self.port["BindPath"]})
        # panic=1: the kernel reboots a second after the panic; the VM's later boots show
        # the login prompt again (tests/vm/mkinitramfs.sh).
        self.qemu = qemu_vm.QemuVM(scenario="login", host=host, append="panic=1",
                                   time_limit=400, **where)
        self.admin = self.op = None

    def attach_viewers(self):
        self.admin = connect(self.lab.v, self.pid)
        self.op = connect(self.lab.v, self.pid, token=False,
                          header=["X-Auth-Token: " + self.lab.op_token])

    def viewers(self):
        return (self.admin, self.op)

    def type(self, text):
        """What the administrator types in their viewer, a line at a time."""
        self.admin.ws.send_binary(text.encode() + b"\r")

    def state(self):
        return get_json(self.lab.v.admin, self.system)["Oem"]["Vsc"].get("ConsoleState")

    def wait_state(self, want, timeout=STEP_S):
        return wait_for(lambda: self.state() == want, timeout=timeout, interval=0.2,
                        what="%s ConsoleState %s (now %s)" % (self.host, want, self.state()))

    def log_in(self, viewer=None):
        viewer = viewer or self.admin
        mark = len(viewer.buf)
        viewer.ws.send_binary(b"root\r")
        expect(viewer, b"Password: ", since=mark)
        mark = len(viewer.buf)
        viewer.ws.send_binary(b"vsc\r")
        expect(viewer, self.prompt, since=mark)

    def close(self):
        for c in self.viewers():
            if c is not None:
                c.close()
        self.qemu.stop()


class Lab:
    """vscd, an Operator besides the admin, an SSE listener, and the story's VMs."""

    def __init__(self, make_vscd):
        assert tools_present(), "ipmi_sim and ipmitool (`scripts/deps test` installs them)"
        self.v = vscd_with_socket(make_vscd)
        # The IPMI path is a real client: ipmitool -I lanplus -> ipmi_sim -> its vsc plugin
        # -> vscd's ipmi_socket (docs/ipmi-oem.md).
        self.ipmi = IpmiSim(self.v.sock)
        self.v.token, _ = self.v.admin.login("admin", ADMIN_PASSWORD)
        name = unique("op")
        _, pw = create_account(self.v.admin, name, "Operator")
        self.op_name = name
        self.op_token = self.v.admin.login(name, pw)[0]
        self.events = opened(self.v.base)
        self.records = []
        self.vms = []
        self.passed = set()

    def take_events(self, pred, timeout=STEP_S, what="event"):
        """Reads SSE events until one matches pred; every event read is kept in .records."""
        for r in self.records:
            if pred(r):
                return r
        deadline = time.time() + timeout
        while time.time() < deadline:
            ev = self.events.next(timeout=max(0.1, deadline - time.time()))
            if ev is None:
                continue
            r = record(ev)
            self.records.append(r)
            if pred(r):
                return r
        raise AssertionError("no %s in %.0fs; got %s" % (
            what, timeout, [(r["MessageId"], r.get("MessageArgs")) for r in self.records]))

    def states_of(self, host):
        """The console states announced for `host` so far, in order (a panic is announced
        as ConsolePanic)."""
        out = []
        for r in self.records:
            if r["MessageId"].endswith("ConsoleStateChanged") and r["MessageArgs"][0] == host:
                out.append(r["MessageArgs"][1])
            elif r["MessageId"].endswith("ConsolePanic") and r["MessageArgs"][0] == host:
                out.append("Panic")
        return out

    def wait_states(self, host, want, timeout=STEP_S):
        """Reads events until `want` states were announced for host; asserts the sequence."""
        try:
            self.take_events(lambda r: len(self.states_of(host)) >= len(want), timeout,
                             "%d states of %s" % (len(want), host))
        finally:
            assert self.states_of(host) == want, self.states_of(host)

    def close(self):
        for vm in self.vms:
            vm.close()
        self.events.close()
        self.ipmi.stop()


@pytest.fixture(scope="module")
def lab():
    qemu_vm.ensure_image()
    gen = vscd_factory()
    lab = Lab(next(gen))
    try:
        yield lab
    finally:
        lab.close()
        try:
            next(gen)
        except StopIteration:
            pass


def expect(viewer, needle, timeout=STEP_S, since=None):
    """Reads until `needle` arrives after offset `since` of the viewer's buffer (default:
    what it holds now); returns the new bytes. (read_bytes alone would match older output,
    such as the first boot's login prompt.)"""
    start = len(viewer.buf) if since is None else since
    viewer.read_until(lambda c: c.buf.find(needle, start) >= 0, timeout, repr(needle))
    return viewer.buf[start:]


def step(lab, name, after=None):
    """Marks the story's order: skips when the step before did not pass."""
    if after is not None and after not in lab.passed:
        pytest.skip("the step before (%s) did not pass" % after)
    return lambda: lab.passed.add(name)


# ---- the story, both VMs at once ---------------------------------------------------------------


def test_allocate_as_a_hypervisor_and_boot(lab):
    done = step(lab, "boot")
    lab.vms.append(VM(lab, "e2e-unix", "unix", RedfishHypervisor(lab.v.admin)))
    lab.vms.append(VM(lab, "e2e-pty", "pty", IpmiHypervisor(lab.v, send=lab.ipmi.raw)))
    for vm in lab.vms:
        oem = port_oem(lab.v.admin, vm.pid)
        assert oem["Backend"] == vm.backend and oem["BindPath"] == vm.port["BindPath"]
        # Attached before QEMU starts: both viewers see the boot from its first byte.
        vm.attach_viewers()
        wait_for(lambda: port_oem(lab.v.admin, vm.pid)["AttachedClients"] == 2,
                 what="two viewers on %s" % vm.host)
    for vm in lab.vms:
        vm.qemu.start()
    for vm in lab.vms:
        wait_port_state(lab.v.admin, vm.pid, "Connected", timeout=STEP_S)
    done()


def test_boot_log_live_in_two_viewers_and_the_system_runs(lab):
    done = step(lab, "running", after="boot")
    for vm in lab.vms:
        login = ("%s login: " % vm.host).encode()
        for c in vm.viewers():
            c.read_bytes(login, timeout=BOOT_S)
        a, o = vm.admin.buf, vm.op.buf
        assert a.startswith(b"SeaBIOS (version") or b"SeaBIOS (version" in a[:200], a[:200]
        for needle in (b"Linux version", b"Run /init as init process", b"vsc-vm: init on"):
            assert needle in a, needle
        n = min(len(a), len(o))
        assert a[:n] == o[:n], "the two viewers saw different bytes"
        vm.wait_state("Running")
        s = get_json(lab.v.admin, vm.system)
        assert s["SystemType"] == "Virtual" and s["Status"]["Health"] == "OK"
        assert s["PowerState"] == "On"
        assert s["BootProgress"]["LastState"] == "OSRunning"
        lab.wait_states(vm.host, ["Firmware", "Booting", "Running"])
    done()


def test_a_command_typed_in_the_websocket_runs_in_the_vm(lab):
    done = step(lab, "typed", after="running")
    marks = {}
    for vm in lab.vms:
        vm.log_in()
        marks[vm.host] = [len(c.buf) for c in vm.viewers()]
        vm.type("echo answer-$((6 * 7))")
    for vm in lab.vms:
        for c, mark in zip(vm.viewers(), marks[vm.host]):
            expect(c, b"answer-42\r\n" + vm.prompt, since=mark)
    done()


def test_private_mode_hides_the_session_from_the_other_viewer(lab):
    import json
    done = step(lab, "private", after="typed")
    for vm in lab.vms:
        vm.admin.ws.send(json.dumps({"type": "mode", "mode": "private"}))
    for vm in lab.vms:
        for c in vm.viewers():
            c.read_until(lambda cc: any(t.get("type") == "mode" and t["mode"] == "Private"
                                        for t in cc.texts), STEP_S, "mode Private")
        vm.op.read_until(lambda cc: any(t.get("type") == "notice" and "private" in t["error"]
                                        for t in cc.texts), STEP_S, "a private notice")
        before = len(vm.op.buf)
        mark = len(vm.admin.buf)
        vm.type("echo hidden-$((1000 + 234))")
        expect(vm.admin, b"hidden-1234\r\n" + vm.prompt, since=mark)
        vm.admin.ws.send(json.dumps({"type": "mode", "mode": "free"}))
        vm.op.read_until(lambda cc: any(t.get("type") == "mode" and t["mode"] == "Free"
                                        for t in cc.texts), STEP_S, "mode Free")
        vm.type("echo shown-$((2 + 3))")
        expect(vm.op, b"shown-5", since=before)
        assert b"hidden-" not in vm.op.buf[before:], vm.op.buf[before:]
        # A viewer who joins now and asks for history does not get it either.
        late = connect(lab.v, vm.pid, token=False, query="?history=262144",
                       header=["X-Auth-Token: " + lab.op_token])
        try:
            late.read_bytes(b"shown-5", timeout=STEP_S)
            assert b"hidden-" not in late.buf and b"Linux version" in late.buf
        finally:
            late.close()
    done()


def test_a_kernel_panic_turns_the_system_critical_with_event_and_log(lab):
    done = step(lab, "panic", after="private")
    marks = {}
    for vm in lab.vms:
        marks[vm.host] = len(vm.admin.buf)
        vm.type("echo c > /proc/sysrq-trigger")
    for vm in lab.vms:
        expect(vm.admin, PANIC_LINE, since=marks[vm.host])
        ev = lab.take_events(lambda r, h=vm.host: r["MessageId"] == "VscEvents.1.0.ConsolePanic"
                             and r["MessageArgs"][0] == h, what="ConsolePanic of " + vm.host)
        assert ev["MessageSeverity"] == "Critical"
        assert PANIC_LINE.decode() in ev["MessageArgs"][1]
        assert ev["OriginOfCondition"]["@odata.id"] == vm.system
        s = get_json(lab.v.admin, vm.system)
        # panic=1 reboots a second later: the entry and Status may already show the reboot.
        entries = [get_json(lab.v.admin, m) for m in members(lab.v.admin, vm.log + "/Entries")]
        panics = [e for e in entries if e["MessageId"] == "VscEvents.1.0.ConsolePanic"]
        assert len(panics) == 1, [e["MessageId"] for e in entries]
        e = panics[0]
        assert e["Severity"] == "Critical" and PANIC_LINE.decode() in e["Oem"]["Vsc"]["Line"]
        before = "\n".join(e["Oem"]["Vsc"]["LinesBefore"])
        assert "echo c > /proc/sysrq-trigger" in before or "sysrq: Trigger a crash" in before, \
            before
        if s["Oem"]["Vsc"]["ConsoleState"] == "Panic":
            assert s["Status"]["Health"] == "Critical"
            assert s["BootProgress"]["OemLastState"] == "KernelPanic"
    done()


def test_the_vm_reboots_after_the_panic_and_runs_again(lab):
    done = step(lab, "rebooted", after="panic")
    marks = {vm.host: vm.admin.buf.rfind(PANIC_LINE) for vm in lab.vms}
    for vm in lab.vms:
        expect(vm.admin, b"Rebooting in 1 seconds", since=marks[vm.host])
    for vm in lab.vms:
        # The second boot, on the same port: from the firmware to the login prompt.
        second = expect(vm.admin, ("%s login: " % vm.host).encode(), timeout=BOOT_S,
                        since=marks[vm.host])
        assert b"SeaBIOS (version" in second and b"boot 2, scenario login" in second
        vm.wait_state("Running")
        assert get_json(lab.v.admin, vm.system)["Status"]["Health"] == "OK"
        lab.wait_states(vm.host, ["Firmware", "Booting", "Running", "Panic", "Rebooting",
                                  "Firmware", "Booting", "Running"])
    done()


def test_power_off_free_and_the_history_stays(lab):
    done = step(lab, "off", after="rebooted")
    for vm in lab.vms:
        vm.log_in()
        vm.type("poweroff -f")
    for vm in lab.vms:
        assert vm.qemu.wait(STEP_S) == 0, (
            "QEMU did not exit after the VM powered off: %r" % vm.admin.read_for(0.5)[-600:])
        vm.wait_state("Off")
        lab.wait_states(vm.host, ["Firmware", "Booting", "Running", "Panic", "Rebooting",
                                  "Firmware", "Booting", "Running", "Off"])
        assert get_json(lab.v.admin, vm.system)["PowerState"] == "Off"
        # What the hypervisor's hook does when QEMU exits: free, the same way it allocated.
        vm.hv.free(vm.uuid)
        assert lab.v.admin.get(vm.system).status_code == 404
        lab.take_events(lambda r, s=vm.system: r["MessageId"].endswith("ResourceRemoved")
                        and r["OriginOfCondition"]["@odata.id"] == s, what="system removed")
        for c in vm.viewers():
            c.wait_closed(timeout=STEP_S)
        # The console history outlives the VM: the whole life, both boots, in one request.
        t = lab.v.admin.get(vm.log + "/Oem/Vsc/Transcript", params={"Tail": 4 * 1024 * 1024})
        assert t.status_code == 200, t.text
        text = t.content
        assert text.count(b"Linux version") == 2 and PANIC_LINE in text
        assert b"reboot: Power down" in text and b"answer-42" in text
        log = get_json(lab.v.admin, vm.log)
        assert log["Oem"]["Vsc"]["SystemFreed"] is True
    done()


# ---- vscd restarts under a running VM ------------------------------------------------------------


@pytest.fixture
def make_vscd():
    yield from vscd_factory()


def test_vscd_killed_and_restarted_the_console_resumes_on_the_same_port(make_vscd):
    qemu_vm.ensure_image()
    v = make_vscd()
    v.token, _ = v.admin.login("admin", ADMIN_PASSWORD)
    uuid = new_uuid()
    port = allocate_ok(v.admin, uuid=uuid, name="e2e-restart", Backend="unix")["Ports"][0]
    pid = port["Id"]
    vm = qemu_vm.QemuVM(socket_path=port["BindPath"], scenario="login", host="e2e-restart",
                        time_limit=BOOT_S + 60)
    ws = connect(v, pid)
    try:
        vm.start()
        ws.read_bytes(b"e2e-restart login: ", timeout=BOOT_S)
        ws.close()
        v.stop(sig=signal.SIGKILL)
        assert vm.running(), "QEMU must outlive vscd (reconnect=1)"
        v.start()
        v.token, _ = v.admin.login("admin", ADMIN_PASSWORD)
        # Same port, same path; QEMU reconnects within a second or two.
        oem = wait_port_state(v.admin, pid, "Connected", timeout=STEP_S)
        assert oem["BindPath"] == port["BindPath"]
        assert [m.rsplit("/", 1)[1] for m in members(v.admin, SYSTEMS)] == [uuid]
        ws = connect(v, pid)
        ws.ws.send_binary(b"\r")
        ws.read_bytes(b"e2e-restart login: ", timeout=STEP_S)
        ws.ws.send_binary(b"root\r")
        ws.read_bytes(b"Password: ", timeout=STEP_S)
        ws.ws.send_binary(b"vsc\r")
        ws.read_bytes(b"root@e2e-restart:~# ", timeout=STEP_S)
        ws.ws.send_binary(b"echo after-restart-$((40 + 2))\r")
        ws.read_bytes(b"after-restart-42", timeout=STEP_S)
        # The history holds both sides of the restart.
        t = v.admin.get(SYSTEMS + "/" + uuid + "/LogServices/Console/Oem/Vsc/Transcript",
                        params={"Tail": 1 << 20}).content
        assert re.search(rb"Linux version.*login: .*after-restart-42", t, re.S), t[-400:]
    finally:
        ws.close()
        vm.stop()
    assert free(v.admin, VMUUID=uuid).status_code == 200
