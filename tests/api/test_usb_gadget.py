"""The usb-gadget backend against the fake configfs (tests/fakeconfigfs, docs/usb-gadget.md):
what vscd leaves in configfs, seen from the Redfish side."""
import os
import pty
import threading
import time
import uuid

import pytest

import conftest
from conftest import assert_error

ALLOCATE = "/redfish/v1/Managers/bmc/Actions/Oem/Vsc.AllocatePorts"
FREE = "/redfish/v1/Managers/bmc/Actions/Oem/Vsc.FreePorts"
FAKE_CONFIGFS = os.path.join(os.path.dirname(os.path.abspath(conftest.VSCD)), "..",
                             "fakeconfigfs.so")

pytestmark = pytest.mark.skipif(not os.path.exists(FAKE_CONFIGFS),
                                reason="build/fakeconfigfs.so not built")


class Gadgets:
    """vscd on a fake configfs with the given fake UDCs."""

    def __init__(self, tmp_path, udcs, endpoints=None, ttys=0):
        self.cfs, self.udc = tmp_path / "cfs", tmp_path / "udc"
        self.cfs.mkdir()
        self.udc.mkdir()
        for name in udcs:
            (self.udc / name).mkdir()
            if endpoints is not None:
                (self.udc / name / "endpoints").write_text("%d\n" % endpoints)
        # ttyGS0.. as ptys: vscd opens them as it would /dev/ttyGS<n>; the fake knows them.
        self.masters = []
        for n in range(ttys):
            master, slave = pty.openpty()
            os.symlink(os.ttyname(slave), str(tmp_path / ("ttyGS%d" % n)))
            os.close(slave)
            self.masters.append(master)
        env = {"LD_PRELOAD": FAKE_CONFIGFS, "FAKE_CONFIGFS_ROOT": str(self.cfs),
               "FAKE_UDC_DIR": str(self.udc), "VSC_CONFIGFS": str(self.cfs),
               "VSC_UDC_DIR": str(self.udc), "VSC_TTY_DIR": str(tmp_path),
               "FAKE_TTY_DIR": str(tmp_path), "ASAN_OPTIONS": "verify_asan_link_order=0"}
        self.vscd = conftest.Vscd(str(tmp_path / "s"), env=env).start()
        self.admin = self.client()

    def client(self):
        return conftest.Client(self.vscd.base, auth=("admin", conftest.ADMIN_PASSWORD))

    def stop(self):
        self.vscd.stop()
        for m in self.masters:
            os.close(m)

    def gadgets(self):
        """{gadget folder: its UDC} of every gadget in the fake configfs."""
        top = self.cfs / "usb_gadget"
        return {g: (top / g / "UDC").read_text().strip() for g in sorted(os.listdir(top))}


@pytest.fixture
def one_udc(tmp_path):
    g = Gadgets(tmp_path, ["udc.a"])
    yield g
    g.stop()


def allocate(client, u, name, count):
    return client.post(ALLOCATE, json={"VMUUID": u, "VMName": name, "PortCount": count,
                                       "Backend": "usb-gadget"})


def test_concurrent_allocations_get_no_udc_twice(one_udc):
    """One UDC and four VMs allocating at once (their requests handled in one pass of the
    loop, before any gadget is bound): one allocation gets the UDC, the others fail with
    503 'no free USB device controller' and leave nothing. Port 1 of each allocation only
    checked that some UDC was free, and the gadget binds on a 0 ms timer after the answer:
    all four were told 200, and three VMs' ports then went Down with their unbound gadgets
    kept (holding u_serial ports)."""
    clients = [one_udc.client() for _ in range(4)]
    for c in clients:
        c.get("/redfish/v1/Systems")  # connected and authenticated before the round
    for rnd in range(8):
        uuids = [str(uuid.uuid4()) for _ in clients]
        answers = {}
        start = threading.Barrier(len(clients))

        def go(i):
            start.wait()
            answers[i] = allocate(clients[i], uuids[i], "r%dvm%d" % (rnd, i), 1)

        threads = [threading.Thread(target=go, args=(i,)) for i in range(len(clients))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        won = [i for i, r in answers.items() if r.status_code == 200]
        assert len(won) == 1, (rnd, {i: r.status_code for i, r in answers.items()})
        for i, r in answers.items():
            if i != won[0]:
                assert_error(r, 503, "ResourceExhaustion")
                assert "no free USB device controller" in r.text, r.text
        assert one_udc.gadgets() == {"vsc-r%dvm%d" % (rnd, won[0]): "udc.a"}, rnd
        r = one_udc.admin.get("/redfish/v1/Systems/" + uuids[won[0]])
        assert r.status_code == 200
        for u in uuids:
            one_udc.admin.post(FREE, json={"VMUUID": u})
        assert one_udc.gadgets() == {}, rnd


def port_states(client, u):
    links = client.get("/redfish/v1/Systems/" + u).json()["Links"]["Oem"]["Vsc"][
        "SerialInterfaces"]
    out = []
    for link in links:
        vsc = client.get(link["@odata.id"]).json()["Oem"]["Vsc"]
        out.append((vsc["PortState"], vsc.get("Error", "")))
    return out


def test_a_gadget_that_cannot_bind_does_not_hang_vscd(tmp_path):
    """A UDC with endpoints for two ACM functions, a VM with three ports (their ttys open):
    the allocation answers before the bind, the bind fails, the ports are Down with the
    reason; re-creating them tries again and removes the gadget it could not bind. The
    kernel's rmdir of an ACM function waits until its tty is closed, and the other ports
    still held theirs: vscd waited for itself forever (the fake configfs aborts there)."""
    g = Gadgets(tmp_path, ["udc.a"], endpoints=6, ttys=3)
    try:
        u = str(uuid.uuid4())
        r = allocate(g.admin, u, "big", 3)
        assert r.status_code == 200, r.text
        deadline = time.time() + 5  # two passes of the 2 s re-creation
        while time.time() < deadline:
            assert g.vscd.proc.poll() is None, g.vscd.read_log()[-3000:]
            states = port_states(g.admin, u)
            assert all(s == "Down" for s, _ in states), states
            assert all("cannot bind USB gadget vsc-big to udc.a" in e for _, e in states), states
            time.sleep(0.5)
        assert "re-creating its usb-gadget backend" in g.vscd.read_log()
        r = g.admin.post(FREE, json={"VMUUID": u})
        assert r.status_code == 200, r.text
        assert g.gadgets() == {}
    finally:
        g.stop()
