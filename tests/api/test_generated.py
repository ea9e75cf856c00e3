"""Generated and hand-kept tables stay true to their sources."""
import filecmp
import os
import re
import subprocess

from conftest import REDFISH, ROOT, VSCD


def test_base_registry_table_is_regenerated_identically(tmp_path):
    """service/base_registry.[ch] equal what the generator makes from DMTF's Base registry."""
    registry = os.path.join(REDFISH, "registries", "Base.1.22.1.json")
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "gen-base-registry.py"),
                    registry, str(tmp_path)], check=True)
    for name in ("base_registry.h", "base_registry.c"):
        assert filecmp.cmp(tmp_path / name, os.path.join(ROOT, "service", name), shallow=False), \
            "service/%s is stale: run scripts/gen-base-registry.py" % name


def _sample_settings():
    names = set()
    with open(os.path.join(ROOT, "docs", "vscd.conf.sample")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                names.add(line.split("=", 1)[0].strip())
    return names


def test_sample_config_documents_every_setting():
    """docs/vscd.conf.sample names exactly the settings vscd knows."""
    out = subprocess.run([VSCD, "--list-settings"], check=True, capture_output=True, text=True)
    assert _sample_settings() == set(out.stdout.split())


def test_sample_config_explains_every_setting():
    """Each setting of docs/vscd.conf.sample sits in a paragraph with a comment explaining it."""
    with open(os.path.join(ROOT, "docs", "vscd.conf.sample")) as f:
        paragraphs = f.read().split("\n\n")
    unexplained = []
    for para in paragraphs:
        lines = [line.strip() for line in para.splitlines() if line.strip()]
        comments = [line for line in lines if line.startswith("#")]
        for line in lines:
            if not line.startswith("#") and "=" in line and not comments:
                unexplained.append(line.split("=", 1)[0].strip())
    assert not unexplained, unexplained


def test_man_page_names_every_setting():
    """docs/vscd.8's SETTINGS section names every setting vscd knows."""
    out = subprocess.run([VSCD, "--list-settings"], check=True, capture_output=True, text=True)
    with open(os.path.join(ROOT, "docs", "vscd.8")) as f:
        page = f.read()
    section = page[page.index(".SH SETTINGS"):page.index(".SH SIGNALS")]
    words = set(re.findall(r"[a-z_]+", section))
    missing = [name for name in out.stdout.split() if name not in words]
    assert not missing, "docs/vscd.8 does not name: %s" % missing


def test_sample_config_is_accepted(tmp_path):
    """vscd parses the sample as it is (then exits on --help)."""
    r = subprocess.run([VSCD, "--config", os.path.join(ROOT, "docs", "vscd.conf.sample"), "--help"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_bad_config_is_refused_with_a_message(tmp_path):
    bad = tmp_path / "bad.conf"
    bad.write_text("max_sessions = lots\n")
    r = subprocess.run([VSCD, "--config", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2
    assert "max_sessions" in r.stderr


def test_config_that_cannot_be_read_is_refused(tmp_path):
    """A config path vscd cannot read to its end (a missing file, a directory) stops it with
    status 2 naming the file; it never runs on the compiled-in defaults instead."""
    for path in (tmp_path / "missing.conf", tmp_path):
        r = subprocess.run([VSCD, "--config", str(path), "--help"], capture_output=True,
                           text=True, timeout=20)
        assert r.returncode == 2, (path, r.returncode, r.stderr)
        assert "cannot read config %s" % path in r.stderr, r.stderr


def test_long_config_lines_are_read_whole(tmp_path):
    """A line longer than vscd's line buffer is one line: a long comment stays a comment (no
    part of it is read as a setting), a long setting is refused naming its own line."""
    conf = tmp_path / "long.conf"
    conf.write_text("# " + "x" * 5000 + "\n"
                    "# " + "y" * 4221 + "max_sessions = lots\n"
                    "max_sessions = 5\n")
    r = subprocess.run([VSCD, "--config", str(conf), "--help"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    conf.write_text("max_sessions = 5\nlisten = " + " " * 5000 + "127.0.0.1:1\n")
    r = subprocess.run([VSCD, "--config", str(conf), "--help"], capture_output=True, text=True)
    assert r.returncode == 2
    assert "long.conf:2:" in r.stderr and "too long" in r.stderr, r.stderr


def test_plain_http_refused_off_loopback(tmp_path):
    """Plain HTTP exists only bound to loopback."""
    r = subprocess.run([VSCD, "--state-dir", str(tmp_path), "--insecure-http",
                        "--listen", "0.0.0.0:0"], capture_output=True, text=True, timeout=20)
    assert r.returncode != 0
    assert "loopback" in r.stderr


def test_bad_settings_exit_2_before_touching_the_state_dir(tmp_path):
    """A setting vscd cannot use is a bad setting (exit status 2, vscd.8), found before
    anything is made in the state dir."""
    for args, word in ((["--set", "default_backend=serial"], "default_backend"),
                       (["--listen", "localhost-8443"], "listen"),
                       (["--listen", "127.0.0.1:65536"], "listen"),
                       (["--insecure-http", "--listen", "0.0.0.0:0"], "loopback"),
                       (["--set", "ports_group=no-such-group-vsc"], "ports_group")):
        state = tmp_path / "state"
        r = subprocess.run([VSCD, "--state-dir", str(state)] + args, capture_output=True,
                           text=True, timeout=20)
        assert r.returncode == 2 and word in r.stderr, (args, r.returncode, r.stderr)
        assert not state.exists(), args


def test_oem_schema_files_are_regenerated_identically(tmp_path):
    """schemas/redfish/Vsc* (JSON Schema and CSDL) equal what scripts/gen-oem-schema.py makes."""
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "gen-oem-schema.py"),
                    str(tmp_path)], check=True)
    for name in ("Vsc.json", "Vsc.v1_0_0.json", "Vsc_v1.xml"):
        assert filecmp.cmp(tmp_path / name, os.path.join(ROOT, "schemas", "redfish", name),
                           shallow=False), "schemas/redfish/%s is stale: run scripts/gen-oem-schema.py" % name


def test_oem_csdl_declares_every_oem_type_the_service_uses():
    """Every #Vsc.v1_0_0.<Type> the code names exists in the CSDL and in the JSON schema."""
    import json
    import re
    import xml.etree.ElementTree as ET
    used = set()
    for d in ("service",):
        for f in os.listdir(os.path.join(ROOT, d)):
            if f.endswith(".c"):
                with open(os.path.join(ROOT, d, f)) as fh:
                    used |= set(re.findall(r"#Vsc\.v1_0_0\.(\w+)", fh.read()))
    assert used, "the service names no OEM type"
    ns = {"edm": "http://docs.oasis-open.org/odata/ns/edm"}
    root = ET.parse(os.path.join(ROOT, "schemas", "redfish", "Vsc_v1.xml")).getroot()
    csdl = {c.get("Name") for kind in ("ComplexType", "EntityType")
            for c in root.iter("{%s}%s" % (ns["edm"], kind))}
    with open(os.path.join(ROOT, "schemas", "redfish", "Vsc.v1_0_0.json")) as fh:
        js = set(json.load(fh)["definitions"])
    assert used <= csdl, used - csdl
    assert used <= js, used - js


def test_oem_csdl_allows_every_enum_value_the_json_schema_allows():
    """A value valid in the JSON schema is valid in the CSDL too (what the Redfish Service
    Validator reads): an EnumType's members are the JSON enum's values exactly, and a type
    with a value CSDL cannot name as a member (usb-gadget) is a string whose
    Validation.Pattern admits each value. usb-gadget was declared as member usb_gadget."""
    import json
    import re
    import xml.etree.ElementTree as ET
    edm = "{http://docs.oasis-open.org/odata/ns/edm}"
    root = ET.parse(os.path.join(ROOT, "schemas", "redfish", "Vsc_v1.xml")).getroot()
    members = {e.get("Name"): {m.get("Name") for m in e.iter(edm + "Member")}
               for e in root.iter(edm + "EnumType")}
    with open(os.path.join(ROOT, "schemas", "redfish", "Vsc.v1_0_0.json")) as fh:
        defs = json.load(fh)["definitions"]
    enums = {name: set(d["enum"]) for name, d in defs.items() if "enum" in d}
    for name, values in enums.items():
        if name in members:
            assert members[name] == values, (name, members[name], values)
            continue
        typed = "Vsc.v1_0_0." + name
        assert not any(p.get("Type") in (typed, "Collection(%s)" % typed)
                       for p in root.iter(edm + "Property")), (name, "no EnumType")
    for prop in list(root.iter(edm + "Property")) + list(root.iter(edm + "Parameter")):
        pattern = [a.get("String") for a in prop.findall(edm + "Annotation")
                   if a.get("Term") == "Validation.Pattern"]
        if pattern and prop.get("Type") in ("Edm.String", "Collection(Edm.String)"):
            matched = [n for n, vals in enums.items()
                       if all(re.fullmatch(pattern[0], v) for v in vals)]
            assert matched, (prop.get("Name"), pattern)
    assert "Backend" not in members  # a pattern in its place
