"""The port commands and their Redfish view.

Part 1: Managers/bmc Actions Oem Vsc.AllocatePorts / Vsc.FreePorts — allocation, repeat
(idempotent per VM UUID), conflicts, limits, every kind of bad input (each failure leaves
Systems, SerialInterfaces and the published paths exactly as they were), privileges.
Part 2: the Redfish view — ComputerSystem per VM, Manager links, actions and ActionInfo,
SerialInterfaces with Oem.Vsc, PATCH of InterfaceEnabled and the line settings.
"""
import grp
import os
import stat
import tempfile

import pytest

from conftest import ADMIN_PASSWORD, Client, Vscd, assert_error, make_user
from helpers_ports import (ALLOCATE, ALLOCATE_INFO, FREE, FREE_INFO, MANAGER, SERIALS, SYSTEMS,
                           FakePtyVM, FakeUnixVM, allocate, allocate_ok, check_consistency, free,
                           get_json, members, new_uuid, port_oem, port_uri, snapshot,
                           vscd_factory, wait_port_state)


@pytest.fixture
def make_vscd():
    """Starts vscds with short state dirs (helpers_ports.VscdFactory)."""
    yield from vscd_factory()


@pytest.fixture
def pvscd(make_vscd):
    """A fresh vscd; its Client as admin is pvscd.admin."""
    return make_vscd()


@pytest.fixture
def padmin(pvscd):
    return pvscd.admin


@pytest.fixture(scope="module")
def make_shared_vscd():
    """As make_vscd, one per module."""
    yield from vscd_factory()


ACTION = "Vsc.AllocatePorts"


def _populate(padmin):
    a = allocate_ok(padmin, name="base1", count=2,
                    Ports=[{"ComPort": "COM1", "Label": "console"},
                           {"ComPort": "COM2", "Label": "debug"}])
    b = allocate_ok(padmin, name="base2", count=1, Backend="unix", HostName="base2.example")
    return a, b


@pytest.fixture
def populated(pvscd, padmin):
    """A vscd that already serves two VMs (pty with ComPorts, unix), so that 'unchanged'
    is not trivially 'empty'."""
    return (pvscd, padmin) + _populate(padmin)


@pytest.fixture(scope="module")
def shared_populated(make_shared_vscd):
    """As populated, one per module, for the tests that only read or whose requests all
    fail (those check that nothing changed)."""
    v = make_shared_vscd()
    return (v, v.admin) + _populate(v.admin)


def assert_unchanged(client, vscd, before):
    assert snapshot(client, vscd.state_dir) == before


# ---- part 1: allocate ----------------------------------------------------------------------


def test_allocate_response_and_resources(pvscd, padmin):
    """A new allocation answers 200 AllocatePortsResponse (Created true) with one entry per
    port, in index order; the ports exist as SerialInterfaces, paths are published."""
    u = new_uuid().upper()
    body = allocate_ok(padmin, u, "web-01.prod", 3, HostName="web-01.example.com",
                       Ports=[{"ComPort": "COM1", "Label": "ttyS0"}, {"ComPort": "COM2"},
                              {"Label": "third port"}])
    assert body["@odata.type"] == "#Vsc.v1_0_0.AllocatePortsResponse"
    assert body["VMUUID"] == u.lower()
    assert body["System"] == {"@odata.id": "%s/%s" % (SYSTEMS, u.lower())}
    assert [p["Index"] for p in body["Ports"]] == [1, 2, 3]
    assert [(p["ComPort"], p["Label"]) for p in body["Ports"]] == [
        ("COM1", "ttyS0"), ("COM2", ""), ("", "third port")]
    ids = [p["Id"] for p in body["Ports"]]
    assert len(set(ids)) == 3
    for p in body["Ports"]:
        assert p["Backend"] == "pty"  # the default backend
        assert p["SerialInterface"] == {"@odata.id": port_uri(p["Id"])}
        assert p["BindPath"] == os.path.join(pvscd.state_dir, "ports", "web-01.prod",
                                             str(p["Index"]))
        assert os.readlink(p["BindPath"]).startswith("/dev/pts/")
        assert stat.S_ISSOCK(os.stat(p["ConsoleSocket"]).st_mode)
        oem = port_oem(padmin, p["Id"])
        for k in ("Index", "ComPort", "Label", "Backend", "BindPath", "ConsoleSocket"):
            assert oem[k] == p[k], k
    assert members(padmin, SERIALS) == [port_uri(i) for i in ids]
    check_consistency(padmin, pvscd.state_dir)


def test_repeat_returns_same_ports(populated):
    """The same request again (UUID in any case) returns the same ports, Created false,
    and creates nothing."""
    vscd, admin, a, _ = populated
    before = snapshot(admin, vscd.state_dir)
    req = {"VMUUID": a["VMUUID"], "VMName": "base1", "PortCount": 2,
           "Ports": [{"ComPort": "COM1", "Label": "console"},
                     {"ComPort": "COM2", "Label": "debug"}]}
    for uuid in (a["VMUUID"], a["VMUUID"].upper()):
        r = admin.post(ALLOCATE, json=dict(req, VMUUID=uuid))
        assert r.status_code == 200, r.text
        again = r.json()
        assert again["Created"] is False
        assert again["Ports"] == a["Ports"]
        assert again["System"] == a["System"]
    assert_unchanged(admin, vscd, before)


