"""The Redfish protocol layer (DSP0266): entry points, $metadata, protocol
headers, conditional requests, query parameters, request bodies and routing errors.

Read-only tests share one daemon per module (`shared_vscd`); tests that change state, or whose
failure could, get a fresh one (`vscd`). The resource-wide crawl is in test_crawl.py.
"""
import base64
import json
import os
import socket
import ssl
import time
import xml.etree.ElementTree as ET

import pytest
import requests

from conftest import ADMIN_PASSWORD, REDFISH, Client, Vscd, assert_error, make_user

EDMX = "{http://docs.oasis-open.org/odata/ns/edmx}"
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
OEM_CSDL = "/redfish/v1/schemas/Vsc_v1.xml"
MAX_BODY = 65536  # vscd's default max_body_bytes
SS = "/redfish/v1/SessionService"
AS = "/redfish/v1/AccountService"
ACCOUNTS = "/redfish/v1/AccountService/Accounts"


def anon(vscd):
    return Client(vscd.base)


def allow_set(r):
    return {m.strip() for m in r.headers.get("Allow", "").split(",") if m.strip()}


def message_ids(r):
    return [m["MessageId"] for m in r.json()["error"]["@Message.ExtendedInfo"]]


def base_ids(*names):
    return {"Base.1.22." + n for n in names}


def parse_xml(r):
    assert r.headers.get("Content-Type", "").startswith("application/xml"), r.headers
    return ET.fromstring(r.content)  # raises ParseError when not well-formed


def metadata_includes(root):
    """{Reference Uri: [Include Namespace, ...]} of a CSDL document."""
    return {ref.get("Uri"): [inc.get("Namespace") for inc in ref.findall(EDMX + "Include")]
            for ref in root.findall(EDMX + "Reference")}


def declared_namespaces(root):
    return {s.get("Namespace") for s in root.iter(EDM + "Schema")}


def _snapshot(admin, path):
    """(ETag, body) of a resource, to compare after a request that must not change it."""
    r = admin.get(path)
    assert r.status_code == 200
    return r.headers["ETag"], r.json()


def _assert_unchanged(admin, path, before):
    etag, body = _snapshot(admin, path)
    assert body == before[1], "resource changed by a rejected request"
    assert etag == before[0]


def _json_bytes(prop, value, pad=0):
    """A JSON object {prop: value} padded with whitespace to exactly len(core)+pad bytes."""
    core = json.dumps({prop: value}).encode()
    return core[:-1] + b" " * pad + b"}"


def _chunks(prop, value, total):
    data = _json_bytes(prop, value)
    data = _json_bytes(prop, value, total - len(data))
    for i in range(0, len(data), 4096):
        yield data[i:i + 4096]


# ---------------------------------------------------------------------------------------------
# Entry points (DSP0266: service root, OData service document, $metadata)
# ---------------------------------------------------------------------------------------------

def test_redfish_version_document(shared_vscd):
    """GET /redfish returns exactly {"v1": "/redfish/v1/"}, without credentials (DSP0266: version
    request)."""
    r = anon(shared_vscd).get("/redfish")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"v1": "/redfish/v1/"}


def test_service_root_with_and_without_trailing_slash(shared_vscd, shared_admin):
    """/redfish/v1 and /redfish/v1/ are the same resource (DSP0266: URI trailing slash)."""
    for client in (anon(shared_vscd), shared_admin):
        a, b = client.get("/redfish/v1"), client.get("/redfish/v1/")
        assert a.status_code == b.status_code == 200
        assert a.json() == b.json()
        assert a.headers["ETag"] == b.headers["ETag"]
        assert a.json()["@odata.id"] in ("/redfish/v1", "/redfish/v1/")


def test_trailing_slash_on_a_collection(shared_admin):
    """A trailing slash on any resource URI names the same resource (DSP0266: URIs)."""
    a, b = shared_admin.get("/redfish/v1/Managers"), shared_admin.get("/redfish/v1/Managers/")
    assert a.status_code == b.status_code == 200
    assert a.json() == b.json()


@pytest.mark.parametrize("path", ["/redfish", "/redfish/v1", "/redfish/v1/", "/redfish/v1/odata",
                                  "/redfish/v1/$metadata", OEM_CSDL])
def test_unauthenticated_entry_points(shared_vscd, path):
    """The version document, service root, service document and $metadata need no credentials
    (DSP0266: unauthenticated URIs)."""
    r = anon(shared_vscd).get(path)
    assert r.status_code == 200, r.text


