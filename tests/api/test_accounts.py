"""AccountService and ManagerAccount (DSP0266 §13.2 "Account service", ManagerAccount and
AccountService schemas): CRUD, ETags, validation, the last Administrator, password storage,
self-service and account lockout."""
import glob
import os
import sqlite3
import time

import pytest

from conftest import ADMIN_PASSWORD, Client, assert_error
from helpers_auth import (ACCOUNT_SERVICE, ACCOUNTS, SESSION_SERVICE, SESSIONS,
                          account_uri_of, create_account, get_json, login, message_ids,
                          post_login, unique, wait_until, without_volatile)


def members(client, path=ACCOUNTS):
    return [m["@odata.id"] for m in get_json(client, path)["Members"]]


def account_names(client):
    return sorted(get_json(client, uri)["UserName"] for uri in members(client))


# ---- create / read / update / delete ----------------------------------------------------------


def test_account_crud(shared_vscd, shared_admin):
    """ManagerAccountCollection POST creates (201 + Location), GET reads, PATCH updates and
    answers the new representation, DELETE removes (204, then 404)."""
    name = unique("crud")
    pw = "crud-password-1"
    r = shared_admin.post(ACCOUNTS, json={"UserName": name, "Password": pw,
                                          "RoleId": "ReadOnly"})
    assert r.status_code == 201, r.text
    uri = r.headers["Location"]
    body = r.json()
    assert body["@odata.id"] == uri
    assert body["UserName"] == name
    assert body["RoleId"] == "ReadOnly"
    assert body["Enabled"] is True
    assert body["Locked"] is False
    assert body.get("Password") is None, "ManagerAccount.Password shall be null on read"
    assert body["Links"]["Role"]["@odata.id"] == ACCOUNT_SERVICE + "/Roles/ReadOnly"
    assert uri in members(shared_admin)

    got = get_json(shared_admin, uri)
    assert got["UserName"] == name and got["RoleId"] == "ReadOnly"
    assert got.get("Password") is None

    r = shared_admin.patch(uri, json={"RoleId": "Operator"})
    assert r.status_code == 200, r.text
    assert r.json()["RoleId"] == "Operator"
    assert r.json()["Links"]["Role"]["@odata.id"] == ACCOUNT_SERVICE + "/Roles/Operator"
    assert get_json(shared_admin, uri)["RoleId"] == "Operator"
    assert login(shared_vscd.base, name, pw)[0].get(SESSION_SERVICE).status_code == 200

    r = shared_admin.delete(uri)
    assert r.status_code == 204, r.text
    assert_error(shared_admin.get(uri), 404, "ResourceNotFound")
    assert uri not in members(shared_admin)
    assert post_login(shared_vscd.base, name, pw).status_code == 401


def test_create_disabled_account(shared_vscd, shared_admin):
    """ManagerAccount.Enabled may be given on create; a disabled account cannot log in."""
    name = unique("dis")
    uri, pw = create_account(shared_admin, name, "Operator", Enabled=False)
    assert get_json(shared_admin, uri)["Enabled"] is False
    assert post_login(shared_vscd.base, name, pw).status_code == 401


def test_rename_account(shared_vscd, shared_admin):
    """ManagerAccount.UserName is writable: after a rename the new name logs in with the
    same password and the old name no longer does."""
    old, new = unique("old"), unique("new")
    uri, pw = create_account(shared_admin, old, "ReadOnly")
    r = shared_admin.patch(uri, json={"UserName": new})
    assert r.status_code == 200, r.text
    assert r.json()["UserName"] == new
    assert get_json(shared_admin, uri)["UserName"] == new
    login(shared_vscd.base, new, pw)
    assert post_login(shared_vscd.base, old, pw).status_code == 401
    assert Client(shared_vscd.base, auth=(new, pw)).get(uri).status_code == 200


def test_rename_to_existing_name_is_409(shared_admin):
    """UserName is unique: renaming onto an existing name is 409 ResourceAlreadyExists."""
    a, b = unique("a"), unique("b")
    uri, _ = create_account(shared_admin, a, "ReadOnly")
    create_account(shared_admin, b, "ReadOnly")
    assert_error(shared_admin.patch(uri, json={"UserName": b}), 409, "ResourceAlreadyExists")
    assert get_json(shared_admin, uri)["UserName"] == a


