#!/usr/bin/python3
"""Console fan-out benchmark: vscd beside conserver, ConMan and a floor, one run, same machine.

K consoles (pty and unix backends), each fed by bench/fanout_src (32-byte records with a
sequence number and a CLOCK_MONOTONIC stamp) at 115200 baud or flat out; N viewers per
console plus one stalled viewer, all in bench/fanout_view (one epoll loop speaking vscd's
WebSocket, conserver's, ConMan's and the floor's client protocols). The floor is
bench/fanout_floor: the simplest server for the job (one send per viewer per chunk read,
drops what a full socket does not take), so that each server's CPU can be read against
the least this machine needs. Per server and scenario: per-viewer throughput, latency
p50/p99/p99.9 from the source's write to the viewer's read, sequence gaps (and whether
they were announced), the stalled viewer's fate, and the server's CPU seconds
(utime+stime of its whole process tree over the measured window) and RSS.

    bench/fanout.py [--quick] [--seconds S] [--scenarios A,B,C] [--backends pty,unix]
                    [--servers vscd-http,vscd-tls,conserver,conman,floor] [--repeat N]
                    [--vscd PATH] [--json FILE]

Needs root only for `scripts/deps bench` (conserver-server, conserver-client, conman).
Loopback only; every process it starts is stopped and its temporary folder removed.
"""
import argparse
import itertools
import json
import os
import resource
import select
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build", "bench")
VSCD = os.path.join(ROOT, "build", "vscd")
SRC = os.path.join(BUILD, "fanout_src")
VIEW = os.path.join(BUILD, "fanout_view")
FLOOR = os.path.join(BUILD, "fanout_floor")
BAUD_BPS = 11520  # 115200 baud, 8N1: 10 bits a byte
PASSWORD = "bench-password-1"

SCENARIOS = {
    "A": dict(k=64, n=8, rate=BAUD_BPS, title="K=64 x N=8 at 115200 baud"),
    "B": dict(k=64, n=32, rate=BAUD_BPS, title="K=64 x N=32 (2,048 viewers) at 115200 baud"),
    "C": dict(k=1, n=32, rate=0, title="K=1 flat out to 32 viewers"),
    # Not in the default set: a load light enough that no process waits for a CPU here.
    "L": dict(k=8, n=8, rate=BAUD_BPS, title="K=8 x N=8 at 115200 baud (light load)"),
}
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, secs=10):
    end = time.time() + secs
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


_pending = {}


def readline(proc, secs):
    """A line of proc's stdout (a pipe, read unbuffered), or '' after secs or at its end."""
    fd = proc.stdout.fileno()
    buf = _pending.get(fd, b"")
    end = time.time() + secs
    while b"\n" not in buf:
        left = end - time.time()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buf += chunk
    line, nl, rest = buf.partition(b"\n")
    _pending[fd] = rest if nl else b""
    return (line + nl).decode() if nl else ""


def on_signal(sig, frame):
    raise KeyboardInterrupt


PIN = {}  # role -> CPUs (--pin): the server on one core, source and viewers on the rest


def setup_child(role):
    def f():
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        if role in PIN:
            os.sched_setaffinity(0, PIN[role])
    return f


