"""Authorization against DMTF's privilege registry (DSP0266 §13.4 "Privilege model",
Redfish_1.8.0_PrivilegeRegistry.json).

Part 1 checks the route table (`vscd --dump-routes`): every route's privileges are the
registry's alternatives for its entity and method. Part 2 sends concrete requests as each
predefined role (and without credentials) and checks 401 / 403 / success as the registry
predicts.
"""
import pytest

from conftest import ADMIN_PASSWORD, Client, Vscd, assert_error
from helpers_auth import (ACCOUNT_SERVICE, ACCOUNTS, MANAGER, ROLE_PRIVILEGES, ROLES,
                          SESSION_SERVICE, SESSIONS, account_uri_of, create_account,
                          dump_routes, get_json, login, privilege_registry, unique)

REGISTRY = privilege_registry()
ROUTES = dump_routes()

# vsc's own overrides, in the registry's own terms (docs/console-protocol.md, "Privileges"):
# a console's mode and broadcast input are decided per port by port_rights(), so their
# routes admit Login and the handler applies the port's rights. Everything else on these
# entities keeps the registry's privileges.
LOCAL_PROPERTY_OVERRIDES = {
    "SerialInterface": [{"Targets": ["Oem/Vsc/Mode"],
                         "OperationMap": {"PATCH": [{"Privilege": ["Login"]}]}}],
}
LOCAL_URI_OVERRIDES = {
    ("/redfish/v1/Managers/{id}/Actions/Oem/Vsc.SendInput", "POST"): [frozenset({"Login"})],
    # The audit trail names every user, address and console they touched: Administrators
    # only (docs/SECURITY.md), stricter than the registry's Login for a LogService.
    ("/redfish/v1/Managers/{id}/LogServices/Audit", "GET"): [frozenset({"ConfigureManager"})],
    ("/redfish/v1/Managers/{id}/LogServices/Audit/Entries", "GET"):
        [frozenset({"ConfigureManager"})],
    ("/redfish/v1/Managers/{id}/LogServices/Audit/Entries/{entry}", "GET"):
        [frozenset({"ConfigureManager"})],
    # The registry's SubordinateOverrides for a LogService under a ComputerSystem.
    ("/redfish/v1/Systems/{id}/LogServices/Console/Actions/LogService.ClearLog", "POST"):
        [frozenset({"ConfigureComponents"})],
}
for _entity, _ovs in LOCAL_PROPERTY_OVERRIDES.items():
    REGISTRY[_entity] = dict(REGISTRY[_entity],
                             PropertyOverrides=REGISTRY[_entity].get("PropertyOverrides", []) + _ovs)

# DSP0266 §13.3.4: login is a POST to the SessionCollection without credentials, although
# the registry lists Login for it. The one documented exception.
NO_AUTH_EXCEPTIONS = {("/redfish/v1/SessionService/Sessions", "POST")}
# Unauthenticated documents with no Redfish entity: DSP0266 §13.3.1 (/redfish,
# /redfish/v1/odata, $metadata), the OEM CSDL that $metadata references, and the web
# dashboard's page and assets (docs/dashboard.md; its API calls need a session).
ENTITYLESS_PUBLIC = {"/redfish", "/redfish/v1/odata", "/redfish/v1/$metadata",
                     "/redfish/v1/schemas/Vsc_v1.xml", "/", "/ui/{file}"}
# A public route with a path parameter is requested with a name it serves.
PUBLIC_EXAMPLES = {"/ui/{file}": "/ui/app.js"}


def route_id(r):
    return "%s %s" % (r["method"], r["path"])


def alternatives(entity, method, targets=()):
    """The registry's alternatives (list of privilege sets) for entity/method; with
    targets, the PropertyOverrides map that covers all of them, if any."""
    mapping = REGISTRY[entity]
    opmap = mapping["OperationMap"]
    if targets:
        for ov in mapping.get("PropertyOverrides", []):
            if set(targets) <= set(ov["Targets"]) and method in ov["OperationMap"]:
                opmap = ov["OperationMap"]
    return [frozenset(a["Privilege"]) for a in opmap[method]]