def test_duplicate_user_name_is_409(shared_admin):
    """DSP0266 POST (create) of an account whose UserName exists: 409 ResourceAlreadyExists;
    no second account appears."""
    name = unique("dup")
    create_account(shared_admin, name, "ReadOnly")
    before = members(shared_admin)
    r = shared_admin.post(ACCOUNTS, json={"UserName": name, "Password": "another-password",
                                          "RoleId": "Operator"})
    assert_error(r, 409, "ResourceAlreadyExists")
    assert members(shared_admin) == before


# ---- ETag / If-Match -----------------------------------------------------------------------------


def test_get_has_etag(shared_admin):
    """DSP0266 §6.5 (ETags): GET of an account carries an ETag header equal to @odata.etag."""
    uri, _ = create_account(shared_admin, unique("et"), "ReadOnly")
    r = shared_admin.get(uri)
    assert r.status_code == 200
    assert r.headers.get("ETag")
    assert r.json()["@odata.etag"] == r.headers["ETag"]


def test_patch_with_stale_if_match_is_412(shared_admin):
    """DSP0266 §6.5: PATCH with an If-Match that is not the current ETag is 412
    PreconditionFailed and changes nothing; with the current ETag it succeeds."""
    uri, _ = create_account(shared_admin, unique("et"), "ReadOnly")
    stale = shared_admin.get(uri).headers["ETag"]
    r = shared_admin.patch(uri, json={"RoleId": "Operator"})
    assert r.status_code == 200, r.text
    current = shared_admin.get(uri).headers["ETag"]
    assert current != stale, "a changed resource must have a new ETag"
    before = without_volatile(get_json(shared_admin, uri))

    r = shared_admin.patch(uri, json={"RoleId": "ReadOnly"}, headers={"If-Match": stale})
    assert_error(r, 412, "PreconditionFailed")
    assert without_volatile(get_json(shared_admin, uri)) == before

    r = shared_admin.patch(uri, json={"RoleId": "ReadOnly"}, headers={"If-Match": current})
    assert r.status_code == 200, r.text
    assert get_json(shared_admin, uri)["RoleId"] == "ReadOnly"


def test_delete_with_stale_if_match_is_412(shared_admin):
    """DSP0266 §6.5: DELETE with a stale If-Match is 412 and the account stays; with the
    current ETag it is deleted."""
    uri, _ = create_account(shared_admin, unique("et"), "ReadOnly")
    stale = shared_admin.get(uri).headers["ETag"]
    assert shared_admin.patch(uri, json={"Enabled": False}).status_code == 200
    r = shared_admin.delete(uri, headers={"If-Match": stale})
    assert_error(r, 412, "PreconditionFailed")
    assert shared_admin.get(uri).status_code == 200
    current = shared_admin.get(uri).headers["ETag"]
    r = shared_admin.delete(uri, headers={"If-Match": current})
    assert r.status_code == 204, r.text
    assert shared_admin.get(uri).status_code == 404


# ---- validation ---------------------------------------------------------------------------------


def assert_not_created(admin, before, name):
    assert members(admin) == before, "a refused POST created an account"
    assert account_uri_of(admin, name) is None


@pytest.mark.parametrize("password", ["short7c", "x" * 129])
def test_password_length_is_checked(shared_admin, password):
    """AccountService Min/MaxPasswordLength (8..128 by default): a password outside them is
    400 PasswordIncorrectLength."""
    name = unique("pl")
    before = members(shared_admin)
    r = shared_admin.post(ACCOUNTS, json={"UserName": name, "Password": password,
                                          "RoleId": "ReadOnly"})
    assert_error(r, 400, "PasswordIncorrectLength")
    assert_not_created(shared_admin, before, name)


def test_password_length_counts_characters(shared_vscd, shared_admin):
    """Min/MaxPasswordLength are lengths of the password in characters, not in UTF-8
    bytes: 5 two-byte characters are too short for the minimum 8; 100 four-byte
    characters are within the maximum 128."""
    name = unique("pl")
    before = members(shared_admin)
    r = shared_admin.post(ACCOUNTS, json={"UserName": name, "Password": "\u00e9" * 5,
                                          "RoleId": "ReadOnly"})
    assert_error(r, 400, "PasswordIncorrectLength")
    assert_not_created(shared_admin, before, name)
    long_pw = "\U0001F600" * 100
    r = shared_admin.post(ACCOUNTS, json={"UserName": name, "Password": long_pw,
                                          "RoleId": "ReadOnly"})
    assert r.status_code == 201, r.text
    login(shared_vscd.base, name, long_pw)


