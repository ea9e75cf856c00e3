"""Per-port access rules (docs/console-protocol.md, "Access rules"): the OEM collection
.../SerialInterfaces/{id}/Oem/Vsc/AccessRules, how rules combine with the role defaults
(seen through SerialInterface Oem.Vsc.EffectiveRights), errors, privileges, persistence,
and the console WebSocket refusing a user whom a rule denies Watch."""
import sqlite3
import ssl
import time

import pytest
import websocket

from conftest import ADMIN_PASSWORD, Client, Vscd, assert_error, make_user
from helpers_auth import unique
from helpers_ports import FREE, allocate_ok, members, port_oem, port_uri, vscd_factory

ALL = ["Watch", "Control", "Observe", "Private", "Force", "Manage"]
DEFAULTS = {"Administrator": ALL, "Operator": ["Watch", "Control", "Observe"],
            "ReadOnly": ["Watch"]}


def rules_uri(port_id):
    return port_uri(port_id) + "/Oem/Vsc/AccessRules"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """One vscd with an Operator and a ReadOnly account."""
    d = Vscd(str(tmp_path_factory.mktemp("acl") / "state")).start()
    e = type("Env", (), {})()
    e.vscd, e.admin = d, Client(d.base, auth=("admin", ADMIN_PASSWORD))
    e.operator = make_user(e.admin, unique("op"), "Operator")
    e.readonly = make_user(e.admin, unique("ro"), "ReadOnly")
    yield e
    d.stop()


@pytest.fixture
def port(env):
    """A fresh port (its Id as a string); freed afterwards."""
    pid = allocate_ok(env.admin)["Ports"][0]["Id"]
    yield pid
    env.admin.post(FREE, json={"SerialInterfaces": [pid]})


def user_of(client):
    return client.s.auth[0]


def add(client, pid, status=201, **body):
    r = client.post(rules_uri(pid), json=body)
    assert r.status_code == status, r.text
    return r


def rights(client, pid):
    return port_oem(client, pid)["EffectiveRights"]


# ---- the resource ----------------------------------------------------------------------------


def test_serial_interface_links_rules_and_shows_default_rights(env, port):
    """Oem.Vsc links the port's rules and lists the caller's rights: the role defaults while
    the port has no rules."""
    oem = port_oem(env.admin, port)
    assert oem["AccessRules"] == {"@odata.id": rules_uri(port)}
    for client, role in ((env.admin, "Administrator"), (env.operator, "Operator"),
                         (env.readonly, "ReadOnly")):
        assert rights(client, port) == DEFAULTS[role], role
    assert members(env.admin, rules_uri(port)) == []


def test_create_read_change_delete(env, port):
    r = add(env.admin, port, RoleId="ReadOnly", Right="Watch", Effect="Deny")
    rule = r.json()
    assert r.headers["Location"] == rule["@odata.id"]
    assert rule["@odata.id"] == "%s/%s" % (rules_uri(port), rule["Id"])
    assert rule["@odata.type"] == "#Vsc.v1_0_0.AccessRule"
    assert (rule["RoleId"], rule["Right"], rule["Effect"]) == ("ReadOnly", "Watch", "Deny")
    assert "UserName" not in rule
    user_rule = add(env.admin, port, UserName=user_of(env.readonly), Right="Control",
                    Effect="Grant").json()
    assert user_rule["UserName"] == user_of(env.readonly) and "RoleId" not in user_rule
    assert members(env.admin, rules_uri(port)) == [rule["@odata.id"], user_rule["@odata.id"]]
    got = env.readonly.get(rule["@odata.id"])  # Login reads
    assert got.status_code == 200 and got.json()["Effect"] == "Deny"

    r = env.admin.patch(rule["@odata.id"], json={"Effect": "Grant"})
    assert r.status_code == 200, r.text
    assert r.json()["Effect"] == "Grant"
    assert env.admin.get(rule["@odata.id"]).json()["Effect"] == "Grant"

    assert env.admin.delete(rule["@odata.id"]).status_code == 204
    assert_error(env.admin.get(rule["@odata.id"]), 404, "ResourceNotFound")
    assert_error(env.admin.delete(rule["@odata.id"]), 404, "ResourceNotFound")
    assert members(env.admin, rules_uri(port)) == [user_rule["@odata.id"]]


