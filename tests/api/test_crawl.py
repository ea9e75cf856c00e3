"""Crawl the whole service as admin and check every resource against DSP0266's per-resource
rules: it resolves, is schema-valid (Client does that), names itself, carries a matching ETag,
a describedby Link and an Allow header, answers HEAD like GET, and its types are in $metadata.

The crawl runs once per module on its own daemon, after opening a session and adding an
account so that Session and ManagerAccount members exist to be crawled.
"""
import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import ADMIN_PASSWORD, OEM_SCHEMAS, REDFISH, VSCD, Client, make_user, schema_errors
from helpers_ports import FakeUnixVM, allocate_ok, wait_for

MAX_RESOURCES = 500
EDMX = "{http://docs.oasis-open.org/odata/ns/edmx}"
# Headers that must be identical between GET and HEAD of the same resource.
HEAD_HEADERS = ("Content-Type", "Content-Length", "OData-Version", "Cache-Control", "Allow",
                "Link", "X-Content-Type-Options", "X-Frame-Options", "Strict-Transport-Security")
# Resources the crawl must reach, or its other checks would be vacuous.
MUST_REACH = [
    "/redfish/v1", "/redfish/v1/Systems", "/redfish/v1/Managers", "/redfish/v1/Managers/bmc",
    "/redfish/v1/Managers/bmc/SerialInterfaces", "/redfish/v1/SessionService",
    "/redfish/v1/SessionService/Sessions", "/redfish/v1/AccountService",
    "/redfish/v1/AccountService/Accounts", "/redfish/v1/AccountService/Roles",
    "/redfish/v1/EventService", "/redfish/v1/Registries", "/redfish/v1/Registries/Base",
    "/redfish/v1/JsonSchemas", "/redfish/v1/JsonSchemas/Vsc",
]