def test_bad_role_id_is_400(shared_admin):
    """ManagerAccount.RoleId must name a Role: otherwise 400 PropertyValueNotInList."""
    name = unique("br")
    before = members(shared_admin)
    r = shared_admin.post(ACCOUNTS, json={"UserName": name, "Password": "good-password",
                                          "RoleId": "Superuser"})
    assert_error(r, 400, "PropertyValueNotInList")
    assert_not_created(shared_admin, before, name)


@pytest.mark.parametrize("name", ["bad name", "a/b", "semi;colon", "-lead", ".dot",
                                  "caf\u00e9", "quo\"te", "x" * 65, ""])
def test_bad_user_name_is_400(shared_admin, name):
    """UserName is restricted to a safe character set and 1..64 characters: otherwise 400."""
    before = members(shared_admin)
    r = shared_admin.post(ACCOUNTS, json={"UserName": name, "Password": "good-password",
                                          "RoleId": "ReadOnly"})
    assert r.status_code == 400, r.text
    assert members(shared_admin) == before


def test_locked_true_is_refused(shared_admin):
    """ManagerAccount.Locked: only the service locks; a client may only write false (400)."""
    name = unique("lk")
    before = members(shared_admin)
    r = shared_admin.post(ACCOUNTS, json={"UserName": name, "Password": "good-password",
                                          "RoleId": "ReadOnly", "Locked": True})
    assert r.status_code == 400, r.text
    assert_not_created(shared_admin, before, name)
    uri, _ = create_account(shared_admin, name, "ReadOnly")
    r = shared_admin.patch(uri, json={"Locked": True})
    assert r.status_code == 400, r.text
    assert get_json(shared_admin, uri)["Locked"] is False


@pytest.mark.parametrize("missing", ["UserName", "Password", "RoleId"])
def test_create_missing_required_is_400(shared_admin, missing):
    """ManagerAccount create requires UserName, Password and RoleId (the schema's
    RequiredOnCreate): a missing one is 400 naming it."""
    name = unique("mr")
    body = {"UserName": name, "Password": "good-password", "RoleId": "ReadOnly"}
    del body[missing]
    before = members(shared_admin)
    r = shared_admin.post(ACCOUNTS, json=body)
    assert r.status_code == 400, r.text
    ids = message_ids(r)
    assert ("Base.1.22.CreateFailedMissingReqProperties" in ids
            or "Base.1.22.PropertyMissing" in ids), ids
    assert missing in r.text
    assert members(shared_admin) == before


WRONG_TYPES = [("UserName", 5), ("Password", 12345678), ("RoleId", 1), ("Enabled", "true"),
               ("Locked", "false"), ("AccountTypes", "Redfish")]


@pytest.mark.parametrize("prop,value", WRONG_TYPES)
def test_create_wrong_type_is_400(shared_admin, prop, value):
    """A property of the wrong JSON type is 400 PropertyValueTypeError on create."""
    name = unique("wt")
    body = {"UserName": name, "Password": "good-password", "RoleId": "ReadOnly"}
    body[prop] = value
    before = members(shared_admin)
    assert_error(shared_admin.post(ACCOUNTS, json=body), 400, "PropertyValueTypeError")
    assert members(shared_admin) == before


@pytest.mark.parametrize("prop,value", WRONG_TYPES)
def test_patch_wrong_type_is_400(shared_admin, prop, value):
    """A property of the wrong JSON type is 400 PropertyValueTypeError on PATCH, unchanged."""
    uri, _ = create_account(shared_admin, unique("wt"), "ReadOnly")
    before = without_volatile(get_json(shared_admin, uri))
    assert_error(shared_admin.patch(uri, json={prop: value}), 400, "PropertyValueTypeError")
    assert without_volatile(get_json(shared_admin, uri)) == before


