"""Shared helpers for the port tests (test_ports.py, test_port_data.py, test_port_crash.py):
fixtures with short state dirs (Unix socket paths are limited to 108 bytes), the port
actions, fake VMs for the pty and unix backends, console-socket clients, bounded waits, and
the cross-check of database, Redfish view and filesystem."""
import errno
import json
import os
import select
import shutil
import socket
import sqlite3
import stat
import tempfile
import threading
import time
import tty
import uuid as uuidlib

from conftest import ADMIN_PASSWORD, Client, Vscd

MANAGER = "/redfish/v1/Managers/bmc"
ALLOCATE = MANAGER + "/Actions/Oem/Vsc.AllocatePorts"
FREE = MANAGER + "/Actions/Oem/Vsc.FreePorts"
SERIALS = MANAGER + "/SerialInterfaces"
SYSTEMS = "/redfish/v1/Systems"
ALLOCATE_INFO = MANAGER + "/Oem/Vsc/AllocatePortsActionInfo"
FREE_INFO = MANAGER + "/Oem/Vsc/FreePortsActionInfo"
NOTICE_NO_VM = b"[vsc: no VM is attached to this port; input not sent]"


# ---- fixtures ------------------------------------------------------------------------------


def short_dir():
    return tempfile.mkdtemp(prefix="vsc", dir="/tmp")


class VscdFactory:
    """Starts vscds with short state dirs; stops them (sanitizer check) and removes the
    dirs at teardown."""

    def __init__(self):
        self.started = []
        self.dirs = []

    def __call__(self, extra_args=()):
        d = short_dir()
        self.dirs.append(d)
        v = Vscd(os.path.join(d, "s"), extra_args=extra_args).start()
        v.admin = Client(v.base, auth=("admin", ADMIN_PASSWORD))
        self.started.append(v)
        return v

    def close(self):
        errors = []
        for v in self.started:
            try:
                v.stop()
            except AssertionError as e:  # a sanitizer report
                errors.append(str(e))
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)
        assert not errors, "\n".join(errors)


def vscd_factory():
    """Body of a make_vscd fixture: yields a VscdFactory, closes it at teardown. (The test
    modules define their fixtures with it: fixtures imported from here would need
    pytest_plugins, which conftest.py does not declare.)"""
    f = VscdFactory()
    yield f
    f.close()


# ---- actions ----------------------------------------------------------------------------------


def served_vm():
    """Body of a module's `served` fixture (the Redfish client tests): one vscd with one VM,
    web1 (HostName web1.example), of two ports; v.vm_uuid is its UUID."""
    gen = vscd_factory()
    v = next(gen)()
    v.vm_uuid = new_uuid()
    allocate_ok(v.admin, uuid=v.vm_uuid, name="web1", count=2, HostName="web1.example")
    yield v
    next(gen, None)


def new_uuid():
    return str(uuidlib.uuid4())


def allocate(client, uuid, name, count=1, **extra):
    body = {"VMUUID": uuid, "VMName": name, "PortCount": count}
    body.update(extra)
    return client.post(ALLOCATE, json=body)


def allocate_ok(client, uuid=None, name=None, count=1, **extra):
    """Allocates; asserts 200 Created; returns the AllocatePortsResponse."""
    uuid = uuid or new_uuid()
    name = name or "vm" + uuid[:8]
    r = allocate(client, uuid, name, count, **extra)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["Created"] is True, body
    assert len(body["Ports"]) == count, body
    return body


def free(client, **body):
    return client.post(FREE, json=body)


def get_json(client, path):
    r = client.get(path)
    assert r.status_code == 200, (path, r.status_code, r.text)
    body = r.json()
    body.pop("@odata.etag", None)
    return body


def port_uri(port_id):
    return "%s/%s" % (SERIALS, port_id)


def port_oem(client, port_id):
    return get_json(client, port_uri(port_id))["Oem"]["Vsc"]


def members(client, path):
    """Every member's URI, following Members@odata.nextLink through a paged collection."""
    out = []
    while path:
        page = get_json(client, path)
        out += [m["@odata.id"] for m in page["Members"]]
        path = page.get("Members@odata.nextLink")
    return out


class EchoBeside:
    """A console echoing beside other work, in a thread: each line's trip through vscd (from
    the VM's side to a WebSocket viewer) in .echoes, seconds."""

    def __init__(self, vm, con):
        self.vm, self.con, self.echoes = vm, con, []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            t0 = time.monotonic()
            self.vm.send(b"<%d>" % n)
            self.con.read_bytes(b"<%d>" % n)
            self.echoes.append(time.monotonic() - t0)
            time.sleep(0.01)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()

    def slowest(self):
        assert self.echoes, "no console echo came back"
        return max(self.echoes)


