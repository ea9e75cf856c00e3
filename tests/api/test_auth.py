"""Authentication (DSP0266 §13.3): HTTP Basic and session tokens over HTTPS, and plain HTTP
where only session login is allowed because Basic would send the password every time."""
import base64
import os
import signal
import subprocess

import pytest
import requests

from conftest import ADMIN_PASSWORD, VSCD, Client, Vscd, assert_error, free_port
from helpers_auth import SESSION_SERVICE, SESSIONS, login, post_login

PUBLIC = ["/redfish", "/redfish/v1", "/redfish/v1/odata", "/redfish/v1/$metadata"]


@pytest.fixture(scope="module")
def http_vscd(tmp_path_factory):
    """One vscd on plain HTTP (--insecure-http, loopback)."""
    d = Vscd(str(tmp_path_factory.mktemp("http") / "state"), http=True).start()
    yield d
    d.stop()


# ---- HTTPS ---------------------------------------------------------------------------------


def test_basic_auth_over_https(shared_vscd):
    """DSP0266 §13.3.2: HTTP Basic authentication is accepted over HTTPS."""
    assert shared_vscd.base.startswith("https://")
    c = Client(shared_vscd.base, auth=("admin", ADMIN_PASSWORD))
    r = c.get(SESSION_SERVICE)
    assert r.status_code == 200, r.text
    assert r.headers.get("Strict-Transport-Security")


def test_basic_auth_wrong_password_is_401(shared_vscd):
    """A wrong Basic password is 401 NoValidSession with a WWW-Authenticate challenge
    (RFC 7235 §3.1)."""
    r = Client(shared_vscd.base, auth=("admin", "wrong-password")).get(SESSION_SERVICE)
    assert_error(r, 401, "NoValidSession")
    assert r.headers.get("WWW-Authenticate", "").startswith("Basic")


def test_no_credentials_is_401(shared_vscd):
    """DSP0266 §13.3.1: every resource but the public entry points requires
    authentication: 401 NoValidSession without credentials."""
    r = Client(shared_vscd.base).get(SESSION_SERVICE)
    assert_error(r, 401, "NoValidSession")
    assert r.headers.get("WWW-Authenticate", "").startswith("Basic")


@pytest.mark.parametrize("path", PUBLIC)
def test_public_entry_points_need_no_credentials(shared_vscd, path):
    """DSP0266 §13.3.1: /redfish, the service root, /redfish/v1/odata and $metadata are
    served without authentication."""
    r = Client(shared_vscd.base).get(path)
    assert r.status_code == 200, (path, r.status_code, r.text[:300])


@pytest.mark.parametrize("header", [
    "Bearer abc",
    "Basic !!!not-base64!!!",
    "Basic " + base64.b64encode(b"admin-without-colon").decode(),
    "Basic " + base64.b64encode(b"admin:" + b"x" * 600).decode(),
    "Basic " + base64.b64encode(b"admin:wrong").decode(),
    "Basic",
])
def test_malformed_authorization_is_401(shared_vscd, header):
    """A malformed or unsupported Authorization header is 401, never a success or a 5xx."""
    r = Client(shared_vscd.base).get(SESSION_SERVICE, headers={"Authorization": header})
    assert_error(r, 401, "NoValidSession")


def test_session_token_over_https(shared_vscd):
    """DSP0266 §13.3.4: a session token authenticates over HTTPS without Basic."""
    c, _, _ = login(shared_vscd.base, "admin", ADMIN_PASSWORD)
    assert c.s.auth is None
    assert c.get(SESSION_SERVICE).status_code == 200


def test_invalid_token_does_not_fall_back_to_basic(shared_vscd):
    """An X-Auth-Token that is not valid is refused even if Basic credentials come along:
    a dead session must not silently continue as another authentication."""
    c = Client(shared_vscd.base, auth=("admin", ADMIN_PASSWORD), token="stale-token")
    assert_error(c.get(SESSION_SERVICE), 401, "NoValidSession")


# ---- plain HTTP ----------------------------------------------------------------------------


def test_basic_refused_over_http(http_vscd):
    """Basic over plain HTTP would expose the password on every request: refused (401)."""
    assert http_vscd.base.startswith("http://")
    r = Client(http_vscd.base, auth=("admin", ADMIN_PASSWORD)).get(SESSION_SERVICE)
    assert_error(r, 401, "NoValidSession")
    assert "Strict-Transport-Security" not in r.headers


def test_session_login_over_http(http_vscd):
    """Over plain HTTP (loopback) session login works and its token authenticates; logout
    ends it."""
    r = post_login(http_vscd.base, "admin", ADMIN_PASSWORD)
    assert r.status_code == 201, r.text
    c = Client(http_vscd.base, token=r.headers["X-Auth-Token"])
    assert c.get(SESSION_SERVICE).status_code == 200
    assert c.get("/redfish/v1/Managers/bmc").status_code == 200
    assert c.delete(r.headers["Location"]).status_code == 204
    assert_error(c.get(SESSION_SERVICE), 401, "NoValidSession")


def test_http_wrong_password_login_is_401(http_vscd):
    """Session login over plain HTTP with a wrong password is 401 with no token."""
    r = post_login(http_vscd.base, "admin", "wrong-password")
    assert r.status_code == 401, r.text
    assert "X-Auth-Token" not in r.headers


def test_http_public_entry_points(http_vscd):
    """The unauthenticated entry points are served over plain HTTP too."""
    for path in PUBLIC:
        assert Client(http_vscd.base).get(path).status_code == 200, path


def test_insecure_http_refused_off_loopback(tmp_path):
    """--insecure-http is allowed on loopback addresses only: on 0.0.0.0 vscd refuses to
    start (non-zero exit) instead of serving passwords in clear text."""
    state = str(tmp_path / "state")
    os.makedirs(state)
    env = dict(os.environ, VSC_ADMIN_PASSWORD=ADMIN_PASSWORD)
    argv = [VSCD, "--state-dir", state, "--listen", "0.0.0.0:%d" % free_port(),
            "--insecure-http"]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        out, _ = p.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=10)
        pytest.fail("vscd kept running with --insecure-http on 0.0.0.0:\n%s" % out.decode())
    assert p.returncode != 0, out.decode()
    assert b"loopback" in out


def test_http_is_not_https(http_vscd):
    """--insecure-http really serves plain HTTP (a TLS client cannot connect)."""
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(http_vscd.base.replace("http://", "https://") + "/redfish/v1",
                     verify=False, timeout=5)
    assert Client(http_vscd.base).post(SESSIONS, json={}).status_code == 400
