"""A backend that fails or loses its published path is re-created without the mapping
changing (issue: port lifecycle, "Backend failures are visible")."""
import os
import shutil
import socket
import time

import pytest

import helpers_ports
from helpers_ports import allocate_ok, fake_vm, port_oem, wait_for, wait_port_state

vscd_factory = pytest.fixture(helpers_ports.vscd_factory)


@pytest.mark.parametrize("backend", ["pty", "unix"])
def test_removed_path_is_recreated_with_the_same_mapping(vscd_factory, backend):
    v = vscd_factory()
    body = allocate_ok(v.admin, name="rec-" + backend, count=1, Backend=backend)
    port = body["Ports"][0]
    path, pid = port["BindPath"], port["Id"]
    os.unlink(path)
    assert not os.path.lexists(path)
    wait_for(lambda: os.path.lexists(path), timeout=8, what="path re-created")
    oem = port_oem(v.admin, pid)
    assert oem["BindPath"] == path
    assert "re-creating" in v.read_log()
    vm = fake_vm(backend, path)  # the re-created backend really carries bytes
    try:
        wait_port_state(v.admin, pid, "Connected")
        vm.send(b"after re-create\r\n")
        wait_for(lambda: port_oem(v.admin, pid)["BytesFromVM"] >= 17, what="bytes counted")
    finally:
        vm.close()


@pytest.mark.parametrize("backend", ["pty", "unix"])
def test_removed_vm_folder_is_recreated_with_the_same_mapping(vscd_factory, backend):
    """The VM's whole folder under ports/ removed (a cleaner, a hand): the folder and every
    path in it come back, as a removed path does."""
    v = vscd_factory()
    body = allocate_ok(v.admin, name="dir-" + backend, count=2, Backend=backend)
    paths = [p["BindPath"] for p in body["Ports"]]
    shutil.rmtree(os.path.dirname(paths[0]))
    wait_for(lambda: all(os.path.lexists(p) for p in paths), timeout=8,
             what="folder and paths re-created")
    port = body["Ports"][0]
    vm = fake_vm(backend, port["BindPath"])
    try:
        wait_port_state(v.admin, port["Id"], "Connected")
    finally:
        vm.close()


def test_replaced_unix_socket_is_taken_back(vscd_factory):
    """Someone else binding a socket at the published path does not keep it."""
    v = vscd_factory()
    port = allocate_ok(v.admin, name="rep", count=1, Backend="unix")["Ports"][0]
    path = port["BindPath"]
    os.unlink(path)
    intruder = socket.socket(socket.AF_UNIX)
    intruder.bind(path)
    first_ino = os.stat(path).st_ino
    try:
        wait_for(lambda: os.stat(path).st_ino != first_ino, timeout=8, what="socket re-bound")
        vm = fake_vm("unix", path)
        wait_port_state(v.admin, port["Id"], "Connected")
        vm.close()
    finally:
        intruder.close()
