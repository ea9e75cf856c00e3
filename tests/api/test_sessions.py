"""Redfish sessions (DSP0266 §13.3.4 "Session login/logout") and the SessionService."""
import time
from urllib.parse import urlparse

import pytest

from conftest import ADMIN_PASSWORD, Client, Vscd, assert_error
from helpers_auth import (SESSION_SERVICE, SESSIONS, create_account, get_json, login,
                          post_login, unique, without_volatile)


AUDIT_ENTRIES = "/redfish/v1/Managers/bmc/LogServices/Audit/Entries"


def path_of(location):
    return urlparse(location).path


# ---- login / token / logout ------------------------------------------------------------


def test_login_returns_token_location_and_session(shared_vscd):
    """DSP0266 §13.3.4: POST to the SessionCollection with UserName/Password answers 201 with
    X-Auth-Token, Location of the new Session and the Session body (Password null)."""
    r = post_login(shared_vscd.base, "admin", ADMIN_PASSWORD)
    assert r.status_code == 201, r.text
    token = r.headers.get("X-Auth-Token")
    assert token and len(token) >= 16
    loc = r.headers.get("Location")
    assert loc and path_of(loc).startswith(SESSIONS + "/")
    body = r.json()
    assert body["@odata.id"] == path_of(loc)
    assert body["@odata.type"].startswith("#Session.")
    assert body["UserName"] == "admin"
    assert body.get("Password") is None, "Session.Password shall be null on read"
    assert token not in r.text and token not in loc, "the token must not be the session's Id"


def test_each_login_gets_its_own_session(shared_vscd):
    """Every login creates a distinct session: different tokens and session Ids."""
    first = post_login(shared_vscd.base, "admin", ADMIN_PASSWORD)
    second = post_login(shared_vscd.base, "admin", ADMIN_PASSWORD)
    assert first.status_code == second.status_code == 201
    assert first.headers["X-Auth-Token"] != second.headers["X-Auth-Token"]
    assert first.headers["Location"] != second.headers["Location"]
    assert first.json()["Id"] != second.json()["Id"]


def test_token_authenticates_requests(shared_vscd):
    """DSP0266 §13.3.4: the X-Auth-Token header authenticates later requests."""
    c, _, _ = login(shared_vscd.base, "admin", ADMIN_PASSWORD)
    r = c.get(SESSION_SERVICE)
    assert r.status_code == 200, r.text
    r = c.get("/redfish/v1/Managers/bmc")
    assert r.status_code == 200, r.text


def test_invalid_token_is_401(shared_vscd):
    """DSP0266 §13.3.3: a request with an invalid X-Auth-Token is refused with 401."""
    r = Client(shared_vscd.base, token="not-a-valid-token").get(SESSION_SERVICE)
    assert_error(r, 401, "NoValidSession")


def test_get_session(shared_vscd):
    """Session resource: GET with the session's own token answers the Session."""
    c, uri, _ = login(shared_vscd.base, "admin", ADMIN_PASSWORD)
    body = get_json(c, path_of(uri))
    assert body["@odata.id"] == path_of(uri)
    assert body["UserName"] == "admin"
    assert body.get("Password") is None
    assert body["Id"] == path_of(uri).rsplit("/", 1)[1]


def test_session_listed_in_collection(shared_vscd, shared_admin):
    """SessionCollection: an open session is a member; an Administrator sees it."""
    _, uri, _ = login(shared_vscd.base, "admin", ADMIN_PASSWORD)
    members = [m["@odata.id"] for m in get_json(shared_admin, SESSIONS)["Members"]]
    assert path_of(uri) in members


def test_logout_deletes_session_and_token(shared_vscd, shared_admin):
    """DSP0266 §13.3.4: DELETE of the Session logs out; the token then gives 401."""
    c, uri, _ = login(shared_vscd.base, "admin", ADMIN_PASSWORD)
    r = c.delete(path_of(uri))
    assert r.status_code == 204, r.text
    assert_error(c.get(SESSION_SERVICE), 401, "NoValidSession")
    assert shared_admin.get(path_of(uri)).status_code == 404
    members = [m["@odata.id"] for m in get_json(shared_admin, SESSIONS)["Members"]]
    assert path_of(uri) not in members


def test_wrong_password_is_401_without_token(shared_vscd, shared_admin):
    """DSP0266 §13.3.4: a failed login answers 401 and creates no session."""
    name = unique("wp")
    create_account(shared_admin, name, "ReadOnly")
    before = len(get_json(shared_admin, SESSIONS)["Members"])
    r = post_login(shared_vscd.base, name, "not-the-password")
    assert r.status_code == 401, r.text
    assert "X-Auth-Token" not in r.headers
    assert "Location" not in r.headers
    assert len(get_json(shared_admin, SESSIONS)["Members"]) == before


def test_unknown_user_is_401(shared_vscd):
    """A login for a user that does not exist is 401, like a wrong password."""
    r = post_login(shared_vscd.base, unique("nobody"), "whatever-password")
    assert r.status_code == 401, r.text
    assert "X-Auth-Token" not in r.headers


@pytest.mark.parametrize("body,prop", [
    ({"Password": "whatever-password"}, "UserName"),
    ({"UserName": "admin"}, "Password"),
])
def test_login_missing_property_is_400(shared_vscd, body, prop):
    """DSP0266 §13.3.4: UserName and Password are required: 400 PropertyMissing."""
    r = Client(shared_vscd.base).post(SESSIONS, json=body)
    assert_error(r, 400, "PropertyMissing")
    assert prop in r.text
    assert "X-Auth-Token" not in r.headers


def test_login_unknown_property_is_400(shared_vscd):
    """DSP0266 §7.5 (POST create): an unknown property is 400 PropertyUnknown."""
    r = post_login(shared_vscd.base, "admin", ADMIN_PASSWORD, Bogus=1)
    assert_error(r, 400, "PropertyUnknown")
    assert "X-Auth-Token" not in r.headers


def test_login_wrong_type_is_400(shared_vscd):
    """Session.UserName is a string: a number is 400 PropertyValueTypeError."""
    r = Client(shared_vscd.base).post(SESSIONS, json={"UserName": 5, "Password": ADMIN_PASSWORD})
    assert_error(r, 400, "PropertyValueTypeError")


def test_login_context_round_trips(shared_vscd):
    """Session.Context (v1_5+): a client-supplied context is returned."""
    r = post_login(shared_vscd.base, "admin", ADMIN_PASSWORD, Context="my-tool")
    assert r.status_code == 201, r.text
    assert r.json()["Context"] == "my-tool"


def test_readonly_sees_and_deletes_only_own_session(shared_vscd, shared_admin):
    """Privilege registry, Session: ConfigureSelf covers only the caller's own sessions;
    another user's session is 403 for GET and DELETE, and not listed in the collection."""
    name = unique("ro")
    _, pw = create_account(shared_admin, name, "ReadOnly")
    ro, ro_uri, _ = login(shared_vscd.base, name, pw)
    adm, adm_uri, _ = login(shared_vscd.base, "admin", ADMIN_PASSWORD)

    assert get_json(ro, path_of(ro_uri))["UserName"] == name
    assert_error(ro.get(path_of(adm_uri)), 403, "InsufficientPrivilege")
    members = [m["@odata.id"] for m in get_json(ro, SESSIONS)["Members"]]
    assert path_of(ro_uri) in members
    assert path_of(adm_uri) not in members

    assert_error(ro.delete(path_of(adm_uri)), 403, "InsufficientPrivilege")
    assert adm.get(SESSION_SERVICE).status_code == 200, "the admin session must survive"

    # the Administrator (ConfigureManager) sees both
    members = [m["@odata.id"] for m in get_json(adm, SESSIONS)["Members"]]
    assert path_of(ro_uri) in members and path_of(adm_uri) in members

    r = ro.delete(path_of(ro_uri))
    assert r.status_code == 204, r.text
    assert_error(ro.get(SESSION_SERVICE), 401, "NoValidSession")


def test_admin_deletes_another_users_session(shared_vscd, shared_admin):
    """Privilege registry, Session DELETE: ConfigureManager may end any session."""
    name = unique("ro")
    _, pw = create_account(shared_admin, name, "ReadOnly")
    ro, ro_uri, _ = login(shared_vscd.base, name, pw)
    r = shared_admin.delete(path_of(ro_uri))
    assert r.status_code == 204, r.text
    assert_error(ro.get(SESSION_SERVICE), 401, "NoValidSession")


# ---- SessionService.SessionTimeout ---------------------------------------------------------


def test_session_timeout_patch_persists(admin):
    """SessionService.SessionTimeout (30..86400 s per the schema): a valid PATCH is applied
    and answered with the updated resource; both bounds are accepted."""
    for value in (600, 30, 86400, 1800):
        r = admin.patch(SESSION_SERVICE, json={"SessionTimeout": value})
        assert r.status_code == 200, r.text
        assert r.json()["SessionTimeout"] == value
        assert get_json(admin, SESSION_SERVICE)["SessionTimeout"] == value


