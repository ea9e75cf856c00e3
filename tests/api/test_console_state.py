"""VM state from the console (docs/console-states.md): the detector's verdict on the
ComputerSystem (Status, PowerState, BootProgress, Oem.Vsc), the console LogService's
entries, administrator rules, and what outlives the VM and vscd."""
import sqlite3
import time
from urllib.parse import quote

import pytest

from conftest import Client, assert_error
from helpers_auth import create_account, unique
from helpers_ports import FakeUnixVM, allocate_ok, free, get_json, members, vscd_factory, wait_for
from test_crawl import links_in

RULES = "/redfish/v1/Managers/bmc/Oem/Vsc/ConsoleStateRules"

BOOT = (b"SeaBIOS (version 1.16.2-debian-1.16.2-1)\r\n"
        b"Booting from ROM...\r\n"
        b"[    0.000000] Linux version 6.1.0-28-amd64 (debian-kernel@lists.debian.org) #1 SMP\r\n"
        b"[    0.512345] Run /init as init process\r\n"
        b"\r\nvsc-vm login: ")
PANIC_BEFORE = [b"[   42.000001] sysrq: Trigger a crash",
                b"[   42.000002] CPU: 0 PID: 91 Comm: sh Not tainted 6.1.0-28-amd64 #1"]
PANIC_LINE = b"[   42.000003] Kernel panic - not syncing: sysrq triggered crash"
PANIC_AFTER = [b"[   42.000004] CPU: 0 PID: 91 Comm: sh Not tainted 6.1.0-28-amd64 #1",
               b"[   42.000005] Call Trace:",
               b"[   42.000006] ---[ end Kernel panic - not syncing: sysrq triggered crash ]---"]


@pytest.fixture
def make_vscd():
    yield from vscd_factory()


def boot_vm(v, host="vm-state"):
    """Allocates one unix port for a new VM and connects its VM side."""
    a = allocate_ok(v.admin, Backend="unix", HostName=host)
    vm = FakeUnixVM.connect_retry(a["Ports"][0]["BindPath"])
    return a, vm


def system(v, a):
    return get_json(v.admin, a["System"]["@odata.id"])


def wait_state(v, a, state, timeout=5.0):
    return wait_for(lambda: (lambda s: s if s["Oem"]["Vsc"]["ConsoleState"] == state else None)(
        system(v, a)), timeout=timeout, what="console state %s" % state)


def log_uri(a):
    return a["System"]["@odata.id"] + "/LogServices/Console"


def entries(v, a):
    return [get_json(v.admin, m) for m in members(v.admin, log_uri(a) + "/Entries")]


def test_a_new_vm_shows_unknown(make_vscd):
    v = make_vscd()
    a, vm = boot_vm(v)
    s = system(v, a)
    assert s["Oem"]["Vsc"]["ConsoleState"] == "Unknown"
    assert s["Status"] == {"State": "Enabled", "Health": "OK"}
    assert "BootProgress" not in s
    assert s["LogServices"]["@odata.id"] == a["System"]["@odata.id"] + "/LogServices"
    assert members(v.admin, log_uri(a) + "/Entries") == []
    vm.close()


def test_boot_to_login_walks_the_states(make_vscd):
    v = make_vscd()
    a, vm = boot_vm(v)
    vm.send(BOOT)
    s = wait_state(v, a, "Running")
    assert s["Status"] == {"State": "Enabled", "Health": "OK"}
    assert s["PowerState"] == "On"
    assert s["BootProgress"]["LastState"] == "OSRunning"
    assert "LastStateTime" in s["BootProgress"]
    assert s["Oem"]["Vsc"]["ConsoleStateLine"] == "vsc-vm login:" or \
        s["Oem"]["Vsc"]["ConsoleStateLine"].startswith("vsc-vm login:")
    got = entries(v, a)
    assert [e["Oem"]["Vsc"]["State"] for e in got] == ["Firmware", "Booting", "Running"]
    assert [e["Oem"]["Vsc"]["PreviousState"] for e in got] == ["Unknown", "Firmware", "Booting"]
    first = got[0]
    assert first["EntryType"] == "Event" and first["Severity"] == "OK"
    assert first["MessageId"] == "VscEvents.1.0.ConsoleStateChanged"
    assert first["MessageArgs"][:2] == ["vm-state", "Firmware"]
    assert first["Links"]["OriginOfCondition"]["@odata.id"] == a["System"]["@odata.id"]
    assert "SeaBIOS (version 1.16.2" in first["Oem"]["Vsc"]["Line"]
    assert any("Linux version" in line for line in got[2]["Oem"]["Vsc"]["LinesBefore"])
    vm.close()


