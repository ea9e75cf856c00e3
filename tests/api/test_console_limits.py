"""The console's hard limit (docs/console-protocol.md, "Flow control and limits"): a viewer
that reads slowly skips ahead with a `missed` notice, but one that reads nothing while its
queue is full is disconnected after console_stall_timeout seconds, logged and counted in
Oem.Vsc.SlowClientsDropped; the other viewers never notice."""
import os
import socket
import ssl
import threading
import time

import pytest
import requests
import websocket

from conftest import ADMIN_PASSWORD, Client, Vscd
from helpers_ports import (FakeUnixVM, allocate_ok, port_oem, port_uri, stream_through,
                           vscd_factory, wait_for, wait_port_field)


@pytest.fixture
def make_vscd():
    yield from vscd_factory()


def open_console(v, token, port_id, rcvbuf=None):
    url = v.base.replace("http", "ws", 1) + port_uri(port_id) + "/Oem/Vsc/Console"
    opts = ((socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf),) if rcvbuf else ()
    return websocket.create_connection(url, sslopt={"cert_reqs": ssl.CERT_NONE},
                                       header=["X-Auth-Token: " + token], origin=v.base,
                                       sockopt=opts, timeout=10)


def open_console_when_free(v, token, port_id, timeout=5.0):
    """open_console(), again while refused: a probe's closed connection holds its slot until
    vscd has seen it close, which may come a moment after the client closed it."""
    deadline = time.time() + timeout
    while True:
        try:
            return open_console(v, token, port_id)
        except ConnectionResetError:
            if time.time() >= deadline:
                raise
            time.sleep(0.05)


def test_stalled_viewer_is_dropped_and_counted(make_vscd):
    v = make_vscd(["--set", "console_stall_timeout=1"])
    token, _ = v.admin.login("admin", ADMIN_PASSWORD)
    port = allocate_ok(v.admin, Backend="unix")["Ports"][0]
    pid = port["Id"]
    vm = FakeUnixVM.connect_retry(port["BindPath"])
    stalled = open_console(v, token, pid, rcvbuf=4096)  # never read from here on
    reader = open_console(v, token, pid)
    wait_port_field(v.admin, pid, "AttachedClients", 2)
    assert port_oem(v.admin, pid)["SlowClientsDropped"] == 0
    payload = bytes(range(256)) * 4096 * 12  # 12 MiB: more than every buffer on the way
    # the reader keeps up: no gap for it (a missed notice would fail stream_through)
    assert stream_through(vm, reader, payload, timeout=60) == payload
    wait_for(lambda: port_oem(v.admin, pid)["SlowClientsDropped"] == 1, timeout=10,
             what="the stalled viewer dropped")
    wait_port_field(v.admin, pid, "AttachedClients", 1)
    assert "read nothing for 1 s with a full queue" in v.read_log()
    reader.close()
    stalled.close()
    vm.close()


def test_client_that_sends_without_reading_is_dropped(make_vscd):
    """Every unknown control message earns a notice; a client that keeps sending and never
    reads would make them pile up. Past 256 + 64 KiB queued it is dropped at once, counted
    like a stalled viewer, and vscd's memory does not follow its sending."""
    v = make_vscd()
    token, _ = v.admin.login("admin", ADMIN_PASSWORD)
    pid = allocate_ok(v.admin, Backend="unix")["Ports"][0]["Id"]
    ws = open_console(v, token, pid, rcvbuf=4096)
    sent = 0
    try:
        for _ in range(200000):  # 200,000 notices of ~40 bytes: 8 MB if nothing stopped it
            ws.send('{"type":"nonsense"}')
            sent += 1
    except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError):
        pass  # dropped while sending: that is the point
    wait_for(lambda: port_oem(v.admin, pid)["SlowClientsDropped"] == 1, timeout=10,
             what="the client dropped")
    assert "it sends without reading" in v.read_log()
    wait_port_field(v.admin, pid, "AttachedClients", 0)
    ws.close()


def test_client_that_pings_without_reading_is_dropped(make_vscd):
    """WebSocket pings are answered by vscd itself (pongs, RFC 6455 5.5.2), not by the
    console: a client that sends them and never reads must not make the pongs pile up in
    vscd's memory either. It is dropped like one whose notices pile up."""
    v = make_vscd()
    token, _ = v.admin.login("admin", ADMIN_PASSWORD)
    pid = allocate_ok(v.admin, Backend="unix")["Ports"][0]["Id"]
    ws = open_console(v, token, pid, rcvbuf=4096)
    ping = websocket.ABNF.create_frame(b"p" * 125, websocket.ABNF.OPCODE_PING).format()
    try:
        for _ in range(400):  # 26 MB of pings, as many pongs if nothing stopped it
            ws.sock.sendall(ping * 500)
    except (OSError, ssl.SSLError):
        pass  # dropped (or no longer read) while sending: that is the point
    wait_for(lambda: port_oem(v.admin, pid)["SlowClientsDropped"] == 1, timeout=10,
             what="the client dropped")
    assert "it sends without reading" in v.read_log()
    wait_port_field(v.admin, pid, "AttachedClients", 0)
    ws.close()