@pytest.mark.parametrize("body,message", [
    ({"SessionTimeout": 29}, "PropertyValueOutOfRange"),
    ({"SessionTimeout": 86401}, "PropertyValueOutOfRange"),
    ({"SessionTimeout": "abc"}, "PropertyValueTypeError"),
    ({"SessionTimeout": 60.5}, "PropertyValueTypeError"),
    ({"Id": "Other"}, "PropertyNotWritable"),
    ({"Bogus": 1}, "PropertyUnknown"),
    ({"SessionTimeout": 600, "Bogus": 1}, "PropertyUnknown"),
])
def test_session_timeout_bad_patch(shared_admin, body, message):
    """DSP0266 §7.6 (PATCH): a bad property is 400 with the Base message naming the problem,
    and a PATCH that fails changes nothing (not even its valid properties)."""
    before = without_volatile(get_json(shared_admin, SESSION_SERVICE))
    r = shared_admin.patch(SESSION_SERVICE, json=body)
    assert_error(r, 400, message)
    after = without_volatile(get_json(shared_admin, SESSION_SERVICE))
    assert after == before


def test_session_timeout_patch_needs_configure_manager(shared_vscd, shared_admin):
    """Privilege registry, SessionService PATCH: ConfigureManager; ReadOnly gets 403."""
    name = unique("ro")
    _, pw = create_account(shared_admin, name, "ReadOnly")
    ro = Client(shared_vscd.base, auth=(name, pw))
    before = get_json(shared_admin, SESSION_SERVICE)["SessionTimeout"]
    assert_error(ro.patch(SESSION_SERVICE, json={"SessionTimeout": 31}), 403,
                 "InsufficientPrivilege")
    assert get_json(shared_admin, SESSION_SERVICE)["SessionTimeout"] == before


def test_idle_session_expires(vscd, admin):
    """SessionService.SessionTimeout: a session idle longer than the timeout is ended (401),
    while one in use within the timeout stays valid."""
    r = admin.patch(SESSION_SERVICE, json={"SessionTimeout": 30})
    assert r.status_code == 200, r.text
    idle, idle_uri, _ = login(vscd.base, "admin", ADMIN_PASSWORD)
    busy, _, _ = login(vscd.base, "admin", ADMIN_PASSWORD)
    assert idle.get(SESSION_SERVICE).status_code == 200
    start = time.monotonic()
    while True:
        left = 32 - (time.monotonic() - start)
        if left <= 0:
            break
        time.sleep(min(8, left))
        assert busy.get(SESSION_SERVICE).status_code == 200, "a session in use expired"
    assert_error(idle.get(SESSION_SERVICE), 401, "NoValidSession")
    assert admin.get(path_of(idle_uri)).status_code == 404
    assert busy.get(SESSION_SERVICE).status_code == 200


def test_expired_session_used_before_the_sweep_is_audited(vscd, admin):
    """docs/SECURITY.md, audit trail: SessionExpired is recorded when a session times out,
    also when its client comes back after the timeout but before the periodic sweep found
    it (every 5 s): the token's use ended the session without a record."""
    r = admin.patch(SESSION_SERVICE, json={"SessionTimeout": 30})
    assert r.status_code == 200, r.text
    idle, idle_uri, _ = login(vscd.base, "admin", ADMIN_PASSWORD)
    session_id = path_of(idle_uri).rsplit("/", 1)[1]
    time.sleep(30.1)
    assert_error(idle.get(SESSION_SERVICE), 401, "NoValidSession")
    trail = [get_json(admin, m["@odata.id"])["Oem"]["Vsc"]
             for m in get_json(admin, AUDIT_ENTRIES)["Members"]]
    assert [e["Action"] for e in trail if session_id in e["Detail"]] == [
        "Login", "SessionExpired"]


def test_session_limit(tmp_path):
    """Base.SessionLimitExceeded: with max_sessions=2 the third login is 503 and gives no
    token; after a logout a new login succeeds again."""
    d = Vscd(str(tmp_path / "state"), extra_args=["--set", "max_sessions=2"]).start()
    try:
        first, first_uri, _ = login(d.base, "admin", ADMIN_PASSWORD)
        login(d.base, "admin", ADMIN_PASSWORD)
        r = post_login(d.base, "admin", ADMIN_PASSWORD)
        assert_error(r, 503, "SessionLimitExceeded")
        assert "X-Auth-Token" not in r.headers
        assert first.delete(path_of(first_uri)).status_code == 204
        login(d.base, "admin", ADMIN_PASSWORD)
    finally:
        d.stop()