def alternatives_of_override(override, method):
    return [frozenset(a["Privilege"]) for a in override["OperationMap"][method]]


# ---- part 1: the route table ------------------------------------------------------------


def test_route_table_is_not_empty():
    """--dump-routes lists the service's routes with their privileges."""
    paths = {r["path"] for r in ROUTES}
    assert {"/redfish/v1", SESSIONS, ACCOUNTS, ACCOUNTS + "/{id}"} <= paths
    for r in ROUTES:
        assert set(r) >= {"path", "method", "privileges", "no_auth", "entity"}, r


@pytest.mark.parametrize("route", ROUTES, ids=route_id)
def test_route_privileges_match_registry(route):
    """Each route's privileges are exactly the registry's alternatives for its entity and
    method (a route lists alternatives: any one privilege suffices); unauthenticated
    routes are those the registry marks NoAuth, plus the documented login exception."""
    key = (route["path"], route["method"])
    if route["entity"] is None:
        assert route["path"] in ENTITYLESS_PUBLIC, "a route without entity: %s" % (key,)
        assert route["no_auth"] and route["method"] == "GET", route
        return
    assert route["entity"] in REGISTRY, "entity %s not in the privilege registry" % route["entity"]
    alts = LOCAL_URI_OVERRIDES.get(key) or alternatives(route["entity"], route["method"])
    if route["no_auth"]:
        assert frozenset({"NoAuth"}) in alts or key in NO_AUTH_EXCEPTIONS, \
            "%s is unauthenticated but the registry requires %s" % (key, alts)
        assert route["privileges"] == [], route
        return
    assert route["privileges"], "authenticated route without privileges: %s" % (key,)
    assert key not in NO_AUTH_EXCEPTIONS
    mine = {frozenset({p}) for p in route["privileges"]}
    # With PropertyOverrides the route admits the union of the maps; the handler then
    # applies the override per property (checked per role below).
    accepted = [set(alts)] + [set(alts) | set(alternatives_of_override(ov, route["method"]))
                              for ov in REGISTRY[route["entity"]].get("PropertyOverrides", [])
                              if route["method"] in ov["OperationMap"]]
    assert mine in accepted, "%s: route %s, registry %s" % (
        key, sorted(route["privileges"]), [sorted(a) for a in alts])


def test_login_exception_is_the_only_one():
    """Only POST to the SessionCollection departs from the registry (DSP0266 §13.3.4)."""
    departing = []
    for r in ROUTES:
        if r["entity"] and r["no_auth"]:
            if frozenset({"NoAuth"}) not in alternatives(r["entity"], r["method"]):
                departing.append((r["path"], r["method"]))
    assert set(departing) == NO_AUTH_EXCEPTIONS