@pytest.mark.parametrize("change", [
    {"PortCount": 1, "Ports": [{"ComPort": "COM1", "Label": "console"}]},
    {"PortCount": 3, "Ports": None},
    {"Backend": "unix"},
    {"Ports": [{"ComPort": "COM3", "Label": "console"}, {"ComPort": "COM2", "Label": "debug"}]},
    {"Ports": [{"ComPort": "COM1", "Label": "console"}, {"ComPort": "COM2", "Label": "other"}]},
    {"VMName": "renamed"},
    {"HostName": "another.example"},
], ids=["fewer", "more", "backend", "comport", "label", "vmname", "hostname"])
def test_different_request_same_uuid_conflicts(shared_populated, change):
    """A request for a VM that has ports, differing from what it has, is 409 and changes
    nothing (free first)."""
    vscd, admin, a, _ = shared_populated
    before = snapshot(admin, vscd.state_dir)
    req = {"VMUUID": a["VMUUID"], "VMName": "base1", "PortCount": 2,
           "Ports": [{"ComPort": "COM1", "Label": "console"},
                     {"ComPort": "COM2", "Label": "debug"}]}
    req.update(change)
    req = {k: v for k, v in req.items() if v is not None}
    r = admin.post(ALLOCATE, json=req)
    assert_error(r, 409, "ResourceAlreadyExists")
    assert_unchanged(admin, vscd, before)


def test_same_name_other_uuid_conflicts(populated):
    """A VMName that another VM's ports use is 409; once that VM is freed the name is free."""
    vscd, admin, a, _ = populated
    before = snapshot(admin, vscd.state_dir)
    other = new_uuid()
    r = allocate(admin, other, "base1", 1)
    assert_error(r, 409, "ResourceAlreadyExists")
    assert_unchanged(admin, vscd, before)
    assert free(admin, VMUUID=a["VMUUID"]).status_code == 200
    body = allocate_ok(admin, other, "base1", 1)
    assert body["Ports"][0]["BindPath"] == os.path.join(vscd.state_dir, "ports", "base1", "1")
    check_consistency(admin, vscd.state_dir)


def test_unix_backend(pvscd, padmin):
    """Backend unix: BindPath is a listening Unix socket under <state>/ports/<vm>/."""
    body = allocate_ok(padmin, name="sockvm", count=2, Backend="unix")
    for p in body["Ports"]:
        assert p["Backend"] == "unix"
        assert stat.S_ISSOCK(os.lstat(p["BindPath"]).st_mode)
        assert port_oem(padmin, p["Id"])["PortState"] == "Waiting"
    vm = FakeUnixVM(body["Ports"][0]["BindPath"])
    try:
        wait_port_state(padmin, body["Ports"][0]["Id"], "Connected")
    finally:
        vm.close()


def test_ports_group_owns_published_paths(make_vscd):
    """ports_group: each published path (the unix socket, the pty device) is that group's,
    mode 0660, so an unprivileged hypervisor in the group can open it."""
    group = grp.getgrnam("nogroup")
    v = make_vscd(extra_args=["--set", "ports_group=nogroup"])
    for backend in ("unix", "pty"):
        body = allocate_ok(v.admin, name="grp" + backend, count=1, Backend=backend)
        st = os.stat(body["Ports"][0]["BindPath"])  # the pty's path links to its device
        assert st.st_gid == group.gr_gid, (backend, st.st_gid)
        assert stat.S_IMODE(st.st_mode) == 0o660, (backend, oct(st.st_mode))


def test_usb_gadget_refused_and_nothing_kept(populated):
    """usb-gadget (not available yet): 503, and no VM, port, row or path is kept; the next
    allocation for that UUID works."""
    vscd, admin, _, _ = populated
    before = snapshot(admin, vscd.state_dir)
    u = new_uuid()
    r = allocate(admin, u, "gadgetvm", 2, Backend="usb-gadget")
    assert_error(r, 503, "ResourceExhaustion")
    assert_unchanged(admin, vscd, before)
    assert admin.get("%s/%s" % (SYSTEMS, u)).status_code == 404
    check_consistency(admin, vscd.state_dir)
    allocate_ok(admin, u, "gadgetvm", 2, Backend="pty")
    check_consistency(admin, vscd.state_dir)


def test_backend_failure_leaves_no_vm_folder(make_vscd):
    """A unix socket path longer than sun_path (a long state dir and a 64-character VMName)
    fails the allocation, 503, and nothing is kept: not even the VM's folder under ports/.
    The same name with the pty backend (a symlink has no such limit) then works."""
    d = tempfile.mkdtemp(prefix="vsc", dir="/tmp")
    make_vscd.dirs.append(d)
    v = Vscd(os.path.join(d, "d" * 30)).start()
    make_vscd.started.append(v)
    admin = Client(v.base, auth=("admin", ADMIN_PASSWORD))
    _populate(admin)
    name = "L" * 64
    assert len(os.path.join(v.state_dir, "ports", name, "1")) >= 108
    before = snapshot(admin, v.state_dir)
    r = allocate(admin, new_uuid(), name, 2, Backend="unix")
    assert_error(r, 503, "ResourceExhaustion")
    assert_unchanged(admin, v, before)
    check_consistency(admin, v.state_dir)
    allocate_ok(admin, new_uuid(), name, 2, Backend="pty")
    check_consistency(admin, v.state_dir)


