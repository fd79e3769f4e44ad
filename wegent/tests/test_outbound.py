"""The outbound (SSRF) guard: every address class, every allow-list form, and the guarded client
connecting only to what it checked (against a real loopback HTTP server)."""

from __future__ import annotations

import asyncio
import datetime
import http.server
import socket
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from wegent import outbound
from wegent.outbound import OutboundRefused, check_url

REFUSED = [
    # loopback, IPv4 and IPv6, and the legacy forms the resolver turns into 127.0.0.1
    ("http://127.0.0.1/", "loopback"),
    ("http://127.1.2.3:8080/x", "loopback"),
    ("http://localhost/", "loopback"),
    ("http://[::1]/", "loopback"),
    ("http://2130706433/", "loopback"),  # decimal
    ("http://0x7f000001/", "loopback"),  # hex
    ("http://0177.0.0.1/", "loopback"),  # octal
    ("http://127.1/", "loopback"),  # short form
    # IPv4 carried in IPv6 forms
    ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("http://[::ffff:10.0.0.1]/", "private"),
    ("http://[2002:a00:1::]/", "private"),  # 6to4 of 10.0.0.1
    ("http://[64:ff9b::a9fe:a9fe]/", "metadata"),  # NAT64 of 169.254.169.254
    # private ranges
    ("http://10.1.2.3/", "private"),
    ("http://172.16.0.1/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://[fc00::1]/", "private"),
    # link-local
    ("http://169.254.1.1/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    # unspecified
    ("http://0.0.0.0/", "unspecified"),
    ("http://[::]/", "unspecified"),
    # multicast and reserved
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://255.255.255.255/", "address"),
    # shared (CGNAT) space
    ("http://100.64.0.1/", "non-public"),
    # cloud metadata, by address and by name
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://[fd00:ec2::254]/", "metadata"),
    ("http://100.100.100.200/", "metadata"),
    ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
    ("http://METADATA.GOOGLE.INTERNAL./", "metadata"),
]


@pytest.fixture(autouse=True)
def _no_allowlist(settings: Any) -> None:
    settings.OUTBOUND_ALLOWLIST = []


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_non_public_addresses_are_refused(url: str, reason: str) -> None:
    with pytest.raises(OutboundRefused) as caught:
        check_url(url)
    assert reason in caught.value.detail
    assert "WEGENT_OUTBOUND_ALLOWLIST" in caught.value.detail


@pytest.mark.parametrize(
    "url", ["http://93.184.215.14/", "https://8.8.8.8:8443/x?y=1", "http://[2606:4700:4700::1111]/"]
)
def test_public_addresses_pass(url: str) -> None:
    check_url(url)


@pytest.mark.parametrize(
    "url", ["ftp://8.8.8.8/", "file:///etc/passwd", "gopher://8.8.8.8/", "http:///nohost", "http://[::1/"]
)
def test_only_http_urls_with_a_host(url: str) -> None:
    with pytest.raises(OutboundRefused):
        check_url(url)


def fake_resolver(monkeypatch: pytest.MonkeyPatch, table: dict[str, list[str]]) -> None:
    """Names in ``table`` resolve to its addresses (sync and async resolvers); others as usual."""
    real = socket.getaddrinfo

    def infos(host: str, port: Any) -> list[tuple[Any, ...]]:
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, int(port or 0)))
            for a in table[host]
        ]

    def sync(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        return infos(host, port) if host in table else real(host, port, *args, **kwargs)

    async def asynchronous(self: Any, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        return infos(host, port) if host in table else real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", sync)
    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", asynchronous)


def test_every_resolved_address_must_be_public(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_resolver(monkeypatch, {"mixed.test": ["8.8.8.8", "10.0.0.5"], "public.test": ["8.8.8.8", "1.1.1.1"]})
    with pytest.raises(OutboundRefused, match=r"10\.0\.0\.5 is a private address"):
        check_url("https://mixed.test/")
    check_url("https://public.test/")


def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(OutboundRefused, match="does not resolve"):
        check_url("http://no-such-host.invalid/")


def test_an_allowed_ip_allows_exactly_that_address(settings: Any) -> None:
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    check_url("http://127.0.0.1:9000/mcp")
    check_url("http://[::ffff:127.0.0.1]/")  # the same address in IPv6 dress
    with pytest.raises(OutboundRefused, match=r"127\.0\.0\.2"):
        check_url("http://127.0.0.2/")
    with pytest.raises(OutboundRefused):
        check_url("http://[::1]/")


def test_an_allowed_cidr_allows_its_range(settings: Any) -> None:
    settings.OUTBOUND_ALLOWLIST = ["10.0.0.0/8", "fd00::/8"]
    check_url("http://10.200.3.4/")
    check_url("http://[fd12::1]/")
    with pytest.raises(OutboundRefused):
        check_url("http://192.168.0.1/")


def test_an_allowed_host_name_allows_that_name_only(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_resolver(monkeypatch, {"mcp.internal": ["10.0.0.7"], "other.internal": ["10.0.0.7"]})
    settings.OUTBOUND_ALLOWLIST = ["MCP.internal."]
    check_url("http://mcp.internal:8080/mcp")
    with pytest.raises(OutboundRefused):
        check_url("http://other.internal/")


def test_the_setting_is_read_as_comma_separated_text(settings: Any) -> None:
    settings.OUTBOUND_ALLOWLIST = " 127.0.0.1 , ,10.0.0.0/8"
    check_url("http://127.0.0.1/")
    check_url("http://10.9.9.9/")


def test_a_metadata_name_is_refused_even_if_it_resolves_publicly(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_resolver(monkeypatch, {"metadata.google.internal": ["8.8.8.8"]})
    with pytest.raises(OutboundRefused, match="metadata"):
        check_url("http://metadata.google.internal/")


def test_async_check_matches_the_sync_one(settings: Any) -> None:
    with pytest.raises(OutboundRefused):
        asyncio.run(outbound.acheck_url("http://10.0.0.1/"))
    settings.OUTBOUND_ALLOWLIST = ["10.0.0.1"]
    asyncio.run(outbound.acheck_url("http://10.0.0.1/"))


# -- the guarded client against a real loopback server -----------------------------------------


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", self.path.split("to=", 1)[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = f"hello {self.headers.get('Host')}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hello_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


async def _get(url: str) -> httpx2.Response:
    async with outbound.guarded_http_client() as client:
        return await client.get(url, follow_redirects=True)


def test_guarded_client_refuses_loopback_at_connect(hello_port: int) -> None:
    with pytest.raises(httpx2.ConnectError, match="loopback"):
        asyncio.run(_get(f"http://127.0.0.1:{hello_port}/"))


def test_guarded_client_connects_where_allowed(settings: Any, hello_port: int) -> None:
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    response = asyncio.run(_get(f"http://127.0.0.1:{hello_port}/"))
    assert response.status_code == 200


def test_guarded_client_dials_the_address_it_checked(
    settings: Any, monkeypatch: pytest.MonkeyPatch, hello_port: int
) -> None:
    # "pinned.test" exists only in the guard's own resolution: the connection reaching the
    # server proves it dialled the checked address, and the Host header keeps the name.
    fake_resolver(monkeypatch, {"pinned.test": ["127.0.0.1"]})
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    response = asyncio.run(_get(f"http://pinned.test:{hello_port}/"))
    assert response.text == f"hello pinned.test:{hello_port}"


def test_guarded_client_rechecks_each_connection(
    settings: Any, monkeypatch: pytest.MonkeyPatch, hello_port: int
) -> None:
    # DNS rebinding: the name passed a check earlier, now it resolves to a refused address.
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    fake_resolver(monkeypatch, {"rebind.test": ["127.0.0.1"]})
    check_url(f"http://rebind.test:{hello_port}/")
    fake_resolver(monkeypatch, {"rebind.test": ["127.0.0.2"]})
    with pytest.raises(httpx2.ConnectError, match=r"127\.0\.0\.2"):
        asyncio.run(_get(f"http://rebind.test:{hello_port}/"))


def test_guarded_client_checks_every_redirect_target(settings: Any, hello_port: int) -> None:
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    fine = f"http://127.0.0.1:{hello_port}/redirect?to=http://127.0.0.1:{hello_port}/next"
    assert asyncio.run(_get(fine)).text == f"hello 127.0.0.1:{hello_port}"
    bad = f"http://127.0.0.1:{hello_port}/redirect?to=http://127.0.0.2:{hello_port}/"
    with pytest.raises(httpx2.ConnectError, match=r"127\.0\.0\.2 is a loopback address"):
        asyncio.run(_get(bad))


def _self_signed(tmp_path: Any, name: str) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(cert_path), str(key_path)


def test_pinned_https_still_verifies_the_name_in_the_url(
    settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # The connection dials the checked IP, but TLS must still present and verify the URL's
    # name (SNI + certificate check): a certificate for pinned.test passes, the bare IP fails.
    cert, key = _self_signed(tmp_path, "pinned.test")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    server.socket = server_ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    fake_resolver(monkeypatch, {"pinned.test": ["127.0.0.1"]})
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    trust = ssl.create_default_context(cafile=cert)

    async def get(url: str) -> httpx2.Response:
        async with outbound.guarded_http_client(verify=trust) as client:
            return await client.get(url)

    try:
        assert asyncio.run(get(f"https://pinned.test:{port}/")).text == f"hello pinned.test:{port}"
        with pytest.raises(httpx2.ConnectError):
            asyncio.run(get(f"https://127.0.0.1:{port}/"))
    finally:
        server.shutdown()
        server.server_close()
