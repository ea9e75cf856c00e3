"""What a hypervisor's hook does around a VM's life (docs/hypervisors.md): allocate the VM's
serial port when it starts, free it when it ends — through the Redfish actions or through the
IPMI OEM command (docs/ipmi-oem.md). Both return the port as {"Id", "BindPath"}."""
import uuid as uuidlib

from helpers_ports import allocate_ok, free, port_oem

IANA = bytes([0xD9, 0x7E, 0x00])  # vscd's default (32473)
BACKEND_CODE = {"pty": 1, "unix": 2}
IPMI_ACTION = "/redfish/v1/Managers/bmc/Actions/Oem/Vsc.IpmiRequest"


class RedfishHypervisor:
    def __init__(self, client):
        self.client = client

    def allocate(self, vm_uuid, host, backend):
        port = allocate_ok(self.client, uuid=vm_uuid, name=host, Backend=backend,
                           HostName=host)["Ports"][0]
        return {"Id": port["Id"], "BindPath": port["BindPath"]}

    def free(self, vm_uuid):
        r = free(self.client, VMUUID=vm_uuid)
        assert r.status_code == 200, r.text


class IpmiHypervisor:
    """The OEM command's bytes (NetFn 2Eh, LAN sizes). `send(cmd, data)` -> (cc, data after
    the completion code): ipmitool through ipmi_sim (tests/api/helpers_ipmi.py: IpmiSim.raw),
    or by default vscd's Redfish bridge action."""

    def __init__(self, vscd, send=None):
        self.vscd = vscd
        self.send = send or self._send_redfish

    def _send_redfish(self, cmd, data):
        r = self.vscd.admin.post(IPMI_ACTION, json={
            "NetFn": "2E", "Command": "%02X" % cmd, "Data": data.hex().upper(),
            "Transport": "LAN"})
        assert r.status_code == 200, r.text
        body = r.json()
        return int(body["CompletionCode"], 16), bytes.fromhex(body["Data"])

    def call(self, cmd, payload):
        cc, data = self.send(cmd, IANA + payload)
        assert cc == 0, "IPMI cmd %02x: completion code %02x" % (cmd, cc)
        assert data[:3] == IANA, data.hex()
        return data[3:]

    def allocate(self, vm_uuid, host, backend):
        name = host.encode()
        out = self.call(0x01, uuidlib.UUID(vm_uuid).bytes + bytes(
            [1, BACKEND_CODE[backend], len(name)]) + name)
        created, total, count = out[0], out[1], out[2]
        assert (created, total, count) == (1, 1, 1), out.hex()
        port_id = int.from_bytes(out[3:7], "little")
        # The bind path is not in the allocate answer (IPMB could not carry it): `get`.
        got = self.call(0x03, uuidlib.UUID(vm_uuid).bytes)
        assert got[:3] == bytes([1, 1, 1]), got.hex()
        entry = got[3:]
        assert int.from_bytes(entry[0:4], "little") == port_id
        assert entry[4] == BACKEND_CODE[backend], entry.hex()
        path_len = entry[6]
        if path_len:
            path = entry[7:7 + path_len].decode()
        else:
            # Longer than the IPMI server's response buffer carries (ipmi_sim: 36 bytes):
            # read it through Redfish, as docs/ipmi-oem.md says.
            path = port_oem(self.vscd.admin, port_id)["BindPath"]
        return {"Id": str(port_id), "BindPath": path}

    def free(self, vm_uuid):
        out = self.call(0x02, bytes([0]) + uuidlib.UUID(vm_uuid).bytes)
        assert out == bytes([1, 1]), out.hex()