def test_odata_service_document(shared_vscd, shared_admin):
    """/redfish/v1/odata is an OData service document listing the top-level resources; every url
    in it resolves to the resource it names (DSP0266: OData service document)."""
    r = anon(shared_vscd).get("/redfish/v1/odata")
    assert r.status_code == 200
    doc = r.json()
    assert doc["@odata.context"] == "/redfish/v1/$metadata"
    names = [v["name"] for v in doc["value"]]
    assert len(names) == len(set(names)), names
    urls = set()
    for v in doc["value"]:
        assert set(v) >= {"name", "kind", "url"}, v
        assert v["kind"] == "Singleton", v
        got = shared_admin.get(v["url"])
        assert got.status_code == 200, (v, got.text)
        assert got.json()["@odata.id"].rstrip("/") == v["url"].rstrip("/"), v
        urls.add(v["url"].rstrip("/"))
    assert "/redfish/v1" in urls
    # Every top-level resource the service root links to is in the service document.
    root = shared_admin.get("/redfish/v1").json()
    linked = {v["@odata.id"] for k, v in root.items()
              if isinstance(v, dict) and isinstance(v.get("@odata.id"), str)}
    linked |= {v["@odata.id"] for v in root.get("Links", {}).values() if isinstance(v, dict)}
    assert linked and linked <= urls, linked - urls


def test_metadata_is_well_formed_csdl(shared_vscd):
    """$metadata is well-formed CSDL (application/xml, edmx:Edmx 4.0) with a Service entity
    container extending ServiceRoot's (DSP0266: service metadata)."""
    root = parse_xml(anon(shared_vscd).get("/redfish/v1/$metadata"))
    assert root.tag == EDMX + "Edmx" and root.get("Version") == "4.0"
    containers = list(root.iter(EDM + "EntityContainer"))
    assert len(containers) == 1
    assert containers[0].get("Extends", "").startswith("ServiceRoot.v1_")
    refs = metadata_includes(root)
    assert refs and all(uri and includes for uri, includes in refs.items()), refs


def test_metadata_references_resolve_to_declaring_csdl(shared_vscd):
    """Each edmx:Reference names a CSDL document that declares every namespace it includes:
    DMTF ones are checked against the DSP8010 bundle, the OEM one against what vscd serves."""
    client = anon(shared_vscd)
    refs = metadata_includes(parse_xml(client.get("/redfish/v1/$metadata")))
    for uri, includes in refs.items():
        if uri.startswith("http://redfish.dmtf.org/schemas/v1/"):
            path = os.path.join(REDFISH, "csdl", uri.rsplit("/", 1)[1])
            assert os.path.exists(path), "no such DMTF CSDL: " + uri
            declared = declared_namespaces(ET.parse(path).getroot())
        else:
            assert uri.startswith("/redfish/v1/"), uri
            declared = declared_namespaces(parse_xml(client.get(uri)))
        missing = set(includes) - declared
        assert not missing, (uri, missing)


def test_oem_csdl_served_and_referenced(shared_vscd, shared_admin):
    """The OEM CSDL is well-formed, referenced from $metadata, and declares the namespace of the
    Oem object the Manager carries (DSP0266: OEM schema extensions)."""
    client = anon(shared_vscd)
    oem = parse_xml(client.get(OEM_CSDL))
    assert oem.tag == EDMX + "Edmx"
    declared = declared_namespaces(oem)
    assert {"Vsc", "Vsc.v1_0_0"} <= declared, declared
    refs = metadata_includes(parse_xml(client.get("/redfish/v1/$metadata")))
    assert OEM_CSDL in refs, list(refs)
    oem_type = shared_admin.get("/redfish/v1/Managers/bmc").json()["Oem"]["Vsc"]["@odata.type"]
    assert oem_type[1:].rsplit(".", 1)[0] in refs[OEM_CSDL], (oem_type, refs[OEM_CSDL])


# ---------------------------------------------------------------------------------------------
# Protocol headers and conditional requests (DSP0266: request and response headers)
# ---------------------------------------------------------------------------------------------

