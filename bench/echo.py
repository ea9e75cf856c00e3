#!/usr/bin/python3
"""Typing echo latency: vscd beside conserver and ConMan, while the console prints.

One console, one user typing on it through each server's own client protocol, read-write:
vscd's console WebSocket (HTTP and HTTPS), conserver's (console(1)'s, attached rather
than spying) and ConMan's (conman without -m: CONNECT). The VM behind the console is a
Unix socket in this process: it prints a 32-byte line every 2.8 ms (115200 baud,
--rate 0: nothing) and echoes every byte it receives at once. The user types a 5-byte
key (`k0001`, ...) every --interval seconds and waits for its echo in the stream; echo
latency is the time from the send to the echo's arrival (both in this process).

    bench/echo.py [--servers vscd-http,vscd-tls,conserver,conman] [--keys N]
                  [--interval S] [--rate BYTES_PER_S] [--vscd PATH] [--json FILE]

Needs `scripts/deps bench` (conserver-server, conman) and the release vscd (`make build`).
Loopback only; every process it starts is stopped and its temporary folder removed.
"""
import argparse
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import requests
import urllib3
import websocket

from fanout import BAUD_BPS, PASSWORD, free_port, wait_port  # same folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINE = 32
# Where these are set they override verify=False for vscd's self-signed certificate.
for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
    os.environ.pop(var, None)
urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)


class VM:
    """The console's far end on a Unix socket: prints lines at `rate` bytes/s, echoes input.
    listen=True: the server connects to it (conserver, ConMan); else it connects (vscd)."""

    def __init__(self, path, rate, listen):
        self.path, self.rate, self.stop = path, rate, threading.Event()
        self.sock = None
        self.lock = threading.Lock()
        self.lsock = None
        if listen:
            self.lsock = socket.socket(socket.AF_UNIX)
            self.lsock.bind(path)
            self.lsock.listen(1)
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        if self.lsock:
            self.sock, _ = self.lsock.accept()
        else:
            end = time.time() + 10
            while True:
                try:
                    s = socket.socket(socket.AF_UNIX)
                    s.connect(self.path)
                    self.sock = s
                    break
                except OSError:
                    s.close()
                    if time.time() > end:
                        return
                    time.sleep(0.05)
        threading.Thread(target=self.echo, daemon=True).start()
        if self.rate:
            self.print_lines()

    def send(self, data):
        with self.lock:
            self.sock.sendall(data)

    def print_lines(self):
        period, i, due = LINE / self.rate, 0, time.monotonic()
        while not self.stop.is_set():
            self.send(b"#%030d\n" % i)
            i += 1
            due += period
            time.sleep(max(0.0, due - time.monotonic()))

    def echo(self):
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                return
            self.send(data)

    def close(self):
        self.stop.set()
        for s in (self.sock, self.lsock):
            if s:
                s.close()


class Raw:
    """A plain TCP client stream (conserver, ConMan)."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), 5)
        self.buf = b""

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(4096)
            if not chunk:
                raise RuntimeError("closed: %r" % self.buf)
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r").decode("latin-1")

    def send(self, data):
        self.s.sendall(data)

    def recv(self):
        if self.buf:
            out, self.buf = self.buf, b""
            return out
        data = self.s.recv(65536)
        if not data:
            raise RuntimeError("closed")
        return data

    def close(self):
        self.s.close()


class Ws:
    """vscd's console WebSocket: binary frames both ways."""

    def __init__(self, url, token):
        self.ws = websocket.create_connection(url, header=["X-Auth-Token: " + token],
                                              sslopt={"cert_reqs": ssl.CERT_NONE}, timeout=5)

    def send(self, data):
        self.ws.send_binary(data)

    def recv(self):
        while True:
            op, data = self.ws.recv_data()
            if op == websocket.ABNF.OPCODE_BINARY:
                return data

    def close(self):
        self.ws.close()


