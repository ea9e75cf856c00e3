"""Start-up and shutdown as an operator sees them."""
import os
import signal
import subprocess
import time
import warnings

import requests

from conftest import ADMIN_PASSWORD, VSCD, Client, Vscd, free_port


def test_ctrl_c_stops_cleanly(tmp_path):
    """SIGINT (Ctrl-C under `make run`) ends vscd with status 0 and a last log line."""
    d = Vscd(str(tmp_path / "state")).start()
    assert Client(d.base, auth=("admin", ADMIN_PASSWORD)).get("/redfish/v1/Systems").status_code == 200
    assert d.stop(sig=signal.SIGINT) == 0
    assert "stopped" in d.read_log()


def test_sigterm_with_a_request_in_flight_stops_cleanly(tmp_path):
    """A login waiting on the password worker does not keep vscd from stopping."""
    d = Vscd(str(tmp_path / "state")).start()
    import threading
    results = []

    def login():
        try:
            r = requests.post(d.base + "/redfish/v1/SessionService/Sessions", verify=False,
                              json={"UserName": "admin", "Password": ADMIN_PASSWORD}, timeout=10)
            results.append(r.status_code)
        except requests.RequestException as e:
            results.append(type(e).__name__)

    threads = [threading.Thread(target=login) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.02)
    assert d.stop(sig=signal.SIGTERM) == 0
    for t in threads:
        t.join(10)
    assert len(results) == 4


def test_state_dir_layout_and_modes(tmp_path):
    """The database, the certificate and the key are in the state dir; secrets are 0600."""
    state = tmp_path / "state"
    d = Vscd(str(state)).start()
    d.stop()
    assert (state / "vsc.db").exists()
    assert (state / "tls" / "cert.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert os.stat(state / "tls" / "key.pem").st_mode & 0o077 == 0
    assert os.stat(state / "vsc.db").st_mode & 0o077 == 0


def test_configured_certificate_is_served(tmp_path):
    """--tls-cert/--tls-key replace the self-signed pair; the served certificate is it."""
    first = Vscd(str(tmp_path / "a")).start()
    first.stop()
    cert, key = tmp_path / "a" / "tls" / "cert.pem", tmp_path / "a" / "tls" / "key.pem"
    d = Vscd(str(tmp_path / "b"), extra_args=["--tls-cert", str(cert), "--tls-key", str(key)]).start()
    try:
        import ssl
        served = ssl.get_server_certificate(("127.0.0.1", d.port))
        assert ssl.PEM_cert_to_DER_cert(served) == ssl.PEM_cert_to_DER_cert(cert.read_text())
        assert not (tmp_path / "b" / "tls" / "cert.pem").exists()
    finally:
        d.stop()


def test_tls_below_1_2_is_refused(shared_vscd):
    """TLS 1.0/1.1 handshakes fail; TLS 1.2 and 1.3 work."""
    import socket
    import ssl

    def handshake(version):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # that is the point
            ctx.minimum_version = ctx.maximum_version = version
        try:
            ctx.set_ciphers("ALL:@SECLEVEL=0")
        except ssl.SSLError:
            pass
        with socket.create_connection(("127.0.0.1", shared_vscd.port), timeout=5) as s:
            try:
                with ctx.wrap_socket(s) as t:
                    return t.version()
            except (ssl.SSLError, OSError):
                return None

    assert handshake(ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    assert handshake(ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
    assert handshake(ssl.TLSVersion.TLSv1_1) is None


def test_port_in_use_is_a_clear_error(tmp_path, shared_vscd):
    r = subprocess.run([VSCD, "--state-dir", str(tmp_path), "--listen",
                        "127.0.0.1:%d" % shared_vscd.port], capture_output=True, text=True,
                       timeout=20, env=dict(os.environ, VSC_ADMIN_PASSWORD=ADMIN_PASSWORD))
    assert r.returncode != 0
    assert "cannot serve" in r.stderr


def test_second_vscd_on_the_same_state_dir_is_refused(tmp_path):
    """A second vscd on a state dir in use stops at once (status 1, saying why) and leaves
    the first one's database, ports and history alone."""
    d = Vscd(str(tmp_path / "state")).start()
    try:
        second = subprocess.Popen([VSCD, "--state-dir", d.state_dir, "--listen",
                                   "127.0.0.1:%d" % free_port()], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True,
                                  env=dict(os.environ, VSC_ADMIN_PASSWORD=ADMIN_PASSWORD))
        try:
            _, err = second.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            second.terminate()
            _, err = second.communicate()
            raise AssertionError("a second vscd ran on the same state dir:\n" + err)
        assert second.returncode == 1, err
        assert "in use" in err and d.state_dir in err, err
        assert Client(d.base, auth=("admin", ADMIN_PASSWORD)).get("/redfish/v1/Systems").status_code == 200
    finally:
        assert d.stop() == 0
    d.start()  # the lock went with the first one
    d.stop()
