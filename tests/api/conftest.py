"""Fixtures for the API tests: a real vscd on a free loopback port with its own state dir.

Every JSON body a test receives through `Client` is validated against DMTF's schemas in
../shared/redfish/json-schema (and the project's OEM schemas in schemas/redfish/), so a
non-conformant payload fails whatever test happened to fetch it.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest
import requests
import urllib3

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SHARED = os.environ.get("VSC_SHARED", os.path.abspath(os.path.join(ROOT, "..", "shared")))
REDFISH = os.path.join(SHARED, "redfish")
OEM_SCHEMAS = os.path.join(ROOT, "schemas", "redfish")
VSCD = os.environ.get("VSCD", os.path.join(ROOT, "build", "san", "vscd"))
# A command vscd runs under (`make valgrind`: valgrind's memcheck with error markers).
VSCD_PREFIX = os.environ.get("VSCD_PREFIX", "").split()
ADMIN_PASSWORD = "admin-password-1"

# This machine sets these; they would override verify=False for the self-signed cert.
for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
    os.environ.pop(var, None)
urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

sys.path.insert(0, REDFISH)
from validate import Validator  # noqa: E402  (DMTF schemas, offline)

_validator = Validator([OEM_SCHEMAS])


def _load_schema(name):
    return _validator.load(name)


def schema_errors(payload):
    """Errors of a payload against its @odata.type, plus every nested OEM object's."""
    errs = []
    if isinstance(payload, dict) and "error" in payload and "@odata.type" not in payload:
        return error_body_errors(payload)
    if isinstance(payload, dict) and str(payload.get("@odata.type", "")).startswith("#"):
        errs += _validator.errors(payload)
    for oem in _oem_objects(payload):
        errs += ["Oem: " + e for e in _validator.errors(oem)]
    return errs


def _oem_objects(obj):
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == "Oem" and isinstance(value, dict):
                for sub in value.values():
                    if isinstance(sub, dict) and "@odata.type" in sub:
                        yield sub
            yield from _oem_objects(value)
    elif isinstance(obj, list):
        for item in obj:
            yield from _oem_objects(item)