# --- process tree accounting ---------------------------------------------------------
def tree(pid):
    """pid and all its live descendants."""
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    st = f.read()
                ppid = int(st[st.rindex(")") + 2:].split()[1])
                kids.setdefault(ppid, []).append(int(d))
            except (OSError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def cpu_seconds(pid):
    """utime+stime (+ reaped children's) of pid's whole tree."""
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                st = f.read()
            fields = st[st.rindex(")") + 2:].split()
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        except OSError:
            pass
    return total / TICK


def rss_kib(pid):
    """(sum of VmRSS, sum of VmHWM) over pid's tree, KiB."""
    rss = hwm = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
                    elif line.startswith("VmHWM:"):
                        hwm += int(line.split()[1])
        except OSError:
            pass
    return rss, hwm


# --- servers -----------------------------------------------------------------------------
class Run:
    """One server + its consoles' source for one scenario; stop() undoes everything."""

    def __init__(self, kind, backend, sc, tmp):
        self.kind, self.backend, self.sc, self.tmp = kind, backend, sc, tmp
        self.procs = []
        self.server = None
        self.source = None
        self.source_ready = None

    def spawn(self, args, name, **kw):
        log = open(os.path.join(self.tmp, name + ".log"), "w")
        role = "tools" if name == "source" else "server"
        p = subprocess.Popen(args, stdout=kw.pop("stdout", log), stderr=log, cwd=self.tmp,
                             preexec_fn=setup_child(role), start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def start_source(self, consoles):
        self.source = self.spawn([SRC, "-b", str(self.sc["rate"]), "-r", "15"] + consoles,
                                 "source", stdout=subprocess.PIPE, bufsize=0)
        if consoles[0].startswith("unix-listen:"):
            return {}  # ready once the server has connected to every socket
        ptys = {}
        while True:
            line = readline(self.source, 20)
            if not line:
                raise RuntimeError("fanout_src ended: " + self.log("source"))
            w = line.split()
            if w[0] == "ready":
                self.source_ready = line
                return ptys
            if w[0] == "pty":
                ptys[int(w[1])] = w[2]
            if len(ptys) == len(consoles) and all(c == "pty-new" for c in consoles):
                return ptys

    def wait_source_ready(self):
        line = self.source_ready or readline(self.source, 20)
        if not line.startswith("ready"):
            raise RuntimeError("fanout_src: " + line + self.log("source"))
        if not line.startswith(f"ready {self.sc['k']}/"):
            raise RuntimeError(f"{self.kind}: not every console connected ({line.strip()})")

    def log(self, name):
        try:
            with open(os.path.join(self.tmp, name + ".log")) as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def start(self):
        getattr(self, "start_" + self.kind.split("-")[0])()

    # vscd: ports via Redfish, the source opens/connects to each BindPath.
    def start_vscd(self):
        # vscd-http, vscd-tls; suffixes: -bN sets console_batch_ms = N (vscd-http-b10),
        # -pN console_batch_busy_ms = N (its default, 50, paces batches by the loop's load),
        # -now console_batch_busy_ms = 0 (output at once, whatever the load: vscd before
        # batch_pace), -send console_io_uring = false (one send() per viewer).
        mode, *suffixes = self.kind.split("-")[1:]
        tls = mode == "tls"

        def number(letter, default):
            return next((int(x[1:]) for x in suffixes if x[:1] == letter and x[1:].isdigit()),
                        default)
        batch_ms = number("b", 0)
        busy_ms = 0 if "now" in suffixes else number("p", 50)
        io_uring = "send" not in suffixes
        port = free_port()
        conf = os.path.join(self.tmp, "vscd.conf")
        with open(conf, "w") as f:
            f.write(f"""listen = 127.0.0.1:{port}
state_dir = {self.tmp}/state
insecure_http = {'false' if tls else 'true'}
log_level = error
max_connections = 8192
max_connections_per_ip = 8192
connection_timeout = 3600
session_timeout_default = 86400
max_ports = 256
default_backend = {self.backend}
console_batch_ms = {batch_ms}
console_batch_busy_ms = {busy_ms}
console_io_uring = {'true' if io_uring else 'false'}
""")
        env = dict(os.environ, VSC_ADMIN_PASSWORD=PASSWORD)
        self.server = self.spawn([VSCD, "--config", conf], "vscd", env=env)
        wait_port(port)
        base = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE

        def post(path, body, token=None):
            req = urllib.request.Request(base + path, json.dumps(body).encode(), method="POST")
            req.add_header("Content-Type", "application/json")
            if token:
                req.add_header("X-Auth-Token", token)
            with urllib.request.urlopen(req, context=ctx if tls else None, timeout=30) as r:
                return r.headers, json.loads(r.read() or b"{}")

        h, _ = post("/redfish/v1/SessionService/Sessions",
                    {"UserName": "admin", "Password": PASSWORD})
        token = h["X-Auth-Token"]

        def batch_time():  # what the pace chose (Manager Oem.Vsc.ConsoleBatchTime), in ms
            req = urllib.request.Request(base + "/redfish/v1/Managers/bmc")
            req.add_header("X-Auth-Token", token)
            with urllib.request.urlopen(req, context=ctx if tls else None, timeout=10) as r:
                return json.loads(r.read())["Oem"]["Vsc"]["ConsoleBatchTime"]
        self.batch_probe = batch_time
        consoles, self.targets = [], []
        n, stall = self.sc["n"], 1
        for i in range(self.sc["k"]):
            _, body = post("/redfish/v1/Managers/bmc/Actions/Oem/Vsc.AllocatePorts",
                           {"VMUUID": str(uuid.uuid4()), "VMName": f"bench{i}",
                            "PortCount": 1, "Backend": self.backend}, token)
            p = body["Ports"][0]
            verb = "pty-open" if self.backend == "pty" else "unix-connect"
            consoles.append(f"{verb}:{p['BindPath']}")
            s = stall if i == 0 else 0
            self.targets.append(
                f"ws 127.0.0.1 {port} /redfish/v1/Managers/bmc/SerialInterfaces/{p['Id']}"
                f"/Oem/Vsc/Console {token} {1 if tls else 0} {n + s} {s}")
        self.start_source(consoles)
        self.wait_source_ready()

    def anchor_consoles(self):
        k = self.sc["k"]
        if self.backend == "pty":
            ptys = self.start_source(["pty-new"] * k)
            self.wait_source_ready()
            return [("device", ptys[i]) for i in range(k)]
        socks = [os.path.join(self.tmp, f"c{i}.sock") for i in range(k)]
        self.start_source([f"unix-listen:{s}" for s in socks])
        return [("uds", s) for s in socks]

    def anchor_targets(self, proto, port):
        n = self.sc["n"]
        self.targets = [f"{proto} 127.0.0.1 {port} c{i} {n + (i == 0)} {int(i == 0)}"
                        for i in range(self.sc["k"])]

    # conserver: device or uds consoles; console(1)'s protocol without SSL (-E).
    def start_conserver(self):
        cons = self.anchor_consoles()
        port = free_port()
        cf = os.path.join(self.tmp, "conserver.cf")
        with open(cf, "w") as f:
            f.write('config * { }\ndefault * { logfile ""; timestamp ""; master localhost;'
                    ' rw *; baud 115200; parity none; }\naccess * { trusted 127.0.0.1; }\n')
            for i, (typ, path) in enumerate(cons):
                key = "device" if typ == "device" else "uds"
                f.write(f"console c{i} {{ type {typ}; {key} {path}; }}\n")
        open(os.path.join(self.tmp, "conserver.passwd"), "w").close()
        self.server = self.spawn(["conserver", "-C", cf, "-P", "conserver.passwd",
                                  "-p", str(port), "-E", "-a", "a"], "conserver")
        wait_port(port)
        if self.backend == "unix":
            self.wait_source_ready()
        time.sleep(1)  # children open their consoles
        self.anchor_targets("cs", port)

    # ConMan: device or unix: consoles; conman -m's protocol.
    def start_conman(self):
        cons = self.anchor_consoles()
        port = free_port()
        cf = os.path.join(self.tmp, "conman.conf")
        with open(cf, "w") as f:
            f.write(f'SERVER keepalive=ON\nSERVER loopback=ON\nSERVER tcpwrappers=OFF\n'
                    f'SERVER pidfile="{self.tmp}/conman.pid"\nSERVER port={port}\n')
            for i, (typ, path) in enumerate(cons):
                dev = path if typ == "device" else "unix:" + path
                f.write(f'CONSOLE name="c{i}" dev="{dev}" seropts="115200,8n1"\n')
        self.server = self.spawn(["conmand", "-F", "-c", cf], "conman")
        wait_port(port)
        if self.backend == "unix":
            self.wait_source_ready()
        time.sleep(1)
        self.anchor_targets("cm", port)

    # The floor: the anchors' consoles, bench/fanout_floor's one-line protocol;
    # floor-uring sends each chunk to its viewers with one io_uring_enter() (-u);
    # floor-nodelay sets TCP_NODELAY on its viewers' sockets (-n; both: floor-uring-nodelay).
    def start_floor(self):
        cons = self.anchor_consoles()
        port = free_port()
        specs = [f"c{i}={'device' if typ == 'device' else 'unix'}:{path}"
                 for i, (typ, path) in enumerate(cons)]
        suffixes = self.kind.split("-")[1:]
        opts = (["-u"] if "uring" in suffixes else []) + (["-n"] if "nodelay" in suffixes else [])
        self.server = self.spawn([FLOOR] + opts + ["-p", str(port)] + specs, "floor")
        wait_port(port)  # it opens the ptys before it listens: no settling time needed
        if self.backend == "unix":
            self.wait_source_ready()
        self.anchor_targets("fl", port)

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in reversed(self.procs):
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def measure(run, secs, warm, resume):
    view = subprocess.Popen([VIEW, "-d", str(secs), "-w", str(warm), "-R", str(resume)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0,
                            preexec_fn=setup_child("tools"), start_new_session=True)
    run.procs.append(view)
    view.stdin.write(("\n".join(run.targets) + "\n").encode())
    view.stdin.close()
    line = readline(view, 90)
    if not line.startswith("ready"):
        raise RuntimeError("fanout_view: " + line)
    t_ready = time.time()
    rss0 = rss_kib(run.server.pid)[0]
    time.sleep(warm)
    cpu0, t0 = cpu_seconds(run.server.pid), time.time()
    tools0 = cpu_seconds(view.pid) + cpu_seconds(run.source.pid)
    peak = 0
    out = ""
    batch = []  # vscd: the batch time its pace chose, every 0.5 s of the window
    probe = getattr(run, "batch_probe", None)
    while True:
        out = readline(view, 0.5)
        peak = max(peak, rss_kib(run.server.pid)[0])
        if probe and not out and time.time() < t0 + secs:
            batch.append(probe())
        if out:
            break
        if time.time() - t_ready > secs + warm + 60:
            raise RuntimeError("fanout_view did not finish")
    cpu1, t1 = cpu_seconds(run.server.pid), time.time()
    tools1 = cpu_seconds(view.pid) + cpu_seconds(run.source.pid)
    rss_end, hwm = rss_kib(run.server.pid)
    res = json.loads(out)
    res.update(ready_line=line.strip(), cpu_s=cpu1 - cpu0, window_s=t1 - t0,
               tools_cpu_s=tools1 - tools0, loadavg=os.getloadavg()[0],
               rss_start_kib=rss0, rss_end_kib=rss_end, rss_peak_kib=max(peak, rss_end),
               hwm_kib=hwm)
    if batch:
        res["batch_ms"] = sorted(batch)
    return res


def fmt_ms(us):
    return "—" if us is None or us < 0 else f"{us / 1000:.2f}"


def table(results, scen):
    rows = [r for r in results if r["scenario"] == scen]
    out = [f"\n### {scen}: {SCENARIOS[scen]['title']} (+1 stalled viewer on console 0)\n",
           "| server | backend | viewers ok | KB/s per viewer min / median | p50 ms | p99 ms "
           "| p99.9 ms | gaps (viewers) | unannounced | stalled viewer: records / gaps / "
           "missed-notice bytes | CPU s (% core) | RSS MiB start / peak | bench tools CPU |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    repeated = any(r.get("round", 1) > 1 for r in rows)
    for r in rows:
        name = f"{r['server']} #{r.get('round', 1)}" if repeated else r["server"]
        if "error" in r:
            out.append(f"| {name} | {r['backend']} | failed: {r['error'][:120]} "
                       "| | | | | | | | | | |")
            continue
        out.append(
            f"| {name} | {r['backend']} | {r['ready']}/{r['viewers']}"
            f"{' (' + str(r['dead']) + ' dropped)' if r['dead'] else ''} "
            f"| {r['rate_min'] / 1000:.1f} / {r['rate_median'] / 1000:.1f} "
            f"| {fmt_ms(r['p50_us'])} | {fmt_ms(r['p99_us'])} | {fmt_ms(r['p999_us'])} "
            f"| {r['gaps']} ({r['viewers_with_gaps']}) | {r['viewers_with_unannounced_gaps']} "
            f"| {r['stalled_records']} / {r['stalled_gaps']} / {r['stalled_missed_bytes']} "
            f"| {r['cpu_s']:.2f} ({100 * r['cpu_s'] / r['window_s']:.0f}%) "
            f"| {r['rss_start_kib'] / 1024:.1f} / {r['rss_peak_kib'] / 1024:.1f} "
            f"| {100 * r['tools_cpu_s'] / r['window_s']:.0f}% |")
    # Ratios, per backend (and round), under the table.
    for backend in sorted({r["backend"] for r in rows}):
        for rnd in sorted({r.get("round", 1) for r in rows}):
            ratios = ratio_lines([r for r in rows if r["backend"] == backend and
                                  r.get("round", 1) == rnd and "error" not in r])
            if ratios and not out[-1].startswith("- "):
                out.append("")
            tag = f" #{rnd}" if repeated else ""
            out.extend(f"- {server}{tag}/{backend}: {text}" for server, text in ratios)
    paced = [r for r in rows if r.get("batch_ms")]
    if paced:
        out.append("")
    for r in paced:
        b = r["batch_ms"]
        tag = f" #{r.get('round', 1)}" if repeated else ""
        out.append(f"- {r['server']}{tag}/{r['backend']}: output waited {b[0]}–{b[-1]} ms "
                   f"(median {statistics.median_high(b)}) before it was sent "
                   "(Oem.Vsc.ConsoleBatchTime, every 0.5 s of the window)")
    if repeated:
        out.append(repeat_summary(rows))
    return "\n".join(out)


def repeat_summary(rows):
    """With --repeat: per backend and server, the median CPU and p99 over the rounds, and
    each round's CPU ratio to that round's better anchor and to its floor (median, range):
    the machine's drift moves every server of a round alike, so ratios within a round
    vary less than one server's CPU between rounds."""
    out = ["", "| server | backend | rounds | CPU s median (min–max) | p99 ms median "
           "| CPU ÷ better anchor, median (min–max) | CPU ÷ floor, median (min–max) |",
           "|---|---|---|---|---|---|---|"]

    def span(xs):
        return (f"{statistics.median(xs):.2f} ({min(xs):.2f}–{max(xs):.2f})" if xs else "—")

    ok = [r for r in rows if "error" not in r]
    for backend in sorted({r["backend"] for r in ok}):
        mine = [r for r in ok if r["backend"] == backend]
        for server in dict.fromkeys(r["server"] for r in mine):
            runs = [r for r in mine if r["server"] == server]
            vs_anchor, vs_floor = [], []
            for r in runs:
                peers = [p for p in mine if p.get("round", 1) == r.get("round", 1)]
                anchors = [p["cpu_s"] for p in peers if p["server"] in ("conserver", "conman")]
                floor = [p["cpu_s"] for p in peers if p["server"] == "floor"]
                if anchors and min(anchors) > 0 and server not in ("conserver", "conman"):
                    vs_anchor.append(r["cpu_s"] / min(anchors))
                if floor and floor[0] > 0 and server != "floor":
                    vs_floor.append(r["cpu_s"] / floor[0])
            p99 = [r["p99_us"] / 1000 for r in runs if r["p99_us"] >= 0]
            out.append(f"| {server} | {backend} | {len(runs)} | {span([r['cpu_s'] for r in runs])} "
                       f"| {statistics.median(p99):.2f} | {span(vs_anchor)} | {span(vs_floor)} |"
                       if p99 else f"| {server} | {backend} | {len(runs)} | | | | |")
    return "\n".join(out)


def ratio_lines(rows):
    """(server, text) for one backend's rows: each vscd mode against the better anchor,
    and every server but the floor against the floor's CPU."""
    def cpu_x(r, base):
        return r["cpu_s"] / base["cpu_s"] if base["cpu_s"] else float("inf")

    anchors = [r for r in rows if r["server"] in ("conserver", "conman")]
    floor = next((r for r in rows if r["server"] == "floor"), None)
    out = []
    for v in rows:
        parts = []
        if anchors and v["server"].startswith("vscd"):
            best_cpu = min(anchors, key=lambda r: r["cpu_s"])
            best_p99 = min(anchors, key=lambda r: r["p99_us"] if r["p99_us"] >= 0 else 1e18)
            p99 = (v["p99_us"] / best_p99["p99_us"]) if best_p99["p99_us"] > 0 else float("nan")
            parts += [f"CPU {cpu_x(v, best_cpu):.2f}x {best_cpu['server']}'s",
                      f"p99 {p99:.2f}x {best_p99['server']}'s"]
        if floor and v is not floor:
            parts.append(f"CPU {cpu_x(v, floor):.2f}x floor's")
        if parts:
            out.append((v["server"], ", ".join(parts)))
    return out


def build():
    os.makedirs(BUILD, exist_ok=True)
    subprocess.run(["make", "-s", "-C", ROOT, "build", "build/bench/fanout_src",
                    "build/bench/fanout_view", "build/bench/fanout_floor"], check=True,
                   stdout=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="5 s per run instead of 20")
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--scenarios", default="A,B,C")
    ap.add_argument("--backends", default="pty,unix")
    ap.add_argument("--servers", default="vscd-http,vscd-tls,conserver,conman,floor",
                    help="run in this order; floor is bench/fanout_floor; vscd-http-b10 is "
                    "vscd-http with console_batch_ms = 10, vscd-http-now with "
                    "console_batch_busy_ms = 0, vscd-http-send without io_uring; "
                    "floor-uring is the floor with io_uring sends, floor-nodelay with "
                    "TCP_NODELAY on its viewers' sockets (default: %(default)s)")
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="run the servers N times, in turn, per scenario and backend; the "
                    "tables add medians and ranges of the CPU ratios (default: 1)")
    ap.add_argument("--json", help="also write every result to this file")
    ap.add_argument("--report", metavar="JSON", help="print the tables of a --json file, run nothing")
    ap.add_argument("--no-pin", action="store_true",
                    help="do not pin the server to the last CPU and the bench tools to the others")
    ap.add_argument("--vscd", metavar="PATH",
                    help="the vscd binary to run (default: build/vscd), e.g. an older build")
    a = ap.parse_args()
    global VSCD
    VSCD = a.vscd or VSCD
    if a.report:
        with open(a.report) as f:
            results = json.load(f)
        for scen in dict.fromkeys(r["scenario"] for r in results):
            print(table(results, scen))
        return
    signal.signal(signal.SIGTERM, on_signal)  # stop what we started, whatever stops us
    secs = a.seconds or (5 if a.quick else 20)
    warm, resume = (1, 1) if a.quick else (2, 2)
    for tool in ("conserver", "conmand"):
        if not shutil.which(tool):
            sys.exit(f"{tool} missing: run `scripts/deps bench` as root (make bench-fanout)")
    build()
    cpus = sorted(os.sched_getaffinity(0))
    if not a.no_pin and len(cpus) >= 2:
        PIN.update(server={cpus[-1]}, tools=set(cpus[:-1]))
    results = []
    host = os.uname()
    print(f"# fan-out: {host.nodename} {host.release}, {os.cpu_count()} CPUs, "
          f"{secs:g} s per run (+{warm:g} s warm-up), stalled viewer resumes "
          f"{resume:g} s before the end; "
          f"{'server on CPU %s, source and viewers on %s; ' % (cpus[-1], cpus[:-1]) if PIN else ''}"
          f"{time.strftime('%Y-%m-%d %H:%M %Z')}", flush=True)
    for scen in a.scenarios.split(","):
        for backend in a.backends.split(","):
            for rnd, server in itertools.product(range(1, a.repeat + 1), a.servers.split(",")):
                tmp = tempfile.mkdtemp(prefix="vsc-fanout.")
                run = Run(server, backend, SCENARIOS[scen], tmp)
                res = dict(scenario=scen, backend=backend, server=server, round=rnd)
                try:
                    run.start()
                    res.update(measure(run, secs, warm, resume))
                except Exception as e:  # one failed run must not lose the others
                    res["error"] = str(e).replace("\n", " ")
                finally:
                    if "error" in res or res.get("dead"):
                        keep = os.path.join(BUILD, f"logs-{scen}-{backend}-{server}")
                        shutil.rmtree(keep, ignore_errors=True)
                        shutil.copytree(tmp, keep, ignore=shutil.ignore_patterns("state", "*.sock"))
                        res["logs"] = keep
                    run.stop()
                    shutil.rmtree(tmp, ignore_errors=True)
                results.append(res)
                print(f"  {scen} {backend:4} {server:9}{' #%d' % rnd if a.repeat > 1 else ''}: " + (
                    res.get("error") or
                    f"p99 {fmt_ms(res['p99_us'])} ms, gaps {res['gaps']}, "
                    f"dead {res['dead']} {res['first_error']} "
                    f"cpu {res['cpu_s']:.2f} s, rss {res['rss_peak_kib'] / 1024:.1f} MiB, "
                    f"source+viewers cpu {res['tools_cpu_s']:.2f} s, load {res['loadavg']:.1f}"
                    + (f", batch {statistics.median_high(res['batch_ms'])} ms"
                       if res.get("batch_ms") else "")),
                    file=sys.stderr, flush=True)
        print(table(results, scen), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
