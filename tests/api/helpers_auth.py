"""Shared helpers for the session, account, auth, privilege and restart tests."""
import itertools
import json
import os
import subprocess
import time

from conftest import ADMIN_PASSWORD, REDFISH, VSCD, Client

SESSION_SERVICE = "/redfish/v1/SessionService"
SESSIONS = SESSION_SERVICE + "/Sessions"
ACCOUNT_SERVICE = "/redfish/v1/AccountService"
ACCOUNTS = ACCOUNT_SERVICE + "/Accounts"
ROLES = ACCOUNT_SERVICE + "/Roles"
MANAGER = "/redfish/v1/Managers/bmc"
PRIVILEGE_REGISTRY = os.path.join(REDFISH, "registries", "Redfish_1.8.0_PrivilegeRegistry.json")

# DSP0266 "Roles" clause: the privileges of the three predefined roles.
ROLE_PRIVILEGES = {
    "Administrator": {"Login", "ConfigureManager", "ConfigureUsers", "ConfigureComponents",
                      "ConfigureSelf"},
    "Operator": {"Login", "ConfigureComponents", "ConfigureSelf"},
    "ReadOnly": {"Login", "ConfigureSelf"},
}

_seq = itertools.count(1)


def unique(prefix="u"):
    """A user name no other test in this process uses (letters and digits only)."""
    return "%s%d%d" % (prefix, os.getpid() % 10000, next(_seq))


def message_ids(r):
    try:
        return [m["MessageId"] for m in r.json()["error"]["@Message.ExtendedInfo"]]
    except (ValueError, KeyError, TypeError):
        return []


def post_login(base, user, password, **extra):
    """POST /Sessions without credentials; returns the raw response."""
    body = {"UserName": user, "Password": password}
    body.update(extra)
    return Client(base).post(SESSIONS, json=body)


def login(base, user, password):
    """Logs in; returns (token client, session URI, token)."""
    r = post_login(base, user, password)
    assert r.status_code == 201, (r.status_code, r.text)
    token = r.headers["X-Auth-Token"]
    return Client(base, token=token), r.headers["Location"], token


def admin_client(base):
    return Client(base, auth=("admin", ADMIN_PASSWORD))


def create_account(admin, name, role, password=None, **extra):
    """Creates an account; returns (account URI, password)."""
    password = password or "pw-%s-secret" % name
    body = {"UserName": name, "Password": password, "RoleId": role}
    body.update(extra)
    r = admin.post(ACCOUNTS, json=body)
    assert r.status_code == 201, (r.status_code, r.text)
    return r.headers["Location"], password


def account_uri_of(admin, user_name):
    """The URI of the account with this UserName, or None."""
    r = admin.get(ACCOUNTS)
    assert r.status_code == 200, r.text
    for m in r.json()["Members"]:
        a = admin.get(m["@odata.id"])
        if a.status_code == 200 and a.json()["UserName"] == user_name:
            return m["@odata.id"]
    return None


def get_json(client, path):
    r = client.get(path)
    assert r.status_code == 200, (path, r.status_code, r.text)
    return r.json()


def without_volatile(body):
    """The resource without its ETag, for before/after comparisons."""
    return {k: v for k, v in body.items() if k != "@odata.etag"}


def dump_routes():
    out = subprocess.run([VSCD, "--dump-routes"], capture_output=True, timeout=30, check=True)
    return json.loads(out.stdout)


def privilege_registry():
    with open(PRIVILEGE_REGISTRY) as f:
        reg = json.load(f)
    return {m["Entity"]: m for m in reg["Mappings"]}


def wait_until(predicate, timeout, interval=0.2):
    """Polls predicate() until true or timeout seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