# ---- waits ---------------------------------------------------------------------------------------


def wait_for(pred, timeout=5.0, interval=0.05, what="condition"):
    """Polls pred() until it returns a truthy value; fails after `timeout` seconds."""
    deadline = time.time() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.time() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s (last: %r)"
                                 % (timeout, what, last))
        time.sleep(interval)


def wait_port_state(client, port_id, state, timeout=5.0):
    oem = {}

    def check():
        oem.update(port_oem(client, port_id))
        return oem["PortState"] == state

    wait_for(check, timeout, what="port %s PortState %s (now %s)" % (port_id, state,
                                                                       oem.get("PortState")))
    return oem


def wait_port_field(client, port_id, field, value, timeout=5.0):
    seen = {}

    def check():
        seen["v"] = port_oem(client, port_id)[field]
        return seen["v"] == value

    wait_for(check, timeout, what="port %s %s == %r (now %r)" % (port_id, field, value,
                                                                   seen.get("v")))


# ---- fake VMs and console clients ---------------------------------------------------------------


class _Reader:
    """Bounded reads from an fd-like endpoint into a buffer."""

    def __init__(self):
        self.buf = b""
        self.eof = False

    def _read_some(self, timeout):
        raise NotImplementedError

    def read_until(self, needle, timeout=5.0):
        """Reads until `needle` is in the buffer; returns the buffer. Fails on timeout."""
        deadline = time.time() + timeout
        while needle not in self.buf:
            left = deadline - time.time()
            if left <= 0 or self.eof:
                raise AssertionError("%r not received in %.1fs (got %r, eof %s)"
                                     % (needle, timeout, self.buf[-300:], self.eof))
            self._read_some(left)
        return self.buf

    def read_for(self, seconds):
        """Reads whatever arrives during `seconds`; returns the whole buffer."""
        deadline = time.time() + seconds
        while not self.eof:
            left = deadline - time.time()
            if left <= 0:
                break
            self._read_some(left)
        return self.buf

    def wait_eof(self, timeout=5.0):
        deadline = time.time() + timeout
        while not self.eof:
            left = deadline - time.time()
            if left <= 0:
                return False
            self._read_some(left)
        return True

    def take(self):
        b, self.buf = self.buf, b""
        return b


class FakePtyVM(_Reader):
    """The VM side of a pty port: opens the published symlink like QEMU does."""

    def __init__(self, path):
        super().__init__()
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)

    def _read_some(self, timeout):
        r, _, _ = select.select([self.fd], [], [], max(0.0, min(timeout, 0.2)))
        if not r:
            return
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        except OSError as e:
            if e.errno == errno.EIO:  # the master is gone
                self.eof = True
                return
            raise
        if not data:
            self.eof = True
        self.buf += data

    def send(self, data):
        view = memoryview(data)
        deadline = time.time() + 5
        while view:
            try:
                n = os.write(self.fd, view)
                view = view[n:]
            except BlockingIOError:
                assert time.time() < deadline, "pty write blocked for 5 s"
                select.select([], [self.fd], [], 0.2)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class _SockReader(_Reader):
    def __init__(self, path, sock=None):
        super().__init__()
        self.path = path
        if sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(5)
            sock.connect(path)
        self.sock = sock

    def _read_some(self, timeout):
        self.sock.settimeout(max(0.01, min(timeout, 0.2)))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return
        except ConnectionResetError:
            self.eof = True
            return
        if not data:
            self.eof = True
        self.buf += data

    def send(self, data):
        self.sock.settimeout(5)
        self.sock.sendall(data)

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class FakeUnixVM(_SockReader):
    """The VM side of a unix port: connects to the published socket like QEMU's
    -chardev socket,path=...,reconnect=1."""

    @classmethod
    def connect_retry(cls, path, timeout=5.0):
        """QEMU's reconnect=1: tries again every 100 ms for up to `timeout` seconds."""
        deadline = time.time() + timeout
        while True:
            try:
                return cls(path)
            except (ConnectionRefusedError, FileNotFoundError) as e:
                if time.time() >= deadline:
                    raise AssertionError("could not reconnect to %s in %.1fs: %s"
                                         % (path, timeout, e))
                time.sleep(0.1)


class ConsoleClient(_SockReader):
    """A local console: the port's ConsoleSocket (raw bytes both ways)."""


def fake_vm(backend, path):
    return FakePtyVM(path) if backend == "pty" else FakeUnixVM(path)


def attach_console(client, port_id, path, expect_clients):
    """Connects a console client and waits until vscd counts it (else early output is
    missed: a new client starts at the live end of the stream)."""
    c = ConsoleClient(path)
    wait_port_field(client, port_id, "AttachedClients", expect_clients)
    return c


# ---- the three views of the ports ---------------------------------------------------------------