def error_body_errors(payload):
    """Validate a Redfish error body against redfish-error.v1_0_2 and each Message."""
    import jsonschema
    schema = _load_schema("redfish-error.v1_0_2.json")
    resolver = jsonschema.RefResolver(base_uri=schema["$id"], referrer=schema,
                                      handlers={"http": _load_schema, "https": _load_schema})
    v = jsonschema.Draft7Validator(dict(schema, **{"$ref": "#/definitions/RedfishError"}),
                                   resolver=resolver)
    errs = ["error body: %s" % e.message for e in v.iter_errors(payload)]
    for msg in payload.get("error", {}).get("@Message.ExtendedInfo", []):
        errs += ["ExtendedInfo: " + e for e in _validator.errors(msg)]
    return errs


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Vscd:
    """One vscd process. start()/stop()/restart() keep the same state dir and port."""

    def __init__(self, state_dir, extra_args=(), env=None, http=False):
        self.state_dir = state_dir
        self.port = free_port()
        self.extra_args = list(extra_args)
        self.http = http
        self.env = dict(os.environ, VSC_ADMIN_PASSWORD=ADMIN_PASSWORD, **(env or {}))
        self.proc = None
        self.log_path = os.path.join(state_dir, "vscd.log")
        scheme = "http" if http else "https"
        self.base = "%s://127.0.0.1:%d" % (scheme, self.port)

    def argv(self):
        args = VSCD_PREFIX + [VSCD, "--state-dir", self.state_dir,
                              "--listen", "127.0.0.1:%d" % self.port]
        if self.http:
            args.append("--insecure-http")
        return args + self.extra_args

    def start(self, timeout=60 if VSCD_PREFIX else 15):
        os.makedirs(self.state_dir, exist_ok=True)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=self.log, stderr=self.log, env=self.env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("vscd exited with %s:\n%s" % (self.proc.returncode, self.read_log()))
            try:
                requests.get(self.base + "/redfish/v1", verify=False, timeout=1)
                return self
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("vscd did not start:\n" + self.read_log())

    def stop(self, sig=signal.SIGTERM, timeout=60 if VSCD_PREFIX else 10):
        """Stops vscd; returns its exit code. Sanitizer and valgrind reports fail the run."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        self.log.close()
        log = self.read_log()
        if "ERROR: AddressSanitizer" in log or "runtime error:" in log or "LeakSanitizer" in log:
            raise AssertionError("sanitizer report in vscd log:\n" + log[-4000:])
        if "VALGRIND-ERROR-BEGIN" in log:
            at = log.index("VALGRIND-ERROR-BEGIN")
            raise AssertionError("valgrind report in vscd log:\n" + log[at:at + 4000])
        return rc

    def restart(self):
        self.stop()
        return self.start()

    def read_log(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class Client:
    """requests wrapper: validates every JSON response body against the schemas."""

    def __init__(self, base, auth=None, token=None, validate=True):
        self.base = base
        self.s = requests.Session()
        self.s.verify = False
        if auth:
            self.s.auth = auth
        if token:
            self.s.headers["X-Auth-Token"] = token
        self.validate = validate

    def request(self, method, path, validate=None, **kw):
        kw.setdefault("timeout", 15)
        r = self.s.request(method, self.base + path, **kw)
        if (self.validate if validate is None else validate):
            check_response(r)
        return r

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def head(self, path, **kw):
        return self.request("HEAD", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def login(self, user, password):
        """Opens a Redfish session; returns (token, session URI)."""
        r = self.post("/redfish/v1/SessionService/Sessions",
                      json={"UserName": user, "Password": password})
        assert r.status_code == 201, r.text
        return r.headers["X-Auth-Token"], r.headers["Location"]


def check_response(r):
    """Protocol checks every response must pass (DSP0266 §8), and schema validation."""
    assert r.headers.get("OData-Version") == "4.0", (r.request.method, r.url, r.headers)
    ctype = r.headers.get("Content-Type", "")
    if r.request.method != "HEAD" and ctype.startswith("application/json") and r.content:
        body = r.json()
        errs = schema_errors(body)
        assert not errs, "%s %s -> %d: schema errors %s\n%s" % (
            r.request.method, r.url, r.status_code, errs[:5], json.dumps(body)[:2000])
    if r.status_code >= 400 and r.request.method != "HEAD":
        body = r.json()
        assert "error" in body and body["error"]["@Message.ExtendedInfo"], body


def assert_error(r, status, message_id):
    """The response is a Redfish error with this status naming this Base message."""
    assert r.status_code == status, (r.status_code, r.text)
    ids = [m["MessageId"] for m in r.json()["error"]["@Message.ExtendedInfo"]]
    want = message_id if "." in message_id else "Base.1.22." + message_id
    assert want in ids, (want, ids)


@pytest.fixture
def vscd(tmp_path):
    """A fresh vscd (HTTPS) for one test."""
    d = Vscd(str(tmp_path / "state")).start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def shared_vscd(tmp_path_factory):
    """One vscd for a module's read-only tests."""
    d = Vscd(str(tmp_path_factory.mktemp("shared") / "state")).start()
    yield d
    d.stop()


@pytest.fixture
def admin(vscd):
    return Client(vscd.base, auth=("admin", ADMIN_PASSWORD))


@pytest.fixture(scope="module")
def shared_admin(shared_vscd):
    return Client(shared_vscd.base, auth=("admin", ADMIN_PASSWORD))


def make_user(admin_client, name, role, password="password-%s"):
    """Creates an account; returns a Client authenticated as it (Basic)."""
    pw = password % name if "%s" in password else password
    r = admin_client.post("/redfish/v1/AccountService/Accounts",
                          json={"UserName": name, "Password": pw, "RoleId": role})
    assert r.status_code == 201, r.text
    c = Client(admin_client.base, auth=(name, pw))
    c.account_uri = r.headers["Location"]
    c.password = pw
    return c
