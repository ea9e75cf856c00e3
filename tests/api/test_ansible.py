"""Ansible's Redfish modules (community.general.redfish_info, redfish_command, redfish_config,
from Debian's ansible package) driven against the real daemon, as an admin's playbook would
run them. Each test runs one playbook with the json stdout callback, then checks what the
modules reported against what the service says through its REST API.

Not driven here, on purpose:
- redfish_info `category: all`: it stops at "Chassis resource not found" (and UpdateService).
  A service root's Chassis and UpdateService are optional and vsc has neither a chassis nor
  firmware to update; the categories vsc serves are each run below.
- redfish_command AddUser with `account_id`: the module then POSTs "Id", a read-only property
  vsc refuses (400 PropertyNotWritable, as DSP0266 allows). That option works around services
  that need the Id of the new account; vsc picks it, so an admin leaves it out.
- The power, boot, BIOS, virtual media, indicator LED and update commands: vsc neither powers,
  boots nor flashes a VM (ComputerSystem carries no such actions), so there is nothing for them.
"""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import ADMIN_PASSWORD, Client
from helpers_auth import ACCOUNT_SERVICE, ACCOUNTS, SESSION_SERVICE, SESSIONS, account_uri_of
from helpers_ports import MANAGER, get_json, served_vm

AUDIT = MANAGER + "/LogServices/Audit"
ANSIBLE_PLAYBOOK = "/usr/bin/ansible-playbook"


@pytest.fixture(scope="module")
def served():
    """A vscd with one VM of two ports (helpers_ports.served_vm)."""
    for v in served_vm():
        v.baseuri = v.base.split("://", 1)[1]
        yield v


def hermetic_env(home):
    """Ansible with nothing from this machine's user or system configuration: its own home,
    temp dir and an empty config file; no CA bundle or proxy variables. (The modules of
    Debian 12's community.general, 6.6.2, take no validate_certs: they never verify, so the
    self-signed cert needs nothing.)"""
    cfg = os.path.join(home, "ansible.cfg")
    open(cfg, "w").close()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANSIBLE_", "PYTHON")) and k not in (
               "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "HTTPS_PROXY",
               "https_proxy", "HTTP_PROXY", "http_proxy")}
    env.update(HOME=home, LC_ALL="C.UTF-8", ANSIBLE_HOME=os.path.join(home, ".ansible"),
               ANSIBLE_LOCAL_TEMP=os.path.join(home, "tmp"), ANSIBLE_CONFIG=cfg,
               # The modules' temp dir: by default under the user's home from the password
               # database (~root), not $HOME.
               ANSIBLE_REMOTE_TEMP=os.path.join(home, "remote-tmp"),
               ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_NOCOLOR="1",
               ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_DEPRECATION_WARNINGS="0",
               NO_PROXY="127.0.0.1,localhost")
    return env


def play_task(i, name, module, args):
    """Task i registers its result as r_<i> (later tasks may use r_0.session); it has
    ignore_errors, so a failing module is reported, not fatal to the play."""
    return {"name": name, "community.general." + module: args, "register": "r_%d" % i,
            "ignore_errors": True}


def playbook(tasks, timeout=120):
    """Runs tasks [(name, module, args)] on localhost; returns {name: the module's result}."""
    home = tempfile.mkdtemp(prefix="ansible", dir="/tmp")
    try:
        plays = [{"hosts": "localhost", "gather_facts": False,
                  "tasks": [play_task(i, *t) for i, t in enumerate(tasks)]}]
        path = os.path.join(home, "play.yml")
        with open(path, "w") as f:
            json.dump(plays, f)  # JSON is YAML
        p = subprocess.run([ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local",
                            "-e", "ansible_python_interpreter=/usr/bin/python3", path],
                           capture_output=True, text=True, timeout=timeout, cwd=home,
                           env=hermetic_env(home))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    assert p.stdout.strip(), (p.returncode, p.stderr)
    out = json.loads(p.stdout)
    results = {t["task"]["name"]: t["hosts"]["localhost"] for t in out["plays"][0]["tasks"]}
    assert list(results) == [name for name, _, _ in tasks], (results, p.stderr)
    return results