# ---- part 1: bad input ----------------------------------------------------------------------

GOOD = {"VMName": "newvm", "PortCount": 1}


def good_request(**change):
    req = dict(GOOD, VMUUID=new_uuid())
    req.update(change)
    return req


@pytest.mark.parametrize("missing", ["VMUUID", "VMName", "PortCount"])
def test_missing_required_parameter(shared_populated, missing):
    vscd, admin, _, _ = shared_populated
    before = snapshot(admin, vscd.state_dir)
    req = good_request()
    del req[missing]
    r = admin.post(ALLOCATE, json=req)
    assert_error(r, 400, "ActionParameterMissing")
    args = [m.get("MessageArgs") for m in r.json()["error"]["@Message.ExtendedInfo"]]
    assert [ACTION, missing] in args, args
    assert_unchanged(admin, vscd, before)


def test_empty_body_names_every_missing_parameter(shared_populated):
    vscd, admin, _, _ = shared_populated
    before = snapshot(admin, vscd.state_dir)
    r = admin.post(ALLOCATE, json={})
    assert_error(r, 400, "ActionParameterMissing")
    args = [m.get("MessageArgs") for m in r.json()["error"]["@Message.ExtendedInfo"]]
    for name in ("VMUUID", "VMName", "PortCount"):
        assert [ACTION, name] in args, args
    assert_unchanged(admin, vscd, before)


@pytest.mark.parametrize("param,value", [
    ("VMUUID", 12345678),
    ("VMUUID", None),
    ("VMName", ["vm"]),
    ("HostName", 5),
    ("PortCount", "1"),
    ("PortCount", 1.5),
    ("PortCount", True),
    ("Backend", 1),
    ("Ports", {"ComPort": "COM1"}),
    ("Ports", "COM1"),
    ("ComPort", 1),
    ("Label", ["x"]),
])
def test_wrong_type(shared_populated, param, value):
    """A parameter of the wrong JSON type: 400 ActionParameterValueTypeError."""
    vscd, admin, _, _ = shared_populated
    before = snapshot(admin, vscd.state_dir)
    if param in ("ComPort", "Label"):
        req = good_request(Ports=[{param: value}])
    else:
        req = good_request(**{param: value})
    r = admin.post(ALLOCATE, json=req)
    assert_error(r, 400, "ActionParameterValueTypeError")
    assert_unchanged(admin, vscd, before)


@pytest.mark.parametrize("param,value", [
    ("VMUUID", "not-a-uuid"),
    ("VMUUID", "123456781234123412341234567890ab"),
    ("VMUUID", "g2345678-1234-1234-1234-1234567890ab"),
    ("VMUUID", "12345678-1234-1234-1234-1234567890ab0"),
    ("VMUUID", ""),
    ("VMName", ""),
    ("VMName", "-leading-dash"),
    ("VMName", "has space"),
    ("VMName", "slash/inside"),
    ("VMName", ".."),
    ("VMName", "x" * 65),
    ("HostName", "under_score"),
    ("HostName", "bad host"),
    ("HostName", "semi;colon"),
    ("ComPort", "COM 1"),
    ("ComPort", "COM-1"),
    ("ComPort", ""),
    ("ComPort", "C" * 16),
    ("Label", "bell\x07"),
    ("PortItem", "COM1"),
])
def test_bad_format(shared_populated, param, value):
    """Malformed UUID / VMName / HostName / ComPort / Label / Ports item: 400
    ActionParameterValueFormatError, nothing created."""
    vscd, admin, _, _ = shared_populated
    before = snapshot(admin, vscd.state_dir)
    if param in ("ComPort", "Label"):
        req = good_request(Ports=[{param: value}])
    elif param == "PortItem":
        req = good_request(Ports=[value])
    else:
        req = good_request(**{param: value})
    r = admin.post(ALLOCATE, json=req)
    assert_error(r, 400, "ActionParameterValueFormatError")
    assert_unchanged(admin, vscd, before)


def test_good_formats_accepted(pvscd, padmin):
    """The edges of the formats are accepted: 64-character VMName, 15-character ComPort,
    64-character Label, upper-case UUID, dotted HostName."""
    allocate_ok(padmin, new_uuid().upper(), "A" + "b" * 63, 1, HostName="a-b.c-d.example",
                Ports=[{"ComPort": "X" * 15, "Label": "L" * 64}])
    check_consistency(padmin, pvscd.state_dir)


def test_label_of_64_characters_beyond_ascii_kept_whole(pvscd, padmin):
    """Label's limit is 64 characters (JSON Schema counts characters), not 64 bytes: a
    64-character label of multi-byte characters is kept as given, answered and served, and
    the same request again is the same allocation."""
    u = new_uuid()
    ports = [{"ComPort": "COM1", "Label": "\u20ac" * 64},
             {"Label": "Konsole f\u00fcr " + "\u00e9" * 50}]
    body = allocate_ok(padmin, u, "labelvm", 2, Ports=ports)
    assert [p["Label"] for p in body["Ports"]] == [q["Label"] for q in ports]
    for p, q in zip(body["Ports"], ports):
        assert port_oem(padmin, p["Id"])["Label"] == q["Label"]
    r = allocate(padmin, u, "labelvm", 2, Ports=ports)
    assert r.status_code == 200, r.text
    assert r.json()["Created"] is False
    check_consistency(padmin, pvscd.state_dir)