def test_panic_is_critical_with_lines_before_and_after(make_vscd):
    v = make_vscd()
    a, vm = boot_vm(v, host="crashy")
    vm.send(BOOT + b"\r\n")
    wait_state(v, a, "Running")
    vm.send(b"\r\n".join(PANIC_BEFORE + [PANIC_LINE] + PANIC_AFTER) + b"\r\n")
    s = wait_state(v, a, "Panic")
    assert s["Status"]["Health"] == "Critical"
    assert s["BootProgress"]["LastState"] == "OEM"
    assert s["BootProgress"]["OemLastState"] == "KernelPanic"
    assert "Kernel panic - not syncing" in s["Oem"]["Vsc"]["ConsoleStateLine"]
    # The lines after the panic are attached once the console is quiet for a second.
    panic = wait_for(lambda: (lambda e: e if "LinesAfter" in e["Oem"]["Vsc"] else None)(
        entries(v, a)[-1]), timeout=5, what="LinesAfter")
    assert panic["Severity"] == "Critical"
    assert panic["MessageId"] == "VscEvents.1.0.ConsolePanic"
    assert panic["MessageArgs"] == ["crashy", PANIC_LINE.decode()]
    before = panic["Oem"]["Vsc"]["LinesBefore"]
    assert before[-2:] == [l.decode() for l in PANIC_BEFORE]
    assert panic["Oem"]["Vsc"]["LinesAfter"] == [l.decode() for l in PANIC_AFTER]
    vm.close()


def test_a_private_port_s_lines_stay_out_of_the_state_log(make_vscd):
    """The state is everyone's, the console lines that told it are not while the port is
    private (docs/SECURITY.md): a panic printed in private is Critical for all, but its
    line, the lines before and after it are not in the Status, the LogEntry or the event
    arguments; after the mode ends, the next change's lines before start after it."""
    v = make_vscd()
    a, vm = boot_vm(v, host="hush")
    vm.send(BOOT + b"\r\n")
    wait_state(v, a, "Running")
    port = a["Ports"][0]["@odata.id"] if "@odata.id" in a["Ports"][0] else (
        "/redfish/v1/Managers/bmc/SerialInterfaces/" + a["Ports"][0]["Id"])
    r = v.admin.patch(port, json={"Oem": {"Vsc": {"Mode": "Private"}}})
    assert r.status_code == 200, r.text
    vm.send(b"\r\n".join(PANIC_BEFORE + [PANIC_LINE] + PANIC_AFTER) + b"\r\n")
    s = wait_state(v, a, "Panic")
    assert s["Status"]["Health"] == "Critical"
    assert s["Oem"]["Vsc"]["ConsoleStateLine"] == "[vsc: private output]"
    panic = wait_for(lambda: (lambda e: e if "LinesAfter" in e["Oem"]["Vsc"] else None)(
        entries(v, a)[-1]), timeout=5, what="LinesAfter")
    assert panic["MessageArgs"] == ["hush", "[vsc: private output]"]
    assert panic["Oem"]["Vsc"]["LinesBefore"] == []
    assert panic["Oem"]["Vsc"]["LinesAfter"] == []
    r = v.admin.patch(port, json={"Oem": {"Vsc": {"Mode": "Free"}}})
    assert r.status_code == 200, r.text
    vm.send(b"after the release\r\n[   50.1] reboot: Restarting system\r\n")
    wait_state(v, a, "Rebooting")
    logged = wait_for(lambda: (lambda e: e if e[-1]["Oem"]["Vsc"]["State"] == "Rebooting"
                               else None)(entries(v, a)), timeout=5, what="the entry")
    assert logged[-1]["Oem"]["Vsc"]["LinesBefore"] == ["after the release"]
    for text in (b"sysrq", b"Call Trace"):
        assert text.decode() not in str(logged) and text.decode() not in str(system(v, a))
    vm.close()


