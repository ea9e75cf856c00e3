"""The first thing a user does: the service root, then one authenticated GET."""
from conftest import Client, ADMIN_PASSWORD


def test_service_root_without_credentials(shared_vscd):
    r = Client(shared_vscd.base).get("/redfish/v1/")
    assert r.status_code == 200
    assert r.json()["@odata.id"] == "/redfish/v1"


def test_manager_with_basic_auth(shared_admin):
    r = shared_admin.get("/redfish/v1/Managers/bmc")
    assert r.status_code == 200
    assert r.json()["Oem"]["Vsc"]["DatabaseSchemaVersion"] >= 1
