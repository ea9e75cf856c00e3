"""Crash consistency of the port registry: random allocations and frees against one vscd,
killed with SIGKILL at random moments (often while a request is in flight). After every
restart the database (<state>/vsc.db), the Redfish view and the published paths
(<state>/ports/<vm>/<n>) must agree exactly, and the state must be one the interrupted
request could have left: an allocation all or nothing, a free a subset of its ports.

VSC_CRASH_SEED=<n> replays a run (the seed is printed; pytest shows it on failure)."""
import os
import random
import signal
import threading
import time

import pytest
import requests

import conftest
from helpers_ports import ALLOCATE, FREE, SERIALS, check_consistency, members, vscd_factory


@pytest.fixture
def make_vscd():
    yield from vscd_factory()


ITERATIONS = 40
BUDGET_S = 55  # the whole loop, restarts included
MAX_PORTS = 8
POOL = ["c0ffee%02d-0000-4000-8000-%012d" % (i, i) for i in range(6)]


def name_of(uuid):
    return "crash" + uuid[6:8]


def observe(client, state_dir):
    """The consistent state as {uuid: {"backend": b, "ports": {idx: id}}}; fails if the
    three views disagree (check_consistency)."""
    view = check_consistency(client, state_dir)
    state = {}
    for uuid, vm in view.items():
        backends = {si["Oem"]["Vsc"]["Backend"] for si in vm["ports"].values()}
        assert len(backends) == 1, (uuid, backends)
        for si in vm["ports"].values():
            sock = si["Oem"]["Vsc"].get("ConsoleSocket")
            assert sock and os.path.exists(sock), "port %s has no console socket" % si["Id"]
        state[uuid] = {"backend": backends.pop(),
                       "ports": {idx: si["Id"] for idx, si in vm["ports"].items()}}
    return state


def total_ports(state):
    return sum(len(vm["ports"]) for vm in state.values())


def expected_response(state, ever, freed_ids, op):
    """(status, check) for a request that completed, from the state before it."""
    kind = op[0]
    if kind == "allocate":
        _, uuid, count, backend = op
        vm = state.get(uuid)
        if vm:
            same = len(vm["ports"]) == count and vm["backend"] == backend
            return (200, False) if same else (409, None)
        if total_ports(state) + count > MAX_PORTS:
            return (409, None)
        return (200, True)
    if kind == "free_vm":
        uuid = op[1]
        if uuid in state:
            return (200, sorted(state[uuid]["ports"].values()))
        return (200, []) if uuid in ever else (404, None)
    ids = op[1]
    alive = {i for vm in state.values() for i in vm["ports"].values()}
    if all(i in alive or i in freed_ids for i in ids):
        return (200, ([i for i in ids if i in alive], [i for i in ids if i not in alive]))
    return (404, None)


def apply_op(state, op, response_ports=None):
    """The state after `op` succeeded fully (new allocations: ids from the response, or None)."""
    new = {u: {"backend": vm["backend"], "ports": dict(vm["ports"])} for u, vm in state.items()}
    if op[0] == "allocate":
        _, uuid, count, backend = op
        if uuid not in new and total_ports(state) + count <= MAX_PORTS:
            new[uuid] = {"backend": backend,
                         "ports": {i: (response_ports or {}).get(i) for i in range(1, count + 1)}}
    elif op[0] == "free_vm":
        new.pop(op[1], None)
    else:
        for uuid in list(new):
            new[uuid]["ports"] = {k: v for k, v in new[uuid]["ports"].items() if v not in op[1]}
            if not new[uuid]["ports"]:
                del new[uuid]
    return new


def possible_after_crash(before, op, actual, max_id):
    """Whether `actual` is a state the interrupted `op` may leave."""
    if actual == before:
        return True
    if op[0] == "allocate":  # all or nothing
        _, uuid, count, backend = op
        after = apply_op(before, op)
        if uuid in before or set(actual) != set(after):
            return False
        for u in before:
            if actual[u] != before[u]:
                return False
        vm = actual[uuid]
        return (vm["backend"] == backend and sorted(vm["ports"]) == list(range(1, count + 1))
                and all(int(i) > max_id for i in vm["ports"].values()))
    # a free: each port in its own transaction, so any subset of the targets may be gone
    targets = (set(before[op[1]]["ports"].values()) if op[0] == "free_vm" and op[1] in before
               else set(op[1]) if op[0] == "free_ids" else set())
    gone = {i for vm in before.values() for i in vm["ports"].values()} - {
        i for vm in actual.values() for i in vm["ports"].values()}
    if not gone <= targets:
        return False
    return actual == apply_op(before, ("free_ids", sorted(gone)))


def random_op(rng, state, freed_ids):
    alive = sorted(i for vm in state.values() for i in vm["ports"].values())
    r = rng.random()
    if r < 0.55 or not alive:
        uuid = rng.choice(POOL)
        if uuid in state and rng.random() < 0.5:  # the same request again
            return ("allocate", uuid, len(state[uuid]["ports"]), state[uuid]["backend"])
        return ("allocate", uuid, rng.randint(1, 3), rng.choice(["pty", "unix"]))
    if r < 0.8:
        return ("free_vm", rng.choice(list(state) + POOL[:2]))
    ids = rng.sample(alive, min(len(alive), rng.randint(1, 2)))
    if freed_ids and rng.random() < 0.3:
        ids.append(rng.choice(sorted(freed_ids)))
    return ("free_ids", ids)