def test_a_port_denied_watch_shows_no_lines_in_the_state(make_vscd):
    """An access rule denying a user Watch on a port keeps its console lines from them in
    the VM's state too (as its WebSocket and transcript do): they see the state and its
    time, and a placeholder for the line and no lines before or after; others see all."""
    v = make_vscd()
    a, vm = boot_vm(v, host="ruled")
    ro_name = unique("ro")
    create_account(v.admin, ro_name, "ReadOnly", password="password-ro-1")
    ro = Client(v.base, auth=(ro_name, "password-ro-1"))
    port = "/redfish/v1/Managers/bmc/SerialInterfaces/" + a["Ports"][0]["Id"]
    r = v.admin.post(port + "/Oem/Vsc/AccessRules",
                     json={"UserName": ro_name, "Right": "Watch", "Effect": "Deny"})
    assert r.status_code == 201, r.text
    vm.send(BOOT + b"\r\n" + b"\r\n".join(PANIC_BEFORE + [PANIC_LINE] + PANIC_AFTER) + b"\r\n")
    wait_state(v, a, "Panic")
    panic = wait_for(lambda: (lambda e: e if "LinesAfter" in e["Oem"]["Vsc"] else None)(
        entries(v, a)[-1]), timeout=5, what="LinesAfter")
    assert panic["Oem"]["Vsc"]["LinesBefore"][-2:] == [l.decode() for l in PANIC_BEFORE]
    hidden = "[vsc: not shown: no Watch right on this port]"
    s = get_json(ro, a["System"]["@odata.id"])
    assert s["Status"]["Health"] == "Critical" and s["Oem"]["Vsc"]["ConsoleState"] == "Panic"
    assert s["Oem"]["Vsc"]["ConsoleStateLine"] == hidden
    seen = get_json(ro, panic["@odata.id"])
    assert seen["Oem"]["Vsc"]["Line"] == hidden and seen["MessageArgs"] == ["ruled", hidden]
    assert seen["Oem"]["Vsc"]["LinesBefore"] == [] and seen["Oem"]["Vsc"]["LinesAfter"] == []
    for e in members(ro, log_uri(a) + "/Entries"):
        assert "Linux version" not in str(get_json(ro, e))
    vm.close()


def test_power_off_and_reboot(make_vscd):
    v = make_vscd()
    a, vm = boot_vm(v)
    vm.send(BOOT + b"\r\n[   50.1] reboot: Restarting system\r\n")
    s = wait_state(v, a, "Rebooting")
    assert s["Status"]["State"] == "Starting"
    assert s["BootProgress"]["OemLastState"] == "Rebooting"
    vm.send(b"[   60.2] reboot: Power down\r\n")
    s = wait_state(v, a, "Off")
    assert s["PowerState"] == "Off"
    assert s["Status"]["State"] == "Disabled"
    vm.close()


def test_state_and_entries_survive_restart(make_vscd):
    v = make_vscd()
    a, vm = boot_vm(v)
    vm.send(BOOT)
    before = wait_state(v, a, "Running")
    vm.close()
    v.restart()
    after = system(v, a)
    assert after["Oem"]["Vsc"]["ConsoleState"] == "Running"
    assert after["BootProgress"] == before["BootProgress"]
    assert len(members(v.admin, log_uri(a) + "/Entries")) == 3


def test_state_survives_restart_after_clear_log_and_expiry(make_vscd):
    """The state is what the console last said, not what the log still holds: neither
    ClearLog nor entries past history_max_age (a VM up for longer than that) take it away
    at the next restart."""
    v = make_vscd()
    a, vm = boot_vm(v)
    vm.send(BOOT)
    before = wait_state(v, a, "Running")
    vm.close()
    assert v.admin.post(log_uri(a) + "/Actions/LogService.ClearLog", json={}).status_code == 204
    v.restart()
    after = system(v, a)
    assert after["Oem"]["Vsc"]["ConsoleState"] == "Running", after["Oem"]["Vsc"]
    assert after["BootProgress"] == before["BootProgress"]
    assert members(v.admin, log_uri(a) + "/Entries") == []

    b, vm = boot_vm(v, host="vm-old")
    vm.send(BOOT)
    wait_state(v, b, "Running")
    vm.close()
    v.stop()
    db = sqlite3.connect(v.state_dir + "/vsc.db")  # booted eight days ago
    db.execute("UPDATE console_log SET created_us = created_us - 8 * 86400 * 1000000")
    db.commit()
    db.close()
    v.start()
    wait_for(lambda: members(v.admin, log_uri(b) + "/Entries") == [], timeout=5,
             what="entries past history_max_age expired")
    v.restart()
    assert system(v, b)["Oem"]["Vsc"]["ConsoleState"] == "Running"