@pytest.mark.parametrize("body,message", [
    ({"Id": "99"}, "PropertyNotWritable"),
    ({"PasswordChangeRequired": True}, "PropertyNotWritable"),
    ({"Bogus": 1}, "PropertyUnknown"),
    ({"RoleId": "Operator", "Password": "short"}, "PasswordIncorrectLength"),
    ({"RoleId": "Operator", "Bogus": 1}, "PropertyUnknown"),
])
def test_bad_patch_changes_nothing(shared_vscd, shared_admin, body, message):
    """DSP0266 §7.6: a PATCH with any bad property is 400 and applies none of its
    properties (role and password stay as they were)."""
    name = unique("bp")
    uri, pw = create_account(shared_admin, name, "ReadOnly")
    before = without_volatile(get_json(shared_admin, uri))
    assert_error(shared_admin.patch(uri, json=body), 400, message)
    assert without_volatile(get_json(shared_admin, uri)) == before
    login(shared_vscd.base, name, pw)


# ---- the last Administrator ----------------------------------------------------------------


def test_last_admin_is_protected(vscd, admin):
    """The service keeps at least one enabled Administrator: deleting, demoting or
    disabling the last one is 409; a disabled Administrator does not count; once another
    enabled Administrator exists, all three work."""
    admin_uri = account_uri_of(admin, "admin")
    assert admin.delete(admin_uri).status_code == 409
    assert admin.patch(admin_uri, json={"RoleId": "Operator"}).status_code == 409
    assert admin.patch(admin_uri, json={"Enabled": False}).status_code == 409
    body = get_json(admin, admin_uri)
    assert body["RoleId"] == "Administrator" and body["Enabled"] is True

    # a disabled Administrator is no replacement
    create_account(admin, unique("offadm"), "Administrator", Enabled=False)
    assert admin.delete(admin_uri).status_code == 409
    assert admin.patch(admin_uri, json={"Enabled": False}).status_code == 409

    name2 = unique("adm")
    uri2, pw2 = create_account(admin, name2, "Administrator")
    admin2 = Client(vscd.base, auth=(name2, pw2))
    r = admin2.patch(admin_uri, json={"Enabled": False})
    assert r.status_code == 200, r.text
    assert admin2.patch(admin_uri, json={"Enabled": True}).status_code == 200
    r = admin2.patch(admin_uri, json={"RoleId": "Operator"})
    assert r.status_code == 200, r.text
    # now admin2 is the last enabled Administrator
    assert admin2.delete(uri2).status_code == 409
    assert admin2.patch(uri2, json={"RoleId": "ReadOnly"}).status_code == 409
    assert admin2.patch(admin_uri, json={"RoleId": "Administrator"}).status_code == 200
    r = admin2.delete(admin_uri)
    assert r.status_code == 204, r.text
    assert post_login(vscd.base, "admin", ADMIN_PASSWORD).status_code == 401


# ---- sessions follow the account -------------------------------------------------------------


def test_deleting_account_ends_its_sessions(shared_vscd, shared_admin):
    """DSP0266 (AccountForSessionNoLongerExists): deleting an account ends its sessions."""
    name = unique("del")
    uri, pw = create_account(shared_admin, name, "Operator")
    c, session_uri, _ = login(shared_vscd.base, name, pw)
    assert c.get(SESSION_SERVICE).status_code == 200
    assert shared_admin.delete(uri).status_code == 204
    assert_error(c.get(SESSION_SERVICE), 401, "NoValidSession")
    assert shared_admin.get(session_uri).status_code == 404
    assert Client(shared_vscd.base, auth=(name, pw)).get(SESSION_SERVICE).status_code == 401


def test_disabling_account_blocks_login(shared_vscd, shared_admin):
    """ManagerAccount.Enabled false: login (session and Basic) fails and open sessions end;
    re-enabling restores access."""
    name = unique("off")
    uri, pw = create_account(shared_admin, name, "Operator")
    basic = Client(shared_vscd.base, auth=(name, pw))
    assert basic.get(SESSION_SERVICE).status_code == 200
    c, _, _ = login(shared_vscd.base, name, pw)
    r = shared_admin.patch(uri, json={"Enabled": False})
    assert r.status_code == 200, r.text
    assert r.json()["Enabled"] is False
    assert post_login(shared_vscd.base, name, pw).status_code == 401
    assert basic.get(SESSION_SERVICE).status_code == 401
    assert c.get(SESSION_SERVICE).status_code == 401
    assert shared_admin.patch(uri, json={"Enabled": True}).status_code == 200
    login(shared_vscd.base, name, pw)


