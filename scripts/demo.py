#!/usr/bin/python3
"""make demo: vscd and three tiny VMs to look at (README, "Demo").

Starts the release vscd on a fresh state folder, then plays the hypervisor: allocates one
serial port per VM through the real allocate command (the Redfish action
Vsc.AllocatePorts, as the libvirt hook does) and boots three tiny Linux VMs under QEMU
(tests/vm, docs/tiny-vm.md) on those ports. Each boots, prints its services starting, logs
root in by itself (as agetty --autologin does) and prints a heartbeat line every 30 s; app1's
kernel crashes after a while (sysrq c), then it reboots. Prints the dashboard's address and the credentials, then waits.

Ctrl-C (or SIGTERM, or --for SECONDS) stops it in order: the VMs, then their ports freed as
the hypervisor would when a VM ends, then vscd (SIGTERM), then the state folder removed.
Nothing is left running: every child also dies with this process (PR_SET_PDEATHSIG).

    scripts/demo.py [--listen ADDR:PORT] [--panic-after S] [--for S] [--vscd PATH]
"""
import argparse
import base64
import ctypes
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "vm"))
import qemu_vm  # noqa: E402

ALLOCATE = "/redfish/v1/Managers/bmc/Actions/Oem/Vsc.AllocatePorts"
FREE = "/redfish/v1/Managers/bmc/Actions/Oem/Vsc.FreePorts"
# (host name, kernel command line extra): app1's kernel crashes panic_after s after boot.
VMS = (("web1", ""), ("db1", ""), ("app1", "panic"))
DAY_S = 24 * 3600.0


