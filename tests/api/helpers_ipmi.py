"""Shared helpers for the IPMI socket tests (test_ipmi_socket.py) and the real-client tests
(test_ipmi_sim.py): vscd's local IPMI socket protocol (docs/ipmi-oem.md, "The local
socket"), and OpenIPMI's ipmi_sim with the contrib/ipmi_sim plugin, driven by ipmitool."""
import os
import shutil
import socket
import struct
import subprocess
import time
import uuid as uuidlib

from helpers_ports import short_dir

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
PLUGIN = os.environ.get("VSC_IPMI_SIM_SO",
                        os.path.join(ROOT, "build", "ipmi_sim", "vsc_ipmi_sim.so"))
IANA = bytes.fromhex("d97e00")
NETFN = 0x2E
IPMB, LAN = 0, 1
USER, PASSWORD = "admin", "ipmi-password"


def uuid_bytes(u):
    return uuidlib.UUID(u).bytes


def allocate_data(u, count, backend=1, name=None):
    data = IANA + uuid_bytes(u) + bytes([count, backend])
    if name is not None:
        data += bytes([len(name)]) + name.encode()
    return data


def vscd_with_socket(make_vscd):
    """A vscd (from a VscdFactory) listening on its IPMI socket, at v.sock; the socket's
    folder goes with the factory's at teardown."""
    d = short_dir()
    make_vscd.dirs.append(d)
    v = make_vscd(["--set", "ipmi_socket=" + os.path.join(d, "ipmi.sock")])
    v.sock = os.path.join(d, "ipmi.sock")
    return v


# ---- the socket protocol ----------------------------------------------------------------------


def frame(netfn, cmd, transport, data, resp_max=0):
    body = bytes([netfn, cmd, transport, resp_max]) + data
    return struct.pack("<H", len(body)) + body


def connect(path, timeout=5):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise EOFError("closed after %d of %d bytes" % (len(out), n))
        out += chunk
    return out


def read_response(s):
    (n,) = struct.unpack("<H", recv_exact(s, 2))
    return recv_exact(s, n)


def request(path, cmd, data, transport=LAN, netfn=NETFN, resp_max=0):
    """One request on a new connection: (cc, data after the cc)."""
    with connect(path) as s:
        s.sendall(frame(netfn, cmd, transport, data, resp_max))
        r = read_response(s)
    return r[0], r[1:]


def closed_by_peer(s, timeout=5):
    """True when the peer closes the connection (EOF or reset) within timeout."""
    s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


# ---- ipmi_sim and ipmitool --------------------------------------------------------------------


def tools_present():
    return shutil.which("ipmi_sim") and shutil.which("ipmitool")


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class IpmiSim:
    """ipmi_sim with one BMC (0x20), LAN on 127.0.0.1, our plugin forwarding to `sock`."""

    def __init__(self, sock, plugin_options=""):
        assert os.path.exists(PLUGIN), "%s is missing: make %s" % (
            PLUGIN, os.path.relpath(PLUGIN, ROOT))
        self.dir = short_dir()
        self.port = free_udp_port()
        self.sock = sock
        conf = os.path.join(self.dir, "lan.conf")
        with open(conf, "w") as f:
            f.write(self.lan_conf(plugin_options))
        emu = os.path.join(self.dir, "bmc.emu")
        with open(emu, "w") as f:
            f.write("mc_setbmc 0x20\n"
                    "mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\n"
                    "mc_enable 0x20\n")
        os.mkdir(os.path.join(self.dir, "state"))
        self.log_path = os.path.join(self.dir, "ipmi_sim.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            ["ipmi_sim", "-c", conf, "-f", emu, "-n", "-s", os.path.join(self.dir, "state")],
            stdout=self.log, stderr=self.log, cwd=self.dir)
        self.wait_ready()

    def lan_conf(self, plugin_options):
        auths = "none md2 md5 straight"
        lines = ['name "vsc"', "set_working_mc 0x20", "  startlan 1",
                 "    addr 127.0.0.1 %d" % self.port, "    priv_limit admin"]
        lines += ["    allowed_auths_%s %s" % (p, auths)
                  for p in ("callback", "user", "operator", "admin")]
        lines += ["    guid a123456789abcdefa123456789abcdef", "  endlan",
                  '  user 2 true "%s" "%s" admin 10 %s' % (USER, PASSWORD, auths),
                  'loadlib "%s" "socket=%s %s"' % (PLUGIN, self.sock, plugin_options)]
        return "\n".join(lines) + "\n"

    def wait_ready(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, "ipmi_sim exited:\n" + self.read_log()
            if self.ipmitool("mc", "info").returncode == 0:
                return
            time.sleep(0.1)
        raise AssertionError("ipmi_sim did not answer:\n" + self.read_log())

    def ipmitool(self, *args, wait_s=1):
        """ipmitool over RMCP+ (cipher suite 3, no suite discovery), one try of wait_s."""
        argv = ["ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p", str(self.port),
                "-U", USER, "-P", PASSWORD, "-C", "3", "-R", "1", "-N", str(wait_s)]
        return subprocess.run(argv + list(args), capture_output=True, text=True,
                              timeout=wait_s + 10)

    def raw(self, cmd, data, wait_s=1):
        """`ipmitool raw 0x2e cmd data...`: (completion code, response bytes after it)."""
        args = ["raw", "0x%02x" % NETFN, "0x%02x" % cmd] + ["0x%02x" % b for b in data]
        r = self.ipmitool(*args, wait_s=wait_s)
        if r.returncode == 0:
            return 0, bytes.fromhex(r.stdout.replace("\n", " "))
        marker = "rsp=0x"
        assert marker in r.stderr, (r.returncode, r.stdout, r.stderr)
        return int(r.stderr.split(marker, 1)[1][:2], 16), b""

    def read_log(self):
        with open(self.log_path, "r", errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