def test_password_change_takes_effect(shared_vscd, shared_admin):
    """An Administrator's PATCH of Password: the new password logs in, the old does not."""
    name = unique("pc")
    uri, old = create_account(shared_admin, name, "ReadOnly")
    basic_old = Client(shared_vscd.base, auth=(name, old))
    assert basic_old.get(SESSION_SERVICE).status_code == 200
    new = "changed-password-1"
    r = shared_admin.patch(uri, json={"Password": new})
    assert r.status_code == 200, r.text
    assert r.json().get("Password") is None
    login(shared_vscd.base, name, new)
    assert post_login(shared_vscd.base, name, old).status_code == 401
    assert basic_old.get(SESSION_SERVICE).status_code == 401


def test_role_change_applies_to_open_sessions(shared_vscd, shared_admin):
    """Privileges follow the account's current role: demoting an Administrator takes
    effect on its open session at once (403), promoting back restores them."""
    name = unique("dem")
    uri, pw = create_account(shared_admin, name, "Administrator")
    c, _, _ = login(shared_vscd.base, name, pw)
    other = account_uri_of(shared_admin, "admin")
    assert c.get(other).status_code == 200
    assert shared_admin.patch(uri, json={"RoleId": "ReadOnly"}).status_code == 200
    assert_error(c.get(other), 403, "InsufficientPrivilege")
    assert_error(c.post(ACCOUNTS, json={"UserName": unique("x"), "Password": "good-password",
                                        "RoleId": "Administrator"}),
                 403, "InsufficientPrivilege")
    assert shared_admin.patch(uri, json={"RoleId": "Administrator"}).status_code == 200
    assert c.get(other).status_code == 200


def test_bad_account_types_is_400(shared_admin):
    """ManagerAccount.AccountTypes: only "Redfish" is supported; others are 400
    PropertyValueNotInList."""
    name = unique("at")
    before = members(shared_admin)
    r = shared_admin.post(ACCOUNTS, json={"UserName": name, "Password": "good-password",
                                          "RoleId": "ReadOnly", "AccountTypes": ["SNMP"]})
    assert_error(r, 400, "PropertyValueNotInList")
    assert members(shared_admin) == before
    uri, _ = create_account(shared_admin, name, "ReadOnly", AccountTypes=["Redfish"])
    assert get_json(shared_admin, uri)["AccountTypes"] == ["Redfish"]


# ---- password storage ------------------------------------------------------------------------


def test_passwords_stored_as_salted_hashes(shared_vscd, shared_admin):
    """Passwords are kept only as salted yescrypt hashes ("$y$"): two accounts with the same
    password have different hashes, and the plaintext is in no database file or log."""
    secret = "Plaintext-Marker-%s" % unique("pw")
    a, b = unique("ha"), unique("hb")
    create_account(shared_admin, a, "ReadOnly", password=secret)
    create_account(shared_admin, b, "Operator", password=secret)
    changed = "Changed-Marker-%s" % unique("pw")
    uri_b = account_uri_of(shared_admin, b)
    assert shared_admin.patch(uri_b, json={"Password": changed}).status_code == 200
    login(shared_vscd.base, a, secret)

    db_path = os.path.join(shared_vscd.state_dir, "vsc.db")
    con = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=5)
    try:
        cols = [row[1] for row in con.execute("PRAGMA table_info(accounts)")]
        rows = dict(con.execute("SELECT user_name, password_hash FROM accounts"))
    finally:
        con.close()
    assert "password" not in cols, cols
    for user in ("admin", a, b):
        assert rows[user].startswith("$y$"), (user, rows[user])
    create_account(shared_admin, unique("hc"), "ReadOnly", password=secret)
    con = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=5)
    try:
        hashes = [h for (h,) in con.execute("SELECT password_hash FROM accounts")]
    finally:
        con.close()
    assert len(set(hashes)) == len(hashes), "equal passwords must get different salts"

    files = glob.glob(db_path + "*") + [shared_vscd.log_path]
    assert db_path in files
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        for pw in (secret, changed, ADMIN_PASSWORD):
            assert pw.encode() not in data, "plaintext password in %s" % path