def _header_cases():
    return {
        "root-200": ("GET", "/redfish/v1", False, {}, 200),
        "collection-200": ("GET", "/redfish/v1/Managers", True, {}, 200),
        "head-200": ("HEAD", "/redfish/v1/Managers", True, {}, 200),
        "metadata-xml-200": ("GET", "/redfish/v1/$metadata", False, {}, 200),
        "schema-file-200": ("GET", "/redfish/v1/JsonSchemas/Vsc/Vsc.v1_0_0.json",
                            True, {}, 200),
        "no-credentials-401": ("GET", "/redfish/v1/Systems", False, {}, 401),
        "missing-404": ("GET", "/redfish/v1/NoSuchResource", True, {}, 404),
        "head-missing-404": ("HEAD", "/redfish/v1/NoSuchResource", True, {}, 404),
        "method-405": ("DELETE", "/redfish/v1/Managers", True, {}, 405),
        "unknown-method-405": ("TRACE", "/redfish/v1", True, {}, 405),
        "bad-query-400": ("GET", "/redfish/v1/Systems?$top=abc", True, {}, 400),
        "unsupported-query-501": ("GET", "/redfish/v1/Systems?$expand=.", True, {}, 501),
        "odata-version-412": ("GET", "/redfish/v1", False, {"headers": {"OData-Version": "4.1"}},
                              412),
        "media-type-415": ("PATCH", SS, True, {"data": b'{"SessionTimeout": 1800}',
                                               "headers": {"Content-Type": "text/plain"}}, 415),
        "too-large-413": ("PATCH", SS, True,
                          {"data": _chunks("SessionTimeout", 1800, MAX_BODY + 4096),
                           "headers": {"Content-Type": "application/json"}}, 413),
    }


@pytest.mark.parametrize("case", list(_header_cases()))
def test_protocol_headers_on_every_response(shared_vscd, shared_admin, case):
    """Every response, errors included, carries OData-Version: 4.0 and Cache-Control (DSP0266:
    response headers)."""
    method, path, auth, kw, status = _header_cases()[case]
    client = shared_admin if auth else anon(shared_vscd)
    r = client.request(method, path, **kw)
    assert r.status_code == status, r.text
    assert r.headers.get("OData-Version") == "4.0", r.headers
    assert r.headers.get("Cache-Control"), r.headers


def test_protocol_headers_on_304(shared_admin):
    """A 304 Not Modified also carries OData-Version and Cache-Control, and the ETag (DSP0266
    response headers, RFC 9110 §15.4.5)."""
    etag = shared_admin.get(SS).headers["ETag"]
    r = shared_admin.get(SS, headers={"If-None-Match": etag})
    assert r.status_code == 304
    assert r.headers.get("OData-Version") == "4.0"
    assert r.headers.get("Cache-Control")
    assert r.headers.get("ETag") == etag


@pytest.mark.parametrize("version", ["4.1", "5.0", "3.0"])
def test_unsupported_odata_version_412(shared_vscd, shared_admin, version):
    """A request naming an OData-Version other than 4.0 is rejected with 412 (DSP0266: request
    headers)."""
    for client in (anon(shared_vscd), shared_admin):
        r = client.get("/redfish/v1", headers={"OData-Version": version})
        assert_error(r, 412, "HeaderInvalid")


def test_odata_version_4_0_accepted(shared_admin):
    """OData-Version: 4.0 (the supported version) is accepted (DSP0266: request headers)."""
    r = shared_admin.get("/redfish/v1/Managers", headers={"OData-Version": "4.0"})
    assert r.status_code == 200


def test_if_none_match_current_etag_304(shared_admin):
    """If-None-Match with the current ETag answers 304 without a body, for GET and HEAD; with
    another ETag the resource is returned (DSP0266 ETags, RFC 9110 §13.1.2)."""
    r = shared_admin.get(SS)
    etag = r.headers["ETag"]
    assert etag.startswith('"') and etag == r.json()["@odata.etag"]
    for method in ("GET", "HEAD"):
        nm = shared_admin.request(method, SS, headers={"If-None-Match": etag})
        assert nm.status_code == 304, (method, nm.text)
        assert nm.content == b""
    for header in ('"0000000000000000", ' + etag, "*"):
        assert shared_admin.get(SS, headers={"If-None-Match": header}).status_code == 304, header
    other = shared_admin.get(SS, headers={"If-None-Match": '"0000000000000000"'})
    assert other.status_code == 200
    assert other.json()["@odata.id"] == SS


def test_if_none_match_uses_weak_comparison(shared_admin):
    """If-None-Match compares weakly: W/"x" matches the current strong ETag "x" (RFC 9110
    §13.1.2, which DSP0266 defers to)."""
    etag = shared_admin.get(SS).headers["ETag"]
    r = shared_admin.get(SS, headers={"If-None-Match": "W/" + etag})
    assert r.status_code == 304, r.text[:200]


def test_304_has_no_misleading_content_length(shared_admin):
    """A 304 sends no Content-Length unless it equals the 200 body's length (RFC 9110 §8.6)."""
    r200 = shared_admin.get(SS)
    r = shared_admin.get(SS, headers={"If-None-Match": r200.headers["ETag"]})
    assert r.status_code == 304
    cl = r.headers.get("Content-Length")
    assert cl is None or int(cl) == len(r200.content), (cl, len(r200.content))


