"""contrib/libvirt/qemu-hook run for real against a real vscd, as libvirt runs it.

libvirt calls `/etc/libvirt/hooks/qemu NAME OP SUBOP -` with the domain XML on stdin and a
bare environment; the samples in data/ are libvirt 9 domain XML whose `@PORTS_DIR@` stands
for the vscd's <state_dir>/ports. Every call must be quick, print nothing on stdout (libvirt
reads stdout of some operations as replacement XML) and never run virsh: each call runs with
a fake `virsh` first on PATH that records any use.
"""
import os
import shutil
import socket
import stat
import subprocess
import time

import pytest

from conftest import ADMIN_PASSWORD, HERE, ROOT, Client, Vscd, free_port
from helpers_ports import wait_for

HOOK = os.path.join(ROOT, "contrib", "libvirt", "qemu-hook")
RUN_VM = os.path.join(ROOT, "contrib", "qemu", "run-vm.sh")
DATA = os.path.join(HERE, "data")
MAX_SECONDS = 2.0  # per hook call; libvirt waits for it with the domain locked

UNIX_UUID = "5f0e6b1c-1b1a-4c55-9a34-0d1b6f6a0001"
PTY_UUID = "5f0e6b1c-1b1a-4c55-9a34-0d1b6f6a0002"  # upper case in the XML
QEMU_PTY_UUID = "5f0e6b1c-1b1a-4c55-9a34-0d1b6f6a0003"
NOSERIAL_UUID = "5f0e6b1c-1b1a-4c55-9a34-0d1b6f6a0004"
PORTS_URI = "/redfish/v1/Managers/bmc/SerialInterfaces"
ALLOCATE = "/redfish/v1/Managers/bmc/Actions/Oem/Vsc.AllocatePorts"


def sample(name, ports_dir):
    with open(os.path.join(DATA, name), encoding="utf-8") as f:
        return f.read().replace("@PORTS_DIR@", ports_dir)


class Hook:
    """Runs the hook with its own config file, a bare environment and a fake virsh."""

    def __init__(self, tmp_path, vscd):
        self.vscd = vscd
        self.ports_dir = os.path.join(vscd.state_dir, "ports")
        self.dir = tmp_path / "hook"
        (self.dir / "bin").mkdir(parents=True)
        self.virsh_log = self.dir / "virsh-calls"
        virsh = self.dir / "bin" / "virsh"
        virsh.write_text('#!/bin/sh\necho "$*" >> "%s"\nexit 0\n' % self.virsh_log)
        virsh.chmod(0o755)
        self.conf_path = self.dir / "hook.conf"
        self.write_conf()
        self.calls = []

    def write_conf(self, **overrides):
        settings = {"VSC_URL": self.vscd.base, "VSC_USER": "admin",
                    "VSC_PASSWORD": ADMIN_PASSWORD, "VSC_INSECURE": "1",
                    "VSC_PORTS_DIR": self.ports_dir, "VSC_TIMEOUT": "5"}
        settings.update(overrides)
        lines = ["# written by test_hook.py"]
        lines += ["%s='%s'" % (k, v) for k, v in settings.items() if v is not None]
        self.conf_path.write_text("\n".join(lines) + "\n")

    def env(self, **extra):
        env = {"PATH": "%s:%s" % (self.dir / "bin", os.environ.get("PATH", "/usr/bin:/bin")),
               "HOME": str(self.dir), "LC_ALL": "C", "VSC_HOOK_CONF": str(self.conf_path)}
        env.update(extra)
        return env

    def run(self, xml, name, op, subop, **env):
        start = time.monotonic()
        r = subprocess.run([HOOK, name, op, subop, "-"], input=xml, capture_output=True,
                           text=True, env=self.env(**env), timeout=30)
        elapsed = time.monotonic() - start
        self.calls.append((name, op, subop, elapsed))
        assert elapsed < MAX_SECONDS, "hook %s %s %s took %.2f s" % (name, op, subop, elapsed)
        assert r.stdout == "", "the hook wrote to stdout (libvirt may read it as XML): %r" % r.stdout
        assert not self.virsh_log.exists(), "the hook ran virsh: " + self.virsh_log.read_text()
        return r


