"""The audit trail (docs/SECURITY.md, "Audit trail"): logins, logouts, console attach /
detach / input, mode, access-rule, account and allocation changes — who, when, from where —
served as the Manager's Audit LogService to Administrators only; never a password."""
import sqlite3
import time

import pytest
import requests

from conftest import ADMIN_PASSWORD, Client, assert_error
from helpers_auth import create_account, unique
from helpers_ports import (EchoBeside, FakeUnixVM, allocate_ok, free, get_json, members,
                           vscd_factory)
from test_console_ws import connect

AUDIT = "/redfish/v1/Managers/bmc/LogServices/Audit"


@pytest.fixture
def make_vscd():
    yield from vscd_factory()


def trail(v):
    return [get_json(v.admin, m) for m in members(v.admin, AUDIT + "/Entries")]


def records(v, action=None):
    out = [e["Oem"]["Vsc"] for e in trail(v)]
    return [r for r in out if action is None or r["Action"] == action]


def test_logins_logouts_and_failures(make_vscd):
    v = make_vscd()
    name = unique("op")
    _, pw = create_account(v.admin, name, "Operator")
    c = Client(v.base)
    token, uri = c.login(name, pw)
    r = requests.post(v.base + "/redfish/v1/SessionService/Sessions", verify=False,
                      json={"UserName": name, "Password": "wrong-" + pw})
    assert r.status_code == 401
    r = requests.get(v.base + "/redfish/v1/Systems", verify=False, auth=(name, "nope-" + pw))
    assert r.status_code == 401
    assert Client(v.base, token=token).delete(uri).status_code == 204
    got = [(r["Action"], r["UserName"]) for r in records(v)
           if r["UserName"] == name or name in r["Detail"]]
    assert ("Login", name) in got
    assert got.count(("LoginFailed", name)) == 2
    assert ("Logout", name) in got
    failed = [e for e in trail(v) if e["Oem"]["Vsc"]["Action"] == "LoginFailed"]
    assert all(e["Severity"] == "Warning" for e in failed)
    assert {e["Oem"]["Vsc"]["ClientAddress"] for e in failed} == {"127.0.0.1"}
    assert any("HTTP Basic" in e["Oem"]["Vsc"]["Detail"] for e in failed)
    created = [r for r in records(v, "AccountChange") if name in r["Detail"]]
    assert created and created[0]["UserName"] == "admin"
    every = str(trail(v))
    assert pw not in every and "wrong-" not in every and token not in every


def test_console_attach_input_detach_and_modes(make_vscd):
    v = make_vscd()
    v.token, _ = v.admin.login("admin", ADMIN_PASSWORD)
    port = allocate_ok(v.admin, Backend="unix")["Ports"][0]
    vm = FakeUnixVM.connect_retry(port["BindPath"])
    con = connect(v, port["Id"])
    con.ws.send_binary(b"root\r")
    con.ws.send_binary(b"s3cret-typed\r")
    vm.read_until(b"s3cret-typed\r")
    r = v.admin.patch(port["@odata.id"] if "@odata.id" in port else
                      "/redfish/v1/Managers/bmc/SerialInterfaces/" + port["Id"],
                      json={"Oem": {"Vsc": {"Mode": "Private"}}})
    assert r.status_code == 200, r.text
    con.close()
    target = "/redfish/v1/Managers/bmc/SerialInterfaces/" + port["Id"]
    time.sleep(0.3)

    def mine(action):
        return [r for r in records(v, action) if r["Target"] == target]
    assert len(mine("ConsoleAttach")) == 1
    (inp,) = mine("ConsoleInput")
    assert "sent 18 byte(s)" in inp["Detail"] and inp["UserName"] == "admin"
    assert "s3cret" not in str(trail(v))  # bytes are not kept unless configured
    (det,) = mine("ConsoleDetach")
    assert "18 byte(s) of input" in det["Detail"]
    modes = mine("ModeChange")
    assert modes and "Private" in modes[0]["Detail"] and modes[0]["UserName"] == "admin"
    assert modes[0]["ClientAddress"] == "127.0.0.1"  # the PATCH's, as every request's row
    assert [r["Action"] for r in records(v, "PortsAllocated")] == ["PortsAllocated"]
    vm.close()