def test_a_client_that_never_stops_sending_does_not_stall_other_consoles(make_vscd):
    """vscd reads a bounded amount from one WebSocket per turn of its loop: a client that
    sends faster than vscd can take its frames (here unsolicited pongs, RFC 6455 5.5.3,
    which need no answer) must not keep the loop, and so every other console, waiting."""
    v = make_vscd()
    token, _ = v.admin.login("admin", ADMIN_PASSWORD)
    port = allocate_ok(v.admin, Backend="unix")["Ports"][0]
    vm = FakeUnixVM.connect_retry(port["BindPath"])
    watcher = open_console(v, token, port["Id"])
    flooder = open_console(v, token, port["Id"])
    wait_port_field(v.admin, port["Id"], "AttachedClients", 2)
    pong = websocket.ABNF.create_frame(b"", websocket.ABNF.OPCODE_PONG).format()
    chunk = pong * (64 * 1024 // len(pong))
    stop = threading.Event()

    def flood():
        try:
            while not stop.is_set():
                flooder.sock.sendall(chunk)
        except (OSError, ssl.SSLError):
            pass

    sender = threading.Thread(target=flood, daemon=True)
    sender.start()
    try:
        time.sleep(0.5)  # the flood is on
        for i in range(3):
            line = b"tick %d\r\n" % i
            sent = time.monotonic()
            vm.send(line)
            got = b""
            while line not in got:
                watcher.settimeout(max(0.01, sent + 5 - time.monotonic()))
                try:
                    op, data = watcher.recv_data()
                except websocket.WebSocketTimeoutException:
                    raise AssertionError("the watcher waited over 5 s for %r" % line)
                if op == websocket.ABNF.OPCODE_BINARY:
                    got += data
            assert time.monotonic() - sent < 2.0, "the watcher's output waited for the flood"
    finally:
        stop.set()
        sender.join(30)
        flooder.close()
        watcher.close()
        vm.close()


def test_a_message_read_over_two_turns_arrives_whole_over_tls(make_vscd):
    """The read budget can stop inside a TLS record whose rest gnutls already holds
    decrypted, with nothing left on the socket for epoll to report: vscd comes back for it
    at the next turn of its loop by itself."""
    v = make_vscd()
    token, _ = v.admin.login("admin", ADMIN_PASSWORD)
    port = allocate_ok(v.admin, Backend="unix")["Ports"][0]
    vm = FakeUnixVM.connect_retry(port["BindPath"])
    ws = open_console(v, token, port["Id"])
    first, second = b"1" * 40000, b"2" * 29983 + b"E"
    frames = (websocket.ABNF.create_frame(first, websocket.ABNF.OPCODE_BINARY).format() +
              websocket.ABNF.create_frame(second, websocket.ABNF.OPCODE_BINARY).format())
    assert len(frames) == 70000
    for i in range(0, len(frames), 10000):  # 10 kB records: 64 KiB ends inside the last
        ws.sock.sendall(frames[i:i + 10000])
    vm.sock.settimeout(0.2)
    got, deadline = b"", time.time() + 5
    while not got.endswith(b"E") and time.time() < deadline:
        try:
            got += vm.sock.recv(65536)
        except socket.timeout:
            pass
    assert got == first + second, "%d of %d bytes reached the VM" % (len(got), len(first + second))
    ws.close()
    vm.close()


def fresh_get(v):
    """GET on a connection of its own: the status, or None when vscd refuses the connection."""
    try:
        return requests.get(v.base + "/redfish/v1/", verify=False, timeout=5,
                            headers={"Connection": "close"}).status_code
    except requests.ConnectionError:  # refused: reset, or (HTTPS) the handshake cut short
        return None


@pytest.mark.parametrize("limit", ["max_connections_per_ip", "max_connections"])
@pytest.mark.parametrize("http", [False, True], ids=["https", "http"])
def test_console_websockets_count_against_the_connection_limits(tmp_path, http, limit):
    """libmicrohttpd lets go of a connection once a console WebSocket takes it over (its
    memory pool with it): the WebSocket still counts against the limits until it closes."""
    v = Vscd(str(tmp_path / "s"), http=http, extra_args=["--set", limit + "=4"]).start()
    try:
        token, _ = Client(v.base).login("admin", ADMIN_PASSWORD)  # no Basic over HTTP
        admin = Client(v.base, token=token)
        pid = allocate_ok(admin, Backend="unix")["Ports"][0]["Id"]
        admin.s.close()  # its kept-alive connection would count too
        wait_for(lambda: fresh_get(v) == 200, what="a free connection slot")
        consoles = [open_console_when_free(v, token, pid) for _ in range(4)]
        assert fresh_get(v) is None  # four WebSockets hold all four slots
        consoles.pop().close()
        wait_for(lambda: fresh_get(v) == 200, what="the closed WebSocket's slot")
        for ws in consoles:
            ws.close()
    finally:
        assert v.stop() == 0


def settled_fd_count(pid):
    """vscd's open descriptors, once the count has not moved for half a second."""
    last, since = None, time.time()
    deadline = since + 10
    while time.time() < deadline:
        n = len(os.listdir("/proc/%d/fd" % pid))
        if n != last:
            last, since = n, time.time()
        elif time.time() - since >= 0.5:
            return n
        time.sleep(0.05)
    raise AssertionError("vscd's descriptor count did not settle")


def test_a_console_websocket_over_https_holds_one_descriptor(make_vscd):
    """Over HTTPS a WebSocket takes the TLS stream over: the socketpair that carried its
    handshake to libmicrohttpd is closed at both ends, and only the client's socket stays
    (three descriptors per viewer before)."""
    v = make_vscd()
    token, _ = v.admin.login("admin", ADMIN_PASSWORD)
    pid = allocate_ok(v.admin, Backend="unix")["Ports"][0]["Id"]
    v.admin.s.close()
    base = settled_fd_count(v.proc.pid)
    consoles = [open_console(v, token, pid) for _ in range(6)]
    wait_port_field(v.admin, pid, "AttachedClients", 6)
    v.admin.s.close()
    assert settled_fd_count(v.proc.pid) - base == 6
    for ws in consoles:
        ws.close()
    wait_port_field(v.admin, pid, "AttachedClients", 0)
    v.admin.s.close()
    assert settled_fd_count(v.proc.pid) == base
