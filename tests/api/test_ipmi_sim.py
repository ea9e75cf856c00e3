"""A real IPMI client end to end (docs/ipmi-oem.md, "A real IPMI client"): ipmitool over
RMCP+ to OpenIPMI's ipmi_sim, whose contrib/ipmi_sim plugin forwards NetFn 2Eh under our
IANA to vscd's `ipmi_socket`. Ports allocated, listed and freed this way are what Redfish
shows; errors are ipmitool's `rsp=0xNN`; without vscd the plugin answers at once (FF) or
within its timeout (C3), never hangs."""
import signal
import socket
import time

import pytest

from helpers_ipmi import (IANA, IpmiSim, allocate_data, tools_present, uuid_bytes,
                          vscd_with_socket)
from helpers_ports import SERIALS, get_json, new_uuid, vscd_factory
from test_ipmi import ipmi as redfish_ipmi

pytestmark = pytest.mark.skipif(not tools_present(),
                                reason="ipmi_sim or ipmitool not installed (scripts/deps test)")


@pytest.fixture
def make_vscd():
    yield from vscd_factory()


@pytest.fixture
def bmc(make_vscd):
    """vscd with its IPMI socket, and ipmi_sim forwarding to it."""
    v = vscd_with_socket(make_vscd)
    sim = IpmiSim(v.sock)
    sim.vscd = v
    yield sim
    sim.stop()


def port_ids(entries, size):
    return [int.from_bytes(entries[i:i + 4], "little") for i in range(0, len(entries), size)]


def test_allocate_get_free_through_ipmitool(bmc):
    admin = bmc.vscd.admin
    u = new_uuid()
    cc, rsp = bmc.raw(0x01, allocate_data(u, 2, 1, "ipmisim1"))
    assert cc == 0, rsp
    assert rsp[:3] == IANA and tuple(rsp[3:6]) == (1, 2, 2)  # created, total, listed
    ids = port_ids(rsp[6:], 5)
    assert len(ids) == 2 and all(rsp[6 + 5 * i + 4] == 0xFF for i in range(2))

    system = get_json(admin, "/redfish/v1/Systems/" + u)
    assert system["Name"] == "ipmisim1"
    linked = sorted(int(l["@odata.id"].rsplit("/", 1)[1])
                    for l in system["Links"]["Oem"]["Vsc"]["SerialInterfaces"])
    assert linked == sorted(ids)
    for i in ids:
        port = get_json(admin, "%s/%d" % (SERIALS, i))
        assert port["Oem"]["Vsc"]["Backend"].lower() == "pty"

    # The same request again: created 0, and byte for byte what the Redfish action answers.
    cc, again = bmc.raw(0x01, allocate_data(u, 2, 1, "ipmisim1"))
    rcc, rdata = redfish_ipmi(admin, "01", allocate_data(u, 2, 1, "ipmisim1").hex(), "LAN")
    assert (cc, rcc) == (0, "00") and again == rdata and again[3] == 0

    cc, got = bmc.raw(0x03, IANA + uuid_bytes(u))
    assert cc == 0 and got[:3] == IANA and tuple(got[3:6]) == (2, 1, 2)
    entries, seen = got[6:], []
    while entries:  # Id (4), backend, state, path length L, L bytes (L = 0: too long for 36)
        seen.append((int.from_bytes(entries[:4], "little"), entries[4]))
        entries = entries[7 + entries[6]:]
    assert seen == [(i, 1) for i in ids]

    cc, freed = bmc.raw(0x02, IANA + b"\x00" + uuid_bytes(u))
    assert (cc, freed) == (0, IANA + bytes([1, 2]))
    assert admin.get("/redfish/v1/Systems/" + u).status_code == 404
    for i in ids:
        assert admin.get("%s/%d" % (SERIALS, i)).status_code == 404
    assert bmc.raw(0x02, IANA + b"\x00" + uuid_bytes(u)) == (0, IANA + bytes([0, 0]))
    assert bmc.raw(0x03, IANA + uuid_bytes(u))[0] == 0xCB


