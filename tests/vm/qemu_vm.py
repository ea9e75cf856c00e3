"""A tiny Linux VM under QEMU for the tests (docs/tiny-vm.md): Debian's kernel, the busybox
initramfs of mkinitramfs.sh (`make vm-image`), its serial console ttyS0 on one chardev.

    vm = QemuVM(socket_path=port["BindPath"], scenario="login", host="web1")
    vm.start()
    ...                       # the console is wherever the chardev leads (vscd's port)
    vm.stop()                 # always kills and reaps; returns QEMU's exit status

Only the standard library: runs under /usr/bin/python3 with or without pytest. QEMU dies
with the process that started it (PR_SET_PDEATHSIG) and at `time_limit` at the latest.
"""
import ctypes
import glob
import os
import re
import shutil
import signal
import subprocess
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
IMAGE = os.path.join(ROOT, "build", "vm", "initramfs.cpio.gz")
QEMU = os.environ.get("QEMU", "qemu-system-x86_64")
SCENARIOS = ("login", "autologin", "shell", "panic", "poweroff", "reboot")


def qemu_binary():
    """The QEMU to run (env QEMU, else qemu-system-x86_64 on PATH), or None."""
    return shutil.which(QEMU)


def _version_key(path):
    return [int(n) if n.isdigit() else n for n in re.split(r"(\d+)", path)]


def find_kernel():
    """The kernel to boot: env VSC_VM_KERNEL, else the newest readable /boot/vmlinuz-*
    (Debian's linux-image-amd64), else None."""
    env = os.environ.get("VSC_VM_KERNEL")
    if env:
        return env if os.access(env, os.R_OK) else None
    found = [p for p in glob.glob("/boot/vmlinuz-*") if os.access(p, os.R_OK)]
    return max(found, key=_version_key) if found else None


def ensure_image():
    """Builds the initramfs with `make vm-image` (nothing to do when it is up to date);
    returns its path."""
    subprocess.run(["make", "-s", "--no-print-directory", "-C", ROOT, "vm-image"],
                   check=True, stdout=subprocess.DEVNULL)
    return IMAGE


def versions():
    """{"qemu": ..., "kernel": ..., "busybox": ...} of what the VM is made of."""
    out = {}
    q = qemu_binary()
    if q:
        first = subprocess.run([q, "--version"], capture_output=True, text=True).stdout
        out["qemu"] = first.splitlines()[0] if first else "?"
    k = find_kernel()
    out["kernel"] = os.path.basename(k) if k else None
    try:
        first = subprocess.run(["busybox"], capture_output=True, text=True).stdout
        out["busybox"] = first.splitlines()[0] if first else "?"
    except OSError:
        out["busybox"] = None
    return out