# ---- part 2: requests per role ------------------------------------------------------------


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A vscd with one account per predefined role (and room for many sessions)."""
    d = Vscd(str(tmp_path_factory.mktemp("priv") / "state"),
             extra_args=["--set", "max_sessions=1000"]).start()
    admin = Client(d.base, auth=("admin", ADMIN_PASSWORD))
    users = {"Administrator": ("admin", ADMIN_PASSWORD)}
    for role in ("Operator", "ReadOnly"):
        name = unique(role.lower())
        _, pw = create_account(admin, name, role)
        users[role] = (name, pw)
    e = type("Env", (), {})()
    e.vscd, e.base, e.admin, e.users = d, d.base, admin, users
    e.uris = {role: account_uri_of(admin, name) for role, (name, _) in users.items()}
    yield e
    d.stop()


def test_roles_have_dsp0266_privileges(env):
    """DSP0266 §13.4 "Roles": the predefined roles carry exactly these privileges."""
    for role, privs in ROLE_PRIVILEGES.items():
        body = get_json(env.admin, ROLES + "/" + role)
        assert body["IsPredefined"] is True
        assert set(body["AssignedPrivileges"]) == privs, role


def victim(env):
    """A fresh ReadOnly account nobody else uses: (uri, name, password)."""
    name = unique("victim")
    uri, pw = create_account(env.admin, name, "ReadOnly")
    return uri, name, pw


def own_session(env, role):
    name, pw = env.users[role]
    return login(env.base, name, pw)[1]


def admin_session(env):
    return login(env.base, "admin", ADMIN_PASSWORD)[1]


# Each case: (name, entity, method, own, body properties, prepare(env, role) -> (path, body)).
# `own` says whether the target is the caller's own account/session (ConfigureSelf applies).
def case(name, entity, method, prepare, own=None, props=()):
    return pytest.param(entity, method, prepare, own, props, id=name)


def fixed(path, body=None):
    return lambda env, role: (path, body)


CASES = [
    case("GET ServiceRoot", "ServiceRoot", "GET", fixed("/redfish/v1")),
    case("GET Systems", "ComputerSystemCollection", "GET", fixed("/redfish/v1/Systems")),
    case("GET Managers", "ManagerCollection", "GET", fixed("/redfish/v1/Managers")),
    case("GET Manager", "Manager", "GET", fixed(MANAGER)),
    case("GET SerialInterfaces", "SerialInterfaceCollection", "GET",
         fixed(MANAGER + "/SerialInterfaces")),
    case("GET SessionService", "SessionService", "GET", fixed(SESSION_SERVICE)),
    case("PATCH SessionService", "SessionService", "PATCH",
         fixed(SESSION_SERVICE, {"SessionTimeout": 1800})),
    case("GET Sessions", "SessionCollection", "GET", fixed(SESSIONS)),
    case("POST Sessions", "SessionCollection", "POST",
         lambda env, role: (SESSIONS, {"UserName": env.users[role or "ReadOnly"][0],
                                       "Password": env.users[role or "ReadOnly"][1]})),
    case("GET own Session", "Session", "GET",
         lambda env, role: (own_session(env, role or "ReadOnly"), None), own=True),
    case("GET other Session", "Session", "GET",
         lambda env, role: (own_session(env, "Operator" if role != "Operator" else "ReadOnly"),
                            None), own=False),
    case("DELETE own Session", "Session", "DELETE",
         lambda env, role: (own_session(env, role or "ReadOnly"), None), own=True),
    case("DELETE other Session", "Session", "DELETE",
         lambda env, role: (own_session(env, "Operator" if role != "Operator" else "ReadOnly"),
                            None), own=False),
    case("GET AccountService", "AccountService", "GET", fixed(ACCOUNT_SERVICE)),
    case("PATCH AccountService", "AccountService", "PATCH",
         fixed(ACCOUNT_SERVICE, {"MinPasswordLength": 8})),
    case("GET Accounts", "ManagerAccountCollection", "GET", fixed(ACCOUNTS)),
    case("POST Accounts", "ManagerAccountCollection", "POST",
         lambda env, role: (ACCOUNTS, {"UserName": unique("new"), "Password": "good-password",
                                       "RoleId": "ReadOnly"})),
    case("GET own Account", "ManagerAccount", "GET",
         lambda env, role: (env.uris[role or "ReadOnly"], None), own=True),
    case("GET other Account", "ManagerAccount", "GET",
         lambda env, role: (victim(env)[0], None), own=False),
    case("PATCH own Password", "ManagerAccount", "PATCH",
         lambda env, role: (env.uris[role or "ReadOnly"],
                            {"Password": env.users[role or "ReadOnly"][1]}),
         own=True, props=("Password",)),
    case("PATCH other Password", "ManagerAccount", "PATCH",
         lambda env, role: (victim(env)[0], {"Password": "other-password-1"}),
         own=False, props=("Password",)),
    case("PATCH own RoleId", "ManagerAccount", "PATCH",
         lambda env, role: (env.uris[role or "ReadOnly"], {"RoleId": role or "ReadOnly"}),
         own=True, props=("RoleId",)),
    case("PATCH other Enabled", "ManagerAccount", "PATCH",
         lambda env, role: (victim(env)[0], {"Enabled": True}), own=False, props=("Enabled",)),
    case("DELETE other Account", "ManagerAccount", "DELETE",
         lambda env, role: (victim(env)[0], None), own=False),
    case("GET Roles", "RoleCollection", "GET", fixed(ROLES)),
    case("GET Role", "Role", "GET", fixed(ROLES + "/ReadOnly")),
    case("GET EventService", "EventService", "GET", fixed("/redfish/v1/EventService")),
    case("GET Registries", "MessageRegistryFileCollection", "GET", fixed("/redfish/v1/Registries")),
    case("GET Registry", "MessageRegistryFile", "GET", fixed("/redfish/v1/Registries/Base")),
    case("GET JsonSchemas", "JsonSchemaFileCollection", "GET", fixed("/redfish/v1/JsonSchemas")),
    case("GET JsonSchema", "JsonSchemaFile", "GET", fixed("/redfish/v1/JsonSchemas/Vsc")),
]

SUCCESS = {"GET": 200, "PATCH": 200, "POST": 201, "DELETE": 204}


def registry_allows(role, entity, method, own, props):
    """Whether the registry grants this request to this role. ConfigureSelf counts only
    for the caller's own account or session (DSP0266 §13.4 privilege definitions)."""
    if role is None:
        privs = {"NoAuth"}
    else:
        privs = set(ROLE_PRIVILEGES[role])
        if not own:
            privs.discard("ConfigureSelf")
    return any(alt <= privs or "NoAuth" in alt for alt in alternatives(entity, method, props))