@pytest.mark.parametrize("if_match", ['"0000000000000000"', "W/{etag}", "{stale}"])
def test_if_match_mismatch_412_and_unchanged(admin, if_match):
    """A PATCH whose If-Match does not match the current ETag (strong comparison: a weak tag
    never matches) is 412 PreconditionFailed and changes nothing (DSP0266 ETags, RFC 9110
    §13.1.1)."""
    stale = admin.get(SS).headers["ETag"]
    assert admin.patch(SS, json={"SessionTimeout": 900}).status_code == 200
    before = _snapshot(admin, SS)
    header = if_match.format(etag=before[0], stale=stale)
    r = admin.patch(SS, json={"SessionTimeout": 600}, headers={"If-Match": header})
    assert_error(r, 412, "PreconditionFailed")
    _assert_unchanged(admin, SS, before)


@pytest.mark.parametrize("if_match", ["{etag}", "*", '"0000000000000000", {etag}'])
def test_if_match_current_etag_applies(admin, if_match):
    """Control: a PATCH whose If-Match lists the current ETag (or *) is applied."""
    etag = admin.get(SS).headers["ETag"]
    r = admin.patch(SS, json={"SessionTimeout": 600},
                    headers={"If-Match": if_match.format(etag=etag)})
    assert r.status_code == 200, r.text
    assert admin.get(SS).json()["SessionTimeout"] == 600


def test_etag_changes_when_resource_changes(admin):
    """The ETag of a resource changes when the resource changes, so If-None-Match with the
    old one no longer answers 304 (DSP0266: ETags)."""
    old = admin.get(SS).headers["ETag"]
    assert admin.patch(SS, json={"SessionTimeout": 900}).status_code == 200
    new = admin.get(SS)
    assert new.json()["SessionTimeout"] == 900
    assert new.headers["ETag"] != old
    assert admin.get(SS, headers={"If-None-Match": old}).status_code == 200


# ---------------------------------------------------------------------------------------------
# Query parameters (DSP0266: query parameters)
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def paged(tmp_path_factory):
    """A daemon with 6 accounts (admin + 5), so Accounts can be paged."""
    d = Vscd(str(tmp_path_factory.mktemp("paged") / "state")).start()
    admin = Client(d.base, auth=("admin", ADMIN_PASSWORD))
    for i in range(5):
        make_user(admin, "pager%d" % i, "ReadOnly")
    yield admin
    d.stop()


def _members(body):
    return [m["@odata.id"] for m in body["Members"]]


def test_collection_without_paging(paged):
    """Without $top/$skip a collection returns every member and no nextLink (DSP0266: query
    parameters)."""
    body = paged.get(ACCOUNTS).json()
    assert len(body["Members"]) == body["Members@odata.count"] == 6
    assert "Members@odata.nextLink" not in body


def test_top_skip_paging_follows_next_links(paged):
    """$top=2 pages the collection: each page has at most 2 members, Members@odata.count is the
    total, Members@odata.nextLink leads to the next page and is absent on the last; the pages
    together are the collection, in order, without repeats (DSP0266: $top/$skip)."""
    everything = _members(paged.get(ACCOUNTS).json())
    seen, url, pages = [], ACCOUNTS + "?$top=2", 0
    while url:
        pages += 1
        assert pages <= 10, "nextLink chain does not end"
        body = paged.get(url).json()
        assert body["Members@odata.count"] == 6, (url, body)
        assert 1 <= len(body["Members"]) <= 2, (url, body)
        seen += _members(body)
        url = body.get("Members@odata.nextLink")
        if url:
            assert url.startswith(ACCOUNTS + "?"), url
    assert pages == 3
    assert seen == everything


def test_next_link_values(paged):
    """The nextLink of a page starting at $skip=s with $top=t asks for $skip=s+t, $top=t."""
    body = paged.get(ACCOUNTS + "?$skip=1&$top=2").json()
    assert _members(body) == _members(paged.get(ACCOUNTS).json())[1:3]
    link = body["Members@odata.nextLink"]
    path, _, query = link.partition("?")
    assert path == ACCOUNTS
    assert dict(p.split("=", 1) for p in query.split("&")) == {"$skip": "3", "$top": "2"}