def test_a_freed_vm_keeps_its_console_log(make_vscd):
    v = make_vscd()
    a, vm = boot_vm(v)
    vm.send(BOOT)
    wait_state(v, a, "Running")
    vm.close()
    assert free(v.admin, VMUUID=a["VMUUID"]).status_code == 200
    assert v.admin.get(a["System"]["@odata.id"]).status_code == 404
    log = get_json(v.admin, log_uri(a))
    assert log["Oem"]["Vsc"]["SystemFreed"] is True
    assert len(members(v.admin, log_uri(a) + "/Entries")) == 3
    histories = get_json(v.admin, "/redfish/v1/Managers/bmc")["Oem"]["Vsc"]["ConsoleHistories"]
    assert {"@odata.id": log_uri(a)} in histories
    # A VM that never existed has none.
    r = v.admin.get("/redfish/v1/Systems/00000000-0000-4000-8000-000000000000/LogServices/Console")
    assert_error(r, 404, "ResourceNotFound")


def test_a_vm_allocated_again_starts_unknown_before_and_after_a_restart(make_vscd):
    """A VM freed after a panic and allocated again (the same VMUUID, a new boot) starts
    Unknown, and a restart before its console says anything does not bring the panic of
    its earlier life back."""
    v = make_vscd()
    a, vm = boot_vm(v, host="reborn")
    vm.send(BOOT + b"\r\n" + PANIC_LINE + b"\r\n")
    wait_state(v, a, "Panic")
    vm.close()
    assert free(v.admin, VMUUID=a["VMUUID"]).status_code == 200
    allocate_ok(v.admin, uuid=a["VMUUID"], Backend="unix", HostName="reborn")
    assert system(v, a)["Oem"]["Vsc"]["ConsoleState"] == "Unknown"
    v.restart()
    s = system(v, a)
    assert s["Oem"]["Vsc"]["ConsoleState"] == "Unknown", s["Oem"]["Vsc"]
    assert s["Status"]["Health"] == "OK"


def test_a_freed_vm_s_log_entries_link_nothing_gone(make_vscd):
    """A freed VM's kept entries name no removed ComputerSystem (every @odata.id a resource
    gives resolves, DSP0266); while the VM lives, OriginOfCondition is its system."""
    v = make_vscd()
    a, vm = boot_vm(v)
    vm.send(BOOT)
    wait_state(v, a, "Running")
    vm.close()
    entries = members(v.admin, log_uri(a) + "/Entries")
    live = get_json(v.admin, entries[0])
    assert live["Links"]["OriginOfCondition"] == a["System"], live["Links"]
    assert free(v.admin, VMUUID=a["VMUUID"]).status_code == 200
    for uri in entries:
        entry = get_json(v.admin, uri)
        for link in links_in(entry):
            assert v.admin.get(link).status_code == 200, (uri, link)


def test_entries_page_with_top_and_skip(make_vscd):
    v = make_vscd()
    a, vm = boot_vm(v)
    vm.send(BOOT)
    wait_state(v, a, "Running")
    all_members = members(v.admin, log_uri(a) + "/Entries")
    assert len(all_members) == 3
    page = get_json(v.admin, log_uri(a) + "/Entries?$top=1&$skip=1")
    assert [m["@odata.id"] for m in page["Members"]] == all_members[1:2]
    assert page["Members@odata.count"] == 3
    assert page["Members@odata.nextLink"] == log_uri(a) + "/Entries?$skip=2&$top=1"
    assert_error(v.admin.get(log_uri(a) + "/Entries?$top=x"), 400,
                 "QueryParameterValueTypeError")
    vm.close()