# ---- self-service and privileges ---------------------------------------------------------------


def test_readonly_changes_own_password(shared_vscd, shared_admin):
    """Privilege registry PropertyOverrides (ManagerAccount Password: ConfigureSelf): a
    ReadOnly user may PATCH its own Password, then logs in with the new one."""
    name = unique("self")
    uri, old = create_account(shared_admin, name, "ReadOnly")
    me = Client(shared_vscd.base, auth=(name, old))
    new = "my-new-password-1"
    r = me.patch(uri, json={"Password": new})
    assert r.status_code == 200, r.text
    login(shared_vscd.base, name, new)
    assert post_login(shared_vscd.base, name, old).status_code == 401


def test_readonly_cannot_change_own_role(shared_vscd, shared_admin):
    """ConfigureSelf covers only the own Password: PATCH of the own RoleId, Enabled or
    UserName is 403 InsufficientPrivilege and changes nothing."""
    name = unique("self")
    uri, pw = create_account(shared_admin, name, "ReadOnly")
    me = Client(shared_vscd.base, auth=(name, pw))
    before = without_volatile(get_json(shared_admin, uri))
    for body in ({"RoleId": "Administrator"}, {"Enabled": True}, {"UserName": name + "x"},
                 {"Password": "new-password-9", "RoleId": "Administrator"}):
        assert_error(me.patch(uri, json=body), 403, "InsufficientPrivilege")
    assert without_volatile(get_json(shared_admin, uri)) == before
    login(shared_vscd.base, name, pw)


def test_readonly_reads_only_own_account(shared_vscd, shared_admin):
    """Privilege registry, ManagerAccount GET: ConfigureSelf reads only the own account;
    another account is 403, and not listed in the collection (clients that read every
    member, such as Ansible's ListUsers, would stop at it)."""
    name = unique("self")
    uri, pw = create_account(shared_admin, name, "ReadOnly")
    me = Client(shared_vscd.base, auth=(name, pw))
    assert get_json(me, uri)["UserName"] == name
    admin_uri = account_uri_of(shared_admin, "admin")
    assert_error(me.get(admin_uri), 403, "InsufficientPrivilege")
    assert members(me) == [uri]
    assert {uri, admin_uri} <= set(members(shared_admin))


def test_readonly_cannot_change_or_delete_others(shared_vscd, shared_admin):
    """Another account's Password needs ConfigureUsers; DELETE needs ConfigureUsers, even
    of the own account."""
    name, other = unique("ro"), unique("victim")
    uri, pw = create_account(shared_admin, name, "ReadOnly")
    other_uri, other_pw = create_account(shared_admin, other, "ReadOnly")
    me = Client(shared_vscd.base, auth=(name, pw))
    assert_error(me.patch(other_uri, json={"Password": "hijacked-pass"}), 403,
                 "InsufficientPrivilege")
    login(shared_vscd.base, other, other_pw)
    assert_error(me.delete(other_uri), 403, "InsufficientPrivilege")
    assert_error(me.delete(uri), 403, "InsufficientPrivilege")
    assert shared_admin.get(uri).status_code == 200


def test_operator_cannot_create_accounts(shared_vscd, shared_admin):
    """Privilege registry, ManagerAccountCollection POST: ConfigureUsers; an Operator gets
    403 InsufficientPrivilege and nothing is created."""
    name = unique("op")
    _, pw = create_account(shared_admin, name, "Operator")
    op = Client(shared_vscd.base, auth=(name, pw))
    before = members(shared_admin)
    new = unique("new")
    r = op.post(ACCOUNTS, json={"UserName": new, "Password": "good-password",
                                "RoleId": "Administrator"})
    assert_error(r, 403, "InsufficientPrivilege")
    assert members(shared_admin) == before


def test_no_credentials_is_401(shared_vscd, shared_admin):
    """DSP0266 §13.3: without credentials the account resources answer 401."""
    anon = Client(shared_vscd.base)
    uri = account_uri_of(shared_admin, "admin")
    for method, path, body in (("GET", ACCOUNT_SERVICE, None), ("GET", ACCOUNTS, None),
                               ("GET", uri, None), ("PATCH", uri, {"Password": "x" * 10}),
                               ("DELETE", uri, None),
                               ("POST", ACCOUNTS, {"UserName": unique("x"),
                                                   "Password": "good-password",
                                                   "RoleId": "Administrator"})):
        assert_error(anon.request(method, path, json=body), 401, "NoValidSession")
    login(shared_vscd.base, "admin", ADMIN_PASSWORD)


# ---- AccountService policy and lockout -------------------------------------------------------

LOCKOUT = {"AccountLockoutThreshold": 3, "AccountLockoutDuration": 60,
           "AccountLockoutCounterResetAfter": 60}


def set_lockout(admin):
    r = admin.patch(ACCOUNT_SERVICE, json=LOCKOUT)
    assert r.status_code == 200, r.text
    body = r.json()
    for k, v in LOCKOUT.items():
        assert body[k] == v, (k, body[k])
    body = get_json(admin, ACCOUNT_SERVICE)
    for k, v in LOCKOUT.items():
        assert body[k] == v, (k, body[k])


def fail_logins(base, name, n):
    for _ in range(n):
        assert post_login(base, name, "wrong-password-x").status_code == 401


def test_lockout_after_threshold(vscd, admin):
    """AccountService.AccountLockoutThreshold: after 3 failed logins the account is locked:
    the right password fails, GET shows Locked true; an Administrator's PATCH Locked false
    unlocks it."""
    set_lockout(admin)
    name = unique("lock")
    uri, pw = create_account(admin, name, "Operator")
    fail_logins(vscd.base, name, 3)
    r = post_login(vscd.base, name, pw)
    assert r.status_code == 401, r.text
    assert "X-Auth-Token" not in r.headers
    assert get_json(admin, uri)["Locked"] is True

    r = admin.patch(uri, json={"Locked": False})
    assert r.status_code == 200, r.text
    assert r.json()["Locked"] is False
    login(vscd.base, name, pw)


def test_lockout_applies_to_basic_auth(vscd, admin):
    """A locked account cannot authenticate by any means: HTTP Basic with the right
    password is refused too, even right after a successful Basic request."""
    set_lockout(admin)
    name = unique("lockb")
    uri, pw = create_account(admin, name, "Operator")
    basic = Client(vscd.base, auth=(name, pw))
    assert basic.get(SESSION_SERVICE).status_code == 200
    fail_logins(vscd.base, name, 3)
    assert get_json(admin, uri)["Locked"] is True
    assert_error(basic.get(SESSION_SERVICE), 401, "NoValidSession")
    assert admin.patch(uri, json={"Locked": False}).status_code == 200
    assert basic.get(SESSION_SERVICE).status_code == 200


def test_basic_auth_failures_count_toward_lockout(vscd, admin):
    """Failed HTTP Basic attempts count like failed logins: 3 lock the account."""
    set_lockout(admin)
    name = unique("lockc")
    uri, pw = create_account(admin, name, "Operator")
    bad = Client(vscd.base, auth=(name, "wrong-password-x"))
    for _ in range(3):
        assert_error(bad.get(SESSION_SERVICE), 401, "NoValidSession")
    assert get_json(admin, uri)["Locked"] is True
    assert post_login(vscd.base, name, pw).status_code == 401


def test_success_resets_failure_count(vscd, admin):
    """AccountLockoutThreshold counts consecutive failures: a successful login in between
    resets the count, so 2 + 2 failures do not lock."""
    set_lockout(admin)
    name = unique("cnt")
    uri, pw = create_account(admin, name, "Operator")
    fail_logins(vscd.base, name, 2)
    login(vscd.base, name, pw)
    fail_logins(vscd.base, name, 2)
    assert get_json(admin, uri)["Locked"] is False
    login(vscd.base, name, pw)


def test_lockout_ends_after_duration(vscd, admin):
    """AccountService.AccountLockoutDuration: the account unlocks by itself once the
    duration has passed (3 s here)."""
    r = admin.patch(ACCOUNT_SERVICE, json={"AccountLockoutThreshold": 3,
                                           "AccountLockoutDuration": 3,
                                           "AccountLockoutCounterResetAfter": 3})
    assert r.status_code == 200, r.text
    name = unique("lockd")
    uri, pw = create_account(admin, name, "Operator")
    fail_logins(vscd.base, name, 3)
    assert get_json(admin, uri)["Locked"] is True
    assert post_login(vscd.base, name, pw).status_code == 401
    assert wait_until(lambda: get_json(admin, uri)["Locked"] is False, timeout=8)
    login(vscd.base, name, pw)