def test_rules_combine_with_role_defaults(env, port):
    """Role rules adjust the role's defaults; a user's rule beats its role's; grants bring
    what they need, denials take what needs them."""
    ro, op = env.readonly, env.operator
    deny_ro = add(env.admin, port, RoleId="ReadOnly", Right="Watch", Effect="Deny").json()
    assert rights(ro, port) == []
    assert rights(op, port) == DEFAULTS["Operator"]  # another role: untouched
    add(env.admin, port, UserName=user_of(ro), Right="Watch", Effect="Grant")
    assert rights(ro, port) == ["Watch"]  # the user rule beats the role rule
    add(env.admin, port, UserName=user_of(ro), Right="Private", Effect="Grant")
    assert rights(ro, port) == ["Watch", "Control", "Private"]  # Private needs Control
    env.admin.delete(deny_ro["@odata.id"])
    add(env.admin, port, UserName=user_of(op), Right="Control", Effect="Deny")
    assert rights(op, port) == ["Watch"]  # no Control, so no Observe
    add(env.admin, port, RoleId="Administrator", Right="Watch", Effect="Deny")
    assert rights(env.admin, port) == ["Manage"]  # rules never take Manage


def test_rules_apply_to_their_port_only(env, port):
    other = allocate_ok(env.admin)["Ports"][0]["Id"]
    try:
        add(env.admin, port, RoleId="ReadOnly", Right="Watch", Effect="Deny")
        assert rights(env.readonly, port) == []
        assert rights(env.readonly, other) == ["Watch"]
        assert members(env.admin, rules_uri(other)) == []
        rid = members(env.admin, rules_uri(port))[0].rsplit("/", 1)[1]
        assert_error(env.admin.get(rules_uri(other) + "/" + rid), 404, "ResourceNotFound")
        assert_error(env.admin.delete(rules_uri(other) + "/" + rid), 404, "ResourceNotFound")
    finally:
        env.admin.post(FREE, json={"SerialInterfaces": [other]})


# ---- errors ------------------------------------------------------------------------------------

BAD_BODIES = [
    ({"RoleId": "ReadOnly", "Right": "Watch", "Effect": "Deny", "Color": "red"}, "PropertyUnknown"),
    ({"RoleId": "ReadOnly", "Right": "Watch", "Effect": "Deny", "Id": "7"}, "PropertyNotWritable"),
    ({"RoleId": "ReadOnly", "Effect": "Deny"}, "CreateFailedMissingReqProperties"),
    ({"RoleId": "ReadOnly", "Right": "Watch"}, "CreateFailedMissingReqProperties"),
    ({"Right": "Watch", "Effect": "Deny"}, "CreateFailedMissingReqProperties"),
    ({"RoleId": "ReadOnly", "UserName": "admin", "Right": "Watch", "Effect": "Deny"},
     "PropertyValueConflict"),
    ({"RoleId": "ReadOnly", "Right": "Manage", "Effect": "Grant"}, "PropertyValueNotInList"),
    ({"RoleId": "ReadOnly", "Right": "watch", "Effect": "Grant"}, "PropertyValueNotInList"),
    ({"RoleId": "ReadOnly", "Right": "Watch", "Effect": "Allow"}, "PropertyValueNotInList"),
    ({"RoleId": "Root", "Right": "Watch", "Effect": "Grant"}, "PropertyValueNotInList"),
    ({"RoleId": "ReadOnly", "Right": 1, "Effect": "Grant"}, "PropertyValueTypeError"),
    ({"UserName": "", "Right": "Watch", "Effect": "Grant"}, "PropertyValueOutOfRange"),
    ({"UserName": "nosuchuser", "Right": "Watch", "Effect": "Grant"}, "ResourceNotFound"),
]


