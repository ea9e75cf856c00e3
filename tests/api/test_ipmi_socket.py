"""vscd's local IPMI socket (the `ipmi_socket` setting; docs/ipmi-oem.md, "The local
socket"): framed requests run through the same code as the Redfish action Vsc.IpmiRequest;
malformed frames close the connection and nothing else; the socket is 0600, bounded in
clients, replaced when stale and removed at exit."""
import os
import socket
import stat
import struct
import subprocess
import time

import pytest

from conftest import VSCD
from helpers_ipmi import (IANA, IPMB, LAN, NETFN, allocate_data, closed_by_peer, connect,
                          frame, read_response, request, uuid_bytes, vscd_with_socket)
from helpers_ports import get_json, new_uuid, short_dir, vscd_factory
from test_ipmi import ipmi as redfish_ipmi

AUDIT = "/redfish/v1/Managers/bmc/LogServices/Audit/Entries"


@pytest.fixture
def make_vscd():
    yield from vscd_factory()


@pytest.fixture
def sock_vscd(make_vscd):
    return vscd_with_socket(make_vscd)


def test_socket_is_private_and_removed_at_exit(sock_vscd):
    st = os.lstat(sock_vscd.sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert sock_vscd.stop() == 0
    assert not os.path.exists(sock_vscd.sock)


def test_same_bytes_as_the_redfish_action(sock_vscd):
    """Allocate over the socket; the Redfish action answers the repeat byte for byte."""
    u = new_uuid()
    data = allocate_data(u, 2, 1, "sock1")
    cc, first = request(sock_vscd.sock, 0x01, data, transport=LAN)
    assert cc == 0 and first[:3] == IANA and first[3:6] == bytes([1, 2, 2])
    cc, again = request(sock_vscd.sock, 0x01, data, transport=LAN)
    rcc, rdata = redfish_ipmi(sock_vscd.admin, "01", data.hex(), transport="LAN")
    assert cc == 0 and rcc == "00"
    assert again == rdata and again[3] == 0 and again[4:] == first[4:]
    sysdoc = get_json(sock_vscd.admin, "/redfish/v1/Systems/" + u)
    assert sysdoc["Name"] == "sock1"
    cc, freed = request(sock_vscd.sock, 0x02, IANA + b"\x00" + uuid_bytes(u))
    assert (cc, freed) == (0, IANA + bytes([1, 2]))
    assert sock_vscd.admin.get("/redfish/v1/Systems/" + u).status_code == 404


def test_audit_names_the_socket(sock_vscd):
    u = new_uuid()
    cc, _ = request(sock_vscd.sock, 0x01, allocate_data(u, 1), transport=IPMB)
    assert cc == 0
    details = [get_json(sock_vscd.admin, m["@odata.id"])["Oem"]["Vsc"]
               for m in get_json(sock_vscd.admin, AUDIT)["Members"]]
    mine = [d for d in details if d["Action"] == "PortsAllocated" and
            d["ClientAddress"] == "ipmi_socket"]
    assert mine and sock_vscd.sock in mine[-1]["Detail"], details


def test_errors_are_ipmi_answers_not_closes(sock_vscd):
    """Wrong NetFn, unknown command, short data: completion codes on a connection that
    stays usable (several requests on one connection, answered in order)."""
    with connect(sock_vscd.sock) as s:
        s.sendall(frame(0x06, 0x01, LAN, b"") + frame(NETFN, 0x09, LAN, IANA) +
                  frame(NETFN, 0x01, IPMB, IANA + b"\x01"))
        assert read_response(s) == bytes([0xC1])
        assert read_response(s) == bytes([0xC1]) + IANA
        assert read_response(s) == bytes([0xC7]) + IANA


def test_response_max_is_honoured(sock_vscd):
    """A front end with a small buffer (ipmi_sim: 36 bytes) gets a shorter list, never more."""
    u = new_uuid()
    cc, full = request(sock_vscd.sock, 0x01, allocate_data(u, 8), transport=LAN)
    assert cc == 0 and full[5] == 8 and len(full) == 6 + 8 * 5
    cc, short = request(sock_vscd.sock, 0x01, allocate_data(u, 8), transport=LAN, resp_max=36)
    assert cc == 0 and 1 + len(short) <= 36
    assert short[4] == 8 and short[5] == 5 and short[6:] == full[6:6 + 25]


@pytest.mark.parametrize("bad", [
    struct.pack("<H", 3) + bytes([NETFN, 1, LAN]),          # shorter than the header
    struct.pack("<H", 0),                                   # empty
    struct.pack("<H", 301) + bytes(301),                    # longer than the frame limit
    struct.pack("<H", 0xFFFF),                              # absurd length, no body
    frame(NETFN, 0x03, 7, IANA),                            # transport neither 0 nor 1
    frame(0x40, 0x03, LAN, IANA),                           # not a 6-bit NetFn
], ids=["short", "empty", "long", "huge", "transport", "netfn"])
def test_malformed_frame_closes_that_client_only(sock_vscd, bad):
    other = connect(sock_vscd.sock)
    with connect(sock_vscd.sock) as s:
        s.sendall(bad)
        assert closed_by_peer(s)
    other.sendall(frame(NETFN, 0x09, LAN, IANA))
    assert read_response(other) == bytes([0xC1]) + IANA
    other.close()
    assert "closing the connection" in sock_vscd.read_log()


def test_a_frame_in_pieces_is_assembled(sock_vscd):
    data = frame(NETFN, 0x09, LAN, IANA)
    with connect(sock_vscd.sock) as s:
        for b in data:
            s.sendall(bytes([b]))
        assert read_response(s) == bytes([0xC1]) + IANA


def test_client_cap(sock_vscd):
    """Eight connections at once; the ninth is closed at once; a slot frees on close."""
    held = [connect(sock_vscd.sock) for _ in range(8)]
    for s in held:  # each is accepted and served
        s.sendall(frame(NETFN, 0x09, LAN, IANA))
        assert read_response(s)[0] == 0xC1
    extra = connect(sock_vscd.sock)
    assert closed_by_peer(extra)
    extra.close()
    held.pop().close()
    # The slot frees once vscd has seen the close, which a loaded machine may make it do
    # after the next connect: that one is refused, a later one taken.
    deadline = time.time() + 10
    while True:
        try:
            cc, _ = request(sock_vscd.sock, 0x09, IANA)
            break
        except (ConnectionResetError, BrokenPipeError, EOFError):
            assert time.time() < deadline, "no slot after a client closed"
            time.sleep(0.05)
    assert cc == 0xC1
    for s in held:
        s.close()


def test_stale_socket_replaced_and_live_or_foreign_path_refused(make_vscd, tmp_path):
    d = short_dir()
    make_vscd.dirs.append(d)
    stale = os.path.join(d, "stale.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(stale)
    s.close()  # a socket file nobody listens on: what a killed vscd leaves
    v = make_vscd(["--set", "ipmi_socket=" + stale])
    assert request(stale, 0x09, IANA)[0] == 0xC1

    def refused(path):
        r = subprocess.run([VSCD, "--state-dir", str(tmp_path / "x"), "--listen",
                            "127.0.0.1:1", "--set", "ipmi_socket=" + path],
                           capture_output=True, text=True, timeout=30)
        return r.returncode != 0 and "ipmi_socket" in r.stderr, r.stderr

    ok, err = refused(stale)  # v still listens there
    assert ok, err
    regular = os.path.join(d, "file")
    open(regular, "w").close()
    ok, err = refused(regular)
    assert ok and "not a socket" in err, err
    assert os.path.isfile(regular)
    assert request(stale, 0x09, IANA)[0] == 0xC1  # the first vscd is unaffected
    v.stop()


def test_setting_longer_than_a_socket_path_is_refused(tmp_path):
    r = subprocess.run([VSCD, "--state-dir", str(tmp_path), "--set",
                        "ipmi_socket=/" + "x" * 120], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "ipmi_socket" in r.stderr
