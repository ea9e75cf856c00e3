"""The console WebSocket (docs/console-protocol.md): GET .../SerialInterfaces/{id}/Oem/Vsc/Console
upgraded on the HTTPS port. Bytes both ways, identical streams for every client, history,
control messages, refusals before the upgrade, and the socket closed when the port or the
session goes away. A client that never reads must not hold back another one."""
import json
import ssl
import time

import pytest
import requests
import websocket

from conftest import ADMIN_PASSWORD, Client, assert_error
from helpers_ports import (FREE, MANAGER, FakeUnixVM, allocate_ok, fake_vm, get_json, port_oem,
                           port_uri, vscd_factory, wait_for, wait_port_field, wait_port_state)


@pytest.fixture
def make_vscd():
    yield from vscd_factory()


@pytest.fixture
def pvscd(make_vscd):
    v = make_vscd()
    v.token, v.session = v.admin.login("admin", ADMIN_PASSWORD)
    return v


def console_path(port_id):
    return port_uri(port_id) + "/Oem/Vsc/Console"


def connect(v, port_id, token=True, query="", header=(), subprotocols=None, origin=None):
    url = v.base.replace("https://", "wss://") + console_path(port_id) + query
    hdr = list(header)
    if token is True:
        hdr.append("X-Auth-Token: " + v.token)
    ws = websocket.create_connection(url, sslopt={"cert_reqs": ssl.CERT_NONE}, header=hdr,
                                     subprotocols=subprotocols, origin=origin or v.base,
                                     timeout=5)
    return Console(ws).greeted()


class Console:
    """A WebSocket console client: binary frames into .buf, text frames into .texts."""

    def __init__(self, ws):
        self.ws = ws
        self.buf = b""
        self.texts = []
        self.closed = None  # close code once the server closed
        self.close_reason = None
        self.hello = None  # the server's first message: this connection and who is attached
        self.mode = None  # the port's mode when this client attached

    def greeted(self):
        """Reads the greeting every client gets first: a `hello` and the port's `mode`."""
        self.hello = self.read_text()
        assert self.hello["type"] == "hello", self.hello
        self.mode = self.read_text()
        assert self.mode["type"] == "mode", self.mode
        return self

    def control(self):
        """Text frames received so far other than announcements of who came and went."""
        return [t for t in self.texts if t.get("type") != "attached"]

    def _read_some(self, timeout):
        self.ws.settimeout(max(0.01, timeout))
        try:
            op, data = self.ws.recv_data()
        except websocket.WebSocketTimeoutException:
            return
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            self.closed = self.closed or -1
            return
        if op == websocket.ABNF.OPCODE_BINARY:
            self.buf += data
        elif op == websocket.ABNF.OPCODE_TEXT:
            self.texts.append(json.loads(data))
        elif op == websocket.ABNF.OPCODE_CLOSE:
            self.closed = int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005
            self.close_reason = data[2:].decode("utf-8", "replace")

    def read_until(self, pred, timeout=5.0, what="data"):
        deadline = time.time() + timeout
        while not pred(self):
            left = deadline - time.time()
            if left <= 0 or self.closed:
                raise AssertionError("%s not received in %.1fs (got %r, texts %r, closed %r)"
                                     % (what, timeout, self.buf[-200:], self.texts, self.closed))
            self._read_some(min(left, 0.5))
        return self

    def read_bytes(self, needle, timeout=5.0):
        """Reads until `needle` arrives (searching only what is new); returns the buffer."""
        start = [0]

        def found(c):
            hit = c.buf.find(needle, start[0]) >= 0
            start[0] = max(0, len(c.buf) - len(needle) + 1)
            return hit
        return self.read_until(found, timeout, repr(needle)).buf

    def read_text(self, timeout=5.0):
        self.read_until(lambda c: c.texts, timeout, "a text frame")
        return self.texts.pop(0)

    def read_for(self, seconds):
        deadline = time.time() + seconds
        while not self.closed and time.time() < deadline:
            self._read_some(deadline - time.time())
        return self.buf

    def wait_closed(self, timeout=5.0):
        self.read_until(lambda c: c.closed, timeout, "close")
        return self.closed

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass


def unix_port(v):
    return allocate_ok(v.admin, count=1, Backend="unix")["Ports"][0]


def attach(v, port_id, n, **kw):
    c = connect(v, port_id, **kw)
    wait_port_field(v.admin, port_id, "AttachedClients", n)
    return c


def test_bytes_both_ways_and_identical_streams(pvscd):
    p = unix_port(pvscd)
    pid = p["Id"]
    assert port_oem(pvscd.admin, pid)["ConsoleURI"] == console_path(pid)
    a = attach(pvscd, pid, 1)
    b = attach(pvscd, pid, 2)
    vm = FakeUnixVM(p["BindPath"])
    try:
        wait_port_state(pvscd.admin, pid, "Connected")
        out = b"boot: hello\r\n" + bytes(range(256)) * 64 + b"login: "
        vm.send(out)
        assert a.read_bytes(b"login: ") == out
        assert b.read_bytes(b"login: ") == out
        a.ws.send_binary(b"root\r")
        vm.read_until(b"root\r")
        b.ws.send_binary(b"\x00\xffpw\r")
        assert vm.read_until(b"pw\r") == b"root\r\x00\xffpw\r"
        more = b"".join(b"line %d\r\n" % i for i in range(2000))
        vm.send(more)
        assert a.read_bytes(b"line 1999\r\n") == out + more
        assert b.read_bytes(b"line 1999\r\n") == out + more
        assert a.control() == [] and b.control() == []
    finally:
        a.close()
        b.close()
        vm.close()


def test_history_then_live_without_gap(pvscd):
    p = unix_port(pvscd)
    pid = p["Id"]
    vm = FakeUnixVM(p["BindPath"])
    try:
        wait_port_state(pvscd.admin, pid, "Connected")
        vm.send(b"x" * 100 + b"0123456789")
        wait_port_field(pvscd.admin, pid, "BytesFromVM", 110)
        c = attach(pvscd, pid, 1, query="?history=10")
        assert c.read_bytes(b"9") == b"0123456789"
        vm.send(b"live")
        assert c.read_bytes(b"live") == b"0123456789live"
        assert c.read_for(0.3) == b"0123456789live"
        whole = attach(pvscd, pid, 2, query="?history=100000000")
        assert whole.read_bytes(b"live") == b"x" * 100 + b"0123456789live"
        c.close()
        whole.close()
        bad = connect_refused(pvscd, pid, query="?history=-1")
        assert bad.status_code == 400
    finally:
        vm.close()


def test_history_of_any_size_is_capped_at_the_ring(pvscd):
    """docs/console-protocol.md: history is any non-negative decimal, capped at the ring;
    a client asking for "everything" with a huge number gets the ring, not a 400."""
    p = unix_port(pvscd)
    pid = p["Id"]
    vm = FakeUnixVM(p["BindPath"])
    try:
        wait_port_state(pvscd.admin, pid, "Connected")
        vm.send(b"all of it")
        wait_port_field(pvscd.admin, pid, "BytesFromVM", 9)
        for n in ("0" * 20 + "5", str(2 ** 53), str(2 ** 64 - 1), "9" * 30):
            c = connect(pvscd, pid, query="?history=" + n)
            want = b"of it" if n.endswith("5") and n.startswith("0") else b"all of it"
            assert c.read_bytes(b"it") == want, n
            c.close()
    finally:
        vm.close()


def connect_refused(v, port_id, **kw):
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        connect(v, port_id, **kw).close()
    return e.value