def test_many_entries_come_a_page_at_a_time(make_vscd):
    """console_log_entries may be 100,000 per VM: without $top the Entries collection answers
    1,000 members, the count of all and a next link; $top asks for up to 10,000 a page."""
    v = make_vscd(extra_args=["--set", "console_log_entries=100000"])
    a, vm = boot_vm(v)
    uuid = a["System"]["@odata.id"].rsplit("/", 1)[1]
    vm.close()
    v.stop()
    db = sqlite3.connect(v.state_dir + "/vsc.db")
    db.executemany("INSERT INTO console_log (vm_uuid, port_idx, created_us, state, previous, "
                   "rule_id, line) VALUES (?, 1, ?, 'Running', 'Booting', 'r', 'l')",
                   [(uuid, 1700000000000000 + i) for i in range(2500)])
    db.commit()
    ids = [r[0] for r in db.execute("SELECT id FROM console_log WHERE vm_uuid = ? ORDER BY id",
                                    (uuid,))]
    db.close()
    v.start()
    first = get_json(v.admin, log_uri(a) + "/Entries")
    assert first["Members@odata.count"] == len(ids) == 2500
    assert [int(m["@odata.id"].rsplit("/", 1)[1]) for m in first["Members"]] == ids[:1000]
    assert first["Members@odata.nextLink"] == log_uri(a) + "/Entries?$skip=1000&$top=1000"
    assert len(get_json(v.admin, log_uri(a) + "/Entries?$top=5000")["Members"]) == 2500
    everything = members(v.admin, log_uri(a) + "/Entries")
    assert [int(m.rsplit("/", 1)[1]) for m in everything] == ids


def test_clear_log(make_vscd):
    v = make_vscd()
    a, vm = boot_vm(v)
    vm.send(BOOT)
    wait_state(v, a, "Running")
    name = unique("ro")
    _, pw = create_account(v.admin, name, "ReadOnly")
    target = log_uri(a) + "/Actions/LogService.ClearLog"
    assert_error(Client(v.base, auth=(name, pw)).post(target, json={}), 403, "InsufficientPrivilege")
    assert_error(v.admin.post(target, json={"Bogus": 1}), 400, "ActionParameterUnknown")
    assert len(members(v.admin, log_uri(a) + "/Entries")) == 3
    assert v.admin.post(target, json={}).status_code == 204
    assert members(v.admin, log_uri(a) + "/Entries") == []
    assert system(v, a)["Oem"]["Vsc"]["ConsoleState"] == "Running"  # the state stays
    vm.close()


def test_entries_are_capped_per_vm(make_vscd):
    v = make_vscd(extra_args=["--set", "console_log_entries=10"])
    a, vm = boot_vm(v)
    for i in range(8):
        vm.send(b"reboot: Restarting system\r\nLinux version 6.1.%d\r\n" % i)
        time.sleep(0.02)
    wait_for(lambda: system(v, a)["Oem"]["Vsc"]["ConsoleState"] == "Booting" and
             len(members(v.admin, log_uri(a) + "/Entries")) == 10, what="10 entries")
    got = entries(v, a)
    assert got[-1]["Oem"]["Vsc"]["Line"] == "Linux version 6.1.7"
    ids = [int(e["Id"]) for e in got]
    assert ids == sorted(ids) and len(set(ids)) == 10
    vm.close()


def test_a_flapping_console_is_bounded(make_vscd):
    """Hundreds of changes at once: the state stays current, the log and events take a
    bounded number, and the rest is counted."""
    v = make_vscd()
    a, vm = boot_vm(v)
    vm.send(b"".join(b"reboot: Restarting system\r\nLinux version 6.1.%d\r\n" % i
                     for i in range(300)))
    vm.send(b"reboot: Power down\r\n")
    s = wait_state(v, a, "Off")
    n = len(members(v.admin, log_uri(a) + "/Entries"))
    assert 20 <= n <= 25, n
    assert s["Oem"]["Vsc"]["StateChangesSuppressed"] >= 500
    vm.close()


