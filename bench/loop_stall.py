#!/usr/bin/python3
"""How long one big request holds up vscd's loop, seen from a console beside it.

vscd serves every console and client from one loop thread; work that grows with the data
(a VM's whole transcript, a 100,000-entry audit listing) would make every console wait.
This starts vscd with a fresh state folder, fills it (100,000 audit entries, written into
the database before start; one VM with 8 unix ports printing about 4.5 MiB each), and then,
for each request below, runs a console echo probe in a process of its own: a line written
on another VM's console, read back from a WebSocket viewer, one every 2 ms. It reports the
request's time and the probe's slowest echo (and p99) over the request, from 0.3 s before
to 0.3 s after it.

    bench/loop_stall.py [--vscd PATH] [--repeat N] [--json FILE]

--vscd measures another build (an older commit's build/vscd). Needs `make build`. Loopback
only; everything it starts is stopped and its temporary folder removed.
"""
import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

import requests
import urllib3

urllib3.disable_warnings()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "api"))
os.environ.setdefault("VSCD", os.path.join(ROOT, "build", "vscd"))

import conftest  # noqa: E402  (the test suite's vscd runner and Redfish client)
from conftest import ADMIN_PASSWORD, Client, Vscd  # noqa: E402
from helpers_ports import FakeUnixVM, allocate_ok  # noqa: E402

AUDIT_ENTRIES = 100000
PORTS = 8
PRINT_ROUNDS = 80  # x 57 KB per port

REQUESTS = [
    ("transcript, 16 MiB", "transcript", {"Tail": str(16 * 1024 * 1024)}, False),
    ("transcript, 16 MiB, page cache dropped", "transcript", {"Tail": str(16 * 1024 * 1024)}, True),
    ("audit entries, no $top", "audit", {}, False),
    ("audit entries, $top=50", "audit", {"$top": "50"}, False),
    ("audit entries, $skip=99000&$top=50", "audit", {"$skip": "99000", "$top": "50"}, False),
]

PROBE = r"""
import json, select, socket, ssl, sys, time
import websocket
url, token, path = sys.argv[1:4]
vm = socket.socket(socket.AF_UNIX)
vm.connect(path)
origin = url.replace("wss://", "https://").split("/redfish")[0]
ws = websocket.create_connection(url, sslopt={"cert_reqs": ssl.CERT_NONE},
                                 header=["X-Auth-Token: " + token], origin=origin, timeout=10)
for _ in range(2):
    ws.recv()  # hello, mode
print("ready", flush=True)
WARM = 10  # the first echoes of a new viewer (~40 ms) are not the loop's
times, n = [], 0
while not select.select([sys.stdin], [], [], 0)[0]:  # until told to stop
    n += 1
    mark = b"<%d>" % n
    t0 = time.monotonic()
    vm.sendall(mark)
    got = b""
    while mark not in got:
        op, data = ws.recv_data()
        # ACK at once: vscd sends by Nagle's rule, and a delayed ACK (40 ms) would hold
        # the next echo back and show as a stall that is not the loop's.
        ws.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        if op == 2:
            got += data
    times.append(time.monotonic() - t0)
    time.sleep(0.002)
times = sorted(times[WARM:])
print(json.dumps({"n": len(times), "max_ms": times[-1] * 1000,
                  "p99_ms": times[int(len(times) * 0.99)] * 1000,
                  "median_ms": times[len(times) // 2] * 1000}), flush=True)
"""


def fill_audit(state):
    db = sqlite3.connect(os.path.join(state, "vsc.db"))
    db.executemany("INSERT INTO audit_log (created_us, action, user_name, client, target, "
                   "detail) VALUES (?, 'Login', 'admin', '127.0.0.1', '', 'bench filler')",
                   [(1700000000000000 + i,) for i in range(AUDIT_ENTRIES)])
    db.commit()
    db.close()


def print_history(admin):
    a = allocate_ok(admin, count=PORTS, Backend="unix", HostName="history")
    vms = [FakeUnixVM.connect_retry(p["BindPath"]) for p in a["Ports"]]
    chunk = b"".join(b"boot line %06d of a long console history, padding....\r\n" % i
                     for i in range(1000))
    for _ in range(PRINT_ROUNDS):
        for vm in vms:
            vm.send(chunk)
        time.sleep(0.02)
    time.sleep(2)  # the history writer catches up
    for vm in vms:
        vm.close()
    return a["System"]["@odata.id"] + "/LogServices/Console/Oem/Vsc/Transcript"


def measured(v, admin, probe_args, uri, params, drop_caches):
    if drop_caches:
        subprocess.run(["sh", "-c", "sync; echo 3 > /proc/sys/vm/drop_caches"], check=False)
    probe = subprocess.Popen([sys.executable, "-c", PROBE] + probe_args, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        if probe.stdout.readline().strip() != "ready":
            raise RuntimeError("the echo probe did not start")
        time.sleep(0.3)
        t0 = time.monotonic()
        r = requests.get(v.base + uri, params=params, auth=("admin", ADMIN_PASSWORD),
                         verify=False, timeout=60)  # plain: no schema check in the timing
        took = time.monotonic() - t0
        time.sleep(0.3)
        probe.stdin.write("stop\n")
        probe.stdin.flush()
        echo = json.loads(probe.stdout.readline())
    finally:
        probe.kill()
        probe.wait()
    return dict(status=r.status_code, bytes=len(r.content), seconds=took, **echo)


def run(vscd, repeat):
    tmp = tempfile.mkdtemp(prefix="vsc-loop-stall.")
    state = os.path.join(tmp, "s")
    v = Vscd(state, extra_args=["--set", "history_port_bytes=5242880"])
    conftest.VSCD = vscd
    try:
        v.start()
        v.stop()
        fill_audit(state)
        v.start()
        admin = Client(v.base, auth=("admin", ADMIN_PASSWORD))
        transcript = print_history(admin)
        probe_port = allocate_ok(admin, count=1, Backend="unix", HostName="probe")["Ports"][0]
        token, _ = Client(v.base).login("admin", ADMIN_PASSWORD)
        url = (v.base.replace("https://", "wss://") + "/redfish/v1/Managers/bmc/SerialInterfaces/"
               + probe_port["Id"] + "/Oem/Vsc/Console")
        probe_args = [url, token, probe_port["BindPath"]]
        audit = "/redfish/v1/Managers/bmc/LogServices/Audit/Entries"
        out = []
        for name, what, params, drop in REQUESTS:
            for i in range(repeat):
                m = measured(v, admin, probe_args, transcript if what == "transcript" else audit,
                             params, drop)
                out.append(dict(request=name, round=i + 1, **m))
                print("%-40s %d %9d B %7.3f s   echo max %7.1f ms  p99 %6.1f ms  median %5.2f ms"
                      % (name, m["status"], m["bytes"], m["seconds"], m["max_ms"], m["p99_ms"],
                         m["median_ms"]), flush=True)
        return out
    finally:
        v.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vscd", default=os.environ["VSCD"], help="the vscd to measure")
    ap.add_argument("--repeat", type=int, default=3, help="rounds of each request")
    ap.add_argument("--json", help="also write every figure to this file")
    args = ap.parse_args()
    print("vscd: %s" % args.vscd)
    out = run(os.path.abspath(args.vscd), args.repeat)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