@pytest.mark.parametrize("body,message", BAD_BODIES, ids=[m + str(i) for i, (_, m) in
                                                            enumerate(BAD_BODIES)])
def test_bad_rule_is_refused_and_nothing_created(env, port, body, message):
    r = env.admin.post(rules_uri(port), json=body)
    assert_error(r, 400, message)
    assert members(env.admin, rules_uri(port)) == []


@pytest.mark.parametrize("body,prop", [
    ({"RoleId": "ReadOnly", "Right": 1, "Effect": "Grant"}, "Right"),
    ({"RoleId": "ReadOnly", "Right": "Watch", "Effect": None}, "Effect"),
    ({"RoleId": 3, "Right": "Watch", "Effect": "Grant"}, "RoleId"),
    ({"UserName": ["admin"], "Right": "Watch", "Effect": "Grant"}, "UserName"),
])
def test_a_wrongly_typed_property_is_one_error_not_also_missing(env, port, body, prop):
    r = env.admin.post(rules_uri(port), json=body)
    assert_error(r, 400, "PropertyValueTypeError")
    info = r.json()["error"]["@Message.ExtendedInfo"]
    assert [(m["MessageId"].rsplit(".", 1)[1], m["MessageArgs"][-1]) for m in info] == [
        ("PropertyValueTypeError", prop)], info
    assert members(env.admin, rules_uri(port)) == []


def test_unknown_user_is_named_in_the_message(env, port):
    r = env.admin.post(rules_uri(port), json={"UserName": "ghost", "Right": "Watch",
                                              "Effect": "Grant"})
    assert_error(r, 400, "ResourceNotFound")
    assert "ghost" in r.json()["error"]["@Message.ExtendedInfo"][0]["Message"]


def test_one_rule_per_subject_and_right(env, port):
    """A second rule for the same subject and right is 409 whatever its effect; PATCH the
    first instead. Another subject or right is another rule."""
    add(env.admin, port, RoleId="Operator", Right="Control", Effect="Deny")
    for effect in ("Deny", "Grant"):
        r = env.admin.post(rules_uri(port), json={"RoleId": "Operator", "Right": "Control",
                                                  "Effect": effect})
        assert_error(r, 409, "ResourceAlreadyExists")
    add(env.admin, port, UserName=user_of(env.operator), Right="Control", Effect="Deny")
    add(env.admin, port, RoleId="Operator", Right="Watch", Effect="Deny")
    r = env.admin.post(rules_uri(port), json={"UserName": user_of(env.operator),
                                              "Right": "Control", "Effect": "Grant"})
    assert_error(r, 409, "ResourceAlreadyExists")
    assert len(members(env.admin, rules_uri(port))) == 3


def test_patch_changes_only_the_effect(env, port):
    uri = add(env.admin, port, RoleId="Operator", Right="Observe", Effect="Deny").json()["@odata.id"]
    for body, message in (({"Right": "Watch"}, "PropertyNotWritable"),
                          ({"RoleId": "ReadOnly"}, "PropertyNotWritable"),
                          ({"UserName": "admin"}, "PropertyNotWritable"),
                          ({"Effect": "Maybe"}, "PropertyValueNotInList"),
                          ({"Effect": True}, "PropertyValueTypeError"),
                          ({"Surprise": 1}, "PropertyUnknown")):
        assert_error(env.admin.patch(uri, json=body), 400, message)
    assert env.admin.get(uri).json()["Effect"] == "Deny"