def test_refused_before_upgrade(pvscd):
    pid = unix_port(pvscd)["Id"]
    assert connect_refused(pvscd, pid, token=False).status_code == 401
    assert connect_refused(pvscd, pid, token=False,
                           header=["X-Auth-Token: wrong"]).status_code == 401
    assert connect_refused(pvscd, pid, token=False,
                           subprotocols=["vsc.v1", "vsc.token.wrong"]).status_code == 401
    assert connect_refused(pvscd, pid, origin="https://evil.example").status_code == 403
    port_only = "https://127.0.0.2:%d" % pvscd.port  # same port, another host
    assert connect_refused(pvscd, pid, origin=port_only).status_code == 403
    assert connect_refused(pvscd, pid, origin=pvscd.base + ".evil.example").status_code == 403
    connect(pvscd, pid, origin=pvscd.base.replace("https:", "http:")).ws.close()  # wsdump's
    assert connect_refused(pvscd, 999999).status_code == 404
    # Not a WebSocket handshake: a Redfish error, the route stays in the REST API.
    r = pvscd.admin.get(console_path(pid))
    assert_error(r, 426, "HeaderMissing")
    assert r.headers.get("Upgrade") == "websocket"
    assert pvscd.admin.get(console_path(999999)).status_code == 404
    assert requests.get(pvscd.base + console_path(pid), verify=False,
                        timeout=15).status_code == 401


