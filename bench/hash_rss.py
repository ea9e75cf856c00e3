#!/usr/bin/python3
"""vscd's resident memory around requests that verify a password, sampled every 2 ms.

yescrypt is memory-hard: each verification (a session login, an HTTP Basic request whose
credentials are not in the 60-s cache, a wrong password) maps libxcrypt's default 16 MiB
on vscd's worker thread for the length of the hash. This starts a fresh vscd on loopback,
makes one request of each kind and prints, per request, the RSS before, the peak and how
long it stayed 4 MiB or more above it.

    bench/hash_rss.py [--vscd PATH]            (default: build/vscd)

Loopback only; the vscd it starts is stopped and its state folder removed.
"""
import argparse
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import requests
import urllib3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = "Hash-rss-passw0rd"
# Where these are set they override verify=False for vscd's self-signed certificate.
for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
    os.environ.pop(var, None)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Sampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.samples, self.stop = pid, [], threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.samples.append((time.monotonic(), rss_mib(self.pid)))
            time.sleep(0.002)

    def around(self, name, request):
        time.sleep(0.3)
        t0 = time.monotonic()
        status = request().status_code
        t1 = time.monotonic()
        time.sleep(0.3)  # the hash may end after the answer's bytes left
        before = min(v for ts, v in self.samples[-400:] if ts < t0)
        during = [(ts, v) for ts, v in self.samples if t0 <= ts <= t1 + 0.3]
        peak = max(v for _, v in during)
        high = [ts for ts, v in during if v >= before + 4]
        print("%-36s %d  %5.0f ms  RSS %.1f -> peak %.1f MiB (+%.1f), +4 MiB or more for %.0f ms"
              % (name, status, (t1 - t0) * 1000, before, peak, peak - before,
                 (high[-1] - high[0]) * 1000 if high else 0), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vscd", default=os.path.join(ROOT, "build", "vscd"))
    a = ap.parse_args()
    urllib3.disable_warnings()
    state = tempfile.mkdtemp(prefix="vsc-hash-rss-")
    port = free_port()
    base = "https://127.0.0.1:%d" % port
    proc = subprocess.Popen([a.vscd, "--state-dir", state, "--listen", "127.0.0.1:%d" % port],
                            env=dict(os.environ, VSC_ADMIN_PASSWORD=PASSWORD),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                requests.get(base + "/redfish/v1", verify=False, timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.05)
        s = Sampler(proc.pid)
        s.start()
        systems = base + "/redfish/v1/Systems"
        s.around("HTTP Basic, not cached (a hash)",
                 lambda: requests.get(systems, auth=("admin", PASSWORD), verify=False))
        s.around("HTTP Basic, cached",
                 lambda: requests.get(systems, auth=("admin", PASSWORD), verify=False))
        s.around("session login (a hash)",
                 lambda: requests.post(base + "/redfish/v1/SessionService/Sessions", verify=False,
                                       json={"UserName": "admin", "Password": PASSWORD}))
        s.around("HTTP Basic, wrong password (a hash)",
                 lambda: requests.get(systems, auth=("admin", "wrong"), verify=False))
        s.stop.set()
        s.join()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