def test_if_match_guards_changes(env, port):
    """PATCH and DELETE of a rule honour If-Match: a stale ETag is 412 and changes nothing."""
    uri = add(env.admin, port, RoleId="Operator", Right="Observe", Effect="Deny").json()["@odata.id"]
    etag = env.admin.get(uri).headers["ETag"]
    assert env.admin.patch(uri, json={"Effect": "Grant"}, headers={"If-Match": etag}).status_code \
        == 200
    for r in (env.admin.patch(uri, json={"Effect": "Deny"}, headers={"If-Match": etag}),
              env.admin.delete(uri, headers={"If-Match": etag})):
        assert_error(r, 412, "PreconditionFailed")
    assert env.admin.get(uri).json()["Effect"] == "Grant"
    etag = env.admin.get(uri).headers["ETag"]
    assert env.admin.delete(uri, headers={"If-Match": etag}).status_code == 204


@pytest.mark.parametrize("if_match", ['"0000000000000000"', "*"])
def test_unknown_rule_with_if_match_is_404(env, port, if_match):
    """A precondition is not evaluated on a resource that does not exist: 404, as without
    it (RFC 9110 §13.2.1: failures found before the request is processed take precedence)."""
    uri = rules_uri(port) + "/99999999"
    assert_error(env.admin.patch(uri, json={"Effect": "Grant"}, headers={"If-Match": if_match}),
                 404, "ResourceNotFound")
    assert_error(env.admin.delete(uri, headers={"If-Match": if_match}), 404, "ResourceNotFound")
    assert_error(env.admin.patch(port_uri(99999999), json={"Oem": {"Vsc": {"Mode": "Free"}}},
                                 headers={"If-Match": if_match}), 404, "ResourceNotFound")


@pytest.mark.parametrize("suffix", ["/0", "/01", "/-1", "/x", "/99999999"])
def test_unknown_rule_ids_are_404(env, port, suffix):
    assert_error(env.admin.get(rules_uri(port) + suffix), 404, "ResourceNotFound")


def test_unknown_port_is_404(env):
    assert_error(env.admin.get(rules_uri(999999)), 404, "ResourceNotFound")
    r = env.admin.post(rules_uri(999999), json={"RoleId": "ReadOnly", "Right": "Watch",
                                                "Effect": "Deny"})
    assert_error(r, 404, "ResourceNotFound")


def test_limit_per_port(env, port):
    """At most 64 rules on a port: the 65th is 400 CreateLimitReachedForResource."""
    n = 0
    for role in ("Administrator", "Operator", "ReadOnly"):
        for right in ALL[:5]:
            add(env.admin, port, RoleId=role, Right=right, Effect="Grant")
            n += 1
    users = [make_user(env.admin, unique("lim"), "ReadOnly") for _ in range(10)]
    for u in users:
        for right in ALL[:5]:
            if n == 64:
                break
            add(env.admin, port, UserName=user_of(u), Right=right, Effect="Grant")
            n += 1
    r = env.admin.post(rules_uri(port), json={"UserName": user_of(users[-1]), "Right": "Force",
                                              "Effect": "Grant"})
    assert_error(r, 400, "CreateLimitReachedForResource")
    assert len(members(env.admin, rules_uri(port))) == 64
    for u in users:
        env.admin.delete(u.account_uri)


# ---- privileges --------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["operator", "readonly"])
def test_only_administrators_change_rules(env, port, who):
    client = getattr(env, who)
    uri = add(env.admin, port, RoleId="Operator", Right="Control", Effect="Deny").json()["@odata.id"]
    assert client.get(rules_uri(port)).status_code == 200
    assert client.get(uri).status_code == 200
    assert_error(client.post(rules_uri(port), json={"RoleId": "Operator", "Right": "Watch",
                                                    "Effect": "Grant"}), 403,
                 "InsufficientPrivilege")
    assert_error(client.patch(uri, json={"Effect": "Grant"}), 403, "InsufficientPrivilege")
    assert_error(client.delete(uri), 403, "InsufficientPrivilege")
    assert members(env.admin, rules_uri(port)) == [uri]
    assert env.admin.get(uri).json()["Effect"] == "Deny"


def test_anonymous_gets_401(env, port):
    assert_error(Client(env.vscd.base).get(rules_uri(port)), 401, "NoValidSession")


