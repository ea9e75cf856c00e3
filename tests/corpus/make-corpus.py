#!/usr/bin/python3
"""make-corpus.py [SCENARIO...] — records the console transcripts of tests/corpus (README.md).

For each scenario (default: all of login autologin panic poweroff reboot) it does what a hypervisor
does with vscd: allocates one unix port (Vsc.AllocatePorts), boots the tiny VM
(tests/vm/qemu_vm.py) with ttyS0 bound to the port's BindPath, records the console as vscd
serves it (the port's local console socket, attached before the VM starts), stops the VM,
frees the port, and writes the raw bytes to qemu-<scenario>.log here. vscd is the build's
(env VSCD, default build/san/vscd) on a free loopback port with --insecure-http and a
temporary state folder. Each VM is bounded to 60 s. The .states files are written by hand
from the transcripts, not by this script.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "api"))
sys.path.insert(0, os.path.join(ROOT, "tests", "vm"))

from conftest import ADMIN_PASSWORD, Client, Vscd  # noqa: E402
from helpers_ports import (ConsoleClient, allocate_ok, free, new_uuid,  # noqa: E402
                           wait_port_field)
from qemu_vm import QemuVM, ensure_image, versions  # noqa: E402

TIME_LIMIT = 60.0
FIRMWARE = b"SeaBIOS (version"
PROMPT = b"login: "


def at_prompt(boots):
    """Done once the VM's `boots`-th boot shows its login prompt."""
    return lambda buf, vm: buf.count(FIRMWARE) >= boots and buf.rstrip().endswith(b"login:")


def exited(buf, vm):
    return not vm.running()


# scenario: QemuVM arguments and when the recording ends.
SCENARIOS = {
    "login": (dict(), at_prompt(1)),
    # Logged in by itself, as agetty --autologin does: up to the root shell's prompt.
    "autologin": (dict(), lambda buf, vm: b"root@vsc-vm:~# " in buf),
    # panic=1: the kernel resets the VM a second after the crash; the next boot logs in.
    "panic": (dict(append="panic=1"), at_prompt(2)),
    "poweroff": (dict(), exited),
    # reboot -f, then a second boot up to its login prompt.
    "reboot": (dict(), at_prompt(2)),
}


def record(admin, scenario, out_dir, accel):
    kwargs, done = SCENARIOS[scenario]
    uuid = new_uuid()
    port = allocate_ok(admin, uuid=uuid, name="corpus-" + scenario, Backend="unix")["Ports"][0]
    console = ConsoleClient(port["ConsoleSocket"])
    vm = None
    try:
        # A console client starts at the live end of the stream: attach before the VM runs.
        wait_port_field(admin, port["Id"], "AttachedClients", 1)
        vm = QemuVM(socket_path=port["BindPath"], scenario=scenario, host="vsc-vm",
                    accel=accel, time_limit=TIME_LIMIT, **kwargs).start()
        marks = {}
        while not done(console.buf, vm):
            if vm.elapsed() > TIME_LIMIT:
                raise RuntimeError("%s: not done in %.0f s; last output %r"
                                   % (scenario, TIME_LIMIT, console.buf[-300:]))
            console.read_for(0.1)
            for key in (FIRMWARE, b"Linux version", b"Run /init", PROMPT,
                        b"Kernel panic", b"reboot: "):
                if key in console.buf and key not in marks:
                    marks[key] = vm.elapsed()
        console.read_for(0.5)  # whatever the console still had in flight
        total = vm.elapsed()
        rc = vm.stop()
    finally:
        if vm:
            vm.stop()
        console.close()
        r = free(admin, VMUUID=uuid)
        assert r.status_code == 200, r.text
    path = os.path.join(out_dir, "qemu-%s.log" % scenario)
    with open(path, "wb") as f:
        f.write(console.buf)
    times = ", ".join("%s %.1f s" % (k.decode().strip(), t) for k, t in
                      sorted(marks.items(), key=lambda kv: kv[1]))
    print("%s: %d bytes in %.1f s (QEMU status %s); first %s" % (
        os.path.relpath(path), len(console.buf), total, rc, times))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                    help="any of %s (default: all)" % " ".join(SCENARIOS))
    ap.add_argument("--out", default=HERE, help="folder for qemu-<scenario>.log (here)")
    ap.add_argument("--accel", default="tcg", choices=("tcg", "kvm"))
    args = ap.parse_args()
    for s in args.scenarios:
        if s not in SCENARIOS:
            ap.error("unknown scenario %r" % s)
    ensure_image()
    print(versions())
    state = tempfile.mkdtemp(prefix="vscc", dir="/tmp")  # short: socket paths <= 108 bytes
    v = Vscd(os.path.join(state, "s"), http=True).start()
    try:
        token, _ = Client(v.base).login("admin", ADMIN_PASSWORD)
        admin = Client(v.base, token=token)
        for scenario in args.scenarios or SCENARIOS:
            t0 = time.monotonic()
            record(admin, scenario, args.out, args.accel)
            print("  (%.1f s with allocation and freeing)" % (time.monotonic() - t0))
    finally:
        v.stop()
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
