"""A VM's console output history through Redfish: the console LogService's transcript
(Oem.Vsc.Transcript: the last bytes, a time range, one port), kept after the VM is freed and
across restarts (docs/console-states.md, "Console history")."""
import datetime
import os
import struct
import time
import zlib

import pytest

from conftest import assert_error, make_user
from helpers_auth import unique
from helpers_ports import (FakeUnixVM, allocate_ok, free, get_json, members, port_uri, vscd_factory,
                           wait_for)


@pytest.fixture
def make_vscd():
    yield from vscd_factory()


def log_uri(a):
    return a["System"]["@odata.id"] + "/LogServices/Console"


def transcript(v, a, validate=True, **params):
    r = v.admin.get(log_uri(a) + "/Oem/Vsc/Transcript", params=params)
    if not validate:
        return r
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain")
    return r.content


def rfc3339(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat()


def vm_with_ports(v, count=1):
    a = allocate_ok(v.admin, count=count, Backend="unix", HostName="hist")
    return a, [FakeUnixVM.connect_retry(p["BindPath"]) for p in a["Ports"]]


def test_the_last_output_is_one_request_away(make_vscd):
    v = make_vscd()
    a, (vm,) = vm_with_ports(v)
    lines = b"".join(b"line %04d of the boot\r\n" % i for i in range(5000))  # ~115 KB
    vm.send(lines + b"[   9.1] Kernel panic - not syncing: Attempted to kill init!\r\n")
    want_end = b"Kernel panic - not syncing: Attempted to kill init!\r\n"
    wait_for(lambda: transcript(v, a).endswith(want_end), what="the panic in the transcript")
    body = transcript(v, a)
    assert body == (lines + b"[   9.1] " + want_end)[-65536:]  # the default: the last 64 KiB
    assert transcript(v, a, Tail=20) == want_end[-20:]
    assert transcript(v, a, Tail=200000) == lines + b"[   9.1] " + want_end
    log = get_json(v.admin, log_uri(a))
    assert log["Oem"]["Vsc"]["Transcript"] == log_uri(a) + "/Oem/Vsc/Transcript"
    assert log["Oem"]["Vsc"]["HistoryBytes"] >= len(lines)
    vm.close()


def test_time_ranges_and_ports(make_vscd):
    v = make_vscd()
    a, (vm1, vm2) = vm_with_ports(v, count=2)
    vm1.send(b"first on one\r\n")
    vm2.send(b"first on two\r\n")
    wait_for(lambda: transcript(v, a).count(b"first") == 2, what="the first lines")
    time.sleep(0.3)
    middle = time.time()
    time.sleep(0.3)
    vm1.send(b"second on one\r\n")
    wait_for(lambda: b"second" in transcript(v, a), what="the second line")
    assert transcript(v, a, Start=rfc3339(middle)) == b"second on one\r\n"
    early = transcript(v, a, End=rfc3339(middle))
    assert sorted(early.split(b"\r\n")) == [b"", b"first on one", b"first on two"]
    assert transcript(v, a, Port=2) == b"first on two\r\n"
    assert transcript(v, a, Port=1, End=rfc3339(middle)) == b"first on one\r\n"
    assert transcript(v, a, Start=rfc3339(time.time() + 60)) == b""
    assert transcript(v, a, Port=7) == b""
    # Z and +00:00 are the same instant.
    z = rfc3339(middle).replace("+00:00", "Z")
    assert transcript(v, a, Start=z) == b"second on one\r\n"
    vm1.close()
    vm2.close()


def test_bad_transcript_queries(make_vscd):
    v = make_vscd()
    a, (vm,) = vm_with_ports(v)
    for params, msg in [({"Start": "yesterday"}, "QueryParameterValueFormatError"),
                        ({"End": "2026-11-26T03:00:00"}, "QueryParameterValueFormatError"),
                        ({"Tail": "0"}, "QueryParameterOutOfRange"),
                        ({"Tail": "-5"}, "QueryParameterOutOfRange"),
                        ({"Tail": "99999999999"}, "QueryParameterOutOfRange"),
                        ({"Port": "one"}, "QueryParameterOutOfRange"),
                        ({"Start": "2026-11-26T03:00:00Z", "End": "2026-11-26T02:00:00Z"},
                         "QueryCombinationInvalid")]:
        assert_error(transcript(v, a, validate=False, **params), 400, msg)
    r = v.admin.get("/redfish/v1/Systems/not-a-vm/LogServices/Console/Oem/Vsc/Transcript")
    assert_error(r, 404, "ResourceNotFound")
    vm.close()


def test_history_outlives_the_vm_and_vscd(make_vscd):
    v = make_vscd()
    a, (vm,) = vm_with_ports(v)
    vm.send(b"goodbye, cruel world\r\n")
    wait_for(lambda: b"goodbye" in transcript(v, a), what="the output")
    vm.close()
    assert free(v.admin, VMUUID=a["VMUUID"]).status_code == 200
    assert v.admin.get(a["System"]["@odata.id"]).status_code == 404
    assert transcript(v, a) == b"goodbye, cruel world\r\n"
    v.restart()
    assert transcript(v, a) == b"goodbye, cruel world\r\n"
    log = get_json(v.admin, log_uri(a))
    assert log["Oem"]["Vsc"]["SystemFreed"] is True
    histories = get_json(v.admin, "/redfish/v1/Managers/bmc")["Oem"]["Vsc"]["ConsoleHistories"]
    assert {"@odata.id": log_uri(a)} in histories
    assert members(v.admin, log_uri(a) + "/Entries") == []


def test_a_panic_entry_links_to_the_output_around_it(make_vscd):
    v = make_vscd()
    a, (vm,) = vm_with_ports(v)
    vm.send(b"Linux version 6.1.0\r\nlast words\r\nKernel panic - not syncing: Fatal exception\r\n")
    uri = wait_for(lambda: members(v.admin, log_uri(a) + "/Entries")[1:], what="two entries")[0]
    entry = get_json(v.admin, uri)
    assert entry["Oem"]["Vsc"]["State"] == "Panic"
    link = entry["AdditionalDataURI"]
    assert link.startswith(log_uri(a) + "/Oem/Vsc/Transcript?Start=")
    r = v.admin.get(link)
    assert r.status_code == 200
    assert b"last words\r\nKernel panic - not syncing: Fatal exception" in r.content
    vm.close()


def write_segment(state_dir, uuid, idx, records):
    """A history segment made by hand in the documented format (service/history.h): records
    are (time_us, lost, data); a record with lost > 0 is a gap."""
    d = os.path.join(state_dir, "history", uuid.lower(), str(idx))
    os.makedirs(d, exist_ok=True)
    out = bytearray()
    for t, lost, data in records:
        head = struct.pack("<4sIqQI", b"VSH1", len(data), t, lost, 1 if lost else 0)
        out += head + struct.pack("<I", zlib.crc32(data, zlib.crc32(head))) + data
    with open(os.path.join(d, "%016x.seg" % records[0][0]), "wb") as f:
        f.write(out)


def gap_text(lost):
    return b"\r\n[vsc: %d bytes of console output were not kept]\r\n" % lost


def test_a_tail_is_the_last_bytes_even_with_many_gaps(make_vscd):
    """A console that printed faster than the disk took, for a long time: its history
    alternates gaps and kept lines, and the gap lines make the text longer than the bytes
    kept. A Tail is still the last N bytes of that text, not its first ones."""
    v = make_vscd()
    a = allocate_ok(v.admin, count=1, Backend="unix", HostName="hist")
    assert v.stop() == 0
    t0 = int((time.time() - 3600) * 1e6)
    records, text = [], b""
    for i in range(5000):
        line = b"line %04d\r\n" % i
        records += [(t0 + 2 * i, 100, b""), (t0 + 2 * i + 1, 0, line)]
        text += gap_text(100) + line
    write_segment(v.state_dir, a["VMUUID"], 1, records)
    v.start()
    r = v.admin.get(log_uri(a) + "/Oem/Vsc/Transcript")
    assert r.status_code == 200
    assert "Vsc-Transcript-Truncated" not in r.headers
    assert r.content == text[-65536:]
    assert transcript(v, a, Tail=1000) == text[-1000:]
    assert transcript(v, a, Tail=len(text)) == text


def test_a_tail_is_the_last_bytes_when_the_clock_stood_still(make_vscd):
    """After the wall clock stepped back, a port's records carry its last time until the
    clock catches up (service/history.h): one time for a lot of output. A Tail is still the
    last N bytes."""
    v = make_vscd()
    a = allocate_ok(v.admin, count=1, Backend="unix", HostName="hist")
    assert v.stop() == 0
    t0 = int((time.time() - 3600) * 1e6)
    lines = [b"line %05d of the output while the clock was behind\r\n" % i for i in range(8000)]
    write_segment(v.state_dir, a["VMUUID"], 1, [(t0, 0, line) for line in lines])
    text = b"".join(lines)
    v.start()
    r = v.admin.get(log_uri(a) + "/Oem/Vsc/Transcript", params={"Tail": 100})
    assert r.status_code == 200
    assert "Vsc-Transcript-Truncated" not in r.headers
    assert r.content == text[-100:]
    assert transcript(v, a) == text[-65536:]


def test_the_epoch_is_a_time_like_any_other(make_vscd):
    """Start=1970-01-01T00:00:00Z asks for everything kept, End=1970-01-01T00:00:00Z for
    nothing: neither is the same as leaving the parameter out."""
    v = make_vscd()
    a, (vm,) = vm_with_ports(v)
    lines = b"".join(b"line %04d of the boot\r\n" % i for i in range(5000))  # ~115 KB
    vm.send(lines)
    wait_for(lambda: transcript(v, a).endswith(b"line 4999 of the boot\r\n"), what="the output")
    epoch = "1970-01-01T00:00:00Z"
    assert transcript(v, a, Start=epoch) == lines
    assert transcript(v, a, End=epoch) == b""
    assert_error(transcript(v, a, validate=False, Start="2026-11-26T03:00:00Z", End=epoch), 400,
                 "QueryCombinationInvalid")
    vm.close()


def test_a_port_denied_watch_is_not_in_its_transcript(make_vscd):
    """An access rule that denies a user Watch on a port (docs/console-protocol.md, "Access
    rules") keeps that port's output from them in the transcript too, as on its WebSocket:
    the port is left out of the merged transcript, and ?Port= of it is 403."""
    v = make_vscd()
    a, (vm1, vm2) = vm_with_ports(v, count=2)
    p1, p2 = a["Ports"][0]["Id"], a["Ports"][1]["Id"]
    ro = make_user(v.admin, unique("ro"), "ReadOnly")
    r = v.admin.post(port_uri(p1) + "/Oem/Vsc/AccessRules",
                     json={"UserName": ro.s.auth[0], "Right": "Watch", "Effect": "Deny"})
    assert r.status_code == 201, r.text
    vm1.send(b"root password: hunter2\r\n")
    vm2.send(b"port two for all\r\n")
    wait_for(lambda: transcript(v, a).count(b"\r\n") == 2, what="both lines")
    uri = log_uri(a) + "/Oem/Vsc/Transcript"
    for params in [{}, {"Tail": 1000}, {"Start": "1970-01-01T00:00:00Z"}]:
        r = ro.get(uri, params=params)
        assert r.status_code == 200, r.text
        assert r.content == b"port two for all\r\n", params
    assert_error(ro.get(uri, params={"Port": 1}), 403, "InsufficientPrivilege")
    assert ro.get(uri, params={"Port": 2}).content == b"port two for all\r\n"
    r = v.admin.post(port_uri(p2) + "/Oem/Vsc/AccessRules",
                     json={"UserName": ro.s.auth[0], "Right": "Watch", "Effect": "Deny"})
    assert r.status_code == 201, r.text
    assert_error(ro.get(uri), 403, "InsufficientPrivilege")
    assert b"hunter2" in transcript(v, a)  # the Administrator's rights are untouched
    vm1.close()
    vm2.close()


def test_private_output_is_not_in_others_transcript(make_vscd):
    """Output a port prints while private (docs/SECURITY.md, "What private mode guarantees")
    is kept, but the transcript shows it only to Administrators: a ReadOnly or Operator user
    reads a line counting the bytes instead, and the output before and after as usual."""
    v = make_vscd()
    a, (vm,) = vm_with_ports(v)
    pid = a["Ports"][0]["Id"]
    ro = make_user(v.admin, unique("ro"), "ReadOnly")
    op = make_user(v.admin, unique("op"), "Operator")
    vm.send(b"before\r\n")
    wait_for(lambda: transcript(v, a) == b"before\r\n", what="the line before")
    secret = b"private: root password hunter2\r\n"
    for mode, out in (("Private", secret), ("Free", b"after\r\n")):
        r = v.admin.patch(port_uri(pid), json={"Oem": {"Vsc": {"Mode": mode}}})
        assert r.status_code == 200, r.text
        vm.send(out)
        wait_for(lambda: transcript(v, a).endswith(out), what=out)
    assert transcript(v, a) == b"before\r\n" + secret + b"after\r\n"
    hidden = b"before\r\n\r\n[vsc: %d bytes of private output not shown]\r\nafter\r\n" % len(secret)
    uri = log_uri(a) + "/Oem/Vsc/Transcript"
    for user in (ro, op):
        for params in ({}, {"Port": 1}, {"Tail": 100000}):
            r = user.get(uri, params=params)
            assert r.status_code == 200, r.text
            assert r.content == hidden, (params, r.content)
    vm.close()