def _die_with_parent():
    """preexec_fn: SIGKILL QEMU when its parent dies (prctl PR_SET_PDEATHSIG)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)


def _own_group_and_die_with_parent():
    """preexec_fn: as _die_with_parent, in a process group of its own (a terminal's Ctrl-C
    reaches the parent only, which then stops QEMU in its own order)."""
    os.setpgid(0, 0)
    _die_with_parent()


class QemuVM:
    """One QEMU process whose ttyS0 is bound to exactly one of:
    - socket_path: a Unix socket QEMU connects to as a client and reconnects to
      (`-chardev socket,id=s0,path=P,reconnect=1`): vscd's unix backend;
    - device_path: a terminal QEMU opens (`-chardev serial,id=s0,path=P`): a pty such as
      vscd's pty backend's BindPath, or a tty.

    scenario and host go to the kernel command line (vsc.scenario=, vsc.host=) with
    console=ttyS0 and the kernel's normal verbosity. no_reboot adds -no-reboot (QEMU exits
    where the guest would reset). accel: env VSC_VM_ACCEL, else "tcg" ("kvm" on a real host).
    time_limit: QEMU is killed that many seconds after start(), whatever happens.
    QEMU's own messages go to log_path (default: discarded). own_group: QEMU gets a process
    group of its own, out of reach of the terminal's Ctrl-C (make demo stops it itself)."""

    def __init__(self, socket_path=None, device_path=None, scenario="login", host="vsc-vm",
                 accel=None, memory_mib=256, no_reboot=False, time_limit=60.0, append="",
                 extra_args=(), kernel=None, initrd=None, log_path=None, own_group=False):
        if (socket_path is None) == (device_path is None):
            raise ValueError("give exactly one of socket_path and device_path")
        if scenario not in SCENARIOS:
            raise ValueError("scenario must be one of %s" % (SCENARIOS,))
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]{0,62}", host):
            raise ValueError("host name %r" % host)
        self.socket_path = socket_path
        self.device_path = device_path
        self.scenario = scenario
        self.host = host
        # tcg here (this /dev/kvm cannot boot a stock kernel); VSC_VM_ACCEL=kvm where it can.
        self.accel = accel or os.environ.get("VSC_VM_ACCEL", "tcg")
        self.memory_mib = memory_mib
        self.no_reboot = no_reboot
        self.time_limit = time_limit
        self.append = append
        self.extra_args = list(extra_args)
        self.kernel = kernel or find_kernel()
        self.initrd = initrd or IMAGE
        self.log_path = log_path
        self.own_group = own_group
        self.proc = None
        self.started_at = None
        self._timer = None
        self.timed_out = False

    def chardev(self):
        """The -chardev value for ttyS0 (QEMU option values double their commas)."""
        if self.socket_path is not None:
            return "socket,id=s0,path=%s,reconnect=1" % self.socket_path.replace(",", ",,")
        return "serial,id=s0,path=%s" % self.device_path.replace(",", ",,")

    def cmdline(self):
        parts = ["console=ttyS0", "vsc.host=" + self.host, "vsc.scenario=" + self.scenario]
        if self.append:
            parts.append(self.append)
        return " ".join(parts)

    def argv(self):
        qemu = qemu_binary()
        if not qemu:
            raise RuntimeError("%s not found (scripts/deps test installs qemu-system-x86)" % QEMU)
        if not self.kernel:
            raise RuntimeError("no readable kernel /boot/vmlinuz-* (linux-image-amd64); "
                               "or set VSC_VM_KERNEL")
        if not os.access(self.initrd, os.R_OK):
            raise RuntimeError("no initramfs %s: run `make vm-image`" % self.initrd)
        # graphics=off: no VGA, so SeaBIOS writes to the serial port (sercon), as a
        # -nographic VM's firmware does.
        args = [qemu, "-accel", self.accel, "-m", str(self.memory_mib), "-nodefaults",
                "-no-user-config", "-display", "none", "-machine", "graphics=off",
                "-kernel", self.kernel, "-initrd", self.initrd, "-append", self.cmdline(),
                "-chardev", self.chardev(), "-serial", "chardev:s0"]
        if self.no_reboot:
            args.append("-no-reboot")
        return args + self.extra_args

    def start(self):
        assert self.proc is None, "already started"
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log,
                                         preexec_fn=_own_group_and_die_with_parent
                                         if self.own_group else _die_with_parent)
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        self.started_at = time.monotonic()
        self._timer = threading.Timer(self.time_limit, self._expire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def _expire(self):
        proc = self.proc
        if proc is not None and proc.poll() is None:
            self.timed_out = True
            proc.kill()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait(self, timeout):
        """Waits up to `timeout` s for QEMU to exit on its own (a poweroff; a reset with
        no_reboot); returns its exit status, or None if it still runs."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def elapsed(self):
        return time.monotonic() - self.started_at if self.started_at else 0.0

    def stop(self):
        """Kills QEMU (if it still runs) and reaps it; returns its exit status. Safe to
        call twice and after QEMU exited."""
        if self._timer:
            self._timer.cancel()
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.kill()
        return proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
