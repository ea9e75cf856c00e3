"""Console modes, who is attached, and broadcast input (docs/console-protocol.md "Modes",
"Who is attached", "Broadcast"): real daemon, real WebSocket clients, one account per role.

Free use lets every user with the control right type; observe-only lets the holder alone
type; private lets the holder alone see and type, and what the console printed meanwhile
never reaches anyone else, live or by history replay, also after the mode ended. Taking
or ending a mode another user holds needs force, which only Administrators have."""
import base64
import ctypes
import os
import socket
import time

import pytest

from conftest import ADMIN_PASSWORD, assert_error
from helpers_auth import account_uri_of, create_account, unique
from helpers_ports import (MANAGER, ConsoleClient, FakeUnixVM, allocate_ok, port_oem, port_uri,
                           vscd_factory, wait_for, wait_port_field, wait_port_state)
from test_console_ws import connect

SEND = MANAGER + "/Actions/Oem/Vsc.SendInput"
SECRET = b"S3CR3T"


def role_env(extra_args=()):
    """One vscd and a session per role: admin, admin2 (Administrator), op, op2 (Operator),
    ro (ReadOnly)."""
    gen = vscd_factory()
    make = next(gen)
    v = make(extra_args=list(extra_args))
    v.tokens = {"admin": v.admin.login("admin", ADMIN_PASSWORD)[0]}
    v.names = {"admin": "admin"}
    for who, role in (("admin2", "Administrator"), ("op", "Operator"), ("op2", "Operator"),
                      ("ro", "ReadOnly")):
        name = unique(who)
        _, pw = create_account(v.admin, name, role)
        v.tokens[who] = v.admin.login(name, pw)[0]
        v.names[who] = name
    from conftest import Client
    v.as_user = {who: Client(v.base, token=tok) for who, tok in v.tokens.items()}
    yield v
    try:
        next(gen)
    except StopIteration:
        pass


@pytest.fixture(scope="module")
def env():
    yield from role_env()


@pytest.fixture(scope="module")
def batched_env():
    """As env, with console output sent in batches of 100 ms."""
    yield from role_env(["--set", "console_batch_ms=100"])


def ws(env, who, pid, query=""):
    """A console WebSocket of `who` (its greeting already read)."""
    return connect(env, pid, token=False, header=["X-Auth-Token: " + env.tokens[who]],
                   query=query)


def new_port(env, vm=True):
    p = allocate_ok(env.admin, count=1, Backend="unix")["Ports"][0]
    if not vm:
        return p, None
    v = FakeUnixVM(p["BindPath"])
    wait_port_state(env.admin, p["Id"], "Connected")
    return p, v


def take(c, kind, pred=lambda t: True, timeout=5.0):
    """Waits for a text frame of `kind` matching pred; removes and returns it."""
    def found(cc):
        return any(t.get("type") == kind and pred(t) for t in cc.texts)
    c.read_until(found, timeout, "a %s message" % kind)
    for i, t in enumerate(c.texts):
        if t.get("type") == kind and pred(t):
            return c.texts.pop(i)


def set_mode(c, mode, force=None):
    msg = {"type": "mode", "mode": mode}
    if force is not None:
        msg["force"] = force
    import json
    c.ws.send(json.dumps(msg))


def patch_mode(client, pid, mode):
    return client.patch(port_uri(pid), json={"Oem": {"Vsc": {"Mode": mode}}})


def closing(*things):
    for t in things:
        if t is not None:
            t.close()


# ---- free use -------------------------------------------------------------------------------


def test_free_use_every_controller_types_readonly_refused_with_notice(env):
    p, vm = new_port(env)
    pid = p["Id"]
    op, ro, admin = ws(env, "op", pid), ws(env, "ro", pid), ws(env, "admin", pid)
    try:
        assert ro.mode["mode"] == "Free" and ro.mode["holder"] is None
        assert ro.hello["connection"]["Role"] == "ReadOnly"
        assert ro.hello["connection"]["Interactive"] is False
        assert op.hello["connection"]["Interactive"] is True
        op.ws.send_binary(b"from-op\r")
        admin.ws.send_binary(b"from-admin\r")
        assert vm.read_until(b"from-admin\r").count(b"from-op\r") == 1
        ro.ws.send_binary(b"from-ro\r")
        n = take(ro, "notice")
        assert "no control right" in n["error"]
        vm.send(b"output for all\r\n")
        for c in (op, ro, admin):
            c.read_bytes(b"output for all\r\n")
        assert b"from-ro" not in vm.read_for(0.3)
    finally:
        closing(op, ro, admin, vm)