def test_unknown_parameter(shared_populated):
    vscd, admin, _, _ = shared_populated
    before = snapshot(admin, vscd.state_dir)
    r = admin.post(ALLOCATE, json=good_request(Colour="blue"))
    assert_error(r, 400, "ActionParameterUnknown")
    r = admin.post(ALLOCATE, json=good_request(Ports=[{"ComPort": "COM1", "Speed": 9600}]))
    assert_error(r, 400, "ActionParameterUnknown")
    assert_unchanged(admin, vscd, before)


@pytest.mark.parametrize("count,n_items", [(2, 1), (1, 2), (2, 0)])
def test_ports_length_differs_from_count(shared_populated, count, n_items):
    vscd, admin, _, _ = shared_populated
    before = snapshot(admin, vscd.state_dir)
    items = [{"ComPort": "COM%d" % (i + 1)} for i in range(n_items)]
    r = admin.post(ALLOCATE, json=good_request(PortCount=count, Ports=items))
    assert_error(r, 400, "ActionParameterValueConflict")  # as openapi.yaml says
    args = [m.get("MessageArgs") for m in r.json()["error"]["@Message.ExtendedInfo"]]
    assert args[0][0] == "Ports", args
    assert_unchanged(admin, vscd, before)


@pytest.mark.parametrize("backend", ["serial", "PTY", "", "tcp"])
def test_unknown_backend(shared_populated, backend):
    vscd, admin, _, _ = shared_populated
    before = snapshot(admin, vscd.state_dir)
    r = admin.post(ALLOCATE, json=good_request(Backend=backend))
    assert_error(r, 400, "ActionParameterValueNotInList")
    assert_unchanged(admin, vscd, before)


@pytest.mark.parametrize("count", [0, -1, 9, 17, 1 << 40])
def test_port_count_out_of_range(shared_populated, count):
    """PortCount below 1 or above the per-VM limit (default max_ports_per_vm 8): 400
    ActionParameterValueOutOfRange."""
    vscd, admin, _, _ = shared_populated
    before = snapshot(admin, vscd.state_dir)
    r = admin.post(ALLOCATE, json=good_request(PortCount=count))
    assert_error(r, 400, "ActionParameterValueOutOfRange")
    assert_unchanged(admin, vscd, before)