def test_a_state_the_budget_held_back_survives_a_restart(make_vscd):
    """The last change of a flapping console waits for the LogEntry budget (one a second);
    vscd stopped meanwhile still comes back with the state it showed, not an older one."""
    v = make_vscd()
    a, vm = boot_vm(v)
    vm.send(b"".join(b"reboot: Restarting system\r\nLinux version 6.1.%d\r\n" % i
                     for i in range(30)))
    vm.send(b"reboot: Power down\r\n")
    wait_state(v, a, "Off")
    vm.close()
    v.restart()  # within the second the held-back change waits
    s = system(v, a)
    assert s["Oem"]["Vsc"]["ConsoleState"] == "Off", s["Oem"]["Vsc"]
    assert s["PowerState"] == "Off"


# ---- administrator rules ---------------------------------------------------------------------


def test_builtin_rules_are_listed_and_fixed(make_vscd):
    v = make_vscd()
    ids = [m.rsplit("/", 1)[1] for m in members(v.admin, RULES)]
    assert len(ids) >= 6
    rule = get_json(v.admin, RULES + "/" + ids[0])
    assert rule["BuiltIn"] is True and rule["State"] in (
        "Firmware", "Booting", "Running", "Panic", "Rebooting", "Off")
    assert_error(v.admin.delete(RULES + "/" + ids[0]), 405, "ResourceCannotBeDeleted")
    assert_error(v.admin.get(RULES + "/no-such-rule"), 404, "ResourceNotFound")


def test_an_administrator_rule_sets_state_and_persists(make_vscd):
    v = make_vscd()
    body = {"Id": "app.ready", "Pattern": "^APP READY( v[0-9]+)?$", "State": "Running"}
    r = v.admin.post(RULES, json=body)
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == RULES + "/app.ready"
    assert r.json()["BuiltIn"] is False
    assert members(v.admin, RULES)[0] == RULES + "/app.ready"  # tried first
    a, vm = boot_vm(v)
    vm.send(b"Linux version 6.1.0\r\nAPP READY v2\r\n")
    s = wait_state(v, a, "Running")
    assert s["Oem"]["Vsc"]["ConsoleStateRule"] == "app.ready"
    vm.close()
    v.restart()
    assert get_json(v.admin, RULES + "/app.ready")["Pattern"] == body["Pattern"]
    assert v.admin.delete(RULES + "/app.ready").status_code == 204
    assert v.admin.get(RULES + "/app.ready").status_code == 404
    v.restart()
    assert v.admin.get(RULES + "/app.ready").status_code == 404


def test_bad_rules_are_refused(make_vscd):
    v = make_vscd()
    ok = {"Id": "r1", "Pattern": "READY", "State": "Running"}
    assert_error(v.admin.post(RULES, json=dict(ok, Pattern="(unclosed")), 400, "PropertyValueError")
    r = v.admin.post(RULES, json=dict(ok, Id="bad id!"))
    assert_error(r, 400, "PropertyValueError")
    assert r.json()["error"]["@Message.ExtendedInfo"][0]["MessageArgs"] == ["Id"]
    r = v.admin.post(RULES, json=dict(ok, Pattern="(unclosed"))
    assert r.json()["error"]["@Message.ExtendedInfo"][0]["MessageArgs"] == ["Pattern"]
    assert_error(v.admin.post(RULES, json=dict(ok, State="Sleeping")), 400,
                 "PropertyValueNotInList")
    assert_error(v.admin.post(RULES, json=dict(ok, State="Unknown")), 400,
                 "PropertyValueNotInList")
    assert_error(v.admin.post(RULES, json={"Id": "r1"}), 400, "CreateFailedMissingReqProperties")
    assert_error(v.admin.post(RULES, json=dict(ok, Pattern="x" * 257)), 400,
                 "PropertyValueOutOfRange")
    assert_error(v.admin.post(RULES, json=dict(ok, BuiltIn=True)), 400, "PropertyNotWritable")
    builtin = members(v.admin, RULES)[0].rsplit("/", 1)[1]
    assert_error(v.admin.post(RULES, json=dict(ok, Id=builtin)), 409, "ResourceAlreadyExists")
    assert v.admin.post(RULES, json=ok).status_code == 201
    assert_error(v.admin.post(RULES, json=ok), 409, "ResourceAlreadyExists")
    name = unique("op")
    _, pw = create_account(v.admin, name, "Operator")
    op = Client(v.base, auth=(name, pw))
    assert_error(op.post(RULES, json=dict(ok, Id="r2")), 403, "InsufficientPrivilege")
    assert_error(op.delete(RULES + "/r1"), 403, "InsufficientPrivilege")
    assert get_json(op, RULES + "/r1")["Pattern"] == "READY"
    assert len([m for m in members(v.admin, RULES) if m.endswith("/r1")]) == 1