# ---- accounts ------------------------------------------------------------------------------------


def test_deleting_an_account_removes_its_rules(env, port):
    """A user rule belongs to the account: deleted with it, and a later account with the
    same name does not inherit it."""
    name = unique("gone")
    u = make_user(env.admin, name, "ReadOnly")
    uri = add(env.admin, port, UserName=name, Right="Control", Effect="Grant").json()["@odata.id"]
    assert rights(u, port) == ["Watch", "Control"]
    assert env.admin.delete(u.account_uri).status_code == 204
    assert_error(env.admin.get(uri), 404, "ResourceNotFound")
    assert members(env.admin, rules_uri(port)) == []
    again = make_user(env.admin, name, "ReadOnly")
    assert rights(again, port) == ["Watch"]
    env.admin.delete(again.account_uri)


def test_renaming_an_account_keeps_its_rules(env, port):
    old, new = unique("old"), unique("new")
    u = make_user(env.admin, old, "ReadOnly")
    uri = add(env.admin, port, UserName=old, Right="Watch", Effect="Deny").json()["@odata.id"]
    assert env.admin.patch(u.account_uri, json={"UserName": new}).status_code == 200
    assert env.admin.get(uri).json()["UserName"] == new
    renamed = Client(env.vscd.base, auth=(new, u.password))
    assert rights(renamed, port) == []
    env.admin.delete(u.account_uri)


# ---- persistence and the console -------------------------------------------------------------


@pytest.fixture
def make_vscd():
    yield from vscd_factory()


def rule_rows(state_dir):
    con = sqlite3.connect("file:%s/vsc.db?mode=ro" % state_dir, uri=True)
    try:
        return con.execute("SELECT port_id, port_right, effect FROM port_access_rules "
                           "ORDER BY id").fetchall()
    finally:
        con.close()


def test_rules_survive_restart_and_go_with_the_port(make_vscd):
    v = make_vscd()
    ro = make_user(v.admin, "watcher", "ReadOnly")
    pid = allocate_ok(v.admin)["Ports"][0]["Id"]
    a = add(v.admin, pid, RoleId="ReadOnly", Right="Watch", Effect="Deny").json()
    b = add(v.admin, pid, UserName="watcher", Right="Force", Effect="Grant").json()
    before = v.admin.get(rules_uri(pid)).json()["Members"]
    v.restart()
    assert v.admin.get(rules_uri(pid)).json()["Members"] == before
    for rule in (a, b):
        got = v.admin.get(rule["@odata.id"]).json()
        got.pop("@odata.etag")
        assert got == rule
    assert rights(ro, pid) == ["Watch", "Control", "Force"]

    assert v.admin.post(FREE, json={"SerialInterfaces": [pid]}).status_code == 200
    assert_error(v.admin.get(rules_uri(pid)), 404, "ResourceNotFound")
    assert rule_rows(v.state_dir) == []
    v.restart()
    assert_error(v.admin.get(a["@odata.id"]), 404, "ResourceNotFound")
    pid2 = allocate_ok(v.admin)["Ports"][0]["Id"]
    assert members(v.admin, rules_uri(pid2)) == []


def ws_connect(v, pid, token):
    url = v.base.replace("https://", "wss://") + port_uri(pid) + "/Oem/Vsc/Console"
    return websocket.create_connection(url, sslopt={"cert_reqs": ssl.CERT_NONE},
                                       header=["X-Auth-Token: " + token], origin=v.base,
                                       timeout=5)


def ws_status(v, pid, token):
    """101 when the console WebSocket opens, else the refusal's status."""
    try:
        ws_connect(v, pid, token).close()
        return 101
    except websocket.WebSocketBadStatusException as e:
        return e.status_code