def server_nodelay(v, client):
    """TCP_NODELAY on vscd's end of a console client's connection: the socket is taken out
    of the daemon with pidfd_getfd(2) and asked (root, or vscd is our child)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    pidfd = libc.syscall(434, v.proc.pid, 0)  # pidfd_open
    assert pidfd >= 0, os.strerror(ctypes.get_errno())
    ours = client.ws.sock.getsockname()
    try:
        for name in os.listdir("/proc/%d/fd" % v.proc.pid):
            try:
                if not os.readlink("/proc/%d/fd/%s" % (v.proc.pid, name)).startswith("socket:"):
                    continue
            except OSError:
                continue  # closed meanwhile
            fd = libc.syscall(438, pidfd, int(name), 0)  # pidfd_getfd
            if fd < 0:
                continue
            s = socket.socket(fileno=fd)
            try:
                if s.family == socket.AF_INET and s.type == socket.SOCK_STREAM and \
                        s.getpeername() == ours:
                    return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            except OSError:
                pass  # a listening socket has no peer
            finally:
                s.close()  # our duplicate only
    finally:
        os.close(pidfd)
    raise AssertionError("no socket of vscd's is connected to %r" % (ours,))


def test_typing_sends_the_typists_output_without_nagle(env):
    """Who types gets small frames at once (no wait for the ACK of the last output: the
    echo); who only watches, or whose input is refused, keeps Nagle's coalescing."""
    p, vm = new_port(env)
    pid = p["Id"]
    op, ro, admin = ws(env, "op", pid), ws(env, "ro", pid), ws(env, "admin", pid)
    try:
        assert [server_nodelay(env, c) for c in (op, ro, admin)] == [False] * 3
        op.ws.send_binary(b"typed\r")
        vm.read_until(b"typed\r")
        ro.ws.send_binary(b"refused\r")
        assert "no control right" in take(ro, "notice")["error"]
        assert [server_nodelay(env, c) for c in (op, ro, admin)] == [True, False, False]
        vm.send(b"echo\r\n")
        for c in (op, ro, admin):
            c.read_bytes(b"echo\r\n")
    finally:
        closing(op, ro, admin, vm)


# ---- observe-only ---------------------------------------------------------------------------


def test_observe_only_holder_alone_types_everyone_watches(env):
    p, vm = new_port(env)
    pid = p["Id"]
    op, op2, ro, admin = (ws(env, w, pid) for w in ("op", "op2", "ro", "admin"))
    try:
        set_mode(ro, "observe")  # ReadOnly has no observe right
        assert "not allowed" in take(ro, "notice")["error"]
        set_mode(op, "observe")
        for c in (op, op2, ro, admin):
            m = take(c, "mode")
            assert (m["mode"], m["holder"], m["by"], m["forced"]) == \
                ("ObserveOnly", env.names["op"], env.names["op"], False)
        assert port_oem(env.admin, pid)["Mode"] == "ObserveOnly"
        assert port_oem(env.admin, pid)["ModeHolder"] == env.names["op"]
        op.ws.send_binary(b"holder-types\r")
        vm.read_until(b"holder-types\r")
        for c in (op2, admin):
            c.ws.send_binary(b"not-holder\r")
            assert "observe-only" in take(c, "notice")["error"]
        assert b"not-holder" not in vm.read_for(0.3)
        vm.send(b"all watch\r\n")
        for c in (op, op2, ro, admin):
            c.read_bytes(b"all watch\r\n")
        # Another Operator can neither take it without force nor force it.
        set_mode(op2, "observe")
        assert "force" in take(op2, "notice")["error"]
        set_mode(op2, "free", force=True)
        assert "not allowed" in take(op2, "notice")["error"]
        # The holder releases it.
        set_mode(op, "free")
        for c in (op, op2, ro, admin):
            m = take(c, "mode")
            assert (m["mode"], m["holder"], m["reason"]) == ("Free", None, "released")
        op2.ws.send_binary(b"free-again\r")
        vm.read_until(b"free-again\r")
    finally:
        closing(op, op2, ro, admin, vm)


# ---- private --------------------------------------------------------------------------------


