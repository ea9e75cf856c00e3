"""TLS is terminated by vscd's own loop (service/tls_front.c, ADR 0002) and libmicrohttpd
sees plain HTTP: its limits and timeouts must still hold for HTTPS clients, garbage must
not hurt, and a console WebSocket over HTTPS must stream at socket speed, not the 4 bytes
per round trip of libmicrohttpd 0.9.75's own TLS upgrade path."""
import os
import resource
import signal
import socket
import ssl
import time

import pytest
import requests
import websocket

from conftest import ADMIN_PASSWORD
from helpers_ports import (FakeUnixVM, allocate_ok, port_uri, stream_through, vscd_factory,
                           wait_for)
from test_console_limits import settled_fd_count


@pytest.fixture
def make_vscd():
    yield from vscd_factory()


def tls_connect(port, timeout=5):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return ctx.wrap_socket(s)


def get_root(t):
    t.sendall(b"GET /redfish/v1/ HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = t.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n", 1)[0]


def closed_by_server(t, timeout):
    t.settimeout(timeout)
    try:
        return t.recv(1) == b""
    except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def test_garbage_instead_of_a_handshake_is_dropped(make_vscd):
    v = make_vscd()
    with socket.create_connection(("127.0.0.1", v.port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + os.urandom(4096))
        s.settimeout(5)
        try:
            while s.recv(65536):
                pass
        except ConnectionResetError:
            pass
    assert requests.get(v.base + "/redfish/v1/", verify=False, timeout=5).status_code == 200


def test_keep_alive_requests_over_one_tls_connection(make_vscd):
    v = make_vscd()
    with tls_connect(v.port) as t:
        for _ in range(20):
            assert get_root(t) == b"HTTP/1.1 200 OK"


def test_per_address_limit_applies_to_https(make_vscd):
    v = make_vscd(["--set", "max_connections_per_ip=4"])
    held = [tls_connect(v.port) for _ in range(4)]
    try:
        for t in held:
            assert get_root(t) == b"HTTP/1.1 200 OK"
        # The fifth is refused by libmicrohttpd's limit: the TLS handshake never completes.
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError, OSError)):
            tls_connect(v.port).sendall(b"x")
    finally:
        held.pop().close()
    deadline = time.time() + 5
    while True:  # one slot is free again
        try:
            with tls_connect(v.port) as t:
                assert get_root(t) == b"HTTP/1.1 200 OK"
            break
        except (ssl.SSLError, OSError):
            assert time.time() < deadline
            time.sleep(0.1)
    for t in held:
        t.close()


