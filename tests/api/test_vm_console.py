"""A real VM through vsc: a tiny Linux VM under QEMU (tests/vm, docs/tiny-vm.md) bound to a
unix port as a hypervisor binds it; its firmware, kernel and login prompt arrive through the
console WebSocket, and what an admin types there logs in."""
import os
import signal
import subprocess
import sys

import pytest

from conftest import ADMIN_PASSWORD
from helpers_ports import (allocate_ok, free, new_uuid, vscd_factory, wait_for,
                           wait_port_field, wait_port_state)
from test_console_ws import connect

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vm"))
import qemu_vm  # noqa: E402

pytestmark = pytest.mark.skipif(
    not qemu_vm.qemu_binary(),
    reason="qemu-system-x86_64 is not installed (`scripts/deps test` installs qemu-system-x86)")

# A TCG boot takes about 6 s here (docs/tiny-vm.md); the bounds leave room for a busy host.
BOOT_TIMEOUT = 40.0


@pytest.fixture
def make_vscd():
    yield from vscd_factory()


def test_login_prompt_through_the_console_websocket(make_vscd):
    assert qemu_vm.find_kernel(), "no readable /boot/vmlinuz-* (scripts/deps test installs it)"
    qemu_vm.ensure_image()
    v = make_vscd()
    v.token, _ = v.admin.login("admin", ADMIN_PASSWORD)
    uuid = new_uuid()
    port = allocate_ok(v.admin, uuid=uuid, name="vmcon", Backend="unix")["Ports"][0]
    ws = connect(v, port["Id"])
    vm = qemu_vm.QemuVM(socket_path=port["BindPath"], scenario="login", host="vmcon",
                        time_limit=BOOT_TIMEOUT + 20)
    try:
        # Attached before the VM starts: the viewer sees the boot from its first byte.
        wait_port_field(v.admin, port["Id"], "AttachedClients", 1)
        vm.start()
        wait_port_state(v.admin, port["Id"], "Connected", timeout=10)
        boot = ws.read_bytes(b"vmcon login: ", timeout=BOOT_TIMEOUT)
        assert b"SeaBIOS (version" in boot[:200], boot[:200]
        assert b"Linux version" in boot and b"Run /init as init process" in boot
        ws.ws.send_binary(b"root\r")
        ws.read_bytes(b"Password: ", timeout=10)
        ws.ws.send_binary(b"vsc\r")
        ws.read_bytes(b"root@vmcon:~# ", timeout=10)
        ws.ws.send_binary(b"echo $((6 * 7))\r")
        assert b"\r\n42\r\n" in ws.read_bytes(b"42\r\nroot@vmcon:~# ", timeout=10)
        assert vm.running()
        assert ws.control() == []
    finally:
        vm.stop()
        ws.close()
    assert free(v.admin, VMUUID=uuid).status_code == 200


RUN_VM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "contrib", "qemu",
                      "run-vm.sh")


def test_run_vm_stops_qemu_and_frees_the_ports_when_killed(make_vscd):
    """`kill` of contrib/qemu/run-vm.sh (a supervisor stopping it by its pid) stops the VM
    and frees its ports at once, not whenever the guest happens to power off."""
    kernel = qemu_vm.find_kernel()
    assert kernel, "no readable /boot/vmlinuz-* (scripts/deps test installs it)"
    v = make_vscd()
    uuid = new_uuid()
    env = dict(os.environ, VSC_URL=v.base, VSC_USER="admin", VSC_PASSWORD=ADMIN_PASSWORD,
               VSC_INSECURE="1")
    # panic=0: without an initrd the kernel panics and then waits for ever, like a VM that
    # runs until it is stopped.
    script = subprocess.Popen([RUN_VM, "-n", "killed", "-u", uuid, "-a", "tcg", "-m", "128",
                               "-A", "panic=0", kernel], env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        port = wait_for(lambda: (v.admin.get("/redfish/v1/Systems/" + uuid).status_code == 200
                                 and port_ids(v.admin)), timeout=15, what="the VM's port")[0]
        wait_port_state(v.admin, port, "Connected", timeout=15)  # QEMU runs
        script.send_signal(signal.SIGTERM)
        try:
            _, err = script.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail("run-vm.sh still runs 10 s after SIGTERM (QEMU too: %s)"
                        % bool(qemu_children(script.pid)))
        assert script.returncode == 143, err
        assert "freed the ports" in err, err
        assert v.admin.get("/redfish/v1/Systems/" + uuid).status_code == 404
    finally:
        if script.poll() is None:
            os.killpg(script.pid, signal.SIGKILL)
            script.wait()


def port_ids(client):
    r = client.get("/redfish/v1/Managers/bmc/SerialInterfaces")
    return [m["@odata.id"].rsplit("/", 1)[1] for m in r.json()["Members"]]


def qemu_children(pid):
    r = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return r.stdout.split()