def links_in(obj):
    """Every "@odata.id" string anywhere in a JSON value."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "@odata.id" and isinstance(v, str):
                yield v
            else:
                yield from links_in(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from links_in(v)


def types_in(obj):
    """Every "@odata.type" string anywhere in a JSON value."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "@odata.type" and isinstance(v, str):
                yield v
            else:
                yield from types_in(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from types_in(v)


def namespace(odata_type):
    """'#Manager.v1_24_0.Manager' -> 'Manager.v1_24_0'."""
    return odata_type.lstrip("#").rsplit(".", 1)[0]


@pytest.fixture(scope="module")
def crawler(shared_vscd, shared_admin):
    """The module's admin client, after a session was opened, an account added and a VM
    allocated whose console showed a few states (so its console LogService has entries)."""
    _, shared_admin.session_uri = Client(shared_vscd.base).login("admin", ADMIN_PASSWORD)
    shared_admin.user_uri = make_user(shared_admin, "crawled", "Operator").account_uri
    a = allocate_ok(shared_admin, Backend="unix", HostName="crawled-vm")
    vm = FakeUnixVM.connect_retry(a["Ports"][0]["BindPath"])
    vm.send(b"Linux version 6.1.0\r\nKernel panic - not syncing: crawled\r\n")
    entries = a["System"]["@odata.id"] + "/LogServices/Console/Entries"
    wait_for(lambda: len(shared_admin.get(entries).json().get("Members", [])) == 2,
             what="two console state entries")
    vm.close()
    return shared_admin


@pytest.fixture(scope="module")
def crawl(crawler):
    """{path: GET response} for every resource reachable by @odata.id links from /redfish/v1,
    and {path: referring path}."""
    seen, referrer, queue = {}, {"/redfish/v1": None}, ["/redfish/v1"]
    while queue:
        path = queue.pop(0)
        assert len(seen) < MAX_RESOURCES, "crawl did not end after %d resources" % MAX_RESOURCES
        r = crawler.get(path)
        seen[path] = r
        if r.status_code != 200 or not r.headers.get("Content-Type", "").startswith(
                "application/json"):
            continue
        for link in links_in(r.json()):
            link = link.split("#", 1)[0]
            if link not in referrer:
                referrer[link] = path
                queue.append(link)
    return seen, referrer


def failures_of(crawl, check):
    """Runs check(path, response) over the crawl; returns the non-empty complaints."""
    out = []
    for path, r in crawl[0].items():
        problem = check(path, r)
        if problem:
            out.append("%s (linked from %s): %s" % (path, crawl[1].get(path), problem))
    return out


def test_crawl_reaches_every_kind_of_resource(crawl, crawler):
    """The crawl reaches every resource the service root leads to, including the session and
    the accounts (the other crawl checks are only as good as this)."""
    seen = crawl[0]
    missing = [p for p in MUST_REACH + [crawler.session_uri, crawler.user_uri,
                                        "/redfish/v1/AccountService/Accounts/1"]
               if p not in seen]
    assert not missing, missing
    assert len(seen) >= 20, sorted(seen)


def test_every_link_is_a_service_relative_path(crawl):
    """@odata.id values are URI paths within the service (/redfish/v1/...) (DSP0266: resource
    identifier)."""
    bad = [p for p in crawl[1] if not (p == "/redfish/v1" or p.startswith("/redfish/v1/"))]
    assert not bad, bad


def test_every_link_resolves(crawl):
    """Every @odata.id the service hands out resolves with 200 and a JSON body (DSP0266: resource
    identifier)."""
    def check(path, r):
        if r.status_code != 200:
            return "status %d: %s" % (r.status_code, r.text[:200])
        if not r.headers.get("Content-Type", "").startswith("application/json"):
            return "Content-Type " + r.headers.get("Content-Type", "")
    assert not failures_of(crawl, check)


def test_odata_id_is_the_requested_path(crawl):
    """A resource's @odata.id is the URI it was fetched from (DSP0266: resource identifier)."""
    def check(path, r):
        if r.status_code == 200 and r.json().get("@odata.id") != path:
            return "@odata.id is %r" % r.json().get("@odata.id")
    assert not failures_of(crawl, check)


def test_odata_type_on_every_resource(crawl):
    """Every resource names its type, #Namespace[.vX_Y_Z].Type (DSP0266: resource type)."""
    pattern = re.compile(r"^#([A-Za-z0-9]+)(\.v\d+_\d+_\d+)?\.([A-Za-z0-9]+)$")

    def check(path, r):
        if r.status_code == 200 and not pattern.match(str(r.json().get("@odata.type"))):
            return "@odata.type %r" % r.json().get("@odata.type")
    assert not failures_of(crawl, check)


def test_etag_header_matches_odata_etag(crawl):
    """Every resource carries @odata.etag, equal to its ETag header (DSP0266: ETags)."""
    def check(path, r):
        if r.status_code != 200:
            return None
        etag, body_etag = r.headers.get("ETag"), r.json().get("@odata.etag")
        if not etag or not re.match(r'^(W/)?"[^"]*"$', etag):
            return "ETag header %r" % etag
        if body_etag != etag:
            return "@odata.etag %r != ETag %r" % (body_etag, etag)
    assert not failures_of(crawl, check)


def test_link_header_describedby_schema(crawl):
    """Every resource has a Link header with rel=describedby naming the JSON schema of its
    @odata.type, a schema that exists (DSP0266: Link header)."""
    link_re = re.compile(r"<([^>]+)>\s*;\s*rel=\"?describedby\"?")

    def check(path, r):
        if r.status_code != 200:
            return None
        m = link_re.search(r.headers.get("Link", ""))
        if not m:
            return "Link header %r" % r.headers.get("Link")
        target = m.group(1)
        ns = namespace(r.json()["@odata.type"])
        if target.rsplit("/", 1)[-1] not in (ns + ".json", ns.split(".")[0] + ".json"):
            return "Link %s is not the schema of %s" % (target, ns)
        name = target.rsplit("/", 1)[-1]
        if not any(os.path.exists(os.path.join(d, name))
                   for d in (os.path.join(REDFISH, "json-schema"), OEM_SCHEMAS)):
            return "Link %s names no known schema" % target
    assert not failures_of(crawl, check)


def _route_methods():
    """[(compiled path regex, method)] from vscd --dump-routes."""
    out = subprocess.run([VSCD, "--dump-routes"], capture_output=True, timeout=15, check=True)
    routes = []
    for route in json.loads(out.stdout):
        rx = "^" + re.sub(r"\\\{[^/]*?\\\}", "[^/]+", re.escape(route["path"])) + "$"
        routes.append((re.compile(rx), route["method"]))
    return routes


def test_allow_header_lists_the_routes_methods(crawl):
    """GET responses carry an Allow header listing exactly the methods the resource supports
    (its routes, plus HEAD with GET) (DSP0266: Allow header)."""
    routes = _route_methods()

    def check(path, r):
        if r.status_code != 200:
            return None
        want = {m for rx, m in routes if rx.match(path)}
        if "GET" in want:
            want.add("HEAD")
        got = {m.strip() for m in r.headers.get("Allow", "").split(",") if m.strip()}
        if got != want:
            return "Allow %r, routes say %s" % (r.headers.get("Allow"), sorted(want))
    assert not failures_of(crawl, check)


def test_head_answers_like_get(crawl, crawler):
    """HEAD on each resource returns GET's status and headers, and no body (DSP0266: HEAD)."""
    def check(path, r):
        h = crawler.head(path)
        if h.status_code != r.status_code:
            return "HEAD %d, GET %d" % (h.status_code, r.status_code)
        if h.content:
            return "HEAD has a body of %d bytes" % len(h.content)
        diff = {k: (h.headers.get(k), r.headers.get(k)) for k in HEAD_HEADERS
                if h.headers.get(k) != r.headers.get(k)}
        # A resource can change between the two requests (Manager.DateTime ticks): the HEAD's
        # ETag must be the one of a GET just before or just after it.
        after = crawler.get(path)
        if h.headers.get("ETag") not in (r.headers.get("ETag"), after.headers.get("ETag")):
            diff["ETag"] = (h.headers.get("ETag"), r.headers.get("ETag"))
        if diff:
            return "HEAD vs GET headers differ: %s" % diff
    assert not failures_of(crawl, check)


def test_protocol_headers_on_every_resource(crawl):
    """Every resource response carries OData-Version 4.0 and Cache-Control (DSP0266: response
    headers)."""
    def check(path, r):
        if r.headers.get("OData-Version") != "4.0" or not r.headers.get("Cache-Control"):
            return "OData-Version %r, Cache-Control %r" % (r.headers.get("OData-Version"),
                                                          r.headers.get("Cache-Control"))
    assert not failures_of(crawl, check)


def test_collections_list_every_member(crawl):
    """An unpaged collection lists all its members: Members@odata.count equals the length of
    Members, every member is a link, and no nextLink is given (DSP0266: resource collections)."""
    def check(path, r):
        body = r.json() if r.status_code == 200 else {}
        if "Members" not in body:
            return None
        members = body["Members"]
        if body.get("Members@odata.count") != len(members):
            return "count %r, %d members" % (body.get("Members@odata.count"), len(members))
        if any(set(m) != {"@odata.id"} for m in members):
            return "members are not plain links: %s" % members
        if len({m["@odata.id"] for m in members}) != len(members):
            return "duplicate members"
        if "Members@odata.nextLink" in body:
            return "nextLink without $top"
    collections = [p for p, r in crawl[0].items() if r.status_code == 200 and
                   "Members" in r.json()]
    assert len(collections) >= 8, collections
    assert not failures_of(crawl, check)


def test_metadata_includes_every_odata_type(crawl, shared_vscd, crawler):
    """$metadata includes (edmx:Include Namespace) the namespace of every @odata.type the
    service returns anywhere -- resources, nested Oem objects and error messages -- and the
    unversioned namespace of each versioned one (DSP0266: service metadata)."""
    types = set()
    for r in crawl[0].values():
        if r.status_code == 200 and r.headers.get("Content-Type", "").startswith(
                "application/json"):
            types |= set(types_in(r.json()))
    error = crawler.get("/redfish/v1/NoSuchResource")
    assert error.status_code == 404
    types |= set(types_in(error.json()))
    namespaces = {namespace(t) for t in types}
    namespaces |= {ns.split(".")[0] for ns in namespaces}
    assert {"Vsc.v1_0_0", "Message.v1_3_0", "Manager.v1_24_0"} <= namespaces, namespaces

    r = Client(shared_vscd.base).get("/redfish/v1/$metadata")
    assert r.status_code == 200
    root = ET.fromstring(r.content)
    included = {inc.get("Namespace") for inc in root.iter(EDMX + "Include")}
    missing = namespaces - included
    assert not missing, sorted(missing)


def test_local_schema_locations_resolve(crawl, crawler):
    """The Location URIs a JsonSchemaFile or MessageRegistryFile gives on this service resolve
    (DSP0266: schema publication); remote PublicationUris are not fetched. A registry's document is a valid MessageRegistry."""
    uris = []
    for path, r in crawl[0].items():
        if r.status_code != 200:
            continue
        for loc in r.json().get("Location", []) or []:
            for key in ("Uri", "ArchiveUri"):
                if isinstance(loc.get(key), str) and loc[key].startswith("/"):
                    uris.append((path, loc[key]))
    assert uris, "no JsonSchemaFile with a local Location was crawled"
    for path, uri in uris:
        r = crawler.get(uri)
        assert r.status_code == 200, (path, uri, r.text[:200])
        doc = json.loads(r.content)
        if "MessageRegistryFile" in crawl[0][path].json()["@odata.type"]:
            assert doc["@odata.type"].startswith("#MessageRegistry.") and doc["Messages"], uri
            assert not schema_errors(doc), uri
        else:
            assert "$schema" in doc or "definitions" in doc, (uri, list(doc)[:5])
