"""What survives a vscd restart: accounts, passwords, policy and the service UUID (persistent
state in <state_dir>/vsc.db); what does not: session tokens (the documented decision, shown
as Manager Oem.Vsc.SessionsSurviveRestart = false). And the first start without
VSC_ADMIN_PASSWORD."""
import os
import re
import sqlite3
import stat

import pytest

from conftest import ADMIN_PASSWORD, Client, Vscd, assert_error
from helpers_auth import (ACCOUNT_SERVICE, ACCOUNTS, MANAGER, SESSION_SERVICE, SESSIONS,
                          account_uri_of, create_account, get_json, login, post_login, unique)

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
PASSWORD_LINE = "its password is in"


def uuids(client):
    return get_json(Client(client.base), "/redfish/v1")["UUID"], get_json(client, MANAGER)["UUID"]


def test_accounts_and_passwords_persist(vscd, admin):
    """Accounts (name, role, enabled) and their passwords, including changed ones, are kept
    across a restart; so are the SessionService and AccountService settings."""
    op, ro, off = unique("op"), unique("ro"), unique("off")
    op_uri, op_pw = create_account(admin, op, "Operator")
    ro_uri, ro_old = create_account(admin, ro, "ReadOnly")
    off_uri, off_pw = create_account(admin, off, "Operator", Enabled=False)
    ro_new = "changed-before-restart"
    assert admin.patch(ro_uri, json={"Password": ro_new}).status_code == 200
    renamed = unique("ren")
    assert admin.patch(op_uri, json={"UserName": renamed}).status_code == 200
    assert admin.patch(SESSION_SERVICE, json={"SessionTimeout": 777}).status_code == 200
    policy = {"MinPasswordLength": 9, "AccountLockoutThreshold": 7,
              "AccountLockoutDuration": 120, "AccountLockoutCounterResetAfter": 100}
    assert admin.patch(ACCOUNT_SERVICE, json=policy).status_code == 200
    before = {uri: get_json(admin, uri) for uri in (op_uri, ro_uri, off_uri)}
    members = get_json(admin, ACCOUNTS)["Members"]

    vscd.restart()

    assert get_json(admin, ACCOUNTS)["Members"] == members
    for uri, body in before.items():
        assert get_json(admin, uri) == body
    login(vscd.base, renamed, op_pw)
    login(vscd.base, ro, ro_new)
    assert post_login(vscd.base, ro, ro_old).status_code == 401
    assert post_login(vscd.base, op, op_pw).status_code == 401
    assert post_login(vscd.base, off, off_pw).status_code == 401
    assert get_json(admin, SESSION_SERVICE)["SessionTimeout"] == 777
    service = get_json(admin, ACCOUNT_SERVICE)
    for k, v in policy.items():
        assert service[k] == v, k


def test_only_patched_policy_settings_are_pinned(tmp_path):
    """SessionTimeout follows session_timeout_default until an Administrator PATCHes it
    (docs/vscd.conf.sample); PATCHing AccountService's lockout settings does not pin it."""
    v = Vscd(str(tmp_path / "state"), extra_args=["--set", "session_timeout_default=600"])
    v.start()
    try:
        admin = Client(v.base, auth=("admin", ADMIN_PASSWORD))
        assert get_json(admin, SESSION_SERVICE)["SessionTimeout"] == 600
        r = admin.patch(ACCOUNT_SERVICE, json={"AccountLockoutThreshold": 7})
        assert r.status_code == 200, r.text
        v.stop()
        v.extra_args = ["--set", "session_timeout_default=900"]
        v.start()
        assert get_json(admin, SESSION_SERVICE)["SessionTimeout"] == 900
        assert get_json(admin, ACCOUNT_SERVICE)["AccountLockoutThreshold"] == 7
        # Once PATCHed, the stored value wins over the setting.
        assert admin.patch(SESSION_SERVICE, json={"SessionTimeout": 900}).status_code == 200
        v.stop()
        v.extra_args = ["--set", "session_timeout_default=1200"]
        v.start()
        assert get_json(admin, SESSION_SERVICE)["SessionTimeout"] == 900
    finally:
        v.stop()


def test_service_uuid_is_stable(vscd, admin):
    """ServiceRoot.UUID (DSP0266: the same across restarts) is a UUID, equals the Manager's
    UUID and does not change over restarts."""
    root_uuid, manager_uuid = uuids(admin)
    assert UUID_RE.match(root_uuid), root_uuid
    assert root_uuid == manager_uuid
    for _ in range(2):
        vscd.restart()
        assert uuids(admin) == (root_uuid, manager_uuid)


def test_service_uuid_differs_between_services(vscd, admin, shared_admin):
    """Each service (state dir) has its own UUID."""
    assert uuids(admin)[0] != uuids(shared_admin)[0]