@pytest.fixture
def hook(tmp_path, vscd):
    return Hook(tmp_path, vscd)


def ok(r):
    assert r.returncode == 0, "exit %d, stderr: %s" % (r.returncode, r.stderr)
    return r


def system_ports(admin, uuid):
    """The VM's SerialInterface resources, in Index order, or None without a ComputerSystem."""
    r = admin.get("/redfish/v1/Systems/" + uuid)
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    links = r.json()["Links"]["Oem"]["Vsc"]["SerialInterfaces"]
    ports = [admin.get(link["@odata.id"]).json() for link in links]
    return sorted(ports, key=lambda p: p["Oem"]["Vsc"]["Index"])


def all_port_ids(admin):
    r = admin.get(PORTS_URI)
    assert r.status_code == 200
    return [m["@odata.id"].rsplit("/", 1)[1] for m in r.json()["Members"]]


def wait_state(admin, port, state, timeout=5):
    deadline = time.time() + timeout
    while True:
        got = admin.get(port["@odata.id"]).json()["Oem"]["Vsc"]["PortState"]
        if got == state or time.time() > deadline:
            return got
        time.sleep(0.05)


# ---- domains vscd serves ---------------------------------------------------------------------

def test_unix_domain_lifecycle(hook, admin):
    xml = sample("domain-unix.xml", hook.ports_dir)
    ok(hook.run(xml, "vsc-unix", "prepare", "begin"))

    ports = system_ports(admin, UNIX_UUID)
    assert ports is not None, "prepare allocated nothing"
    assert len(ports) == 2, ports
    system = admin.get("/redfish/v1/Systems/" + UNIX_UUID).json()
    assert system["Name"] == "vsc-unix" and system.get("HostName") == "web1", system
    for n, port in enumerate(ports, 1):
        vsc = port["Oem"]["Vsc"]
        assert vsc["Backend"] == "unix", vsc
        assert vsc["BindPath"] == os.path.join(hook.ports_dir, "vsc-unix", str(n)), vsc
        assert stat.S_ISSOCK(os.stat(vsc["BindPath"]).st_mode), vsc["BindPath"]
    # The <vsc:port> metadata became ComPort/Label (with the XML entity decoded).
    assert [(p["Oem"]["Vsc"]["ComPort"], p["Oem"]["Vsc"]["Label"]) for p in ports] == \
        [("COM1", "console"), ("COM2", "debug & kdb")]

    # What QEMU does with <source mode='connect'>: connect as a client. vscd sees it.
    with socket.socket(socket.AF_UNIX) as qemu_side:
        qemu_side.connect(ports[0]["Oem"]["Vsc"]["BindPath"])
        assert wait_state(admin, ports[0], "Connected") == "Connected"

        ok(hook.run(xml, "vsc-unix", "start", "begin"))
        ok(hook.run(xml, "vsc-unix", "started", "begin"))
        assert [p["Id"] for p in system_ports(admin, UNIX_UUID)] == [p["Id"] for p in ports], \
            "start/started changed the allocation"

        ok(hook.run(xml, "vsc-unix", "stopped", "end"))
    assert system_ports(admin, UNIX_UUID) is None, "stopped did not free the VM"
    assert all_port_ids(admin) == []
    for port in ports:
        assert not os.path.exists(port["Oem"]["Vsc"]["BindPath"])
        assert admin.get(port["@odata.id"]).status_code == 404

    # release comes after stopped: freeing again is harmless and still exits 0.
    r = ok(hook.run(xml, "vsc-unix", "release", "end"))
    assert r.stderr == ""
    assert all_port_ids(admin) == []


