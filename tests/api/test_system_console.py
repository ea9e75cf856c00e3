"""ComputerSystem.SerialConsole.WebSocket (ComputerSystem v1_26_0+): the VM's first port's
console WebSocket and whether it is enabled."""
import pytest

from conftest import Client
from helpers_auth import create_account, unique
from helpers_ports import allocate_ok, port_uri, vscd_factory


@pytest.fixture
def make_vscd():
    yield from vscd_factory()


def system_console(client, alloc):
    r = client.get(alloc["System"]["@odata.id"])
    assert r.status_code == 200, r.text
    return r.json()["SerialConsole"]["WebSocket"]


def test_serial_console_names_the_first_port(make_vscd):
    v = make_vscd()
    a = allocate_ok(v.admin, count=2, Ports=[{"ComPort": "COM1"}, {"ComPort": "COM2"}])
    first = a["Ports"][0]["Id"]
    ws = system_console(v.admin, a)
    assert ws == {"ServiceEnabled": True, "ConsoleURI": port_uri(first) + "/Oem/Vsc/Console",
                  "Interactive": True}
    assert v.admin.patch(port_uri(first), json={"InterfaceEnabled": False}).status_code == 200
    assert system_console(v.admin, a)["ServiceEnabled"] is False


def test_every_role_reads_the_same_console(make_vscd):
    """The resource does not depend on who asks (typing rights are the port's business)."""
    v = make_vscd()
    a = allocate_ok(v.admin)
    want = system_console(v.admin, a)
    for role in ("ReadOnly", "Operator"):
        name = unique(role[:2].lower())
        _, pw = create_account(v.admin, name, role)
        assert system_console(Client(v.base, auth=(name, pw)), a) == want
