"""Limits on what a client controls (issue 7): header and URL sizes, query parameters,
console WebSocket message size. Each is refused with the right status and the service
goes on; bodies, sessions and connections per source are tested in test_protocol.py,
test_sessions.py, test_audit.py and test_tls_front.py."""

import time

import pytest
import requests
import websocket

from conftest import ADMIN_PASSWORD, assert_error
from helpers_ports import allocate_ok, vscd_factory
from test_console_ws import connect


@pytest.fixture
def make_vscd():
    yield from vscd_factory()


def alive(v):
    return requests.get(v.base + "/redfish/v1/", verify=False, timeout=5).status_code == 200


def test_oversized_header_and_url(make_vscd):
    """libmicrohttpd answers these itself (32 KiB per connection for the request line and
    headers), before any Redfish code runs: 431 and 414, with its own small HTML body."""
    v = make_vscd()
    r = requests.get(v.base + "/redfish/v1/", verify=False, headers={"X-Big": "a" * 40000})
    assert r.status_code == 431
    r = requests.get(v.base + "/redfish/v1/" + "a" * 40000, verify=False)
    assert r.status_code == 414
    assert alive(v)


def test_too_many_query_parameters(make_vscd):
    v = make_vscd()
    q = "&".join("p%d=1" % i for i in range(17))
    assert_error(v.admin.get("/redfish/v1/Systems?" + q), 400, "QueryCombinationInvalid")
    assert v.admin.get("/redfish/v1/Systems?" + q.rsplit("&", 1)[0]).status_code == 200


def test_console_message_over_64_kib_closes_the_socket(make_vscd):
    v = make_vscd()
    v.token, _ = v.admin.login("admin", ADMIN_PASSWORD)
    port = allocate_ok(v.admin, Backend="unix")["Ports"][0]
    con = connect(v, port["Id"])
    # Two fragments, 60 KiB then 8 KiB: the message outgrows 64 KiB only with the second,
    # which is small, so it is sent whole before the server closes (one oversized frame
    # would still be going out when the server, seeing its length, closes the socket).
    ABNF = websocket.ABNF
    con.ws.send_frame(ABNF.create_frame(b"x" * (60 * 1024), ABNF.OPCODE_BINARY, fin=0))
    time.sleep(0.2)
    con.ws.send_frame(ABNF.create_frame(b"x" * (8 * 1024), ABNF.OPCODE_CONT, fin=1))
    # Raw frames: the library's own reply to a close can race the server's socket close.
    while True:
        frame = con.ws.recv_frame()
        if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
            break
    assert int.from_bytes(frame.data[:2], "big") == 1009  # message too big
    ok = connect(v, port["Id"])  # others are not affected
    ok.ws.send_binary(b"x" * (64 * 1024))
    ok.read_for(0.3)
    assert ok.closed is None
    ok.close()
    assert alive(v)