def test_pty_domain_lifecycle(hook, admin):
    xml = sample("domain-pty.xml", hook.ports_dir)
    ok(hook.run(xml, "vsc-pty", "prepare", "begin"))
    ports = system_ports(admin, PTY_UUID)  # vscd keeps UUIDs in lower case
    assert ports is not None and len(ports) == 1, ports
    vsc = ports[0]["Oem"]["Vsc"]
    assert vsc["Backend"] == "pty"
    path = vsc["BindPath"]
    assert path == os.path.join(hook.ports_dir, "vsc-pty", "1")
    assert os.path.islink(path) and os.readlink(path).startswith("/dev/pts/"), path

    # What QEMU does with <serial type='dev'>: open the terminal.
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    try:
        assert wait_state(admin, ports[0], "Connected") == "Connected"
        ok(hook.run(xml, "vsc-pty", "started", "begin"))
        assert [p["Id"] for p in system_ports(admin, PTY_UUID)] == [ports[0]["Id"]]
    finally:
        os.close(fd)

    ok(hook.run(xml, "vsc-pty", "stopped", "end"))
    assert system_ports(admin, PTY_UUID) is None
    assert not os.path.lexists(path)
    ok(hook.run(xml, "vsc-pty", "release", "end"))
    assert all_port_ids(admin) == []


def test_repeated_prepare_is_idempotent(hook, admin):
    xml = sample("domain-unix.xml", hook.ports_dir)
    ok(hook.run(xml, "vsc-unix", "prepare", "begin"))
    first = [p["Id"] for p in system_ports(admin, UNIX_UUID)]
    ok(hook.run(xml, "vsc-unix", "prepare", "begin"))
    ok(hook.run(xml, "vsc-unix", "prepare", "begin"))
    assert [p["Id"] for p in system_ports(admin, UNIX_UUID)] == first
    assert sorted(all_port_ids(admin)) == sorted(first)
    mgr = admin.get("/redfish/v1/Managers/bmc").json()
    assert mgr["Oem"]["Vsc"]["PortsInUse"] == 2


def test_stale_different_allocation_is_replaced(hook, admin):
    """Ports left by a run whose stop never reached vscd, differing from the definition."""
    r = admin.post(ALLOCATE, json={"VMUUID": UNIX_UUID, "VMName": "vsc-unix", "PortCount": 1,
                                   "Backend": "pty"})
    assert r.status_code == 200, r.text
    stale = r.json()["Ports"][0]["Id"]
    ok(hook.run(sample("domain-unix.xml", hook.ports_dir), "vsc-unix", "prepare", "begin"))
    ports = system_ports(admin, UNIX_UUID)
    assert [p["Oem"]["Vsc"]["Backend"] for p in ports] == ["unix", "unix"]
    assert stale not in [p["Id"] for p in ports]


def test_metadata_only_domain(hook, admin):
    """<vsc:ports count=...> alone allocates, even with no device under the ports folder."""
    xml = sample("domain-noserial.xml", hook.ports_dir).replace(
        "<memory unit='KiB'>",
        "<metadata><p:ports xmlns:p='https://vsc.invalid/libvirt' count='3' backend='unix'/>"
        "</metadata>\n  <memory unit='KiB'>", 1)
    ok(hook.run(xml, "no-serial", "prepare", "begin"))
    ports = system_ports(admin, NOSERIAL_UUID)
    assert ports is not None and len(ports) == 3
    ok(hook.run(xml, "no-serial", "stopped", "end"))
    assert system_ports(admin, NOSERIAL_UUID) is None


def test_port_metadata_may_leave_out_comport(hook, admin):
    """<vsc:port> attributes are each optional: a label alone, or a port not described at
    all, must not become an empty ComPort, which vscd refuses (400), stopping the VM."""
    xml = sample("domain-unix.xml", hook.ports_dir)
    xml = xml.replace('<vsc:port index="1" comport="COM1" label="console"/>',
                      '<vsc:port index="1" label="console"/>')
    xml = xml.replace('<vsc:port index="2" comport="COM2" label="debug &amp; kdb"/>', '')
    ok(hook.run(xml, "vsc-unix", "prepare", "begin"))
    ports = system_ports(admin, UNIX_UUID)
    assert ports is not None and len(ports) == 2, ports
    assert [p["Oem"]["Vsc"]["Label"] for p in ports] == ["console", ""]
    # And the same definition again is the same allocation (no stale-port replacement).
    first = [p["Id"] for p in ports]
    ok(hook.run(xml, "vsc-unix", "prepare", "begin"))
    assert [p["Id"] for p in system_ports(admin, UNIX_UUID)] == first


