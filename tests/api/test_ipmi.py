"""The port command as IPMI bytes (Vsc.IpmiRequest; layout in docs/ipmi-oem.md)."""
import os
import uuid

import pytest

import conftest
from conftest import assert_error

IPMI = "/redfish/v1/Managers/bmc/Actions/Oem/Vsc.IpmiRequest"
IANA = "d9 7e 00"


def uuid_hex(u):
    return " ".join("%02x" % b for b in uuid.UUID(u).bytes)


def ipmi(client, cmd, data, transport=None, netfn="2E"):
    body = {"NetFn": netfn, "Command": cmd, "Data": data}
    if transport:
        body["Transport"] = transport
    r = client.post(IPMI, json=body)
    assert r.status_code == 200, r.text
    j = r.json()
    return j["CompletionCode"], bytes.fromhex(j["Data"])


def allocate_bytes(u, count, backend=1, name=None):
    data = "%s %s %02x %02x" % (IANA, uuid_hex(u), count, backend)
    if name is not None:
        data += " %02x %s" % (len(name), name.encode().hex())
    return data


def systems(client):
    return sorted(m["@odata.id"] for m in client.get("/redfish/v1/Systems").json()["Members"])


def test_allocate_get_free_round_trip(admin):
    """Allocate over IPMB, read the ports with get over LAN, free by VM: the Redfish view follows."""
    u = str(uuid.uuid4())
    cc, data = ipmi(admin, "01", allocate_bytes(u, 2, 1, "ip1"))
    assert cc == "00"
    assert data[:3] == bytes.fromhex("d97e00")
    created, total, listed = data[3], data[4], data[5]
    assert (created, total, listed) == (1, 2, 2)
    ids = [int.from_bytes(data[6 + 5 * i:10 + 5 * i], "little") for i in range(2)]
    sysdoc = admin.get("/redfish/v1/Systems/" + u).json()
    assert sysdoc["Name"] == "ip1"
    linked = sorted(l["@odata.id"].rsplit("/", 1)[1] for l in
                    sysdoc["Links"]["Oem"]["Vsc"]["SerialInterfaces"])
    assert linked == sorted(str(i) for i in ids)

    cc2, again = ipmi(admin, "01", allocate_bytes(u, 2, 1, "ip1"))
    assert cc2 == "00" and again[3] == 0 and again[6:] == data[6:]  # idempotent, not created

    cc, got = ipmi(admin, "03", "%s %s" % (IANA, uuid_hex(u)), transport="LAN")
    assert cc == "00" and got[3] == 2  # total
    port = admin.get("/redfish/v1/Managers/bmc/SerialInterfaces/%d" % ids[0]).json()
    path = port["Oem"]["Vsc"]["BindPath"].encode()
    assert path in got

    cc, freed = ipmi(admin, "02", "%s 00 %s" % (IANA, uuid_hex(u)))
    assert cc == "00" and freed[3:5] == bytes([1, 2])
    assert "/redfish/v1/Systems/" + u not in systems(admin)
    cc, again = ipmi(admin, "02", "%s 00 %s" % (IANA, uuid_hex(u)))
    assert cc == "00" and again[3:5] == bytes([0, 0])  # freeing twice is harmless


@pytest.mark.parametrize("cut", [0, 2, 3, 10, 19, 20])
def test_truncated_allocate_is_c7_and_changes_nothing(admin, cut):
    u = str(uuid.uuid4())
    full = bytes.fromhex(allocate_bytes(u, 1).replace(" ", ""))
    before = systems(admin)
    cc, _ = ipmi(admin, "01", full[:cut].hex())
    assert cc == "C7"
    assert systems(admin) == before


def test_over_ipmb_limit_is_refused_but_fits_lan(admin):
    """A named allocate longer than 25 bytes: C8 over IPMB (nothing made), fine over LAN."""
    u = str(uuid.uuid4())
    data = allocate_bytes(u, 1, 1, "a-long-vm-name")
    before = systems(admin)
    cc, _ = ipmi(admin, "01", data)
    assert cc == "C8"
    assert systems(admin) == before
    cc, _ = ipmi(admin, "01", data, transport="LAN")
    assert cc == "00"
    assert "/redfish/v1/Systems/" + u in systems(admin)


def test_count_above_per_vm_limit_is_c9_whatever_exists(admin):
    """A port count above max_ports_per_vm (8 by default) is C9, as a count above 16 is, for a
    VM that has ports and for a name another VM holds too (fields in byte order: the count
    comes first), as the Redfish action's PortCount is out of range first."""
    u = str(uuid.uuid4())
    assert ipmi(admin, "01", allocate_bytes(u, 2, 1, "lim1"), transport="LAN")[0] == "00"
    before = systems(admin)
    cc, _ = ipmi(admin, "01", allocate_bytes(u, 9, 1, "lim1"), transport="LAN")
    assert cc == "C9"
    cc, _ = ipmi(admin, "01", allocate_bytes(str(uuid.uuid4()), 9, 1, "lim1"), transport="LAN")
    assert cc == "C9"
    assert systems(admin) == before