def ok(result):
    assert not result.get("failed"), result.get("msg", result)
    return result


def facts(result, key):
    """One command's answer in redfish_info's facts; asserts the command succeeded."""
    got = ok(result)["redfish_facts"][key]
    assert got["ret"] is True, got
    return got["entries"]


def admin_args(v, **args):
    return dict(baseuri=v.baseuri, username="admin", password=ADMIN_PASSWORD, **args)


def token_args(v, **args):
    return dict(baseuri=v.baseuri, auth_token="{{ r_0.session.token }}", **args)


def session_ids(v):
    return {m["@odata.id"] for m in get_json(v.admin, SESSIONS)["Members"]}


def entry_ids(v):
    return [m["@odata.id"] for m in get_json(v.admin, AUDIT + "/Entries")["Members"]]


def test_info_reads_the_vm_the_manager_the_accounts_and_the_sessions(served):
    token, session_uri = Client(served.base).login("admin", ADMIN_PASSWORD)
    audit_before = entry_ids(served)
    assert audit_before
    r = playbook([
        ("systems", "redfish_info", admin_args(served, category=["Systems"],
                                                command=["GetSystemInventory"])),
        ("manager", "redfish_info", admin_args(served, category=["Manager"],
                                                command=["GetManagerInventory", "GetLogs"])),
        ("accounts", "redfish_info", admin_args(served, category=["Accounts"],
                                                 command=["ListUsers"])),
        ("sessions", "redfish_info", admin_args(served, category=["Sessions"],
                                                 command=["GetSessions"])),
        ("clear logs", "redfish_command", admin_args(served, category="Manager",
                                                     command=["ClearLogs"])),
    ])
    system_uri = "/redfish/v1/Systems/" + served.vm_uuid
    [[where, system]] = facts(r["systems"], "system")
    assert where == {"system_uri": system_uri}
    assert system["SystemType"] == "Virtual"
    assert (system["Id"], system["Name"], system["HostName"]) == (
        served.vm_uuid, "web1", "web1.example")
    assert system["PowerState"] == get_json(served.admin, system_uri)["PowerState"]

    rest = get_json(served.admin, MANAGER)
    [[where, manager]] = facts(r["manager"], "manager")
    assert where == {"manager_uri": MANAGER}
    assert manager["ManagerType"] == "Service"
    assert (manager["UUID"], manager["FirmwareVersion"]) == (rest["UUID"], rest["FirmwareVersion"])
    assert manager["Status"] == {"State": "Enabled", "Health": "OK"}
    # One log service (the audit trail), named after its Entries link's last segment. Its
    # entries come out empty: vsc lists a collection's members by reference (DSP0266 makes
    # $expand optional) and the module reads only members expanded inline.
    [log] = facts(r["manager"], "log")
    assert set(log) == {"Description", "Entries"} and log["Entries"] == []
    assert get_json(served.admin, MANAGER + "/LogServices")["Members"] == [{"@odata.id": AUDIT}]

    users = facts(r["accounts"], "user")
    admin = [u for u in users if u["UserName"] == "admin"]
    assert admin == [{"Id": "1", "Name": "User Account", "UserName": "admin",
                      "RoleId": "Administrator", "Enabled": True, "Locked": False}]
    assert len(users) == get_json(served.admin, ACCOUNTS)["Members@odata.count"]

    listed = facts(r["sessions"], "session")
    mine = [s for s in listed if s["Id"] == session_uri.rsplit("/", 1)[1]]
    assert mine == [{"Id": mine[0]["Id"], "Name": "User Session", "UserName": "admin"}]

    # ClearLogs POSTs the audit LogService's ClearLog action: the entries from before are gone.
    assert ok(r["clear logs"])["changed"] is True
    assert not set(audit_before) & set(entry_ids(served))
    Client(served.base, token=token).delete(session_uri)


