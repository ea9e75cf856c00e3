"""Resource soak (issue 7): 10,000 console WebSocket connect/disconnect cycles and 1,000
session logins/logouts leave vscd with the same open file descriptors and no memory
growth past a small bound (both read from /proc), and clean under ASan (Vscd.stop checks
the log for sanitizer and leak reports). Bounded in time; loopback only."""
import os
import ssl
import time

import pytest
import websocket

from conftest import ADMIN_PASSWORD, Client, Vscd
from helpers_ports import allocate_ok

WS_CYCLES = 10000
LOGINS = 1000
WARMUP = 500
RSS_GROWTH_KIB = 16 * 1024


@pytest.fixture
def soak_vscd(tmp_path):
    # A small ASan quarantine, so that freed memory shows as freed in RSS.
    env = {"ASAN_OPTIONS": "quarantine_size_mb=4:detect_leaks=1"}
    v = Vscd(str(tmp_path / "state"), env=env).start()
    yield v
    v.stop()


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def snapshot(v):
    time.sleep(0.3)  # let closes settle (lingering TLS sessions end)
    return fds(v.proc.pid), rss_kib(v.proc.pid)


def test_websocket_cycles_leak_nothing(soak_vscd):
    v = soak_vscd
    admin = Client(v.base, auth=("admin", ADMIN_PASSWORD))
    port = allocate_ok(admin, Backend="unix")["Ports"][0]
    token, _ = Client(v.base).login("admin", ADMIN_PASSWORD)
    url = v.base.replace("https://", "wss://") + port["SerialInterface"]["@odata.id"] + \
        "/Oem/Vsc/Console"

    def cycle():
        ws = websocket.create_connection(url, sslopt={"cert_reqs": ssl.CERT_NONE},
                                         header=["X-Auth-Token: " + token], origin=v.base,
                                         timeout=10)
        assert '"hello"' in ws.recv()
        ws.close()

    start = time.time()
    for _ in range(WARMUP):
        cycle()
    fd0, rss0 = snapshot(v)
    for _ in range(WS_CYCLES - WARMUP):
        cycle()
    fd1, rss1 = snapshot(v)
    print("%d cycles in %.1fs; fds %d -> %d; RSS %d -> %d KiB"
          % (WS_CYCLES, time.time() - start, fd0, fd1, rss0, rss1))
    assert fd1 <= fd0, (fd0, fd1)
    assert rss1 - rss0 < RSS_GROWTH_KIB, (rss0, rss1)
    assert admin.get("/redfish/v1/Managers/bmc/SerialInterfaces/%s" % port["Id"]).json()[
        "Oem"]["Vsc"]["AttachedClients"] == 0


def test_login_logout_cycles_leak_nothing(soak_vscd):
    v = soak_vscd
    c = Client(v.base)

    def cycle():
        token, uri = c.login("admin", ADMIN_PASSWORD)
        assert Client(v.base, token=token).delete(uri).status_code == 204

    start = time.time()
    for _ in range(50):
        cycle()
    fd0, rss0 = snapshot(v)
    for _ in range(LOGINS - 50):
        cycle()
    fd1, rss1 = snapshot(v)
    print("%d logins in %.1fs; fds %d -> %d; RSS %d -> %d KiB"
          % (LOGINS, time.time() - start, fd0, fd1, rss0, rss1))
    assert fd1 <= fd0, (fd0, fd1)
    assert rss1 - rss0 < RSS_GROWTH_KIB, (rss0, rss1)
    admin = Client(v.base, auth=("admin", ADMIN_PASSWORD))
    sessions = admin.get("/redfish/v1/SessionService/Sessions").json()
    assert sessions["Members@odata.count"] == 0