def fs_tree(root):
    """{relative path: kind} of everything under root ('dir', 'link -> target', 'sock',
    'file', ...)."""
    out = {}
    if not os.path.isdir(root):
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                kind = "link -> " + os.readlink(p)
            elif stat.S_ISDIR(st.st_mode):
                kind = "dir"
            elif stat.S_ISSOCK(st.st_mode):
                kind = "sock"
            elif stat.S_ISREG(st.st_mode):
                kind = "file"
            else:
                kind = "other"
            out[os.path.relpath(p, root)] = kind
    return out


def snapshot(client, state_dir):
    """Everything a failed request must leave exactly as it was: Systems and SerialInterfaces
    (every resource), the Manager's links and counters, the published paths."""
    systems = {uri: get_json(client, uri) for uri in members(client, SYSTEMS)}
    serials = {uri: get_json(client, uri) for uri in members(client, SERIALS)}
    for body in serials.values():  # the caller's own rights: differ between callers
        body.get("Oem", {}).get("Vsc", {}).pop("EffectiveRights", None)
    manager = get_json(client, MANAGER)
    return {
        "systems": systems,
        "serials": serials,
        "manager_links": manager["Links"],
        "ports_in_use": manager["Oem"]["Vsc"]["PortsInUse"],
        "fs": fs_tree(os.path.join(state_dir, "ports")),
    }


def db_active(state_dir):
    """(active vms {uuid: row}, active ports [row]) straight from <state>/vsc.db."""
    con = sqlite3.connect(os.path.join(state_dir, "vsc.db"), timeout=5)
    try:
        con.row_factory = sqlite3.Row
        vms = {r["uuid"]: dict(r) for r in
               con.execute("SELECT uuid, name, host_name FROM vms WHERE freed_at IS NULL")}
        ports = [dict(r) for r in con.execute(
            "SELECT id, vm_uuid, idx, com_port, label, backend, bind_path, enabled, bit_rate, "
            "data_bits, parity, stop_bits, flow_control FROM ports WHERE freed_at IS NULL "
            "ORDER BY id")]
    finally:
        con.close()
    return vms, ports


