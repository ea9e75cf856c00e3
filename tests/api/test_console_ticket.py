"""Single-use console tickets (service/console_ticket.h, docs/console-protocol.md): for
WebSocket clients that can set neither a header nor a subprotocol. A ticket opens one
port's console once, for the session that asked, within 30 s; it is refused for another
port, a second time, after its session ends, and without a session."""
import ssl

import pytest
import websocket

from conftest import ADMIN_PASSWORD, Client, assert_error
from helpers_ports import allocate_ok, port_uri, vscd_factory

TICKETS = "/redfish/v1/SessionService/Oem/Vsc/ConsoleTickets"


@pytest.fixture
def make_vscd():
    yield from vscd_factory()


@pytest.fixture
def env(make_vscd):
    v = make_vscd()
    v.token, v.session = v.admin.login("admin", ADMIN_PASSWORD)
    v.tok = Client(v.base, token=v.token)
    v.ports = [p["Id"] for p in allocate_ok(v.admin, count=2)["Ports"]]
    return v


def ticket_for(v, port_id, client=None):
    r = (client or v.tok).post(TICKETS, json={"SerialInterface": port_id})
    assert r.status_code == 200, r.text
    return r.json()


def open_ws(v, path, subprotocols=None):
    url = v.base.replace("https://", "wss://") + path
    return websocket.create_connection(url, sslopt={"cert_reqs": ssl.CERT_NONE}, origin=v.base,
                                       subprotocols=subprotocols, timeout=5)


def refused(v, path, subprotocols=None):
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        open_ws(v, path, subprotocols)
    return e.value.status_code


def test_ticket_opens_the_console_once(env):
    t = ticket_for(env, env.ports[0])
    assert t["ExpiresInSeconds"] == 30
    assert t["SerialInterface"]["@odata.id"] == port_uri(env.ports[0])
    assert t["ConsoleURI"] == port_uri(env.ports[0]) + "/Oem/Vsc/Console?ticket=" + t["Ticket"]
    assert env.token not in t["ConsoleURI"]
    ws = open_ws(env, t["ConsoleURI"])
    ws.send('{"type":"ping"}')
    assert any('"pong"' in ws.recv() for _ in range(4))  # after the hello and mode greeting
    ws.close()
    assert refused(env, t["ConsoleURI"]) == 401  # single use


def test_ticket_as_subprotocol(env):
    t = ticket_for(env, env.ports[0])
    ws = open_ws(env, port_uri(env.ports[0]) + "/Oem/Vsc/Console",
                 subprotocols=["vsc.v1", "vsc.ticket." + t["Ticket"]])
    assert ws.getsubprotocol() == "vsc.v1"  # the ticket is never echoed
    ws.close()


def test_ticket_is_for_one_port_and_burns_on_misuse(env):
    t = ticket_for(env, env.ports[0])
    other = port_uri(env.ports[1]) + "/Oem/Vsc/Console?ticket=" + t["Ticket"]
    assert refused(env, other) == 401
    assert refused(env, t["ConsoleURI"]) == 401  # tried once, gone


def test_ticket_dies_with_its_session(env):
    t = ticket_for(env, env.ports[0])
    assert env.tok.delete(env.session).status_code == 204
    assert refused(env, t["ConsoleURI"]) == 401


def test_bad_tickets_say_nothing_about_ports(env):
    assert refused(env, port_uri(env.ports[0]) + "/Oem/Vsc/Console?ticket=nonsense") == 401
    assert refused(env, port_uri(999) + "/Oem/Vsc/Console?ticket=" + "A" * 43) == 401


def test_ticket_needs_a_session_and_a_port(env):
    r = env.admin.post(TICKETS, json={"SerialInterface": env.ports[0]})  # Basic
    assert_error(r, 401, "NoValidSession")
    assert_error(env.tok.post(TICKETS, json={"SerialInterface": "999"}), 404, "ResourceNotFound")
    assert_error(env.tok.post(TICKETS, json={}), 400, "PropertyMissing")
    assert_error(env.tok.post(TICKETS, json={"SerialInterface": 1}), 400, "PropertyValueTypeError")
    assert_error(env.tok.post(TICKETS, json={"SerialInterface": "1", "X": 1}), 400,
                 "PropertyUnknown")