def test_console_input_bytes_when_configured(make_vscd):
    v = make_vscd(extra_args=["--set", "audit_console_input=true"])
    v.token, _ = v.admin.login("admin", ADMIN_PASSWORD)
    port = allocate_ok(v.admin, Backend="unix")["Ports"][0]
    vm = FakeUnixVM.connect_retry(port["BindPath"])
    con = connect(v, port["Id"])
    con.ws.send_binary(b"uptime\r\n\x03")
    vm.read_until(b"\x03")
    con.close()
    time.sleep(0.3)
    (inp,) = records(v, "ConsoleInput")
    assert inp["Detail"].endswith('sent 9 byte(s): "uptime\\r\\n\\x03"'), inp
    r = v.admin.post("/redfish/v1/Managers/bmc/Actions/Oem/Vsc.SendInput",
                     json={"Ports": [port["Id"]], "Data": "ls\r"})
    assert r.status_code == 200, r.text
    sent = [x for x in records(v, "ConsoleInput") if "SendInput" in x["Detail"]]
    assert sent and sent[0]["Detail"] == 'SendInput: 3 byte(s) to port(s) [%s]: "ls\\r"' % port["Id"]
    # Input no port took is not console input: no entry, and its bytes are not kept.
    before = len(records(v, "ConsoleInput"))
    r = v.admin.post("/redfish/v1/Managers/bmc/Actions/Oem/Vsc.SendInput",
                     json={"Ports": ["999999"], "Data": "never-sent\r"})
    assert r.status_code == 200 and r.json()["Results"][0]["Result"] != "Sent", r.text
    assert len(records(v, "ConsoleInput")) == before
    assert "never-sent" not in str(trail(v))
    vm.close()


def test_allocations_rules_and_frees(make_vscd):
    v = make_vscd()
    a = allocate_ok(v.admin, HostName="audited")
    pid = a["Ports"][0]["Id"]
    rules = "/redfish/v1/Managers/bmc/SerialInterfaces/%s/Oem/Vsc/AccessRules" % pid
    assert v.admin.post(rules, json={"RoleId": "ReadOnly", "Right": "Watch",
                                     "Effect": "Deny"}).status_code == 201
    assert free(v.admin, VMUUID=a["VMUUID"]).status_code == 200
    (alloc,) = records(v, "PortsAllocated")
    assert alloc["Target"] == a["System"]["@odata.id"] and "host audited" in alloc["Detail"]
    (rule,) = records(v, "AccessRuleChange")
    assert "deny Watch to role ReadOnly" in rule["Detail"]
    (freed,) = records(v, "PortsFreed")
    assert '["%s"]' % pid in freed["Detail"] and a["VMUUID"] in freed["Detail"]


def test_only_administrators_read_it(make_vscd):
    v = make_vscd()
    for role in ("Operator", "ReadOnly"):
        name = unique(role[:2].lower())
        _, pw = create_account(v.admin, name, role)
        c = Client(v.base, auth=(name, pw))
        assert members(c, "/redfish/v1/Managers/bmc/LogServices") == [AUDIT]
        for path in (AUDIT, AUDIT + "/Entries", AUDIT + "/Entries/1"):
            assert_error(c.get(path), 403, "InsufficientPrivilege")
        assert_error(c.post(AUDIT + "/Actions/LogService.ClearLog", json={}), 403,
                     "InsufficientPrivilege")
    log = get_json(v.admin, AUDIT)
    assert log["LogEntryType"] == "OEM" and log["MaxNumberOfRecords"] == 100000
    assert get_json(v.admin, "/redfish/v1/Managers/bmc")["LogServices"]["@odata.id"] == \
        "/redfish/v1/Managers/bmc/LogServices"


def test_clear_and_cap(make_vscd):
    v = make_vscd(extra_args=["--set", "audit_entries=100", "--set", "login_failures_per_minute=0"])
    for i in range(120):
        r = requests.get(v.base + "/redfish/v1/Systems", verify=False,
                         auth=("nobody%d" % i, "x"))
        assert r.status_code == 401
    got = members(v.admin, AUDIT + "/Entries")
    assert len(got) == 100
    ids = [int(m.rsplit("/", 1)[1]) for m in got]
    assert ids == sorted(ids) and ids[-1] - ids[0] == 99
    assert get_json(v.admin, got[-1])["Oem"]["Vsc"]["UserName"] == "nobody119"
    assert_error(v.admin.post(AUDIT + "/Actions/LogService.ClearLog", json={"X": 1}), 400,
                 "ActionParameterUnknown")
    assert v.admin.post(AUDIT + "/Actions/LogService.ClearLog", json={}).status_code == 204
    (only,) = records(v)
    assert only["Action"] == "AuditLogCleared" and "100 entries removed" in only["Detail"]