def check_consistency(client, state_dir):
    """The database, the Redfish view and the filesystem agree exactly. Returns the Redfish
    view {uuid: {"name":…, "ports": {idx: SerialInterface}}}; raises AssertionError with every
    disagreement found."""
    problems = []
    vms, ports = db_active(state_dir)
    ports_dir = os.path.join(state_dir, "ports")

    # database on its own
    seen = set()
    for p in ports:
        key = (p["vm_uuid"], p["idx"])
        if key in seen:
            problems.append("db: duplicate active (vm, idx) %s" % (key,))
        seen.add(key)
        if p["vm_uuid"] not in vms:
            problems.append("db: active port %d of inactive VM %s" % (p["id"], p["vm_uuid"]))
    for u in vms:
        if not any(p["vm_uuid"] == u for p in ports):
            problems.append("db: active VM %s without ports" % u)

    # Redfish
    sys_uris = members(client, SYSTEMS)
    rf_uuids = {uri.rsplit("/", 1)[1] for uri in sys_uris}
    if len(rf_uuids) != len(sys_uris):
        problems.append("redfish: duplicate Systems members %s" % sys_uris)
    if rf_uuids != set(vms):
        problems.append("Systems %s != db VMs %s" % (sorted(rf_uuids), sorted(vms)))
    manager = get_json(client, MANAGER)
    servers = {m["@odata.id"] for m in manager["Links"]["ManagerForServers"]}
    if servers != set(sys_uris):
        problems.append("ManagerForServers %s != Systems %s" % (sorted(servers), sys_uris))
    if manager["Oem"]["Vsc"]["PortsInUse"] != len(ports):
        problems.append("PortsInUse %s != %d active ports" % (
            manager["Oem"]["Vsc"]["PortsInUse"], len(ports)))
    serial_uris = members(client, SERIALS)
    rf_ids = [uri.rsplit("/", 1)[1] for uri in serial_uris]
    db_ids = [str(p["id"]) for p in ports]
    if sorted(rf_ids) != sorted(db_ids):
        problems.append("SerialInterfaces %s != db ports %s" % (sorted(rf_ids), db_ids))

    view = {}
    for uri in sys_uris:
        s = get_json(client, uri)
        u = s["Id"]
        links = sorted(m["@odata.id"] for m in s["Links"]["Oem"]["Vsc"]["SerialInterfaces"])
        want = sorted(port_uri(p["id"]) for p in ports if p["vm_uuid"] == u)
        if links != want:
            problems.append("System %s links %s != db %s" % (u, links, want))
        if not links:
            problems.append("System %s has no SerialInterfaces" % u)
        if u in vms and s["Name"] != vms[u]["name"]:
            problems.append("System %s Name %s != db %s" % (u, s["Name"], vms[u]["name"]))
        view[u] = {"name": s["Name"], "ports": {}}
    for p in ports:
        if str(p["id"]) not in rf_ids:
            continue
        si = get_json(client, port_uri(p["id"]))
        oem = si["Oem"]["Vsc"]
        sys_link = si["Links"]["Oem"]["Vsc"]["ComputerSystem"]["@odata.id"]
        if sys_link != "%s/%s" % (SYSTEMS, p["vm_uuid"]):
            problems.append("port %d links to %s, db VM %s" % (p["id"], sys_link, p["vm_uuid"]))
        for field, col in (("BindPath", "bind_path"), ("Backend", "backend"),
                           ("Index", "idx"), ("ComPort", "com_port"), ("Label", "label")):
            if oem[field] != p[col]:
                problems.append("port %d Oem.Vsc.%s %r != db %r" % (p["id"], field, oem[field],
                                                                     p[col]))
        if si["BitRate"] != str(p["bit_rate"]) or si["InterfaceEnabled"] != bool(p["enabled"]):
            problems.append("port %d line/enabled differ from db" % p["id"])
        if p["enabled"] and (oem["PortState"] == "Down" or oem["Error"] is not None):
            problems.append("port %d enabled but %s (%s)" % (p["id"], oem["PortState"],
                                                              oem["Error"]))
        if p["vm_uuid"] in view:
            view[p["vm_uuid"]]["ports"][p["idx"]] = si

    # filesystem: <state>/ports/<vm name>/<idx>, exactly the enabled active pty/unix ports
    expected = {}
    vm_folders = set()
    for p in ports:
        if p["backend"] == "usb-gadget" or p["vm_uuid"] not in vms:
            continue
        name = vms[p["vm_uuid"]]["name"]
        want_path = os.path.join(ports_dir, name, str(p["idx"]))
        if p["bind_path"] != want_path:
            problems.append("port %d bind_path %s, expected %s" % (p["id"], p["bind_path"],
                                                                   want_path))
        if p["enabled"]:  # a disabled port's path is unpublished (no stale pty link)
            expected[os.path.join(name, str(p["idx"]))] = p
        else:
            vm_folders.add(name)
    tree = fs_tree(ports_dir)
    vm_dirs = {os.path.dirname(rel) for rel in expected} | vm_folders
    for rel, kind in sorted(tree.items()):
        if rel in vm_dirs:
            if kind != "dir":
                problems.append("fs: %s is %s, not a VM folder" % (rel, kind))
            continue
        p = expected.get(rel)
        if p is None:
            problems.append("fs: %s (%s) belongs to no active port" % (rel, kind))
            continue
        path = os.path.join(ports_dir, rel)
        if p["backend"] == "pty" and p["enabled"]:
            target = os.readlink(path) if kind.startswith("link") else None
            if not target or not target.startswith("/dev/pts/") or not os.path.exists(target):
                problems.append("fs: pty port %d path %s is %s (target missing?)"
                                % (p["id"], rel, kind))
        elif p["backend"] == "unix" and p["enabled"] and kind != "sock":
            problems.append("fs: unix port %d path %s is %s" % (p["id"], rel, kind))
    for rel, p in expected.items():
        if rel not in tree:
            problems.append("fs: active port %d has no published path %s" % (p["id"], rel))
    assert not problems, "inconsistent ports state:\n  " + "\n  ".join(problems)
    return view


def stream_through(vm, ws, payload, timeout=30.0, ahead=128 * 1024):
    """Writes payload as the VM, never more than `ahead` bytes (half a ring) before what the
    console WebSocket `ws` has received, and returns what arrived as binary frames. Text
    frames must be the greeting (hello, mode) or roster changes (attached: another viewer
    came or went, e.g. a stalled one dropped while a slow build streams): a `missed` or
    anything else fails."""
    import websocket  # python3-websocket; only the console tests need it
    got = bytearray()
    vm.sock.setblocking(False)
    sent = 0
    deadline = time.time() + timeout
    while len(got) < len(payload):
        assert time.time() < deadline, "only %d of %d bytes arrived" % (len(got), len(payload))
        if sent < len(payload) and sent - len(got) < ahead:
            try:
                sent += vm.sock.send(payload[sent:sent + 65536])
            except BlockingIOError:
                pass
        ws.settimeout(0.05)
        try:
            op, data = ws.recv_data()
        except websocket.WebSocketTimeoutException:
            continue
        if op == websocket.ABNF.OPCODE_TEXT:
            assert json.loads(data)["type"] in ("hello", "mode", "attached"), data
            continue
        assert op == websocket.ABNF.OPCODE_BINARY, data
        got += data
    return bytes(got)