def test_malformed_json_changes_nothing(shared_populated):
    vscd, admin, _, _ = shared_populated
    before = snapshot(admin, vscd.state_dir)
    r = admin.post(ALLOCATE, data=b'{"VMUUID": ', headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert_unchanged(admin, vscd, before)


def test_limits(make_vscd):
    """--set max_ports / max_ports_per_vm: over the per-VM limit is 400 (and ActionInfo
    says the maximum); over the total is 409 ResourceExhaustion; freeing makes room."""
    v = make_vscd(["--set", "max_ports=3", "--set", "max_ports_per_vm=2"])
    admin = v.admin
    facts = get_json(admin, MANAGER)["Oem"]["Vsc"]
    assert (facts["MaxPorts"], facts["MaxPortsPerVM"]) == (3, 2)
    info = {p["Name"]: p for p in get_json(admin, ALLOCATE_INFO)["Parameters"]}
    assert info["PortCount"]["MaximumValue"] == 2
    before = snapshot(admin, v.state_dir)
    assert_error(allocate(admin, new_uuid(), "big", 3), 400, "ActionParameterValueOutOfRange")
    assert_unchanged(admin, v, before)
    a = allocate_ok(admin, name="a", count=2)
    before = snapshot(admin, v.state_dir)
    b_uuid = new_uuid()
    assert_error(allocate(admin, b_uuid, "b", 2), 409, "ResourceExhaustion")
    assert_unchanged(admin, v, before)
    allocate_ok(admin, b_uuid, "b", 1)
    before = snapshot(admin, v.state_dir)
    c_uuid = new_uuid()
    assert_error(allocate(admin, c_uuid, "c", 1), 409, "ResourceExhaustion")
    assert_unchanged(admin, v, before)
    # a repeat of an existing allocation is not a new one: no limit applies
    r = allocate(admin, a["VMUUID"], "a", 2)
    assert r.status_code == 200 and r.json()["Created"] is False, r.text
    assert free(admin, VMUUID=a["VMUUID"]).status_code == 200
    allocate_ok(admin, c_uuid, "c", 2)
    assert get_json(admin, MANAGER)["Oem"]["Vsc"]["PortsInUse"] == 3
    check_consistency(admin, v.state_dir)


# ---- part 1: free -------------------------------------------------------------------------------


def test_free_by_vm(populated):
    """FreePorts {VMUUID}: every port of the VM freed, its ComputerSystem, SerialInterfaces,
    published paths and console sockets gone; again is harmless (nothing listed)."""
    vscd, admin, a, b = populated
    r = free(admin, VMUUID=a["VMUUID"].upper())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["@odata.type"] == "#Vsc.v1_0_0.FreePortsResponse"
    assert sorted(body["Freed"]) == sorted(p["Id"] for p in a["Ports"])
    assert body["AlreadyFreed"] == []
    assert admin.get(a["System"]["@odata.id"]).status_code == 404
    assert a["System"]["@odata.id"] not in members(admin, SYSTEMS)
    servers = get_json(admin, MANAGER)["Links"]["ManagerForServers"]
    assert a["System"] not in servers and b["System"] in servers
    for p in a["Ports"]:
        assert admin.get(port_uri(p["Id"])).status_code == 404
        assert not os.path.lexists(p["BindPath"])
        assert not os.path.lexists(p["ConsoleSocket"])
    assert not os.path.lexists(os.path.dirname(a["Ports"][0]["BindPath"]))
    check_consistency(admin, vscd.state_dir)
    before = snapshot(admin, vscd.state_dir)
    r = free(admin, VMUUID=a["VMUUID"])
    assert r.status_code == 200, r.text
    assert r.json()["Freed"] == []
    assert_unchanged(admin, vscd, before)


def test_free_by_port(populated):
    """FreePorts {SerialInterfaces}: frees those ports only; the VM stays while it has one;
    freeing its last port removes its ComputerSystem; named ports freed before are listed in
    AlreadyFreed."""
    vscd, admin, a, b = populated
    first, second = a["Ports"]
    r = free(admin, SerialInterfaces=[first["Id"]])
    assert r.status_code == 200, r.text
    assert r.json()["Freed"] == [first["Id"]] and r.json()["AlreadyFreed"] == []
    sys_body = get_json(admin, a["System"]["@odata.id"])
    assert sys_body["Links"]["Oem"]["Vsc"]["SerialInterfaces"] == [second["SerialInterface"]]
    assert not os.path.lexists(first["BindPath"]) and os.path.lexists(second["BindPath"])
    check_consistency(admin, vscd.state_dir)
    r = free(admin, SerialInterfaces=[first["Id"], second["Id"]])
    assert r.status_code == 200, r.text
    assert r.json()["Freed"] == [second["Id"]] and r.json()["AlreadyFreed"] == [first["Id"]]
    assert admin.get(a["System"]["@odata.id"]).status_code == 404
    check_consistency(admin, vscd.state_dir)
    before = snapshot(admin, vscd.state_dir)
    r = free(admin, SerialInterfaces=[second["Id"]])
    assert r.status_code == 200, r.text
    assert r.json() == {"@odata.type": "#Vsc.v1_0_0.FreePortsResponse", "Freed": [],
                        "AlreadyFreed": [second["Id"]]}
    assert_unchanged(admin, vscd, before)


def test_ids_are_not_reused(populated):
    vscd, admin, a, b = populated
    old = {p["Id"] for p in a["Ports"]} | {p["Id"] for p in b["Ports"]}
    assert free(admin, VMUUID=a["VMUUID"]).status_code == 200
    again = allocate_ok(admin, a["VMUUID"], "base1", 2)
    assert not old & {p["Id"] for p in again["Ports"]}


@pytest.mark.parametrize("body,status,message", [
    ({"VMUUID": "99999999-9999-9999-9999-999999999999"}, 404, "ResourceNotFound"),
    ({"SerialInterfaces": ["999"]}, 404, "ResourceNotFound"),
    ({"SerialInterfaces": ["KNOWN", "999"]}, 404, "ResourceNotFound"),
    ({}, 400, "ActionParameterMissing"),
    ({"VMUUID": 5}, 400, "ActionParameterValueTypeError"),
    ({"SerialInterfaces": "1"}, 400, "ActionParameterValueTypeError"),
    ({"SerialInterfaces": ["abc"]}, 400, "ActionParameterValueFormatError"),
    ({"SerialInterfaces": [1]}, 400, "ActionParameterValueFormatError"),
    ({"SerialInterfaces": ["0"]}, 400, "ActionParameterValueFormatError"),
    ({"SerialInterfaces": []}, 400, "ActionParameterValueError"),
    ({"Colour": "blue", "VMUUID": "KNOWNVM"}, 400, "ActionParameterUnknown"),
], ids=["unknown-vm", "unknown-port", "known-and-unknown-port", "empty", "vmuuid-type",
        "list-type", "id-format", "id-number", "id-zero", "empty-list", "unknown-param"])
def test_free_failures_change_nothing(shared_populated, body, status, message):
    """Unknown VM or port: 404; bad input: 400; and nothing is freed (a list naming an
    unknown port frees none of the known ones)."""
    vscd, admin, a, _ = shared_populated
    before = snapshot(admin, vscd.state_dir)
    if body.get("SerialInterfaces") and "KNOWN" in body["SerialInterfaces"]:
        body = {"SerialInterfaces": [a["Ports"][0]["Id"], "999"]}
    if body.get("VMUUID") == "KNOWNVM":
        body = dict(body, VMUUID=a["VMUUID"])
    r = free(admin, **body)
    assert_error(r, status, message)
    assert_unchanged(admin, vscd, before)


def test_free_both_selectors_refused(shared_populated):
    vscd, admin, a, _ = shared_populated
    before = snapshot(admin, vscd.state_dir)
    r = free(admin, VMUUID=a["VMUUID"], SerialInterfaces=[a["Ports"][0]["Id"]])
    assert_error(r, 400, "ActionParameterValueConflict")  # as openapi.yaml says
    args = [m.get("MessageArgs") for m in r.json()["error"]["@Message.ExtendedInfo"]]
    assert args[0][0] == "SerialInterfaces", args
    assert_unchanged(admin, vscd, before)


# ---- part 1: privileges -------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["ReadOnly", "Operator"])
def test_roles_without_configure_manager_get_403(populated, role):
    """Allocate, free and PATCH need ConfigureManager: ReadOnly and Operator get 403 and
    change nothing; they may read."""
    vscd, admin, a, _ = populated
    user = make_user(admin, role.lower() + "1", role)
    before = snapshot(admin, vscd.state_dir)
    assert_error(allocate(user, new_uuid(), "rolevm", 1), 403, "InsufficientPrivilege")
    assert_error(allocate(user, a["VMUUID"], "base1", 2), 403, "InsufficientPrivilege")
    assert_error(free(user, VMUUID=a["VMUUID"]), 403, "InsufficientPrivilege")
    assert_error(free(user, SerialInterfaces=[a["Ports"][0]["Id"]]), 403,
                 "InsufficientPrivilege")
    assert_error(user.patch(port_uri(a["Ports"][0]["Id"]), json={"InterfaceEnabled": False}),
                 403, "InsufficientPrivilege")
    assert_error(user.patch(port_uri(a["Ports"][0]["Id"]), json={"BitRate": "9600"}),
                 403, "InsufficientPrivilege")
    assert_unchanged(admin, vscd, before)
    assert snapshot(user, vscd.state_dir) == before
    assert user.get(ALLOCATE_INFO).status_code == 200


def test_no_credentials_401(shared_populated):
    vscd, admin, a, _ = shared_populated
    anon = Client(vscd.base)
    before = snapshot(admin, vscd.state_dir)
    for method, path, body in (
            ("POST", ALLOCATE, good_request()),
            ("POST", FREE, {"VMUUID": a["VMUUID"]}),
            ("PATCH", port_uri(a["Ports"][0]["Id"]), {"InterfaceEnabled": False}),
            ("GET", SYSTEMS, None), ("GET", a["System"]["@odata.id"], None),
            ("GET", SERIALS, None), ("GET", port_uri(a["Ports"][0]["Id"]), None),
            ("GET", ALLOCATE_INFO, None)):
        r = anon.request(method, path, json=body)
        assert r.status_code == 401, (method, path, r.status_code)
    assert_unchanged(admin, vscd, before)


# ---- part 2: the Redfish view -----------------------------------------------------------------


def test_computer_system(shared_populated):
    vscd, admin, a, b = shared_populated
    s = get_json(admin, b["System"]["@odata.id"])
    assert s["@odata.type"].startswith("#ComputerSystem.")
    assert s["Id"] == s["UUID"] == b["VMUUID"]
    assert s["Name"] == "base2"
    assert s["SystemType"] == "Virtual"
    assert s["HostName"] == "base2.example"
    assert s["Links"]["ManagedBy"] == [{"@odata.id": MANAGER}]
    vsc = s["Links"]["Oem"]["Vsc"]
    assert vsc["SerialInterfaces"] == [p["SerialInterface"] for p in b["Ports"]]
    assert vsc["SerialInterfaces@odata.count"] == 1
    s = get_json(admin, a["System"]["@odata.id"])
    assert "HostName" not in s or s["HostName"] == ""
    assert s["Links"]["Oem"]["Vsc"]["SerialInterfaces"] == [p["SerialInterface"]
                                                            for p in a["Ports"]]
    assert sorted(members(admin, SYSTEMS)) == sorted([a["System"]["@odata.id"],
                                                      b["System"]["@odata.id"]])
    r = admin.get(SYSTEMS + "/" + new_uuid())
    assert_error(r, 404, "ResourceNotFound")


def test_manager_links_and_serial_interfaces(shared_populated):
    """ManagerForServers lists exactly the VMs; the SerialInterfaces collection every port;
    each SerialInterface links back to its ComputerSystem."""
    vscd, admin, a, b = shared_populated
    m = get_json(admin, MANAGER)
    servers = m["Links"]["ManagerForServers"]
    assert sorted(x["@odata.id"] for x in servers) == sorted(members(admin, SYSTEMS))
    assert m["Links"]["ManagerForServers@odata.count"] == 2
    assert m["SerialInterfaces"] == {"@odata.id": SERIALS}
    coll = get_json(admin, SERIALS)
    assert coll["Members@odata.count"] == 3
    assert sorted(x["@odata.id"] for x in coll["Members"]) == sorted(
        p["SerialInterface"]["@odata.id"] for p in a["Ports"] + b["Ports"])
    for vm in (a, b):
        for p in vm["Ports"]:
            si = get_json(admin, port_uri(p["Id"]))
            assert si["Id"] == p["Id"]
            assert si["Links"]["Oem"]["Vsc"]["ComputerSystem"] == vm["System"]
            assert si["InterfaceEnabled"] is True
            assert (si["BitRate"], si["DataBits"], si["Parity"], si["StopBits"],
                    si["FlowControl"]) == ("115200", "8", "None", "1", "None")
            oem = si["Oem"]["Vsc"]
            assert oem["PortState"] == "Waiting" and oem["Error"] is None
            assert oem["AttachedClients"] == 0
            assert oem["BytesFromVM"] == oem["BytesToVM"] == 0
    for bad in ("999", "0", "01", "abc", "1x"):
        assert_error(admin.get(port_uri(bad)), 404, "ResourceNotFound")
    assert admin.get("/redfish/v1/Managers/other/SerialInterfaces").status_code == 404


def test_manager_actions_resolve(pvscd, padmin):
    """Every action Manager Actions.Oem advertises exists: its @Redfish.ActionInfo is an
    ActionInfo at that URI, and its target takes a POST (an empty one is a 400 naming a
    parameter, not a 404/405)."""
    actions = get_json(padmin, MANAGER)["Actions"]["Oem"]
    assert "#Vsc.AllocatePorts" in actions and "#Vsc.FreePorts" in actions
    broken = []
    for name, action in sorted(actions.items()):
        info_uri = action["@Redfish.ActionInfo"]
        r = padmin.get(info_uri)
        if r.status_code != 200:
            broken.append("%s: GET %s -> %d" % (name, info_uri, r.status_code))
        else:
            info = r.json()
            assert info["@odata.id"] == info_uri
            assert info["@odata.type"].startswith("#ActionInfo.")
        r = padmin.post(action["target"], json={})
        if r.status_code != 400:
            broken.append("%s: POST %s {} -> %d" % (name, action["target"], r.status_code))
    assert not broken, broken


def test_action_info(make_vscd):
    v = make_vscd(["--set", "max_ports_per_vm=5"])
    info = get_json(v.admin, ALLOCATE_INFO)
    params = {p["Name"]: p for p in info["Parameters"]}
    assert set(params) == {"VMUUID", "VMName", "HostName", "PortCount", "Backend", "Ports"}
    required = {n for n, p in params.items() if p["Required"]}
    assert required == {"VMUUID", "VMName", "PortCount"}
    assert params["PortCount"]["MinimumValue"] == 1
    assert params["PortCount"]["MaximumValue"] == 5
    assert set(params["Backend"]["AllowableValues"]) == {"pty", "unix", "usb-gadget"}
    assert params["Ports"]["DataType"] == "ObjectArray"
    info = get_json(v.admin, FREE_INFO)
    params = {p["Name"]: p for p in info["Parameters"]}
    assert set(params) == {"VMUUID", "SerialInterfaces"}
    assert not any(p["Required"] for p in params.values())
    assert_error(v.admin.get(MANAGER + "/Oem/Vsc/NoSuchActionInfo"), 404, "ResourceNotFound")


# ---- part 2: PATCH ----------------------------------------------------------------------------


def test_disable_enable_pty(pvscd, padmin):
    """InterfaceEnabled false: PortState Down with an Error, the attached VM is cut off (its
    pty hangs up); true: Waiting again, the symlink leads to a working pty."""
    a = allocate_ok(padmin, name="dis1", count=1)
    p = a["Ports"][0]
    vm = FakePtyVM(p["BindPath"])
    try:
        wait_port_state(padmin, p["Id"], "Connected")
        r = padmin.patch(port_uri(p["Id"]), json={"InterfaceEnabled": False})
        assert r.status_code == 200, r.text
        assert r.json()["InterfaceEnabled"] is False
        oem = r.json()["Oem"]["Vsc"]
        assert oem["PortState"] == "Down" and oem["Error"], oem
        assert vm.wait_eof(2), "the VM's pty still works after the port was disabled"
    finally:
        vm.close()
    assert port_oem(padmin, p["Id"])["PortState"] == "Down"
    r = padmin.patch(port_uri(p["Id"]), json={"InterfaceEnabled": True})
    assert r.status_code == 200, r.text
    oem = r.json()["Oem"]["Vsc"]
    assert oem["PortState"] == "Waiting" and oem["Error"] is None, oem
    vm = FakePtyVM(p["BindPath"])
    try:
        wait_port_state(padmin, p["Id"], "Connected")
    finally:
        vm.close()
    check_consistency(padmin, pvscd.state_dir)


def test_disabled_pty_path_leads_to_no_other_pty(pvscd, padmin):
    """While a pty port is disabled its published path must not lead to another port's pty:
    neither when the pty number it pointed at is handed to a port allocated meanwhile, nor
    after a restart (which makes new ptys for the enabled ports). Else the hypervisor of the
    disabled VM would attach to another VM's console."""
    a = allocate_ok(padmin, name="dis1", count=1)["Ports"][0]
    r = padmin.patch(port_uri(a["Id"]), json={"InterfaceEnabled": False})
    assert r.status_code == 200, r.text
    b = allocate_ok(padmin, name="dis2", count=1)["Ports"][0]

    def clashes(when):
        if not os.path.exists(a["BindPath"]):
            return []
        target = os.path.realpath(a["BindPath"])
        return ["%s: disabled port's %s -> %s, which is VM dis2's pty" % (
            when, a["BindPath"], target)] if target == os.path.realpath(b["BindPath"]) else []

    found = clashes("after another allocation")
    pvscd.restart()
    found += clashes("after a restart")
    assert not found, found


def test_disable_enable_unix(pvscd, padmin):
    """InterfaceEnabled false on a unix port: Down with an Error, the VM's connection is
    closed and new connections are refused; true: it listens again (Waiting), the VM
    reconnects (Connected)."""
    a = allocate_ok(padmin, name="disu", count=1, Backend="unix")
    p = a["Ports"][0]
    vm = FakeUnixVM(p["BindPath"])
    try:
        wait_port_state(padmin, p["Id"], "Connected")
        r = padmin.patch(port_uri(p["Id"]), json={"InterfaceEnabled": False})
        assert r.status_code == 200, r.text
        oem = r.json()["Oem"]["Vsc"]
        assert oem["PortState"] == "Down" and oem["Error"], oem
        assert vm.wait_eof(2), "the VM's connection stayed open after disabling"
    finally:
        vm.close()
    with pytest.raises((ConnectionRefusedError, FileNotFoundError)):
        FakeUnixVM(p["BindPath"])
    assert get_json(padmin, port_uri(p["Id"]))["InterfaceEnabled"] is False
    r = padmin.patch(port_uri(p["Id"]), json={"InterfaceEnabled": True})
    assert r.status_code == 200, r.text
    assert r.json()["Oem"]["Vsc"]["PortState"] == "Waiting"
    vm = FakeUnixVM(p["BindPath"])
    try:
        wait_port_state(padmin, p["Id"], "Connected")
    finally:
        vm.close()
    wait_port_state(padmin, p["Id"], "Waiting")


@pytest.mark.parametrize("prop,value,message", [
    ("BitRate", "9601", "PropertyValueNotInList"),
    ("BitRate", "115200 ", "PropertyValueNotInList"),
    ("BitRate", 115200, "PropertyValueTypeError"),
    ("Parity", "none", "PropertyValueNotInList"),
    ("DataBits", "9", "PropertyValueNotInList"),
    ("DataBits", 8, "PropertyValueTypeError"),
    ("StopBits", "3", "PropertyValueNotInList"),
    ("FlowControl", "XonXoff", "PropertyValueNotInList"),
    ("InterfaceEnabled", "false", "PropertyValueTypeError"),
    ("SignalType", "Rs485", "PropertyNotWritable"),
    ("Id", "7", "PropertyNotWritable"),
    ("Speed", "fast", "PropertyUnknown"),
])
def test_patch_bad_values(shared_populated, prop, value, message):
    vscd, admin, a, _ = shared_populated
    before = snapshot(admin, vscd.state_dir)
    uri = port_uri(a["Ports"][0]["Id"])
    r = admin.patch(uri, json={prop: value})
    assert_error(r, 400, message)
    # a bad value next to a good one: nothing applied
    r = admin.patch(uri, json={prop: value, "BitRate": "9600"} if prop != "BitRate"
                    else {prop: value, "Parity": "Even"})
    assert r.status_code == 400, r.text
    assert_unchanged(admin, vscd, before)


def test_patch_line_settings_persist(make_vscd):
    """Line settings and InterfaceEnabled are stored: a PATCH answers with the new values,
    which are still there after a restart."""
    v = make_vscd()
    admin = v.admin
    a = allocate_ok(admin, name="line", count=2)
    p1, p2 = (p["Id"] for p in a["Ports"])
    want = {"BitRate": "9600", "Parity": "Even", "DataBits": "7", "StopBits": "2",
            "FlowControl": "Hardware"}
    r = admin.patch(port_uri(p1), json=want)
    assert r.status_code == 200, r.text
    assert {k: r.json()[k] for k in want} == want
    r = admin.patch(port_uri(p2), json={"BitRate": "57600", "InterfaceEnabled": False})
    assert r.status_code == 200, r.text
    before = {i: get_json(admin, port_uri(i)) for i in (p1, p2)}
    v.restart()
    after = {i: get_json(admin, port_uri(i)) for i in (p1, p2)}
    assert {k: after[p1][k] for k in want} == want
    assert after[p2]["BitRate"] == "57600" and after[p2]["InterfaceEnabled"] is False
    assert after[p2]["Oem"]["Vsc"]["PortState"] == "Down"
    for i in (p1, p2):
        for k in ("BitRate", "Parity", "DataBits", "StopBits", "FlowControl",
                  "InterfaceEnabled", "Name", "Id", "Links"):
            assert after[i][k] == before[i][k], (i, k)
    check_consistency(admin, v.state_dir)


def test_pty_speed_follows_bit_rate(pvscd, padmin):
    """A pty port's terminal speed is the BitRate it shows, for every BitRate it accepts."""
    import termios
    a = allocate_ok(padmin, name="speed", count=1)
    p = a["Ports"][0]
    vm = FakePtyVM(p["BindPath"])
    wrong = []
    try:
        for rate in ("1200", "2400", "4800", "9600", "19200", "38400", "57600", "115200",
                     "230400"):
            r = padmin.patch(port_uri(p["Id"]), json={"BitRate": rate})
            assert r.status_code == 200, r.text
            speed = termios.tcgetattr(vm.fd)[5]
            if speed != getattr(termios, "B" + rate):
                wrong.append(rate)
    finally:
        vm.close()
    assert not wrong, "BitRate accepted but the pty keeps another speed for: %s" % wrong
