"""openapi.yaml against the router: the routes vscd serves are the routes the document describes.

The router's table comes from `vscd --dump-routes`; no daemon is started. HEAD is not a route
of its own (the router answers it with the GET route), so the document must describe `head`
exactly where the router has a GET.
"""
import json
import os
import re
import subprocess
from urllib.parse import unquote

import pytest
import yaml

from conftest import ROOT, VSCD

OPENAPI = os.path.join(ROOT, "openapi.yaml")

# Path Item fields that are not operations (OpenAPI 3.0.3 §4.7.9); every other key is taken as
# an HTTP method, so a misspelt or unsupported one shows up as a difference.
PATH_ITEM_FIELDS = {"summary", "description", "servers", "parameters"}
BODY_METHODS = {"POST", "PATCH", "PUT"}


@pytest.fixture(scope="module")
def routes():
    out = subprocess.run([VSCD, "--dump-routes"], check=True, capture_output=True, text=True,
                         timeout=60).stdout
    table = json.loads(out)
    assert table, "vscd --dump-routes printed no routes"
    return table


@pytest.fixture(scope="module")
def spec():
    with open(OPENAPI, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    assert isinstance(doc, dict) and isinstance(doc.get("paths"), dict), \
        "openapi.yaml has no paths object"
    return doc


def operations(spec):
    """(path, METHOD) -> operation object, for every operation in the document."""
    ops = {}
    for path, item in spec["paths"].items():
        assert isinstance(item, dict), "paths[%r] is not an object" % path
        assert "$ref" not in item, "paths[%r] uses $ref; describe operations inline" % path
        for key, op in item.items():
            if key in PATH_ITEM_FIELDS or key.startswith("x-"):
                continue
            ops[(path, key.upper())] = op
    return ops


def expected_operations(routes):
    """The router's (path, METHOD) pairs, plus HEAD wherever there is a GET."""
    want = set()
    for r in routes:
        want.add((r["path"], r["method"]))
        if r["method"] == "GET":
            want.add((r["path"], "HEAD"))
    return want


def route_operations(routes):
    """(route, METHOD) for every route and the HEAD each GET route implies."""
    for r in routes:
        yield r, r["method"]
        if r["method"] == "GET":
            yield r, "HEAD"


def status_codes(op):
    return {str(code) for code in (op.get("responses") or {})}


def fmt(pairs):
    return "\n".join("  %s %s" % (m, p) for p, m in sorted(pairs))


def test_operations_match_router(routes, spec):
    want = expected_operations(routes)
    have = set(operations(spec))
    problems = []
    if want - have:
        problems.append("served by vscd but missing from openapi.yaml:\n" + fmt(want - have))
    if have - want:
        problems.append("in openapi.yaml but not served by vscd:\n" + fmt(have - want))
    assert not problems, "\n".join(problems)


def test_security_empty_exactly_on_public_routes(routes, spec):
    ops = operations(spec)
    schemes = spec.get("components", {}).get("securitySchemes", {})
    default = spec.get("security")
    problems = []
    for r, method in route_operations(routes):
        op = ops.get((r["path"], method))
        if op is None:
            continue  # reported by test_operations_match_router
        name = "%s %s" % (method, r["path"])
        if r["no_auth"]:
            if op.get("security") != []:
                problems.append("%s is public (no_auth) but lacks `security: []`" % name)
            continue
        if op.get("security") == []:
            problems.append("%s needs authentication but has `security: []`" % name)
            continue
        effective = op.get("security", default)
        if not effective:
            problems.append("%s needs authentication but no security requirement applies" % name)
            continue
        for requirement in effective:
            for scheme in requirement:
                if scheme not in schemes:
                    problems.append("%s names undefined security scheme %r" % (name, scheme))
    assert not problems, "\n".join(problems)


def test_security_schemes(spec):
    schemes = spec.get("components", {}).get("securitySchemes", {}).values()
    assert any(s.get("type") == "http" and str(s.get("scheme", "")).lower() == "basic"
               for s in schemes), "no HTTP basic security scheme"
    assert any(s.get("type") == "apiKey" and s.get("in") == "header"
               and s.get("name") == "X-Auth-Token" for s in schemes), \
        "no apiKey security scheme for the X-Auth-Token header"


def test_authenticated_operations_list_401(routes, spec):
    ops = operations(spec)
    missing = [(r["path"], method) for r, method in route_operations(routes)
               if not r["no_auth"] and (r["path"], method) in ops
               and "401" not in status_codes(ops[(r["path"], method)])]
    assert not missing, "authenticated operations without a 401 response:\n" + fmt(missing)


def test_body_operations_list_400(routes, spec):
    ops = operations(spec)
    problems = []
    for r in routes:
        op = ops.get((r["path"], r["method"]))
        if r["method"] not in BODY_METHODS or op is None:
            continue
        name = "%s %s" % (r["method"], r["path"])
        if "requestBody" not in op:
            problems.append("%s takes a body but describes no requestBody" % name)
        if "400" not in status_codes(op):
            problems.append("%s takes a body but lists no 400 response" % name)
    assert not problems, "\n".join(problems)


def test_changing_operations_take_if_match(routes, spec):
    """dispatch checks If-Match on every PATCH, PUT and DELETE (412 PreconditionFailed when it
    does not match): each such operation describes the header and the 412."""
    ops = operations(spec)
    problems = []
    for r in routes:
        op = ops.get((r["path"], r["method"]))
        if r["method"] not in ("PATCH", "PUT", "DELETE") or op is None:
            continue
        name = "%s %s" % (r["method"], r["path"])
        refs = [p.get("$ref", "") for p in op.get("parameters") or []]
        if "#/components/parameters/IfMatch" not in refs:
            problems.append("%s does not describe If-Match" % name)
        if "412" not in status_codes(op):
            problems.append("%s lists no 412 response" % name)
    assert not problems, "\n".join(problems)


def resolve_pointer(doc, ref):
    """The node a local reference ('#/a/b~1c') names; raises KeyError/IndexError if none."""
    node = doc
    for token in ref[2:].split("/") if ref != "#" else []:
        token = unquote(token).replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            node = node[int(token)]
        elif isinstance(node, dict):
            if token not in node and token.isdigit() and int(token) in node:
                token = int(token)  # an unquoted YAML status code
            node = node[token]
        else:
            raise KeyError(token)
    return node


def all_refs(node, where="#"):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield where, value
            else:
                token = str(key).replace("~", "~0").replace("/", "~1")
                yield from all_refs(value, "%s/%s" % (where, token))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from all_refs(value, "%s/%d" % (where, i))


def test_every_ref_resolves_within_the_file(spec):
    refs = list(all_refs(spec))
    assert refs, "openapi.yaml has no $ref at all"
    bad = []
    for where, ref in refs:
        if not ref.startswith("#"):
            bad.append("%s: %s points outside the file" % (where, ref))
            continue
        try:
            resolve_pointer(spec, ref)
        except (KeyError, IndexError, ValueError):
            bad.append("%s: %s does not resolve" % (where, ref))
    assert not bad, "\n".join(bad)


def deref(spec, node):
    seen = 0
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and seen < 20:
        node = resolve_pointer(spec, node["$ref"])
        seen += 1
    return node


def test_document_structure(spec):
    """The basics of an OpenAPI 3.0 document, and path parameters that match the templates."""
    assert str(spec.get("openapi", "")).startswith("3.0."), spec.get("openapi")
    assert spec.get("info", {}).get("title") and spec["info"].get("version")
    problems = []
    op_ids = {}
    for (path, method), op in operations(spec).items():
        name = "%s %s" % (method, path)
        if not isinstance(op, dict) or not op.get("responses"):
            problems.append("%s has no responses" % name)
            continue
        if op.get("operationId") in op_ids:
            problems.append("%s reuses operationId %r of %s"
                            % (name, op["operationId"], op_ids[op["operationId"]]))
        op_ids[op.get("operationId")] = name
        params = [deref(spec, p) for p in spec["paths"][path].get("parameters", [])]
        params += [deref(spec, p) for p in op.get("parameters", [])]
        declared = {p.get("name") for p in params if p.get("in") == "path"}
        templated = set(re.findall(r"{([^}]+)}", path))
        if declared != templated:
            problems.append("%s: path parameters %s, template has %s"
                            % (name, sorted(declared), sorted(templated)))
        for p in params:
            if p.get("in") == "path" and p.get("required") is not True:
                problems.append("%s: path parameter %r is not required: true"
                                % (name, p.get("name")))
    assert not problems, "\n".join(problems)
