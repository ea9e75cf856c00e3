"""vscd speaks systemd's notification protocol (service/sd_notify.c): READY=1 once it
serves, WATCHDOG=1 from its loop at half of WATCHDOG_USEC, RELOADING=1 then READY=1 around
the SIGHUP certificate reload, STOPPING=1 on SIGTERM. A real AF_UNIX datagram socket plays
systemd's side."""
import os
import signal
import socket
import subprocess
import time

import requests

from conftest import VSCD, Vscd


class NotifySocket:
    """A bound datagram socket, as systemd's: name is what NOTIFY_SOCKET carries."""

    def __init__(self, path=None, abstract=None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            self.sock.bind("\0" + abstract)
            self.name = "@" + abstract
        else:
            self.sock.bind(path)
            self.name = path

    def next(self, timeout):
        """The next message (str), or None after timeout seconds."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(4096).decode()
        except socket.timeout:
            return None

    def wait_for(self, prefix, timeout):
        """Messages up to and including the first that starts with prefix."""
        seen, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.next(max(0.01, deadline - time.monotonic()))
            if msg is None:
                break
            seen.append(msg)
            if msg.startswith(prefix):
                return seen
        raise AssertionError("no %r within %s s; got %r" % (prefix, timeout, seen))

    def close(self):
        self.sock.close()


def start_notified(tmp_path, notify, env):
    d = Vscd(str(tmp_path / "state"), env=dict(env, NOTIFY_SOCKET=notify.name))
    os.makedirs(d.state_dir)
    d.log = open(d.log_path, "ab")
    d.proc = subprocess.Popen(d.argv(), stdout=d.log, stderr=d.log, env=d.env)
    return d


def test_ready_after_listening_then_watchdog_reload_and_stopping(tmp_path):
    notify = NotifySocket(path=str(tmp_path / "notify"))
    d = start_notified(tmp_path, notify, {"WATCHDOG_USEC": "400000"})
    try:
        ready = notify.wait_for("READY=1", 30)[-1]
        assert "STATUS=serving HTTPS on 127.0.0.1:%d" % d.port in ready.split("\n")
        # READY=1 comes once vscd serves: the first request, made at once, is answered.
        r = requests.get(d.base + "/redfish/v1/", verify=False, timeout=5)
        assert r.status_code == 200 and r.json()["@odata.id"] == "/redfish/v1"
        # Half of 400 ms: about 10 WATCHDOG=1 in 2 s; at least 5 allows for a loaded machine.
        start, beats = time.monotonic(), 0
        while time.monotonic() - start < 2.0:
            msg = notify.next(0.5)
            assert msg in (None, "WATCHDOG=1"), msg
            beats += msg == "WATCHDOG=1"
        assert 5 <= beats <= 14, beats
        d.proc.send_signal(signal.SIGHUP)
        seen = [m for m in notify.wait_for("READY=1", 10) if m != "WATCHDOG=1"]
        assert len(seen) == 2, seen
        assert seen[0].startswith("RELOADING=1\nMONOTONIC_USEC="), seen
        assert seen[1].startswith("READY=1"), seen
        assert notify.wait_for("WATCHDOG=1", 2)  # the watchdog goes on after a reload
        d.proc.send_signal(signal.SIGTERM)
        notify.wait_for("STOPPING=1", 10)
        assert d.stop() == 0
    finally:
        d.stop()
        notify.close()


def test_abstract_socket_and_no_watchdog_unless_asked(tmp_path):
    notify = NotifySocket(abstract="vsc-test-%d-%d" % (os.getpid(), time.monotonic_ns()))
    d = start_notified(tmp_path, notify, {})
    try:
        assert notify.wait_for("READY=1", 30)[-1].startswith("READY=1")
        assert notify.next(1.0) is None  # no WATCHDOG_USEC: no watchdog messages
    finally:
        d.stop()
        notify.close()


def test_watchdog_meant_for_another_process_is_ignored(tmp_path):
    """WATCHDOG_PID names the process systemd watches; another one does not feed it."""
    notify = NotifySocket(path=str(tmp_path / "notify"))
    d = start_notified(tmp_path, notify, {"WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"})
    try:
        notify.wait_for("READY=1", 30)
        assert notify.next(1.0) is None
    finally:
        d.stop()
        notify.close()


def test_bad_notify_socket_is_refused(tmp_path):
    r = subprocess.run([VSCD, "--state-dir", str(tmp_path / "s"), "--listen", "127.0.0.1:0"],
                       env=dict(os.environ, NOTIFY_SOCKET="relative/path"),
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 1
    assert "NOTIFY_SOCKET" in r.stderr

