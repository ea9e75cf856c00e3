"""The web dashboard (docs/dashboard.md): `/` and `/ui/<file>` served from the binary, public,
with a strict Content-Security-Policy; and the end-to-end browser test (tests/web/e2e.mjs,
Debian's Chromium driven by playwright-core) against a real vscd with fake VMs."""
import os
import re
import subprocess
import time

import pytest
import requests

from conftest import ADMIN_PASSWORD, ROOT, Client, Vscd
from helpers_auth import create_account, unique

ASSETS = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
ARTIFACTS = os.environ.get("VSC_ARTIFACTS", os.path.join(ROOT, "build", "artifacts", "e2e"))
E2E = os.path.join(ROOT, "tests", "web", "e2e.mjs")
E2E_TIMEOUT = 240


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    d = Vscd(str(tmp_path_factory.mktemp("web") / "state")).start()
    yield d
    d.stop()


def get(d, path, method="GET", **kw):
    return requests.request(method, d.base + path, verify=False, timeout=10, **kw)


def csp(r):
    """The Content-Security-Policy as {directive: [values]}."""
    out = {}
    for part in r.headers.get("Content-Security-Policy", "").split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def check_common_headers(r):
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    policy = csp(r)
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"], "no inline or foreign scripts"
    assert policy["connect-src"] == ["'self'"], "the API, SSE and WebSockets are same-origin"
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    # xterm.js sets its theme with a <style> element: styles may be inline, scripts never.
    assert set(policy["style-src"]) == {"'self'", "'unsafe-inline'"}
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")


def test_index_is_public_html(web):
    r = get(web, "/")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.headers["Cache-Control"] == "no-cache"
    check_common_headers(r)
    assert "<!doctype html>" in r.text.lower()
    # No inline script or handler: everything comes from /ui/ (the CSP would block it anyway).
    assert not re.search(r"<script(?![^>]*\bsrc=)", r.text), "inline <script>"
    assert not re.search(r"\son[a-z]+=", r.text), "inline event handler"
    # The assets are referenced with a content hash, so they may be cached.
    refs = re.findall(r'(?:src|href)="(/ui/[^"]+)"', r.text)
    assert sorted(ref.split("?")[0] for ref in refs) == ["/ui/app.css", "/ui/app.js"]
    assert all(re.search(r"\?v=[0-9a-f]{12}$", ref) for ref in refs), refs


@pytest.mark.parametrize("name", sorted(ASSETS))
def test_assets_are_public_with_their_types(web, name):
    r = get(web, "/ui/" + name)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == ASSETS[name]
    assert r.headers["Cache-Control"] == "public, max-age=86400"
    check_common_headers(r)
    assert int(r.headers["Content-Length"]) == len(r.content) > 1000
    with open(os.path.join(ROOT, "build", "web", name), "rb") as f:
        assert r.content == f.read(), "served from the binary as built"
    # The versioned URL the page uses serves the same bytes.
    index = get(web, "/").text
    versioned = re.search(r'"(/ui/%s\?v=[0-9a-f]+)"' % re.escape(name), index).group(1)
    assert get(web, versioned).content == r.content


def test_bundle_carries_xterm_and_no_cdn(web):
    js = get(web, "/ui/app.js").text
    css = get(web, "/ui/app.css").text
    assert "xterm" in js and ".xterm" in css
    assert not re.search(r"https?://(cdn|unpkg|jsdelivr)", js + css)


@pytest.mark.parametrize("path", ["/", "/ui/app.js", "/ui/app.css"])
def test_head_matches_get(web, path):
    g, h = get(web, path), get(web, path, method="HEAD")
    assert h.status_code == 200 and h.content == b""
    for name in ("Content-Type", "Content-Length", "Cache-Control", "Content-Security-Policy"):
        assert h.headers[name] == g.headers[name], name


@pytest.mark.parametrize("path", ["/ui/nope.js", "/ui/index.html", "/ui/.app.js",
                                  "/ui/app.js.map"])
def test_unknown_assets_are_404_without_credentials(web, path):
    r = get(web, path)
    assert r.status_code == 404
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json()["error"]["@Message.ExtendedInfo"][0]["MessageId"].endswith("ResourceNotFound")
    assert r.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_only_get_and_head(web, method):
    """Like every route: other methods need credentials first (401), then answer 405."""
    for path in ("/", "/ui/app.js"):
        assert get(web, path, method=method, json={}).status_code == 401
        r = get(web, path, method=method, json={}, auth=("admin", ADMIN_PASSWORD))
        assert r.status_code == 405, (method, path)
        assert r.headers["Allow"] == "GET, HEAD"


def test_credentials_are_ignored_and_redfish_unchanged(web):
    """A wrong token does not turn the public page into a 401; /redfish keeps its rules."""
    r = get(web, "/", headers={"X-Auth-Token": "not-a-token"})
    assert r.status_code == 200
    assert get(web, "/redfish/v1/Systems").status_code == 401
    r = get(web, "/redfish/v1")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    assert "Content-Security-Policy" not in r.headers
    assert get(web, "/index.html").status_code == 401, "only / and /ui/ are public"


def test_insecure_http_serves_the_page(tmp_path):
    d = Vscd(str(tmp_path / "state"), http=True).start()
    try:
        r = get(d, "/")
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
        assert "Strict-Transport-Security" not in r.headers
        assert get(d, "/ui/app.js").status_code == 200
    finally:
        d.stop()


def test_e2e_browser(tmp_path):
    """The whole dashboard in Chromium: login, live tiles, typing with echo, private mode seen
    by another user, a panic turning a tile red, VMs appearing and going, filters, broadcast,
    phone width, logout (tests/web/e2e.mjs). Screenshots land in build/artifacts/e2e/."""
    d = Vscd(str(tmp_path / "state")).start()
    try:
        admin = Client(d.base, auth=("admin", ADMIN_PASSWORD))
        name = unique("oper")
        _, pw = create_account(admin, name, "Operator")
        env = dict(os.environ, VSC_BASE=d.base, VSC_ADMIN_PW=ADMIN_PASSWORD, VSC_USER2=name,
                   VSC_USER2_PW=pw, VSC_ARTIFACTS=ARTIFACTS, NODE_TLS_REJECT_UNAUTHORIZED="0",
                   NODE_NO_WARNINGS="1")
        start = time.monotonic()
        p = subprocess.run(["node", E2E], env=env, capture_output=True, text=True,
                           timeout=E2E_TIMEOUT, cwd=ROOT)
        took = time.monotonic() - start
        print(p.stdout, p.stderr, "e2e took %.1f s" % took)
        assert p.returncode == 0, "e2e failed (screenshots in %s):\n%s\n%s" % (
            ARTIFACTS, p.stdout, p.stderr)
        for shot in ("01-grid", "02-large", "03-private-seen-by-operator", "04-panic",
                     "05-refused-without-force", "06-gamma-in-alpha-gone", "07-broadcast",
                     "08-phone", "09-logged-out"):
            assert os.path.getsize(os.path.join(ARTIFACTS, shot + ".png")) > 1000, shot
    finally:
        d.stop()
