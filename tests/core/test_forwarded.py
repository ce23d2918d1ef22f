"""Which proxies' X-Forwarded-* headers count, what they change, and the base URL a request's answers are built on
(`core.forwarded`), on plain ASGI scopes."""

from __future__ import annotations

from typing import Any

import pytest

from modelyard.core.forwarded import ForwardedHeaders, base_of, base_url_configured
from modelyard.core.settings import Settings


def scope(client: str | None, **headers: str) -> dict[str, Any]:
    return {
        "type": "http",
        "scheme": "http",
        "client": (client, 51000) if client else None,
        "server": ("127.0.0.1", 8000),
        "headers": [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()],
        "root_path": "",
    }


def host_of(item: dict[str, Any]) -> str:
    return next(value.decode() for name, value in item["headers"] if name == b"host")


FORWARDED = {
    "host": "127.0.0.1:8000",
    "x_forwarded_proto": "https",
    "x_forwarded_host": "models.example.org",
    "x_forwarded_for": "203.0.113.9, 10.0.0.7",
}


@pytest.mark.parametrize("peer", ["127.0.0.1", "10.1.2.3", "::1", "unix:/run/proxy.sock"])
def test_a_trusted_proxys_headers_say_what_the_client_asked_for(peer: str) -> None:
    proxies = ForwardedHeaders("127.0.0.1, 10.0.0.0/8, ::1/128, unix:/run/proxy.sock")
    item = scope(peer, **FORWARDED)
    proxies.apply(item)
    assert item["scheme"] == "https"
    assert host_of(item) == "models.example.org"
    assert [name for name, _ in item["headers"]].count(b"host") == 1
    # The nearest hop the proxies do not vouch for: 10.0.0.7 is one of them, 203.0.113.9 is the client.
    assert item["client"] == ("203.0.113.9", 0)


@pytest.mark.parametrize("peer", ["192.0.2.1", "10.1.2.3", None, "not-an-address"])
def test_anyone_elses_headers_change_nothing(peer: str | None) -> None:
    proxies = ForwardedHeaders("127.0.0.1, 172.16.0.0/12")
    item = scope(peer, **FORWARDED)
    proxies.apply(item)
    assert item["scheme"] == "http" and host_of(item) == "127.0.0.1:8000"
    assert item["client"] == ((peer, 51000) if peer else None)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("x_forwarded_proto", "javascript"),
        ("x_forwarded_host", "evil.example/path?x="),
        ("x_forwarded_host", "a b"),
        ("x_forwarded_host", "user@evil.example"),
        ("x_forwarded_for", "not an address"),
    ],
)
def test_malformed_values_are_ignored_one_by_one(header: str, value: str) -> None:
    item = scope("127.0.0.1", **{**FORWARDED, header: value})
    ForwardedHeaders("127.0.0.1, 10.0.0.0/8").apply(item)
    assert item["scheme"] == ("http" if header == "x_forwarded_proto" else "https")
    assert host_of(item) == ("127.0.0.1:8000" if header == "x_forwarded_host" else "models.example.org")
    assert item["client"] == (("127.0.0.1", 51000) if header == "x_forwarded_for" else ("203.0.113.9", 0))


def test_a_star_trusts_every_peer() -> None:
    item = scope("198.51.100.4", **FORWARDED)
    ForwardedHeaders("*").apply(item)
    assert host_of(item) == "models.example.org"


def unset() -> Settings:
    return Settings.model_construct()  # defaults only, none of them "set": MODELYARD_PUBLIC_BASE_URL absent


def test_the_base_is_the_configured_url_whatever_the_request_says() -> None:
    settings = Settings(public_base_url="https://hub.example.com/")
    assert base_url_configured(settings)
    assert base_of(scope("127.0.0.1", host="elsewhere:9") | {"scheme": "http"}, settings) == "https://hub.example.com"


@pytest.mark.parametrize(
    ("host", "scheme", "expected"),
    [
        ("192.168.1.20:8123", "http", "http://192.168.1.20:8123"),
        ("models.lan", "https", "https://models.lan"),
        ("[::1]:8000", "http", "http://[::1]:8000"),
        ("modelyard_web:8000", "http", "http://modelyard_web:8000"),
        ("evil.example/x?", "http", "http://127.0.0.1:8000"),  # not a host: the server's own address
        ("", "http", "http://127.0.0.1:8000"),
    ],
)
def test_unset_the_base_is_the_address_the_request_came_to(host: str, scheme: str, expected: str) -> None:
    settings = unset()
    assert not base_url_configured(settings)
    item = scope("127.0.0.1", host=host) if host else scope("127.0.0.1")
    assert base_of(item | {"scheme": scheme}, settings) == expected
