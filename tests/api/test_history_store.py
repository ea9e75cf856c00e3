"""Console history on disk (service/history.h): what a fake VM prints lands in
<state>/history/<vm-uuid>/<port>/<first-time-hex>.seg in the documented record format, is
kept over restarts and after the VM is freed, and a small per-port cap drops old segments.
The files are parsed here independently of vscd's reader (docs/ARCHITECTURE.md, "Console
history")."""
import os
import struct
import time
import zlib

import pytest

from helpers_ports import (FakePtyVM, allocate_ok, free, port_oem, vscd_factory, wait_port_field,
                           wait_port_state)

MAGIC = b"VSH1"
HDR = struct.Struct("<4sIqQII")  # magic, len, time_us, lost, flags, crc
FLAG_GAP = 1


@pytest.fixture
def make_vscd():
    yield from vscd_factory()


def parse_segment(path):
    """Every record of a segment file, checked field by field: [(time_us, lost, data)]."""
    with open(path, "rb") as f:
        raw = f.read()
    out, off = [], 0
    while off < len(raw):
        assert len(raw) - off >= HDR.size, "%s: a torn header at %d" % (path, off)
        magic, length, t, lost, flags, crc = HDR.unpack_from(raw, off)
        assert magic == MAGIC, (path, off, magic)
        assert flags & ~FLAG_GAP == 0, (path, off, flags)
        data = raw[off + HDR.size:off + HDR.size + length]
        assert len(data) == length, "%s: a torn record at %d" % (path, off)
        assert zlib.crc32(data, zlib.crc32(raw[off:off + 28])) == crc, (path, off)
        if flags & FLAG_GAP:
            assert length == 0 and lost > 0, (path, off)
        else:
            assert lost == 0, (path, off)
        out.append((t, lost, data))
        off += HDR.size + length
    return out


def port_history(state_dir, uuid, idx):
    """The port's records in order, checking the segment names: 16 hex digits of the first
    record's time, increasing; record times never decrease. [] when there is no history."""
    d = os.path.join(state_dir, "history", uuid.lower(), str(idx))
    if not os.path.isdir(d):
        return []
    records, last_name = [], -1
    for name in sorted(os.listdir(d)):
        assert name.endswith(".seg") and len(name) == 20, name
        start = int(name[:16], 16)
        assert start > last_name, name
        last_name = start
        recs = parse_segment(os.path.join(d, name))
        assert recs, "%s is empty" % name
        assert recs[0][0] == start, (name, recs[0][0])
        records += recs
    times = [r[0] for r in records]
    assert times == sorted(times), "record times go back"
    return records


def payload(records):
    assert all(lost == 0 for _, lost, _ in records), "unexpected gap records"
    return b"".join(data for _, _, data in records)


def vm_prints(admin, port, *chunks):
    """A fake VM opens the port's pty and prints the chunks, each read by vscd (BytesFromVM)
    before the next; then it closes the pty."""
    vm = FakePtyVM(port["BindPath"])
    try:
        wait_port_state(admin, port["Id"], "Connected")
        for data in chunks:
            before = port_oem(admin, port["Id"])["BytesFromVM"]
            vm.send(data)
            wait_port_field(admin, port["Id"], "BytesFromVM", before + len(data))
    finally:
        vm.close()


def now_us():
    return int(time.time() * 1e6)


def test_history_kept_over_restarts_and_after_free(make_vscd):
    v = make_vscd()
    body = allocate_ok(v.admin, count=2, Backend="pty")
    uuid, p1, p2 = body["VMUUID"], body["Ports"][0], body["Ports"][1]
    t_start = now_us()
    vm_prints(v.admin, p1, b"first boot\r\n")
    vm_prints(v.admin, p2, b"port two\r\n")
    assert v.stop() == 0  # SIGTERM: what is queued is written before vscd exits
    t_stop = now_us()
    first = port_history(v.state_dir, uuid, 1)
    assert payload(first) == b"first boot\r\n"
    assert all(t_start <= t <= t_stop for t, _, _ in first)
    assert payload(port_history(v.state_dir, uuid, 2)) == b"port two\r\n"

    v.start()  # the pty is made again at the same path
    vm_prints(v.admin, p1, b"second boot\r\n")
    assert free(v.admin, VMUUID=uuid).status_code == 200
    assert v.stop() == 0
    both = port_history(v.state_dir, uuid, 1)
    assert payload(both) == b"first boot\r\nsecond boot\r\n"
    assert both[-1][0] > first[-1][0]

    v.start()  # a freed VM's history stays; nothing but the caps removes it
    assert v.stop() == 0
    assert port_history(v.state_dir, uuid, 1) == both
    assert payload(port_history(v.state_dir, uuid, 2)) == b"port two\r\n"


def test_small_port_cap_drops_old_segments(make_vscd):
    cap = 16384  # segments of cap / 8 = 2 KiB
    v = make_vscd(["--set", "history_port_bytes=%d" % cap])
    p = allocate_ok(v.admin, count=1, Backend="pty")
    uuid, port = p["VMUUID"], p["Ports"][0]
    sent = b"".join(b"line %05d of the boot log\r\n" % i for i in range(3000))  # 84 KiB
    vm_prints(v.admin, port, *(sent[i:i + 4096] for i in range(0, len(sent), 4096)))
    assert v.stop() == 0
    d = os.path.join(v.state_dir, "history", uuid, "1")
    segments = os.listdir(d)
    on_disk = sum(os.path.getsize(os.path.join(d, n)) for n in segments)
    assert on_disk <= cap
    assert on_disk > cap - 2 * 2048, on_disk
    assert len(segments) >= 6, segments
    kept = payload(port_history(v.state_dir, uuid, 1))
    assert sent.endswith(kept), "the newest output is kept whole, without holes"
    assert b"line 00000" not in kept and kept.endswith(b"line 02999 of the boot log\r\n")


def test_history_off(make_vscd):
    v = make_vscd(["--set", "history_port_bytes=0"])
    p = allocate_ok(v.admin, count=1, Backend="pty")
    port = p["Ports"][0]
    vm_prints(v.admin, port, b"not kept on disk\r\n")
    assert v.stop() == 0
    assert not os.path.exists(os.path.join(v.state_dir, "history"))
