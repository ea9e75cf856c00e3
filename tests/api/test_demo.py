"""`make demo` (scripts/demo.py): vscd and three tiny QEMU VMs registered through the real
allocate command; the dashboard answers with the printed credentials; the VMs boot and log
in by themselves; app1 panics after a while; Ctrl-C to its process group (what a terminal sends) stops everything, leaving no
process, no port and no state folder behind."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import requests

from conftest import VSCD, free_port
from helpers_ports import wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "vm"))
import qemu_vm  # noqa: E402

pytestmark = pytest.mark.skipif(
    not qemu_vm.qemu_binary() or not qemu_vm.find_kernel(),
    reason="QEMU or a readable /boot/vmlinuz-* missing (`scripts/deps test` installs them)")

PANIC_AFTER_S = 4


def read_banner(proc, timeout=60):
    """The demo's output up to the last banner line; fails if it exits or takes too long."""
    out = ""
    deadline = time.time() + timeout
    os.set_blocking(proc.stdout.fileno(), False)
    while "Ctrl-C stops" not in out:
        assert proc.poll() is None, "demo exited %s:\n%s" % (proc.returncode, out)
        assert time.time() < deadline, "no banner in %ds:\n%s" % (timeout, out)
        chunk = proc.stdout.read()
        if chunk:
            out += chunk.decode()
        else:
            time.sleep(0.1)
    return out


def processes_mentioning(text):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if text.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def test_demo_starts_three_vms_and_ctrl_c_leaves_nothing(tmp_path):
    qemu_vm.ensure_image()
    port = free_port()
    proc = subprocess.Popen(
        ["/usr/bin/python3", os.path.join(ROOT, "scripts", "demo.py"), "--vscd", VSCD,
         "--listen", "127.0.0.1:%d" % port, "--panic-after", str(PANIC_AFTER_S),
         "--for", "300"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    tmp = None
    try:
        out = read_banner(proc)
        url = re.search(r"dashboard +(https://\S+)", out).group(1)
        password = re.search(r"password +(\S+)", out).group(1)
        tmp = re.search(r"state +(/tmp/vsc-demo-\S+)", out).group(1)
        assert url == "https://127.0.0.1:%d/" % port
        s = requests.Session()
        s.verify = False
        s.auth = ("admin", password)
        page = s.get(url, timeout=5)
        assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
        systems = s.get(url + "redfish/v1/Systems", timeout=5).json()["Members"]
        assert len(systems) == 3
        by_host = {}
        for m in systems:
            body = s.get(url.rstrip("/") + m["@odata.id"], timeout=5).json()
            by_host[body["HostName"]] = m["@odata.id"]
        assert sorted(by_host) == ["app1", "db1", "web1"]

        def state(host):
            return s.get(url.rstrip("/") + by_host[host], timeout=5).json()
        for host in ("web1", "db1"):
            wait_for(lambda h=host: state(h)["Oem"]["Vsc"].get("ConsoleState") == "Running",
                     timeout=90, interval=0.5, what=host + " Running")
            # Logged in by itself: the root shell's prompt is on the console.
            t = s.get(url.rstrip("/") + by_host[host] + "/LogServices/Console/Oem/Vsc/Transcript",
                      timeout=5).content
            assert b"starting httpd ... ok" in t and b"login: root (automatic login)" in t
            wait_for(lambda h=host: ("root@%s:~# " % h).encode() in s.get(
                url.rstrip("/") + by_host[h] + "/LogServices/Console/Oem/Vsc/Transcript",
                timeout=5).content, timeout=30, interval=0.5, what=host + "'s shell prompt")
        # app1 boots, crashes PANIC_AFTER_S later, reboots (panic=5): its console LogService
        # keeps the panic whatever the state is when we look.
        entries_uri = url.rstrip("/") + by_host["app1"] + "/LogServices/Console/Entries"

        def panicked():
            for m in s.get(entries_uri, timeout=5).json()["Members"]:
                if s.get(url.rstrip("/") + m["@odata.id"], timeout=5).json()[
                        "MessageId"].endswith("ConsolePanic"):
                    return True
            return False
        wait_for(panicked, timeout=90, interval=0.5, what="app1's panic")
        assert processes_mentioning(tmp), "the VMs and vscd run with the demo's folder"
    finally:
        # What a terminal's Ctrl-C does: SIGINT to the foreground process group.
        os.killpg(proc.pid, signal.SIGINT)
        try:
            rest, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    rest = rest.decode()
    assert proc.returncode == 0, rest
    assert "stopping (SIGINT)" in rest and rest.rstrip().endswith("nothing left running"), rest
    assert not os.path.exists(tmp)
    assert processes_mentioning(tmp) == []
    with pytest.raises(requests.ConnectionError):
        requests.get(url, verify=False, timeout=2)