def test_a_session_token_from_create_session_serves_info_and_is_deleted(served):
    before = session_ids(served)
    r = playbook([
        ("login", "redfish_command", admin_args(served, category="Sessions",
                                                command=["CreateSession"])),
        ("sessions", "redfish_info", token_args(served, category=["Sessions"],
                                                command=["GetSessions"])),
        ("systems", "redfish_info", token_args(served, category=["Systems"],
                                               command=["GetSystemInventory"])),
        ("accounts", "redfish_info", token_args(served, category=["Accounts"],
                                                command=["ListUsers"])),
        ("logout", "redfish_command", token_args(served, category="Sessions",
                                                 command=["DeleteSession"],
                                                 session_uri="{{ r_0.session.uri }}")),
    ])
    session = ok(r["login"])["session"]
    assert r["login"]["changed"] is True
    assert session["uri"].startswith(SESSIONS + "/") and session["token"]
    session_id = session["uri"].rsplit("/", 1)[1]
    assert {"Id": session_id, "Name": "User Session", "UserName": "admin"} in facts(
        r["sessions"], "session")
    [[_, system]] = facts(r["systems"], "system")
    assert system["SystemType"] == "Virtual"
    assert "admin" in [u["UserName"] for u in facts(r["accounts"], "user")]
    assert ok(r["logout"])["msg"] == "Action was successful"
    # Logged out: the session is gone and its token no longer opens anything.
    assert session_ids(served) == before
    r = Client(served.base, token=session["token"]).get(SESSION_SERVICE)
    assert r.status_code == 401, r.text


def test_clear_sessions_ends_every_session(served):
    Client(served.base).login("admin", ADMIN_PASSWORD)
    Client(served.base).login("admin", ADMIN_PASSWORD)
    assert len(session_ids(served)) >= 2
    r = playbook([("clear", "redfish_command", admin_args(served, category="Sessions",
                                                          command=["ClearSessions"]))])
    assert ok(r["clear"])["changed"] is True
    assert session_ids(served) == set()


def test_command_adds_changes_and_deletes_an_account(served):
    name, first, second = "ops1", "ops-password-1", "ops-password-2"

    def accounts(**args):
        return admin_args(served, category="Accounts", **args)

    r = playbook([
        ("add", "redfish_command", accounts(command=["AddUser"], new_username=name,
                                            new_password=first, roleid="ReadOnly")),
        ("add again", "redfish_command", accounts(command=["AddUser"], new_username=name,
                                                  new_password=first, roleid="ReadOnly")),
        ("role", "redfish_command", accounts(command=["UpdateUserRole"], account_username=name,
                                             roleid="Operator")),
        ("role again", "redfish_command", accounts(command=["UpdateUserRole"],
                                                   account_username=name, roleid="Operator")),
        ("password", "redfish_command", accounts(command=["UpdateUserPassword"],
                                                 account_username=name,
                                                 account_password=second)),
        ("disable", "redfish_command", accounts(command=["DisableUser"], account_username=name)),
    ])
    assert ok(r["add"])["changed"] is True
    assert ok(r["add again"])["changed"] is False  # found by UserName: nothing to do
    assert ok(r["role"])["changed"] is True
    assert ok(r["role again"])["changed"] is False
    assert ok(r["password"])["changed"] is True
    assert ok(r["disable"])["changed"] is True
    uri = account_uri_of(served.admin, name)
    account = get_json(served.admin, uri)
    assert (account["UserName"], account["RoleId"], account["Enabled"]) == (name, "Operator", False)
    r = Client(served.base).post(SESSIONS, json={"UserName": name, "Password": second})
    assert r.status_code == 401, "a disabled account logged in"

    r = playbook([
        ("enable", "redfish_command", accounts(command=["EnableUser"], account_username=name)),
        # The account itself, an Operator (ConfigureSelf), lists the accounts it may read: its
        # own. (vscd listed every account and refused all but the own one with 403, which
        # failed the whole ListUsers.)
        ("list as it", "redfish_info", dict(baseuri=served.baseuri, username=name,
                                            password=second, category=["Accounts"],
                                            command=["ListUsers"])),
        ("old password", "redfish_info", dict(baseuri=served.baseuri, username=name,
                                              password=first, category=["Accounts"],
                                              command=["ListUsers"])),
    ])
    assert ok(r["enable"])["changed"] is True
    assert facts(r["list as it"], "user") == [{
        "Id": uri.rsplit("/", 1)[1], "Name": "User Account", "UserName": name,
        "RoleId": "Operator", "Enabled": True, "Locked": False}]
    assert r["old password"]["failed"] is True
    assert "HTTP Error 401" in r["old password"]["msg"]
    token, session_uri = Client(served.base).login(name, second)  # through REST too
    assert Client(served.base, token=token).delete(session_uri).status_code == 204

    r = playbook([
        ("delete", "redfish_command", accounts(command=["DeleteUser"], account_username=name)),
        ("delete again", "redfish_command", accounts(command=["DeleteUser"],
                                                     account_username=name)),
    ])
    assert ok(r["delete"])["changed"] is True
    assert ok(r["delete again"])["changed"] is False  # no such account: nothing to do
    assert account_uri_of(served.admin, name) is None
    assert served.admin.get(uri).status_code == 404