def test_repeat_without_a_name_matches_another_name_conflicts(admin):
    """docs/ipmi-oem.md: a repeat without a name is the same request whatever the VM's name;
    one that names the VM otherwise is D5 and changes nothing."""
    u = str(uuid.uuid4())
    cc, first = ipmi(admin, "01", allocate_bytes(u, 2, 1, "rp1"))
    assert cc == "00" and first[3] == 1
    cc, again = ipmi(admin, "01", allocate_bytes(u, 2, 1))
    assert cc == "00" and again[3] == 0 and again[6:] == first[6:]
    before = systems(admin)
    cc, _ = ipmi(admin, "01", allocate_bytes(u, 2, 1, "rp2"))
    assert cc == "D5"
    assert systems(admin) == before
    assert admin.get("/redfish/v1/Systems/" + u).json()["Name"] == "rp1"


FAKE_CONFIGFS = os.path.join(os.path.dirname(os.path.abspath(conftest.VSCD)), "..",
                             "fakeconfigfs.so")


@pytest.mark.skipif(not os.path.exists(FAKE_CONFIGFS), reason="build/fakeconfigfs.so not built")
def test_allocate_lists_the_usb_interface_of_gadget_ports(tmp_path):
    """usb-gadget ports (on the fake configfs): allocate lists each port's USB interface
    number, 2*(n-1) as in its BindPath's -ifNN (docs/usb-gadget.md), not FF."""
    cfs, udc = tmp_path / "cfs", tmp_path / "udc"
    cfs.mkdir()
    udc.mkdir()
    (udc / "udc0").mkdir()
    env = {"LD_PRELOAD": FAKE_CONFIGFS, "FAKE_CONFIGFS_ROOT": str(cfs),
           "FAKE_UDC_DIR": str(udc), "VSC_CONFIGFS": str(cfs), "VSC_UDC_DIR": str(udc),
           "VSC_TTY_DIR": str(tmp_path), "ASAN_OPTIONS": "verify_asan_link_order=0"}
    v = conftest.Vscd(str(tmp_path / "s"), env=env).start()
    try:
        admin = conftest.Client(v.base, auth=("admin", conftest.ADMIN_PASSWORD))
        u = str(uuid.uuid4())
        cc, data = ipmi(admin, "01", allocate_bytes(u, 3, 3, "usb"))
        assert cc == "00", data
        assert (data[3], data[4], data[5]) == (1, 3, 3)
        links = {p["@odata.id"].rsplit("/", 1)[1]: p for p in
                 admin.get("/redfish/v1/Systems/" + u).json()["Links"]["Oem"]["Vsc"][
                     "SerialInterfaces"]}
        assert len(links) == 3
        for i in range(3):
            entry = data[6 + 5 * i:11 + 5 * i]
            pid = int.from_bytes(entry[:4], "little")
            bind = admin.get("/redfish/v1/Managers/bmc/SerialInterfaces/%d" % pid).json()[
                "Oem"]["Vsc"]["BindPath"]
            assert bind.endswith("-if%02x" % (2 * i)), bind
            assert entry[4] == 2 * i, (i, entry.hex())
    finally:
        v.stop()


@pytest.mark.parametrize("desc,cmd,data,netfn,want", [
    ("wrong IANA", "01", "01 02 03 " + "00" * 16 + " 01 01", "2E", "CC"),
    ("unknown sub-command", "09", IANA, "2E", "C1"),
    ("wrong NetFn", "01", IANA, "30", "C1"),
    ("count zero", "01", IANA + " " + "11" * 16 + " 00 01", "2E", "C9"),
    ("bad backend", "01", IANA + " " + "11" * 16 + " 01 07", "2E", "CC"),
    ("bad name character", "01", IANA + " " + "11" * 16 + " 01 01 01 2f", "2E", "CC"),
    ("name length mismatch", "01", IANA + " " + "11" * 16 + " 01 01 03 61", "2E", "C7"),
    ("free unknown port", "02", IANA + " 01 ff ff 00 00", "2E", "CB"),
    ("get unknown VM", "03", IANA + " " + "22" * 16, "2E", "CB"),
])
def test_malformed_requests_answer_ipmi_completion_codes(admin, desc, cmd, data, netfn, want):
    before = systems(admin)
    cc, _ = ipmi(admin, cmd, data, netfn=netfn)
    assert cc == want, desc
    assert systems(admin) == before


@pytest.mark.parametrize("body,param", [
    ({"NetFn": "2E", "Command": "01", "Data": "zz"}, "Data"),
    ({"NetFn": "2E", "Command": "1", "Data": ""}, "Command"),
    ({"NetFn": "4E", "Command": "01", "Data": ""}, "NetFn"),
    ({"NetFn": "2E", "Command": "01", "Data": "d9 7e 0"}, "Data"),
])
def test_bad_hex_is_a_redfish_error(admin, body, param):
    r = admin.post(IPMI, json=body)
    assert_error(r, 400, "ActionParameterValueFormatError")
    assert param in r.text


def test_missing_parameter_and_bad_transport(admin):
    assert_error(admin.post(IPMI, json={"NetFn": "2E", "Command": "01"}), 400,
                 "ActionParameterMissing")
    r = admin.post(IPMI, json={"NetFn": "2E", "Command": "01", "Data": "", "Transport": "USB"})
    assert_error(r, 400, "ActionParameterValueNotInList")


def test_action_info_describes_the_parameters(admin):
    info = admin.get("/redfish/v1/Managers/bmc/Oem/Vsc/IpmiRequestActionInfo").json()
    names = {p["Name"]: p for p in info["Parameters"]}
    assert set(names) == {"NetFn", "Command", "Data", "Transport"}
    assert names["Transport"]["AllowableValues"] == ["IPMB", "LAN"]
