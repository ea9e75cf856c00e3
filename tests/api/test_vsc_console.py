"""vsc-console, the terminal client (client/, docs/vsc-console.1), against the real daemon:
the sanitizer build runs in a pseudo-terminal as a user would run it; a fake VM sits on the
other end of a unix port."""
import errno
import fcntl
import os
import re
import select
import shutil
import signal
import subprocess
import termios
import time

import pytest

from conftest import ADMIN_PASSWORD, ROOT, Client, Vscd
from helpers_ports import (FakeUnixVM, allocate_ok, members, port_oem, port_uri, short_dir,
                           vscd_factory, wait_for, wait_port_field, wait_port_state)

VSC_CONSOLE = os.environ.get("VSC_CONSOLE", os.path.join(ROOT, "build", "san", "vsc-console"))
SESSIONS = "/redfish/v1/SessionService/Sessions"


class Console:
    """vsc-console on a pty of its own (its controlling terminal, so /dev/tty works)."""

    def __init__(self, v, args, user="admin", password=ADMIN_PASSWORD, env=None,
                 insecure=True):
        self.master, self.slave = os.openpty()
        # a cooked terminal as a shell leaves it, to compare with after the exit
        self.before = termios.tcgetattr(self.slave)
        e = {k: val for k, val in os.environ.items() if not k.startswith("VSC_")}
        e["VSC_URL"] = v.base
        e["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0"
        if user is not None:
            e["VSC_USER"] = user
        if password is not None:
            e["VSC_PASSWORD"] = password
        e.update(env or {})
        argv = [VSC_CONSOLE] + (["--insecure"] if insecure else []) + list(args)

        def ctty():
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(argv, stdin=self.slave, stdout=self.slave,
                                     stderr=self.slave, env=e, start_new_session=True,
                                     preexec_fn=ctty, close_fds=True)
        self.buf = b""

    def _read_some(self, timeout):
        r, _, _ = select.select([self.master], [], [], max(0.0, min(timeout, 0.2)))
        if r:
            try:
                self.buf += os.read(self.master, 65536)
            except OSError as e:
                if e.errno != errno.EIO:
                    raise

    def read_until(self, needle, timeout=10.0):
        deadline = time.time() + timeout
        while needle not in self.buf:
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError("%r not shown in %.1fs; the terminal shows:\n%r (exit %s)"
                                     % (needle, timeout, self.buf[-2000:], self.proc.poll()))
            self._read_some(left)
        return self.buf

    def read_for(self, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline:
            self._read_some(deadline - time.time())
        return self.buf

    def type(self, data):
        os.write(self.master, data)

    def wait(self, timeout=15.0):
        """Waits for the exit (reading the terminal meanwhile); returns the exit code."""
        deadline = time.time() + timeout
        while self.proc.poll() is None:
            if time.time() >= deadline:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("vsc-console did not exit in %.1fs; the terminal shows:\n%r"
                                     % (timeout, self.buf[-2000:]))
            self._read_some(0.05)
        self.read_for(0.1)
        text = self.buf.decode(errors="replace")
        assert "AddressSanitizer" not in text and "runtime error:" not in text, text
        return self.proc.returncode

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for fd in (self.master, self.slave):
            os.close(fd)


@pytest.fixture(scope="module")
def v():
    gen = vscd_factory()
    factory = next(gen)
    yield factory()
    next(gen, None)


@pytest.fixture
def consoles():
    opened = []

    def start(v, args, **kw):
        c = Console(v, args, **kw)
        opened.append(c)
        return c
    yield start
    for c in opened:
        c.close()


_n = [0]


def vm(v, host=None):
    """A VM with one unix port and a fake VM connected; returns (allocation, port id, vm)."""
    _n[0] += 1
    host = host or "web%d.example" % _n[0]
    a = allocate_ok(v.admin, name="cli%d" % _n[0], Backend="unix", HostName=host)
    port = a["Ports"][0]
    fake = FakeUnixVM.connect_retry(port["BindPath"])
    wait_port_state(v.admin, port["Id"], "Connected")
    a["host"] = host
    return a, port["Id"], fake


def session_ids(v):
    return set(members(v.admin, SESSIONS))


def attached(v, port_id, n):
    wait_port_field(v.admin, port_id, "AttachedClients", n)


def attach(consoles, v, pid, args, n=1, **kw):
    """Starts vsc-console and waits until vscd counts it among the port's n clients."""
    c = consoles(v, args, **kw)
    if "-q" not in args:
        c.read_until(b"[vsc: connected to")
    attached(v, pid, n)
    return c


def detach(c):
    c.type(b"\r&.")
    assert c.wait() == 0, c.buf
    assert termios.tcgetattr(c.slave) == c.before, "terminal not restored"


def test_attach_by_host_name_both_ways_and_detach(v, consoles):
    a, pid, fake = vm(v)
    before = session_ids(v)
    c = attach(consoles, v, pid, [a["host"]], 1)
    assert termios.tcgetattr(c.slave) != c.before  # raw mode while attached
    assert len(session_ids(v)) == len(before) + 1  # it logged in
    fake.send(b"login: ")
    c.read_until(b"login: ")
    c.type(b"root\r")
    fake.read_until(b"root\r")
    fake.send(b"root\r\n# ")
    c.read_until(b"root\r\n# ")
    detach(c)
    assert session_ids(v) == before  # its session is deleted at exit
    attached(v, pid, 0)
    fake.close()


def test_attach_by_port_and_escape_literal(v, consoles):
    a, pid, fake = vm(v)
    c = consoles(v, ["-p", pid, "-q"])
    attached(v, pid, 1)
    c.type(b"&&x & y\r")  # && at a line start sends one &; elsewhere & is plain
    fake.read_until(b"&x & y\r")
    assert b"[vsc: connected" not in c.read_for(0.2)  # -q
    detach(c)
    assert fake.read_for(0.3) == b"&x & y\r\r"  # the detach escape sent nothing
    fake.close()


def test_history_on_attach(v, consoles):
    a, pid, fake = vm(v)
    fake.send(b"earlier boot line\r\n")
    wait_for(lambda: port_oem(v.admin, pid).get("PortState") == "Connected")
    time.sleep(0.3)  # let vscd read it into the ring
    c = consoles(v, ["-H", "4096", a["host"]])
    c.read_until(b"earlier boot line\r\n")
    attached(v, pid, 1)
    detach(c)
    c2 = consoles(v, [a["host"]])  # without -H: the live end only
    c2.read_until(b"[vsc: connected")
    attached(v, pid, 1)
    assert b"earlier boot line" not in c2.read_for(0.5)
    detach(c2)
    fake.close()


def test_read_only_sends_nothing(v, consoles):
    a, pid, fake = vm(v)
    c = consoles(v, ["-r", a["host"]])
    c.read_until(b"(read-only)")
    attached(v, pid, 1)
    c.type(b"rm -rf /\r")
    c.read_until(b"[vsc: read-only (-r): input not sent]")
    assert fake.read_for(0.5) == b""
    fake.send(b"still watching\r\n")
    c.read_until(b"still watching")
    detach(c)
    assert fake.read_for(0.2) == b""
    fake.close()


def test_who_and_mode_escapes(v, consoles):
    a, pid, fake = vm(v)
    other = consoles(v, ["-r", "-q", a["host"]])
    attached(v, pid, 1)
    c = consoles(v, [a["host"]])
    c.read_until(b"[vsc: connected")
    attached(v, pid, 2)
    c.type(b"&w")
    out = c.read_until(b"<- you")
    assert b"2 connections; mode free use" in out, out
    assert out.count(b" admin (Administrator) since ") >= 2, out
    c.type(b"&?")
    c.read_until(b"detach")
    c.type(b"&m")  # free -> observe-only
    c.read_until(b"mode: observe-only held by admin (set by admin)")
    wait_for(lambda: port_oem(v.admin, pid)["Mode"] == "ObserveOnly", what="ObserveOnly")
    c.type(b"&m")  # -> private
    c.read_until(b"mode: private held by admin")
    oem = wait_for(lambda: (lambda o: o if o["Mode"] == "Private" else None)(port_oem(v.admin, pid)),
                   what="Private")
    assert oem["ModeHolder"] == "admin"
    c.type(b"&u")
    c.read_until(b"mode: free use (released by admin)")
    wait_for(lambda: port_oem(v.admin, pid)["Mode"] == "Free", what="Free")
    detach(c)
    detach(other)
    fake.close()


def test_refused_input_is_shown(v, consoles):
    a, pid, fake = vm(v)
    r = v.admin.patch(port_uri(pid), json={"Oem": {"Vsc": {"Mode": "Private"}}})
    assert r.status_code == 200, r.text
    # an Operator may not type while admin holds the port private
    acc = v.admin.post("/redfish/v1/AccountService/Accounts",
                       json={"UserName": "oper1", "Password": "oper-password-1",
                             "RoleId": "Operator"})
    assert acc.status_code == 201, acc.text
    c = consoles(v, [a["host"]], user="oper1", password="oper-password-1")
    c.read_until(b"[vsc: mode: private held by admin")
    c.type(b"x")
    c.read_until(b"[vsc: port is private by 'admin'; input not sent]")
    c.type(b"\r&p")  # the operator may not take private
    c.read_until(b"[vsc: not allowed")
    detach(c)
    assert fake.read_for(0.3) == b""
    assert v.admin.patch(port_uri(pid), json={"Oem": {"Vsc": {"Mode": "Free"}}}).status_code == 200
    fake.close()


def test_wrong_password_is_exit_3_with_the_message(v, consoles):
    a, pid, fake = vm(v)
    c = consoles(v, [a["host"]], password="not-the-password")
    assert c.wait() == 3
    assert b"vsc-console: login: " in c.buf and b"(HTTP 401)" in c.buf, c.buf
    assert termios.tcgetattr(c.slave) == c.before
    fake.close()


def test_password_prompt_on_the_terminal(v, consoles):
    a, pid, fake = vm(v)
    c = consoles(v, [a["host"]], password=None)
    c.read_until(b"Password for admin at ")
    c.type(ADMIN_PASSWORD.encode() + b"\n")
    c.read_until(b"[vsc: connected to")
    assert ADMIN_PASSWORD.encode() not in c.buf  # not echoed
    detach(c)
    fake.close()


def test_unknown_host_name_is_exit_1(v, consoles):
    before = session_ids(v)
    c = consoles(v, ["no-such-vm.example"])
    assert c.wait() == 1
    assert b"vsc-console: no VM named 'no-such-vm.example'" in c.buf, c.buf
    c2 = consoles(v, ["-p", "999999"])
    assert c2.wait() == 1
    assert b"no serial port '999999'" in c2.buf, c2.buf
    assert session_ids(v) == before  # deleted on error paths too


def test_man_page_renders_and_covers_every_option():
    page = os.path.join(ROOT, "docs", "vsc-console.1")
    r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", page], capture_output=True,
                       timeout=30)
    assert r.returncode == 0 and not r.stderr, r.stderr
    text = subprocess.run(["man", "-l", page], capture_output=True, timeout=30,
                          env=dict(os.environ, MANWIDTH="200", MAN_KEEP_FORMATTING="")).stdout
    text = text.decode().replace("\u2010", "-")
    helptext = subprocess.run([VSC_CONSOLE, "--help"], capture_output=True, timeout=30)
    assert helptext.returncode == 0
    options = re.findall(r"(--[a-z-]+)", helptext.stdout.decode())
    assert len(options) >= 10
    for opt in options:
        assert opt in text, opt
    for word in ("EXIT STATUS", "ENVIRONMENT", "ESCAPES", "EXAMPLES", "VSC_TOKEN", "SIGWINCH"):
        assert word in text, word


def test_usage_is_exit_2(v, consoles):
    for args in ([], ["-H", "x", "vm"], ["-e", "ab", "vm"], ["-p", "1", "vm"]):
        c = consoles(v, args)
        assert c.wait() == 2, (args, c.buf)


def test_tls_verification(v, consoles):
    a, pid, fake = vm(v)
    c = consoles(v, [a["host"]], insecure=False)
    assert c.wait() == 1
    assert b"TLS" in c.buf and b"--insecure" in c.buf, c.buf
    cert = os.path.join(v.state_dir, "tls", "cert.pem")
    c2 = consoles(v, ["--cacert", cert, a["host"]], insecure=False)
    c2.read_until(b"[vsc: connected to")
    attached(v, pid, 1)
    detach(c2)
    fake.close()


def test_token_from_environment_is_kept(v, consoles):
    a, pid, fake = vm(v)
    token, uri = Client(v.base).login("admin", ADMIN_PASSWORD)
    c = consoles(v, [a["host"]], user=None, password=None, env={"VSC_TOKEN": token})
    c.read_until(b"[vsc: connected to")
    detach(c)
    assert uri in session_ids(v)  # not ours to delete
    assert Client(v.base, token=token).delete(uri).status_code in (200, 204)
    bad = consoles(v, [a["host"]], user=None, password=None, env={"VSC_TOKEN": "nope"})
    assert bad.wait() == 3, bad.buf
    fake.close()


def test_signal_restores_the_terminal_and_logs_out(v, consoles):
    a, pid, fake = vm(v)
    before = session_ids(v)
    c = attach(consoles, v, pid, [a["host"]], 1)
    c.proc.send_signal(signal.SIGWINCH)  # a resize changes nothing
    c.type(b"still here\r")
    fake.read_until(b"still here\r")
    c.proc.send_signal(signal.SIGTERM)
    assert c.wait() == 1
    assert termios.tcgetattr(c.slave) == c.before
    assert session_ids(v) == before
    attached(v, pid, 0)
    fake.close()


def test_the_terminal_is_left_blocking_on_every_way_out(v, consoles):
    """The terminal's open file is the shell's too: O_NONBLOCK, set while attached (the
    event loop reads it), is cleared again at a detach, a signal and the server's close, or
    the next program on that terminal reads EAGAIN."""
    def blocking(c):
        return not fcntl.fcntl(c.slave, fcntl.F_GETFL) & os.O_NONBLOCK

    a, pid, fake = vm(v)
    c = attach(consoles, v, pid, [a["host"]], 1)
    detach(c)
    assert blocking(c), "O_NONBLOCK left set after a detach"
    c = attach(consoles, v, pid, [a["host"]], 1)
    c.proc.send_signal(signal.SIGTERM)
    assert c.wait() == 1
    assert blocking(c), "O_NONBLOCK left set after a signal"
    attached(v, pid, 0)
    c = attach(consoles, v, pid, [a["host"]], 1)
    r = v.admin.post("/redfish/v1/Managers/bmc/Actions/Oem/Vsc.FreePorts",
                     json={"VMUUID": a["System"]["@odata.id"].rsplit("/", 1)[1]})
    assert r.status_code == 200, r.text
    assert c.wait() == 1
    assert blocking(c), "O_NONBLOCK left set after the server closed the console"
    fake.close()


def test_port_freed_while_attached(v, consoles):
    a, pid, fake = vm(v)
    c = attach(consoles, v, pid, [a["host"]], 1)
    r = v.admin.post("/redfish/v1/Managers/bmc/Actions/Oem/Vsc.FreePorts",
                     json={"VMUUID": a["System"]["@odata.id"].rsplit("/", 1)[1]})
    assert r.status_code == 200, r.text
    assert c.wait() == 1
    assert b"[vsc: the server closed the console: 1001" in c.buf, c.buf
    assert termios.tcgetattr(c.slave) == c.before
    fake.close()


def test_refused_console_prints_the_redfish_message(v, consoles):
    a, pid, fake = vm(v)
    acc = v.admin.post("/redfish/v1/AccountService/Accounts",
                       json={"UserName": "ro1", "Password": "ro-password-1", "RoleId": "ReadOnly"})
    assert acc.status_code == 201, acc.text
    rule = v.admin.post(port_uri(pid) + "/Oem/Vsc/AccessRules",
                        json={"UserName": "ro1", "Right": "Watch", "Effect": "Deny"})
    assert rule.status_code == 201, rule.text
    before = session_ids(v)
    c = consoles(v, ["-p", pid], user="ro1", password="ro-password-1")
    assert c.wait() == 1
    assert b"vsc-console: console: There are insufficient privileges" in c.buf, c.buf
    assert b"(HTTP 403)" in c.buf, c.buf
    assert session_ids(v) == before
    fake.close()


def test_a_large_paste_arrives_whole(v, consoles):
    a, pid, fake = vm(v)
    c = attach(consoles, v, pid, ["-q", a["host"]])
    line = b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-.\r"  # 64 bytes
    paste = line * 2048  # 128 KiB, more than the client's and the port's input buffers
    view = memoryview(paste)
    deadline = time.time() + 30
    while view or len(fake.buf) < len(paste):
        assert time.time() < deadline, (len(view), len(fake.buf))
        if view:
            _, w, _ = select.select([], [c.master], [], 0.05)
            if w:
                n = os.write(c.master, view[:4096])
                view = view[n:]
        fake._read_some(0.01)
        c._read_some(0)
    got = fake.buf
    assert got == paste, (len(got), len(paste))
    assert b"input not sent" not in c.buf, c.buf[-500:]
    detach(c)
    fake.close()


def test_end_of_piped_input_detaches(v):
    """Input from a pipe (a script's printf, a file through cat): everything in it reaches
    the VM, then its end detaches with status 0 as the end of any input does; an empty pipe
    too. (libwebsockets closes a pipe it sees hung up without telling: vsc-console waited
    forever.)"""
    a, pid, fake = vm(v)
    env = {k: val for k, val in os.environ.items() if not k.startswith("VSC_")}
    env.update(VSC_URL=v.base, VSC_USER="admin", VSC_PASSWORD=ADMIN_PASSWORD)
    big = bytes(range(1, 256)) * 1024  # 255 KiB: more than a pipe and the input buffer hold
    # The last: an escape character at a line start, which no command can follow now.
    for data, esc in ((b"", "none"), (b"piped line\r", "none"), (big, "none"),
                      (b"ls\r&", "&")):
        r, w = os.pipe()
        p = subprocess.Popen([VSC_CONSOLE, "--insecure", "-q", "-e", esc, "-p", pid],
                             stdin=r, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env=env)
        os.close(r)
        os.set_blocking(w, False)
        view = memoryview(data)
        deadline = time.time() + 30
        while view:
            assert time.time() < deadline, (len(data), len(view))
            _, ready, _ = select.select([], [w], [], 0.05)
            if ready:
                view = view[os.write(w, view[:65536]):]
            fake._read_some(0.01)
        os.close(w)
        try:
            rc = p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise AssertionError("still attached after the end of %d bytes of piped input"
                                 % len(data))
        assert rc == 0, p.stderr.read()
        p.stderr.close()
        deadline = time.time() + 10
        while len(fake.buf) < len(data) and time.time() < deadline:
            fake._read_some(0.1)
        assert fake.take() == data, len(data)
    fake.close()


def test_plain_http_service(consoles):
    d = short_dir()
    v = Vscd(os.path.join(d, "s"), http=True).start()
    try:
        token, _ = Client(v.base).login("admin", ADMIN_PASSWORD)
        v.admin = Client(v.base, token=token)
        a, pid, fake = vm(v)
        c = attach(consoles, v, pid, ["-p", pid], insecure=False)
        fake.send(b"over plain http\r\n")
        c.read_until(b"over plain http")
        detach(c)
        fake.close()
    finally:
        v.stop()
        shutil.rmtree(d, ignore_errors=True)