def test_token_file_instead_of_password(hook, admin, tmp_path):
    token, _ = admin.login("admin", ADMIN_PASSWORD)
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    hook.write_conf(VSC_USER=None, VSC_PASSWORD=None, VSC_TOKEN_FILE=str(token_file))
    ok(hook.run(sample("domain-pty.xml", hook.ports_dir), "vsc-pty", "prepare", "begin"))
    assert system_ports(admin, PTY_UUID) is not None


# ---- domains vscd does not serve ---------------------------------------------------------------

@pytest.mark.parametrize("sample_name,name,uuid", [
    ("domain-qemu-pty.xml", "plain-pty", QEMU_PTY_UUID),
    ("domain-noserial.xml", "no-serial", NOSERIAL_UUID),
])
def test_other_domains_are_left_alone(hook, admin, sample_name, name, uuid):
    xml = sample(sample_name, hook.ports_dir)
    for op, subop in [("prepare", "begin"), ("start", "begin"), ("started", "begin"),
                      ("stopped", "end"), ("release", "end")]:
        r = ok(hook.run(xml, name, op, subop))
        assert r.stderr == "", (op, r.stderr)
    assert system_ports(admin, uuid) is None
    assert all_port_ids(admin) == []
    # Nothing was even attempted: with vscd unreachable every phase still succeeds silently.
    for op, subop in [("prepare", "begin"), ("stopped", "end")]:
        r = ok(hook.run(xml, name, op, subop, VSC_URL="https://127.0.0.1:%d" % free_port()))
        assert r.stderr == ""


@pytest.mark.parametrize("op,subop", [("migrate", "begin"), ("restore", "begin"),
                                      ("reconnect", "begin"), ("attach", "begin"),
                                      ("stopped", "begin"), ("prepare", "end")])
def test_other_operations_do_nothing(hook, admin, op, subop):
    r = ok(hook.run(sample("domain-unix.xml", hook.ports_dir), "vsc-unix", op, subop))
    assert r.stderr == ""
    assert system_ports(admin, UNIX_UUID) is None


# ---- failures ----------------------------------------------------------------------------------

def test_unreachable_vscd_fails_prepare_not_stop(hook, admin):
    dead = "https://127.0.0.1:%d" % free_port()
    xml = sample("domain-unix.xml", hook.ports_dir)
    # The environment wins over the config file (which names the live vscd).
    r = hook.run(xml, "vsc-unix", "prepare", "begin", VSC_URL=dead)
    assert r.returncode != 0, "prepare succeeded without vscd"
    assert "vsc-unix" in r.stderr and "cannot reach vscd" in r.stderr and dead in r.stderr, r.stderr
    assert system_ports(admin, UNIX_UUID) is None

    for op in ("stopped", "release"):
        r = hook.run(xml, "vsc-unix", op, "end", VSC_URL=dead)
        assert r.returncode == 0, "a stop must never fail: %s" % r.stderr
        assert "FreePorts failed" in r.stderr and UNIX_UUID in r.stderr, r.stderr

    # VSC_REQUIRED=0: the VM starts anyway, with a warning.
    r = hook.run(xml, "vsc-unix", "prepare", "begin", VSC_URL=dead, VSC_REQUIRED="0")
    assert r.returncode == 0 and "cannot reach vscd" in r.stderr, r.stderr