def test_unsupported_version_is_answered_with_ours(pvscd):
    """RFC 6455 4.4: a handshake of a version we do not speak is refused with a
    Sec-WebSocket-Version header naming the one we do, so that a client can retry."""
    pid = unix_port(pvscd)["Id"]
    c = Client(pvscd.base, token=pvscd.token)
    hs = {"Upgrade": "websocket", "Connection": "Upgrade",
          "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    for version in ("8", None):
        headers = dict(hs, **({"Sec-WebSocket-Version": version} if version else {}))
        r = c.get(console_path(pid), headers=headers)
        assert_error(r, 400, "HeaderInvalid")
        assert r.headers.get("Sec-WebSocket-Version") == "13", (version, r.headers)


@pytest.mark.parametrize("connection", [None, "keep-alive", "upgraded"])
def test_a_handshake_without_connection_upgrade_is_refused(pvscd, connection):
    """RFC 6455 4.2.1: no Connection header naming Upgrade, no handshake: 400."""
    pid = unix_port(pvscd)["Id"]
    c = Client(pvscd.base, token=pvscd.token)
    hs = {"Upgrade": "websocket", "Sec-WebSocket-Version": "13",
          "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    r = c.get(console_path(pid), headers=dict(hs, Connection=connection))
    assert_error(r, 400, "HeaderInvalid")
    assert "Connection" in r.text


def test_token_in_subprotocol(pvscd):
    pid = unix_port(pvscd)["Id"]
    c = connect(pvscd, pid, token=False, subprotocols=["vsc.v1", "vsc.token." + pvscd.token])
    try:
        assert c.ws.getsubprotocol() == "vsc.v1"
        c.ws.send('{"type":"ping"}')
        assert c.read_text() == {"type": "pong"}
    finally:
        c.close()


def test_subprotocols_over_several_header_lines(pvscd):
    """RFC 6455 11.3.4: Sec-WebSocket-Protocol may come as several header lines, which are
    one list: the token is found in any of them, and vsc.v1 is answered from any of them."""
    pid = unix_port(pvscd)["Id"]
    v1 = "Sec-WebSocket-Protocol: vsc.v1"
    token = "Sec-WebSocket-Protocol: vsc.token." + pvscd.token
    for lines in ([v1, token], [token, v1]):
        c = connect(pvscd, pid, token=False, header=lines)
        try:
            assert c.ws.getheaders().get("sec-websocket-protocol") == "vsc.v1", lines
        finally:
            c.close()


def test_control_messages_and_notices(pvscd):
    pid = unix_port(pvscd)["Id"]
    c = connect(pvscd, pid)
    try:
        c.ws.send('{"type":"ping"}')
        assert c.read_text() == {"type": "pong"}
        c.ws.send('{"type":"bogus"}')
        assert c.read_text()["type"] == "notice"
        c.ws.send("not json")
        assert c.read_text()["type"] == "notice"
        c.ws.send_binary(b"nobody listens")  # no VM attached: refused, and said so
        n = c.read_text()
        assert n["type"] == "notice" and "no VM" in n["error"]
    finally:
        c.close()


def masked(first_byte, payload, length_field=None):
    """A client frame: FIN/RSV/opcode byte, the payload masked (key 1 2 3 4)."""
    n = len(payload)
    if length_field is not None:
        head = bytes([first_byte]) + length_field
    elif n < 126:
        head = bytes([first_byte, 0x80 | n])
    else:
        head = bytes([first_byte, 0x80 | 126]) + n.to_bytes(2, "big")
    key = b"\x01\x02\x03\x04"
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


@pytest.mark.parametrize("frame,code", [
    (masked(0x89, b"p" * 126), 1002),  # a ping over 125 bytes (RFC 6455 5.5)
    (masked(0x09, b"p"), 1002),  # a fragmented ping (5.5)
    (masked(0x82, b"", b"\xff" + (1 << 63).to_bytes(8, "big")), 1002),  # length's top bit (5.2)
    (bytes([0x82, 0x01]) + b"x", 1002),  # not masked (5.1)
    (masked(0x83, b"x"), 1002),  # a reserved opcode
    (masked(0xc2, b"x"), 1002),  # RSV1 without an extension
    (masked(0x80, b"x"), 1002),  # a continuation of nothing
    (masked(0x81, b"\xff\xfe"), 1007),  # a text frame that is not UTF-8 (8.1)
], ids=["ping-126", "ping-fragmented", "length-msb", "unmasked", "opcode-3", "rsv1",
        "continuation", "text-not-utf8"])
def test_protocol_errors_close_with_a_code(pvscd, frame, code):
    """RFC 6455 7.1.7: a connection failed for a bad frame is closed with a Close frame
    that says why (1002 protocol error, 1007 bad data), not cut without a word."""
    pid = unix_port(pvscd)["Id"]
    c = connect(pvscd, pid)
    try:
        c.ws.sock.sendall(frame)
        assert c.wait_closed() == code
        assert pvscd.proc.poll() is None
    finally:
        c.close()


def test_free_closes_the_socket(pvscd):
    p = unix_port(pvscd)
    c = connect(pvscd, p["Id"])
    r = pvscd.admin.post(FREE, json={"SerialInterfaces": [p["Id"]]})
    assert r.status_code in (200, 204), r.text
    assert c.wait_closed() == 1001


def test_session_delete_closes_the_socket(pvscd):
    pid = unix_port(pvscd)["Id"]
    c = connect(pvscd, pid)
    r = pvscd.admin.delete(pvscd.session)
    assert r.status_code in (200, 204), r.text
    assert c.wait_closed(timeout=5) == 1008


def test_session_expiry_closes_a_watcher_that_never_pings(pvscd):
    """SessionTimeout (30 s, its least): a viewer that only watches lets its session expire
    and its socket is closed with 1008 soon after; one that sends {"type":"ping"} keeps its
    session and its socket. Neither is closed before the timeout."""
    r = pvscd.admin.patch("/redfish/v1/SessionService", json={"SessionTimeout": 30})
    assert r.status_code == 200, r.text
    pid = unix_port(pvscd)["Id"]
    idle_token, idle_session = pvscd.admin.login("admin", ADMIN_PASSWORD)
    busy_token, busy_session = pvscd.admin.login("admin", ADMIN_PASSWORD)
    idle = connect(pvscd, pid, token=False, header=["X-Auth-Token: " + idle_token])
    busy = connect(pvscd, pid, token=False, header=["X-Auth-Token: " + busy_token])
    start = time.monotonic()
    try:
        while not idle.closed and time.monotonic() - start < 40:
            busy.ws.send(json.dumps({"type": "ping"}))
            busy.read_until(lambda c: any(t.get("type") == "pong" for t in c.texts),
                            what="a pong")
            busy.texts.clear()
            idle.read_for(5)
        lived = time.monotonic() - start
        assert idle.closed == 1008, "the idle viewer was not closed in %.0f s" % lived
        assert lived >= 29, "closed after %.1f s, before the session timeout" % lived
        assert pvscd.admin.get(idle_session).status_code == 404
        assert busy.read_for(1) is not None and not busy.closed
        assert pvscd.admin.get(busy_session).status_code == 200
    finally:
        idle.close()
        busy.close()


def test_stalled_client_does_not_hold_back_another(pvscd):
    p = unix_port(pvscd)
    pid = p["Id"]
    stalled = attach(pvscd, pid, 1)
    reader = attach(pvscd, pid, 2)
    vm = FakeUnixVM(p["BindPath"])
    try:
        wait_port_state(pvscd.admin, pid, "Connected")
        chunk = bytes(range(256)) * 256  # 64 KiB
        parts = []
        t0 = time.time()
        for i in range(128):  # 8 MiB, more than the ring and the socket buffers hold
            data = chunk + b"<%d>" % i
            vm.send(data)
            parts.append(data)
            reader.read_bytes(b"<%d>" % i, timeout=10)
        sent = b"".join(parts)
        assert reader.buf == sent
        assert reader.texts == []
        assert time.time() - t0 < 60
        # The stalled client is told how much it missed, and gets the tail after it.
        stalled.read_until(lambda c: any(t.get("type") == "missed" for t in c.texts),
                           timeout=15, what="a missed notice")
        missed = [t for t in stalled.texts if t["type"] == "missed"]
        assert all(t["bytes"] > 0 for t in missed)
        stalled.read_bytes(b"<127>", timeout=15)
        assert sent.endswith(stalled.buf[-100000:])
    finally:
        stalled.close()
        reader.close()
        vm.close()


def test_console_over_plain_http(tmp_path):
    """--insecure-http (loopback): the WebSocket is on the plain socket, whose small
    frames ws.c gathers into one send per loop iteration; bytes arrive whole and in order,
    and input reaches the VM."""
    from conftest import Client, Vscd
    from helpers_ports import stream_through
    v = Vscd(str(tmp_path / "s"), http=True).start()
    try:
        login = Client(v.base)
        token, _ = login.login("admin", ADMIN_PASSWORD)
        admin = Client(v.base, token=token)
        port = allocate_ok(admin, Backend="unix")["Ports"][0]
        vm = FakeUnixVM.connect_retry(port["BindPath"])
        url = v.base.replace("http://", "ws://") + console_path(port["Id"])
        ws = websocket.create_connection(url, header=["X-Auth-Token: " + token], origin=v.base,
                                         timeout=10)
        small = b"".join(b"<%d>" % i for i in range(3000))  # many small records
        assert stream_through(vm, ws, small) == small
        big = bytes(range(256)) * 4096 * 4
        assert stream_through(vm, ws, big) == big
        ws.send_binary(b"typed\r")
        vm.sock.setblocking(True)
        vm.read_until(b"typed\r")
        ws.close()
        vm.close()
    finally:
        v.stop()


def frames_until(c, needle, timeout=5.0):
    """Binary frames as they arrive, with the time each came, until `needle` has come."""
    frames = []
    deadline = time.time() + timeout
    while b"".join(f for _, f in frames).find(needle) < 0:
        assert time.time() < deadline, "%r not received in %.1fs: %r" % (needle, timeout, frames)
        c.ws.settimeout(max(0.01, deadline - time.time()))
        op, data = c.ws.recv_data()
        if op == websocket.ABNF.OPCODE_BINARY:
            frames.append((time.monotonic(), data))
    return frames


def watched_port(make_vscd, setting, backend="unix"):
    """A vscd with `setting`; a port of it with one viewer and its VM connected."""
    v = make_vscd(extra_args=["--set", setting])
    v.token, v.session = v.admin.login("admin", ADMIN_PASSWORD)
    p = allocate_ok(v.admin, count=1, Backend=backend)["Ports"][0]
    c = attach(v, p["Id"], 1)
    vm = fake_vm(backend, p["BindPath"])
    wait_port_state(v.admin, p["Id"], "Connected")
    return v, p["Id"], c, vm


def test_console_batch_ms_sends_what_came_meanwhile_in_one_frame(make_vscd):
    """console_batch_ms: output waits that long and leaves together; history, the state
    detector and the byte counters are not delayed (a console is read once per batch only
    when its batch is due within 100 ms). 0 (the default) sends each read."""
    v, pid, c, vm = watched_port(make_vscd, "console_batch_ms=400")
    try:
        sent = time.monotonic()
        vm.send(b"first ")
        wait_port_field(v.admin, pid, "BytesFromVM", 6)  # counted at once
        time.sleep(0.1)
        vm.send(b"second\r\n")
        frames = frames_until(c, b"second\r\n")
        assert [f for _, f in frames] == [b"first second\r\n"]
        assert frames[0][0] - sent >= 0.35  # it waited, about console_batch_ms
        assert frames[0][0] - sent < 2.0
        # Output waiting for its batch is not sent early when the client's socket frees up
        # (here: after the pong its own ping earned); it was, and under load every viewer's
        # completed send pulled the newest output at once, so batching saved nothing.
        sent = time.monotonic()
        vm.send(b"third\r\n")
        wait_port_field(v.admin, pid, "BytesFromVM", 6 + 8 + 7)
        c.ws.send('{"type":"ping"}')
        assert c.read_text() == {"type": "pong"}
        c.read_bytes(b"third\r\n")
        assert time.monotonic() - sent >= 0.35  # still about console_batch_ms
    finally:
        c.close()
        vm.close()

    d = make_vscd()  # the default, the loop idle: every read goes out at once, in its own frame
    d.token, d.session = d.admin.login("admin", ADMIN_PASSWORD)
    p = unix_port(d)
    c = attach(d, p["Id"], 1)
    vm = FakeUnixVM(p["BindPath"])
    try:
        wait_port_state(d.admin, p["Id"], "Connected")
        vm.send(b"first ")
        assert [f for _, f in frames_until(c, b"first ")] == [b"first "]
        vm.send(b"second\r\n")
        assert [f for _, f in frames_until(c, b"second\r\n")] == [b"second\r\n"]
    finally:
        c.close()
        vm.close()


def test_typed_ports_and_full_batches_are_not_held_back(make_vscd):
    """With output batched, a port typed into within the last second sends at once (the
    typist waits for the echo), and so does a batch of 4 KiB (its sends are worth their
    cost; a fast console would otherwise lap the ring while its output waits)."""
    v, pid, c, vm = watched_port(make_vscd, "console_batch_ms=500")
    try:
        c.ws.send_binary(b"ls\r")
        vm.read_until(b"ls\r")
        sent = time.monotonic()
        vm.send(b"ls\r\n")  # the echo
        frames = frames_until(c, b"ls\r\n")
        assert frames[-1][0] - sent < 0.3, "the echo waited for the batch"
        time.sleep(1.2)  # no typing for over a second: batched again
        sent = time.monotonic()
        vm.send(b"later\r\n")
        frames = frames_until(c, b"later\r\n")
        assert frames[-1][0] - sent >= 0.4
        block = bytes(range(256)) * 32  # 8 KiB at once
        sent = time.monotonic()
        vm.send(block)
        frames = frames_until(c, block[-64:])
        assert frames[-1][0] - sent < 0.3, "a full batch waited"
        assert b"".join(f for _, f in frames) == block
    finally:
        c.close()
        vm.close()


def vscd_reads(v):
    """read(2) calls vscd made so far, all its threads (/proc/<pid>/io, syscr)."""
    with open("/proc/%d/io" % v.proc.pid) as f:
        return int(next(line for line in f if line.startswith("syscr:")).split()[1])


@pytest.mark.native  # valgrind's own reads count in /proc/<pid>/io too
def test_a_slow_console_is_read_once_per_batch(make_vscd):
    """While a slow console's output waits for its batch, vscd leaves it in the kernel and
    reads it when the batch is due: a VM writing a line at a time costs a read per batch,
    not one per write. Nothing is lost or reordered."""
    v, _, c, vm = watched_port(make_vscd, "console_batch_ms=100")
    try:
        lines = [b"line %03d\r\n" % i for i in range(150)]
        before = vscd_reads(v)
        for line in lines:
            vm.send(line)
            time.sleep(0.01)
        c.read_bytes(lines[-1])
        reads = vscd_reads(v) - before
        assert c.buf == b"".join(lines)
        assert reads < len(lines) / 2, "%d reads for %d writes" % (reads, len(lines))
    finally:
        c.close()
        vm.close()


def test_typing_reads_a_slow_console_at_once_again(make_vscd):
    """Input to a console whose output waits in the kernel for its batch turns reading back
    on: the echo goes out as it comes, not when the batch is due."""
    v, _, c, vm = watched_port(make_vscd, "console_batch_ms=100")
    try:
        waits = []
        for i in range(4):
            time.sleep(1.1)  # no typing for over a second: output is batched again
            vm.send(b"tick\r\n")  # read at once; the rest waits for the batch, 100 ms on
            c.ws.send_binary(b"%d" % i)
            vm.read_until(b"%d" % i)
            sent = time.monotonic()
            vm.send(b"%d" % i)  # the echo
            frames = frames_until(c, b"tick\r\n%d" % i)
            waits.append(frames[-1][0] - sent)
        assert min(waits) < 0.05, "the echo waited for the batch: %r" % waits
    finally:
        c.close()
        vm.close()


@pytest.mark.parametrize("backend", ["unix", "pty"])
def test_what_a_console_printed_last_is_kept_when_its_vm_goes(make_vscd, backend):
    """Output waiting in the kernel for its batch is read when the VM hangs up (its last
    words before a crash), not lost with the connection."""
    v, pid, c, vm = watched_port(make_vscd, "console_batch_ms=100", backend)
    try:
        vm.send(b"booting\r\n")  # read at once; the batch is due in 100 ms
        time.sleep(0.03)
        vm.send(b"Kernel panic - not syncing\r\n")  # left in the kernel until then
        vm.close()
        c.read_bytes(b"Kernel panic - not syncing\r\n")
        assert c.buf == b"booting\r\nKernel panic - not syncing\r\n"
        wait_port_state(v.admin, pid, "Waiting")
    finally:
        c.close()
        vm.close()


def batch_time(v):
    return get_json(v.admin, MANAGER)["Oem"]["Vsc"]["ConsoleBatchTime"]


def test_a_busy_loop_batches_console_output_and_an_idle_one_does_not(make_vscd):
    """console_batch_busy_ms: while vscd's loop is over half busy (here a console printing
    flat out), console output waits up to that long, shown as the Manager's
    Oem.Vsc.ConsoleBatchTime; once the loop is idle again it is back to 0."""
    v, _, c, vm = watched_port(make_vscd, "console_batch_busy_ms=40")
    try:
        assert batch_time(v) == 0
        chunk = b"0123456789abcdef" * 4095 + b"0123456789abcd\r\n"
        seen, deadline = [], time.monotonic() + 8
        while time.monotonic() < deadline and (not seen or seen[-1] < 40):
            until = time.monotonic() + 0.3
            while time.monotonic() < until:
                vm.send(chunk)
                c.read_for(0.001)  # keeps up or skips ahead: the ring bounds what waits
                c.buf = b""
            seen.append(batch_time(v))
        assert seen[-1] == 40, "the pace did not reach its cap: %r" % seen
        assert len(seen) >= 3, "it rose step by step, not at once: %r" % seen
        wait_for(lambda: batch_time(v) == 0, 5, what="the pace back to 0 once idle")
    finally:
        c.close()
        vm.close()