def test_private_leaks_zero_bytes_live_or_by_history(env):
    p, vm = new_port(env)
    pid = p["Id"]
    holder, op, ro = ws(env, "admin", pid), ws(env, "op", pid), ws(env, "ro", pid)
    local = ConsoleClient(p["ConsoleSocket"])
    late = []
    try:
        wait_port_field(env.admin, pid, "AttachedClients", 4)
        vm.send(b"<before>")
        for c in (holder, op, ro):
            c.read_bytes(b"<before>")
        set_mode(holder, "private")
        for c in (holder, op, ro):
            m = take(c, "mode")
            assert (m["mode"], m["holder"]) == ("Private", "admin")
        for c in (op, ro):
            n = take(c, "notice")
            assert "private" in n["error"] and "admin" in n["error"]
        # Secrets in many writes, some split across a boundary.
        for i in range(20):
            vm.send(SECRET + b"%d|" % i)
        vm.send(SECRET[:3])
        vm.send(SECRET[3:] + b"<end-private>")
        holder.read_bytes(b"<end-private>")
        # Joining while private, with history: nothing private.
        late.append(ws(env, "op2", pid, query="?history=100000"))
        late[0].read_bytes(b"<before>")
        op.ws.send_binary(b"typing-while-private\r")
        assert "private" in take(op, "notice")["error"]
        set_mode(holder, "free")
        for c in (holder, op, ro, late[0]):
            assert take(c, "mode")["mode"] == "Free"
        vm.send(b"<public>")
        for c in (holder, op, ro, late[0]):
            c.read_bytes(b"<public>")
        local.read_until(b"<public>")
        # After the mode ended: history replays for others still skip it.
        late.append(ws(env, "op", pid, query="?history=100000"))
        late.append(ws(env, "ro", pid, query="?history=100000"))
        own = ws(env, "admin", pid, query="?history=100000")
        late.append(own)
        for c in late:
            c.read_bytes(b"<public>")
        for c in (op, ro, *late[:3]):
            assert SECRET[:3] not in c.buf and b"<end-private>" not in c.buf, c.buf
            assert c.buf.endswith(b"<before><public>"), c.buf
        assert SECRET[:3] not in local.buf and b"<before>" in local.buf
        assert holder.buf.count(SECRET) == 21 and own.buf.count(SECRET) == 21
        assert b"typing-while-private" not in vm.read_for(0.2)
    finally:
        closing(holder, op, ro, local, vm, *late)


def test_private_output_still_waiting_for_its_batch_stays_private(batched_env):
    """With output batched, what the VM printed while private may still wait in the kernel
    for its batch when the holder ends the mode; it is private all the same."""
    env = batched_env
    p, vm = new_port(env)
    pid = p["Id"]
    holder, op = ws(env, "admin", pid), ws(env, "op", pid)
    late = None
    try:
        for i in range(3):
            set_mode(holder, "private")
            for c in (holder, op):
                assert take(c, "mode")["mode"] == "Private"
            vm.send(b"<private%d>" % i)  # read at once: its batch is due in 100 ms
            time.sleep(0.02)
            vm.send(SECRET)  # waits in the kernel for that batch
            set_mode(holder, "free")
            for c in (holder, op):
                assert take(c, "mode")["mode"] == "Free"
            vm.send(b"<public%d>" % i)
            for c in (holder, op):
                c.read_bytes(b"<public%d>" % i)
        assert op.buf == b"<public0><public1><public2>", op.buf
        assert holder.buf.count(SECRET) == 3, holder.buf
        late = ws(env, "op", pid, query="?history=100000")
        late.read_bytes(b"<public2>")
        assert late.buf == op.buf
    finally:
        closing(holder, op, late, vm)


