"""The usb-gadget backend against the fake configfs (tests/fakeconfigfs, docs/usb-gadget.md):
what vscd leaves in configfs, seen from the Redfish side."""
import os
import threading
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

    def __init__(self, tmp_path, udcs):
        self.cfs, self.udc = tmp_path / "cfs", tmp_path / "udc"
        self.cfs.mkdir()
        self.udc.mkdir()
        for name in udcs:
            (self.udc / name).mkdir()
        env = {"LD_PRELOAD": FAKE_CONFIGFS, "FAKE_CONFIGFS_ROOT": str(self.cfs),
               "FAKE_UDC_DIR": str(self.udc), "VSC_CONFIGFS": str(self.cfs),
               "VSC_UDC_DIR": str(self.udc), "VSC_TTY_DIR": str(tmp_path),
               "ASAN_OPTIONS": "verify_asan_link_order=0"}
        self.vscd = conftest.Vscd(str(tmp_path / "s"), env=env).start()
        self.admin = self.client()

    def client(self):
        return conftest.Client(self.vscd.base, auth=("admin", conftest.ADMIN_PASSWORD))

    def gadgets(self):
        """{gadget folder: its UDC} of every gadget in the fake configfs."""
        top = self.cfs / "usb_gadget"
        return {g: (top / g / "UDC").read_text().strip() for g in sorted(os.listdir(top))}


@pytest.fixture
def one_udc(tmp_path):
    g = Gadgets(tmp_path, ["udc.a"])
    yield g
    g.vscd.stop()


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
