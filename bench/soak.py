#!/usr/bin/python3
"""Soak benchmark: hours of mixed load on one vscd, shortened to minutes by a flag.

The load, all at once on loopback (HTTPS):
  - a hypervisor: allocates a VM (2 unix ports) every few seconds and frees the oldest
    beyond MAX_VMS, as VMs come and go;
  - each port's VM prints lines (a boot, then a steady trickle, now and then a burst);
  - viewers: console WebSockets that join a random port, read for a while and leave;
  - pollers: REST reads (Systems, a ComputerSystem, SerialInterfaces, the console
    transcript) in a loop;
  - one server-sent event stream, reading everything.
Every SAMPLE_S seconds it records vscd's RSS, open fds and threads from /proc, and the
work done; at the end it prints the table and a summary (RSS and fds first/last/max,
errors). A leak shows as RSS or fds that keep climbing while the load stays level.

    bench/soak.py [--minutes M] [--hours H] [--json FILE] [--set NAME=VALUE]... [--vscd P]
                                                              (default: 5 minutes)

`make bench-soak ARGS="--minutes 5"` builds the release vscd first. Loopback only; every
process it starts is stopped and its temporary folder removed.
"""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import requests
import websocket

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VSCD = os.path.join(ROOT, "build", "vscd")
PASSWORD = "soak-password-1"
# Where these are set they override verify=False for vscd's self-signed certificate.
for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
    os.environ.pop(var, None)
MAX_VMS = 6
SAMPLE_S = 10
VIEWERS = 8
POLLERS = 2


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def proc_stats(pid):
    out = {"fds": len(os.listdir("/proc/%d/fd" % pid))}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                out["rss_kib"] = int(line.split()[1])
            elif line.startswith("Threads:"):
                out["threads"] = int(line.split()[1])
    return out


class Counters:
    def __init__(self):
        self.lock = threading.Lock()
        self.n = {}

    def add(self, key, k=1):
        with self.lock:
            self.n[key] = self.n.get(key, 0) + k

    def snapshot(self):
        with self.lock:
            return dict(self.n)