@pytest.mark.parametrize("role", ["Administrator", "Operator", "ReadOnly", None],
                         ids=["Administrator", "Operator", "ReadOnly", "anonymous"])
@pytest.mark.parametrize("entity,method,prepare,own,props", CASES)
def test_request_as_role(env, role, entity, method, prepare, own, props):
    """Without credentials 401 NoValidSession (unless the registry says NoAuth or it is
    the login exception); with a role, success if the registry grants one alternative,
    else 403 InsufficientPrivilege."""
    path, body = prepare(env, role)
    before = env.admin.get(path).json() if method != "POST" and path != SESSIONS else None
    client = Client(env.base, auth=env.users[role]) if role else Client(env.base)
    r = client.request(method, path, json=body)
    if role is None:
        public = registry_allows(None, entity, method, own, props) or \
            (path, method) in NO_AUTH_EXCEPTIONS
        if public:
            assert r.status_code == SUCCESS[method], (r.status_code, r.text[:500])
        else:
            assert_error(r, 401, "NoValidSession")
    elif registry_allows(role, entity, method, own, props):
        assert r.status_code == SUCCESS[method], (r.status_code, r.text[:500])
    else:
        assert_error(r, 403, "InsufficientPrivilege")
    if r.status_code in (401, 403) and before is not None:
        after = env.admin.get(path)
        assert after.status_code == 200, "a refused %s removed %s" % (method, path)
        strip = ("@odata.etag", "DateTime")
        assert {k: v for k, v in after.json().items() if k not in strip} == \
            {k: v for k, v in before.items() if k not in strip}, "a refused request changed it"


@pytest.mark.parametrize("route", [r for r in ROUTES if not r["no_auth"]], ids=route_id)
def test_every_protected_route_needs_credentials(env, route):
    """DSP0266 §13.3.1: every route that is not public answers 401 without credentials,
    whatever the path parameters (authentication comes before lookup)."""
    path = route["path"].replace("{id}", "x1").replace("{file}", "x2")
    body = {} if route["method"] in ("POST", "PATCH") else None
    r = Client(env.base).request(route["method"], path, json=body)
    assert_error(r, 401, "NoValidSession")


@pytest.mark.parametrize("route", [r for r in ROUTES if r["no_auth"] and r["method"] == "GET"],
                         ids=route_id)
def test_public_routes_need_no_credentials(env, route):
    """The unauthenticated GET routes answer without credentials."""
    r = Client(env.base).get(PUBLIC_EXAMPLES.get(route["path"], route["path"]))
    assert r.status_code == 200, (route, r.status_code)