class Service:
    """The vscd of the demo and the Redfish calls the hypervisor makes to it."""

    def __init__(self, vscd, state_dir, listen, password):
        self.listen = listen
        self.base = "https://" + listen.replace("0.0.0.0", "127.0.0.1")
        self.auth = "Basic " + base64.b64encode(("admin:" + password).encode()).decode()
        self.ctx = ssl.create_default_context()
        self.ctx.check_hostname = False
        self.ctx.verify_mode = ssl.CERT_NONE  # vscd's own self-signed certificate
        self.log_path = os.path.join(state_dir, "vscd.log")
        os.makedirs(state_dir)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [vscd, "--state-dir", state_dir, "--listen", listen], stdin=subprocess.DEVNULL,
                stdout=log, stderr=log, env=dict(os.environ, VSC_ADMIN_PASSWORD=password),
                preexec_fn=own_group_and_die_with_parent)

    def call(self, path, body=None, timeout=10):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, headers={
            "Authorization": self.auth, "Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self.ctx, timeout=timeout) as r:
            return json.load(r)

    def wait_ready(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit("demo: vscd exited (%s); its log:\n%s" % (
                    self.proc.returncode, self.log_tail()))
            try:
                return self.call("/redfish/v1/", timeout=2)
            except (urllib.error.URLError, ConnectionError, ssl.SSLError, TimeoutError):
                time.sleep(0.1)
        raise SystemExit("demo: vscd did not answer on %s; its log:\n%s" % (
            self.base, self.log_tail()))

    def allocate(self, host):
        vm_uuid = str(uuid.uuid4())
        answer = self.call(ALLOCATE, {"VMUUID": vm_uuid, "VMName": host, "HostName": host,
                                      "PortCount": 1, "Backend": "unix"})
        return vm_uuid, answer["Ports"][0]

    def free(self, vm_uuid):
        self.call(FREE, {"VMUUID": vm_uuid})

    def stop(self, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()

    def log_tail(self):
        with open(self.log_path, "r", errors="replace") as f:
            return f.read()[-3000:]


def own_group_and_die_with_parent():
    """preexec_fn: out of the terminal's Ctrl-C (the demo stops its children in order) and
    killed if the demo itself dies."""
    os.setpgid(0, 0)
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


def banner(svc, password, vms, state_dir, panic_after):
    url = "https://%s/" % svc.listen
    if svc.listen.startswith("0.0.0.0:"):
        url += "  (any address of this machine; here %s/)" % svc.base
    lines = ["", "vsc demo is running.", "",
             "  dashboard   %s" % url,
             "  user        admin",
             "  password    %s" % password, ""]
    for host, _uuid, port, _vm in vms:
        what = ("crashes %d s after booting, then reboots" % panic_after
                if host == "app1" else "boots, logs root in by itself")
        lines.append("  %-6s SerialInterfaces/%s (%s)  %s" % (host, port["Id"], port["BindPath"],
                                                             what))
    lines += ["", "  state       %s (removed when the demo stops)" % state_dir,
              "  curl -k -u admin:%s %sredfish/v1/Systems" % (password, svc.base + "/"), "",
              "Ctrl-C stops the VMs and vscd and leaves nothing running.", ""]
    print("\n".join(lines), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", default="127.0.0.1:8443", help="vscd's address (127.0.0.1:8443)")
    ap.add_argument("--panic-after", type=int, default=60,
                    help="seconds after boot before app1's kernel crashes (60)")
    ap.add_argument("--for", dest="duration", type=float, default=None,
                    help="stop by itself after this many seconds")
    ap.add_argument("--vscd", default=os.path.join(ROOT, "build", "vscd"))
    args = ap.parse_args()
    if not qemu_vm.qemu_binary() or not qemu_vm.find_kernel():
        raise SystemExit("demo: QEMU or a readable /boot/vmlinuz-* is missing "
                         "(`scripts/deps vm` installs them)")
    if not os.access(qemu_vm.IMAGE, os.R_OK):
        raise SystemExit("demo: %s is missing: make vm-image" % qemu_vm.IMAGE)

    stop = {"why": None}

    def on_signal(signum, _frame):
        stop["why"] = signal.Signals(signum).name

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    password = secrets.token_urlsafe(12)
    # Unix socket paths are limited to 108 bytes: a short folder under /tmp.
    tmp = tempfile.mkdtemp(prefix="vsc-demo-", dir="/tmp")
    svc, vms, rc = None, [], 0
    try:
        svc = Service(args.vscd, os.path.join(tmp, "state"), args.listen, password)
        svc.wait_ready()
        for host, extra in VMS:
            vm_uuid, port = svc.allocate(host)
            append = "panic=5 vsc.panic_after=%d" % args.panic_after if extra == "panic" else ""
            vm = qemu_vm.QemuVM(socket_path=port["BindPath"], scenario="autologin", host=host,
                                append=append, time_limit=30 * DAY_S, own_group=True,
                                log_path=os.path.join(tmp, "qemu-%s.log" % host))
            vms.append((host, vm_uuid, port, vm))
            vm.start()
        banner(svc, password, vms, tmp, args.panic_after)
        started = time.monotonic()
        while stop["why"] is None:
            if args.duration is not None and time.monotonic() - started >= args.duration:
                stop["why"] = "--for %g" % args.duration
                break
            if svc.proc.poll() is not None:
                print("demo: vscd exited (%s); its log:\n%s" % (svc.proc.returncode,
                                                                svc.log_tail()), flush=True)
                rc = 1
                break
            for host, _u, _p, vm in vms:
                if not vm.running():
                    print("demo: %s's QEMU exited (%s); see %s" % (
                        host, vm.stop(), vm.log_path), flush=True)
                    rc = 1
            if rc:
                break
            time.sleep(0.2)
    finally:
        # A second Ctrl-C must not cut the clean-up short; it takes a few seconds at most.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("demo: stopping (%s)" % (stop["why"] or "error"), flush=True)
        for host, vm_uuid, _port, vm in vms:
            vm.stop()
            try:
                if svc.proc.poll() is None:
                    svc.free(vm_uuid)  # what the hypervisor's hook does when a VM ends
            except (urllib.error.URLError, ConnectionError, ssl.SSLError, TimeoutError) as e:
                print("demo: freeing %s: %s" % (host, e), flush=True)
                rc = 1
        if svc is not None:
            code = svc.stop()
            if code not in (0, None):
                print("demo: vscd exited with %s" % code, flush=True)
                rc = rc or 1
        shutil.rmtree(tmp, ignore_errors=True)
        print("demo: stopped; nothing left running", flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