def prepare_while(hook, tmp_path, meanwhile, **env):
    """Runs the hook's `prepare` of domain-unix.xml in the background, calls meanwhile()
    while it runs, and checks that it allocated the domain's two ports."""
    xml_file = tmp_path / "domain.xml"
    xml_file.write_text(sample("domain-unix.xml", hook.ports_dir))
    with open(xml_file, encoding="utf-8") as stdin:  # read at once, as libvirt writes it
        proc = subprocess.Popen([HOOK, "vsc-unix", "prepare", "begin", "-"], stdin=stdin,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=hook.env(**env))
    try:
        meanwhile()
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, "exit %d, stderr: %s" % (proc.returncode, err)
    assert out == ""
    ports = system_ports(Client(hook.vscd.base, auth=("admin", ADMIN_PASSWORD)), UNIX_UUID)
    assert ports is not None and len(ports) == 2, ports


def test_retries_wait_for_a_vscd_that_starts_later(hook, tmp_path):
    """VSC_RETRIES (docs/hypervisors.md: "to wait for it" when libvirt starts first): a
    refused first attempt followed by a vscd that answers is a success, not a failure."""
    hook.vscd.stop()

    def start_vscd():
        time.sleep(0.5)  # the hook's first attempt is refused
        hook.vscd.start()

    prepare_while(hook, tmp_path, start_vscd, VSC_RETRIES="10")


def test_retries_get_past_a_transient_error(hook, admin, tmp_path):
    """VSC_RETRIES also retries vscd's transient answers (503: a device it could not make
    just now, or its login worker busy): the answer that counts is the last one alone."""
    blocker = os.path.join(hook.ports_dir, "vsc-unix")  # a file where the VM's folder goes
    with open(blocker, "w"):
        pass

    def unblock():
        wait_for(lambda: "AllocatePorts" in hook.vscd.read_log(), timeout=5,
                 what="vscd refusing the first AllocatePorts (503, nothing kept)")
        os.unlink(blocker)

    prepare_while(hook, tmp_path, unblock, VSC_RETRIES="10")


def test_config_file_is_read(hook, admin):
    hook.write_conf(VSC_URL="https://127.0.0.1:%d" % free_port())
    r = hook.run(sample("domain-unix.xml", hook.ports_dir), "vsc-unix", "prepare", "begin")
    assert r.returncode != 0 and "cannot reach vscd" in r.stderr, r.stderr


def test_wrong_password_fails_prepare(hook, admin):
    hook.write_conf(VSC_PASSWORD="not-the-password")
    r = hook.run(sample("domain-unix.xml", hook.ports_dir), "vsc-unix", "prepare", "begin")
    assert r.returncode != 0 and "HTTP 401" in r.stderr, r.stderr
    assert system_ports(admin, UNIX_UUID) is None


def test_missing_credentials_fail_prepare(hook, admin):
    hook.write_conf(VSC_USER=None, VSC_PASSWORD=None)
    r = hook.run(sample("domain-unix.xml", hook.ports_dir), "vsc-unix", "prepare", "begin")
    assert r.returncode != 0 and "no credentials" in r.stderr, r.stderr


def test_vscd_refusal_is_reported(hook, admin):
    """vscd's own error message reaches stderr (here: a libvirt name vscd does not accept)."""
    xml = sample("domain-unix.xml", hook.ports_dir).replace("vsc-unix", "bad name")
    r = hook.run(xml, "bad name", "prepare", "begin")
    assert r.returncode != 0, r.stderr
    assert "HTTP 400" in r.stderr and "VMName" in r.stderr, r.stderr
    assert all_port_ids(admin) == []


def test_paths_must_be_the_ones_vscd_serves(hook, admin, tmp_path):
    """A domain naming another folder than vscd's ports folder is refused, and nothing kept."""
    other = str(tmp_path / "elsewhere" / "ports")
    r = hook.run(sample("domain-unix.xml", other), "vsc-unix", "prepare", "begin",
                 VSC_PORTS_DIR=other)
    assert r.returncode != 0, r.stderr
    assert "wrong paths" in r.stderr and os.path.join(hook.ports_dir, "vsc-unix", "1") in r.stderr
    assert system_ports(admin, UNIX_UUID) is None