def send(client, op):
    """The response, or None when it did not arrive whole (vscd killed meanwhile). urllib3
    1.x does not check Content-Length: a body cut short by the kill is caught here, and the
    protocol/schema checks run only on whole responses."""
    if op[0] == "allocate":
        _, uuid, count, backend = op
        path, body = ALLOCATE, {"VMUUID": uuid, "VMName": name_of(uuid), "PortCount": count,
                                "Backend": backend}
    elif op[0] == "free_vm":
        path, body = FREE, {"VMUUID": op[1]}
    else:
        path, body = FREE, {"SerialInterfaces": op[1]}
    try:
        r = client.post(path, json=body, timeout=10, validate=False)
    except requests.RequestException:
        return None
    length = r.headers.get("Content-Length")
    if length is None or len(r.content) != int(length):
        return None
    conftest.check_response(r)
    return r


def check_response(state, ever, freed_ids, op, r):
    status, want = expected_response(state, ever, freed_ids, op)
    assert r.status_code == status, (op, r.status_code, r.text)
    if status != 200:
        return
    body = r.json()
    if op[0] == "allocate":
        assert body["Created"] is want, (op, body)
        if want is False:
            got = {p["Index"]: p["Id"] for p in body["Ports"]}
            assert got == state[op[1]]["ports"], (op, body)
    elif op[0] == "free_vm":
        assert sorted(body["Freed"]) == want and body["AlreadyFreed"] == [], (op, body)
    else:
        assert (body["Freed"], body["AlreadyFreed"]) == want, (op, body)


def kill_after(vscd, delay, errors):
    """kill -9 after `delay` seconds; Vscd.stop still checks the log for sanitizer reports."""
    time.sleep(delay)
    try:
        vscd.stop(sig=signal.SIGKILL)
    except Exception as e:  # noqa: BLE001  (reported by the main thread)
        errors.append(e)


def test_random_operations_with_kill_9(make_vscd):
    seed = int(os.environ.get("VSC_CRASH_SEED", random.randrange(1 << 30)))
    print("VSC_CRASH_SEED=%d" % seed)
    rng = random.Random(seed)
    v = make_vscd(["--set", "max_ports=%d" % MAX_PORTS, "--set", "max_ports_per_vm=3"])
    admin = v.admin
    kill_at = set(rng.sample(range(ITERATIONS), 14))
    state, ever, freed_ids = {}, set(), set()
    thread_errors = []
    durations = [0.01]
    kills = interrupted = completed = 0
    start = time.time()
    for it in range(ITERATIONS):
        assert time.time() - start < BUDGET_S, "crash loop over budget at iteration %d" % it
        op = random_op(rng, state, freed_ids)
        killer = None
        if it in kill_at:
            delay = rng.uniform(0, 1.5 * sum(durations[-5:]) / len(durations[-5:]))
            killer = threading.Thread(target=kill_after, args=(v, delay, thread_errors),
                                      daemon=True)
            killer.start()
        t0 = time.time()
        r = send(admin, op)
        if killer is None or r is not None:
            durations.append(time.time() - t0)
        if killer is not None:
            killer.join(20)
            assert not killer.is_alive(), "vscd did not die"
            assert not thread_errors, thread_errors  # e.g. a sanitizer report in the log
            kills += 1
            v.start()
        if r is not None:  # the request completed: its answer is definite
            completed += 1
            check_response(state, ever, freed_ids, op, r)
            ids = None
            if op[0] == "allocate" and r.status_code == 200:
                ids = {p["Index"]: p["Id"] for p in r.json()["Ports"]}
            expected = apply_op(state, op, ids) if r.status_code == 200 else state
            actual = observe(admin, v.state_dir)
            assert actual == expected, ("iteration %d %s" % (it, op), expected, actual)
        else:
            interrupted += 1
            assert killer is not None, "request failed without a kill: %s" % (op,)
            actual = observe(admin, v.state_dir)
            max_id = max([int(i) for i in freed_ids] +
                         [int(i) for vm in state.values() for i in vm["ports"].values()] + [0])
            assert possible_after_crash(state, op, actual, max_id), (
                "iteration %d: %s interrupted by kill -9 left an impossible state"
                % (it, op), state, actual)
        before_ids = {i for vm in state.values() for i in vm["ports"].values()}
        after_ids = {i for vm in actual.values() for i in vm["ports"].values()}
        freed_ids |= before_ids - after_ids
        ever |= set(actual)
        state = actual
    print("kills %d (%d interrupting a request), %d completed, %d stray paths removed at "
          "start, %.1fs" % (kills, interrupted, completed,
                            v.read_log().count("removing stray"), time.time() - start))
    assert kills >= 10 and interrupted >= 1, (kills, interrupted)
    # a last clean restart changes nothing
    v.restart()
    assert observe(admin, v.state_dir) == state
    assert len(members(admin, SERIALS)) == total_ports(state)