def start_vscd(tmp, tls, rate, vscd):
    port = free_port()
    argv = [vscd, "--state-dir", os.path.join(tmp, "state"), "--listen", "127.0.0.1:%d" % port,
            "--set", "log_level=error"] + ([] if tls else ["--insecure-http"])
    proc = subprocess.Popen(argv, env=dict(os.environ, VSC_ADMIN_PASSWORD=PASSWORD),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    base = "%s://127.0.0.1:%d" % ("https" if tls else "http", port)
    r = requests.post(base + "/redfish/v1/SessionService/Sessions", verify=False,
                      json={"UserName": "admin", "Password": PASSWORD})
    token = r.headers["X-Auth-Token"]
    r = requests.post(base + "/redfish/v1/Managers/bmc/Actions/Oem/Vsc.AllocatePorts",
                      verify=False, headers={"X-Auth-Token": token},
                      json={"VMUUID": str(uuid.uuid4()), "VMName": "echo", "PortCount": 1,
                            "Backend": "unix"})
    p = r.json()["Ports"][0]
    vm = VM(p["BindPath"], rate, listen=False)
    url = base.replace("http", "ws", 1) + \
        "/redfish/v1/Managers/bmc/SerialInterfaces/%s/Oem/Vsc/Console" % p["Id"]
    return proc, vm, lambda: Ws(url, token)


def start_conserver(tmp, rate):
    vm = VM(os.path.join(tmp, "c0.sock"), rate, listen=True)
    port = free_port()
    cf = os.path.join(tmp, "conserver.cf")
    with open(cf, "w") as f:
        f.write('config * { }\ndefault * { logfile ""; timestamp ""; master localhost; rw *; }\n'
                'access * { trusted 127.0.0.1; }\n'
                'console c0 { type uds; uds %s; }\n' % vm.path)
    open(os.path.join(tmp, "conserver.passwd"), "w").close()
    proc = subprocess.Popen(["conserver", "-C", cf, "-P", "conserver.passwd", "-p", str(port),
                             "-E", "-a", "a"], cwd=tmp, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_port(port)

    def login_and_call(conn, where):
        """conserver's greeting, login and call on the master or a group port; the
        answer to the call: the group's port from the master, the attach from a group."""
        for say in (b"login bench\r\n", b"call c0\r\n"):
            line = conn.line()
            if line != "ok":
                raise RuntimeError("conserver %s: %r" % (where, line))
            conn.send(say)
        return conn.line()

    def connect():
        m = Raw(port)
        group = int(login_and_call(m, "master"))
        m.close()
        c = Raw(group)
        line = login_and_call(c, "group")
        if line != "[attached]":  # read-write: the one user typing
            raise RuntimeError("conserver call: %r" % line)
        c.send(b"\x05c;")  # up, as console(1) tells it
        return c
    return proc, vm, connect


def start_conman(tmp, rate):
    vm = VM(os.path.join(tmp, "c0.sock"), rate, listen=True)
    port = free_port()
    cf = os.path.join(tmp, "conman.conf")
    with open(cf, "w") as f:
        f.write('SERVER keepalive=ON\nSERVER loopback=ON\nSERVER tcpwrappers=OFF\n'
                'SERVER pidfile="%s/conman.pid"\nSERVER port=%d\n'
                'CONSOLE name="c0" dev="unix:%s"\n' % (tmp, port, vm.path))
    proc = subprocess.Popen(["conmand", "-F", "-c", cf], cwd=tmp, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_port(port)

    def connect():
        c = Raw(port)
        c.send(b"HELLO USER='bench'\n")
        for say in (b"CONNECT CONSOLE='c0'\n", None):
            line = c.line()
            if not line.startswith("OK"):
                raise RuntimeError("conman: %r" % line)
            if say:
                c.send(say)
        return c
    return proc, vm, connect


def type_keys(client, keys, interval):
    """Sends each key, waits for its echo in the stream; latencies in ms."""
    lat, seen = [], b""
    for k in range(keys):
        key = b"k%04d" % k
        t0 = time.monotonic()
        client.send(key)
        while key not in seen:
            seen += client.recv()
            if time.monotonic() - t0 > 10:
                raise RuntimeError("no echo of %r in 10 s" % key)
        lat.append((time.monotonic() - t0) * 1000)
        seen = seen[seen.index(key) + len(key):]
        time.sleep(interval)
    return lat


def pct(sorted_ms, p):
    return sorted_ms[min(len(sorted_ms) - 1, int(p * len(sorted_ms)))]


def run(server, a):
    tmp = tempfile.mkdtemp(prefix="vsc-echo-", dir="/tmp")
    proc = vm = client = None
    try:
        if server.startswith("vscd"):
            proc, vm, connect = start_vscd(tmp, server == "vscd-tls", a.rate, a.vscd)
        elif server == "conserver":
            proc, vm, connect = start_conserver(tmp, a.rate)
        elif server == "conman":
            proc, vm, connect = start_conman(tmp, a.rate)
        else:
            raise SystemExit("unknown server " + server)
        end = time.time() + 10
        while vm.sock is None and time.time() < end:  # the console is connected
            time.sleep(0.05)
        time.sleep(0.5)
        client = connect()
        type_keys(client, 5, a.interval)  # warm-up
        lat = sorted(type_keys(client, a.keys, a.interval))
        return dict(server=server, keys=len(lat), p50=pct(lat, 0.5), p90=pct(lat, 0.9),
                    p99=pct(lat, 0.99), max=lat[-1], rate=a.rate)
    finally:
        if client:
            client.close()
        if vm:
            vm.close()
        if proc:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--servers", default="vscd-http,vscd-tls,conserver,conman")
    ap.add_argument("--keys", type=int, default=200)
    ap.add_argument("--interval", type=float, default=0.05, help="seconds between keys")
    ap.add_argument("--rate", type=int, default=BAUD_BPS,
                    help="the console's output in bytes/s (default: 115200 baud); 0: quiet")
    ap.add_argument("--vscd", default=os.path.join(ROOT, "build", "vscd"))
    ap.add_argument("--json")
    a = ap.parse_args()
    rows = []
    print("# echo: %d keys %.0f ms apart, console output %d B/s; %s" % (
        a.keys, a.interval * 1000, a.rate, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())))
    print("| server | keys | echo p50 ms | p90 ms | p99 ms | max ms |\n|---|---|---|---|---|---|")
    for server in a.servers.split(","):
        r = run(server, a)
        rows.append(r)
        print("| %s | %d | %.2f | %.2f | %.2f | %.2f |" % (
            server, r["keys"], r["p50"], r["p90"], r["p99"], r["max"]))
        sys.stdout.flush()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