def test_long_lists_page_within_ipmi_sims_buffer(bmc):
    """ipmi_sim answers at most 36 bytes: allocate lists 5 of 8 ports, get pages the rest."""
    u = new_uuid()
    cc, rsp = bmc.raw(0x01, allocate_data(u, 8))
    assert cc == 0 and tuple(rsp[3:6]) == (1, 8, 5) and len(rsp) <= 35
    ids, first = [], 1
    while first <= 8:
        cc, got = bmc.raw(0x03, IANA + uuid_bytes(u) + bytes([first]))
        assert cc == 0 and got[3] == 8 and got[4] == first and got[5] >= 1
        entries = got[6:]
        while entries:
            ids.append(int.from_bytes(entries[:4], "little"))
            entries = entries[7 + entries[6]:]
        first += got[5]
    assert ids[:5] == port_ids(rsp[6:], 5) and len(ids) == len(set(ids)) == 8
    assert bmc.raw(0x02, IANA + b"\x00" + uuid_bytes(u)) == (0, IANA + bytes([1, 8]))


def test_unknown_command_and_wrong_length(bmc):
    assert bmc.raw(0x09, IANA)[0] == 0xC1
    assert bmc.raw(0x01, IANA + b"\x01")[0] == 0xC7
    assert bmc.raw(0x03, IANA + uuid_bytes(new_uuid()) + b"\x01\x02")[0] == 0xC7
    assert bmc.raw(0x01, b"\x01\x02\x03")[0] == 0xC1  # another IANA: ipmi_sim's own answer
    r = bmc.ipmitool("raw", "0x2e", "0x09", "0xd9", "0x7e", "0x00")
    assert "rsp=0xc1" in r.stderr, r.stderr


def test_without_vscd_the_plugin_answers_promptly(bmc):
    u = uuid_bytes(new_uuid())
    vscd = bmc.vscd
    vscd.proc.send_signal(signal.SIGSTOP)  # alive but not answering: the plugin's timeout
    try:
        t = time.monotonic()
        cc, _ = bmc.raw(0x03, IANA + u, wait_s=5)
        slow = time.monotonic() - t
    finally:
        vscd.proc.send_signal(signal.SIGCONT)
    assert cc == 0xC3 and 1.5 < slow < 4.5, (cc, slow)
    assert vscd.stop() == 0  # gone: the socket file too
    t = time.monotonic()
    cc, _ = bmc.raw(0x03, IANA + u)
    assert cc == 0xFF and time.monotonic() - t < 1.5
    assert bmc.raw(0x01, b"\x01\x02\x03")[0] == 0xC1  # ipmi_sim itself is still fine


def test_a_full_backlog_is_vscd_busy_not_gone(bmc):
    """vscd alive but stuck, with its socket's accept queue full (each timed-out attempt
    leaves its connection queued there): still C3 after the timeout, as documented, not an
    immediate FF that says vscd is gone."""
    u = uuid_bytes(new_uuid())
    vscd = bmc.vscd
    queued = []
    vscd.proc.send_signal(signal.SIGSTOP)
    try:
        while len(queued) < 64:  # vscd listens with a backlog of 8
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect(vscd.sock)
            except BlockingIOError:
                s.close()
                break
            queued.append(s)
        assert 0 < len(queued) < 64, len(queued)
        t = time.monotonic()
        cc, _ = bmc.raw(0x03, IANA + u, wait_s=5)
        slow = time.monotonic() - t
    finally:
        vscd.proc.send_signal(signal.SIGCONT)
        for s in queued:
            s.close()
    assert cc == 0xC3 and 1.5 < slow < 4.5, (cc, slow)
    # Once vscd runs again the plugin gets through.
    assert bmc.raw(0x03, IANA + u, wait_s=5)[0] == 0xCB