@pytest.mark.parametrize("query, start, stop, next_link", [
    ("$skip=4", 4, 6, False),
    ("$top=6", 0, 6, False),
    ("$top=5", 0, 5, True),
    ("$skip=5&$top=1", 5, 6, False),
    ("$skip=6", 6, 6, False),
    ("$skip=100", 6, 6, False),
    ("$top=100", 0, 6, False),
])
def test_top_skip_windows(paged, query, start, stop, next_link):
    """$skip drops the first members, $top keeps at most that many; the count stays the total
    and nextLink appears only when members remain (DSP0266: $top/$skip)."""
    everything = _members(paged.get(ACCOUNTS).json())
    body = paged.get(ACCOUNTS + "?" + query).json()
    assert _members(body) == everything[start:stop]
    assert body["Members@odata.count"] == 6
    assert ("Members@odata.nextLink" in body) == next_link, body


def test_head_honours_paging(paged):
    """HEAD with $top answers as GET with $top would (same ETag), without a body (DSP0266: query
    parameters)."""
    g = paged.get(ACCOUNTS + "?$top=2")
    h = paged.head(ACCOUNTS + "?$top=2")
    assert h.status_code == 200 and h.content == b""
    assert h.headers["ETag"] == g.headers["ETag"] != paged.get(ACCOUNTS).headers["ETag"]


@pytest.mark.parametrize("query, arg", [("$top=abc", "abc"), ("$skip=abc", "abc"),
                                        ("$top=1.5", "1.5"), ("$top=", "")])
def test_top_skip_not_an_integer_400(shared_admin, query, arg):
    """A $top/$skip value that is not an integer is 400 QueryParameterValueTypeError (DSP0266: query
    parameters)."""
    r = shared_admin.get(ACCOUNTS + "?" + query)
    assert_error(r, 400, "QueryParameterValueTypeError")
    assert [arg, query.split("=")[0]] in [m.get("MessageArgs")
                                          for m in r.json()["error"]["@Message.ExtendedInfo"]]


@pytest.mark.parametrize("query", ["$top=-1", "$skip=-1"])
def test_top_skip_negative_400(shared_admin, query):
    """A negative $top/$skip is a 400 (value type or range error) (DSP0266: query parameters)."""
    r = shared_admin.get(ACCOUNTS + "?" + query)
    assert r.status_code == 400, r.text
    assert set(message_ids(r)) & base_ids("QueryParameterValueTypeError",
                                          "QueryParameterOutOfRange"), r.text


@pytest.mark.parametrize("query, name", [
    ("$expand=.", "$expand"), ("$expand=*($levels=1)", "$expand"), ("$select=Name", "$select"),
    ("$filter=Name%20eq%20%27x%27", "$filter"), ("only", "only"), ("excerpt", "excerpt"),
    ("$bogus=1", "$bogus"), ("$orderby=Name", "$orderby"),
])
def test_unsupported_query_parameter_501(shared_admin, query, name):
    """Query parameters the service does not implement (ProtocolFeaturesSupported says so) and
    unknown $-parameters are 501 QueryParameterUnsupported (DSP0266: query parameters)."""
    r = shared_admin.get(ACCOUNTS + "?" + query)
    assert_error(r, 501, "QueryParameterUnsupported")
    assert any(name in m.get("MessageArgs", [])
               for m in r.json()["error"]["@Message.ExtendedInfo"]), r.text


def test_protocol_features_match_query_support(shared_admin):
    """ProtocolFeaturesSupported advertises $top/$skip and none of the 501 ones (DSP0266: query
    parameters)."""
    pf = shared_admin.get("/redfish/v1").json()["ProtocolFeaturesSupported"]
    assert pf["TopSkipQuery"] is True
    assert not any((pf["SelectQuery"], pf["FilterQuery"], pf["ExcerptQuery"],
                    pf["OnlyMemberQuery"], *pf["ExpandQuery"].values()))


def test_unknown_non_dollar_parameter_ignored(shared_admin):
    """An unknown query parameter without '$' is ignored: same resource as without it (DSP0266:
    query parameters)."""
    plain = shared_admin.get(ACCOUNTS)
    r = shared_admin.get(ACCOUNTS + "?foo=bar&Vendor=x")
    assert r.status_code == 200, r.text
    assert r.json() == plain.json()
    assert r.headers["ETag"] == plain.headers["ETag"]


@pytest.mark.parametrize("query", ["$top=1", "$skip=1", "$skip=0&$top=5"])
@pytest.mark.parametrize("path", [SS, "/redfish/v1", "/redfish/v1/Managers/bmc"])
def test_top_skip_on_non_collection_400(shared_admin, path, query):
    """$top/$skip on a resource that is not a collection is 400 QueryNotSupportedOnResource."""
    r = shared_admin.get(path + "?" + query)
    assert_error(r, 400, "QueryNotSupportedOnResource")