def test_sessions_do_not_survive_restart(vscd, admin):
    """Documented decision: sessions live in memory only; after a restart a token is 401,
    the SessionCollection is empty and Oem.Vsc.SessionsSurviveRestart says false."""
    c, uri, _ = login(vscd.base, "admin", ADMIN_PASSWORD)
    assert c.get(SESSION_SERVICE).status_code == 200
    assert get_json(admin, MANAGER)["Oem"]["Vsc"]["SessionsSurviveRestart"] is False
    vscd.restart()
    assert_error(c.get(SESSION_SERVICE), 401, "NoValidSession")
    assert admin.get(uri).status_code == 404
    assert get_json(admin, SESSIONS)["Members"] == []
    login(vscd.base, "admin", ADMIN_PASSWORD)


def test_database_usable_after_restarts(vscd, admin):
    """The database vscd creates is a sound SQLite file at the schema version the Manager
    reports, and stays usable (read, create, change, delete) over several restarts."""
    version = get_json(admin, MANAGER)["Oem"]["Vsc"]["DatabaseSchemaVersion"]
    names = []
    for i in range(3):
        name = unique("db%d" % i)
        create_account(admin, name, "ReadOnly")
        names.append(name)
        vscd.stop()
        con = sqlite3.connect(os.path.join(vscd.state_dir, "vsc.db"), timeout=5)
        try:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert con.execute("PRAGMA user_version").fetchone()[0] == version
            stored = {n for (n,) in con.execute("SELECT user_name FROM accounts")}
        finally:
            con.close()
        assert set(names) <= stored
        vscd.start()
        assert get_json(admin, MANAGER)["Oem"]["Vsc"]["DatabaseSchemaVersion"] == version
    uri = account_uri_of(admin, names[0])
    assert admin.patch(uri, json={"RoleId": "Operator"}).status_code == 200
    assert admin.delete(account_uri_of(admin, names[1])).status_code == 204
    vscd.restart()
    assert get_json(admin, uri)["RoleId"] == "Operator"
    assert account_uri_of(admin, names[1]) is None


def test_admin_password_env_ignored_once_accounts_exist(vscd, admin):
    """VSC_ADMIN_PASSWORD sets the first password only: after the admin changed it, a
    restart with the variable still set does not reset it."""
    uri = account_uri_of(admin, "admin")
    new = "admin-changed-password"
    assert admin.patch(uri, json={"Password": new}).status_code == 200
    vscd.restart()
    assert vscd.env["VSC_ADMIN_PASSWORD"] == ADMIN_PASSWORD
    assert post_login(vscd.base, "admin", ADMIN_PASSWORD).status_code == 401
    login(vscd.base, "admin", new)


def test_no_initial_password_file_when_env_given(vscd):
    """With VSC_ADMIN_PASSWORD nothing is generated, written or printed."""
    assert not os.path.exists(os.path.join(vscd.state_dir, "initial-admin-password"))
    assert PASSWORD_LINE not in vscd.read_log()


def test_initial_admin_password(tmp_path):
    """First start without VSC_ADMIN_PASSWORD: a generated admin password is written to
    <state_dir>/initial-admin-password (mode 0600) and works for login; it is never in the
    log (vscd prints it only on a terminal), which says where the file is."""
    d = Vscd(str(tmp_path / "state"))
    del d.env["VSC_ADMIN_PASSWORD"]
    d.start()
    try:
        path = os.path.join(d.state_dir, "initial-admin-password")
        assert os.path.isfile(path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        with open(path) as f:
            password = f.read().strip()
        assert len(password) >= 12 and "\n" not in password
        login(d.base, "admin", password)
        assert Client(d.base, auth=("admin", password)).get(SESSION_SERVICE).status_code == 200
        log = d.read_log()
        assert password not in log, "the password is in the log"
        assert log.count(PASSWORD_LINE) == 1

        d.restart()
        log = d.read_log()
        assert password not in log
        assert log.count(PASSWORD_LINE) == 1
        login(d.base, "admin", password)
        with open(path) as f:
            assert f.read().strip() == password
    finally:
        d.stop()


def test_initial_password_that_cannot_be_written_makes_no_admin(tmp_path):
    """When <state_dir>/initial-admin-password cannot be written, vscd does not start (status
    1, saying so) and makes no account nobody knows the password of; the next start, once
    the file can be written, makes `admin` with the password the file then holds."""
    d = Vscd(str(tmp_path / "state"))
    del d.env["VSC_ADMIN_PASSWORD"]
    path = os.path.join(d.state_dir, "initial-admin-password")
    os.makedirs(path)  # in the way: open() fails with EISDIR
    try:
        d.start()
    except RuntimeError as e:
        err = str(e)
    else:
        d.stop()
        pytest.fail("vscd started without writing initial-admin-password")
    assert "exited with 1" in err and "initial-admin-password" in err, err
    d.proc = None
    d.log.close()
    os.rmdir(path)
    d.start()
    try:
        with open(path) as f:
            password = f.read().strip()
        login(d.base, "admin", password)
    finally:
        d.stop()