def test_threshold_zero_disables_lockout(vscd, admin):
    """AccountService.AccountLockoutThreshold 0: failed logins never lock the account."""
    r = admin.patch(ACCOUNT_SERVICE, json={"AccountLockoutThreshold": 0})
    assert r.status_code == 200, r.text
    name = unique("nolock")
    uri, pw = create_account(admin, name, "Operator")
    fail_logins(vscd.base, name, 8)
    assert get_json(admin, uri)["Locked"] is False
    login(vscd.base, name, pw)


def login_seconds(client, name, password):
    """How long a refused login takes (over an open connection: no handshake counted)."""
    t0 = time.monotonic()
    r = client.post(SESSIONS, json={"UserName": name, "Password": password})
    assert r.status_code == 401, r.text
    return time.monotonic() - t0


def test_locked_account_costs_what_an_unknown_user_costs(vscd, admin):
    """docs/SECURITY.md: an unknown user costs the same time as a wrong password, so timing
    does not tell which names exist. A locked account is no exception: answered without a
    password verification, it came back at once, and three wrong passwords told an
    existing name (it turns fast) from an unknown one (it stays slow)."""
    set_lockout(admin)
    name = unique("lockt")
    create_account(admin, name, "Operator")
    fail_logins(vscd.base, name, 3)
    anon = Client(vscd.base)
    unknown = sorted(login_seconds(anon, unique("nobody"), "wrong-password-x")
                     for _ in range(3))[1]
    locked = sorted(login_seconds(anon, name, "wrong-password-x") for _ in range(3))[1]
    assert locked > unknown / 2, (locked, unknown)


def test_lockout_survives_restart(vscd, admin):
    """A lockout is persistent state: after a vscd restart the account is still locked."""
    set_lockout(admin)
    name = unique("lockr")
    uri, pw = create_account(admin, name, "Operator")
    fail_logins(vscd.base, name, 3)
    assert get_json(admin, uri)["Locked"] is True
    vscd.restart()
    assert get_json(admin, uri)["Locked"] is True
    assert post_login(vscd.base, name, pw).status_code == 401
    body = get_json(admin, ACCOUNT_SERVICE)
    for k, v in LOCKOUT.items():
        assert body[k] == v
    assert admin.patch(uri, json={"Locked": False}).status_code == 200
    login(vscd.base, name, pw)


@pytest.mark.parametrize("body", [
    {"AccountLockoutDuration": 60, "AccountLockoutCounterResetAfter": 120},
    {"AccountLockoutCounterResetAfter": 86400},
    {"MinPasswordLength": 20, "MaxPasswordLength": 10},
    {"MaxPasswordLength": 7},
    {"MinPasswordLength": 200},
    {"AccountLockoutThreshold": -1},
    {"AccountLockoutThreshold": "3"},
    {"LocalAccountAuth": "Disabled"},
    {"Bogus": True},
])
def test_account_service_bad_patch(shared_admin, body):
    """AccountService: AccountLockoutCounterResetAfter must not exceed
    AccountLockoutDuration and MinPasswordLength must not exceed MaxPasswordLength; bad
    values are 400 and nothing changes."""
    before = without_volatile(get_json(shared_admin, ACCOUNT_SERVICE))
    r = shared_admin.patch(ACCOUNT_SERVICE, json=body)
    assert r.status_code == 400, r.text
    assert without_volatile(get_json(shared_admin, ACCOUNT_SERVICE)) == before


def test_min_password_length_applies(admin):
    """AccountService.MinPasswordLength: after raising it to 12 a 10-character password is
    400 PasswordIncorrectLength, a 12-character one is accepted."""
    r = admin.patch(ACCOUNT_SERVICE, json={"MinPasswordLength": 12})
    assert r.status_code == 200, r.text
    assert r.json()["MinPasswordLength"] == 12
    r = admin.post(ACCOUNTS, json={"UserName": unique("ml"), "Password": "a" * 10,
                                   "RoleId": "ReadOnly"})
    assert_error(r, 400, "PasswordIncorrectLength")
    create_account(admin, unique("ml"), "ReadOnly", password="b" * 12)