def test_private_output_held_in_the_kernel_stays_private_however_much(batched_env):
    """What the kernel holds for a batch not due yet is read whole when the mode ends, not
    just the first reads' worth: a hypervisor's socket may hold far more than 256 KiB."""
    env = batched_env
    p, vm = new_port(env)
    pid = p["Id"]
    vm.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    holder, op = ws(env, "admin", pid), ws(env, "op", pid)
    try:
        set_mode(holder, "private")
        for c in (holder, op):
            assert take(c, "mode")["mode"] == "Private"
        vm.send(b"<private>")  # read at once: its batch is due in 100 ms
        time.sleep(0.02)
        vm.send(SECRET * (480 * 1024 // len(SECRET)))  # waits in the kernel for that batch
        set_mode(holder, "free")
        for c in (holder, op):
            assert take(c, "mode")["mode"] == "Free"
        vm.send(b"<public>")
        op.read_bytes(b"<public>")
        assert SECRET not in op.buf and SECRET[:3] not in op.buf, op.buf[:200]
        assert op.buf == b"<public>", op.buf[:200]
    finally:
        closing(holder, op, vm)


def test_private_burst_read_in_parts_stays_private(env):
    """A burst larger than one turn of reading (16 reads) is still partly in the kernel
    when the holder's release arrives in the same turn: all of it stays private."""
    p, vm = new_port(env)
    pid = p["Id"]
    vm.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    holder, op = ws(env, "admin", pid), ws(env, "op", pid)
    try:
        for i in range(10):
            set_mode(holder, "private")
            for c in (holder, op):
                assert take(c, "mode")["mode"] == "Private"
            vm.send(SECRET * (1024 * 1024 // len(SECRET)))
            set_mode(holder, "free")
            for c in (holder, op):
                assert take(c, "mode")["mode"] == "Free"
            vm.send(b"<public%d>" % i)
            op.read_bytes(b"<public%d>" % i)
            assert SECRET[:3] not in op.buf, (i, op.buf[:200])
    finally:
        closing(holder, op, vm)


def test_private_needs_the_private_right(env):
    p, _ = new_port(env, vm=False)
    pid = p["Id"]
    op = ws(env, "op", pid)
    try:
        set_mode(op, "private")
        assert "not allowed" in take(op, "notice")["error"]
        assert port_oem(env.admin, pid)["Mode"] == "Free"
        set_mode(op, "sideways")
        assert "bad mode message" in take(op, "notice")["error"]
        set_mode(op, "observe", force="yes")
        assert "bad mode message" in take(op, "notice")["error"]
    finally:
        op.close()


# ---- PATCH ----------------------------------------------------------------------------------


def test_patch_mode_errors(env):
    p, _ = new_port(env, vm=False)
    pid, uri = p["Id"], port_uri(p["Id"])
    a = env.as_user
    assert_error(patch_mode(a["admin"], pid, "Secret"), 400, "PropertyValueNotInList")
    assert_error(patch_mode(a["admin"], pid, "private"), 400, "PropertyValueNotInList")
    assert_error(patch_mode(a["admin"], pid, 3), 400, "PropertyValueTypeError")
    assert_error(a["admin"].patch(uri, json={"Oem": {"Vsc": {"ModeHolder": "x"}}}), 400,
                 "PropertyNotWritable")
    assert_error(a["admin"].patch(uri, json={"Oem": {"Other": {}}}), 400, "PropertyUnknown")
    assert_error(a["admin"].patch(uri, json={"Oem": {"Vsc": "Private"}}), 400,
                 "PropertyValueTypeError")
    assert_error(patch_mode(a["op"], pid, "Private"), 403, "InsufficientPrivilege")
    assert_error(patch_mode(a["ro"], pid, "ObserveOnly"), 403, "InsufficientPrivilege")
    # Line settings keep needing ConfigureManager, also next to a mode the caller may set.
    r = a["op"].patch(uri, json={"BitRate": "9600", "Oem": {"Vsc": {"Mode": "ObserveOnly"}}})
    assert_error(r, 403, "InsufficientPrivilege")
    assert port_oem(env.admin, pid)["Mode"] == "Free"  # all-or-nothing
    r = patch_mode(a["op"], pid, "ObserveOnly")
    assert r.status_code == 200, r.text
    assert r.json()["Oem"]["Vsc"]["Mode"] == "ObserveOnly"
    assert r.json()["Oem"]["Vsc"]["ModeHolder"] == env.names["op"]
    assert_error(patch_mode(a["op2"], pid, "Free"), 409, "ResourceInUse")
    assert_error(patch_mode(a["ro"], pid, "Free"), 409, "ResourceInUse")
    assert patch_mode(a["op"], pid, "Free").status_code == 200
    assert patch_mode(a["ro"], pid, "Free").status_code == 200  # nothing held: no change


def test_patch_of_any_other_oem_property_is_not_writable(env):
    """Every Oem.Vsc property GET shows, but Mode, is a read-only fact: PATCHing it back
    (as a client echoing the resource does) is 400 PropertyNotWritable, and changes nothing."""
    p, _ = new_port(env, vm=False)
    uri = port_uri(p["Id"])
    oem = port_oem(env.admin, p["Id"])
    for key, value in oem.items():
        if key == "Mode":
            continue
        r = env.admin.patch(uri, json={"Oem": {"Vsc": {key: value}}})
        assert_error(r, 400, "PropertyNotWritable")
    assert port_oem(env.admin, p["Id"])["Mode"] == "Free"


def test_patch_mode_without_connection_is_held_until_released(env):
    """A mode taken by PATCH by a user with no console connection stays until that user
    releases it, an Administrator forces it, or a console connection of the holder to the
    port opens and closes (its last connection closing releases it)."""
    p, vm = new_port(env)
    pid = p["Id"]
    a = env.as_user
    assert patch_mode(a["admin"], pid, "Private").status_code == 200
    op = ws(env, "op", pid, query="?history=100000")
    try:
        assert (op.mode["mode"], op.mode["holder"]) == ("Private", "admin")
        assert op.hello["connection"]["ReceivesOutput"] is False
        vm.send(SECRET + b"\r\n")
        op.ws.send_binary(b"x")
        assert "private" in take(op, "notice")["error"]
        time.sleep(0.5)
        assert port_oem(env.admin, pid)["Mode"] == "Private"
        assert_error(patch_mode(a["op"], pid, "Free"), 409, "ResourceInUse")
        assert patch_mode(a["admin"], pid, "Free").status_code == 200
        m = take(op, "mode")
        assert (m["mode"], m["by"], m["reason"]) == ("Free", "admin", "released")
        vm.send(b"<after>")
        op.read_bytes(b"<after>")
        assert SECRET not in op.buf
        # Taken by PATCH, then the holder's only connection opens and closes: released.
        assert patch_mode(a["admin"], pid, "ObserveOnly").status_code == 200
        take(op, "mode", lambda m: m["mode"] == "ObserveOnly")
        h = ws(env, "admin", pid)
        h.close()
        m = take(op, "mode")
        assert (m["mode"], m["reason"]) == ("Free", "holder left")
    finally:
        closing(op, vm)


def test_the_mode_on_attach_says_current_after_changes(env):
    """The mode message every connection gets second says `reason: current`, also on a port
    whose mode changed before (it said the last change's `set` or `released`, which
    vsc-console and the dashboard then showed as a change that just happened)."""
    p, vm = new_port(env)
    pid = p["Id"]
    a = env.as_user
    assert patch_mode(a["admin"], pid, "ObserveOnly").status_code == 200
    op = ws(env, "op", pid)
    try:
        assert (op.mode["mode"], op.mode["holder"], op.mode["reason"]) == \
            ("ObserveOnly", env.names["admin"], "current")
    finally:
        closing(op)
    assert patch_mode(a["admin"], pid, "Free").status_code == 200
    op = ws(env, "op", pid)
    try:
        assert (op.mode["mode"], op.mode["holder"], op.mode["reason"]) == ("Free", None, "current")
    finally:
        closing(op, vm)


def private_spell(env, holder_client, pid, vm, watcher):
    """The holder takes the port private by PATCH; the VM prints a secret meanwhile."""
    assert patch_mode(holder_client, pid, "Private").status_code == 200
    take(watcher, "mode", lambda m: m["mode"] == "Private")
    vm.send(SECRET + b"<end-private>")


def attach_as(env, name, password, pid):
    """A console WebSocket of an account by name, with the whole history."""
    from conftest import Client
    token, _ = Client(env.base).login(name, password)
    return connect(env, pid, token=False, header=["X-Auth-Token: " + token],
                   query="?history=100000")


def test_a_deleted_holders_mode_and_private_output_pass_to_nobody(env):
    """Modes and private output are kept by user name: deleting the account releases its
    mode (reason "holder deleted") and makes its private output nobody's, so that a new
    account of the same name inherits neither, live or by history."""
    from conftest import Client
    p, vm = new_port(env)
    pid = p["Id"]
    name = unique("boss")
    uri, pw = create_account(env.admin, name, "Administrator")
    op, again = ws(env, "op", pid), None
    try:
        private_spell(env, Client(env.base, auth=(name, pw)), pid, vm, op)
        assert env.admin.delete(uri).status_code == 204
        m = take(op, "mode")
        assert (m["mode"], m["holder"], m["reason"]) == ("Free", None, "holder deleted"), m
        assert port_oem(env.admin, pid)["Mode"] == "Free"
        vm.send(b"<public>")
        op.read_bytes(b"<public>")
        _, pw2 = create_account(env.admin, name, "Administrator", password="new-" + pw)
        again = attach_as(env, name, pw2, pid)
        assert again.mode["mode"] == "Free"
        again.read_bytes(b"<public>")
        assert b"<end-private>" not in again.buf and SECRET not in again.buf, again.buf
        assert SECRET not in op.buf
    finally:
        closing(op, again, vm)


def test_a_renamed_holder_keeps_its_mode_and_private_output(env):
    """A rename carries the holder's mode and private output to the new name (reason
    "holder renamed"); a new account of the old name gets neither."""
    from conftest import Client
    p, vm = new_port(env)
    pid = p["Id"]
    name, renamed = unique("chief"), unique("chief-renamed")
    uri, pw = create_account(env.admin, name, "Administrator")
    op, own, other = ws(env, "op", pid), None, None
    try:
        private_spell(env, Client(env.base, auth=(name, pw)), pid, vm, op)
        assert env.admin.patch(uri, json={"UserName": renamed}).status_code == 200
        m = take(op, "mode")
        assert (m["mode"], m["holder"], m["reason"]) == ("Private", renamed, "holder renamed"), m
        assert port_oem(env.admin, pid)["ModeHolder"] == renamed
        own = attach_as(env, renamed, pw, pid)
        own.read_bytes(b"<end-private>")  # its own private output, replayed
        assert own.hello["connection"]["ReceivesOutput"] is True
        _, pw2 = create_account(env.admin, name, "Administrator", password="new-" + pw)
        other = attach_as(env, name, pw2, pid)
        assert other.hello["connection"]["ReceivesOutput"] is False
        assert patch_mode(Client(env.base, auth=(renamed, pw)), pid, "Free").status_code == 200
        vm.send(b"<public>")
        for c in (op, own, other):
            c.read_bytes(b"<public>")
        assert SECRET not in other.buf and SECRET not in op.buf, other.buf
    finally:
        closing(op, own, other, vm)


# ---- force and release ----------------------------------------------------------------------


def test_force_works_only_for_administrators(env):
    p, vm = new_port(env)
    pid = p["Id"]
    op, op2, admin = ws(env, "op", pid), ws(env, "op2", pid), ws(env, "admin2", pid)
    try:
        set_mode(op, "observe")
        for c in (op, op2, admin):
            take(c, "mode")
        set_mode(op2, "observe", force=True)
        assert "not allowed" in take(op2, "notice")["error"]
        set_mode(admin, "private")  # without force: refused, told to force
        assert "force" in take(admin, "notice")["error"]
        set_mode(admin, "private", force=True)
        for c in (op, op2, admin):
            m = take(c, "mode")
            assert (m["mode"], m["holder"], m["by"], m["forced"]) == \
                ("Private", env.names["admin2"], env.names["admin2"], True)
        # A PATCH by an Administrator takes over (announced as forced); force release too.
        assert patch_mode(env.as_user["admin"], pid, "ObserveOnly").status_code == 200
        for c in (op, op2, admin):
            m = take(c, "mode")
            assert (m["mode"], m["holder"], m["forced"]) == ("ObserveOnly", "admin", True)
        set_mode(admin, "free", force=True)
        for c in (op, op2, admin):
            m = take(c, "mode")
            assert (m["mode"], m["by"], m["forced"]) == ("Free", env.names["admin2"], True)
    finally:
        closing(op, op2, admin, vm)


def test_mode_released_when_the_holders_last_connection_closes(env):
    p, _ = new_port(env, vm=False)
    pid = p["Id"]
    h1, h2, watcher = ws(env, "op", pid), ws(env, "op", pid), ws(env, "ro", pid)
    try:
        set_mode(h1, "observe")
        take(watcher, "mode")
        h1.close()
        take(watcher, "attached", lambda t: t["event"] == "detach")
        assert port_oem(env.admin, pid)["Mode"] == "ObserveOnly"  # h2 is still there
        h2.close()
        m = take(watcher, "mode")
        assert (m["mode"], m["by"], m["reason"], m["forced"]) == \
            ("Free", env.names["op"], "holder left", False)
        assert port_oem(env.admin, pid)["ModeHolder"] is None
    finally:
        closing(h1, h2, watcher)


def test_local_socket_watches_and_types_only_in_free_use(env):
    p, vm = new_port(env)
    pid = p["Id"]
    local = ConsoleClient(p["ConsoleSocket"])
    op = ws(env, "op", pid)
    try:
        wait_port_field(env.admin, pid, "AttachedClients", 2)
        local.send(b"local-free\r")
        vm.read_until(b"local-free\r")
        set_mode(op, "observe")
        local.read_until(b"ObserveOnly")
        local.send(b"local-observe\r")
        local.read_until(b"input not sent")
        assert b"local-observe" not in vm.read_for(0.3)
    finally:
        closing(local, op, vm)


# ---- who is attached ------------------------------------------------------------------------


def test_attached_list_announcements_and_disconnect(env):
    p, _ = new_port(env, vm=False)
    pid = p["Id"]
    conns = env.admin.get(port_uri(pid) + "/Oem/Vsc/Connections")
    assert conns.status_code == 200 and conns.json()["Members"] == []
    admin = ws(env, "admin", pid)
    op = ws(env, "op", pid)
    a = take(admin, "attached")
    assert a["event"] == "attach" and a["connection"]["UserName"] == env.names["op"]
    ro = ws(env, "ro", pid)
    try:
        for c in (admin, op):
            t = take(c, "attached")
            assert (t["event"], t["connection"]["Role"]) == ("attach", "ReadOnly")
        assert {x["UserName"] for x in ro.hello["attached"]} == \
            {"admin", env.names["op"], env.names["ro"]}
        oem = port_oem(env.admin, pid)
        roles = {x["UserName"]: (x["Role"], x["Interactive"]) for x in oem["Attached"]}
        assert roles == {"admin": ("Administrator", True), env.names["op"]: ("Operator", True),
                         env.names["ro"]: ("ReadOnly", False)}
        assert oem["Connections"] == {"@odata.id": port_uri(pid) + "/Oem/Vsc/Connections"}
        members = env.admin.get(oem["Connections"]["@odata.id"]).json()["Members"]
        assert len(members) == 3
        ro_id = ro.hello["connection"]["Id"]
        ro_uri = port_uri(pid) + "/Oem/Vsc/Connections/" + ro_id
        assert {"@odata.id": ro_uri} in members
        body = env.admin.get(ro_uri).json()
        assert (body["UserName"], body["SessionType"], body["Links"]["SerialInterface"]) == \
            (env.names["ro"], "HostConsole", {"@odata.id": port_uri(pid)})
        assert env.as_user["ro"].get(ro_uri).status_code == 200  # one's own
        assert_error(env.as_user["op"].get(ro_uri), 403, "InsufficientPrivilege")
        assert_error(env.as_user["op"].delete(ro_uri), 403, "InsufficientPrivilege")
        assert_error(env.admin.get(port_uri(pid) + "/Oem/Vsc/Connections/999999"), 404,
                     "ResourceNotFound")
        assert_error(env.admin.get(port_uri(pid) + "/Oem/Vsc/Connections/abc"), 404,
                     "ResourceNotFound")
        r = env.as_user["admin"].delete(ro_uri)
        assert r.status_code == 204, r.text
        assert ro.wait_closed() == 1008
        assert ro.close_reason == "disconnected by admin"
        for c in (admin, op):
            t = take(c, "attached")
            assert (t["event"], t["connection"]["Id"]) == ("detach", ro_id)
        assert_error(env.admin.get(ro_uri), 404, "ResourceNotFound")
        wait_for(lambda: len(port_oem(env.admin, pid)["Attached"]) == 2)
    finally:
        closing(admin, op, ro)


# ---- broadcast ------------------------------------------------------------------------------


def send(client, **body):
    return client.post(SEND, json=body)


def test_broadcast_mixed_outcomes(env):
    p1, vm1 = new_port(env)
    p2, vm2 = new_port(env)
    p3, _ = new_port(env, vm=False)
    holder = ws(env, "admin", p2["Id"])
    try:
        set_mode(holder, "private")
        take(holder, "mode")
        ids = [p1["Id"], p2["Id"], p3["Id"], "999999"]
        r = send(env.as_user["op"], Ports=ids, Data="uptime\r")
        assert r.status_code == 200, r.text
        got = [(x["Port"], x["Result"], x.get("Reason")) for x in r.json()["Results"]]
        assert got == [(p1["Id"], "Sent", None), (p2["Id"], "Refused", "Mode"),
                       (p3["Id"], "Refused", "NoVM"), ("999999", "Refused", "NotFound")]
        assert all(x["Message"] for x in r.json()["Results"][1:])
        vm1.read_until(b"uptime\r")
        assert b"uptime" not in vm2.read_for(0.3)
        # ReadOnly: refused for rights; the holder of private: sent.
        r = send(env.as_user["ro"], Ports=[p1["Id"]], Data="x")
        assert r.json()["Results"][0]["Reason"] == "Rights"
        r = send(env.as_user["admin"], Ports=[p2["Id"], p1["Id"]],
                 Data=base64.b64encode(b"\x00\xff\r").decode(), Encoding="Base64")
        assert [x["Result"] for x in r.json()["Results"]] == ["Sent", "Sent"]
        vm2.read_until(b"\x00\xff\r")
        vm1.read_until(b"\x00\xff\r")
    finally:
        closing(holder, vm1, vm2)


def test_broadcast_queue_full_is_reported(env):
    p, vm = new_port(env)  # a VM that never reads
    try:
        for _ in range(400):
            r = send(env.as_user["op"], Ports=[p["Id"]], Data="y" * 4096)
            if r.json()["Results"][0]["Result"] == "Refused":
                break
        assert r.json()["Results"][0]["Reason"] == "QueueFull"
    finally:
        vm.close()


@pytest.mark.parametrize("body, message", [
    ({"Ports": [], "Data": "x"}, "ActionParameterValueError"),
    ({"Ports": ["1"] * 65, "Data": "x"}, "ActionParameterValueError"),
    ({"Ports": ["abc"], "Data": "x"}, "ActionParameterValueFormatError"),
    ({"Ports": [1], "Data": "x"}, "ActionParameterValueFormatError"),
    ({"Ports": ["01"], "Data": "x"}, "ActionParameterValueFormatError"),
    ({"Ports": ["5", "5"], "Data": "x"}, "ActionParameterValueFormatError"),
    ({"Ports": "5", "Data": "x"}, "ActionParameterValueTypeError"),
    ({"Ports": ["5"]}, "ActionParameterMissing"),
    ({"Data": "x"}, "ActionParameterMissing"),
    ({"Ports": ["5"], "Data": ""}, "ActionParameterValueOutOfRange"),
    ({"Ports": ["5"], "Data": "x" * 4097}, "ActionParameterValueFormatError"),
    ({"Ports": ["5"], "Data": "x" * 8193}, "ActionParameterValueFormatError"),
    ({"Ports": ["5"], "Data": "x" * 6000, "Encoding": "Base64"}, "ActionParameterValueFormatError"),
    ({"Ports": ["5"], "Data": "eHh4" * 2731, "Encoding": "Base64"},
     "ActionParameterValueFormatError"),
    ({"Ports": ["5"], "Data": "x", "Encoding": "hex"}, "ActionParameterValueNotInList"),
    ({"Ports": ["5"], "Data": "!!!", "Encoding": "Base64"}, "ActionParameterValueFormatError"),
    ({"Ports": ["5"], "Data": "x", "Extra": 1}, "ActionParameterUnknown"),
])
def test_broadcast_bad_input(env, body, message):
    assert_error(env.as_user["op"].post(SEND, json=body), 400, message)


def test_broadcast_action_is_advertised(env):
    m = env.admin.get(MANAGER).json()
    action = m["Actions"]["Oem"]["#Vsc.SendInput"]
    assert action["target"] == SEND
    info = env.admin.get(action["@Redfish.ActionInfo"]).json()
    assert [x["Name"] for x in info["Parameters"]] == ["Ports", "Data", "Encoding"]
    assert_error(env.as_user["op"].post(MANAGER.replace("bmc", "other") +
                                        "/Actions/Oem/Vsc.SendInput",
                                        json={"Ports": ["1"], "Data": "x"}), 404,
                 "ResourceNotFound")


# ---- fan-out --------------------------------------------------------------------------------


def test_ten_clients_identical_streams_and_two_consoles_never_mix(env):
    p1, vm1 = new_port(env)
    p2, vm2 = new_port(env)
    many = [ws(env, ("op", "ro", "admin")[i % 3], p1["Id"]) for i in range(10)]
    other = [ws(env, "op", p2["Id"]), ws(env, "ro", p2["Id"])]
    try:
        one = b"".join(b"[one %d]" % i + bytes(range(256)) for i in range(200)) + b"<one-end>"
        two = b"".join(b"(two %d)" % i for i in range(3000)) + b"<two-end>"
        for i in range(0, max(len(one), len(two)), 4096):
            vm1.send(one[i:i + 4096]) if i < len(one) else None
            vm2.send(two[i:i + 4096]) if i < len(two) else None
        for c in many:
            assert c.read_bytes(b"<one-end>", timeout=30) == one
        for c in other:
            assert c.read_bytes(b"<two-end>", timeout=30) == two
    finally:
        closing(*many, *other, vm1, vm2)


def test_a_holder_that_loses_the_right_loses_the_mode():
    """An Operator holding observe-only who is made ReadOnly, or an Administrator holding
    private whom an access rule denies Private, may no longer hold it: the mode is released
    at once (reason 'holder lost the right', by who made the change), so that the others
    may type again; before, it stayed held by a user with no right to it."""
    gen = role_env()
    env = next(gen)
    p, vm = new_port(env)
    pid = p["Id"]
    watcher = ws(env, "admin2", pid)
    try:
        assert patch_mode(env.as_user["op"], pid, "ObserveOnly").status_code == 200
        take(watcher, "mode", lambda t: t["mode"] == "ObserveOnly")
        r = env.admin.patch(account_uri_of(env.admin, env.names["op"]), json={"RoleId": "ReadOnly"})
        assert r.status_code == 200, r.text
        m = take(watcher, "mode", lambda t: t["mode"] == "Free")
        assert (m["reason"], m["by"]) == ("holder lost the right", "admin"), m
        assert port_oem(env.admin, pid)["Mode"] == "Free"
        assert patch_mode(env.as_user["admin2"], pid, "Private").status_code == 200
        take(watcher, "mode", lambda t: t["mode"] == "Private")
        r = env.admin.post(port_uri(pid) + "/Oem/Vsc/AccessRules",
                           json={"UserName": env.names["admin2"], "Right": "Private",
                                 "Effect": "Deny"})
        assert r.status_code == 201, r.text
        m = take(watcher, "mode", lambda t: t["mode"] == "Free")
        assert m["reason"] == "holder lost the right", m
        assert port_oem(env.admin, pid)["ModeHolder"] is None
    finally:
        closing(watcher, vm)
        next(gen, None)