def test_a_state_dir_reached_through_a_symlink(tmp_path):
    """/var/lib/vsc a symlink (to another volume): vscd resolves state_dir, so its BindPaths
    name the real folder while the domain and VSC_PORTS_DIR name the configured one. Both
    are the same sockets, which QEMU reaches: the VM starts."""
    (tmp_path / "volume").mkdir()
    os.symlink(str(tmp_path / "volume"), str(tmp_path / "lib"))
    vscd = Vscd(str(tmp_path / "lib" / "state")).start()
    try:
        hook = Hook(tmp_path, vscd)
        admin = Client(vscd.base, auth=("admin", ADMIN_PASSWORD))
        xml = sample("domain-unix.xml", hook.ports_dir)
        ok(hook.run(xml, "vsc-unix", "prepare", "begin"))
        ports = system_ports(admin, UNIX_UUID)
        assert ports is not None and len(ports) == 2, ports
        with socket.socket(socket.AF_UNIX) as qemu_side:  # the path the domain names
            qemu_side.connect(os.path.join(hook.ports_dir, "vsc-unix", "1"))
            assert wait_state(admin, ports[0], "Connected") == "Connected"
        ok(hook.run(xml, "vsc-unix", "release", "end"))
        assert system_ports(admin, UNIX_UUID) is None
    finally:
        vscd.stop()


def test_bind_mode_socket_is_refused(hook, admin):
    """vscd listens on the path, so <source mode='bind'> (QEMU listening too) cannot work."""
    xml = sample("domain-unix.xml", hook.ports_dir).replace("mode='connect'", "mode='bind'")
    r = hook.run(xml, "vsc-unix", "prepare", "begin")
    assert r.returncode != 0 and "mode='connect'" in r.stderr, r.stderr
    assert all_port_ids(admin) == []


# ---- the harness itself, and the other scripts ---------------------------------------------------

def test_fake_virsh_records_calls(hook):
    """The virsh check above can fail: the fake virsh on the hook's PATH does record."""
    subprocess.run(["sh", "-c", "virsh list --all"], env=hook.env(), check=True)
    assert hook.virsh_log.read_text().strip() == "list --all"


def test_every_call_was_timed(hook, admin):
    xml = sample("domain-unix.xml", hook.ports_dir)
    for op, subop in [("prepare", "begin"), ("started", "begin"), ("stopped", "end"),
                      ("release", "end")]:
        ok(hook.run(xml, "vsc-unix", op, subop))
    assert len(hook.calls) == 4
    assert all(0 < c[3] < MAX_SECONDS for c in hook.calls), hook.calls


@pytest.mark.parametrize("name", ["domain-unix.xml", "domain-pty.xml", "domain-qemu-pty.xml",
                                  "domain-noserial.xml"])
def test_samples_are_valid_libvirt_domains(tmp_path, name):
    path = tmp_path / name
    path.write_text(sample(name, "/var/lib/vsc/ports"))
    r = subprocess.run(["virt-xml-validate", str(path), "domain"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("shell", ["sh", "bash"])
@pytest.mark.parametrize("script", [RUN_VM, HOOK,
                                    os.path.join(ROOT, "contrib", "qemu", "make-initrd.sh")])
def test_scripts_parse(shell, script):
    if not shutil.which(shell):
        pytest.skip("%s not installed" % shell)
    r = subprocess.run([shell, "-n", script], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert os.access(script, os.X_OK), "%s is not executable" % script


def test_run_vm_usage_without_vscd(tmp_path):
    """run-vm.sh checks its arguments before it talks to vscd."""
    env = dict(os.environ, VSC_URL="https://127.0.0.1:%d" % free_port())
    r = subprocess.run([RUN_VM], capture_output=True, text=True, env=env, timeout=10)
    assert r.returncode == 2 and "KERNEL" in r.stderr, r.stderr
    r = subprocess.run([RUN_VM, "-b", "serial", str(tmp_path / "k")], capture_output=True,
                       text=True, env=env, timeout=10)
    assert r.returncode == 2 and "-b unix or -b pty" in r.stderr, r.stderr