def test_config_sets_the_session_timeout_and_account_lockout(served):
    timeout = get_json(served.admin, SESSION_SERVICE)["SessionTimeout"]
    threshold = get_json(served.admin, ACCOUNT_SERVICE)["AccountLockoutThreshold"]
    new_timeout, new_threshold = timeout + 600, threshold + 1
    r = playbook([
        ("timeout", "redfish_config", admin_args(served, category="Sessions",
                                                 command=["SetSessionService"],
                                                 sessions_config={"SessionTimeout": new_timeout})),
        ("timeout again", "redfish_config", admin_args(
            served, category="Sessions", command=["SetSessionService"],
            sessions_config={"SessionTimeout": new_timeout})),
        ("too short", "redfish_config", admin_args(served, category="Sessions",
                                                   command=["SetSessionService"],
                                                   sessions_config={"SessionTimeout": 5})),
        ("lockout", "redfish_command", admin_args(
            served, category="Accounts", command=["UpdateAccountServiceProperties"],
            account_properties={"AccountLockoutThreshold": new_threshold})),
    ])
    assert ok(r["timeout"])["changed"] is True
    assert r["timeout"]["msg"] == "Modified session service"
    assert ok(r["timeout again"])["changed"] is False
    assert r["too short"]["failed"] is True
    assert "HTTP Error 400" in r["too short"]["msg"]
    assert "SessionTimeout is not in the supported range" in r["too short"]["msg"]
    assert get_json(served.admin, SESSION_SERVICE)["SessionTimeout"] == new_timeout
    assert ok(r["lockout"])["changed"] is True
    account_service = get_json(served.admin, ACCOUNT_SERVICE)
    assert account_service["AccountLockoutThreshold"] == new_threshold
    assert served.admin.patch(SESSION_SERVICE, json={"SessionTimeout": timeout}).ok
    assert served.admin.patch(ACCOUNT_SERVICE,
                              json={"AccountLockoutThreshold": threshold}).ok


def test_a_wrong_password_or_token_fails_the_module_with_the_reason(served):
    wrong = dict(baseuri=served.baseuri, username="admin", password="not-the-password")
    r = playbook([
        ("info", "redfish_info", dict(wrong, category=["Systems"])),
        ("login", "redfish_command", dict(wrong, category="Sessions", command=["CreateSession"])),
        ("token", "redfish_info", dict(baseuri=served.baseuri, auth_token="no-such-token",
                                       category=["Systems"])),
    ])
    for name in r:
        assert r[name]["failed"] is True, r[name]
    assert r["info"]["msg"].startswith(
        "HTTP Error 401 on GET request to '%s/redfish/v1/Systems'" % served.base)
    assert r["login"]["msg"].startswith(
        "HTTP Error 401 on POST request to '%s%s'" % (served.base, SESSIONS))
    assert "authorization error 'Unauthorized'" in r["login"]["msg"]
    assert r["token"]["msg"].startswith("HTTP Error 401 on GET request")
    assert "There is no valid session established" in r["token"]["msg"]