class Soak:
    def __init__(self, seconds, settings=(), vscd=VSCD):
        self.deadline = time.time() + seconds
        self.vscd = vscd
        self.settings = list(settings)
        self.dir = tempfile.mkdtemp(prefix="vsc-soak-")
        self.port = free_port()
        self.base = "https://127.0.0.1:%d" % self.port
        self.stop = threading.Event()
        self.c = Counters()
        self.vms = {}  # uuid -> {"ports": [...], "threads": [...], "stop": Event}
        self.vms_lock = threading.Lock()
        self.s = requests.Session()
        self.s.verify = False
        self.s.auth = ("admin", PASSWORD)

    # ---- vscd --------------------------------------------------------------------------

    def start(self):
        env = dict(os.environ, VSC_ADMIN_PASSWORD=PASSWORD)
        self.log = open(os.path.join(self.dir, "vscd.log"), "wb")
        self.proc = subprocess.Popen(
            [self.vscd, "--state-dir", os.path.join(self.dir, "state"), "--listen",
             "127.0.0.1:%d" % self.port, "--set", "max_ports=64", "--set",
             "history_port_bytes=1048576"] + [a for kv in self.settings for a in ("--set", kv)],
            stdout=self.log, stderr=self.log, env=env)
        for _ in range(200):
            try:
                requests.get(self.base + "/redfish/v1", verify=False, timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.05)
        raise SystemExit("vscd did not start")

    def finish(self):
        self.stop.set()
        with self.vms_lock:
            for vm in self.vms.values():
                vm["stop"].set()
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(30)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return rc

    # ---- the load ----------------------------------------------------------------------

    def vm_printer(self, path, stop):
        """One VM on a unix port: a boot, then a trickle with bursts, reconnecting."""
        boot = b"".join(b"[%5d.000000] boot line %d of a soak VM\r\n" % (i, i) for i in range(200))
        while not stop.is_set() and not self.stop.is_set():
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(path)
            except OSError:
                time.sleep(0.2)
                continue
            try:
                s.sendall(boot + b"soak login: ")
                n = 0
                while not stop.is_set() and not self.stop.is_set():
                    burst = random.random() < 0.02
                    data = b"".join(b"line %d\r\n" % (n + i) for i in range(400 if burst else 4))
                    s.sendall(data)
                    self.c.add("vm_bytes", len(data))
                    n += 1
                    time.sleep(0.05)
            except OSError:
                pass
            finally:
                s.close()

    def hypervisor(self):
        while not self.stop.is_set():
            vm_uuid = str(uuid.uuid4())
            r = self.s.post(self.base + "/redfish/v1/Managers/bmc/Actions/Oem/Vsc.AllocatePorts",
                            json={"VMUUID": vm_uuid, "VMName": "soak" + vm_uuid[:8],
                                  "HostName": "soak-" + vm_uuid[:4], "PortCount": 2,
                                  "Backend": "unix"}, timeout=30)
            if r.status_code != 200:
                self.c.add("errors")
            else:
                self.c.add("allocations")
                stop = threading.Event()
                ports = r.json()["Ports"]
                threads = [threading.Thread(target=self.vm_printer, args=(p["BindPath"], stop),
                                            daemon=True) for p in ports]
                for t in threads:
                    t.start()
                with self.vms_lock:
                    self.vms[vm_uuid] = {"ports": ports, "stop": stop}
                    old = list(self.vms)[:-MAX_VMS]
                for u in old:
                    with self.vms_lock:
                        self.vms.pop(u)["stop"].set()
                    r = self.s.post(self.base + "/redfish/v1/Managers/bmc/Actions/Oem/"
                                    "Vsc.FreePorts", json={"VMUUID": u}, timeout=30)
                    self.c.add("frees" if r.status_code == 200 else "errors")
            self.stop.wait(random.uniform(2, 5))

    def random_port(self):
        with self.vms_lock:
            ports = [p for vm in self.vms.values() for p in vm["ports"]]
        return random.choice(ports) if ports else None

    def viewer(self, token):
        ctx = {"cert_reqs": ssl.CERT_NONE}
        while not self.stop.is_set():
            p = self.random_port()
            if not p:
                time.sleep(0.2)
                continue
            url = self.base.replace("https", "wss") + p["SerialInterface"]["@odata.id"] + \
                "/Oem/Vsc/Console?history=4096"
            try:
                ws = websocket.create_connection(url, sslopt=ctx, timeout=5, origin=self.base,
                                                 header=["X-Auth-Token: " + token])
                self.c.add("viewer_joins")
                until = time.time() + random.uniform(1, 8)
                while time.time() < until and not self.stop.is_set():
                    try:
                        data = ws.recv()
                    except websocket.WebSocketTimeoutException:
                        continue
                    self.c.add("viewer_bytes", len(data))
                ws.close()
            except (websocket.WebSocketException, OSError):
                self.c.add("viewer_closed_by_free")  # its port was freed meanwhile
            time.sleep(random.uniform(0, 0.5))

    def poller(self):
        while not self.stop.is_set():
            try:
                systems = self.s.get(self.base + "/redfish/v1/Systems", timeout=10).json()
                for m in systems.get("Members", [])[:2]:
                    self.s.get(self.base + m["@odata.id"], timeout=10)
                    self.s.get(self.base + m["@odata.id"] +
                               "/LogServices/Console/Oem/Vsc/Transcript?Tail=8192", timeout=10)
                self.s.get(self.base + "/redfish/v1/Managers/bmc/SerialInterfaces", timeout=10)
                self.c.add("rest_rounds")
            except (requests.RequestException, ValueError):
                self.c.add("errors")
            time.sleep(0.2)

    def sse(self, token):
        while not self.stop.is_set():
            try:
                with requests.get(self.base + "/redfish/v1/EventService/SSE", verify=False,
                                  headers={"X-Auth-Token": token}, stream=True,
                                  timeout=30) as r:
                    for line in r.iter_lines():
                        if self.stop.is_set():
                            return
                        if line.startswith(b"data: "):
                            self.c.add("events")
            except requests.RequestException:
                pass

    # ---- the run -----------------------------------------------------------------------

    def run(self):
        self.start()
        r = requests.post(self.base + "/redfish/v1/SessionService/Sessions", verify=False,
                          json={"UserName": "admin", "Password": PASSWORD})
        token = r.headers["X-Auth-Token"]
        workers = [threading.Thread(target=self.hypervisor, daemon=True)]
        workers += [threading.Thread(target=self.viewer, args=(token,), daemon=True)
                    for _ in range(VIEWERS)]
        workers += [threading.Thread(target=self.poller, daemon=True) for _ in range(POLLERS)]
        workers.append(threading.Thread(target=self.sse, args=(token,), daemon=True))
        for w in workers:
            w.start()
        samples = []
        t0 = time.time()
        try:
            self.sample_until_deadline(samples, t0)
        except KeyboardInterrupt:  # Ctrl-C ends the run early, cleanly, with its summary
            print("interrupted", flush=True)
        rc = self.finish()
        return samples, rc

    def sample_until_deadline(self, samples, t0):
        while time.time() < self.deadline:
            time.sleep(min(SAMPLE_S, max(0.1, self.deadline - time.time())))
            s = proc_stats(self.proc.pid)
            s.update(self.c.snapshot())
            s["t"] = round(time.time() - t0)
            with self.vms_lock:
                s["vms"] = len(self.vms)
            samples.append(s)
            print("%5ds  RSS %7.1f MiB  fds %4d  threads %2d  VMs %d  joins %6d  rest %6d  "
                  "events %6d  errors %d" % (s["t"], s["rss_kib"] / 1024, s["fds"], s["threads"],
                                             s["vms"], s.get("viewer_joins", 0),
                                             s.get("rest_rounds", 0), s.get("events", 0),
                                             s.get("errors", 0)), flush=True)


