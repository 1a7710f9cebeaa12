"""The nginx + oauth2-proxy example in docs/deploy.md: nginx accepts it as written, it sets the
headers the dashboard relies on, and nginx running it signs people in through a stand-in for
oauth2-proxy (real nginx, real HTTP, on loopback), overwriting a header the browser forges."""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.client import HTTPSConnection
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parent.parent
HEADING = "## Sign-in through your company's identity proxy"
STAND_IN_COOKIE = "_oauth2_proxy=viewer"


def example(kind: str) -> str:
    """The first ```kind block of the docs' proxy sign-in section."""
    docs = (ROOT / "docs" / "deploy.md").read_text()
    section = docs[docs.index(HEADING) :]
    section = section[: section.index("\n## ", 1)]
    found = re.search(rf"```{kind}\n(.*?)```", section, re.S)
    assert found is not None, f"no {kind} block under {HEADING!r}"
    return found.group(1)


def nginx() -> str:
    path = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(path).exists():
        pytest.fail(
            "nginx not found. The deploy example's tests need Debian's nginx: run "
            "`apt-get install -y nginx` (.ci/run does).",
            pytrace=False,
        )
    return path


def certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def runnable(conf: str, tmp: Path, *, port: int, app: int, auth: int) -> Path:
    """The example as an nginx.conf for this machine: its certificates, ports and loopback."""
    cert, key = certificate(tmp)
    conf = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", conf)
    conf = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", conf)
    conf = conf.replace("listen [::]:443 ssl;", "").replace(
        "listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;"
    )
    conf = conf.replace("127.0.0.1:8000", f"127.0.0.1:{app}").replace(
        "127.0.0.1:4180", f"127.0.0.1:{auth}"
    )
    path = tmp / "nginx.conf"
    path.write_text(f"pid {tmp}/nginx.pid;\nevents {{}}\nhttp {{\naccess_log off;\n{conf}\n}}\n")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the block as written ------------------------------------------------------------------------


def test_the_example_sets_the_headers_the_dashboard_relies_on() -> None:
    conf = example("nginx")
    main = conf[conf.index("location / {") :]
    main = main[: main.index("\n    }\n")]
    assert "auth_request /oauth2/auth;" in main
    assert "auth_request_set $email $upstream_http_x_auth_request_email;" in main
    # Set by nginx on every request, so a browser's own X-Forwarded-Email never gets through.
    assert "proxy_set_header X-Forwarded-Email $email;" in main
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in main
    assert "proxy_pass http://devin_dashboard;" in main
    assert "server 127.0.0.1:8000;" in conf  # so the dashboard sees 127.0.0.1: the trusted proxy
    docs = (ROOT / "docs" / "deploy.md").read_text()
    section = docs[docs.index(HEADING) :]
    assert "| `DASHBOARD_AUTH_HEADER` | `X-Forwarded-Email` |" in section
    assert "| `DASHBOARD_TRUSTED_PROXIES` | `127.0.0.1`" in section
    assert "| `DASHBOARD_AUTH_LOGOUT_URL` | `/oauth2/sign_out` |" in section
    assert "--set-xauthrequest=true" in example("sh")


def test_nginx_accepts_the_example(tmp_path: Path) -> None:
    conf = runnable(example("nginx"), tmp_path, port=free_port(), app=8000, auth=4180)
    result = subprocess.run(
        [nginx(), "-t", "-p", str(tmp_path), "-e", "stderr", "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


# -- running it ----------------------------------------------------------------------------------


class StandIn(http.server.BaseHTTPRequestHandler):
    """oauth2-proxy's /oauth2/auth: 202 with the user's email for its cookie, else 401."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path.startswith("/oauth2/auth") and STAND_IN_COOKIE in self.headers.get(
            "Cookie", ""
        ):
            self.send_response(202)
            self.send_header("X-Auth-Request-Email", "viewer@example.com")
        else:
            self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def stand_in() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture
def running_nginx(tmp_path: Path, live_server: Any, stand_in: int) -> Iterator[int]:
    port = free_port()
    app = int(live_server.url.rsplit(":", 1)[1])
    conf = runnable(example("nginx"), tmp_path, port=port, app=app, auth=stand_in)
    log = tmp_path / "nginx.log"
    process = subprocess.Popen(
        [nginx(), "-p", str(tmp_path), "-e", str(log), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError(f"nginx did not start: {log.read_text()}") from None
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def get(port: int, path: str, **headers: str) -> tuple[int, dict[str, str], str]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    connection = HTTPSConnection("127.0.0.1", port, context=context, timeout=30)
    connection.request("GET", path, headers={"Host": "localhost", **headers})
    response = connection.getresponse()
    body = response.read().decode()
    connection.close()
    return response.status, dict(response.getheaders()), body


@pytest.mark.django_db(transaction=True)
def test_nginx_running_the_example_signs_people_in(
    running_nginx: int, settings: Any, viewer: Any, admin: Any
) -> None:
    settings.AUTH_HEADER = "HTTP_X_FORWARDED_EMAIL"
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.1/32")]
    settings.CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    port = running_nginx

    # A stranger is sent to the identity provider, through oauth2-proxy.
    status, headers, _ = get(port, "/account/")
    assert status == 302
    assert headers["Location"].endswith("/oauth2/start?rd=https://localhost/account/")
    # Health checks need no sign-in.
    assert get(port, "/healthz")[0] == 200
    # Signed in at oauth2-proxy: the dashboard's own page, as that person.
    status, _, body = get(port, "/account/", Cookie=STAND_IN_COOKIE)
    assert status == 200
    assert "<strong>viewer</strong>" in body and "through your company's sign-in" in body
    # A forged header from the browser is replaced by nginx; without the proxy's cookie it
    # signs no one in.
    status, _, body = get(
        port, "/account/", Cookie=STAND_IN_COOKIE, **{"X-Forwarded-Email": "admin@example.com"}
    )
    assert "<strong>viewer</strong>" in body and "<strong>admin</strong>" not in body
    assert get(port, "/account/", **{"X-Forwarded-Email": "admin@example.com"})[0] == 302
