"""Graceful shutdown on SIGTERM (issue 7): console clients are told (WebSocket close 1001),
event streams end, the console history is written out and the database closed; after a
restart everything is where it was."""
import signal

import pytest

from conftest import ADMIN_PASSWORD, Client
from helpers_ports import FakeUnixVM, allocate_ok, vscd_factory
from test_console_ws import connect
from test_events import opened


@pytest.fixture
def make_vscd():
    yield from vscd_factory()


def test_sigterm_tells_clients_and_keeps_everything(make_vscd):
    v = make_vscd()
    v.token, _ = v.admin.login("admin", ADMIN_PASSWORD)
    a = allocate_ok(v.admin, Backend="unix", HostName="bye")
    port = a["Ports"][0]
    vm = FakeUnixVM.connect_retry(port["BindPath"])
    con = connect(v, port["Id"])
    events = opened(v.base)
    last = b"the very last line before the service stopped\r\n"
    vm.send(b"Linux version 6.1.0\r\n" + last)
    con.read_bytes(last)
    assert v.stop(sig=signal.SIGTERM) == 0
    assert con.wait_closed() == 1001  # going away
    assert events.ended(timeout=5)
    vm.close()
    v.start()
    v.admin = Client(v.base, auth=("admin", ADMIN_PASSWORD))
    r = v.admin.get(a["System"]["@odata.id"] + "/LogServices/Console/Oem/Vsc/Transcript")
    assert r.status_code == 200 and r.content.endswith(last)
    system = v.admin.get(a["System"]["@odata.id"]).json()
    assert system["Oem"]["Vsc"]["ConsoleState"] == "Booting"
    assert v.admin.get(port["SerialInterface"]["@odata.id"]).status_code == 200
