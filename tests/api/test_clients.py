"""The Redfish clients the service's users run, driven against the real daemon: OpenStack's
sushy (Debian's python3-sushy, as Ironic uses it) and DMTF's redfishtool (the commands the
README shows). Each reads what the service says through the client's own model, so a
property a client needs but the service leaves out fails here, as it would for the user."""
import json
import subprocess

import pytest
import sushy
from sushy.resources import constants as res_constants
from sushy.resources.manager import constants as manager_constants
from sushy.resources.system import constants as system_constants

from conftest import ADMIN_PASSWORD
from helpers_ports import served_vm

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def served():
    """A vscd with one VM of two ports (helpers_ports.served_vm)."""
    yield from served_vm()


def sushy_root(v, auth):
    return sushy.Sushy(v.base + "/redfish/v1", verify=False, auth=auth)


def sessions(v):
    r = v.admin.get("/redfish/v1/SessionService/Sessions")
    assert r.status_code == 200, r.text
    return {m["@odata.id"] for m in r.json()["Members"]}


def test_sushy_reads_the_vm_as_a_virtual_system(served):
    auth = sushy.auth.SessionAuth(username="admin", password=ADMIN_PASSWORD)
    root = sushy_root(served, auth)
    assert root.redfish_version == "1.22.0"
    systems = root.get_system_collection()
    uri = "/redfish/v1/Systems/" + served.vm_uuid
    assert systems.members_identities == (uri,)
    system = systems.get_member(uri)
    assert system.identity == served.vm_uuid
    assert system.uuid == served.vm_uuid
    assert system.name == "web1"
    assert system.system_type == system_constants.SystemType.VIRTUAL
    assert system.power_state == res_constants.PowerState.ON
    # vsc does not reset VMs: sushy learns that from the empty Actions, not from an error
    # while loading the system.
    with pytest.raises(sushy.exceptions.MissingActionError):
        system.get_allowed_reset_system_values()
    managers = system.managers
    assert [m.identity for m in managers] == ["bmc"]
    assert managers[0].manager_type == manager_constants.ManagerType.SERVICE
    assert [s.identity for s in managers[0].systems] == [served.vm_uuid]
    auth.close()


def test_sushy_logs_in_with_a_session_and_out_again(served):
    before = sessions(served)
    auth = sushy.auth.SessionAuth(username="admin", password=ADMIN_PASSWORD)
    root = sushy_root(served, auth)
    opened = sessions(served) - before
    assert len(opened) == 1, opened
    service = root.get_session_service()
    assert service.session_timeout >= 30
    assert opened <= set(service.sessions.members_identities)
    auth.close()
    assert sessions(served) == before


def test_sushy_falls_back_to_basic_auth(served):
    before = sessions(served)
    auth = sushy.auth.BasicAuth(username="admin", password=ADMIN_PASSWORD)
    root = sushy_root(served, auth)
    assert root.get_system_collection().members_identities
    assert sessions(served) == before


def test_sushy_is_refused_a_wrong_password(served):
    auth = sushy.auth.SessionAuth(username="admin", password="not-the-password")
    with pytest.raises(sushy.exceptions.AccessError):
        sushy_root(served, auth).get_system_collection()


def redfishtool(v, *args):
    """Runs redfishtool as the README shows; returns its JSON output."""
    host = v.base.split("://", 1)[1]
    cmd = ["redfishtool", "-r", host, "-u", "admin", "-p", ADMIN_PASSWORD, "-A", "Session",
           "-S", "Always", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, (cmd, p.stdout, p.stderr)
    return json.loads(p.stdout)


def test_redfishtool_runs_the_readme_commands(served):
    before = sessions(served)
    systems = redfishtool(served, "Systems")
    assert [m["@odata.id"] for m in systems["Members"]] == [
        "/redfish/v1/Systems/" + served.vm_uuid]
    managers = redfishtool(served, "Managers")
    assert [m["@odata.id"] for m in managers["Members"]] == ["/redfish/v1/Managers/bmc"]
    ports = redfishtool(served, "Managers", "-I", "bmc", "SerialInterfaces", "list")
    assert sorted(m["Id"] for m in ports["Members"]) == ["1", "2"]
    listed = redfishtool(served, "SessionService", "Sessions")
    assert {m["@odata.id"] for m in listed["Members"]} >= before
    # Each run logged in and deleted its session afterwards.
    assert sessions(served) == before


def test_redfishtool_reads_a_system_and_a_port(served):
    system = redfishtool(served, "Systems", "-I", served.vm_uuid, "get")
    assert system["SystemType"] == "Virtual"
    assert system["HostName"] == "web1.example"
    port = redfishtool(served, "Managers", "-1", "SerialInterfaces", "-i", "1", "get")
    assert port["Id"] == "1"
    assert port["Oem"]["Vsc"]["ConsoleURI"].endswith("/SerialInterfaces/1/Oem/Vsc/Console")