def test_top_on_post_400(admin):
    """$top/$skip apply to reads only: on POST they are 400 QueryNotSupportedOnOperation, and
    nothing is created (DSP0266: query parameters)."""
    before = admin.get(ACCOUNTS).json()["Members@odata.count"]
    r = admin.post(ACCOUNTS + "?$top=1", json={"UserName": "qpost", "Password": "password-qpost",
                                              "RoleId": "ReadOnly"})
    assert_error(r, 400, "QueryNotSupportedOnOperation")
    assert admin.get(ACCOUNTS).json()["Members@odata.count"] == before


# ---------------------------------------------------------------------------------------------
# Request bodies (DSP0266: PATCH, request headers, status codes)
# ---------------------------------------------------------------------------------------------

# For each resource: a writable property and a valid new value for it.
TARGETS = {
    "SessionService": (SS, "SessionTimeout", 600),
    "AccountService": (AS, "AccountLockoutThreshold", 7),
}


def _bad_bodies(prop, value):
    ok = json.dumps({prop: value})
    return {
        "truncated": (ok[:-1].encode(), "MalformedJSON"),
        "trailing-garbage": ((ok + " x").encode(), "MalformedJSON"),
        "two-documents": ((ok + ok).encode(), "MalformedJSON"),
        "single-quotes": (ok.replace('"', "'").encode(), "MalformedJSON"),
        "invalid-utf8": (ok.encode()[:-1] + b', "Name": "\xff\xfe"}', "MalformedJSON"),
        "not-json": (b"SessionTimeout=600", "MalformedJSON"),
        "array": (("[" + ok + "]").encode(), None),
        "string": (b'"hello"', None),
        "number": (b"600", None),
        "null": (b"null", None),
        "duplicate-keys": (('{"%s": %s, "%s": %s}' % (prop, json.dumps(value), prop,
                                                       json.dumps(value))).encode(), None),
    }


BAD_BODY_NAMES = list(_bad_bodies("x", 1))