def test_a_long_trail_is_listed_a_page_at_a_time(make_vscd):
    """100,000 entries (the default cap) fill the trail: the collection answers 1,000 members
    at a time without $top (Members@odata.count the whole, a next link for the rest), honours
    $skip/$top up to 10,000 a page, and listing it holds up no console (it built all 100,000
    members in the loop before: 0.23-0.25 s of every console waiting, docs/BENCHMARKS.md)."""
    v = make_vscd()
    v.stop()
    db = sqlite3.connect(v.state_dir + "/vsc.db")
    db.executemany("INSERT INTO audit_log (created_us, action, user_name, client, target, "
                   "detail) VALUES (?, 'Login', 'admin', '127.0.0.1', '', 'filler')",
                   [(1700000000000000 + i,) for i in range(100000)])
    db.commit()
    ids = [row[0] for row in db.execute("SELECT id FROM audit_log ORDER BY id")]
    db.close()
    v.start()
    entries = AUDIT + "/Entries"
    first = get_json(v.admin, entries)
    total = first["Members@odata.count"]
    assert total >= len(ids) and len(first["Members"]) == 1000
    assert first["Members@odata.nextLink"] == entries + "?$skip=1000&$top=1000"
    got = [int(m["@odata.id"].rsplit("/", 1)[1]) for m in first["Members"]]
    assert got == ids[:1000]
    page = get_json(v.admin, entries + "?$skip=5&$top=10")
    assert [int(m["@odata.id"].rsplit("/", 1)[1]) for m in page["Members"]] == ids[5:15]
    assert page["Members@odata.nextLink"] == entries + "?$skip=15&$top=10"
    page = get_json(v.admin, entries + "?$skip=95000&$top=50000")
    assert len(page["Members"]) == min(10000, total - 95000)  # 10,000 at most a page
    assert page["Members@odata.count"] == total
    last = get_json(v.admin, entries + "?$skip=%d" % (total - 3))
    assert len(last["Members"]) == 3 and "Members@odata.nextLink" not in last
    everything = members(v.admin, entries)
    assert len(everything) == total == len(set(everything))

    p = allocate_ok(v.admin, Backend="unix", HostName="beside")["Ports"][0]
    vm = FakeUnixVM.connect_retry(p["BindPath"])
    v.token, _ = Client(v.base).login("admin", ADMIN_PASSWORD)
    con = connect(v, p["Id"])
    with EchoBeside(vm, con) as console:
        for _ in range(5):
            assert v.admin.get(entries).status_code == 200
    con.close()
    vm.close()
    assert console.slowest() < 0.15, "console output waited %.2f s" % console.slowest()


# ---- brute force and session limits ------------------------------------------------------------


def test_failed_logins_from_one_address_are_limited(make_vscd):
    v = make_vscd(extra_args=["--set", "login_failures_per_minute=5"])
    name = unique("bf")
    _, pw = create_account(v.admin, name, "ReadOnly")
    token, _ = Client(v.base).login("admin", ADMIN_PASSWORD)
    login = v.base + "/redfish/v1/SessionService/Sessions"
    for _ in range(5):
        r = requests.post(login, verify=False, json={"UserName": name, "Password": "guess"})
        assert r.status_code == 401
    r = requests.post(login, verify=False, json={"UserName": name, "Password": pw})
    assert_error(r, 429, "ServiceTemporarilyUnavailable")  # even the right password: unchecked
    assert 1 <= int(r.headers["Retry-After"]) <= 12
    r = requests.get(v.base + "/redfish/v1/Systems", verify=False, auth=(name, pw))
    assert_error(r, 429, "ServiceTemporarilyUnavailable")  # Basic too
    # A session token is not a password: it still works from the limited address.
    admin = Client(v.base, token=token)
    assert admin.get("/redfish/v1/Systems").status_code == 200
    limited = [get_json(admin, m)["Oem"]["Vsc"] for m in members(admin, AUDIT + "/Entries")]
    limited = [x for x in limited if "too many failed logins" in x["Detail"]]
    assert len(limited) == 2


def test_sessions_per_user(make_vscd):
    v = make_vscd(extra_args=["--set", "max_sessions_per_user=2"])
    name = unique("ss")
    _, pw = create_account(v.admin, name, "ReadOnly")
    c = Client(v.base)
    c.login(name, pw)
    c.login(name, pw)
    r = requests.post(v.base + "/redfish/v1/SessionService/Sessions", verify=False,
                      json={"UserName": name, "Password": pw})
    assert_error(r, 503, "SessionLimitExceeded")
    c.login("admin", ADMIN_PASSWORD)  # another user is not held back


def test_no_secret_in_the_log(make_vscd):
    """Passwords, session tokens and console tickets never reach vscd's log, whatever
    happens to them (logins good and bad, Basic, a ticket used, an account created)."""
    v = make_vscd(extra_args=["--log-level", "debug"])
    name = unique("sl")
    _, pw = create_account(v.admin, name, "Operator")
    token, uri = Client(v.base).login(name, pw)
    requests.post(v.base + "/redfish/v1/SessionService/Sessions", verify=False,
                  json={"UserName": name, "Password": "Wr0ng-" + pw})
    requests.get(v.base + "/redfish/v1/Systems", verify=False, auth=(name, "Basic-" + pw))
    port = allocate_ok(v.admin, Backend="unix")["Ports"][0]
    r = Client(v.base, token=token).post("/redfish/v1/SessionService/Oem/Vsc/ConsoleTickets",
                                         json={"SerialInterface": port["Id"]})
    assert r.status_code in (200, 201), r.text
    ticket = r.json()["Ticket"]
    v.token = token
    connect(v, port["Id"]).close()
    assert Client(v.base, token=token).delete(uri).status_code == 204
    time.sleep(0.2)
    log = v.read_log()
    assert "session" in log and name in log  # the log did record these events
    for secret in (pw, token, ticket, ADMIN_PASSWORD):
        assert secret not in log, "a secret is in the log"