def test_console_websocket_refuses_a_user_denied_watch(make_vscd):
    v = make_vscd()
    ro = make_user(v.admin, "viewer", "ReadOnly")
    token, _ = Client(v.base).login("viewer", ro.password)
    admin_token, _ = Client(v.base).login("admin", ADMIN_PASSWORD)
    pid = allocate_ok(v.admin, Backend="unix")["Ports"][0]["Id"]
    assert ws_status(v, pid, token) == 101
    deny = add(v.admin, pid, RoleId="ReadOnly", Right="Watch", Effect="Deny").json()
    assert ws_status(v, pid, token) == 403
    assert ws_status(v, pid, admin_token) == 101  # another role
    grant = add(v.admin, pid, UserName="viewer", Right="Watch", Effect="Grant").json()
    assert ws_status(v, pid, token) == 101  # the user rule beats the role rule
    v.admin.patch(grant["@odata.id"], json={"Effect": "Deny"})
    assert ws_status(v, pid, token) == 403
    v.admin.delete(grant["@odata.id"])
    v.admin.delete(deny["@odata.id"])
    assert ws_status(v, pid, token) == 101


def closed_with(ws, timeout=5):
    """Reads until the server closes; returns (code, reason)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        ws.settimeout(max(0.05, deadline - time.time()))
        try:
            op, data = ws.recv_data(control_frame=True)
        except websocket.WebSocketConnectionClosedException:
            return None, None
        if op == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(data[:2], "big"), data[2:].decode()
    raise AssertionError("the server did not close the socket")


def test_a_rule_denying_watch_closes_open_consoles(make_vscd):
    """A rule applies to connections already open, not only to the next ones: a viewer
    whose Watch is taken away is closed at once (1008 "access revoked"); others stay."""
    v = make_vscd()
    ro = make_user(v.admin, "watcher", "ReadOnly")
    token, _ = Client(v.base).login("watcher", ro.password)
    admin_token, _ = Client(v.base).login("admin", ADMIN_PASSWORD)
    pid = allocate_ok(v.admin, Backend="unix")["Ports"][0]["Id"]
    viewer, admin_ws = ws_connect(v, pid, token), ws_connect(v, pid, admin_token)
    add(v.admin, pid, RoleId="ReadOnly", Right="Watch", Effect="Deny")
    assert closed_with(viewer) == (1008, "access revoked")
    admin_ws.send('{"type":"ping"}')
    assert any('"pong"' in admin_ws.recv() for _ in range(8))  # the administrator stays
    admin_ws.close()


def test_renaming_an_account_keeps_its_rules_on_open_consoles(make_vscd):
    """A user rule follows the account through a rename also on consoles already open: a
    denied Control stays denied (an open console re-reads its rights with the account's
    current name, as the rules show it)."""
    from helpers_ports import FakeUnixVM, wait_port_state
    from test_console_ws import connect
    v = make_vscd()
    op = make_user(v.admin, "typist", "Operator")
    p = allocate_ok(v.admin, Backend="unix")["Ports"][0]
    vm = FakeUnixVM(p["BindPath"])
    wait_port_state(v.admin, p["Id"], "Connected")
    add(v.admin, p["Id"], UserName="typist", Right="Control", Effect="Deny")
    token, _ = Client(v.base).login("typist", op.password)
    con = connect(v, p["Id"], token=False, header=["X-Auth-Token: " + token])
    try:
        con.ws.send_binary(b"before\r")
        con.read_until(lambda c: any("no control right" in t.get("error", "")
                                     for t in c.texts), 5, "a notice")
        assert v.admin.patch(op.account_uri, json={"UserName": "renamed"}).status_code == 200
        renamed = Client(v.base, auth=("renamed", op.password))
        assert rights(renamed, p["Id"]) == ["Watch"]  # the rule followed the account
        con.texts.clear()
        con.ws.send_binary(b"after\r")
        assert b"after" not in vm.read_for(0.5)
        con.read_until(lambda c: any("no control right" in t.get("error", "")
                                     for t in c.texts), 5, "a notice")
    finally:
        con.close()
        vm.close()