@pytest.mark.parametrize("kind", BAD_BODY_NAMES)
def test_bad_json_body_400_and_unchanged(admin, kind):
    """A body that is not one well-formed JSON object (malformed, array, scalar, duplicate keys)
    is 400 and changes nothing, even though it names a valid change (DSP0266: PATCH)."""
    for path, prop, value in TARGETS.values():
        data, message = _bad_bodies(prop, value)[kind]
        before = _snapshot(admin, path)
        r = admin.patch(path, data=data, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (path, r.text)
        if message:
            assert_error(r, 400, message)
        _assert_unchanged(admin, path, before)


@pytest.mark.parametrize("target", list(TARGETS))
def test_valid_patch_applies(admin, target):
    """Control for the rejections: the same change as a well-formed body succeeds."""
    path, prop, value = TARGETS[target]
    before = _snapshot(admin, path)
    r = admin.patch(path, data=json.dumps({prop: value}),
                    headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 200, r.text
    assert admin.get(path).json()[prop] == value
    assert admin.get(path).headers["ETag"] != before[0]


@pytest.mark.parametrize("ctype", ["text/plain", "application/xml",
                                   "application/x-www-form-urlencoded", "application/jsonx",
                                   "multipart/form-data; boundary=x"])
def test_non_json_content_type_415(admin, ctype):
    """A PATCH body declared as anything but application/json is 415 and changes nothing
    (DSP0266: Content-Type request header)."""
    for path, prop, value in TARGETS.values():
        before = _snapshot(admin, path)
        r = admin.patch(path, data=json.dumps({prop: value}), headers={"Content-Type": ctype})
        assert r.status_code == 415, (path, r.text)
        _assert_unchanged(admin, path, before)


def test_body_at_the_limit_accepted(admin):
    """A body of exactly max_body_bytes is accepted (the limit is inclusive)."""
    data = _json_bytes("SessionTimeout", 600)
    data = _json_bytes("SessionTimeout", 600, MAX_BODY - len(data))
    assert len(data) == MAX_BODY
    r = admin.patch(SS, data=data, headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert admin.get(SS).json()["SessionTimeout"] == 600


@pytest.mark.parametrize("target", list(TARGETS))
def test_body_over_limit_content_length_413(admin, target):
    """A body one byte over max_body_bytes, with Content-Length, is 413 PayloadTooLarge and
    changes nothing (DSP0266: status codes)."""
    path, prop, value = TARGETS[target]
    data = _json_bytes(prop, value)
    data = _json_bytes(prop, value, MAX_BODY + 1 - len(data))
    assert len(data) == MAX_BODY + 1
    before = _snapshot(admin, path)
    r = admin.patch(path, data=data, headers={"Content-Type": "application/json"})
    assert_error(r, 413, "PayloadTooLarge")
    _assert_unchanged(admin, path, before)


@pytest.mark.parametrize("target", list(TARGETS))
def test_body_over_limit_chunked_413(admin, target):
    """A chunked body (no Content-Length) that grows past max_body_bytes is 413 PayloadTooLarge
    and changes nothing."""
    path, prop, value = TARGETS[target]
    before = _snapshot(admin, path)
    r = admin.patch(path, data=_chunks(prop, value, MAX_BODY + 4096),
                    headers={"Content-Type": "application/json"})
    assert "Content-Length" not in r.request.headers
    assert r.request.headers.get("Transfer-Encoding") == "chunked"
    assert_error(r, 413, "PayloadTooLarge")
    _assert_unchanged(admin, path, before)


def test_chunked_body_within_limit_accepted(admin):
    """Control: a chunked body under the limit is read whole and applied."""
    r = admin.patch(SS, data=_chunks("SessionTimeout", 700, 20000),
                    headers={"Content-Type": "application/json"})
    assert r.request.headers.get("Transfer-Encoding") == "chunked"
    assert r.status_code == 200, r.text
    assert admin.get(SS).json()["SessionTimeout"] == 700


def test_large_body_over_limit_gets_413_not_a_reset(admin):
    """A client that sends a body far over the limit (4 MiB, with Content-Length, no Expect)
    still receives the 413: the service may answer early but must not reset the connection
    before the client can read the answer (RFC 9112 §9.6 staged close)."""
    data = _json_bytes("SessionTimeout", 600, 4 * 1024 * 1024)
    try:
        r = admin.patch(SS, data=data, headers={"Content-Type": "application/json"})
    except requests.ConnectionError as e:
        pytest.fail("connection broken instead of a 413: %s" % e)
    assert_error(r, 413, "PayloadTooLarge")
    assert admin.get(SS).json()["SessionTimeout"] == 1800


def _raw_tls_request(vscd, head, timeout=10):
    """Sends request headers only (no body) over TLS; returns (status, headers, body) of the
    answer, read until Content-Length is satisfied or the server closes. Bounded by timeout."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    deadline = time.time() + timeout
    data = b""
    with socket.create_connection(("127.0.0.1", vscd.port), timeout=timeout) as s:
        with ctx.wrap_socket(s) as t:
            t.sendall(head)
            while time.time() < deadline:
                try:
                    chunk = t.recv(65536)
                except (ssl.SSLError, ConnectionError):
                    break
                if not chunk:
                    break
                data += chunk
                hdr, sep, body = data.partition(b"\r\n\r\n")
                if sep:
                    lines = hdr.decode("latin-1").split("\r\n")
                    headers = {k.strip().lower(): v.strip()
                               for k, _, v in (l.partition(":") for l in lines[1:])}
                    if len(body) >= int(headers.get("content-length", 1 << 30)):
                        break
    hdr, _, body = data.partition(b"\r\n\r\n")
    lines = hdr.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines[0].startswith("HTTP/1.1 ") else None
    headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    return status, headers, body


@pytest.mark.parametrize("expect,length", [(True, 10 * 1024 * 1024), (False, 32 * 1024 * 1024)])
def test_declared_length_over_limit_answered_without_reading_body(vscd, expect, length):
    """A request declaring a Content-Length over the limit is answered 413 (a Redfish error)
    before its body is sent when the client waits for 100-continue, or when the body is over
    16 MiB (smaller over-limit bodies sent without Expect are read and thrown away first, so
    the client sees the 413 instead of a reset: test_large_body_over_limit_gets_413_not_a_reset)."""
    auth = base64.b64encode(("admin:" + ADMIN_PASSWORD).encode()).decode()
    head = ("PATCH %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic %s\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
            % (SS, auth, length, "Expect: 100-continue\r\n" if expect else ""))
    status, headers, body = _raw_tls_request(vscd, head.encode())
    assert status == 413, (status, headers, body[:300])
    assert headers.get("odata-version") == "4.0"
    ids = [m["MessageId"] for m in json.loads(body)["error"]["@Message.ExtendedInfo"]]
    assert "Base.1.22.PayloadTooLarge" in ids
    admin = Client(vscd.base, auth=("admin", ADMIN_PASSWORD))
    assert admin.get(SS).json()["SessionTimeout"] == 1800


def test_empty_patch_body_400(admin):
    """A PATCH without a body is 400 and changes nothing (DSP0266: PATCH)."""
    before = _snapshot(admin, SS)
    r = admin.patch(SS, data=b"", headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    _assert_unchanged(admin, SS, before)


# ---------------------------------------------------------------------------------------------
# Routing and authentication errors (DSP0266: status codes, authentication)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/redfish/v1/NoSuchResource", "/redfish/v1/Managers/bmc/Nope",
                                  "/redfish/v2", "/redfish/v1/SessionService/Sessions/x/y",
                                  "/redfish/v1//Managers"])
def test_unknown_path_with_credentials_404(shared_admin, path):
    """A URI that names no resource is 404 ResourceMissingAtURI (DSP0266: status codes)."""
    r = shared_admin.get(path)
    assert_error(r, 404, "ResourceMissingAtURI")


def test_missing_member_404(shared_admin):
    """A member that does not exist in an existing collection is 404 (DSP0266: status codes)."""
    for path in ("/redfish/v1/Managers/nope", ACCOUNTS + "/999", "/redfish/v1/Registries/Nope"):
        r = shared_admin.get(path)
        assert r.status_code == 404, (path, r.text)


@pytest.mark.parametrize("path", ["/redfish/v1/NoSuchResource", "/redfish/v1/Systems",
                                  "/redfish/v1/Managers/bmc", ACCOUNTS])
def test_without_credentials_401(shared_vscd, path):
    """Without credentials, anything but the public entry points is 401 — unknown URIs too,
    so the service's layout is not disclosed (DSP0266: authentication)."""
    r = anon(shared_vscd).get(path)
    assert_error(r, 401, "NoValidSession")


@pytest.mark.parametrize("creds", [
    {"auth": ("admin", "wrong-password")},
    {"auth": ("nobody", "whatever-123")},
    {"headers": {"X-Auth-Token": "not-a-token"}},
    {},
])
def test_401_over_https_carries_www_authenticate(shared_vscd, creds):
    """A 401 over HTTPS names the Basic scheme in WWW-Authenticate (DSP0266 Basic
    authentication, RFC 9110 §11.6.1)."""
    r = anon(shared_vscd).get("/redfish/v1/Managers", **creds)
    assert r.status_code == 401, r.text
    assert r.headers.get("WWW-Authenticate", "").lower().startswith("basic"), r.headers


@pytest.mark.parametrize("method, path, allowed", [
    ("DELETE", "/redfish/v1/Managers", {"GET", "HEAD"}),
    ("POST", "/redfish/v1/Systems", {"GET", "HEAD"}),
    ("PATCH", "/redfish/v1/Managers/bmc", {"GET", "HEAD"}),
    ("PUT", SS, {"GET", "HEAD", "PATCH"}),
    ("DELETE", AS, {"GET", "HEAD", "PATCH"}),
    ("POST", "/redfish/v1", {"GET", "HEAD"}),
    ("DELETE", "/redfish/v1/$metadata", {"GET", "HEAD"}),
    ("PATCH", ACCOUNTS, {"GET", "HEAD", "POST"}),
])
def test_wrong_method_405_with_allow(shared_admin, method, path, allowed):
    """A method the resource does not support is 405 OperationNotAllowed, with an Allow header
    listing the ones it does (DSP0266 status codes, RFC 9110 §15.5.6)."""
    kw = {"json": {}} if method in ("POST", "PATCH", "PUT") else {}
    r = shared_admin.request(method, path, **kw)
    assert_error(r, 405, "OperationNotAllowed")
    assert allow_set(r) == allowed, r.headers


@pytest.mark.parametrize("method", ["TRACE", "OPTIONS", "CONNECT", "PROPFIND", "MKCOL"])
def test_unknown_http_method_405(shared_admin, method):
    """An HTTP method the service does not implement is 405 with an Allow header (DSP0266: HTTP
    methods)."""
    r = shared_admin.request(method, "/redfish/v1/Managers")
    assert r.status_code == 405, r.text
    assert allow_set(r) == {"GET", "HEAD"}, r.headers


def test_readonly_user_gets_403_not_405(admin):
    """Authorization is checked for supported methods: a ReadOnly user PATCHing SessionService
    gets 403 InsufficientPrivilege, and nothing changes (DSP0266: authorization)."""
    ro = make_user(admin, "viewer", "ReadOnly")
    before = _snapshot(admin, SS)
    r = ro.patch(SS, json={"SessionTimeout": 600})
    assert_error(r, 403, "InsufficientPrivilege")
    _assert_unchanged(admin, SS, before)