def summary(samples, rc):
    warm = samples[len(samples) // 5:] or samples  # after the first fifth: VMs at their level
    rss = [s["rss_kib"] / 1024 for s in warm]
    fds = [s["fds"] for s in warm]
    last = samples[-1]
    return {
        "minutes": round(last["t"] / 60, 1),
        "rss_mib": {"first": round(rss[0], 1), "last": round(rss[-1], 1),
                    "max": round(max(rss), 1)},
        "fds": {"first": fds[0], "last": fds[-1], "max": max(fds)},
        "allocations": last.get("allocations", 0), "frees": last.get("frees", 0),
        "viewer_joins": last.get("viewer_joins", 0),
        "viewer_mb": round(last.get("viewer_bytes", 0) / 1e6, 1),
        "vm_mb": round(last.get("vm_bytes", 0) / 1e6, 1),
        "rest_rounds": last.get("rest_rounds", 0), "events": last.get("events", 0),
        "errors": last.get("errors", 0), "exit_code": rc,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=None)
    ap.add_argument("--hours", type=float, default=None)
    ap.add_argument("--json", help="write the samples and the summary here")
    ap.add_argument("--vscd", default=VSCD,
                    help="the vscd to run (default build/vscd); a wrapper script may run it "
                         "under a profiler")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a vscd setting (repeatable), e.g. history_total_bytes=4194304")
    args = ap.parse_args()
    seconds = 3600 * args.hours if args.hours else 60 * (args.minutes or 5)
    if not os.path.exists(args.vscd):
        raise SystemExit("build the release vscd first: make build")
    requests.packages.urllib3.disable_warnings()
    # Ctrl-C and SIGTERM end the run early with its summary, also when started in the
    # background (where a shell leaves SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    samples, rc = Soak(seconds, args.set, args.vscd).run()
    s = summary(samples, rc)
    print(json.dumps(s, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"samples": samples, "summary": s}, f, indent=1)
    return 0 if rc == 0 and s["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