# ---- events ------------------------------------------------------------------------------------


def test_state_changes_are_events_within_100ms(make_vscd):
    """A panic line reaches an SSE listener as ConsolePanic (the line in its arguments)
    within 100 ms of the VM printing it; a $filter can ask for panics only."""
    from test_events import SSE, opened, record
    v = make_vscd()
    a, vm = boot_vm(v, host="eventful")
    system_uri = a["System"]["@odata.id"]
    every = opened(v.base)
    panics = opened(v.base, path=SSE + "?$filter=" + quote(
        "MessageId eq 'VscEvents.1.0.ConsolePanic'"))
    try:
        vm.send(b"Linux version 6.1.0\r\n")
        recs = [record(e) for e in every.take(2, timeout=3)]
        assert [r["MessageId"] for r in recs] == [
            "ResourceEvent.1.4.ResourceChanged", "VscEvents.1.0.ConsoleStateChanged"]
        assert recs[1]["MessageArgs"] == ["eventful", "Booting", "Linux version 6.1.0"]
        assert all(r["OriginOfCondition"]["@odata.id"] == system_uri for r in recs)
        sent = time.monotonic()
        vm.send(PANIC_LINE + b"\r\n")
        got = record(panics.next(timeout=3))
        lag = time.monotonic() - sent
        assert lag < 0.1, lag
        assert got["MessageId"] == "VscEvents.1.0.ConsolePanic"
        assert got["MessageSeverity"] == "Critical"
        assert got["MessageArgs"] == ["eventful", PANIC_LINE.decode()]
        assert PANIC_LINE.decode() in got["Message"]
        assert [record(e)["MessageId"] for e in every.take(2, timeout=3)] == [
            "ResourceEvent.1.4.ResourceChanged", "VscEvents.1.0.ConsolePanic"]
        assert panics.next(timeout=0.3) is None  # nothing else passes the filter
    finally:
        every.close()
        panics.close()
        vm.close()


def test_state_events_keep_a_denied_port_s_line_from_the_user(make_vscd):
    """ConsoleStateChanged / ConsolePanic carry the console line that told; a user an access
    rule denies Watch on that port receives the same event (same id) with a placeholder for
    the line, in MessageArgs and Message; the Administrator's stream has the line."""
    from test_events import SSE, opened, record
    v = make_vscd()
    a, vm = boot_vm(v, host="guarded")
    ro_name = unique("ro")
    _, pw = create_account(v.admin, ro_name, "ReadOnly")
    port = "/redfish/v1/Managers/bmc/SerialInterfaces/" + a["Ports"][0]["Id"]
    r = v.admin.post(port + "/Oem/Vsc/AccessRules",
                     json={"UserName": ro_name, "Right": "Watch", "Effect": "Deny"})
    assert r.status_code == 201, r.text
    only = SSE + "?$filter=" + quote("MessageId eq 'VscEvents.1.0.ConsolePanic'")
    admin_s = opened(v.base, path=only)
    ro_s = opened(v.base, path=only, auth=(ro_name, pw))
    try:
        vm.send(PANIC_LINE + b"\r\n")
        mine, theirs = admin_s.next(timeout=3), ro_s.next(timeout=3)
        assert mine["id"] == theirs["id"]
        assert record(mine)["MessageArgs"] == ["guarded", PANIC_LINE.decode()]
        hidden = "[vsc: not shown: no Watch right on this port]"
        rec = record(theirs)
        assert rec["MessageArgs"] == ["guarded", hidden]
        assert hidden in rec["Message"] and "Kernel panic" not in str(theirs)
    finally:
        admin_s.close()
        ro_s.close()
        vm.close()