def test_idle_client_without_handshake_times_out(make_vscd):
    v = make_vscd(["--set", "connection_timeout=1"])
    with socket.create_connection(("127.0.0.1", v.port), timeout=5) as s:
        t0 = time.time()
        assert closed_by_server(s, 5)
        assert time.time() - t0 < 4


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def stalled_reader(port):
    """A TLS client that pipelines requests and never reads an answer (a tiny receive
    window): vscd's side of it fills up, and libmicrohttpd times the connection out."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(5)
    raw.connect(("127.0.0.1", port))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    t = ctx.wrap_socket(raw)
    t.setblocking(False)
    data = b"GET /redfish/v1/$metadata HTTP/1.1\r\nHost: x\r\n\r\n" * 2000
    sent, blocked = 0, 0
    while sent < len(data) and blocked < 10:  # until vscd stops reading for half a second
        try:
            sent += t.send(data[sent:sent + 16384])
            blocked = 0
        except (ssl.SSLWantWriteError, BlockingIOError):
            blocked += 1
            time.sleep(0.05)
    return t


def test_a_client_that_never_reads_is_let_go(make_vscd):
    """tls_front.h: once libmicrohttpd closes its end (here its idle timeout, the client
    reads none of its answers), the TLS connection goes within TLS_FRONT_LINGER_MS; it
    no longer counts against max_connections_per_ip, so it must not stay open beside it.
    It stayed for as long as the client kept the socket, two descriptors each."""
    v = make_vscd(["--set", "connection_timeout=1", "--set", "max_connections_per_ip=2"])
    v.admin.s.close()
    base = settled_fd_count(v.proc.pid)  # the admin's connection gone too
    held = []
    for _ in range(3):  # two at a time (the limit), each timed out by libmicrohttpd
        held += [stalled_reader(v.port), stalled_reader(v.port)]
        assert open_fds(v.proc.pid) > base
        # Gone before the next two (also under valgrind, where the timeout runs late).
        wait_for(lambda: open_fds(v.proc.pid) <= base, timeout=20,
                 what="the stalled connections closed")
    assert get_root(tls_connect(v.port)) == b"HTTP/1.1 200 OK"
    for t in held:
        t.close()


def cpu_ticks(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_out_of_descriptors_the_listener_waits(make_vscd):
    """With every descriptor in use, a waiting connection cannot be accepted (EMFILE): the
    listener pauses instead of being called again at once; the loop spun a whole core
    and wrote 'tls: accept: Too many open files' some 100,000 times a second to the log.
    Once descriptors are free again, new clients are served."""
    v = make_vscd()
    v.admin.s.close()
    old = resource.prlimit(v.proc.pid, resource.RLIMIT_NOFILE)
    full = settled_fd_count(v.proc.pid)
    resource.prlimit(v.proc.pid, resource.RLIMIT_NOFILE, (full, old[1]))
    clients = [socket.create_connection(("127.0.0.1", v.port), timeout=5) for _ in range(4)]
    time.sleep(0.5)
    log_size, ticks = os.path.getsize(v.log_path), cpu_ticks(v.proc.pid)
    time.sleep(2)
    assert os.path.getsize(v.log_path) - log_size < 2000
    assert cpu_ticks(v.proc.pid) - ticks < os.sysconf("SC_CLK_TCK") // 2  # < 25 % of 2 s
    resource.prlimit(v.proc.pid, resource.RLIMIT_NOFILE, old)
    for c in clients:
        c.close()
    wait_for(lambda: get_root(tls_connect(v.port)) == b"HTTP/1.1 200 OK", timeout=10,
             what="a new client served")


def test_console_streams_megabytes_over_https(make_vscd):
    v = make_vscd()
    token, _ = v.admin.login("admin", ADMIN_PASSWORD)
    port = allocate_ok(v.admin, Backend="unix")["Ports"][0]
    vm = FakeUnixVM.connect_retry(port["BindPath"])
    url = v.base.replace("https://", "wss://") + port_uri(port["Id"]) + "/Oem/Vsc/Console"
    ws = websocket.create_connection(url, sslopt={"cert_reqs": ssl.CERT_NONE},
                                     header=["X-Auth-Token: " + token], origin=v.base, timeout=10)
    # 8 MiB, the writer never more than 128 KiB (half a ring) ahead of the reader: with
    # libmicrohttpd's own TLS upgrade path (~0.1 MB/s) this could not finish in time.
    payload = bytes(range(256)) * 4096 * 8
    assert stream_through(vm, ws, payload) == payload
    ws.close()
    vm.close()


def served_cert(port):
    return ssl.get_server_certificate(("127.0.0.1", port))


def test_sighup_reloads_the_certificate_and_open_connections_go_on(make_vscd):
    """docs/SECURITY.md: replacing cert.pem/key.pem and sending SIGHUP changes the
    certificate new connections get; a connection opened before keeps working; a broken
    pair is refused and the old one stays."""
    v = make_vscd()
    other = make_vscd()  # its first start made another self-signed pair
    old = served_cert(v.port)
    assert old != served_cert(other.port)
    before = tls_connect(v.port)
    tls_dir = os.path.join(v.state_dir, "tls")
    for name in ("cert.pem", "key.pem"):
        with open(os.path.join(other.state_dir, "tls", name), "rb") as f:
            data = f.read()
        with open(os.path.join(tls_dir, name), "wb") as f:
            f.write(data)
    v.proc.send_signal(signal.SIGHUP)
    new = wait_for(lambda: (lambda c: c if c != old else None)(served_cert(v.port)),
                   what="the new certificate")
    assert new == served_cert(other.port)
    assert get_root(before).startswith(b"HTTP/1.1 200")  # the old session still serves
    before.close()
    # A key that does not match the certificate: refused, the current pair stays.
    with open(os.path.join(tls_dir, "key.pem"), "wb") as f:
        f.write(b"-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n")
    v.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert served_cert(v.port) == new
    assert "NOT reloaded" in v.read_log()
    assert v.proc.poll() is None
    r = v.admin.get("/redfish/v1/Managers/bmc/LogServices/Audit/Entries")
    entries = [v.admin.get(m["@odata.id"]).json()["Oem"]["Vsc"] for m in r.json()["Members"]]
    assert [e["Detail"] for e in entries if e["Action"] == "TlsReload"] == [
        "SIGHUP: TLS certificate and key reloaded", "SIGHUP: TLS certificate and key not reloaded"]


def test_sighup_without_a_key_keeps_the_pair_and_the_certificate_file(make_vscd):
    """docs/SECURITY.md: a pair that cannot be read is refused, the old pair stays. With the
    key file gone (being replaced, or a wrong name in the install line), SIGHUP made a new
    self-signed pair instead, served it, and wrote it over the cert.pem that was there."""
    v = make_vscd()
    old = served_cert(v.port)
    tls_dir = os.path.join(v.state_dir, "tls")
    with open(os.path.join(tls_dir, "cert.pem"), "rb") as f:
        cert_file = f.read()
    os.unlink(os.path.join(tls_dir, "key.pem"))
    v.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "TLS certificate and key" in v.read_log().split("SIGHUP", 1)[-1],
             what="the reload's log line")
    assert "NOT reloaded" in v.read_log()
    assert served_cert(v.port) == old
    with open(os.path.join(tls_dir, "cert.pem"), "rb") as f:
        assert f.read() == cert_file
    assert not os.path.exists(os.path.join(tls_dir, "key.pem"))

