"""docs/nginx-mtls.conf is a configuration nginx accepts as written (`nginx -t`), with the
certificate paths pointed at throw-away files: the headers, HSTS, the port-80 split and the
rate-limit zones the other tests read from it are real nginx, not prose."""

from __future__ import annotations

import datetime
import shutil
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.nginx_conf import CONF

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"  # Makefile TEST_PACKAGES: nginx-light


def _self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_nginx_accepts_the_documented_configuration(tmp_path: Path) -> None:
    tls = tmp_path / "tls"
    tls.mkdir()
    cert, _ = _self_signed(tls, "portal")  # portal.key is where the file expects it
    (tls / "portal.fullchain.pem").write_bytes(cert.read_bytes())
    ca, _ = _self_signed(tls, "creditgate-card-ca")
    assert ca.exists()
    site = CONF.read_text(encoding="utf-8").replace("/etc/nginx/tls/", f"{tls}/")
    (tmp_path / "creditgate.conf").write_text(site, encoding="utf-8")
    temp = tmp_path / "temp"
    temp.mkdir()
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\n"
        f"error_log {tmp_path}/error.log;\n"
        "events {}\n"
        "http {\n"
        "    access_log off;\n"
        f"    client_body_temp_path {temp}/body;\n"
        f"    proxy_temp_path {temp}/proxy;\n"
        f"    include {tmp_path}/creditgate.conf;\n"
        "}\n",
        encoding="utf-8",
    )
    checked = subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
         "-c", str(tmp_path / "nginx.conf")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr
